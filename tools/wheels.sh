#!/usr/bin/env bash
# `make wheels`: dist/ with one manylinux wheel per supported CPython and the sdist.
#
# Each wheel is built on the oldest glibc that has its Python: a version found here (on PATH
# or among pyenv's versions, as the Makefile finds it) is built on this machine's glibc; one
# the machine lacks, in the Debian sid chroot (tools/debian-python.sh), whose newer glibc can
# give it a higher manylinux tag. Each is built by `make PYTHON=pythonX.Y wheel`: compiled,
# repaired by auditwheel, its tag checked against `auditwheel show`, installed into a fresh
# environment and used to profile a program (tests/test_wheels.py).
#
# Ends with a table (version, file, size, tag, glibc it was built on) and says which versions
# could not be made and why. TRISCOPE_WHEEL_VERSIONS overrides the list of versions.
set -uo pipefail
cd "$(dirname "$0")/.."

VERSIONS=${TRISCOPE_WHEEL_VERSIONS:-"3.11 3.12 3.13 3.14 3.15"}
declare -a made=() failed=() missing=()

# The interpreter `make PYTHON=pythonX.Y` would use (the Makefile's own search), or nothing.
find_python() {
    local name="python$1" candidate
    for candidate in $(command -v "$name" 2>/dev/null) \
                     $(ls -d "$HOME"/.pyenv/versions/*/bin/"$name" 2>/dev/null | sort -V -r); do
        if "$candidate" -c "" 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
}

default_version=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
rm -rf dist
mkdir -p dist
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
for version in $VERSIONS; do
    start=$SECONDS
    if [ -n "$(find_python "$version")" ]; then
        where="this machine"
        echo "=== python $version: building its wheel on $where"
        # The default python3's own environment is .venv (the Makefile's), not .venv-X.Y.
        python=python$version
        [ "$version" = "$default_version" ] && python=python3
        make --no-print-directory PYTHON="$python" wheel 2>&1 | tee "$logs/$version"
        status=${PIPESTATUS[0]}
    else
        where="Debian sid chroot"
        echo "=== python $version: not on this machine; building its wheel in the $where"
        tools/debian-python.sh "$version" make --no-print-directory PYTHON="python$version" wheel \
            2>&1 | tee "$logs/$version"
        status=${PIPESTATUS[0]}
    fi
    # `make wheel` ends its build with one line: "make wheel: FILE, N bytes, TAG, built on glibc G".
    line=$(grep '^make wheel: dist/' "$logs/$version" | tail -1)
    if [ "$status" = 0 ] && [ -n "$line" ]; then
        made+=("$version|$where|${line#make wheel: }|$((SECONDS - start)) s")
    elif [ "$status" = 3 ] && [ "$where" != "this machine" ]; then
        missing+=("$version")
    else
        failed+=("$version ($where, exit $status; its output is above)")
    fi
done

echo "=== the sdist"
if make --no-print-directory sdist; then
    sdist=$(ls dist/triscope-*.tar.gz)
    sdist="$sdist, $(stat -c %s "$sdist") bytes"
else
    sdist="FAILED (its output is above)"
fi

echo
echo "=== dist/ (${SECONDS} s)"
for item in "${made[@]}"; do
    IFS='|' read -r version where what took <<<"$item"
    echo "  python $version ($where, $took): $what"
done
echo "  sdist: $sdist"
for item in "${failed[@]}"; do echo "  FAILED:    python $item"; done
for item in "${missing[@]}"; do
    echo "  not made:  python $item (not on this machine, and no Debian chroot here)"
done
[ ${#failed[@]} -eq 0 ] && [ "${sdist#FAILED}" = "$sdist" ]
