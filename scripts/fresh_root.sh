#!/usr/bin/env bash
# Runs the README's commands from a fresh clone inside a clean Debian root,
# to see what a new user's machine sees: whatever was once installed by hand
# on this machine is not there, so a missing install step fails here.
#
#   scripts/fresh_root.sh [--only LABEL] [--keep] [-- CMD...]
#
# With no CMD: the commands of the README's first sh block, in order, each
# one as written. --only LABEL keeps the lines whose comment starts with
# LABEL (e.g. --only tests: the README's test command; CI uses that).
# -- CMD...: run CMD instead, in the clone's root folder.
#
# The root is Debian minbase (debootstrap) plus what the machine image this
# project targets ships: compilers, cmake, pkg-config, python3 with venv and
# pip, clang with libomp, valgrind, git, and liblapack-dev, which brings
# reference BLAS and its cblas.h but no OpenBLAS. Nothing else: kiln's own
# scripts must install the rest. No GPU and no CUDA toolkit: CUDA parts
# skip. The mirror and suite are this machine's own apt sources. The base
# root is made once (a few minutes) and cached in /var/tmp/kiln-fresh-root;
# each run works on a copy-on-write layer over it (overlayfs; a full copy
# where that is missing) and a fresh `git clone` of HEAD, both thrown away
# afterwards unless --keep. Downloaded .deb files are cached too (apt still
# resolves and installs every package). Needs root. Exit status: the
# commands'.
set -euo pipefail

only="" keep=0
while [ $# -gt 0 ]; do
  case "$1" in
  --only) only=${2:?--only needs a label}; shift 2 ;;
  --keep) keep=1; shift ;;
  --) shift; break ;;
  -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
  *) echo "fresh_root: unknown option '$1'" >&2; sed -n '5,5p' "$0" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "fresh_root: needs root (debootstrap, chroot, mounts)" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)

# ---- the commands to run: the README's first sh block unless CMD is given.
if [ $# -eq 0 ]; then
  block=$(awk '/^```sh/ {f++; next} /^```/ {if (f == 1) exit} f == 1' "$repo/README.md")
  if [ -n "$only" ]; then
    block=$(grep -E "#[[:space:]]*$only" <<<"$block" || true)
  fi
  cmds=$(sed 's/[[:space:]]#.*$//; s/[[:space:]]*$//' <<<"$block" | grep -v '^[[:space:]]*$' || true)
  [ -n "$cmds" ] || { echo "fresh_root: no command in README.md's first sh block${only:+ labelled '$only'}" >&2; exit 2; }
  script="set -e"
  while IFS= read -r c; do
    script+=$'\n'"echo \"fresh_root: \\\$ $c\" >&2; SECONDS=0; $c; echo \"fresh_root: ($c: \${SECONDS} s)\" >&2"
  done <<<"$cmds"
  set -- bash -c "$script"
fi

# ---- the base root, made once.
packages="build-essential cmake pkg-config python3 python3-venv python3-pip clang libomp-dev valgrind liblapack-dev git ca-certificates"
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "fresh_root: no Debian mirror in this machine's apt sources" >&2; exit 2; }
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$suite" ] || { echo "fresh_root: not a Debian machine (no VERSION_CODENAME)" >&2; exit 2; }
cache=/var/tmp/kiln-fresh-root
key=$(printf '%s %s %s' "$suite" "$mirror" "$packages" | sha256sum | cut -c1-12)
base=$cache/base-$suite-$key
mkdir -p "$cache/debs"

# in_root LOWER ROOT CMD...: chroot into ROOT with /proc, /dev and /sys and
# the .deb cache, in a mount namespace of its own, so every mount ends with
# the command. With LOWER, ROOT is first mounted as an overlay of LOWER under
# ROOT/../upper (copy on write: the base stays clean).
in_root() {
  unshare -m bash -c 'set -e
    lower=$1 root=$2 debs=$3
    shift 3
    if [ -n "$lower" ]; then
      mount -t overlay overlay -o "lowerdir=$lower,upperdir=$root/../upper,workdir=$root/../ovl" "$root"
    fi
    mount --rbind /proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --rbind /sys "$root/sys"
    mount --bind "$debs" "$root/var/cache/apt/archives"
    exec chroot "$root" "$@"' bash "$1" "$2" "$cache/debs" "${@:3}"
}

exec 9>"$cache/lock"
flock 9 # one base made at a time; runs over a finished base need no lock
if [ ! -f "$base/.ok" ]; then
  command -v debootstrap >/dev/null || apt-get install -y -q debootstrap
  rm -rf "$base"
  echo "fresh_root: making a clean $suite root from $mirror (once; log in $base.log)" >&2
  debootstrap --variant=minbase "$suite" "$base" "$mirror" >"$base.log" 2>&1 ||
    { tail -5 "$base.log" >&2; exit 2; }
  cp /etc/resolv.conf "$base/etc/" 2>/dev/null || true
  if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
    rm -f "$base/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/*.sources "$base/etc/apt/sources.list.d/"
  elif [ -f /etc/apt/sources.list ]; then
    cp /etc/apt/sources.list "$base/etc/apt/"
  fi
  mkdir -p "$base/var/cache/apt/archives"
  in_root "" "$base" bash -c "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $packages" \
    >>"$base.log" 2>&1 || { tail -5 "$base.log" >&2; exit 2; }
  rm -rf "$base/var/lib/apt/lists/"* # a user's machine starts without package lists
  touch "$base/.ok"
fi
flock -u 9

# ---- this run: a layer over the base and a fresh clone.
work=$(mktemp -d /var/tmp/kiln-fresh-run.XXXXXX)
cleanup() {
  if [ "$keep" -eq 1 ]; then
    echo "fresh_root: kept $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
mkdir -p "$work/upper/root" "$work/ovl" "$work/root"
git clone -q "$repo" "$work/upper/root/kiln"
# The machine's network settings, as resolv.conf and the apt sources are:
# certificate authorities it trusts beyond Debian's (a proxy's, where the
# network has one) and pip's configuration, so that the README's commands
# reach PyPI the way this machine does. Nothing the project installs.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  mkdir -p "$work/upper/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$work/upper/usr/local/share/ca-certificates/"
fi
[ -f /etc/pip.conf ] && mkdir -p "$work/upper/etc" && cp /etc/pip.conf "$work/upper/etc/"
echo "fresh_root: $(git -C "$work/upper/root/kiln" log -1 --format='clone of %h %s' | cut -c1-100)" >&2
git -C "$repo" diff --quiet HEAD 2>/dev/null || echo "fresh_root: note: uncommitted changes are not in the clone" >&2

run_env=(env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  TERM=dumb LANG=C.UTF-8 bash -c 'update-ca-certificates >/dev/null 2>&1; cd /root/kiln && exec "$@"' bash "$@")
echo "fresh_root: running in a clean $suite root ($work)" >&2
SECONDS=0
set +e
if unshare -m mount -t overlay overlay -o "lowerdir=$base,upperdir=$work/upper,workdir=$work/ovl" \
  "$work/root" 2>/dev/null; then
  in_root "$base" "$work/root" "${run_env[@]}"
else
  echo "fresh_root: no overlayfs here: copying the base root" >&2
  cp -a "$base/." "$work/root/"
  cp -a "$work/upper/root/kiln" "$work/root/root/"
  in_root "" "$work/root" "${run_env[@]}"
fi
rc=$?
echo "fresh_root: exit $rc after $SECONDS s" >&2
exit $rc
