#!/usr/bin/env bash
# `make gpu-rehearsal`: benchmarks/gpu_check.sh on this CPU machine before a GPU minute is spent on it. A virtual
# environment holds only what the GPU machine has (torch, transformers, safetensors, tokenizers, pillow, numpy), the
# carried folder is built as scripts/gpu-carry.sh builds the real one (here with the CPU binaries), and the check runs
# with DEVICE=cpu SIZE=tiny. It proves the imports, the stage order and that every stage writes its result; its last
# lines are the carry size (the real one, .gpu/, when scripts/build-for-gpu.sh has made it) and each stage's time.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.deps/gpu-rehearsal-venv
CARRY=.build/gpu-rehearsal/carry
OUT=.build/gpu-rehearsal/out
if [ ! -x "$VENV/bin/python" ]; then
  "$(cat .deps/python)" -m venv "$VENV"
  # The GPU machine's packages; torch is the version bootstrap chose for this machine.
  "$VENV/bin/python" -m pip install -q "torch==$("$(cat .deps/python)" -c 'import torch; print(torch.__version__)')" \
    $(grep -E '^(transformers|safetensors|tokenizers|pillow)==' python/requirements-test.txt) numpy
fi
rm -rf "$OUT" "$CARRY/site" && mkdir -p "$OUT"
# The size that matters is the real carry's (.gpu/, the CUDA binaries); without it, this rehearsal's own.
carry="$(bash scripts/gpu-carry.sh "$CARRY" .build/release) (the CPU binaries; run scripts/build-for-gpu.sh for the real .gpu)"
[ -f .gpu/dit.xz ] && carry="$(bash scripts/gpu-carry.sh .gpu) (.gpu: the CUDA binaries and the wheels)"
set +e
BIN=$CARRY PYTHON=$PWD/$VENV/bin/python OUT=$OUT DEVICE=cpu SIZE=tiny bash benchmarks/gpu_check.sh >"$OUT/../gpu_check.log" 2>&1
set -e
"$VENV/bin/python" - "$OUT" "$carry" <<'PY'
import json, os, sys
out, carry = sys.argv[1], sys.argv[2]
stages = [json.loads(l) for l in open(os.path.join(out, "stages.jsonl"))]
expected = ["info", "seed", "seed-launch", "step-eager", "step-compile"]
problems = []
if [s["stage"] for s in stages] != expected:
    problems.append(f"stages ran as {[s['stage'] for s in stages]}, expected {expected}")
for s in stages:
    if s["exit"] != 0:
        problems.append(f"{s['stage']} exited {s['exit']}: " + open(os.path.join(out, s["stage"] + ".txt")).read()[-1500:])
for name in ["seed.jsonl", "seed-launch.jsonl", "step-eager.jsonl", "step-compile.jsonl"]:
    path = os.path.join(out, name)
    if not os.path.exists(path) or not open(path).read().strip():
        problems.append(f"{name} was not written")
done = [json.loads(l) for l in open(os.path.join(out, "seed.jsonl"))][-1] if os.path.exists(os.path.join(out, "seed.jsonl")) else {}
if done.get("stage") != "done" or not done.get("peak_reserved_mib"):
    problems.append(f"the seed run did not report its allocator peak: {done}")
if problems:
    sys.exit("gpu-rehearsal failed:\n" + "\n".join(problems))
print(carry)
for s in stages:
    print(f"{s['stage']:13} {s['seconds']:6.1f} s")
PY
