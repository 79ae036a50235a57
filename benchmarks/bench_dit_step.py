#!/usr/bin/env python3
"""Swift (DiTKit over libtorch) vs PyTorch eager on the same DiT training step, alternating in one run.

The Swift side is `dit-bench --worker` (benchmarks/DiTStepBench); the PyTorch side is the same network below, built
in the same order from the same seed, so both start from identical weights and data: their first losses must agree,
which shows that the two programs do the same work. Steps alternate Swift, PyTorch, Swift, ... so that machine noise
hits both alike. Prints the median seconds per step of each and, last, `speedup vs pytorch eager: X.XX`
(PyTorch time / Swift time).
"""
import argparse
import math
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def sincos_position_embedding(dim, grid):
    coords = torch.arange(grid, dtype=torch.float64)
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim // 4))

    def embed1d(pos):
        out = pos[:, None] * omega[None]
        return torch.cat([out.sin(), out.cos()], dim=1)

    w = coords.repeat(grid)
    h = coords[:, None].repeat(1, grid).flatten()
    return torch.cat([embed1d(w), embed1d(h)], dim=1).float()


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(256, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t):
        half = 128
        freqs = (torch.arange(half, dtype=torch.float32, device=t.device) * (-math.log(10000.0) / half)).exp()
        args = t.float()[:, None] * freqs[None]
        return self.mlp(torch.cat([args.cos(), args.sin()], dim=-1))


class SelfAttention(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(b, n, c))


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class DiTBlock(nn.Module):
    def __init__(self, hidden, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(hidden, heads)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * hidden, hidden))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 6 * hidden))
        nn.init.zeros_(self.adaLN_modulation[1].weight)
        nn.init.zeros_(self.adaLN_modulation[1].bias)

    def forward(self, x, c):
        m = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + m[2].unsqueeze(1) * self.attn(modulate(self.norm1(x), m[0], m[1]))
        return x + m[5].unsqueeze(1) * self.mlp(modulate(self.norm2(x), m[3], m[4]))


class FinalLayer(nn.Module):
    def __init__(self, hidden, patch, out_channels):
        super().__init__()
        self.norm_final = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden, patch * patch * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))
        for p in [self.linear.weight, self.linear.bias, *self.adaLN_modulation[1].parameters()]:
            nn.init.zeros_(p)

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    def __init__(self, size=32, channels=3, patch=2, hidden=256, depth=6, heads=4, classes=10):
        super().__init__()
        self.size, self.channels, self.patch = size, channels, patch
        self.x_embedder = nn.Conv2d(channels, hidden, kernel_size=patch, stride=patch)
        self.t_embedder = TimestepEmbedder(hidden)
        self.y_embedder = nn.Embedding(classes + 1, hidden)
        self.register_buffer("pos_embed", sincos_position_embedding(hidden, size // patch)[None])
        self.blocks = nn.ModuleList([DiTBlock(hidden, heads) for _ in range(depth)])
        self.final_layer = FinalLayer(hidden, patch, channels)

    def forward(self, x, t, y):
        h = self.x_embedder(x).flatten(2).transpose(1, 2) + self.pos_embed
        c = self.t_embedder(t) + self.y_embedder(y)
        for block in self.blocks:
            h = block(h, c)
        h = self.final_layer(h, c)
        g, p, b = self.size // self.patch, self.patch, x.shape[0]
        return h.reshape(b, g, g, p, p, self.channels).permute(0, 5, 1, 3, 2, 4).reshape(b, self.channels, g * p, g * p)


class TorchStep:
    def __init__(self, seed, batch, fused, device):
        torch.manual_seed(seed)
        self.batch, self.device = batch, device
        self.model = DiT().to(device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-4, weight_decay=0, fused=fused or None)
        betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
        self.alphas_cumprod = (1 - betas).log().cumsum(0).exp().float().to(device)

    def __call__(self):
        start = time.perf_counter()
        b, d = self.batch, self.device
        x0 = torch.randn(b, 3, 32, 32, device=d)
        y = torch.randint(0, 10, (b,), device=d)
        t = torch.randint(0, 1000, (b,), device=d)
        noise = torch.randn(b, 3, 32, 32, device=d)
        ab = self.alphas_cumprod.index_select(0, t).reshape(b, 1, 1, 1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        loss = F.mse_loss(self.model(xt, t, y), noise)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        value = loss.item()
        return time.perf_counter() - start, value


class SwiftStep:
    def __init__(self, binary, seed, batch, device):
        self.proc = subprocess.Popen([binary, "--worker", "--seed", str(seed), "--batch", str(batch), "--device", device],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        ready = self.proc.stdout.readline()
        if not ready.startswith("ready"):
            sys.exit(f"bench: {binary} did not start (got {ready!r})")
        self.parameters = int(ready.split()[1])

    def __call__(self):
        self.proc.stdin.write("step\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            sys.exit("bench: the Swift worker stopped")
        seconds, loss = line.split()
        return float(seconds), float(loss)

    def close(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--swift", required=True, help="path of the dit-bench binary")
    ap.add_argument("--steps", type=int, default=12, help="timed steps of each side (after warm-up)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--torch-fused", action="store_true", help="use AdamW(fused=True) on the PyTorch side too")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    args = ap.parse_args()

    swift = SwiftStep(args.swift, args.seed, args.batch, args.device)
    ref = TorchStep(args.seed, args.batch, args.torch_fused, args.device)
    n_params = sum(p.numel() for p in ref.model.parameters())
    print(f"DiT step: 32x32x3, patch 2, hidden 256, 6 blocks, 4 heads, batch {args.batch}, float32, AdamW, "
          f"device {args.device}" + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else ""))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; parameters swift {swift.parameters} "
          f"pytorch {n_params}; PyTorch AdamW {'fused' if args.torch_fused else 'default (for-loop on CPU)'}")
    times = {"swift": [], "pytorch": []}
    losses = {"swift": [], "pytorch": []}
    for i in range(args.warmup + args.steps):
        row = []
        for name, step in (("swift", swift), ("pytorch", ref)):
            seconds, loss = step()
            losses[name].append(loss)
            if i >= args.warmup:
                times[name].append(seconds)
            row.append(f"{name} {seconds:.3f} s")
        label = "warm-up" if i < args.warmup else f"step {i + 1 - args.warmup:2d}"
        print(f"{label}: {', '.join(row)}", flush=True)
    swift.close()
    first = {k: v[0] for k, v in losses.items()}
    diff = abs(first["swift"] - first["pytorch"])
    drift = max(abs(a - b) for a, b in zip(losses["swift"], losses["pytorch"]))
    print(f"first loss: swift {first['swift']:.8f} pytorch {first['pytorch']:.8f} (|diff| {diff:.2e}); "
          f"largest loss difference over all {len(losses['swift'])} steps {drift:.2e}")
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"swift   median {med['swift']:.4f} s/step  (min {min(times['swift']):.4f})")
    print(f"pytorch median {med['pytorch']:.4f} s/step  (min {min(times['pytorch']):.4f})")
    if diff > 1e-4:
        print("warning: the first losses differ; the two sides are not running the same computation")
    print(f"speedup vs pytorch eager: {med['pytorch'] / med['swift']:.2f}")


if __name__ == "__main__":
    main()
