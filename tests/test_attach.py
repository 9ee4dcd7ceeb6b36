"""`triscope attach PID` (docs/DEFINITIONS.md, "triscope attach"): a plain Python program,
never started under triscope, is profiled from outside through sys.remote_exec (3.14+) and
left as it was found. The target is tests/workloads/attach_target.py, driven through its
stdin; every wait reads a line from a pipe (the target's stdout, the attacher's stderr).
"""
import glob
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest

from conftest import (_child_env, cpu_pct, describe, load_profile, marker_lineno,
                      run_triscope, workload)

TARGET = workload("attach_target.py")
HAS_REMOTE_EXEC = hasattr(sys, "remote_exec")
needs_remote_exec = pytest.mark.skipif(
    not HAS_REMOTE_EXEC, reason="sys.remote_exec (PEP 768) is new in Python 3.14")
LINE_TIMEOUT = 60


class Process:
    """A subprocess whose output is read a line at a time, each wait bounded."""
    started = []  # every one a test started, for end_what_a_test_left

    def __init__(self, args, cwd, env=None, stream="stdout"):
        self.proc = subprocess.Popen(args, cwd=str(cwd), env=_child_env(env),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, bufsize=0)
        self.stream = getattr(self.proc, stream)
        self.seen = b""
        Process.started.append(self.proc)

    def line(self, starting=""):
        """The next line of the stream (the first starting with `starting`)."""
        while True:
            while b"\n" not in self.seen:
                ready = select.select([self.stream], [], [], LINE_TIMEOUT)[0]
                chunk = os.read(self.stream.fileno(), 65536) if ready else b""
                assert chunk, f"no line starting {starting!r}; so far: {self.seen!r}"
                self.seen += chunk
            line, _, self.seen = self.seen.partition(b"\n")
            if line.decode().startswith(starting):
                return line.decode()

    def send(self, command):
        self.proc.stdin.write(command.encode() + b"\n")

    def finish(self):
        """(status, rest of stdout, stderr) once it ends."""
        out, err = self.proc.communicate(timeout=LINE_TIMEOUT)
        return self.proc.returncode, (self.seen if self.stream is self.proc.stdout else b"") + \
            out, err.decode()


@pytest.fixture(autouse=True)
def end_what_a_test_left():
    """A test that fails midway leaves its target running, and the target ignores SIGTERM
    and SIGINT (its own handlers): SIGKILL whatever is still running."""
    yield
    while Process.started:
        proc = Process.started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_target(cwd, *args, python=sys.executable, env=None):
    target = Process([python, TARGET, *args], cwd, env)
    assert target.line() == "ready"
    return target


def state(target):
    target.send("state")
    return json.loads(target.line("{"))


def kernel_signals(pid):
    """The signals process `pid` catches and ignores (proc(5)), and its POSIX timers."""
    with open(f"/proc/{pid}/status") as status:
        found = [line for line in status if line.startswith(("SigCgt", "SigIgn"))]
    with open(f"/proc/{pid}/timers") as timers:
        return found, timers.read()


def attach_dirs(pid):
    return glob.glob(os.path.join(tempfile.gettempdir(), f"triscope-attach-{pid}-*"))


def error_line(proc):
    """The one error line of a failed attach (after, at most, the line saying the target was
    asked to run the attach code)."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and 1 <= len(lines) <= 2, describe(proc)
    assert all(line.startswith("triscope: ") for line in lines), describe(proc)
    assert lines[-1].startswith("triscope: error: "), describe(proc)
    return lines[-1]


# ==== Attaching ====

@needs_remote_exec
def test_attach_profiles_the_hot_line_and_leaves_the_target_as_it_was(tmp_path):
    # GIVEN a plain Python program working in one line, with handlers of its own
    target = start_target(tmp_path)
    pid = target.proc.pid
    before, signals_before = state(target), kernel_signals(pid)
    # WHEN triscope attaches for a while
    proc = run_triscope(["attach", pid, "--duration", "1.5", "-o", "out.json"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    # THEN the profile's hottest line is the one it works in, with memory from Python's
    # allocator only
    profile = load_profile(tmp_path / "out.json")
    lines = [line for entry in profile["files"].values() for line in entry["lines"]]
    # (Its reader thread waits on stdin meanwhile: system time, not CPU.)
    hottest = max(lines, key=cpu_pct)
    assert hottest["lineno"] == marker_lineno(TARGET, "spin"), hottest
    assert cpu_pct(hottest) > 30, hottest
    assert profile["memory"]["enabled"] and profile["memory"]["native"] is False
    assert "detached from process" in proc.stderr
    # AND the program runs on as before: its handlers (Python and kernel), triscope's signals
    # back to the defaults, no timer of ours, sys.path, builtins, threading, the allocators
    after = state(target)
    assert kernel_signals(pid) == signals_before
    triscope_modules = after.pop("triscope_modules")
    assert "triscope._attached" in triscope_modules  # imported modules stay (documented)
    before.pop("triscope_modules")
    assert after == before
    assert attach_dirs(pid) == []
    # AND it exits with its own status, having printed nothing of triscope's
    target.send("exit 7")
    status, _, stderr = target.finish()
    assert status == 7 and stderr == "", stderr


@needs_remote_exec
def test_ctrl_c_stops_and_a_second_attach_is_refused(tmp_path):
    target = start_target(tmp_path)
    pid = target.proc.pid
    before = state(target)
    attacher = Process([sys.executable, "-m", "triscope", "attach", str(pid), "--cli"],
                       tmp_path, stream="stderr")
    assert "attached to process" in attacher.line("triscope: attached")
    # A second attach while the first profiles: one line, nothing sent.
    second = run_triscope(["attach", pid], tmp_path)
    assert "already being profiled by triscope" in error_line(second)
    # Ctrl-C of the first attach: it stops, detaches and reports.
    attacher.proc.send_signal(signal.SIGINT)
    status, _, stderr = attacher.finish()
    assert status == 0, stderr
    assert "detached from process" in stderr and "triscope profile of" in stderr
    after = state(target)
    for key in ("handlers", "sys_path", "allocators", "signal_functions", "bootstrap"):
        assert after[key] == before[key], key
    # Once detached, attaching again works.
    again = run_triscope(["attach", pid, "--duration", "0.3", "--cli"], tmp_path)
    assert again.returncode == 0, describe(again)
    target.send("exit 0")
    assert target.finish()[0] == 0


@needs_remote_exec
def test_a_target_that_forks_while_attached(tmp_path):
    target = start_target(tmp_path)
    pid = target.proc.pid
    attacher = Process([sys.executable, "-m", "triscope", "attach", str(pid), "--cli"],
                       tmp_path, stream="stderr")
    attacher.line("triscope: attached")
    target.send("fork")
    # The child ends normally, without crashing and without a profile of its own.
    assert target.line("child") == "child exited 0"
    attacher.proc.send_signal(signal.SIGINT)
    status, _, stderr = attacher.finish()
    assert status == 0, stderr
    assert sorted(os.listdir(tmp_path)) == ["profile.json"]
    target.send("exit 0")
    status, _, target_stderr = target.finish()
    assert status == 0 and target_stderr == "", target_stderr


@needs_remote_exec
@pytest.mark.parametrize("live", [[], ["--live"]])
def test_a_target_that_exits_while_attached_hands_over_its_profile(tmp_path, live):
    target = start_target(tmp_path)
    attacher = Process([sys.executable, "-m", "triscope", "attach", str(target.proc.pid),
                        "-o", "out.json", *live], tmp_path, stream="stderr")
    attacher.line("triscope: attached")
    target.send("exit 4")
    assert target.finish()[0] == 4
    status, _, stderr = attacher.finish()
    assert status == 0, stderr
    assert "exited while profiled" in stderr
    load_profile(tmp_path / "out.json")
    assert attach_dirs(target.proc.pid) == []


# ==== The live view: triscope attach --live ====

def open_fds(pid):
    """What each descriptor of process `pid` refers to (proc(5): /proc/PID/fd)."""
    found = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            found[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:  # closed meanwhile (one of its threads' own)
            pass
    return found


SPIN_WHERE = f"attach_target.py:{marker_lineno(TARGET, 'spin')}"


@needs_remote_exec
def test_attach_live_shows_plain_blocks_and_takes_its_socket_back(tmp_path):
    # GIVEN a plain Python program working in one line
    target = start_target(tmp_path)
    pid = target.proc.pid
    before, signals_before, fds_before = state(target), kernel_signals(pid), open_fds(pid)
    # WHEN triscope attach --live runs with its stdout a pipe
    attacher = Process([sys.executable, "-m", "triscope", "attach", str(pid), "--live",
                        "--cli"], tmp_path)
    # THEN plain blocks come, one of them naming the line the target works in
    assert attacher.line().startswith("triscope --live: ")
    while SPIN_WHERE not in attacher.line():
        pass
    # (while attached, the target holds the view's socket: one descriptor more)
    added = set(open_fds(pid).items()) - set(fds_before.items())
    assert any(link.startswith("socket:") for _, link in added), added
    # AND at Ctrl-C the attach ends as always: detached, the report
    attacher.proc.send_signal(signal.SIGINT)
    status, stdout, stderr = attacher.finish()
    assert status == 0, stderr
    assert "detached from process" in stderr and "triscope profile of" in stderr
    assert b"\x1b" not in stdout
    # AND the target keeps no descriptor of the view, and is otherwise as it was
    assert open_fds(pid) == fds_before
    after = state(target)
    assert kernel_signals(pid) == signals_before
    after.pop("triscope_modules")
    before.pop("triscope_modules")
    assert after == before
    assert attach_dirs(pid) == []
    target.send("exit 0")
    status, _, target_stderr = target.finish()
    assert status == 0 and target_stderr == "", target_stderr


@needs_remote_exec
def test_attach_live_q_leaves_the_view_and_the_attach_goes_on(tmp_path):
    from test_live import FRAME_START, LEAVE, Terminal, table
    target = start_target(tmp_path)
    pid = target.proc.pid
    # GIVEN triscope attach --live in a terminal, showing the view with the hot line (beside
    # the reader thread's wait on stdin, system time as long as the run)
    terminal = Terminal(["attach", pid, "--live", "--cli"], tmp_path)
    terminal.wait_for(lambda t: t.frames() and any(SPIN_WHERE in row
                                                    for row in table(t.frames()[-1])),
                      f"a frame showing {SPIN_WHERE}")
    # WHEN q is pressed: the view is left, the attach goes on
    terminal.send(b"q")
    terminal.wait_for(lambda t: LEAVE in t.output, "the view left")
    left_at = terminal.output.rindex(LEAVE)
    assert terminal.status is None and "detached" not in terminal.text()
    # THEN Ctrl-C (the terminal's) ends it with the usual lines, the view not back
    terminal.send(b"\x03")
    assert terminal.finish() == 0, terminal.text()
    after = terminal.output[left_at:].decode(errors="replace")
    assert FRAME_START.decode() not in after
    assert "detached from process" in after and "triscope profile of" in after
    target.send("exit 0")
    status, _, target_stderr = target.finish()
    assert status == 0 and target_stderr == "", target_stderr


@needs_remote_exec
def test_attach_live_says_nothing_over_its_view(tmp_path):
    """A target slow to stop is said in a line after the view has left the screen, never
    drawn into it (it was printed while the view still ran)."""
    from test_live import FRAME_START, LEAVE, Terminal, table
    target = start_target(tmp_path)
    pid = target.proc.pid
    terminal = Terminal(["attach", pid, "--live", "--cli", "--timeout", "1"], tmp_path)
    terminal.wait_for(lambda t: t.frames() and any(SPIN_WHERE in row
                                                    for row in table(t.frames()[-1])),
                      f"a frame showing {SPIN_WHERE}")
    # GIVEN the target's main thread blocked in C code, WHEN Ctrl-C asks it to stop
    target.send("block")
    assert target.line() == "blocked"
    terminal.send(b"\x03")
    terminal.wait_for(lambda t: b"has not run the stop code" in t.output, "the waiting line")
    # THEN the view has left before the line, and no frame is drawn after it
    said_at = terminal.output.index(b"has not run the stop code")
    assert LEAVE in terminal.output[:said_at]
    assert terminal.output.rindex(LEAVE) < said_at
    assert FRAME_START not in terminal.output[said_at:]
    target.send("unblock")
    assert target.line() == "unblocked"
    assert terminal.finish() == 0, terminal.text()
    assert "detached from process" in terminal.output[said_at:].decode(errors="replace")
    target.send("exit 0")
    status, _, target_stderr = target.finish()
    assert status == 0 and target_stderr == "", target_stderr


# ==== What stops an attach: one line each ====

@needs_remote_exec
def test_a_target_blocked_in_c_code_times_out_and_is_left_alone(tmp_path):
    # GIVEN a program whose main thread is blocked in a C call
    target = start_target(tmp_path, "block")
    pid = target.proc.pid
    before = state(target)
    # WHEN triscope attaches with a short timeout: one line, nothing started
    proc = run_triscope(["attach", pid, "--timeout", "1"], tmp_path)
    assert "did not run the attach code within 1 s" in error_line(proc)
    # THEN once unblocked, the program runs the late attach code, which does nothing but
    # remove its own files (it runs before "unblocked" is printed: see the workload)
    target.send("unblock")
    assert target.line() == "unblocked"
    assert state(target) == before  # no triscope module imported, nothing changed
    assert attach_dirs(pid) == []
    target.send("exit 3")
    status, _, stderr = target.finish()
    assert status == 3 and stderr == "", stderr
    assert not (tmp_path / "profile.json").exists()


@needs_remote_exec
def test_a_target_that_ends_before_it_runs_the_attach_code(tmp_path):
    target = start_target(tmp_path, "block")
    pid = target.proc.pid
    attacher = Process([sys.executable, "-m", "triscope", "attach", str(pid)], tmp_path,
                       stream="stderr")
    attacher.line("triscope: process")  # asked: the script is pending in the target
    target.proc.kill()
    target.finish()
    status, _, stderr = attacher.finish()
    assert status == 2, stderr
    assert stderr.strip().endswith(f"process {pid} ended before it ran the attach code")
    assert "Traceback" not in stderr
    assert attach_dirs(pid) == []


@needs_remote_exec
@pytest.mark.parametrize("how, expected", [
    ({"env": {"PYTHON_DISABLE_REMOTE_DEBUG": "1"}}, "PYTHON_DISABLE_REMOTE_DEBUG is set"),
    ({"flags": ["-X", "disable-remote-debug"]}, "-X disable-remote-debug"),
])
def test_remote_debugging_turned_off(tmp_path, how, expected):
    target = Process([sys.executable, *how.get("flags", []), TARGET], tmp_path,
                     env=how.get("env"))
    assert target.line() == "ready"
    proc = run_triscope(["attach", target.proc.pid], tmp_path)
    line = error_line(proc)
    assert "remote debugging turned off" in line and expected in line
    assert attach_dirs(target.proc.pid) == []
    target.send("exit 0")
    assert target.finish()[0] == 0


@needs_remote_exec
def test_a_process_of_another_user(tmp_path):
    """Root runs the attacher as nobody against its own target; anyone else tries init.
    (Yama's ptrace_scope has no test: the kernels this runs on lack Yama.)"""
    if os.geteuid() == 0:
        target = start_target(tmp_path)
        pid, owner = target.proc.pid, 0

        def as_nobody():
            os.setgid(65534)
            os.setuid(65534)
    else:
        target, pid, owner, as_nobody = None, 1, 0, None
    proc = subprocess.run([sys.executable, "-m", "triscope", "attach", str(pid)], cwd="/",
                          env=_child_env(None), capture_output=True, text=True,
                          preexec_fn=as_nobody, timeout=LINE_TIMEOUT)
    assert f"process {pid} belongs to another user (uid {owner})" in error_line(proc)
    if target is not None:
        target.send("exit 0")
        assert target.finish()[0] == 0


def _other_python():
    """A Python of another major.minor version, on PATH (the chroot has 3.14 and 3.15)."""
    for minor in range(11, 20):
        if minor == sys.version_info.minor:
            continue
        found = shutil.which(f"python3.{minor}")
        if found:
            return found, f"3.{minor}"
    return None, None


@needs_remote_exec
def test_a_target_of_another_python_version(tmp_path):
    python, version = _other_python()
    if python is None:
        pytest.skip("no Python of another version on PATH")
    target = start_target(tmp_path, python=python)
    line = error_line(run_triscope(["attach", target.proc.pid], tmp_path))
    here = "{}.{}".format(*sys.version_info[:2])
    assert f"runs Python {version} and this triscope runs on Python {here}" in line
    target.send("exit 0")
    assert target.finish()[0] == 0


@needs_remote_exec
def test_no_process_and_not_python(tmp_path):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        assert "not a Python program" in error_line(
            run_triscope(["attach", sleeper.pid], tmp_path))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert error_line(run_triscope(["attach", sleeper.pid], tmp_path)).endswith(
        f"no process {sleeper.pid}")


@pytest.mark.skipif(HAS_REMOTE_EXEC, reason="this Python has sys.remote_exec")
def test_attach_needs_python_3_14(tmp_path):
    line = error_line(run_triscope(["attach", os.getpid()], tmp_path))
    assert "triscope attach needs Python 3.14 or newer" in line
