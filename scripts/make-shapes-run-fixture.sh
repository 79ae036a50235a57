#!/usr/bin/env bash
# Regenerates Tests/Fixtures/runs/shapes16: a shapes model trained for a quarter of an hour on a CPU, whose cross-attention
# already puts each shape word on its shape (Tests/DiTKitTests/ExplainTests.swift checks that). Keeps what
# `dit explain` needs: the run's config.yaml and tokenizer.json, and the last checkpoint with its EMA weights in
# float16 as model.safetensors (under 2 MB), an empty optimizer state and the trainer state.
# Usage: scripts/make-shapes-run-fixture.sh [path/to/dit]   (default .build/release/dit; about 14 minutes on 2 cores)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dit="$(realpath "${1:-$root/.build/release/dit}")"
py="$(cat "$root/.deps/test-python")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
"$dit" shapes data --count 2000 --size 16 --seed 0
"$dit" prepare data --config "$root/Tests/Fixtures/runs/shapes16-train.yaml"
"$dit" train --config "$root/Tests/Fixtures/runs/shapes16-train.yaml"
out="$root/Tests/Fixtures/runs/shapes16"
step="$(ls runs/shapes16/checkpoints)"
rm -rf "$out" && mkdir -p "$out/checkpoints/$step"
cp runs/shapes16/tokenizer.json "$out/"
# The run's config, its scratch paths made relative again.
sed -e "s#$work/##g" runs/shapes16/config.yaml > "$out/config.yaml"
cp "runs/shapes16/checkpoints/$step/trainer_state.json" "$out/checkpoints/$step/"
"$py" - "runs/shapes16/checkpoints/$step" "$out/checkpoints/$step" <<'PY'
import sys
from safetensors.torch import load_file, save_file
source, target = sys.argv[1], sys.argv[2]
ema = load_file(f"{source}/ema.safetensors")
save_file({k: v.half().contiguous() for k, v in ema.items()}, f"{target}/model.safetensors", metadata={"format": "pt"})
save_file({}, f"{target}/optimizer.safetensors")
PY
du -sh "$out"
