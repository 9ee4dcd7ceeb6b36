"""The ways Python can be told which program to run, each run as Python runs it
(docs/ARCHITECTURE.md, "The program's forms"): a directory or a zip file (a zipapp's .pyz)
holding `__main__.py`, which Python runs as a sys.path entry; the program on standard input
(`-`); compiled bytecode; a pipe's path; and the __main__ namespace every program finds (its
names and their order are Python's, which differ between versions: _compat.py).

GIVEN a directory whose `__main__.py` prints what a program can see of how it was started
(sys.argv, sys.path[0], its __file__, __name__ and __spec__) and then spends its time in a
module beside it, and the same directory zipped by zipapp, WHEN each runs under plain
python and under triscope (CPU only, and re-executed under the allocator library), THEN
stdout and the exit status are plain Python's, and the profile charges the module's hot
line, named by its path inside the directory or the zip (one without `__main__.py` is refused
in one line: test_cli.py). A program on standard input sees what it sees under Python and
its lines are profiled as "<stdin>"; a script and a module see the globals Python gives
them; compiled bytecode runs (a .pyc Python would refuse is refused in one line), a script
read through a pipe's path runs, and a code object named after a fifo does not hold the
exit (the writer would wait on it for a writer). And sys.orig_argv is plain python's, in
every form and mode, with the interpreter's own options kept.
"""
import os
import py_compile
import subprocess
import sys
import zipapp

import pytest

from conftest import describe, load_profile, run_python, run_triscope

MAIN = """\
import sys
import work
print(sys.argv, sys.path[0], __file__, __name__, __spec__.name, __package__)
print(work.spin(0.4))
"""

WORK = """\
import time


def spin(seconds):
    total, end = 0, time.process_time() + seconds
    while time.process_time() < end:
        total += sum(i * i for i in range(300))  # @hot
    return total > 0
"""


@pytest.fixture
def programs(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "__main__.py").write_text(MAIN)
    (app / "work.py").write_text(WORK)
    zipapp.create_archive(app, tmp_path / "app.pyz")
    return tmp_path


def hot_line(profile, suffix):
    """The entry of the line marked @hot in the file whose path ends with `suffix`, and
    whether it carries the most CPU time of that file's lines."""
    hot = WORK.splitlines().index(next(l for l in WORK.splitlines() if "# @hot" in l)) + 1
    for path, entry in profile["files"].items():
        if path.endswith(suffix):
            line = next((line for line in entry["lines"] if line["lineno"] == hot), None)
            top = max(entry["lines"], key=lambda line: line["cpu_s"])
            return line, top is line
    raise AssertionError(f"no file ending {suffix} in {sorted(profile['files'])}")


@pytest.mark.parametrize("memory", [True, False], ids=["re-executed", "in-place"])
@pytest.mark.parametrize("target, inside", [("app", "/app/work.py"),
                                            ("./app/", "/app/work.py"),
                                            ("app.pyz", "/app.pyz/work.py")])
def test_a_directory_or_zip_program_runs_as_under_python(programs, target, inside, memory):
    plain = run_python([target, "one", "two"], programs)
    assert plain.returncode == 0, describe(plain)
    options = ["--cli"] + ([] if memory else ["--cpu"])
    proc = run_triscope([*options, target, "one", "two"], programs)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)
    line, hottest = hot_line(load_profile(programs / "profile.json"), inside)
    assert line is not None and line["cpu_s"] > 0.05 and hottest, line


# What a program sees of how it was started (its loader by name: an object's address would
# differ from run to run), then a hot loop.
LOOP_PROGRAM = """\
import sys
print(sys.argv, repr(sys.path[0]), list(globals()), __file__, __spec__,
      getattr(__loader__, "__name__", type(__loader__).__name__))
total = 0
for i in range(3_000_000):
    total += i * i  # @loop_hot
print(total % 7)
"""
LOOP_HOT = LOOP_PROGRAM.splitlines().index("    total += i * i  # @loop_hot") + 1


@pytest.mark.parametrize("memory", [True, False], ids=["re-executed", "in-place"])
def test_a_program_on_standard_input_runs_as_under_python(tmp_path, memory):
    plain = run_python(["-", "one"], tmp_path, input=LOOP_PROGRAM)
    assert plain.returncode == 0, describe(plain)
    options = ["--cli"] + ([] if memory else ["--cpu"])
    proc = run_triscope([*options, "-", "one"], tmp_path, input=LOOP_PROGRAM)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)
    profile = load_profile(tmp_path / "profile.json")
    assert profile["program"] == "<stdin>", profile["program"]
    lines = {line["lineno"]: line for line in profile["files"]["<stdin>"]["lines"]}
    assert lines[LOOP_HOT]["cpu_s"] >= 0.05, lines


GLOBALS_PROBE = "print(list(globals()))\n"


@pytest.mark.parametrize("memory", [True, False], ids=["re-executed", "in-place"])
@pytest.mark.parametrize("form", ["script", "module"])
def test_the_main_namespace_is_pythons(tmp_path, form, memory):
    (tmp_path / "globals_probe.py").write_text(GLOBALS_PROBE)
    target = ["globals_probe.py"] if form == "script" else ["-m", "globals_probe"]
    plain = run_python(target, tmp_path)
    assert plain.returncode == 0, describe(plain)
    proc = run_triscope(([] if memory else ["--cpu"]) + target, tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)


@pytest.mark.parametrize("memory", [True, False], ids=["re-executed", "in-place"])
def test_compiled_bytecode_runs_as_under_python(tmp_path, memory):
    source = tmp_path / "compiled.py"
    source.write_text(LOOP_PROGRAM)
    py_compile.compile(str(source), cfile=str(tmp_path / "compiled.pyc"), doraise=True)
    plain = run_python(["compiled.pyc", "x"], tmp_path)
    assert plain.returncode == 0, describe(plain)
    proc = run_triscope(([] if memory else ["--cpu"]) + ["compiled.pyc", "x"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)
    profile = load_profile(tmp_path / "profile.json")
    lines = {line["lineno"]: line for line in profile["files"][str(source)]["lines"]}
    assert lines[LOOP_HOT]["cpu_s"] >= 0.05, lines


@pytest.mark.parametrize("content", [b"\x00\x01 not bytecode", b""], ids=["foreign", "empty"])
def test_a_pyc_python_would_refuse_is_refused_in_one_line(tmp_path, content):
    (tmp_path / "bad.pyc").write_bytes(content)
    assert run_python(["bad.pyc"], tmp_path).returncode != 0
    proc = run_triscope(["--cpu", "bad.pyc"], tmp_path)
    assert proc.returncode == 2, describe(proc)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("triscope: "), describe(proc)


def test_a_program_read_through_a_pipe_path_runs(tmp_path):
    """`python /dev/stdin < prog` (or bash's <(...)): a path that is no regular file."""
    plain = run_python(["/dev/stdin", "y"], tmp_path, input=LOOP_PROGRAM)
    proc = run_triscope(["--cpu", "/dev/stdin", "y"], tmp_path, input=LOOP_PROGRAM)
    assert plain.returncode == 0 and proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)


def test_code_named_after_a_fifo_does_not_hold_the_exit(tmp_path):
    """The writer reads the files the profile reports; one that is a fifo (a code object
    may be compiled under any name) would wait for a writer forever: it is not read."""
    fifo = tmp_path / "named_pipe"
    os.mkfifo(fifo)
    (tmp_path / "prog.py").write_text(
        "code = 'total = 0\\nfor i in range(3_000_000):\\n    total += i\\n'\n"
        f"exec(compile(code, {str(fifo)!r}, 'exec'))\n"
        "print('ran')\n")
    proc = run_triscope(["--cpu", "prog.py"], tmp_path, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "ran\n", describe(proc)
    entry = load_profile(tmp_path / "profile.json")["files"][str(fifo)]
    assert any(line["cpu_s"] > 0 for line in entry["lines"]), entry
    assert all(line["source"] == "" for line in entry["lines"]), entry


SHOWS_ITS_COMMAND = "import sys\nprint(sys.orig_argv, sys.argv)\n"


@pytest.mark.parametrize("flags", [[], ["-X", "dev", "-O"], ["-BWignore"],
                                   ["--check-hash-based-pycs", "always"]],
                         ids=["none", "separate", "joined", "long"])
@pytest.mark.parametrize("mode", [["--cpu"], []], ids=["cpu", "default"])
@pytest.mark.parametrize("form", ["script", "module"])
def test_sys_orig_argv_is_plain_pythons(tmp_path, flags, mode, form):
    """sys.orig_argv is the interpreter, its own options and the program's words, as plain
    python gives it, not the launcher's command line (-m triscope, triscope's options, or
    the re-execution's __main__.py); sys.argv too."""
    (tmp_path / "shows.py").write_text(SHOWS_ITS_COMMAND)
    program = ["-m", "shows"] if form == "module" else ["shows.py"]
    plain = subprocess.run([sys.executable, *flags, *program, "x", "y z"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    proc = subprocess.run([sys.executable, *flags, "-m", "triscope", *mode, *program, "x",
                           "y z"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0 == proc.returncode, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)
