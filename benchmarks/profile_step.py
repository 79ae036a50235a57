#!/usr/bin/env python3
"""Where the bench step's time goes: torch.profiler over PyTorch eager's version of the `make bench` step
(bench_dit_step.TorchStep: forward, backward, clipping, fused AdamW, EMA), after warm-up steps. DiTKit calls the same
ATen kernels, so the table is the floor both sides share. Prints each ATen op's share of self CPU time, its time per
step and its calls per step, largest first.

    python benchmarks/profile_step.py --steps 3
"""
import argparse
import tempfile

from torch.profiler import ProfilerActivity, profile

from bench_dit_step import TorchStep, build_model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--top", type=int, default=14)
    args = ap.parse_args()
    step = TorchStep(0, args.batch, "cpu", build_model(0, tempfile.mkdtemp(prefix="profile-step-")))
    for _ in range(args.warmup):
        step.step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step.step()
    rows = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    total = sum(e.self_cpu_time_total for e in rows)
    print(f"{'ATen op':<56} {'share':>7} {'s/step':>8} {'calls/step':>11}")
    for e in sorted(rows, key=lambda e: -e.self_cpu_time_total)[:args.top]:
        print(f"{e.key:<56} {100 * e.self_cpu_time_total / total:6.1f}% {e.self_cpu_time_total / 1e6 / args.steps:8.3f} "
              f"{e.count / args.steps:11.0f}")
    print(f"{'all ATen ops (self time)':<56} {100.0:6.1f}% {total / 1e6 / args.steps:8.3f} "
          f"{sum(e.count for e in rows) / args.steps:11.0f}")


if __name__ == "__main__":
    main()
