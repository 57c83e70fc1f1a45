#!/usr/bin/env bash
# On the GPU machine: the Python package with the CUDA backend. Installs the
# wheel made by scripts/python_wheel.sh (.whl/, carried here with .gpu-deps)
# into a venv that sees the system's packages (PyTorch, NumPy), runs the
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
# OpenBLAS at run time: the machine's own, else the carried one.
if ! ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so\.0' && [ -d "$deps" ]; then
  export LD_LIBRARY_PATH="$deps/usr/lib/$arch/openblas-pthread:$deps/usr/lib/$arch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
whl=$(ls "$root"/.whl/kiln-*.whl 2>/dev/null | head -1)
[ -n "$whl" ] || { echo "no .whl/kiln-*.whl: run scripts/python_wheel.sh first" >&2; exit 2; }
venv=$(mktemp -d)/venv
python3 -m venv --system-site-packages "$venv"
py=$venv/bin/python
# pytest (and NumPy) from the carried wheels, only where the system lacks them.
for need in pytest numpy; do
  "$py" -c "import $need" 2>/dev/null ||
    "$py" -m pip install -q --no-index --find-links "$root/.whl" "$need" 2>&1 | tail -2
done
"$py" -m pip install -q --no-index --no-deps --force-reinstall "$whl"
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
