#!/usr/bin/env bash
# GPU check, run on a CUDA machine that has PyTorch but no Swift: the binaries are built elsewhere against the
# same torch version (`--static-swift-stdlib`) and carried in BIN. Prints the card, `dit info`, and the DiT
# benchmark on CUDA (Swift vs PyTorch, alternating), whose last line is the speedup.
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
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c 'import torch; print("python torch", torch.__version__, "cuda", torch.version.cuda)'
"$BIN/dit" info
for batch in 32 256; do
  echo "== batch $batch"
  "$PY" benchmarks/bench_dit_step.py --swift "$BIN/dit-bench" --device cuda --batch "$batch" --warmup 5 --steps 40 | tail -5
  echo "== batch $batch, PyTorch fused AdamW"
  "$PY" benchmarks/bench_dit_step.py --swift "$BIN/dit-bench" --device cuda --batch "$batch" --warmup 5 --steps 40 --torch-fused | tail -3
done
