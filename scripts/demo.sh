#!/usr/bin/env bash
# make demo: the captioned-shapes dataset (two colour+shape pairs held out), its cache, the tiny DiT trained on the
# CPU, a sample grid for fixed prompts and the caption-faithfulness scores. Prints each stage's time.
set -euo pipefail
cd "$(dirname "$0")/.."
DIT=.build/release/dit
CONFIG=configs/tiny-cpu.yaml
HOLDOUT=(--holdout "red circle" --holdout "blue square")
stage() { printf '\n== %s\n' "$1"; START=$(date +%s); }
done_() { printf '   (%ss)\n' "$(( $(date +%s) - START ))"; }
BEGIN=$(date +%s)

stage "1/5 dataset: 4000 captioned shapes -> data/shapes"
rm -rf data/shapes
$DIT shapes data/shapes --count 4000 --seed 0 "${HOLDOUT[@]}"; done_
stage "2/5 cache -> cache/shapes"
rm -rf cache/shapes
$DIT prepare data/shapes --config $CONFIG; done_
# The GPU when torch sees one (dit info), else the CPU; generate and eval then use the run's device.
DEVICE=cpu
if $DIT info | grep -q '^cuda *available'; then DEVICE=cuda; fi
stage "3/5 training (configs/tiny-cpu.yaml) on $DEVICE"
# A run trained before (by an earlier demo or by the course) is moved aside to runs/tiny-cpu.before-TIME, not deleted.
$DIT train --config $CONFIG --overwrite --device $DEVICE; done_
stage "4/5 samples for fixed prompts -> runs/tiny-cpu/demo.png"
$DIT generate --checkpoint runs/tiny-cpu --num-images 4 --steps 30 --cfg-scale 3 --output runs/tiny-cpu/demo.png \
  "a small red circle at the top left" "a large blue square in the center" \
  "a small green triangle at the bottom right" "a large yellow cross at the top right" \
  "a small purple square at the middle left" "a large orange circle at the bottom center"; done_
stage "5/5 caption faithfulness -> runs/tiny-cpu/eval.json"
$DIT eval --checkpoint runs/tiny-cpu --prompts 64 "${HOLDOUT[@]}" --held-out-prompts 32 --steps 30 --cfg-scale 3 \
  --output runs/tiny-cpu/eval.json --grid runs/tiny-cpu/eval.png; done_

printf '\nDemo finished in %ss (after the build).\n' "$(( $(date +%s) - BEGIN ))"
cat <<EOT
  samples:      runs/tiny-cpu/demo.png (rows: prompts; 4 seeds each), runs/tiny-cpu/eval.png
  scores:       runs/tiny-cpu/eval.json
  TensorBoard:  tensorboard --logdir runs/tiny-cpu/logs
  checkpoints:  runs/tiny-cpu/checkpoints/
  next:         .build/release/dit generate --checkpoint runs/tiny-cpu "a large green circle at the top left"
EOT
