# shellcheck shell=bash disable=SC2154,SC2034 # sourced: root in, cmake_args and run_vars out
# Sourced by the GPU-machine scripts (gpu_check.sh, attention_gpu_check.sh):
# given root (the repository) and cmake_args, adds what .gpu-deps supplies
# (scripts/prepare_gpu_deps.sh: headers and libraries the GPU machine lacks)
# to cmake_args, and sets run_vars, the environment our own executables
# need there. The machine's own OpenBLAS when it has one (it surely runs
# there), with Debian's header; else Debian's library and its Fortran
# runtime.
deps=$root/.gpu-deps
arch=x86_64-linux-gnu
run_vars=()
if [ -d "$deps" ]; then
  cmake_args+=("-DCMAKE_PREFIX_PATH=$deps/usr")
  if ! [ -e /usr/include/cblas.h ] && ! [ -e /usr/include/$arch/cblas.h ]; then
    cmake_args+=("-DCBLAS_INCLUDE_DIR=$deps/usr/include/$arch")
  fi
  system_blas=$(ldconfig -p 2>/dev/null | awk '/libopenblas\.so/ {print $NF; exit}')
  lib_path=$deps/usr/lib/$arch
  if [ -n "$system_blas" ]; then
    cmake_args+=("-DOPENBLAS_LIBRARY=$system_blas")
  else
    cmake_args+=("-DOPENBLAS_LIBRARY=$deps/usr/lib/$arch/openblas-pthread/libopenblas.so")
    lib_path=$lib_path:$deps/usr/lib/$arch/openblas-pthread
  fi
  run_vars=("LD_LIBRARY_PATH=$lib_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
fi

# After the build: cuDNN's folder first on run_vars' library path when the
# build linked a cuDNN that no default path holds (a pip wheel's), since
# cuDNN loads its engine libraries from beside itself, and installed copies
# of kiln (ctest install_consumers) have no RPATH to it.
kiln_add_cudnn_path() {
  local lib dir lp=${LD_LIBRARY_PATH:-} v kept=()
  lib=$(sed -n 's/^KILN_CUDNN_LIBRARY:FILEPATH=//p' "${1:-build}/CMakeCache.txt" 2>/dev/null)
  [ -n "$lib" ] && [ -e "$lib" ] || return 0
  dir=$(dirname "$(readlink -f "$lib")")
  for v in "${run_vars[@]}"; do
    case $v in LD_LIBRARY_PATH=*) lp=${v#LD_LIBRARY_PATH=} ;; *) kept+=("$v") ;; esac
  done
  run_vars=("${kept[@]}" "LD_LIBRARY_PATH=$dir${lp:+:$lp}")
}
