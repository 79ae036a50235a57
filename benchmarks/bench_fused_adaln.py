#!/usr/bin/env python3
"""Are the shim's fused adaLN kernels worth keeping? The bench DiT's step (bench_dit_step.py: clipping, fused AdamW,
EMA) in three sides, alternating in one run: DiTKit with the fused modulation and gated residuals, DiTKit with them
as separate ATen ops (`dit-bench --no-fused-adaln`), and PyTorch eager. All start from the same weights and draw the
same data, so the first losses agree; prints each median and, last, `fused vs unfused: X.XX` (unfused time / fused
time) and `fused vs pytorch eager: Y.YY`.

    python benchmarks/bench_fused_adaln.py --swift .build/release/dit-bench
"""
import argparse
import shutil
import statistics
import tempfile

from bench_dit_step import SwiftStep, TorchStep, alternate, build_model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--swift", required=True)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model_dir = tempfile.mkdtemp(prefix="adaln-bench-")
    model = build_model(args.seed, model_dir)
    sides = {"fused": SwiftStep(args.swift, args.seed, args.batch, "cpu", model_dir),
             "unfused": SwiftStep(args.swift, args.seed, args.batch, "cpu", model_dir, extra=["--no-fused-adaln"]),
             "pytorch": TorchStep(args.seed, args.batch, "cpu", model)}
    times, losses = alternate(sides, args.warmup, args.steps)
    for side in ("fused", "unfused"):
        sides[side].close()
    shutil.rmtree(model_dir, ignore_errors=True)
    first = {k: v[0] for k, v in losses.items()}
    drift = max(abs(a - b) for a, b in zip(losses["fused"], losses["unfused"]))
    print("first loss: " + ", ".join(f"{k} {v:.8f}" for k, v in first.items())
          + f"; largest fused-unfused loss difference over {len(losses['fused'])} steps {drift:.2e}")
    med = {k: statistics.median(v) for k, v in times.items()}
    for k in sides:
        print(f"{k:<8} median {med[k]:.4f} s/step  (min {min(times[k]):.4f})")
    print(f"fused vs unfused: {med['unfused'] / med['fused']:.2f}")
    print(f"fused vs pytorch eager: {med['pytorch'] / med['fused']:.2f}")


if __name__ == "__main__":
    main()
