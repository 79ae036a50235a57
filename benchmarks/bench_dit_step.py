#!/usr/bin/env python3
"""Swift (DiTKit over libtorch) vs PyTorch, eager and torch.compile, on the same DiT training step, alternating in one run.

The Swift side is `dit-bench --worker` (benchmarks/DiTStepBench) running DiTKit's DiTTransformer2DModel; the PyTorch
side is diffusers' DiTTransformer2DModel, run eagerly and, as a third side, through `torch.compile` (inductor, its
default mode; compiled during the warm-up steps, which are not timed). Swift loads the weights PyTorch starts from
and every side draws the same data from the same seed, so their first losses must agree, which shows that the
programs do the same work. Steps alternate Swift, eager, compiled, Swift, ... so that machine noise hits all alike.

Every side takes the step the way PyTorch recommends for training without waiting on the device: gradient clipping at
norm 1 (`clip_grad_norm_`, multi-tensor where the device has it), `AdamW(fused=True)`, an EMA as one `_foreach_lerp_`,
and the loss summed on the device; the loss is read only after the clock stops. One more step of each side is then
counted: the ATen ops it dispatches and its host synchronisations (scalar reads, blocking copies between host and
device, data-dependent shapes), the Swift side through `OpRecorder.count`, PyTorch's through `torch.profiler` with the
same rules (`count_step`).

Prints the median seconds per step of each and ends with four lines: `speedup vs pytorch eager: X.XX`,
`speedup vs torch.compile: Y.YY` (PyTorch time / Swift time), `host syncs per step: swift A, pytorch B` and
`ops per step: swift C, pytorch D`.
"""
import copy
import argparse
import math
import statistics
import shutil
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from diffusers import DiTTransformer2DModel


def build_model(seed, directory):
    """diffusers' DiTTransformer2DModel (the model DiTKit's Swift DiTTransformer2DModel matches), saved for Swift."""
    torch.manual_seed(seed)
    model = DiTTransformer2DModel(num_attention_heads=4, attention_head_dim=64, in_channels=3, out_channels=None,
                                  num_layers=6, sample_size=32, patch_size=2, num_embeds_ada_norm=10,
                                  norm_type="ada_norm_zero")
    model.save_pretrained(directory, safe_serialization=True)
    # Eval mode keeps class labels (no random drop to the null class), so both sides compute the same step.
    return model.eval()


# Scalar reads the program asks for (item() and what calls it), as DiTKit's shim counts them: a CPU kernel reading
# its own CPU argument (fused AdamW's step count on the CPU) waits for no device.
PROGRAM_READS = {"aten::item", "aten::_local_scalar_dense", "aten::is_nonzero", "aten::equal", "aten::allclose"}
DATA_SHAPED = {"aten::nonzero", "aten::masked_select", "aten::_unique2", "aten::unique_consecutive"}


def count_step(step, device):
    """(ATen ops, host syncs) of one call of `step`: every aten:: event torch.profiler records (ops inside ops
    included, forward and backward), and the syncs among them by DiTKit's rules. On CUDA the blocking copies between
    host and device are counted by torch's own sync debug mode instead (the profiler does not name devices)."""
    from torch.profiler import ProfilerActivity, profile
    warnings_seen = []
    if device.startswith("cuda"):
        import warnings
        torch.cuda.set_sync_debug_mode("warn")
        catcher = warnings.catch_warnings(record=True)
        warnings_seen = catcher.__enter__()
        warnings.simplefilter("always")
    try:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
    finally:
        if device.startswith("cuda"):
            catcher.__exit__(None, None, None)
            torch.cuda.set_sync_debug_mode(0)
    events = [e for e in prof.events() if e.name.startswith("aten::")]

    def outermost(e):
        top, parent = e, e.cpu_parent
        while parent is not None:
            if parent.name.startswith("aten::"):
                top = parent
            parent = parent.cpu_parent
        return top.name

    if device.startswith("cuda"):
        syncs = sum(1 for w in warnings_seen if "synchroniz" in str(w.message))
    else:
        syncs = sum(1 for e in events if (e.name == "aten::_local_scalar_dense" and outermost(e) in PROGRAM_READS)
                    or e.name in DATA_SHAPED)
    return len(events), syncs


class BestPracticeTail:
    """What follows the loss in PyTorch's recommended training step, as DiTKit's trainer does it: backward, clipping at
    norm 1 (clip_grad_norm_: multi-tensor where the device has it; on the CPU torch loops), AdamW(fused=True), an EMA
    as one _foreach_lerp_ with diffusers EMAModel's warm-up, and the loss summed on the device."""

    def __init__(self, model, device, decay=0.9999):
        self.params = list(model.parameters())
        self.opt = torch.optim.AdamW(self.params, lr=1e-4, weight_decay=0, fused=True)
        self.ema = [p.detach().clone() for p in self.params]
        self.decay, self.steps = decay, 0
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)

    def __call__(self, loss):
        self.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.steps += 1
        decay = min(self.decay, self.steps / (self.steps + 9))
        with torch.no_grad():
            torch._foreach_lerp_(self.ema, self.params, 1 - decay)
            value = loss.detach()
            self.loss_sum += value
        return value


class TimedSide:
    """A PyTorch side of the alternating rounds: `step()` (defined by each side) returns the loss on the device; a
    round times it until the device has finished, then reads the loss; `count()` counts one more step."""

    def __call__(self):
        start = time.perf_counter()
        value = self.step()
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        return seconds, value.item()

    def count(self):
        return count_step(self.step, self.device)


class TorchStep(TimedSide):
    """The bench DiT's step in PyTorch with BestPracticeTail: nothing in it reads a value back."""

    def __init__(self, seed, batch, device, model, compiled=False):
        self.batch, self.device = batch, device
        self.model = model.to(device)
        self.forward = torch.compile(self.model) if compiled else self.model
        # Each PyTorch side has its own generator, seeded like Swift's global one, so all draw the same data.
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self.tail = BestPracticeTail(self.model, device)
        betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
        self.alphas_cumprod = (1 - betas).log().cumsum(0).exp().float().to(device)

    def step(self):
        b, d = self.batch, self.device
        g = self.gen
        x0 = torch.randn(b, 3, 32, 32, device=d, generator=g)
        y = torch.randint(0, 10, (b,), device=d, generator=g)
        t = torch.randint(0, 1000, (b,), device=d, generator=g)
        noise = torch.randn(b, 3, 32, 32, device=d, generator=g)
        ab = self.alphas_cumprod.index_select(0, t).reshape(b, 1, 1, 1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        return self.tail(F.mse_loss(self.forward(xt, timestep=t, class_labels=y).sample, noise))



class SwiftStep:
    """A `dit-bench --worker` process: "step" answers "<seconds> <loss>", "memory" its peak allocated and reserved
    bytes. `extra` are more dit-bench options (bench_seed_gpu.py: --kind pixart, --precision, ...)."""

    def __init__(self, binary, seed, batch, device, model_dir, extra=()):
        self.proc = subprocess.Popen([binary, "--worker", "--seed", str(seed), "--batch", str(batch), "--device", device,
                                      "--model", model_dir, *extra],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        ready = self.proc.stdout.readline()
        if not ready.startswith("ready"):
            raise RuntimeError(f"{binary} did not start (got {ready!r})")
        self.parameters = int(ready.split()[1])

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().split()
        if len(answer) != 2:
            raise RuntimeError("the Swift worker stopped")
        return answer

    def __call__(self):
        seconds, loss = self.ask("step")
        return float(seconds), float(loss)

    def count(self):
        ops, syncs = self.ask("count")
        return int(ops), int(syncs)

    def peak_memory(self):
        allocated, reserved = self.ask("memory")
        return int(allocated), int(reserved)

    def close(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait()


def alternate(sides, warmup, steps, show=True):
    """Steps every side in turn, warm-up steps untimed, so machine noise hits all alike; returns per side the timed
    seconds and every loss. `show` prints one line per round."""
    times, losses = {k: [] for k in sides}, {k: [] for k in sides}
    for i in range(warmup + steps):
        row = []
        for name, step in sides.items():
            seconds, loss = step()
            losses[name].append(loss)
            if i >= warmup:
                times[name].append(seconds)
            row.append(f"{name} {seconds:.3f} s")
        if show:
            label = "warm-up" if i < warmup else f"step {i + 1 - warmup:2d}"
            print(f"{label}: {', '.join(row)}", flush=True)
    return times, losses


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--swift", required=True, help="path of the dit-bench binary")
    ap.add_argument("--steps", type=int, default=12, help="timed steps of each side (after warm-up)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps (torch.compile compiles in the first)")
    ap.add_argument("--no-compile", action="store_true", help="leave out the torch.compile side")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    args = ap.parse_args()

    model_dir = tempfile.mkdtemp(prefix="dit-bench-")
    model = build_model(args.seed, model_dir)
    try:
        swift = SwiftStep(args.swift, args.seed, args.batch, args.device, model_dir)
    except RuntimeError as e:
        sys.exit(f"bench: {e}")
    twin = copy.deepcopy(model)
    ref = TorchStep(args.seed, args.batch, args.device, model)
    sides = {"swift": swift, "pytorch": ref}
    if not args.no_compile:
        sides["compiled"] = TorchStep(args.seed, args.batch, args.device, twin, compiled=True)
    n_params = sum(p.numel() for p in ref.model.parameters())
    print(f"DiT step (DiTTransformer2DModel): 32x32x3, patch 2, hidden 256, 6 blocks, 4 heads, batch {args.batch}, "
          f"float32, clipping at norm 1, fused AdamW, EMA, "
          f"device {args.device}" + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else ""))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; parameters swift {swift.parameters} "
          f"pytorch {n_params}")
    times, losses = alternate(sides, args.warmup, args.steps)
    counts = {"swift": swift.count(), "pytorch": ref.count()}
    swift.close()
    shutil.rmtree(model_dir, ignore_errors=True)
    first = {k: v[0] for k, v in losses.items()}
    diff = max(abs(first["swift"] - v) for v in first.values())
    drift = max(abs(a - b) for a, b in zip(losses["swift"], losses["pytorch"]))
    print("first loss: " + ", ".join(f"{k} {v:.8f}" for k, v in first.items()) + f" (largest |diff| {diff:.2e}); "
          f"largest swift-eager loss difference over all {len(losses['swift'])} steps {drift:.2e}")
    med = {k: statistics.median(v) for k, v in times.items()}
    for k in sides:
        print(f"{k:<8} median {med[k]:.4f} s/step  (min {min(times[k]):.4f})")
    if diff > 1e-4:
        print("warning: the first losses differ; the sides are not running the same computation")
    print(f"speedup vs pytorch eager: {med['pytorch'] / med['swift']:.2f}")
    if "compiled" in med:
        print(f"speedup vs torch.compile: {med['compiled'] / med['swift']:.2f}")
    print(f"host syncs per step: swift {counts['swift'][1]}, pytorch {counts['pytorch'][1]}")
    print(f"ops per step: swift {counts['swift'][0]}, pytorch {counts['pytorch'][0]}")


if __name__ == "__main__":
    main()
