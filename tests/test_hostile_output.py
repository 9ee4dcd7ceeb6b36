"""Hostile outputs (issue 13): `-o` naming something that is not a regular file, programs
that crash or drop their privileges, and programs that replace themselves with exec.

The rules tested here are in docs/ARCHITECTURE.md ("Output, exec, crashes and privileges"):
only a regular file is replaced atomically (a symlink is followed to its target); devices,
fifos and /dev/fd/N are written in place, and never opened before the program ends (a fifo
without a reader would hang); a profile that cannot go where it was asked goes to the
temporary directory, and stderr names it. Device nodes of this machine are never put at risk:
as root, the tests make their own nodes (same major and minor as /dev/null and /dev/full)
inside tmp_path and check them by stat before and after.
"""
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import (DEFAULT_TIMEOUT, _child_env, describe, load_profile, run_python,
                      run_triscope)

PROGRAM = ("import sys\n"
           "def work():\n"
           "    total = 0\n"
           "    for i in range(300000): total += i\n"
           "    return total\n"
           "print('result', work())\n")


def _program(tmp_path, text=PROGRAM, name="prog.py"):
    script = tmp_path / name
    script.write_text(text)
    return script


def _written_to(stderr):
    """The paths that stderr says a profile was written to."""
    return [line.split("profile written to ", 1)[1].strip()
            for line in stderr.splitlines() if "profile written to " in line]


def _beside(stderr, what=""):
    """The path where stderr says an output went instead ("...; the profile is in X")."""
    found = [line.rsplit(" is in ", 1)[1].strip() for line in stderr.splitlines()
             if line.startswith("triscope: ") and f"{what} is in " in line]
    assert len(found) == 1, stderr
    return Path(found[0])


def _device(tmp_path, name, major, minor):
    """A character device like /dev/<name>: a node of our own in tmp_path as root (so that a
    regression cannot destroy the machine's), the real one otherwise (then it cannot be
    replaced by us anyway)."""
    if os.geteuid() != 0:
        return Path("/dev") / name
    node = tmp_path / name
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    return node


def _identity(path):
    info = os.lstat(path)
    return stat.S_IFMT(info.st_mode), info.st_rdev, info.st_ino


# ==== Item 10: -o on something that is not a regular file ====

def test_symlink_output_writes_its_target(tmp_path):
    """-o link.json -> target.json: the target gets the profile, the link stays a link."""
    script = _program(tmp_path)
    target = tmp_path / "target.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to("target.json")
    proc = run_triscope(["-o", link, script], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert link.is_symlink() and os.readlink(link) == "target.json"
    profile = load_profile(target)
    assert profile["program"].endswith("prog.py")
    # The HTML report is named after the name asked for, as profile.json gives profile.html.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.html", "link.json", "prog.py",
                                                            "target.json"]


def test_dangling_symlink_output_creates_its_target(tmp_path):
    script = _program(tmp_path)
    link = tmp_path / "link.json"
    link.symlink_to("made.json")
    proc = run_triscope(["-o", link, script], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert link.is_symlink()
    load_profile(tmp_path / "made.json")


@pytest.mark.parametrize("suffix,options", [(".json", []), (".html", []), (".txt", []),
                                            ("", ["--json"])])
def test_fifo_without_reader_never_hangs(tmp_path, suffix, options):
    """The program runs at once (nothing opens the fifo before it), and the output that
    finds no reader at the end goes to the temporary directory, named on stderr."""
    script = _program(tmp_path)
    fifo = tmp_path / f"out{suffix}"
    os.mkfifo(fifo)
    plain = run_python([script], tmp_path)
    proc = run_triscope([*options, "-o", fifo, script], tmp_path, timeout=60)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout
    assert "Traceback" not in proc.stderr, describe(proc)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    beside = _beside(proc.stderr)
    try:
        assert str(fifo) in proc.stderr
        text = beside.read_text()
        if suffix == ".json" or options:
            load_profile(beside)
        elif suffix == ".html":
            assert text.lstrip().lower().startswith("<!doctype html")
        else:
            assert "prog.py" in text
    finally:
        beside.unlink()


def test_fifo_with_reader_gets_the_profile(tmp_path):
    script = _program(tmp_path)
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    received = []

    def read():
        with open(fifo, "rb") as stream:
            received.append(stream.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc = run_triscope(["-o", fifo, script], tmp_path, timeout=60)
    reader.join(30)
    assert proc.returncode == 0, describe(proc)
    assert received and json.loads(received[0])["schema"] == "triscope/2", describe(proc)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("options", [["--json"], []])
def test_dev_null_stays_a_device(tmp_path, options):
    script = _program(tmp_path)
    null = _device(tmp_path, "null", 1, 3)
    before = _identity(null)
    proc = run_triscope([*options, "-o", null, script], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert _identity(null) == before
    assert stat.S_ISCHR(before[0])
    assert "Traceback" not in proc.stderr and " is in " not in proc.stderr, describe(proc)
    expected = {"prog.py", "profile.html"} | ({"profile.json"} if not options else set())
    if null.parent == tmp_path:
        expected.add("null")
    assert {p.name for p in tmp_path.iterdir()} == expected


def test_real_dev_null_is_written_in_place(tmp_path):
    script = _program(tmp_path)
    before = os.stat("/dev/null")
    proc = run_triscope(["--json", "-o", "/dev/null", script], tmp_path)
    after = os.stat("/dev/null")
    assert proc.returncode == 0, describe(proc)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino


@pytest.mark.parametrize("options", [["--json"], ["--html"], []])
def test_dev_full_sends_the_profile_beside(tmp_path, options):
    """Writing fails (ENOSPC): stderr says so and where the profile went instead."""
    script = _program(tmp_path)
    full = _device(tmp_path, "full", 1, 7)
    before = _identity(full)
    plain = run_python([script], tmp_path)
    proc = run_triscope([*options, "-o", full, script], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout
    assert _identity(full) == before
    assert "Traceback" not in proc.stderr, describe(proc)
    assert os.strerror(28) in proc.stderr, describe(proc)
    beside = _beside(proc.stderr)
    try:
        if options == ["--json"]:
            load_profile(beside)
        else:
            assert beside.stat().st_size > 0
    finally:
        beside.unlink()


def test_dev_fd_of_a_pipe_gets_the_profile(tmp_path):
    script = _program(tmp_path)
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "triscope", "--json", "-o", f"/dev/fd/{write_end}", script],
            cwd=tmp_path, env=_child_env(None), pass_fds=(write_end,),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.close(write_end)
        write_end = None
        with os.fdopen(read_end, "rb") as stream:
            read_end = None
            data = stream.read()
        out, err = proc.communicate(timeout=DEFAULT_TIMEOUT)
    finally:
        for fd in (read_end, write_end):
            if fd is not None:
                os.close(fd)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    profile = json.loads(data)
    assert profile["schema"] == "triscope/2" and profile["program"].endswith("prog.py")


def test_block_device_is_refused_up_front(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to make a block device node")
    script = _program(tmp_path, "open('ran', 'w').close()\n")
    node = tmp_path / "disk"
    os.mknod(node, stat.S_IFBLK | 0o600, os.makedev(7, 250))
    proc = run_triscope(["--json", "-o", node, script], tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, describe(proc)
    assert len(lines) == 1 and lines[0].startswith("triscope: error:"), describe(proc)
    assert not (tmp_path / "ran").exists()
    assert stat.S_ISBLK(os.lstat(node).st_mode)


# ==== Item 11: crashes and privilege drops ====

CRASHING = ("import ctypes, os, sys, time\n"
            "{prelude}\n"
            "def wait(seconds):\n"
            "    end = time.monotonic() + seconds\n"
            "    while time.monotonic() < end:\n"
            "        time.sleep(0.05)\n"
            "wait(float(sys.argv[1]))\n"
            "print('crashing', flush=True)\n"
            "if sys.argv[2] == 'segv':\n"
            "    ctypes.string_at(0)\n"
            "else:\n"
            "    os.abort()\n")
# Past the second checkpoint (launch.FIRST_CHECKPOINT_SECONDS after the start, twice that
# after the first), with room for a slow machine; and past the first only.
LONG_ENOUGH = "4.5"
PAST_THE_FIRST = "1.6"


def _crash(tmp_path, how, seconds, prelude=""):
    script = _program(tmp_path, CRASHING.format(prelude=prelude), "crash.py")
    # Plain, the wait changes nothing the test compares (status, output, the fault's report).
    plain = run_python([script, "0", how], tmp_path)
    proc = run_triscope([script, seconds, how], tmp_path)
    assert proc.returncode == plain.returncode < 0, describe(proc)
    assert proc.stdout == plain.stdout
    return script, plain, proc


@pytest.mark.parametrize("seconds,kept", [(LONG_ENOUGH, 2.5), (PAST_THE_FIRST, 0.9)],
                         ids=["second-checkpoint", "first-checkpoint"])
@pytest.mark.parametrize("how", ["segv", "abort"])
def test_crash_after_a_checkpoint_leaves_the_profile(tmp_path, how, seconds, kept):
    """A crash loses the time since the last checkpoint: the first comes a second into the
    run, the next ones twice as far apart each time (up to 10 s). They used to begin 10 s
    in: a program that crashed sooner lost its whole profile."""
    script, _, proc = _crash(tmp_path, how, seconds)
    profile = load_profile(tmp_path / "profile.json")
    assert profile["program"] == str(script)
    assert profile["elapsed_s"] >= kept, profile["elapsed_s"]
    assert str(tmp_path / "profile.json") in proc.stderr, describe(proc)
    # The checkpoint files had no names: nothing else is left.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crash.py", "profile.json"]


def test_short_crash_touches_nothing(tmp_path):
    """No checkpoint before the first period: the crash is as without triscope."""
    (tmp_path / "profile.json").write_text("previous")
    _crash(tmp_path, "segv", "0")
    assert (tmp_path / "profile.json").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crash.py", "profile.json"]


def test_faulthandler_report_still_appears(tmp_path):
    script, plain, proc = _crash(tmp_path, "segv", LONG_ENOUGH,
                                 prelude="import faulthandler; faulthandler.enable()")
    assert "Fatal Python error: Segmentation fault" in plain.stderr
    program_lines = [line for line in plain.stderr.splitlines()
                     if "Fatal Python error" in line or str(script) in line]
    assert len(program_lines) >= 2, plain.stderr
    for line in program_lines:
        assert line in proc.stderr, describe(proc)
    load_profile(tmp_path / "profile.json")


@pytest.mark.parametrize("existing", [True, False])
def test_privilege_drop_keeps_the_profile(tmp_path, existing):
    """Run as root, an existing output is kept open: written in place once the program has
    become nobody, who may not write (or even enter) the directory. A new one, and the HTML
    report, go to the temporary directory, named on stderr."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges")
    script = _program(tmp_path, "import os\nos.setgid(65534)\nos.setuid(65534)\n" + PROGRAM)
    if existing:
        (tmp_path / "profile.json").write_text("previous")
    plain = run_python([script], tmp_path)
    proc = run_triscope([script], tmp_path)
    assert proc.returncode == 0 == plain.returncode, describe(proc)
    assert proc.stdout == plain.stdout
    assert "Traceback" not in proc.stderr and "error" not in proc.stderr, describe(proc)
    report = _beside(proc.stderr, "the report")
    try:
        if existing:  # kept open from the start, written in place
            assert "the profile is in" not in proc.stderr, describe(proc)
            profile_path = tmp_path / "profile.json"
        else:  # nothing to keep open: the temporary directory
            profile_path = _beside(proc.stderr, "the profile")
        assert load_profile(profile_path)["program"] == str(script)
        assert report.read_text().lstrip().lower().startswith("<!doctype html")
    finally:
        report.unlink()
        if not existing:
            profile_path.unlink()


def test_privilege_drop_os_does_not_see_keeps_the_profile(tmp_path):
    """A C library's own setuid() (here through ctypes) is not one of os's functions: when
    only root may read triscope's installation, the end can no longer import the reports.
    The profile is still written in place (the existing output, kept open from the start),
    and one line says why there are no reports and how to make them: never a traceback."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop privileges")
    script = _program(tmp_path, "import ctypes\nlibc = ctypes.CDLL(None)\n"
                                "assert libc.setgid(65534) == 0 and libc.setuid(65534) == 0\n"
                      + PROGRAM)
    (tmp_path / "profile.json").write_text("previous")
    plain = run_python([script], tmp_path)
    proc = run_triscope(["--cpu", script], tmp_path)
    assert proc.returncode == 0 == plain.returncode, describe(proc)
    assert proc.stdout == plain.stdout
    assert "Traceback" not in proc.stderr, describe(proc)
    assert load_profile(tmp_path / "profile.json")["program"] == str(script)
    from triscope import launch
    if not launch._open_to_every_user([launch.OWN_DIR, *sys.path]):
        said = [line for line in proc.stderr.splitlines()
                if line.startswith("triscope: the reports were not written")]
        assert len(said) == 1 and str(tmp_path / "profile.json") in said[0], describe(proc)


# ==== Item 6: exec ====

BEFORE_EXEC = ("import os, sys\n"
               "def work_before():\n"
               "    total = 0\n"
               "    for i in range(2000000): total += i\n"
               "    return total\n"
               "print('before', work_before(), flush=True)\n"
               "{exec_call}\n")
AFTER_EXEC = ("import json, os, sys\n"
              "def work_after():\n"
              "    total = 0\n"
              "    for i in range(2000000): total += i\n"
              "    return total\n"
              "print('after', sys.argv[1:], work_after())\n"
              "print(json.dumps(sorted(os.environ) if os.environ.get('SHOW_ENV') else None))\n"
              "sys.exit(3)\n")
EXEC_CALLS = {
    "execv": "os.execv(sys.executable, [sys.executable, 'after.py', 'x'])",
    "execl": "os.execl(sys.executable, sys.executable, 'after.py', 'x')",
    "execvp": "os.execvp(os.path.basename(sys.executable), "
              "[sys.executable, 'after.py', 'x'])",
    "execve, fresh environment": "os.execve(sys.executable, [sys.executable, 'after.py', 'x'],"
                                 " {'SHOW_ENV': '1', 'PATH': os.environ['PATH']})",
}


def _triscope_dirs():
    import tempfile
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("triscope-")}


def _run_leaving(args, cwd, env=None):
    """run_triscope(args), and the temporary directories of the run's process it left behind:
    new since it began (a directory an earlier, killed run of a process with the same pid
    left is not this run's)."""
    before = _triscope_dirs()
    proc = run_triscope(args, cwd, env=env)
    pid = next(line.split()[1] for line in proc.stderr.splitlines()
               if line.startswith("process ") and "(while a run goes on" in line)
    return proc, sorted(name for name in _triscope_dirs() - before
                        if name.startswith(f"triscope-{pid}-"))


@pytest.mark.parametrize("call", sorted(EXEC_CALLS))
def test_exec_of_python_continues_the_profile(tmp_path, call):
    """The exec'd Python profiles itself and, at its exit, writes the run's outputs with what
    was profiled before the exec merged in; `processes` shows the exec."""
    script = _program(tmp_path, BEFORE_EXEC.format(exec_call=EXEC_CALLS[call]))
    _program(tmp_path, AFTER_EXEC, "after.py")
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    plain = run_python([script], tmp_path, env=env)
    proc, leftovers = _run_leaving(["--cli", script], tmp_path, env=env)
    assert proc.returncode == plain.returncode == 3, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)
    assert "Traceback" not in proc.stderr, describe(proc)
    profile = load_profile(tmp_path / "profile.json")
    assert profile["program"] == str(script)
    processes = profile["processes"]
    assert [p.get("via") for p in processes] == [None, "exec"], processes
    assert processes[0]["pid"] == processes[1]["pid"]
    assert processes[1]["args"][-1] == "x"
    assert {str(script), str(tmp_path / "after.py")} <= set(profile["files"])
    assert leftovers == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["after.py", "profile.json",
                                                            "prog.py"]


def _profile_written_before(tmp_path, exec_call, status):
    """BEFORE_EXEC ending in `exec_call`, run plain and under triscope: the same status and
    stdout, the profile of what ran before the exec written, no directory left; the profile."""
    script = _program(tmp_path, BEFORE_EXEC.format(exec_call=exec_call))
    plain = run_python([script], tmp_path)
    proc, leftovers = _run_leaving(["--cli", script], tmp_path)
    assert proc.returncode == plain.returncode == status, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)
    profile = load_profile(tmp_path / "profile.json")
    assert profile["program"] == str(script) and str(script) in profile["files"]
    assert leftovers == []
    return profile


def test_exec_of_another_program_writes_the_profile_first(tmp_path):
    _profile_written_before(tmp_path, "os.execv('/bin/sh', ['sh', '-c', 'echo after; exit 4'])", 4)


@pytest.mark.parametrize("options", [["-E"], ["-W", "ignore", "-E"], ["-X", "dev", "-sI"],
                                     ["--check-hash-based-pycs", "default", "-S"]],
                         ids=" ".join)
def test_exec_of_a_python_that_skips_the_hook_writes_the_profile_first(tmp_path, options):
    """A Python exec'd with -E, -I or -S never runs the hook that would continue the profile:
    the profile is written before the exec, as for another program. An option taking the
    next word as its value (-W ignore) used to hide the -E after it: the launcher handed the
    profile over to an image that never took it, and no profile was written."""
    _program(tmp_path, AFTER_EXEC, "after.py")
    profile = _profile_written_before(
        tmp_path, f"os.execv(sys.executable, [sys.executable, *{options!r}, 'after.py', 'x'])", 3)
    assert str(tmp_path / "after.py") not in profile["files"]


def test_failed_exec_keeps_profiling(tmp_path):
    """An exec that fails (here: not an executable format) raises as without triscope; the
    program goes on, profiled, and the profile holds both parts."""
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x7fELF not really")
    bad.chmod(0o755)
    script = _program(tmp_path, BEFORE_EXEC.format(exec_call=(
        "try:\n"
        "    os.execv(%r, [%r])\n"
        "except OSError as error:\n"
        "    print('failed', error.errno)\n"
        "print('after', work_before())\n") % (str(bad), str(bad))))
    plain = run_python([script], tmp_path)
    proc, leftovers = _run_leaving(["--cli", script], tmp_path)
    assert proc.returncode == plain.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)
    load_profile(tmp_path / "profile.json")
    assert leftovers == []
