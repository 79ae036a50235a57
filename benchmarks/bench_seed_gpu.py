#!/usr/bin/env python3
"""The seed config's DiT training step on a GPU: DiTKit vs PyTorch eager vs torch.compile, alternating in one run.

The model is the course's 256-px DiT as diffusers builds it (PixArtTransformer2DModel: latents 32x32x4, hidden 384 =
6 heads x 64, 8 blocks, patch 2, adaLN-single, cross-attention to 384-wide caption features of 64 tokens, the width
of all-MiniLM-L6-v2). For each batch size and precision (fp32, and bf16 autocast as `mixed_precision: bf16`), the
script saves fresh weights, starts `dit-bench --kind pixart` on them, builds the same model twice in PyTorch (one
eager, one through torch.compile, inductor's default mode), and alternates steps between the three; every side draws
the same data from the same seed on the device (first losses agree). Every side's step ends as the trainer's does
(clipping, fused AdamW, a multi-tensor EMA, the loss summed on the device; bench_dit_step.BestPracticeTail). Then it
measures each side's peak memory over one more step, and counts the ATen ops and host syncs of one more. One JSON line per setting goes to --out the moment it is measured, so a run cut short keeps what it
measured; the last lines printed are the ratios.

    python benchmarks/bench_seed_gpu.py --swift .gpu/dit-bench --out seed-gpu.jsonl
"""
import argparse
import copy
import json
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from diffusers import PixArtTransformer2DModel

# The Swift worker's protocol, the alternating rounds, PyTorch's recommended step tail and the op/sync counter.
from bench_dit_step import BestPracticeTail, SwiftStep, TimedSide, alternate

CAPTION_LENGTH, CAPTION_CHANNELS = 64, 384


def build_model(seed, directory):
    torch.manual_seed(seed)
    model = PixArtTransformer2DModel(num_attention_heads=6, attention_head_dim=64, in_channels=4, out_channels=4,
                                     num_layers=8, sample_size=32, patch_size=2, cross_attention_dim=384,
                                     caption_channels=CAPTION_CHANNELS, norm_type="ada_norm_single",
                                     use_additional_conditions=False)
    model.save_pretrained(directory, safe_serialization=True)
    return model


class TorchSide(TimedSide):
    def __init__(self, model, seed, batch, device, precision, compiled):
        self.model = model.to(device).train()
        self.forward = torch.compile(self.model) if compiled else self.model
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self.tail = BestPracticeTail(self.model, device)
        betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
        self.alphas_cumprod = (1 - betas).log().cumsum(0).exp().float().to(device)
        self.batch, self.device, self.bf16 = batch, device, precision == "bf16"
        self.config = model.config

    def loss(self):
        b, d, g, c = self.batch, self.device, self.gen, self.config
        shape = (b, c.in_channels, c.sample_size, c.sample_size)
        x0 = torch.randn(shape, device=d, generator=g)
        caption = torch.randn(b, CAPTION_LENGTH, CAPTION_CHANNELS, device=d, generator=g)
        t = torch.randint(0, 1000, (b,), device=d, generator=g)
        noise = torch.randn(shape, device=d, generator=g)
        ab = self.alphas_cumprod.index_select(0, t).reshape(b, 1, 1, 1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        mask = torch.ones(b, CAPTION_LENGTH, dtype=torch.long, device=d)
        pred = self.forward(xt, encoder_hidden_states=caption, timestep=t, encoder_attention_mask=mask,
                            added_cond_kwargs={"resolution": None, "aspect_ratio": None}).sample
        return F.mse_loss(pred[:, :c.in_channels].float(), noise)

    def step(self):
        with torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=self.bf16):
            loss = self.loss()
        return self.tail(loss)

    def peak_memory(self):
        if not self.device.startswith("cuda"):
            return None
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        self()
        return torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved()


def measure(args, batch, precision):
    model_dir = tempfile.mkdtemp(prefix="seed-bench-")
    model = build_model(args.seed, model_dir)
    swift = SwiftStep(args.swift, args.seed, batch, args.device, model_dir,
                      extra=["--kind", "pixart", "--precision", precision, "--caption-length", str(CAPTION_LENGTH)])
    sides = {"swift": swift,
             "eager": TorchSide(copy.deepcopy(model), args.seed, batch, args.device, precision, compiled=False)}
    if not args.no_compile:
        sides["compiled"] = TorchSide(copy.deepcopy(model), args.seed, batch, args.device, precision, compiled=True)
    times, losses = alternate(sides, args.warmup, args.steps, show=False)
    med = {k: statistics.median(v) for k, v in times.items()}
    # Swift's peak covers its whole run; PyTorch's is one more step each (both sides live in this process).
    memory = {k: s.peak_memory() for k, s in sides.items()}
    counts = {"swift": swift.count(), "eager": sides["eager"].count()}
    swift.close()
    row = {"batch": batch, "precision": precision, "device": args.device,
           "card": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
           "torch": torch.__version__, "steps": args.steps,
           "seconds_per_step": med, "images_per_second": {k: batch / v for k, v in med.items()},
           "first_loss": {k: v[0] for k, v in losses.items()},
           "speedup_vs_eager": med["eager"] / med["swift"],
           "host_syncs_per_step": {k: v[1] for k, v in counts.items()},
           "ops_per_step": {k: v[0] for k, v in counts.items()},
           "peak_memory_bytes": {k: (v[0] if v else None) for k, v in memory.items()},
           "peak_reserved_bytes": {k: (v[1] if v else None) for k, v in memory.items()},
           "date": time.strftime("%Y-%m-%d")}
    if "compiled" in med:
        row["speedup_vs_compile"] = med["compiled"] / med["swift"]
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--swift", required=True, help="the dit-bench binary")
    ap.add_argument("--out", required=True, help="JSON lines, one per batch size and precision")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batches", default="16,64,256")
    ap.add_argument("--precisions", default="bf16,fp32")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps (torch.compile compiles in the first)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    for precision in args.precisions.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            try:
                row = measure(args, batch, precision)
            except Exception as e:  # noqa: BLE001 (an OOM at batch 256 must not lose the rows before it)
                row = {"batch": batch, "precision": precision, "error": f"{type(e).__name__}: {e}"[:500]}
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
            if "error" in row:
                print(f"batch {batch} {precision}: {row['error']}", flush=True)
                continue
            ips = row["images_per_second"]
            print(f"batch {batch:3d} {precision}: images/s swift {ips['swift']:.1f}, eager {ips['eager']:.1f}"
                  + (f", compiled {ips['compiled']:.1f}" if "compiled" in ips else "")
                  + f"; speedup vs eager {row['speedup_vs_eager']:.2f}"
                  + (f", vs compile {row['speedup_vs_compile']:.2f}" if "speedup_vs_compile" in row else "")
                  + f"; first losses {row['first_loss']}", flush=True)


if __name__ == "__main__":
    main()
