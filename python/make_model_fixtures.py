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
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # fixture_io beside this script
from fixture_io import canonical  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "models")




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


# ---- VAE ----

VAE_CASES = {
    "vae_tiny": dict(config=dict(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 2,
                                 up_block_types=["UpDecoderBlock2D"] * 2, block_out_channels=[8, 16], layers_per_block=1,
                                 latent_channels=4, norm_num_groups=4, sample_size=16), shape=(2, 3, 16, 16)),
    # Three levels, two resnets per level, no quant convs, no mid attention, a shift factor; non-square input.
    "vae_variant": dict(config=dict(in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 3,
                                    up_block_types=["UpDecoderBlock2D"] * 3, block_out_channels=[8, 8, 16],
                                    layers_per_block=2, latent_channels=3, norm_num_groups=4, sample_size=16,
                                    use_quant_conv=False, use_post_quant_conv=False, mid_block_add_attention=False,
                                    scaling_factor=0.3, shift_factor=0.1), shape=(1, 3, 12, 20)),
}


def vae_case(name, out):
    from diffusers import AutoencoderKL

    spec = VAE_CASES[name]
    torch.manual_seed(0)
    model = AutoencoderKL(**spec["config"]).eval()
    perturb(model, 1)
    x = torch.randn(*spec["shape"], generator=torch.Generator().manual_seed(2)).clamp(-1, 1)
    with torch.no_grad():
        posterior = model.encode(x).latent_dist
        decoded = model.decode(posterior.mean).sample
        sample = posterior.sample(generator=torch.Generator().manual_seed(3))
    os.makedirs(out, exist_ok=True)
    write_model(model, out)
    save({"sample": x}, os.path.join(out, "inputs.safetensors"))
    save({"latent_mean": posterior.mean, "latent_logvar": posterior.logvar, "decoded": decoded,
          "latent_sample_seed3": sample}, os.path.join(out, "outputs.safetensors"))
    print(f"{name}: latents {tuple(posterior.mean.shape)}")


# ---- text encoders ----

def text_inputs(vocab, eos, batch=2, length=9, pad=0):
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(3, vocab - 3, (batch, length), generator=g)
    mask = torch.ones(batch, length, dtype=torch.int64)
    ids[0, -1] = eos
    ids[1, 5] = eos  # the second sequence ends early and is padded after its end token
    ids[1, 6:] = pad
    mask[1, 6:] = 0
    return ids, mask


def clip_case(name, out):
    from transformers import CLIPTextConfig, CLIPTextModel

    legacy = name == "clip_text_legacy_eos"
    config = CLIPTextConfig(vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                            num_attention_heads=4, max_position_embeddings=16, eos_token_id=2 if legacy else 97,
                            bos_token_id=96, pad_token_id=1, hidden_act="quick_gelu")
    torch.manual_seed(0)
    model = CLIPTextModel(config).eval()
    ids, mask = text_inputs(99, 2 if legacy else 97, pad=1)
    if legacy:
        ids[0, 3] = 98  # the largest id marks the end in legacy checkpoints
    with torch.no_grad():
        o = model(input_ids=ids, attention_mask=mask)
    os.makedirs(out, exist_ok=True)
    write_model(model, out)
    save({"input_ids": ids, "attention_mask": mask}, os.path.join(out, "inputs.safetensors"))
    save({"last_hidden_state": o.last_hidden_state, "pooler_output": o.pooler_output},
         os.path.join(out, "outputs.safetensors"))
    print(f"{name}: {tuple(o.last_hidden_state.shape)}")


def bert_case(name, out):
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=20, type_vocab_size=2)
    torch.manual_seed(0)
    model = BertModel(config).eval()
    ids, mask = text_inputs(99, 98, pad=0)
    types = torch.zeros_like(ids)
    types[0, 4:] = 1
    with torch.no_grad():
        o = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
    os.makedirs(out, exist_ok=True)
    write_model(model, out)
    save({"input_ids": ids, "attention_mask": mask, "token_type_ids": types}, os.path.join(out, "inputs.safetensors"))
    save({"last_hidden_state": o.last_hidden_state, "pooler_output": o.pooler_output},
         os.path.join(out, "outputs.safetensors"))
    print(f"{name}: {tuple(o.last_hidden_state.shape)}")


CASES = {**{k: pixart_case for k in PIXART_CASES}, **{k: vae_case for k in VAE_CASES},
         "clip_text_tiny": clip_case, "clip_text_legacy_eos": clip_case, "bert_tiny": bert_case}


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
