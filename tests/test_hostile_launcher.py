"""The launcher and child processes against hostile surroundings (issue 13, items 1, 7, 8, 15
and 16): modules in the working directory or the program's directory named like the modules
triscope imports, pytest run with warnings as errors, a foreign or differently configured
Python child, leftover temporary directories, children given a cleared environment.

Each program runs under plain python and under triscope: the same stdout and exit status.
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import describe, load_profile, run_python, run_triscope

TRISCOPE_SCRIPT = Path(sys.executable).parent / "triscope"

# Every module of the standard library, which triscope may import for itself at any time.
STDLIB_NAMES = sorted(name for name in sys.stdlib_module_names if not name.startswith("_"))


def preloaded_by_python_dash_m(tmp_path):
    """What plain `python -m module` has imported before the module runs (runpy's own
    imports come from the working directory first, for any module): hostile copies of
    these in the working directory break plain Python as well."""
    probe = tmp_path / "preload_probe"
    probe.mkdir()
    (probe / "probe_modules.py").write_text("import sys; print(' '.join(sys.modules))\n")
    proc = run_python(["-m", "probe_modules"], probe)
    assert proc.returncode == 0, describe(proc)
    return set(proc.stdout.split())


def plant_hostile_modules(directory, names=STDLIB_NAMES):
    for name in names:
        (directory / f"{name}.py").write_text(
            f"raise SystemExit('hostile {name}.py of {directory.name} was imported')\n")


def run_console_script(args, cwd, env=None):
    """The installed `triscope` command (its directory, not the working one, is sys.path[0])."""
    merged = dict(os.environ)
    merged.pop("GT_OUT", None)
    merged.update(env or {})
    return subprocess.run([str(TRISCOPE_SCRIPT), *map(str, args)], cwd=str(cwd), env=merged,
                          capture_output=True, text=True, timeout=120)


# ==== Item 1: the launcher imports nothing from the working directory ====

PROBE = """\
import sys
print(repr(sys.path))
print(repr(tuple(sys.flags)))
print(repr(sorted(sys._xoptions.items())), repr(sys.warnoptions))
"""


@pytest.mark.parametrize("memory", [True, False], ids=["re-executed", "in-place"])
@pytest.mark.parametrize("mode", ["script", "module"])
def test_program_sees_the_sys_path_and_flags_of_plain_python(tmp_path, mode, memory):
    """With memory profiling the launcher re-executes itself under the allocator library;
    either way the program's sys.path and sys.flags are plain Python's."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "probe.py").write_text(PROBE)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    if mode == "script":
        target = [elsewhere / "probe.py"]
    else:
        (cwd / "probe_mod.py").write_text(PROBE)
        target = ["-m", "probe_mod"]
    options = ["--cli"] + ([] if memory else ["--cpu"])
    plain = run_python(target, cwd)
    assert plain.returncode == 0, describe(plain)
    for run in (run_triscope, run_console_script):
        proc = run([*options, *target], cwd)
        assert proc.returncode == 0, describe(proc)
        assert proc.stdout == plain.stdout, f"{run.__name__}:\n{describe(proc)}"


@pytest.mark.parametrize("flags", [["-P"], ["-X", "utf8", "-W", "ignore::UserWarning"]])
def test_interpreter_flags_reach_the_program(tmp_path, flags):
    """`python -P -m triscope prog.py` is `python -P prog.py`: no directory first on sys.path."""
    (tmp_path / "probe.py").write_text(PROBE)
    plain = subprocess.run([sys.executable, *flags, "probe.py"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    proc = subprocess.run([sys.executable, *flags, "-m", "triscope", "--cli", "probe.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert plain.returncode == proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)


PROGRAM = "print('the program ran')\n"


@pytest.mark.parametrize("launcher", ["python -m triscope", "triscope"])
def test_modules_in_the_working_directory_are_not_imported(tmp_path, launcher):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    program = elsewhere / "prog.py"
    program.write_text(PROGRAM)
    cwd = tmp_path / "hostile"
    cwd.mkdir()
    names = STDLIB_NAMES
    if launcher == "python -m triscope":
        names = sorted(set(names) - preloaded_by_python_dash_m(tmp_path))
    plant_hostile_modules(cwd, names)
    if launcher == "triscope":
        # `python -m triscope` would take this one itself, as Python's -m does; the command not.
        plant_hostile_modules(cwd, ["triscope"])
    run = run_triscope if launcher == "python -m triscope" else run_console_script
    plain = run_python([program], cwd)
    assert plain.returncode == 0 and plain.stdout == "the program ran\n", describe(plain)
    proc = run(["--cli", program], cwd)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout
    assert "was imported" not in proc.stderr, describe(proc)
    assert "triscope: profile written to" in proc.stderr


def test_modules_beside_the_program_are_not_imported_by_the_launcher(tmp_path):
    """The program's directory is first on its sys.path: what triscope imports after the
    program has begun (writing the reports) must not come from there either."""
    home = tmp_path / "home"
    home.mkdir()
    plant_hostile_modules(home)
    program = home / "prog.py"
    program.write_text(PROGRAM)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    plain = run_python([program], cwd)
    assert plain.returncode == 0, describe(plain)
    proc = run_triscope([program], cwd)  # the JSON, text and HTML reports
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout
    assert "was imported" not in proc.stderr, describe(proc)
    load_profile(cwd / "profile.json")
    assert (cwd / "profile.html").exists()
