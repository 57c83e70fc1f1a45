#!/usr/bin/env bash
# Makes .gpu-deps/ in the repository root: what the GPU machine lacks to
# build and test kiln (it has no cblas.h, no cmocka and no internet), taken
# from Debian's packages with apt-get download + dpkg -x on this machine.
# scripts/gpu_check.sh finds it there. Ignored by git; carry it to the GPU
# machine with the working tree. Kept small: no static libraries, no docs.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.gpu-deps
arch=x86_64-linux-gnu
# OpenBLAS (headers, and the library with its Fortran runtime, in case the
# GPU machine's own libopenblas cannot be used), cmocka, and the model
# code's cJSON and utf8proc.
packages=(libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libgfortran5
  libquadmath0 libcmocka-dev libcmocka0 libcjson-dev libcjson1 libutf8proc-dev libutf8proc2)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# As root, apt would hand the download to its _apt user, who cannot write here.
(cd "$work" && apt-get -o APT::Sandbox::User=root download "${packages[@]}" >/dev/null)
rm -rf "${dest:?}"
mkdir -p "$dest"
for deb in "$work"/*.deb; do
  dpkg -x "$deb" "$dest"
done
# The carry to the GPU machine is limited (64 MiB with everything else):
# keep OpenBLAS itself, drop its LAPACK and reference-BLAS faces, static
# libraries and docs.
rm -rf "${dest:?}/usr/share"
find "$dest" \( -name '*.a' -o -name 'liblapack*' -o -name 'libblas*' \) -delete

# Debian points cblas.h at the pthread build through update-alternatives,
# which dpkg -x does not run: make the same links. The library stays in
# openblas-pthread/ only, so that a library path holding $arch (for
# cmocka) never shadows the GPU machine's own libopenblas.
for h in cblas.h openblas_config.h f77blas.h; do
  ln -sfn "openblas-pthread/$h" "$dest/usr/include/$arch/$h"
done

for f in "include/$arch/cblas.h" include/cmocka.h "lib/$arch/libcmocka.so" \
  include/cjson/cJSON.h include/utf8proc.h "lib/$arch/libcjson.so" "lib/$arch/libutf8proc.so" \
  "lib/$arch/openblas-pthread/libopenblas.so"; do
  if ! [ -e "$dest/usr/$f" ]; then
    echo "prepare_gpu_deps: $dest/usr/$f is missing" >&2
    exit 1
  fi
done
echo "prepare_gpu_deps: $(du -sh "$dest" | cut -f1) in $dest"
