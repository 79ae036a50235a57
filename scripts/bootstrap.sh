#!/usr/bin/env bash
# Finds or installs libtorch for DiTKit, idempotently. Order:
#   1. $TORCH_PREFIX (a torch package directory with include/ and lib/);
#   2. the torch of the `python3` on PATH, if importable;
#   3. a pinned torch in .deps/venv (torch==2.13.0+cpu where pip offers it, else PyPI's default build).
# Writes the chosen directory to .deps/torch-prefix and the Python that has it (for fixtures and benchmarks)
# to .deps/python. Installs missing Debian packages it needs (with apt-get, when run as root).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEPS="$ROOT/.deps"
TORCH_VERSION="${DITKIT_TORCH_VERSION:-2.13.0}"
mkdir -p "$DEPS"

say() { printf 'bootstrap: %s\n' "$*" >&2; }

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian package $1"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    say "missing Debian package $1: install it with 'sudo apt-get install $1' and run make again"
    exit 1
  fi
}
# need_debian COMMAND PACKAGE: install PACKAGE when COMMAND is missing.
need_debian() { command -v "$1" >/dev/null 2>&1 || apt_install "$2"; }

has_torch_files() { [ -f "$1/lib/libtorch_cpu.so" ] && [ -d "$1/include/ATen" ]; }

record() {
  local prefix="$1" python="$2"
  # SwiftPM caches the evaluated manifest; a new torch location must make it read Package.swift again.
  if [ "$(cat "$DEPS/torch-prefix" 2>/dev/null)" != "$prefix" ] && [ -f Package.swift ]; then touch Package.swift; fi
  echo "$prefix" >"$DEPS/torch-prefix.tmp" && mv "$DEPS/torch-prefix.tmp" "$DEPS/torch-prefix"
  echo "$python" >"$DEPS/python.tmp" && mv "$DEPS/python.tmp" "$DEPS/python"
  say "libtorch: $prefix"
}

need_debian g++ g++
need_debian python3 python3
# need_header HEADER PACKAGE: C libraries DiTKit links (PNG and JPEG images, zlib).
need_header() { [ -f "/usr/include/$1" ] || apt_install "$2"; }
need_header png.h libpng-dev
need_header jpeglib.h libjpeg62-turbo-dev
need_header zlib.h zlib1g-dev

# Fast path: what was recorded is still there (make runs this script on every build).
if [ -z "${TORCH_PREFIX:-}" ] && [ -f "$DEPS/torch-prefix" ] && has_torch_files "$(cat "$DEPS/torch-prefix")" &&
  [ -x "$(cat "$DEPS/python" 2>/dev/null)" ]; then
  exit 0
fi

# The shim is written against torch >= 2.11 (headers and the CPU fused AdamW kernel).
TORCH_CHECK='import os, torch
major, minor = (int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
assert (major, minor) >= (2, 11), torch.__version__
print(os.path.dirname(torch.__file__))'

# 1. An explicit prefix.
if [ -n "${TORCH_PREFIX:-}" ]; then
  has_torch_files "$TORCH_PREFIX" || { say "TORCH_PREFIX=$TORCH_PREFIX has no lib/libtorch_cpu.so and include/ATen"; exit 1; }
  record "$TORCH_PREFIX" "$(command -v python3)"
  exit 0
fi

# 2. The user's Python already has torch.
if prefix=$(python3 -c "$TORCH_CHECK" 2>/dev/null) &&
  has_torch_files "$prefix"; then
  record "$prefix" "$(command -v python3)"
  exit 0
fi

# 3. Our own environment in .deps/venv.
VENV="$DEPS/venv"
py_torch() { "$VENV/bin/python" -c "$TORCH_CHECK" 2>/dev/null; }
if [ -x "$VENV/bin/python" ] && prefix=$(py_torch) && has_torch_files "$prefix"; then
  record "$prefix" "$VENV/bin/python"
  exit 0
fi

if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  pyver=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  apt_install "python${pyver}-venv"
fi
say "creating $VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
say "installing torch==$TORCH_VERSION (CPU build where offered; this downloads once)"
if ! "$VENV/bin/python" -m pip install -q "torch==${TORCH_VERSION}+cpu" numpy; then
  say "no +cpu build offered here; installing PyPI's default torch==$TORCH_VERSION (with its CUDA libraries)"
  "$VENV/bin/python" -m pip install -q "torch==${TORCH_VERSION}" numpy
fi
prefix=$(py_torch) && has_torch_files "$prefix" || { say "torch installed but its C++ files were not found"; exit 1; }
record "$prefix" "$VENV/bin/python"
