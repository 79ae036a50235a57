#!/usr/bin/env python3
"""The seed's run end to end with the `dit` binary, trimmed to fit one GPU call: synthetic 256-px JPEGs with two
captions each → `dit prepare` with an SD-VAE-sized AutoencoderKL and a MiniLM-sized BERT (both with random weights,
built here from their configs: no model hub, and nothing large to carry; benchmarks/gpu/minilm holds MiniLM's
config.json and tokenizer.json) → `dit train` of the 384/8/6/patch-2 DiT (configs/rtx4090-256.yaml's model, fp16 on
CUDA, batch 4 × accumulation 4) with a sample grid and a checkpoint → resume for 10 more steps → `dit generate` →
`dit export`.

Each stage's result is appended to --out (JSON lines) the moment it is measured, so a run cut short by a time limit
still leaves what it measured: seconds, images/s and the peak memory from the allocator's own statistics (what `dit
train` prints last). On CUDA the run checks a card's real budget: --cap-gib (22: what an RTX 4090's 24,564 MiB leave
after the CUDA context and a display) against the caching allocator's reserved peak, and fails when the peak could
not be measured; each `dit` process is also capped there through PYTORCH_CUDA_ALLOC_CONF=per_process_memory_fraction.
`--smoke` runs the same stages at toy sizes on the CPU in seconds; `make test` runs it so the script cannot rot.
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
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


def text_encoder(folder):
    """A BERT of all-MiniLM-L6-v2's shape with random weights, and MiniLM's tokenizer.json (transformers only)."""
    from transformers import BertConfig, BertModel
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu", "minilm")
    torch.manual_seed(0)
    BertModel(BertConfig.from_json_file(os.path.join(here, "config.json"))).save_pretrained(folder)
    shutil.copy(os.path.join(here, "tokenizer.json"), folder)


def config(path, work, minilm, device, smoke, steps):
    model = ("hidden_size: 32\n  num_layers: 1\n  num_heads: 2" if smoke
             else "hidden_size: 384\n  num_layers: 8\n  num_heads: 6")
    text = f"""run:
  name: seed
  output_dir: {work}/runs
  device: {device}
  log_every: {1 if smoke else 20}
  sample_every: {steps}
  checkpoint_every: {steps}
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


def memory_cap(gib):
    """The environment that caps a CUDA process at `gib` GiB through the allocator's memory fraction, or None when
    this torch's allocator does not take per_process_memory_fraction."""
    total = torch.cuda.get_device_properties(0).total_memory
    conf = f"per_process_memory_fraction:{min(1.0, gib * 2**30 / total):.4f}"
    probe = subprocess.run([sys.executable, "-c", "import torch; torch.zeros(1, device='cuda')"],
                           env={**os.environ, "PYTORCH_CUDA_ALLOC_CONF": conf}, capture_output=True, text=True)
    return {**os.environ, "PYTORCH_CUDA_ALLOC_CONF": conf} if probe.returncode == 0 else None


PEAK = re.compile(r"peak memory ([0-9.]+) MiB reserved, ([0-9.]+) MiB allocated")


def stage(out, name, command, images, env=None):
    """Runs one `dit` command; its record has the allocator's peak when the command printed one."""
    start = time.time()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.time() - start
    record = {"stage": name, "seconds": round(seconds, 3), "exit": result.returncode}
    if images:
        record["images_per_second"] = round(images / seconds, 3)
    peak = PEAK.search(result.stdout)
    if peak:
        record["peak_reserved_mib"], record["peak_allocated_mib"] = float(peak.group(1)), float(peak.group(2))
    if result.returncode != 0:
        record["error"] = (result.stderr or result.stdout)[-2000:]
    emit(out, record)
    if result.returncode != 0:
        sys.exit(f"seed_run: {name} failed")
    return record


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dit", required=True, help="the dit binary")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--steps", type=int, default=50, help="optimizer steps (each 4 × 4 images)")
    ap.add_argument("--smoke", action="store_true", help="toy sizes on the CPU (what make test runs)")
    ap.add_argument("--out", required=True, help="JSON lines, one per stage, written as measured")
    ap.add_argument("--work", help="working folder (default: a temporary one)")
    ap.add_argument("--cap-gib", type=float, default=22,
                    help="CUDA: the card's budget (22: an RTX 4090 less the CUDA context and a display); the allocator's "
                    "reserved peak must stay under it, and each dit process is capped there")
    ap.add_argument("--nproc", type=int, default=0, help="train through `dit launch` with this many workers (NCCL on "
                    "CUDA when compiled in; 1 still forms a process group); 0: plain `dit train`")
    args = ap.parse_args()
    if args.smoke:
        args.device, args.images, args.steps = "cpu", 8, 2
    work = args.work or tempfile.mkdtemp(prefix="seed-run-")
    cuda = args.device.startswith("cuda")
    env = memory_cap(args.cap_gib) if cuda else None
    emit(args.out, {"stage": "setup", "device": args.device, "images": args.images, "steps": args.steps,
                    "torch": torch.__version__, "gpu": torch.cuda.get_device_name() if cuda else None,
                    "cap": (env["PYTORCH_CUDA_ALLOC_CONF"] if env else "this torch has no per_process_memory_fraction")
                    if cuda else None})
    synthetic_images(f"{work}/images", args.images, 64 if args.smoke else 256, seed=0)
    vae(f"{work}/vae", args.smoke)
    text_encoder(f"{work}/text-encoder")
    config(f"{work}/seed.yaml", work, f"{work}/text-encoder", args.device, args.smoke, args.steps)
    dit, cfg, run = args.dit, f"{work}/seed.yaml", f"{work}/runs/seed"
    stage(args.out, "prepare", [dit, "prepare", f"{work}/images", "--config", cfg, "--batch-size", "16"], args.images,
          env)
    launch = [dit, "launch", "--nproc-per-node", str(args.nproc), "--"] if args.nproc else [dit]
    suffix = f"-launch-{args.nproc}" if args.nproc else ""
    trained = stage(args.out, "train" + suffix, launch + ["train", "--config", cfg], args.steps * 16, env)
    resumed = stage(args.out, "resume" + suffix, launch + ["train", "--config", cfg, "--resume", "--max-steps",
                                                          str(args.steps + 10)], 10 * 16, env)
    stage(args.out, "generate", [dit, "generate", "--checkpoint", run, "--device", args.device,
                                 "--steps", "2" if args.smoke else "20", "--num-images", "4", "--output",
                                 f"{work}/grid.png", "a red circle", "a blue square"], 8, env)
    stage(args.out, "export", [dit, "export", "--checkpoint", run, "--diffusers", f"{work}/export"], 0, env)
    peaks = [r["peak_reserved_mib"] for r in (trained, resumed) if "peak_reserved_mib" in r]
    done = {"stage": "done", "peak_reserved_mib": max(peaks) if peaks else None, "cap_gib": args.cap_gib if cuda else None,
            "grid": os.path.exists(f"{run}/samples/step-{args.steps}.png"),
            "checkpoints": sorted(os.listdir(f"{run}/checkpoints"))}
    if cuda:
        done["within_cap"] = bool(peaks) and max(peaks) <= args.cap_gib * 1024
    emit(args.out, done)
    if not peaks:
        sys.exit("seed_run: dit train printed no allocator peak, so the budget could not be checked")
    if cuda and not done["within_cap"]:
        sys.exit(f"seed_run: the peak {max(peaks):.0f} MiB is over the {args.cap_gib} GiB budget")


if __name__ == "__main__":
    main()
