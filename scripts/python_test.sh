#!/usr/bin/env bash
# Builds kiln's wheel the way `pip install .` does (pyproject.toml,
# scikit-build-core), installs it into a fresh virtual environment, and runs
# the pytest suite (python/tests) from a directory outside the source tree,
# so the tests exercise the installed package, never the sources.
#   scripts/python_test.sh [pytest arguments]
# Environment:
#   KILN_PY_WORK=dir   where the venv, wheel and build go (default build-python)
#   KILN_PY_CUDA=ON|OFF|AUTO   the CUDA backend (default AUTO: when nvcc is found)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/deps.sh
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
work=${KILN_PY_WORK:-$root/build-python}
mkdir -p "$work"
python3 -m venv --clear "$work/venv"
py=$work/venv/bin/python
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q "scikit-build-core>=0.8" "numpy>=1.22" "pytest>=7"
defines=(-C "cmake.define.KILN_CUDA=${KILN_PY_CUDA:-AUTO}")
if command -v ccache >/dev/null; then
  defines+=(-C cmake.define.CMAKE_C_COMPILER_LAUNCHER=ccache
    -C cmake.define.CMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
rm -rf "$work/dist"
# No build isolation: the build requirements were installed just above, so
# a machine with a PyPI mirror but no network at build time works too.
"$py" -m pip wheel -q --no-build-isolation --no-deps -w "$work/dist" \
  -C build-dir="$work/build" "${defines[@]}" .
"$py" -m pip install -q --force-reinstall --no-deps "$work"/dist/kiln-*.whl
# Outside the repository: `import kiln` can only find the installed wheel.
run_dir=$(mktemp -d)
trap 'rm -rf "$run_dir"' EXIT
cd "$run_dir"
"$py" -c 'import kiln; print("kiln", kiln.version(), "from", kiln.__file__, "on", kiln.default_context().description)'
set +e
"$py" -m pytest -p no:cacheprovider -rs -q "$root/python/tests" "$@"
rc=$?
set -e
# pytest: 0 all passed, 1 failures, 2 interrupted, 3 internal error,
# 4 usage error, 5 no tests collected. Only 0 is a pass: an empty run is a
# broken suite, not a green one.
case $rc in
0) echo "python tests: passed" ;;
5) echo "python tests: no tests were collected" >&2; exit 1 ;;
*) echo "python tests: pytest exited with $rc" >&2; exit "$rc" ;;
esac
