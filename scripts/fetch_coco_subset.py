#!/usr/bin/env python3
"""Fetches N COCO images, one by one, by the `coco_url` each image has in a COCO captions file, and writes a captions
file for just those images: the small step between the shapes demo and a full COCO download (docs/03).

    python3 scripts/fetch_coco_subset.py --annotations annotations/captions_val2017.json --count 100 --out data/coco-100
    dit prepare --coco-captions data/coco-100/captions.json --images data/coco-100/images --config …

Resumable: an image already on disk and whole (a JPEG from its start marker to its end marker) is not fetched again;
each download goes to a temporary file that is renamed into place only when whole, so an interrupted run leaves no
half image behind. `--mirror URL` replaces http://images.cocodataset.org (a mirror, or a local copy served over HTTP).
The choice of images is seeded (`--seed`), so the same arguments fetch the same images anywhere. Standard library only.
"""
import argparse
import json
import os
import random
import sys
import tempfile
import time
import urllib.error
import urllib.request

ORIGIN = "http://images.cocodataset.org"


def whole_jpeg(path):
    """A JPEG that starts with SOI and ends with EOI (a cut download lacks the end marker)."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(-2, os.SEEK_END)
            tail = f.read(2)
        return head == b"\xff\xd8" and tail == b"\xff\xd9"
    except OSError:
        return False


def fetch(url, target, retries, timeout):
    folder = os.path.dirname(target)
    for attempt in range(1, retries + 1):
        fd, temp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(target) + ".part-")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                while True:
                    chunk = response.read(1 << 16)
                    if not chunk:
                        break
                    out.write(chunk)
            if not whole_jpeg(temp):
                raise ValueError("not a whole JPEG")
            os.replace(temp, target)
            return None
        except (OSError, ValueError, urllib.error.URLError) as error:
            if os.path.exists(temp):
                os.unlink(temp)
            if attempt == retries:
                return f"{url}: {error}"
            time.sleep(min(8, 2 ** attempt) * 0.25)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--annotations", required=True, help="a COCO captions file (captions_val2017.json, ...)")
    ap.add_argument("--count", type=int, default=100, help="images to fetch")
    ap.add_argument("--seed", type=int, default=0, help="which images (the same seed picks the same ones)")
    ap.add_argument("--out", required=True, help="folder for images/ and captions.json")
    ap.add_argument("--mirror", help=f"a base URL that replaces {ORIGIN}")
    ap.add_argument("--retries", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=30)
    args = ap.parse_args()
    if args.count < 1:
        sys.exit("fetch_coco_subset: --count must be at least 1")
    try:
        with open(args.annotations, encoding="utf-8") as f:
            coco = json.load(f)
        images, annotations = coco["images"], coco["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        sys.exit(f"fetch_coco_subset: {args.annotations}: not a COCO captions file ({error})")
    captioned = {a["image_id"] for a in annotations}
    pool = sorted((im for im in images if im["id"] in captioned and im.get("coco_url")), key=lambda im: im["id"])
    if not pool:
        sys.exit(f"fetch_coco_subset: {args.annotations}: no captioned image has a coco_url")
    chosen = sorted(random.Random(args.seed).sample(pool, min(args.count, len(pool))), key=lambda im: im["id"])
    image_dir = os.path.join(args.out, "images")
    os.makedirs(image_dir, exist_ok=True)
    fetched = kept = 0
    failures = []
    for i, im in enumerate(chosen, 1):
        target = os.path.join(image_dir, os.path.basename(im["file_name"]))
        if whole_jpeg(target):
            kept += 1
            continue
        url = im["coco_url"]
        if args.mirror:
            url = args.mirror.rstrip("/") + url[len(ORIGIN):] if url.startswith(ORIGIN) else url
        failure = fetch(url, target, args.retries, args.timeout)
        if failure:
            failures.append(failure)
        else:
            fetched += 1
        if i % 10 == 0 or i == len(chosen):
            print(f"{i}/{len(chosen)} images ({fetched} fetched, {kept} already here, {len(failures)} failed)", flush=True)
    ids = {im["id"] for im in chosen}
    subset = {"images": chosen, "annotations": [a for a in annotations if a["image_id"] in ids]}
    captions = os.path.join(args.out, "captions.json")
    with open(captions + ".tmp", "w", encoding="utf-8") as f:
        json.dump(subset, f)
    os.replace(captions + ".tmp", captions)
    if failures:
        print("\n".join(failures[:10]), file=sys.stderr)
        sys.exit(f"fetch_coco_subset: {len(failures)} of {len(chosen)} images failed; run the same command again to "
                 f"fetch the rest (whole images are kept)")
    print(f"{len(chosen)} images in {image_dir} ({fetched} fetched now), captions in {captions}; next: dit prepare "
          f"--coco-captions {captions} --images {image_dir} --config configs/rtx4090-256.yaml")


if __name__ == "__main__":
    main()
