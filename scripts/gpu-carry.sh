#!/usr/bin/env bash
# Puts together what benchmarks/gpu_check.sh needs besides the GPU machine's own Python packages, in one folder to
# carry (at most 64 MiB): the xz-compressed `dit` and `dit-bench` and the wheels of diffusers and the few pure-Python
# packages it needs beyond the machine's (it has no diffusers and no internet).
#
#   scripts/gpu-carry.sh [FOLDER] [BUILD]    FOLDER default .gpu; BUILD: where the binaries are (default .build-gpu/release,
#                                             scripts/build-for-gpu.sh's; .build/release for the CPU rehearsal)
set -euo pipefail
cd "$(dirname "$0")/.."
CARRY=${1:-.gpu}
BUILD=${2:-.build-gpu/release}
PY=$(cat .deps/python 2>/dev/null || command -v python3)
DIFFUSERS=$(grep -E '^diffusers==' python/requirements-test.txt)
mkdir -p "$CARRY"
for b in dit dit-bench; do
  [ -x "$BUILD/$b" ] || { echo "no $BUILD/$b: build it first" >&2; exit 1; }
  [ "$CARRY/$b.xz" -nt "$BUILD/$b" ] || xz -T0 -6 -c "$BUILD/$b" > "$CARRY/$b.xz"
done
# diffusers and the pure-Python packages it needs that transformers does not bring (`make gpu-rehearsal` found them:
# requests and its own, importlib_metadata); pure-Python wheels, whatever the Python version there.
if ! ls "$CARRY"/diffusers-*.whl >/dev/null 2>&1; then
  "$PY" -m pip download -q "$DIFFUSERS" requests urllib3 certifi charset_normalizer idna importlib_metadata zipp \
    --no-deps --only-binary :all: --platform any --python-version 3.12 --implementation py -d "$CARRY"
fi
du -cm "$CARRY"/dit.xz "$CARRY"/dit-bench.xz "$CARRY"/*.whl | tail -1 | awk '{print "carry: " $1 " MiB"}'
