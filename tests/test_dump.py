"""`triscope dump PID`: every thread's Python stack of a running process, read from outside.

The target (tests/workloads/dump_target.py) runs plain, or under triscope, blocked: its main
thread in f → g → h reading a pipe, a thread named "worker" in a lock's acquire. Each dump is
the real CLI in a subprocess. Readiness: the target prints "ready" just before calling f, and
the dump is repeated until each thread is seen in its innermost function (each is one line
long, so the line is then known): a condition, not a sleep. Then the failures, one line and
exit status 2 each: another Python version, not a Python process, no such process, another
user's process.
"""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import _child_env, marker_lineno, run_triscope, workload

TARGET = workload("dump_target.py")
# A dump that cannot see the blocked threads within this long has failed.
SETTLE_S = 60


def start(cmd, cwd):
    proc = subprocess.Popen(cmd, cwd=cwd, env=_child_env(None), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    line = proc.stdout.readline()
    if line != b"ready\n":
        proc.kill()
        raise AssertionError((line, proc.communicate(timeout=60)))
    return proc


@pytest.fixture
def target(request, tmp_path):
    """The target process, plain (param None) or under triscope (param "triscope")."""
    cmd = [sys.executable]
    if request.param == "triscope":
        cmd += ["-m", "triscope", "-o", str(tmp_path / "profile.json")]
    proc = start(cmd + [str(TARGET)], tmp_path)
    yield proc
    proc.kill()
    proc.wait()


def innermost(dump):
    by_role = {}
    for thread in dump["threads"]:
        role = "main" if thread["main"] else thread["name"]
        by_role[role] = thread["frames"][0]["function"] if thread["frames"] else None
    return by_role


def settled_dump(pid, cwd):
    """The first dump showing the main thread in h and the worker in `locked`."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        done = run_triscope(["dump", pid, "--json"], cwd)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        dump = json.loads(done.stdout)
        seen = innermost(dump)
        if seen.get("main") == "h" and seen.get("worker") == "locked":
            return dump
        assert time.monotonic() < deadline, seen


def frames_of(dump, role):
    [thread] = [t for t in dump["threads"]
                if (t["main"] if role == "main" else t["name"] == role)]
    return thread


@pytest.mark.parametrize("target", [None, "triscope"], indirect=True,
                         ids=["plain", "under-triscope"])
def test_dump_shows_each_thread_stack(target, tmp_path):
    # GIVEN a process blocked in known places, WHEN dumped (JSON)
    dump = settled_dump(target.pid, tmp_path)
    # THEN the header facts
    assert dump["pid"] == target.pid
    assert dump["command"][-1] == str(TARGET)
    assert dump["python"] == "%d.%d.%d" % sys.version_info[:3]
    assert dump["profiled_by_triscope"] is (target.args[1:3] == ["-m", "triscope"])
    # AND the main thread: h, g, f, <module>, innermost first, each on its marked line
    main = frames_of(dump, "main")
    assert main["native_id"] == target.pid
    assert main["holds_gil"] is False  # blocked in read(2), the GIL released
    expected = [("h", "read"), ("g", "g-calls-h"), ("f", "f-calls-g"),
                ("<module>", "module-calls-f")]
    got = [(frame["function"], frame["file"], frame["line"])
           for frame in main["frames"][:len(expected)]]
    assert got == [(name, str(TARGET), marker_lineno(TARGET, marker))
                   for name, marker in expected]
    # AND the worker: named by its comm, in `locked` called from worker, then threading's
    worker = frames_of(dump, "worker")
    assert worker["native_id"] != target.pid
    assert worker["holds_gil"] is False
    assert [(frame["function"], frame["line"]) for frame in worker["frames"][:2]] == [
        ("locked", marker_lineno(TARGET, "acquire")),
        ("worker", marker_lineno(TARGET, "worker-calls-locked"))]
    assert worker["frames"][-1]["function"] == "Thread._bootstrap"


@pytest.mark.parametrize("target", [None, "triscope"], indirect=True,
                         ids=["plain", "under-triscope"])
def test_text_dump(target, tmp_path):
    # GIVEN the same process settled (seen through JSON), WHEN dumped as text
    settled_dump(target.pid, tmp_path)
    done = run_triscope(["dump", target.pid], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # THEN a header, then each thread and its frames, innermost first
    # (under triscope the command line is the one triscope re-executed itself with)
    assert lines[0].startswith(f"Process {target.pid}: {sys.executable} ")
    assert lines[0].endswith(f" {TARGET}")
    profiled = "profiled" if target.args[1:3] == ["-m", "triscope"] else "not profiled"
    assert lines[1].startswith("Python %d.%d.%d (" % sys.version_info[:3])
    assert lines[1].endswith(f"), {profiled} by triscope")
    main_at = lines.index(next(line for line in lines
                               if line.startswith(f"Thread {target.pid} ")))
    assert lines[main_at].endswith("(main thread)")
    assert lines[main_at + 1:main_at + 3] == [
        f"    h ({TARGET}:{marker_lineno(TARGET, 'read')})",
        f"    g ({TARGET}:{marker_lineno(TARGET, 'g-calls-h')})"]
    worker_at = lines.index(next(line for line in lines if '"worker"' in line))
    assert lines[worker_at + 1] == f"    locked ({TARGET}:{marker_lineno(TARGET, 'acquire')})"


def test_dump_while_a_thread_runs(tmp_path):
    """A thread calling a function in a loop changes its stack under the reader: the dump
    retries until two walks agree, and shows it in its loop or in the function it calls."""
    proc = start([sys.executable, str(TARGET), "spin"], tmp_path)
    try:
        dump = settled_dump(proc.pid, tmp_path)
        spinner = frames_of(dump, "spinner")
        # A running frame may be caught at its first instruction (RESUME, on the `def`
        # line) or at the loop's jump back (on the `while` line): the line above each mark.
        lines = {"step": marker_lineno(TARGET, "step"),
                 "spin": marker_lineno(TARGET, "spin-calls-step")}
        functions = [frame["function"] for frame in spinner["frames"]]
        assert functions[:2] in (["step", "spin"], ["spin", "Thread.run"]), functions
        for frame in spinner["frames"][:functions.index("spin") + 1]:
            marked = lines[frame["function"]]
            assert frame["line"] in (marked, marked - 1), frame
        # The GIL is the spinner's or free at any instant: never a blocked thread's.
        assert frames_of(dump, "main")["holds_gil"] is False
        assert frames_of(dump, "worker")["holds_gil"] is False
    finally:
        proc.kill()
        proc.wait()


def other_minor_python():
    """A CPython 3.11+ of another major.minor than this one, from pyenv or PATH, or None."""
    mine = "%d.%d" % sys.version_info[:2]
    for minor in ("3.12", "3.11", "3.13", "3.14", "3.15"):
        if minor == mine:
            continue
        for candidate in sorted(Path.home().glob(f".pyenv/versions/{minor}.*/bin/python{minor}"),
                                reverse=True) + [shutil.which(f"python{minor}")]:
            if candidate and subprocess.run([str(candidate), "-c", ""],
                                            capture_output=True).returncode == 0:
                return str(candidate), minor
    return None


def test_other_python_version_is_one_line(tmp_path):
    found = other_minor_python()
    if found is None:
        pytest.skip("no CPython of another version here")
    python, minor = found
    # GIVEN a process of another Python version, WHEN dumped
    proc = start([python, "-c", "import os; r, w = os.pipe(); print('ready', flush=True); "
                  "os.read(r, 1)"], tmp_path)
    try:
        done = run_triscope(["dump", proc.pid], tmp_path)
    finally:
        proc.kill()
        proc.wait()
    # THEN one line naming both versions and the Python to use
    assert done.returncode == 2
    assert done.stdout == ""
    mine = "%d.%d.%d" % sys.version_info[:3]
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"triscope: error: process {proc.pid} runs Python {minor}.")
    assert f"this triscope runs on Python {mine}" in done.stderr
    assert f"python{minor} -m triscope dump {proc.pid}" in done.stderr


def test_not_a_python_process(tmp_path):
    sleeper = subprocess.Popen(["sleep", "100"])
    try:
        done = run_triscope(["dump", sleeper.pid], tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (f"triscope: error: process {sleeper.pid} is not a Python process "
                           "(neither its executable nor a libpython it maps exports "
                           "_PyRuntime)\n")


def test_no_such_process(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    done = run_triscope(["dump", gone.pid], tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"triscope: error: no process {gone.pid}\n"
    for nonsense in ("0", "99999999999"):
        done = run_triscope(["dump", nonsense], tmp_path)
        assert (done.returncode, done.stderr) == (2, f"triscope: error: no process {nonsense}\n")


AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
needs_nobody = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                  reason="needs root and setpriv to run as user nobody")


def dump_as_nobody(target_cmd):
    """Starts `target_cmd`, dumps it as user nobody (no capabilities left), ends it; returns
    the dump's CompletedProcess and the target's pid."""
    if subprocess.run(AS_NOBODY + [sys.executable, "-c", ""], cwd="/").returncode != 0:
        pytest.skip("this Python cannot be run by user nobody (its files are private)")
    proc = start(target_cmd, "/")
    try:
        return subprocess.run(AS_NOBODY + [sys.executable, "-m", "triscope", "dump",
                                           str(proc.pid)],
                              cwd="/", env=_child_env(None), capture_output=True, text=True,
                              timeout=120), proc.pid
    finally:
        proc.kill()
        proc.wait()


@needs_nobody
def test_another_users_process_is_one_line():
    # GIVEN a root process, WHEN a dump runs as nobody
    done, pid = dump_as_nobody([sys.executable, str(TARGET)])
    # THEN one line saying why, naming the capability that would allow it
    assert done.returncode == 2, done
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"triscope: error: not allowed to read process {pid}: "
                                  f"process {pid} belongs to another user (uid 0)")
    assert "CAP_SYS_PTRACE" in done.stderr


UNDUMPABLE = ("import ctypes, time\n"
              "ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE: 0\n"
              "print('ready', flush=True)\n"
              "time.sleep(120)\n")


@needs_nobody
def test_a_refusal_of_the_same_user_is_not_called_another_users():
    """The kernel refuses an undumpable process even to its own user: the line must not send
    the user looking for another owner (as it did when root was refused process 1)."""
    # GIVEN a process of user nobody that made itself undumpable, WHEN nobody dumps it
    done, _ = dump_as_nobody(AS_NOBODY + [sys.executable, "-c", UNDUMPABLE])
    # THEN one line that says the user was the same and names the likely causes
    assert done.returncode == 2, done
    assert done.stderr.count("\n") == 1, done.stderr
    assert "another user" not in done.stderr
    assert "the kernel refused although triscope runs as the same user" in done.stderr
    assert "undumpable" in done.stderr
