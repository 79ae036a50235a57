#!/usr/bin/env python3
"""Real photographs as JPEG files for the JPEG decoder and resize/crop tests (Tests/Fixtures/images/).

The photographs are scikit-image 0.26.0's bundled sample data, read straight out of its wheel (downloaded by pip
without installing it or its dependencies); Pillow (pinned in python/requirements-test.txt) scales and encodes
them. Every run writes the same bytes. The Swift tests compare DiTKit's decoding with Pillow's at test time, so only
the JPEG files are committed.
"""
import io
import os
import subprocess
import sys
import tempfile
import zipfile

from PIL import Image

SKIMAGE = "scikit-image==0.26.0"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "images")


def photos():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", tmp,
                        SKIMAGE], check=True)
        wheel = next(os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".whl"))
        with zipfile.ZipFile(wheel) as z:
            return {name: Image.open(io.BytesIO(z.read(f"skimage/data/{name}"))).copy()
                    for name in ["astronaut.png", "coffee.png", "chelsea.png", "camera.png", "rocket.jpg"]}


def scaled(image, width):
    return image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)


def exif_with_orientation(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def main():
    os.makedirs(OUT, exist_ok=True)
    p = photos()
    astronaut = scaled(p["astronaut.png"].convert("RGB"), 160)
    coffee = scaled(p["coffee.png"].convert("RGB"), 180)
    chelsea = scaled(p["chelsea.png"].convert("RGB"), 150)
    rocket = scaled(p["rocket.jpg"].convert("RGB"), 170)
    files = {
        "astronaut.jpg": (astronaut, dict(quality=90)),  # baseline, 4:2:0
        "coffee_444.jpg": (coffee, dict(quality=92, subsampling=0)),  # 4:4:4, wide
        "chelsea_progressive.jpg": (chelsea, dict(quality=85, progressive=True)),
        "camera_gray.jpg": (scaled(p["camera.png"].convert("L"), 128), dict(quality=90)),  # one channel
        "coffee_cmyk.jpg": (coffee.convert("CMYK"), dict(quality=92)),  # Adobe CMYK, as Pillow writes it
        "rocket_exif6.jpg": (rocket.transpose(Image.ROTATE_90), dict(quality=90, exif=exif_with_orientation(6))),
    }
    for name, (image, options) in files.items():
        image.save(os.path.join(OUT, name), "JPEG", **options)
        print(f"wrote {name}: {image.mode} {image.size}")


if __name__ == "__main__":
    main()
