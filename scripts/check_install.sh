#!/usr/bin/env bash
# Installs a built kiln into a scratch prefix, moves the prefix elsewhere
# (everything installed must be relocatable), and links examples/hello.c
# against it the four ways README.md's "Linking" promises, running each:
#   pkg-config, shared       pkg-config, static (the README's recipe)
#   find_package, kiln::kiln find_package, kiln::kiln_static
# Then the installed `kiln` must start and find its case list under its own
# prefix. Built with the CUDA backend, this is what catches a static link
# line that lacks the CUDA objects' needs; without a GPU the programs run on
# the CPU (KILN_DEVICE_AUTO falls back).
#   scripts/check_install.sh [BUILD_DIR]     (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
build=$(cd "${1:-build}" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-install.XXXXXX")
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/staged" >"$work/install.log" ||
  { cat "$work/install.log"; exit 1; }
mv "$work/staged" "$work/prefix"
prefix=$work/prefix
libdir=$(dirname "$(find "$prefix" -name kiln.pc -path '*/pkgconfig/*' | head -1)")
libdir=${libdir%/pkgconfig}
cuda=$(grep -q -- '-lcudart' "$libdir/pkgconfig/kiln.pc" && echo "with CUDA" || echo "CPU only")
echo "check_install: $build installed, then moved to $prefix ($cuda)"

failures=0
# check NAME PROGRAM: runs PROGRAM and compares its numbers with hello's.
check() {
  local name=$1 program=$2 out
  if ! out=$("$program" 2>&1); then
    echo "FAIL $name: the program failed: $out"
    failures=$((failures + 1))
    return
  fi
  if ! grep -q '^0\.0063 0\.0170 0\.0463 0\.9304$' <<<"$out" ||
    ! grep -q '^0\.0000 0\.0000 0\.0001 0\.9998$' <<<"$out"; then
    echo "FAIL $name: unexpected output: $out"
    failures=$((failures + 1))
    return
  fi
  echo "ok   $name: $(head -1 <<<"$out")"
}

# link NAME COMMAND...: a link that fails is a failure, with its first errors.
link() {
  local name=$1
  shift
  if ! "$@" >"$work/$name.log" 2>&1; then
    echo "FAIL $name: link failed:"
    grep -m 8 -E 'error|undefined|cannot find' "$work/$name.log" || tail -8 "$work/$name.log"
    failures=$((failures + 1))
    return 1
  fi
}

export PKG_CONFIG_PATH=$libdir/pkgconfig
cc=${CC:-cc}
# pkg-config, shared: the README's recipe (the prefix is not a system one,
# so -rpath says where libkiln.so is).
link pc_shared "$cc" "$src/examples/hello.c" -o "$work/pc_shared" $(pkg-config --cflags --libs kiln) \
  -Wl,-rpath,"$(pkg-config --variable=libdir kiln)" && check pc_shared "$work/pc_shared"
# pkg-config, static: the README's recipe, word for word.
link pc_static "$cc" "$src/examples/hello.c" -o "$work/pc_static" $(pkg-config --cflags kiln) \
  "$(pkg-config --variable=libdir kiln)/libkiln.a" $(pkg-config --libs --static kiln | sed 's/-lkiln//') &&
  check pc_static "$work/pc_static"
if [ -x "$work/pc_static" ] && ldd "$work/pc_static" | grep -q libkiln; then
  echo "FAIL pc_static: linked against libkiln.so, not libkiln.a"
  failures=$((failures + 1))
fi

# find_package: one CMake project, both targets.
mkdir -p "$work/consumer"
cp "$src/examples/hello.c" "$work/consumer/"
cat >"$work/consumer/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.24)
project(kiln_consumer LANGUAGES C)
find_package(kiln REQUIRED)
add_executable(cmake_shared hello.c)
target_link_libraries(cmake_shared PRIVATE kiln::kiln)
add_executable(cmake_static hello.c)
target_link_libraries(cmake_static PRIVATE kiln::kiln_static)
EOF
if link cmake_configure cmake -S "$work/consumer" -B "$work/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release; then
  link cmake_shared cmake --build "$work/consumer/build" --target cmake_shared &&
    check cmake_shared "$work/consumer/build/cmake_shared"
  link cmake_static cmake --build "$work/consumer/build" --target cmake_static &&
    check cmake_static "$work/consumer/build/cmake_static"
  if [ -x "$work/consumer/build/cmake_static" ] && ldd "$work/consumer/build/cmake_static" | grep -q libkiln; then
    echo "FAIL cmake_static: linked against libkiln.so, not libkiln.a"
    failures=$((failures + 1))
  fi
fi

# The installed command: it starts (RPATH relative to itself) and reads the
# case list installed beside it, with no hint from the environment. The
# library path keeps only folders without a libkiln (so libkiln must come
# through the RPATH): where kiln's own dependencies are not the system's
# (the GPU machine's .gpu-deps, scripts/gpu_deps_env.sh), it is how the
# installed program finds them, as any program of that machine would.
lib_path=
IFS=: read -r -a lib_dirs <<<"${LD_LIBRARY_PATH:-}"
for dir in "${lib_dirs[@]}"; do
  if [ -n "$dir" ] && ! compgen -G "$dir/libkiln.so*" >/dev/null; then
    lib_path=${lib_path:+$lib_path:}$dir
  fi
done
lib_env=(-u LD_LIBRARY_PATH)
[ -n "$lib_path" ] && lib_env=("LD_LIBRARY_PATH=$lib_path")
if out=$(env -u KILN_CASES "${lib_env[@]}" "$prefix/bin/kiln" bench --device cpu --quick \
  --filter softmax_f32_1x128x1024 2>&1) && grep -q "^cases: $prefix/bin/\.\./share/kiln/cases.tsv" <<<"$out"; then
  echo "ok   installed kiln: $(grep '^cases:' <<<"$out")"
else
  echo "FAIL installed kiln: $out"
  failures=$((failures + 1))
fi

if [ "$failures" -ne 0 ]; then
  echo "check_install: $failures failure(s)"
  exit 1
fi
echo "check_install: all four consumers and the installed kiln work"
