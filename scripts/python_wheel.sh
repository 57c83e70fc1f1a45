#!/usr/bin/env bash
# Builds kiln's wheel with the CUDA backend into .whl/ for a machine that
# cannot build one (the GPU machine has no network, so no scikit-build-core),
# with the wheels of pytest and its dependencies beside it, to install
# offline there (the GPU machine has NumPy and PyTorch; KILN_PY_WITH_NUMPY=1
# adds a NumPy wheel too, 16 MB of the 64 MB a carry may hold). scripts/gpu_python_check.sh
# uses them. Run it here, then carry .whl (and .gpu-deps) to the GPU machine.
#   scripts/python_wheel.sh            (KILN_PY_CUDA=OFF for a CPU wheel)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
work=build-python-wheel
# Debian's python3 when there is one: the GPU machine runs the same image.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
"$py" -m venv --clear "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip
"$work/venv/bin/python" -m pip install -q "scikit-build-core>=0.8"
defines=(-C "cmake.define.KILN_CUDA=${KILN_PY_CUDA:-ON}")
if command -v ccache >/dev/null; then
  defines+=(-C cmake.define.CMAKE_C_COMPILER_LAUNCHER=ccache
    -C cmake.define.CMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
rm -rf .whl
"$work/venv/bin/python" -m pip wheel -q --no-build-isolation --no-deps -w .whl \
  -C build-dir="$work/build" "${defines[@]}" .
extra=("pytest>=7")
[ "${KILN_PY_WITH_NUMPY:-0}" = 1 ] && extra+=("numpy>=1.22")
"$work/venv/bin/python" -m pip download -q -d .whl "${extra[@]}"
ls -l .whl
