"""The launcher and child processes against hostile surroundings (issue 13, items 1, 7, 8, 15
and 16): modules in the working directory or the program's directory named like the modules
triscope imports, pytest run with warnings as errors, a foreign or differently configured
Python child, leftover temporary directories, children given a cleared environment; and
what the program and its children see of triscope in os.environ and sys.path (nothing).

Each program runs under plain python and under triscope: the same stdout and exit status.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import describe, load_profile, program_stderr, run_python, run_triscope

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
    assert_prints_as_plain_python(target, cwd, memory)


@pytest.mark.parametrize("memory", [True, False], ids=["re-executed", "in-place"])
@pytest.mark.parametrize("flags, env", [
    (["-X", "utf8", "-W", "ignore::UserWarning", "-O"], {}),
    ([], {"PYTHONWARNINGS": "ignore::DeprecationWarning", "PYTHONOPTIMIZE": "1"}),
], ids=["command-line", "environment"])
def test_program_sees_the_interpreter_flags_of_plain_python(tmp_path, flags, env, memory):
    """Interpreter options reach the program as plain python gives them, from the command
    line or from the environment, and the re-executed image does not get the environment's
    twice (its warnoptions once from PYTHONWARNINGS and again as -W)."""
    (tmp_path / "probe.py").write_text(PROBE)
    options = ["--cli"] + ([] if memory else ["--cpu"])
    plain = run_python([*flags, "probe.py"], tmp_path, env=env)
    profiled = run_python([*flags, "-m", "triscope", *options, "probe.py"], tmp_path, env=env)
    assert plain.returncode == 0 and profiled.returncode == 0, describe(profiled)
    assert profiled.stdout == plain.stdout, describe(profiled)


def assert_prints_as_plain_python(target, cwd, memory):
    """`target` prints the same under `python -m triscope` and the console script (with
    memory: re-executed under the allocator library) as under plain python."""
    options = ["--cli"] + ([] if memory else ["--cpu"])
    plain = run_python(target, cwd)
    assert plain.returncode == 0, describe(plain)
    for run in (run_triscope, run_console_script):
        proc = run([*options, *target], cwd)
        assert proc.returncode == 0, describe(proc)
        assert proc.stdout == plain.stdout, f"{run.__name__}:\n{describe(proc)}"


STACK_PROBE = """\
import inspect, sys, traceback, tracemalloc
print([(f.name, f.lineno) for f in traceback.extract_stack()])
print(len(inspect.stack()))
def deepest(n):
    try:
        return deepest(n + 1)
    except RecursionError:
        return n
print(deepest(0))
tracemalloc.start(50)
kept = [bytearray(10) for _ in range(10)]
print(max(len(t.traceback) for t in tracemalloc.take_snapshot().traces))
"""


@pytest.mark.parametrize("memory", [True, False], ids=["re-executed", "in-place"])
@pytest.mark.parametrize("mode", ["script", "module"])
def test_program_sees_the_stack_of_plain_python(tmp_path, mode, memory):
    """The program's frames start where plain python's do: no launcher frame below them in
    tracebacks, inspect.stack() or tracemalloc's tracebacks (a program that keeps deep
    tracebacks ran 5x slower under triscope, its six extra frames in every one), and the
    recursion it can reach is plain python's (it was 7 calls short)."""
    if mode == "script":
        (tmp_path / "probe.py").write_text(STACK_PROBE)
        target = ["probe.py"]
    else:
        (tmp_path / "probe_mod.py").write_text(STACK_PROBE)
        target = ["-m", "probe_mod"]
    assert_prints_as_plain_python(target, tmp_path, memory)


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


# ==== Item 8: foreign Python children; an existing sitecustomize ====

CHILD_HOOK = Path(__file__).resolve().parent.parent / "src" / "triscope" / "_child" / \
    "sitecustomize.py"
PYENV = Path.home() / ".pyenv" / "versions"


def foreign_pythons():
    """Interpreters this build of triscope cannot run in: Python 2, older and newer 3.x."""
    found = []
    for version in ("2.7", "3.10", "3.12", "3.13"):
        if version == "%d.%d" % sys.version_info[:2]:
            continue
        for candidate in sorted(PYENV.glob(f"{version}.*/bin/python")):
            found.append(pytest.param(str(candidate), id=f"python{version}"))
            break
    return found or [pytest.param(None, marks=pytest.mark.skip("no foreign Python here"))]


def test_child_hook_parses_as_python_2():
    """Every Python inherits PYTHONPATH: the hook must parse in any of them."""
    source = CHILD_HOOK.read_bytes()
    source.decode("ascii")  # Python 2 refuses a non-ASCII file without a coding line
    python2 = sorted(PYENV.glob("2.7.*/bin/python"))
    if python2:
        check = f"compile(open({str(CHILD_HOOK)!r}).read(), 'sitecustomize.py', 'exec')"
        proc = subprocess.run([str(python2[0]), "-c", check], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
    else:  # the oldest grammar this Python still knows: no f-strings, no annotations
        import ast
        ast.parse(source, feature_version=(3, 4))


FOREIGN_CHILD = """\
import subprocess, sys
subprocess.run([sys.argv[1], "-c", "print('foreign child ran')"], check=True)
print("parent done")
"""


@pytest.mark.parametrize("python", foreign_pythons())
def test_foreign_python_child_is_silent_and_counted(tmp_path, python):
    (tmp_path / "prog.py").write_text(FOREIGN_CHILD)
    plain = run_python(["prog.py", python], tmp_path)
    assert plain.returncode == 0, describe(plain)
    proc = run_triscope(["-o", "report.txt", "prog.py", python], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout
    # The text report went to report.txt: what is left is the program's and triscope's own.
    assert program_stderr(proc.stderr) == plain.stderr, describe(proc)
    unprofiled = load_profile(tmp_path / "profile.json")["unprofiled_children"]
    assert unprofiled["count"] == 1, unprofiled
    assert "1 child process ran unprofiled" in (tmp_path / "report.txt").read_text()


ENVIRONMENT_SITECUSTOMIZE = """\
import sys
MARK = "the environment's own"
sys.stderr.write("sitecustomize of the environment ran\\n")
"""

CHILD_READS_SITECUSTOMIZE = """\
import subprocess, sys
subprocess.run([sys.executable, "-c",
                "import sitecustomize; print(sitecustomize.MARK)"], check=True)
"""


def test_an_existing_sitecustomize_still_runs_in_children(tmp_path):
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "sitecustomize.py").write_text(ENVIRONMENT_SITECUSTOMIZE)
    (tmp_path / "prog.py").write_text(CHILD_READS_SITECUSTOMIZE)
    env = {"PYTHONPATH": str(site_dir)}
    plain = run_python(["prog.py"], tmp_path, env=env)
    assert plain.returncode == 0, describe(plain)
    # --cpu: no re-execution of the launcher, which would run that sitecustomize twice.
    proc = run_triscope(["--cpu", "-o", "report.txt", "prog.py"], tmp_path, env=env)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout == "the environment's own\n"
    assert program_stderr(proc.stderr) == plain.stderr, describe(proc)
    profile = load_profile(tmp_path / "profile.json")
    assert len(profile["processes"]) == 2, "the child was profiled as well"


# ==== Item 16: children given an environment of their own ====

CLEARED_ENV_CHILD = """\
import os, subprocess, sys
spin = ("import os, sys\\n"
        "total = 0\\n"
        "for i in range(2_000_000): total += i  # @child_spin\\n"
        "print(sorted(os.environ), [p for p in sys.path if 'triscope' in p])\\n")
subprocess.run([sys.executable, "-c", spin], env={"ONLY": "this"}, check=True)
subprocess.run([sys.executable, "-I", "-c", "print('isolated child')"], check=True)
"""


def test_child_with_a_cleared_environment_is_profiled_and_sees_its_environment(tmp_path):
    (tmp_path / "prog.py").write_text(CLEARED_ENV_CHILD)
    plain = run_python(["prog.py"], tmp_path)
    assert plain.returncode == 0, describe(plain)
    proc = run_triscope(["--cli", "--json", "-o", "p.json", "prog.py"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)
    profile = load_profile(tmp_path / "p.json")
    programs = [process["program"] for process in profile["processes"]]
    # The env={} child, named by its command (docs/PROFILE_FORMAT.md), not the -I one.
    children = [program for program in programs if program.startswith("-c")]
    assert len(children) == 1 and "@child_spin" in children[0], programs
    assert profile["unprofiled_children"] == {
        "count": 1, "reasons": {"a Python started with -I ignores triscope's hook": 1}}
    assert "1 child process ran unprofiled: a Python started with -I" in proc.stderr


def test_child_skipping_the_hook_behind_an_option_value_is_counted(tmp_path):
    """-E after an option whose value is the next word (-W ignore) still turns the hook off:
    the child is counted as unprofiled, with why. The value used to end the reading."""
    (tmp_path / "prog.py").write_text(
        "import subprocess, sys\n"
        "subprocess.run([sys.executable, '-W', 'ignore', '-E', '-c', 'print(1)'], check=True)\n")
    proc = run_triscope(["--cpu", "prog.py"], tmp_path)
    assert proc.returncode == 0 and proc.stdout == "1\n", describe(proc)
    assert load_profile(tmp_path / "profile.json")["unprofiled_children"] == {
        "count": 1, "reasons": {"a Python started with -E ignores triscope's hook": 1}}


ENVIRONMENTS = """\
import os, shlex, subprocess, sys
child = [sys.executable, "shows.py"]
exec(open("shows.py").read().replace("sys.argv[1]", "'program'"))
sys.stdout.flush()
subprocess.run([*child, "subprocess"], check=True)
subprocess.run([*child, "given a copy"], env=dict(os.environ, ADDED="1"), check=True)
os.system(shlex.join([*child, "os.system"]))
"""

SHOWS = """\
import os, sys
print(sys.argv[1], sorted(os.environ.items()), sys.path[1:])
sum(i * i for i in range(100_000))
"""


@pytest.mark.parametrize("empty_entry", [False, True], ids=["one-entry", "and-the-cwd"])
@pytest.mark.parametrize("mode", [["--cpu"], []], ids=["cpu", "default"])
def test_the_program_and_its_children_see_plain_pythons_environment(tmp_path, mode,
                                                                     empty_entry):
    """os.environ and sys.path, in the program and in its Python children however they are
    started, are plain python's: triscope's variables and hook live in the C environment
    only (docs/ARCHITECTURE.md, "The launcher and child processes"). They used to show in
    every process's os.environ (TRISCOPE_CHILD_DIR, TRISCOPE_CHILD_OPTIONS, PYTHONPATH with
    the hook) and in the children's sys.path."""
    (tmp_path / "envs.py").write_text(ENVIRONMENTS)
    (tmp_path / "shows.py").write_text(SHOWS)
    # An empty PYTHONPATH entry is the working directory: it stays where it was.
    env = {"PYTHONPATH": (":" if empty_entry else "") + str(tmp_path / "elsewhere")}
    plain = run_python(["envs.py"], tmp_path, env=env)
    proc = run_triscope([*mode, "envs.py"], tmp_path, env=env)
    assert plain.returncode == 0 == proc.returncode, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)
    assert len(load_profile(tmp_path / "profile.json")["processes"]) == 4


SPAWNED_ISOLATED_CHILD = """\
import subprocess, sys
# No close_fds and no restored signals: subprocess starts it with os.posix_spawn where it
# can (3.13 does so for close_fds too).
subprocess.run([sys.executable, "-I", "-c", "print('isolated child')"], check=True,
               close_fds=False, restore_signals=False)
"""


def test_a_child_subprocess_starts_with_posix_spawn_is_counted_once(tmp_path):
    (tmp_path / "prog.py").write_text(SPAWNED_ISOLATED_CHILD)
    proc = run_triscope(["--cli", "--json", "-o", "p.json", "prog.py"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == "isolated child\n"
    profile = load_profile(tmp_path / "p.json")
    assert profile["unprofiled_children"]["count"] == 1, profile["unprofiled_children"]


# ==== Item 15: nothing left in the temporary directory ====

ENDINGS = {
    "normal": "pass",
    "sys.exit": "sys.exit(3)",
    "exception": "raise ValueError('the program failed')",
    "os._exit": "sys.stdout.flush(); os._exit(4)",
    "killed child": ("child = subprocess.Popen([sys.executable, '-c', 'import time; "
                     "time.sleep(60)']); child.send_signal(signal.SIGKILL); child.wait()"),
}


def leftovers(tmp_dir):
    return sorted(p.name for p in Path(tmp_dir).iterdir() if p.name.startswith("triscope-"))


@pytest.mark.parametrize("ending", ENDINGS)
def test_no_temporary_directory_is_left(tmp_path, ending):
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    (tmp_path / "prog.py").write_text(
        "import os, signal, subprocess, sys\n"
        "subprocess.run([sys.executable, '-c', 'pass'], check=True)\n"
        f"{ENDINGS[ending]}\n")
    env = {"TMPDIR": str(own_tmp)}
    plain = run_python(["prog.py"], tmp_path, env=env)
    proc = run_triscope(["--cli", "prog.py"], tmp_path, env=env)
    assert proc.returncode == plain.returncode, describe(proc)
    assert leftovers(own_tmp) == []


@pytest.mark.parametrize("options", [["--cpu-sampling-rate", "0"], ["-o", "missing/dir/x"],
                                     ["--no-such-option"],
                                     # refused up front, or failing as the profile is written
                                     ["--malloc-threshold", "9" * 23]])
def test_no_temporary_directory_is_left_after_an_option_error(tmp_path, options):
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    (tmp_path / "prog.py").write_text(
        "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'pass'])\n")
    proc = run_triscope([*options, "prog.py"], tmp_path, env={"TMPDIR": str(own_tmp)})
    assert leftovers(own_tmp) == [], describe(proc)


# ==== Issue 20, start-up: what the program finds imported ====
# A run imports before its program only what the run needs: the reports are written at exit,
# and the heavy modules triscope once loaded at start (dataclasses' inspect, typing,
# importlib.resources, secrets, hashlib) it no longer uses for a run at all. Checked from inside the program, at
# its first line; what plain python imports there would be no finding.

# The table of call opcodes is built with the extension (tools/call_opcodes_header.py): a
# run no longer imports opcode (and its _opcode library) for it.
NEVER_BEFORE_THE_PROGRAM = {"inspect", "dataclasses", "typing", "importlib.resources",
                            "secrets", "hashlib", "decimal", "pathlib", "urllib.parse",
                            "opcode", "_opcode"}
# What the end alone needs: loaded early only by a root run whose installation other users
# cannot read, and then only as its program gives up root (launch._ready_for_a_privilege_drop);
# before, every such run loaded them before its program (8 ms).
ONLY_THE_END_NEEDS = {"triscope.reports.text", "triscope.reports.display",
                      "triscope.reports.html", "triscope.reports.merge", "triscope.ai_spec",
                      "triscope.regions", "ast", "tokenize"}
# What the launcher needs only once the program uses it, or at exit: the hook on children's
# environments sits below subprocess (which imports selectors, contextlib and signal), the
# one on threads below threading, the SIGTERM handler is set through _signal, fcntl serves
# only an output named /dev/fd/N, the children's options are JSON written by
# triscope.jsoncodec (the json package imports re for patterns its C codec never uses), and
# the library directories (sysconfig) are looked for only when the interpreter's prefixes
# and the program's directory lie one inside the other (not the case in tmp_path).
ONLY_WHEN_USED = {"subprocess", "selectors", "contextlib", "signal", "fcntl", "threading",
                  "json", "sysconfig"}
# What the end of a run without children need not import: merging (and the tools' module it
# imports) when there is nothing to merge, textwrap (the report wraps its prose itself), the
# json package (jsoncodec reads the profile back and writes the page's JSON), unicodedata
# and math (a report of ASCII text needs neither: reports/text.py).
NEVER_AT_A_PLAIN_END = {"triscope.reports.merge", "triscope.reports.common", "textwrap",
                        "json", "json.decoder", "json.encoder", "unicodedata", "math"}
MODULES_PROBE = ("import sys\n"
                 "with open(sys.argv[1], 'w') as out: out.write('\\n'.join(sorted(sys.modules)))\n")
# What parsing a command line with argparse imports. A run reads its options without it
# (options.quick_values) unless they need it (--help, an error, --config); before, a run with
# options imported these before its program (about 8 ms with re and enum), and on 3.14
# argparse's help formatter imports _colorize with dataclasses, inspect, ast and tokenize.
# re, enum and locale come with argparse too; a run no longer imports them before its
# program either (the first-line checks above), and options.py is checked for them on its own
# (test_options.py).
PARSING = {"argparse", "gettext", "textwrap"}


@pytest.mark.parametrize("target", [["probe.py"], ["-m", "probe"]], ids=["script", "module"])
def test_a_default_run_parses_its_options_once(tmp_path, target):
    """`triscope prog.py` (no options: the default run, memory profiled) re-executes under
    the allocator library before parsing anything: the options are imported by the new
    image alone (they were by both, with argparse, 8 ms of every default run), and read
    without argparse."""
    (tmp_path / "probe.py").write_text("print('ran')\n")
    proc = run_triscope(target, tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert proc.returncode == 0 and proc.stdout == "ran\n", describe(proc)
    imported = [line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:") and "|" in line]
    assert imported.count("triscope.cli") == 2, describe(proc)  # both images ran the CLI
    assert imported.count("triscope.options") == 1, describe(proc)
    assert imported.count("triscope.launch") == 1, describe(proc)
    assert "argparse" not in imported, describe(proc)  # nor by the new image
    # Nor the C core: with no LD_PRELOAD of triscope's, the library cannot be in place, and
    # the first image need not load the core to ask (preload.in_place).
    assert imported.count("triscope._native") == 1, describe(proc)


@pytest.mark.parametrize("options", [
    ["--cpu", "--json", "-o", "out.json"],
    ["--cpu", "--cli", "--profile-only", "probe", "--cpu-sampling-rate", "0.005"],
    ["--html", "-o", "out.html", "--no-stacks"],  # memory: parsed before and after re-executing
], ids=" ".join)
def test_a_run_with_options_imports_no_parser(tmp_path, options):
    # GIVEN a program whose first line writes down sys.modules
    (tmp_path / "probe.py").write_text(MODULES_PROBE)
    plain = run_python(["probe.py", "plain.txt"], tmp_path)
    assert plain.returncode == 0, describe(plain)
    # WHEN it runs under triscope with options of a run
    proc = run_triscope([*options, "probe.py", "profiled.txt"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    # THEN it finds neither argparse nor what argparse imports, unless plain python has them
    found = set((tmp_path / "profiled.txt").read_text().split())
    assert "triscope.options" in found  # the probe saw the launcher's process
    plain_has = set((tmp_path / "plain.txt").read_text().split())
    assert (found & PARSING) - plain_has == set(), describe(proc)


@pytest.mark.parametrize("memory", [True, False], ids=["re-executed", "in-place"])
def test_a_run_without_children_ends_without_merging_or_the_json_package(tmp_path, memory):
    # GIVEN a program that starts no child
    (tmp_path / "probe.py").write_text("print('ran')\n")
    # WHEN it runs under triscope, writing the text report, the JSON and the page
    options = [] if memory else ["--cpu"]
    proc = run_triscope([*options, "probe.py"], tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert proc.returncode == 0 and proc.stdout == "ran\n", describe(proc)
    assert (tmp_path / "profile.html").exists(), describe(proc)
    # THEN no interpreter of the run imported what only merging or the json package needs
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "triscope.reports.html" in imported, describe(proc)  # the end was seen
    assert imported & NEVER_AT_A_PLAIN_END == set(), describe(proc)


# What the end of a run that reports a file without a coding comment need not import: the
# source text's decoding without tokenize (triscope.source), the page's code regions without
# the syntax tree (triscope.regions, read by the C core): tokenize and ast pull in re or
# enum (4 and 2.3 ms), and _ast alone made its 120 classes (1.4 ms).
NEVER_FOR_A_PLAIN_FILE = {"tokenize", "ast", "_ast", "enum", "re"}


@pytest.mark.parametrize("memory", [True, False], ids=["re-executed", "in-place"])
def test_a_run_reporting_a_file_ends_without_tokenize_or_ast(tmp_path, memory):
    # GIVEN a program that spends its time in a loop of its own file
    (tmp_path / "busy.py").write_text(
        "import time\n"
        "end = time.process_time() + 0.3\n"
        "while time.process_time() < end:\n"
        "    sum(i * i for i in range(100))\n")
    # WHEN it runs under triscope, writing the text report, the JSON and the page
    options = [] if memory else ["--cpu"]
    proc = run_triscope([*options, "busy.py"], tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert proc.returncode == 0, describe(proc)
    profile = load_profile(tmp_path / "profile.json")
    assert any(path.endswith("busy.py") for path in profile["files"]), describe(proc)
    # THEN the file's text and regions were made without them
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "triscope.regions" in imported, describe(proc)  # the page's regions were made
    assert imported & NEVER_FOR_A_PLAIN_FILE == set(), describe(proc)


@pytest.mark.parametrize("memory", [True, False], ids=["re-executed", "in-place"])
def test_the_program_finds_no_report_module_imported(tmp_path, memory):
    # GIVEN a program whose first line writes down sys.modules
    (tmp_path / "probe.py").write_text(MODULES_PROBE)
    plain = run_python(["probe.py", "plain.txt"], tmp_path)
    assert plain.returncode == 0, describe(plain)
    # WHEN it runs under triscope, in the launcher's process or re-executed for memory
    options = [] if memory else ["--cpu"]
    proc = run_triscope([*options, "probe.py", "profiled.txt"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    # THEN it finds none of the modules only the end needs, or that only a program using
    # them needs, unless plain python has them (or `python -m`'s runpy, which started the
    # in-place run)
    found = set((tmp_path / "profiled.txt").read_text().split())
    assert "triscope.launch" in found  # the probe saw the launcher's process
    expected_absent = NEVER_BEFORE_THE_PROGRAM | ONLY_THE_END_NEEDS | ONLY_WHEN_USED
    plain_has = set((tmp_path / "plain.txt").read_text().split())
    if not memory:
        plain_has |= preloaded_by_python_dash_m(tmp_path)
    unexpected = (found & expected_absent) - plain_has
    assert unexpected == set(), describe(proc)


def test_a_virtualenv_inside_the_program_directory_is_a_library(tmp_path):
    """The C filter reads only library directories inside a program directory, and the
    launcher looks for them (sysconfig) only where one may be: here it must find them."""
    # GIVEN a project whose directory holds the virtual environment it runs with, and a
    # package installed there (triscope reached through a .pth file)
    env = tmp_path / "env"
    made = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    site_packages = next(env.glob("lib/python*/site-packages"))
    ours = [entry for entry in sys.path if entry.endswith("site-packages")]
    (site_packages / "triscope_here.pth").write_text("\n".join(ours) + "\n")
    (site_packages / "busy_library.py").write_text(
        "def work():\n    total = 0\n    for i in range(4_000_000):\n"
        "        total += i % 7\n    return total\n")
    (tmp_path / "prog.py").write_text("import busy_library\nbusy_library.work()\n")
    # WHEN it runs under triscope with that environment's python
    proc = subprocess.run([str(env / "bin" / "python"), "-m", "triscope", "--cpu", "-o",
                           "p.json", "prog.py"], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, describe(proc)
    # THEN the package's lines are a library's, not the program's: its time is the line
    # that called it
    files = load_profile(tmp_path / "p.json")["files"]
    assert not [path for path in files if "busy_library" in path], describe(proc)
    assert any(path.endswith("prog.py") for path in files), describe(proc)


THREADS_PROBE = """\
import _thread, sys, time
import threading

def spin():
    end = time.perf_counter() + 0.05
    while time.perf_counter() < end:
        pass

workers = [threading.Thread(target=spin, name=f"worker-{i}") for i in range(3)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
start = getattr(_thread, "start_joinable_thread", _thread.start_new_thread)
print(type(start).__name__, type(getattr(threading, "_" + start.__name__)).__name__)
"""


def test_threads_are_profiled_with_threading_imported_by_the_program(tmp_path):
    # GIVEN a program that imports threading itself (triscope no longer has) and starts
    # short threads, then looks at the functions threading starts them with
    (tmp_path / "threads.py").write_text(THREADS_PROBE)
    plain = run_python(["threads.py"], tmp_path)
    assert plain.returncode == 0, describe(plain)
    # WHEN it runs under triscope
    proc = run_triscope(["--cpu", "-o", "p.json", "threads.py"], tmp_path)
    # THEN it sees _thread's and threading's own functions, as under plain python, and each
    # thread is in the profile under its name
    assert proc.returncode == 0 and proc.stdout == plain.stdout, describe(proc)
    names = {thread.get("name") for thread in load_profile(tmp_path / "p.json")["threads"]}
    assert {"worker-0", "worker-1", "worker-2"} <= names, describe(proc)
