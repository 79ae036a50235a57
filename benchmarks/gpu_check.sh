#!/usr/bin/env bash
# The GPU check, in one call of at most 540 s on a CUDA machine that has Python with torch, transformers, safetensors,
# tokenizers, pillow and numpy, but no Swift, no diffusers and no internet. Everything else is carried in BIN (at most
# 64 MiB): the xz-compressed static binaries from scripts/build-for-gpu.sh and the wheels of diffusers and the few
# pure-Python packages it needs beyond the machine's (scripts/gpu-carry.sh puts them together). Each stage runs under its own timeout and writes its results under OUT as they are measured,
# so a stage that runs out of time leaves the others' results; OUT/stages.jsonl has one line per stage.
#
#   stages: info → seed (the seed run trimmed: fp16, the seed model, ~50 steps with a sample grid and a checkpoint,
#   resume for 10 more, generate, export; allocator peak against the 22 GiB budget) → seed-launch (the same through
#   `dit launch --nproc-per-node 1`: NCCL) → step-eager (the seed config's training step, DiTKit vs PyTorch eager) →
#   step-compile (the same with torch.compile, last because it compiles for minutes)
#
# DEVICE=cpu SIZE=tiny rehearses the same stages on a CPU in a minute or two (`make gpu-rehearsal`).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.gpu}
PY=${PYTHON:-python3}
OUT=${OUT:-gpu-out}
DEVICE=${DEVICE:-cuda}
SIZE=${SIZE:-full}
mkdir -p "$OUT"
BEGIN=$(date +%s)

# Carried binaries are xz-compressed (the static Swift runtime makes each ~60 MB); Python's lzma unpacks them. The
# wheels (diffusers and what it needs beyond the machine's packages) are pure Python: unzipped beside them and put on
# PYTHONPATH.
for f in "$BIN"/*.xz; do
  [ -e "$f" ] || continue
  "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$f" "${f%.xz}"
  chmod +x "${f%.xz}"
done
for w in "$BIN"/*.whl; do
  [ -e "$w" ] && "$PY" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$w" "$BIN/site"
done
export PYTHONPATH="$PWD/$BIN/site${PYTHONPATH:+:$PYTHONPATH}"
TORCH_LIB=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# stage NAME SECONDS COMMAND...: runs COMMAND under its timeout, output to OUT/NAME.txt, a line to OUT/stages.jsonl.
stage() {
  local name=$1 limit=$2 start status
  shift 2
  start=$(date +%s.%N)
  timeout --kill-after=5 "$limit" "$@" >"$OUT/$name.txt" 2>&1
  status=$?
  "$PY" -c 'import json, sys, time; print(json.dumps({"stage": sys.argv[1], "seconds": round(time.time() - float(sys.argv[2]), 1),
    "exit": int(sys.argv[3]), "timed_out": sys.argv[3] in ("124", "137")}))' "$name" "$start" "$status" >>"$OUT/stages.jsonl"
  tail -3 "$OUT/$name.txt"
}

if [ "$SIZE" = tiny ]; then
  SEED=(--smoke) STEP=(--device cpu --batches 2 --precisions fp32 --steps 2 --warmup 1) LIMITS=(30 120 120 90 120)
else
  SEED=(--device "$DEVICE") STEP=(--device "$DEVICE" --batches 16,64 --precisions bf16,fp32) LIMITS=(20 200 150 80 90)
fi
stage info "${LIMITS[0]}" bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true;
  '$PY' -c 'import torch, transformers, diffusers; print(\"python torch\", torch.__version__, \"cuda\", torch.version.cuda,
  \"transformers\", transformers.__version__, \"diffusers\", diffusers.__version__)'; '$BIN/dit' info"
stage seed "${LIMITS[1]}" "$PY" benchmarks/seed_run.py --dit "$BIN/dit" "${SEED[@]}" --out "$OUT/seed.jsonl"
stage seed-launch "${LIMITS[2]}" "$PY" benchmarks/seed_run.py --dit "$BIN/dit" "${SEED[@]}" --nproc 1 \
  --out "$OUT/seed-launch.jsonl"
stage step-eager "${LIMITS[3]}" "$PY" benchmarks/bench_seed_gpu.py --swift "$BIN/dit-bench" "${STEP[@]}" --no-compile \
  --out "$OUT/step-eager.jsonl"
stage step-compile "${LIMITS[4]}" "$PY" benchmarks/bench_seed_gpu.py --swift "$BIN/dit-bench" "${STEP[@]}" \
  --out "$OUT/step-compile.jsonl"
echo "gpu_check: $(( $(date +%s) - BEGIN )) s in all; stages:"
cat "$OUT/stages.jsonl"
