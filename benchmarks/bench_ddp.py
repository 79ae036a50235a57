#!/usr/bin/env python3
"""Data-parallel scaling on CPU: DiTKit's c10d training vs PyTorch's DistributedDataParallel, alternating in one run.

Four setups train the bench DiT of bench_dit_step.py (diffusers' DiTTransformer2DModel, 32x32x3, patch 2, hidden 256,
6 blocks) on the same global batch from the same starting weights:
  swift x1    one `dit-bench` process, all cores
  swift xN    N `dit-bench` workers (Gloo, bucketed gradient all-reduce), cores split between them
  pytorch x1  one PyTorch process, all cores
  pytorch xN  N PyTorch workers under torch.nn.parallel.DistributedDataParallel (Gloo), cores split the same way
Each setup keeps its processes alive and answers one step at a time, and steps rotate between setups, so machine
noise hits all alike. Every worker draws the global batch from the shared seed and takes its slice, so rank 0's
losses agree across the four (the check that they do the same work). The last lines are each side's scaling
(x1 step time / xN step time for the same global batch) and `speedup vs pytorch ddp: X` (PyTorch DDP step time /
DiTKit DDP step time).
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_dit_step import alternate, build_model  # noqa: E402  (the same model, its weights, the same rounds)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torch_worker(args):
    """One PyTorch DDP rank: answers each "step" line on stdin with "<seconds> <loss>" (its own slice's loss)."""
    from diffusers import DiTTransformer2DModel
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(args.threads)
    model = DiTTransformer2DModel.from_pretrained(args.model, low_cpu_mem_usage=False).eval()
    rank, world = 0, int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        torch.distributed.init_process_group("gloo")
        rank = torch.distributed.get_rank()
        model = DistributedDataParallel(model)
    torch.manual_seed(args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0)
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    alphas_cumprod = (1 - betas).log().cumsum(0).exp().float()
    b = args.batch
    rows = slice(rank * b // world, (rank + 1) * b // world)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        start = time.perf_counter()
        x0 = torch.randn(b, 3, 32, 32)[rows]
        y = torch.randint(0, 10, (b,))[rows]
        t = torch.randint(0, 1000, (b,))[rows]
        noise = torch.randn(b, 3, 32, 32)[rows]
        ab = alphas_cumprod.index_select(0, t).reshape(-1, 1, 1, 1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        loss = F.mse_loss(model(xt, timestep=t, class_labels=y).sample, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        value = loss.item()
        print(f"{time.perf_counter() - start:.6f} {value:.8f}", flush=True)
    if world > 1:
        torch.distributed.destroy_process_group()


class Workers:
    """A setup's processes, each answering "step" with "<seconds> <loss>"; rank 0's answer is the setup's."""

    def __init__(self, commands, envs):
        self.procs = [subprocess.Popen(c, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=e)
                      for c, e in zip(commands, envs)]
        for p in self.procs:
            ready = p.stdout.readline()
            if not ready.startswith("ready"):
                sys.exit(f"bench: a worker did not start (got {ready!r})")

    def __call__(self):
        for p in self.procs:
            p.stdin.write("step\n")
            p.stdin.flush()
        answers = [p.stdout.readline().split() for p in self.procs]
        if any(len(a) != 2 for a in answers):
            sys.exit("bench: a worker stopped")
        # A data-parallel step ends when the slowest rank's does.
        return max(float(a[0]) for a in answers), float(answers[0][1])

    def close(self):
        for p in self.procs:
            p.stdin.write("quit\n")
            p.stdin.close()
        for p in self.procs:
            p.wait()


def launch(command, nproc, threads):
    """`command` as nproc workers with torchrun's variables (nproc 1: a plain process with all cores)."""
    port = free_port()
    envs = []
    for rank in range(nproc):
        env = dict(os.environ)
        for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(k, None)
        if nproc > 1:
            env.update(WORLD_SIZE=str(nproc), RANK=str(rank), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(nproc),
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        env["OMP_NUM_THREADS"] = str(threads)
        envs.append(env)
    return Workers([command] * nproc, envs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--swift", help="path of the dit-bench binary")
    ap.add_argument("--nproc", type=int, default=2, help="workers of the data-parallel setups")
    ap.add_argument("--steps", type=int, default=8, help="timed steps of each setup (after warm-up)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32, help="global batch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        return torch_worker(args)
    if not args.swift:
        ap.error("--swift is required")

    cores = os.cpu_count() or 1
    per_worker = max(1, cores // args.nproc)
    model_dir = tempfile.mkdtemp(prefix="dit-bench-ddp-")
    build_model(args.seed, model_dir)
    swift = [args.swift, "--worker", "--seed", str(args.seed), "--batch", str(args.batch), "--model", model_dir]
    py = [sys.executable, os.path.abspath(__file__), "--torch-worker", "--seed", str(args.seed), "--batch",
          str(args.batch), "--model", model_dir]
    n = args.nproc
    setups = {
        "swift x1": launch(swift, 1, cores),
        f"swift x{n}": launch(swift, n, per_worker),
        "pytorch x1": launch(py + ["--threads", str(cores)], 1, cores),
        f"pytorch x{n}": launch(py + ["--threads", str(per_worker)], n, per_worker),
    }
    print(f"data-parallel DiT step (DiTTransformer2DModel 32x32x3, patch 2, hidden 256, 6 blocks), global batch "
          f"{args.batch}, float32, AdamW, CPU, {cores} cores: x1 uses all, x{n} gives each worker {per_worker}; "
          f"c10d Gloo; torch {torch.__version__}")
    times, losses = alternate(setups, args.warmup, args.steps)
    for step in setups.values():
        step.close()
    shutil.rmtree(model_dir, ignore_errors=True)

    # Rank 0 of the xN setups computes the loss of its slice; x1 the whole batch. Same-sized setups must agree.
    for a, b in (("swift x1", "pytorch x1"), (f"swift x{n}", f"pytorch x{n}")):
        diff = abs(losses[a][0] - losses[b][0])
        print(f"first loss {a} {losses[a][0]:.8f}, {b} {losses[b][0]:.8f} (|diff| {diff:.2e})"
              + ("  WARNING: not the same computation" if diff > 1e-4 else ""))
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k:<11} median {v:.4f} s/step  ({args.batch / v:.1f} images/s)")
    print(f"{n}-process scaling (x1 step time / x{n} step time): swift {med['swift x1'] / med[f'swift x{n}']:.2f}, "
          f"pytorch {med['pytorch x1'] / med[f'pytorch x{n}']:.2f}")
    print(f"speedup vs pytorch ddp: {med[f'pytorch x{n}'] / med[f'swift x{n}']:.2f}")


if __name__ == "__main__":
    main()
