#!/usr/bin/env bash
# Finds or installs libtorch for DiTKit, idempotently. Order:
#   1. $TORCH_PREFIX (a torch package directory with include/ and lib/);
#   2. the torch of the `python3` on PATH, if importable (unless DITKIT_TORCH asks for a fresh one);
#   3. a pinned torch in .deps/venv, the build DITKIT_TORCH chooses:
#        auto (default)  the CUDA build when an NVIDIA driver answers (nvidia-smi), else the CPU build
#        cpu             the CPU build (~200 MB download): torch==V+cpu where pip offers it, else from
#                        PyTorch's CPU index ($DITKIT_TORCH_INDEX, default https://download.pytorch.org/whl/cpu)
#        cuda            PyPI's default build (~3 GB with its NVIDIA libraries; needs a driver for its CUDA)
#        existing        only a torch that is already there (1 or 2); never download
# pip's own settings apply (PIP_INDEX_URL for a PyPI mirror, e.g. https://pypi.tuna.tsinghua.edu.cn/simple).
# Writes the chosen directory to .deps/torch-prefix and the Python that has it (for fixtures and benchmarks)
# to .deps/python. Installs missing system packages it needs (apt-get on Debian, Ubuntu and WSL2, when run as root;
# otherwise prints the exact command). `bootstrap.sh --plan` prints what it would install and does nothing.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEPS="$ROOT/.deps"
TORCH_VERSION="${DITKIT_TORCH_VERSION:-2.13.0}"
TORCH_CHOICE="${DITKIT_TORCH:-auto}"
PLAN=0
[ "${1:-}" = "--plan" ] && PLAN=1

say() { printf 'bootstrap: %s\n' "$*" >&2; }

case "$TORCH_CHOICE" in auto|cpu|cuda|existing) ;; *)
  say "DITKIT_TORCH=$TORCH_CHOICE: expected auto, cpu, cuda or existing"; exit 1 ;;
esac

if [ "$(uname -s)" = Darwin ]; then
  say "macOS is not supported yet: DiTKit links libtorch_cpu.so with GNU ld flags (Package.swift) and this script"
  say "installs system packages with apt. Use Linux (Debian, Ubuntu) or Windows with WSL2 (Ubuntu)."
  exit 1
fi

# The distribution, from os-release (DITKIT_OS_RELEASE replaces /etc/os-release in tests).
OS_RELEASE="${DITKIT_OS_RELEASE:-/etc/os-release}"
os_field() { sed -n "s/^$1=//p" "$OS_RELEASE" 2>/dev/null | head -1 | tr -d '"'; }
DISTRO_ID=$(os_field ID); DISTRO_LIKE=$(os_field ID_LIKE); DISTRO_VERSION=$(os_field VERSION_ID)
WSL=""
if [ -n "${DITKIT_WSL:-}" ] || grep -qi microsoft /proc/version 2>/dev/null; then WSL=" (WSL2)"; fi
case " $DISTRO_ID $DISTRO_LIKE " in
  *" debian "*|*" ubuntu "*) APT=1 ;;
  *) APT=0 ;;
esac

# What DiTKit builds with, as (test, package) pairs. The names exist on Debian 12/13 and Ubuntu 22.04/24.04 alike:
# libjpeg-dev is libjpeg62-turbo-dev on Debian and libjpeg-turbo8-dev on Ubuntu.
# DITKIT_INCLUDE_DIR: where the C headers are looked for (default /usr/include).
INC="${DITKIT_INCLUDE_DIR:-/usr/include}"
MISSING=()
need() { eval "$1" >/dev/null 2>&1 || MISSING+=("$2"); }
need_all() {
  need "command -v g++" g++
  need "command -v python3" python3
  need "[ -f $INC/png.h ]" libpng-dev
  need "[ -f $INC/jpeglib.h ] || [ -f $INC/x86_64-linux-gnu/jpeglib.h ] || [ -f $INC/aarch64-linux-gnu/jpeglib.h ]" libjpeg-dev
  need "[ -f $INC/zlib.h ]" zlib1g-dev
}
# Only for DiTKit's own environment in .deps/venv.
need_venv() { need "python3 -c 'import venv, ensurepip'" python3-venv; }

install_missing() {
  [ ${#MISSING[@]} -eq 0 ] && return 0
  local cmd="apt-get install -y ${MISSING[*]}"
  if [ "$APT" != 1 ]; then
    say "this system (${DISTRO_ID:-unknown}) is not Debian or Ubuntu; install the equivalents of: ${MISSING[*]}"
    say "(a C++ compiler, Python 3 with venv, and the libpng, libjpeg and zlib headers), then run make again"
    exit 1
  fi
  if [ "$(id -u)" = 0 ]; then
    say "installing ${MISSING[*]} (${DISTRO_ID} ${DISTRO_VERSION}${WSL})"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $cmd -qq >/dev/null
  else
    say "missing packages on ${DISTRO_ID} ${DISTRO_VERSION}${WSL}: ${MISSING[*]}. Install them with"
    say "  sudo apt-get update && sudo $cmd"
    say "and run make again"
    exit 1
  fi
}

# The torch build `auto` means here.
torch_build() {
  case "$TORCH_CHOICE" in
    auto) if nvidia-smi >/dev/null 2>&1; then echo cuda; else echo cpu; fi ;;
    *) echo "$TORCH_CHOICE" ;;
  esac
}

if [ "$PLAN" = 1 ]; then
  need_all
  need_venv
  echo "system: ${DISTRO_ID:-unknown} ${DISTRO_VERSION}${WSL}"
  if [ "$APT" = 1 ]; then
    echo "packages: g++ python3 libpng-dev libjpeg-dev zlib1g-dev python3-venv"
    echo "missing: ${MISSING[*]:-none}"
    [ ${#MISSING[@]} -gt 0 ] && echo "command: sudo apt-get update && sudo apt-get install -y ${MISSING[*]}"
  else
    echo "packages: not Debian or Ubuntu; install a C++ compiler, Python 3 with venv, libpng, libjpeg and zlib headers"
  fi
  echo "torch: DITKIT_TORCH=$TORCH_CHOICE -> $(torch_build) build of torch $TORCH_VERSION"
  exit 0
fi
mkdir -p "$DEPS"

has_torch_files() { [ -f "$1/lib/libtorch_cpu.so" ] && [ -d "$1/include/ATen" ]; }

record() {
  local prefix="$1" python="$2"
  # SwiftPM caches the evaluated manifest; a new torch location must make it read Package.swift again.
  if [ "$(cat "$DEPS/torch-prefix" 2>/dev/null)" != "$prefix" ] && [ -f Package.swift ]; then touch Package.swift; fi
  echo "$prefix" >"$DEPS/torch-prefix.tmp" && mv "$DEPS/torch-prefix.tmp" "$DEPS/torch-prefix"
  echo "$python" >"$DEPS/python.tmp" && mv "$DEPS/python.tmp" "$DEPS/python"
  say "libtorch: $prefix"
}

need_all
install_missing

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

# 2. The user's Python already has torch (unless a fresh CPU or CUDA build was asked for).
if { [ "$TORCH_CHOICE" = auto ] || [ "$TORCH_CHOICE" = existing ]; } &&
  prefix=$(python3 -c "$TORCH_CHECK" 2>/dev/null) && has_torch_files "$prefix"; then
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

if [ "$TORCH_CHOICE" = existing ]; then
  say "DITKIT_TORCH=existing, but python3 has no torch >= 2.11 with its C++ files (nor is TORCH_PREFIX set):"
  say "install torch into python3, set TORCH_PREFIX, or choose DITKIT_TORCH=cpu / cuda to install one here"
  exit 1
fi
BUILD=$(torch_build)
need_venv
install_missing
say "creating $VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if [ "$BUILD" = cpu ]; then
  INDEX="${DITKIT_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
  say "installing the CPU build of torch==$TORCH_VERSION (about 200 MB to download, once; DITKIT_TORCH=cuda for a GPU)"
  if ! "$VENV/bin/python" -m pip install -q "torch==${TORCH_VERSION}+cpu" numpy 2>/dev/null; then
    say "no +cpu build on your pip index; taking it from $INDEX (DITKIT_TORCH_INDEX to use a mirror)"
    "$VENV/bin/python" -m pip install -q --index-url "$INDEX" "torch==${TORCH_VERSION}" &&
      "$VENV/bin/python" -m pip install -q numpy
  fi
else
  say "installing PyPI's CUDA build of torch==$TORCH_VERSION (about 3 GB with its NVIDIA libraries, once;"
  say "it needs an NVIDIA driver new enough for its CUDA; DITKIT_TORCH=cpu for the CPU build)"
  "$VENV/bin/python" -m pip install -q "torch==${TORCH_VERSION}" numpy
fi
prefix=$(py_torch) && has_torch_files "$prefix" || { say "torch installed but its C++ files were not found"; exit 1; }
record "$prefix" "$VENV/bin/python"
