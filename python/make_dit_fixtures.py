#!/usr/bin/env python3
"""Tiny random class-conditional DiTs (diffusers `DiTTransformer2DModel`, the adaLN-Zero DiT of Peebles & Xie)
saved with save_pretrained, with inputs and reference outputs, for the Swift parity tests
(Tests/Fixtures/models/<case>/{model/, inputs.safetensors, outputs.safetensors}).

Pinned packages: python/requirements-test.txt (diffusers 0.42.1). Runs offline; every value comes from fixed seeds,
and the files are rewritten byte for byte on every run. `--case NAME --out DIR` writes one case elsewhere.
"""
import argparse
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # helpers beside this script
from fixture_io import canonical  # noqa: E402
from make_model_fixtures import ROOT, perturb, write_model  # noqa: E402


def save(tensors, path):
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, path, metadata={"source": "make_dit_fixtures.py"})
    canonical(path)

CASES = {
    # The paper's layout at toy size: latent DiT, GELU-tanh, fixed variance (out_channels = in_channels).
    "dit_tiny": dict(config=dict(num_attention_heads=3, attention_head_dim=4, in_channels=4, out_channels=None,
                                 num_layers=2, sample_size=8, patch_size=2, num_embeds_ada_norm=10),
                     size=8, timestep=[999, 17], labels=[3, 10]),
    # Learned sigma (out_channels = 2 × in_channels), GEGLU, affine norm3 with its own eps, no q/k/v bias, float
    # timesteps, and a 12×12 input on a model made for 8×8 (the sin-cos positions are recomputed for the larger
    # grid). diffusers' DiT unpatchifies with height = width = sqrt(tokens), so it cannot take non-square inputs.
    "dit_learned_sigma": dict(config=dict(num_attention_heads=2, attention_head_dim=4, in_channels=3, out_channels=6,
                                          num_layers=2, sample_size=8, patch_size=2, num_embeds_ada_norm=7,
                                          activation_fn="geglu", attention_bias=False,
                                          norm_elementwise_affine=True, norm_eps=1e-4),
                              size=12, timestep=[999.0, 0.5, 250.25], labels=[0, 6, 7]),
}


def dit_case(name, out):
    from diffusers import DiTTransformer2DModel

    spec = CASES[name]
    torch.manual_seed(0)
    model = DiTTransformer2DModel(**spec["config"]).eval()
    perturb(model, 1)
    cfg = model.config
    timestep = torch.tensor(spec["timestep"])
    b = timestep.shape[0]
    g = torch.Generator().manual_seed(2)
    inputs = {
        "hidden_states": torch.randn(b, cfg.in_channels, spec["size"], spec["size"], generator=g),
        "timestep": timestep,
        # The label num_embeds_ada_norm is the null class ("no label"), classifier-free guidance's extra row.
        "class_labels": torch.tensor(spec["labels"], dtype=torch.int64),
    }
    with torch.no_grad():
        (output,) = model(inputs["hidden_states"], timestep=inputs["timestep"], class_labels=inputs["class_labels"],
                          return_dict=False)
    os.makedirs(out, exist_ok=True)
    write_model(model, out)
    save(inputs, os.path.join(out, "inputs.safetensors"))
    save({"output": output}, os.path.join(out, "outputs.safetensors"))
    print(f"{name}: output {tuple(output.shape)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", help="write only this case")
    ap.add_argument("--out", help="directory for --case (default: Tests/Fixtures/models/CASE)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.case:
        if args.case not in CASES:
            sys.exit(f"unknown case {args.case}; known: {', '.join(CASES)}")
        dit_case(args.case, args.out or os.path.join(ROOT, args.case))
        return
    for name in CASES:
        dit_case(name, os.path.join(ROOT, name))


if __name__ == "__main__":
    main()
