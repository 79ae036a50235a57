#!/usr/bin/env bash
# GPU check, run on a CUDA machine that has PyTorch (and diffusers) but no Swift: the binaries are built elsewhere
# against the same torch version by scripts/build-for-gpu.sh (`--static-swift-stdlib`, NCCL compiled in) and carried
# xz-compressed in BIN. Records the card and `dit info`, the seed config's step (bench_seed_gpu.py), the seed run end
# to end through `dit launch` (seed_run.py --nproc 1), and the class-conditional bench model, each into OUT.
set -uo pipefail
BIN=${BIN:-.gpu}
PY=${PYTHON:-python3}
# Carried xz-compressed (the static Swift runtime makes each binary ~60 MB); Python's lzma unpacks them.
for f in "$BIN"/*.xz; do
  [ -e "$f" ] || continue
  "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$f" "${f%.xz}"
  chmod +x "${f%.xz}"
done
TORCH_LIB=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Every result goes under OUT as it is measured (a run cut by its time limit keeps what it measured).
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PY" -c 'import torch; print("python torch", torch.__version__, "cuda", torch.version.cuda)'
  "$BIN/dit" info
} 2>&1 | tee "$OUT/info.txt"
# 1. The seed config's training step: DiTKit vs eager vs torch.compile, batch 16/64/256, bf16 and fp32.
"$PY" benchmarks/bench_seed_gpu.py --swift "$BIN/dit-bench" --out "$OUT/seed_gpu.jsonl" 2>&1 | tee "$OUT/seed_gpu.txt"
# 2. The seed run end to end through `dit launch` (NCCL when compiled in; a group of one on a one-GPU machine).
"$PY" benchmarks/seed_run.py --dit "$BIN/dit" --nproc 1 --out "$OUT/seed_run.jsonl" 2>&1 | tail -20 > "$OUT/seed_run.txt"
# 3. The class-conditional bench model, as measured on 2026-11-27.
for batch in 32 256; do
  echo "== batch $batch"
  "$PY" benchmarks/bench_dit_step.py --swift "$BIN/dit-bench" --device cuda --batch "$batch" --warmup 5 --steps 40 | tail -6
done 2>&1 | tee "$OUT/dit_step.txt"
