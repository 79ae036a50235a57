#!/usr/bin/env bash
# Builds `dit` and `dit-bench` for a CUDA machine that has PyTorch but no Swift (benchmarks/gpu_check.sh runs them).
#
#   scripts/build-for-gpu.sh [TORCH_VERSION]      (default 2.11.0, the lent GPU machines' torch)
#
# Downloads PyPI's CUDA wheel of that torch and the headers of the nvidia-* packages it names, plus the two that
# NCCL's headers need and the wheel does not pull in (CUDA crt and cccl), then builds against them with
# --static-swift-stdlib into .build-gpu/ (NCCL compiled in). Only headers are kept: the libraries are the GPU
# machine's. The binaries land xz-compressed in .gpu/, as gpu_check.sh expects them.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${1:-2.11.0}
ROOT=.deps/gpu-torch-$VERSION
PY=$(cat .deps/python 2>/dev/null || command -v python3)
mkdir -p "$ROOT/wheels" "$ROOT/site"

# --isolated: the CUDA wheel from PyPI, not a local +cpu one that find-links may offer.
if [ ! -d "$ROOT/site/torch" ]; then
  "$PY" -m pip download "torch==$VERSION" --no-deps --only-binary :all: --isolated -d "$ROOT/wheels"
  "$PY" -m zipfile -e "$ROOT"/wheels/torch-"$VERSION"-*.whl "$ROOT/site"
fi
[ -f "$ROOT/site/torch/lib/libtorch_cuda.so" ] || { echo "torch $VERSION from PyPI is not a CUDA build" >&2; exit 1; }

# The nvidia-* requirements of the wheel (directly, or through cuda-toolkit[extras]==V), plus crt and cccl.
"$PY" - "$ROOT" <<'EOF'
import glob, os, re, subprocess, sys, zipfile
root = sys.argv[1]
def requirements(dist_info):
    text = open(glob.glob(os.path.join(dist_info, "METADATA"))[0]).read()
    return re.findall(r"^Requires-Dist: (.+)$", text, re.M)
def pin(req):
    name, spec = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*([^;]*)", req).groups()
    return name, spec.strip()
def download(spec, dest):
    subprocess.run([sys.executable, "-m", "pip", "download", spec, "--no-deps", "--only-binary", ":all:", "--isolated",
                    "-d", dest], check=True, stdout=subprocess.DEVNULL)
torch_reqs = requirements(glob.glob(os.path.join(root, "site", "torch-*.dist-info"))[0])
wanted = []
for req in torch_reqs:
    if "platform_system == \"Linux\"" not in req and "sys_platform == 'linux'" not in req and ";" in req:
        continue
    name, spec = pin(req)
    if name.startswith("nvidia-"):
        wanted.append(name + spec)
    elif name == "cuda-toolkit":
        extras = set(re.search(r"\[([^\]]*)\]", req).group(1).split(",")) | {"crt", "cccl"}
        tk = os.path.join(root, "toolkit")
        download(name + spec, tk)
        zipfile.ZipFile(glob.glob(os.path.join(tk, "cuda_toolkit-*.whl"))[0]).extractall(tk)
        for r in requirements(glob.glob(os.path.join(tk, "cuda_toolkit-*.dist-info"))[0]):
            m = re.search(r"extra == '([a-z_]+)'", r)
            # Linux x86-64 entries (newer toolkits name the machine, older ones only the platform).
            linux = "sys_platform == 'linux'" in r and ("platform_machine" not in r or "'x86_64'" in r)
            if m and m.group(1) in extras and linux:
                n, s = pin(r)
                wanted.append(n + s)
for spec in sorted(set(wanted)):
    download(spec, os.path.join(root, "wheels"))
for whl in glob.glob(os.path.join(root, "wheels", "nvidia_*.whl")):
    z = zipfile.ZipFile(whl)
    z.extractall(os.path.join(root, "site"), [n for n in z.namelist() if "/include/" in n])
print("headers from:", ", ".join(sorted(os.path.basename(w) for w in glob.glob(os.path.join(root, "wheels", "nvidia_*.whl")))))
EOF

export TORCH_PREFIX=$PWD/$ROOT/site/torch
# SwiftPM caches the evaluated manifest (shared across builds, not keyed by TORCH_PREFIX), and the manifest decides from
# the files it finds whether CUDA and NCCL are compiled in: evaluate it afresh, in a fresh scratch folder.
rm -rf .build-gpu
# libjpeg, libpng and zlib linked statically: the GPU machine's image may not have the Debian sonames this machine
# links (libjpeg.so.62 where Ubuntu has .so.8). A folder holding only the .a files, searched before the system's,
# makes the linker take them; torch and the C and C++ runtimes stay shared.
STATIC=$PWD/.build-gpu/static-libs
mkdir -p "$STATIC"
for lib in libjpeg libpng16 libz; do
  a=$(find /usr/lib /usr/lib64 /usr/local/lib -name "$lib.a" 2>/dev/null | head -1)
  [ -n "$a" ] || { echo "no $lib.a: install libjpeg-dev, libpng-dev and zlib1g-dev" >&2; exit 1; }
  cp "$a" "$STATIC/"
done
BUILD=(swift build -c release --static-swift-stdlib --scratch-path .build-gpu --manifest-cache none -Xlinker "-L$STATIC")
"${BUILD[@]}" --product dit
"${BUILD[@]}" --product dit-bench
# Everything the binaries need must be on the GPU machine: torch's own libraries (and the CUDA ones beside them) come
# with its torch; anything else that ldd cannot find here, or that is one of the image libraries, is a build error.
for b in dit dit-bench; do
  missing=$(ldd ".build-gpu/release/$b" | awk '/not found/ {print $1}' | grep -Ev '^lib(torch|c10|cu|nv|nccl|caffe2|gomp|shm)' || true)
  images=$(ldd ".build-gpu/release/$b" | awk '{print $1}' | grep -E '^lib(jpeg|png|z)\.so' || true)
  if [ -n "$missing$images" ]; then
    echo "$b links libraries the GPU machine may lack: $missing $images" >&2
    exit 1
  fi
done
echo "ldd: only torch's libraries and the system's C/C++ runtime are shared"
nccl=$(nm -C .build-gpu/release/dit | grep -c "ProcessGroupNCCL::ProcessGroupNCCL" || true)
[ "$nccl" -gt 0 ] && echo "NCCL: compiled in" || echo "NCCL: not compiled in (headers missing)"
mkdir -p .gpu
for b in dit dit-bench; do xz -T0 -6 -c ".build-gpu/release/$b" > ".gpu/$b.xz"; done
ls -la .gpu
