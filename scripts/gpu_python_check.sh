#!/usr/bin/env bash
# On the GPU machine: the Python package with the CUDA backend. Installs the
# wheel made by scripts/python_wheel.sh (.whl/, carried here with .gpu-deps)
# when it was made for this machine's Python, else builds one here, into a venv that sees the system's packages (PyTorch, NumPy), runs the
# pytest suite from outside the source tree (the DLPack tests with PyTorch on
# CUDA included: they must PASS here, not skip), then the per-call overhead
# benchmark on cuda and on the cpu. Logs into $OUT (default gpu-python-out):
# summary.txt, pytest.log, overhead_cuda.txt, overhead_cpu.txt.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$PWD
out=${OUT:-$root/gpu-python-out}
mkdir -p "$out"
export PATH="/usr/local/cuda/bin:$PATH"
arch=x86_64-linux-gnu
deps=$root/.gpu-deps
# The carried libraries (cJSON, utf8proc; OpenBLAS where the machine has
# none) at run time; the machine's own OpenBLAS comes first when it has one.
system_blas=$(ldconfig -p 2>/dev/null | awk '/libopenblas\.so/ {print $NF; exit}')
if [ -d "$deps" ]; then
  extra=$deps/usr/lib/$arch
  [ -n "$system_blas" ] || extra=$deps/usr/lib/$arch/openblas-pthread:$extra
  export LD_LIBRARY_PATH="$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
work=$(mktemp -d)
# The machine's python3 (itself a venv holding PyTorch, NumPy, pytest and
# scikit-build-core: a venv made from it would not see them), with kiln
# installed into a folder of its own on PYTHONPATH.
py=python3
export PYTHONPATH=$work/site${PYTHONPATH:+:$PYTHONPATH}
# A wheel for this Python: the carried one when its tag fits, else one built
# here (the machine has cmake, nvcc and scikit-build-core; it may run
# another Python than the machine that made .whl).
tag=$("$py" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
whl=$(ls "$root"/.whl/kiln-*-"$tag"-*.whl 2>/dev/null | head -1)
if [ -z "$whl" ]; then
  defines=(-C cmake.define.KILN_CUDA=ON -C build-dir="$work/build")
  if [ -d "$deps" ]; then
    defines+=(-C "cmake.define.CMAKE_PREFIX_PATH=$deps/usr")
    [ -e /usr/include/cblas.h ] || [ -e /usr/include/$arch/cblas.h ] ||
      defines+=(-C "cmake.define.CBLAS_INCLUDE_DIR=$deps/usr/include/$arch")
    [ -z "$system_blas" ] || defines+=(-C "cmake.define.OPENBLAS_LIBRARY=$system_blas")
  fi
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$py" -m pip wheel -q --no-build-isolation --no-deps \
    -w "$work/whl" "${defines[@]}" "$root" >"$out/wheel_build.log" 2>&1
  whl=$(ls "$work"/whl/kiln-*.whl 2>/dev/null | head -1)
  [ -n "$whl" ] || { tail -20 "$out/wheel_build.log"; echo "no wheel for $tag" >&2; exit 2; }
fi
# pytest (and NumPy) from the carried wheels, only where the system lacks them.
for need in pytest numpy; do
  "$py" -c "import $need" 2>/dev/null ||
    "$py" -m pip install -q --no-index --target "$work/site" --find-links "$root/.whl" "$need" 2>&1 | tail -2
done
"$py" -m pip install -q --no-index --no-deps --target "$work/site" "$whl"
summary=()
run_dir=$(mktemp -d)
cd "$run_dir" || exit 2
"$py" -c 'import kiln, torch; print("kiln", kiln.version(), kiln.device_count("cuda"), "GPU(s):", kiln.Context("cuda").description); print("torch", torch.__version__, "cuda", torch.cuda.is_available())' \
  >"$out/versions.txt" 2>&1
summary+=("$(cat "$out/versions.txt")")
timeout 400 "$py" -m pytest -p no:cacheprovider -rs -q "$root/python/tests" >"$out/pytest.log" 2>&1
rc=$?
summary+=("pytest: exit $rc; $(tail -1 "$out/pytest.log")")
summary+=("$(grep -c 'SKIPPED' "$out/pytest.log") skip lines: $(grep SKIPPED "$out/pytest.log" | cut -c1-160 | sort | uniq | tr '\n' ';')")
for dev in cuda cpu; do
  timeout 240 "$py" "$root/bench/call_overhead.py" --device "$dev" >"$out/overhead_$dev.txt" 2>&1
  summary+=("overhead $dev: exit $?; $(grep 'largest' "$out/overhead_$dev.txt" | tr '\n' ';')")
done
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
((rc == 0)) || exit "$rc"
