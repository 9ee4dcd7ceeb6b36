#!/usr/bin/env bash
# The GPU acceptance check: builds triscope for this machine's Python with meson alone (no
# meson-python, no network) and runs tools/gpu_check/check.py, which profiles programs that
# know their own truth and prints one table. On a machine without an NVIDIA GPU it says so in
# one line and exits 0, so `make gpu-check` can run anywhere. docs/PERFORMANCE.md ("GPU")
# holds the checks, their bars and the measured table.
#
#   tools/gpu-check.sh [OUT_DIR]      (default build/gpu-check-out)
#
# PYTHON picks the interpreter (default python3). Where its Python.h is missing,
# TRISCOPE_PYTHON_INCLUDE may name a directory holding the same version's headers.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
    echo "gpu-check: no NVIDIA GPU on this machine (nvidia-smi lists none): nothing to check"
    exit 0
fi

die() { echo "gpu-check: $*" >&2; exit 1; }

PY=$(command -v "${PYTHON:-python3}") || die "cannot find ${PYTHON:-python3}"
version=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])') || die "$PY does not run"
include=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
# The frame walker reads CPython's private frame layout too (compat.h).
headers_in() { [ -f "$1/Python.h" ] && [ -f "$1/internal/pycore_frame.h" ]; }
c_args=()
if ! headers_in "$include"; then
    extra=${TRISCOPE_PYTHON_INCLUDE:-}
    [ -n "$extra" ] && headers_in "$extra" ||
        die "$PY (Python $version) lacks Python.h or its internal headers in $include; install its development headers or set TRISCOPE_PYTHON_INCLUDE"
    echo "gpu-check: Python headers missing in $include; using $extra"
    c_args=("-Dc_args=-I$extra")
fi

# meson run by the interpreter being built for, so meson's python module finds that one;
# a meson installed for another interpreter is pure Python and runs from its own directory.
meson_path=
if ! "$PY" -c 'import mesonbuild' 2>/dev/null; then
    candidates=(python3)
    if script=$(command -v meson); then
        shebang=$(head -1 "$script" | sed -n 's/^#! *\([^ ]*python[^ ]*\).*/\1/p')
        [ -n "$shebang" ] && candidates=("$shebang" python3)
    fi
    for candidate in "${candidates[@]}"; do
        meson_path=$("$candidate" -c 'import mesonbuild, os.path as p; print(p.dirname(p.dirname(mesonbuild.__file__)))' 2>/dev/null) && break
    done
    [ -n "$meson_path" ] || die "meson is not installed for $PY nor for ${candidates[*]}"
fi
meson() { PYTHONPATH="$meson_path${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m mesonbuild.mesonmain "$@"; }

build=build/gpu-check-py$version
stage=$build/stage
out=$(realpath -m "${1:-build/gpu-check-out}")
mkdir -p build
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" --buildtype=release "${c_args[@]}" >"$build.setup.log" 2>&1 ||
        { cat "$build.setup.log"; die "meson setup failed"; }
fi
meson compile -C "$build" >"$build.compile.log" 2>&1 ||
    { tail -40 "$build.compile.log"; die "the build failed"; }

# The package as an install would lay it out: the Python sources, the two libraries and
# the profile schema.
rm -rf "$stage" && mkdir -p "$stage"
cp -r src/triscope "$stage/" && rm -rf "$stage/triscope/_native"
cp "$build"/_native*.so "$build"/libtriscope_preload.so "$stage/triscope/"
cp docs/profile.schema.json "$stage/triscope/reports/"  # the readers check profiles with it
PYTHONPATH="$PWD/$stage${PYTHONPATH:+:$PYTHONPATH}" "$PY" tools/gpu_check/check.py "$out"
