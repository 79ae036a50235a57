#!/usr/bin/env python3
"""Tiny random models saved with diffusers/transformers save_pretrained, with inputs and reference outputs, for the
Swift parity tests (Tests/Fixtures/models/<case>/{model/, inputs.safetensors, outputs.safetensors}).

Pinned packages: python/requirements-test.txt. Runs offline; every value comes from fixed seeds, and the files are
rewritten byte for byte on every run. `--case NAME --out DIR` writes one (possibly large) case elsewhere; the Swift
tests use that for the seed-size model, which is too big to commit.
"""
import argparse
import json
import os
import shutil
import struct
import sys

import torch
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "models")


def canonical(path):
    """safetensors writes __metadata__ in hash-map order; sort it so reruns are identical."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":")).encode()
    with open(path, "wb") as f:
        f.write(data[:8] + text + b" " * (n - len(text)) + data[8 + n:])


def save(tensors, path):
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, path, metadata={"source": "make_model_fixtures.py"})
    canonical(path)


def perturb(model, seed):
    """Gives every parameter random values, so zero-initialised layers are exercised too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.5 / max(1, p.shape[-1]) ** 0.5) + p * 0.5)


def write_model(model, out):
    model_dir = os.path.join(out, "model")
    if os.path.exists(model_dir):
        shutil.rmtree(model_dir)
    model.save_pretrained(model_dir, safe_serialization=True)
    for name in os.listdir(model_dir):
        if name.endswith(".safetensors"):
            canonical(os.path.join(model_dir, name))


# ---- PixArt transformer ----

PIXART_CASES = {
    # Text-conditioned latent DiT with caption projection, padding mask and learned sigma.
    "pixart_tiny": dict(config=dict(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=8,
                                    num_layers=2, sample_size=8, patch_size=2, cross_attention_dim=16,
                                    caption_channels=12), batch=2, tokens=5, size=8),
    # Pixel space (3 channels), no caption projection, GELU exact, affine norms, non-square input.
    "pixart_pixel": dict(config=dict(num_attention_heads=2, attention_head_dim=8, in_channels=3, out_channels=None,
                                     num_layers=2, sample_size=8, patch_size=2, cross_attention_dim=16,
                                     activation_fn="gelu", norm_elementwise_affine=True), batch=2, tokens=4, size=(8, 12)),
    # Resolution / aspect-ratio conditions (PixArt-α's 1024 px models) and patch 1.
    "pixart_conditions": dict(config=dict(num_attention_heads=3, attention_head_dim=4, in_channels=4, out_channels=4,
                                          num_layers=1, sample_size=4, patch_size=1, cross_attention_dim=12,
                                          caption_channels=6, use_additional_conditions=True, interpolation_scale=2),
                              batch=2, tokens=3, size=4),
    # The seed's model (hidden 384 = 6 heads × 64, 8 layers, patch 2, 4 latent channels, 32×32 latents); too big
    # to commit, so the Swift test writes it at test time with --case.
    "pixart_seed": dict(config=dict(num_attention_heads=6, attention_head_dim=64, in_channels=4, out_channels=4,
                                    num_layers=8, sample_size=32, patch_size=2, cross_attention_dim=384,
                                    caption_channels=384), batch=2, tokens=16, size=32, committed=False),
}


def pixart_case(name, out):
    from diffusers import PixArtTransformer2DModel

    spec = PIXART_CASES[name]
    torch.manual_seed(0)
    model = PixArtTransformer2DModel(**spec["config"]).eval()
    perturb(model, 1)
    cfg = model.config
    b, L = spec["batch"], spec["tokens"]
    h, w = spec["size"] if isinstance(spec["size"], tuple) else (spec["size"], spec["size"])
    g = torch.Generator().manual_seed(2)
    caption_dim = cfg.caption_channels or cfg.cross_attention_dim
    inputs = {
        "hidden_states": torch.randn(b, cfg.in_channels, h, w, generator=g),
        "encoder_hidden_states": torch.randn(b, L, caption_dim, generator=g),
        "timestep": torch.tensor([999, 17][:b] + [500] * max(0, b - 2), dtype=torch.int64),
    }
    mask = torch.ones(b, L, dtype=torch.int64)
    mask[1:, L // 2:] = 0  # the second prompt is padded
    inputs["encoder_attention_mask"] = mask
    added = None
    if model.use_additional_conditions:
        inputs["resolution"] = torch.tensor([[1024.0, 768.0]] * b)
        inputs["aspect_ratio"] = torch.tensor([[0.75]] * b)
        added = {"resolution": inputs["resolution"], "aspect_ratio": inputs["aspect_ratio"]}
    with torch.no_grad():
        output = model(inputs["hidden_states"], encoder_hidden_states=inputs["encoder_hidden_states"],
                       timestep=inputs["timestep"], encoder_attention_mask=inputs["encoder_attention_mask"],
                       added_cond_kwargs=added).sample
    os.makedirs(out, exist_ok=True)
    write_model(model, out)
    save(inputs, os.path.join(out, "inputs.safetensors"))
    save({"output": output}, os.path.join(out, "outputs.safetensors"))
    print(f"{name}: output {tuple(output.shape)}")


CASES = {**{k: pixart_case for k in PIXART_CASES}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", help="write only this case")
    ap.add_argument("--out", help="directory for --case (default: Tests/Fixtures/models/CASE)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.case:
        if args.case not in CASES:
            sys.exit(f"unknown case {args.case}; known: {', '.join(CASES)}")
        CASES[args.case](args.case, args.out or os.path.join(ROOT, args.case))
        return
    for name, make in CASES.items():
        if PIXART_CASES.get(name, {}).get("committed", True):
            make(name, os.path.join(ROOT, name))


if __name__ == "__main__":
    main()
