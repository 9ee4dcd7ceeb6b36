#!/usr/bin/env bash
# Runs a command in this checkout under a CPython that the machine lacks, taken from Debian
# unstable (sid): a minimal sid system is made with debootstrap (once, then reused), Debian's
# pythonX.Y with its headers is installed in it (added to the system made before, when that
# one lacks it), and the checkout is bind-mounted at its own path (so the virtual
# environments made inside name the same paths as outside).
#
#   tools/debian-python.sh 3.14 make PYTHON=python3.14 test
#
# Why Debian's build: it is a real, widely used CPython of that version, reachable from our
# machines (deb.debian.org), where a source tarball may not be. Needs root (debootstrap,
# chroot, mounts). TRISCOPE_CHROOT chooses where the system lives (default
# /var/tmp/triscope-debian-sid, about 400 MB; 1 GB once chromium is in for the browser tests).
# Exits 3 when the chroot cannot be made here (not root, no network, no such Python), so a
# caller can tell "could not try" from "tried and failed".
set -euo pipefail

version=${1:?usage: tools/debian-python.sh X.Y COMMAND...}
shift
root=${TRISCOPE_CHROOT:-/var/tmp/triscope-debian-sid}
repo=$(cd "$(dirname "$0")/.." && pwd)
mirror=http://deb.debian.org/debian
# The allocators the memory tests preload (the Makefile's allocator-deps would apt-get them
# inside, where two runs at once would contend for dpkg's lock). Sid's names: since its
# 64-bit time_t transition tcmalloc's library package is libtcmalloc-minimal4t64 (the
# library file is still libtcmalloc_minimal.so.4); debootstrap fails on a name sid lacks.
allocators="libjemalloc2 libtcmalloc-minimal4t64"
packages="python$version,python$version-dev,python$version-venv,gcc,g++,make,ca-certificates,procps,${allocators// /,}"

unavailable() { echo "debian-python: $*" >&2; exit 3; }

[ "$(id -u)" = 0 ] || unavailable "needs root for debootstrap and chroot"
# Mounts in a mount namespace of this command's own, where one can be made: they vanish
# when it ends, and two commands using the same system at once (two checkouts, two
# versions) cannot unmount each other's /proc.
if [ -z "${TRISCOPE_CHROOT_NAMESPACE:-}" ] && unshare --mount --propagation private true 2>/dev/null; then
    TRISCOPE_CHROOT_NAMESPACE=1 exec unshare --mount --propagation private "$0" "$version" "$@"
fi
unset TRISCOPE_CHROOT_NAMESPACE

# Making or changing the system is one command's at a time (two versions' runs in parallel:
# .ci/run); running in it is not.
mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
flock 9

add_version=0
if [ ! -x "$root/usr/bin/python$version" ] && [ -x "$root/usr/bin/apt-get" ]; then
    add_version=1  # a system made before for another version: add this one to it below
elif [ ! -x "$root/usr/bin/python$version" ]; then
    command -v debootstrap >/dev/null ||
        { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
          { apt-get update -qq >/dev/null 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1; }; } ||
        unavailable "cannot install debootstrap"
    echo "debian-python: making a Debian sid system with python$version in $root (a few minutes)"
    rm -rf "$root"
    mkdir -p "$root"
    debootstrap --variant=minbase --include="$packages" sid "$root" "$mirror" \
        >"$root.log" 2>&1 || unavailable "debootstrap failed (see $root.log)"
fi

# The machine's trust store (a proxy's CA) and resolver, so pip and apt work inside.
cp /etc/resolv.conf "$root/etc/resolv.conf"
if [ -d /usr/local/share/ca-certificates ]; then
    cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null 2>&1 || true
fi
# A mirror's copy of sid can be older than its Release file's validity; the Makefile's
# apt-get (chromium for the browser tests) must still work.
echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99triscope"

if [ "$add_version" = 1 ]; then
    echo "debian-python: adding python$version to the Debian sid system in $root"
    { chroot "$root" apt-get update -qq &&
      chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
          "python$version" "python$version-dev" "python$version-venv"; } >>"$root.log" 2>&1 ||
        unavailable "cannot add python$version to $root (see $root.log)"
fi
if ! chroot "$root" dpkg -s $allocators >/dev/null 2>&1; then
    { chroot "$root" apt-get update -qq &&
      chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $allocators; } \
        >>"$root.log" 2>&1 || echo "debian-python: cannot install $allocators in $root" >&2
fi
flock -u 9
exec 9>&-

mkdir -p "$root$repo"
mounted=()
cleanup() {
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -R "${mounted[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
mount_once() {  # mount_once TARGET MOUNT-ARGS...
    local target=$1
    shift
    mountpoint -q "$target" && return
    mount "$@" "$target"
    mounted+=("$target")
}
mount_once "$root/proc" -t proc proc
mount_once "$root/sys" --rbind /sys
mount_once "$root/dev" --rbind /dev
mount_once "$root$repo" --bind "$repo"

# printf %q keeps each argument whole through the inner shell.
chroot "$root" /bin/sh -c "cd $(printf '%q' "$repo") && $(printf '%q ' "$@")"
