"""`triscope --live` (src/triscope/live.py, docs/ARCHITECTURE.md "The live view"), end to end.

The real CLI runs in a pseudo-terminal of the test's own (the `pty` module), on
tests/workloads/live_work.py, which works until the test creates its stop file: what the
screen shows is read from what the viewer writes, one frame per redraw (each frame starts by
moving the cursor home and ends by clearing below it), so every wait is for something to
appear on the screen, under a generous deadline, never a fixed sleep.
"""
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import time

import fcntl
import termios

from conftest import _child_env, load_profile, marker_lineno, workload

WORKLOAD = workload("live_work.py")
TIME_LINE = f"live_work.py:{marker_lineno(WORKLOAD, 'live-time')}"
MEMORY_LINE = f"live_work.py:{marker_lineno(WORKLOAD, 'live-memory')}"
DEADLINE = 90  # seconds for anything to appear: a busy 2-core machine is slow, not stuck

FRAME_START, FRAME_END = b"\x1b[H", b"\x1b[J"
ENTER, LEAVE = b"\x1b[?1049h", b"\x1b[?1049l"
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class Terminal:
    """The CLI run in a pseudo-terminal (its controlling terminal, 40 rows of 120 columns):
    everything it writes is kept in `output`."""

    def __init__(self, args, cwd):
        env = _child_env({"NO_COLOR": None})
        pid, fd = pty.fork()
        if pid == 0:  # the child: the terminal is its stdin, stdout and stderr
            try:
                os.chdir(cwd)
                os.execve(sys.executable, [sys.executable, "-m", "triscope", *map(str, args)],
                          env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.output = b""
        self.status = None

    def read(self, timeout) -> bool:
        """Reads what came within `timeout`; False once the terminal has no writer left."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: every process on the terminal is gone
            return False
        self.output += data
        return bool(data)

    def wait_for(self, condition, what):
        """Reads until `condition(self)` holds; fails after DEADLINE seconds."""
        deadline = time.monotonic() + DEADLINE
        while not condition(self):
            assert time.monotonic() < deadline, f"no {what} within {DEADLINE} s:\n{self.text()}"
            if not self.read(0.5):
                assert condition(self), f"the run ended without {what}:\n{self.text()}"

    def send(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def finish(self) -> int:
        """Reads to the end; the run's exit status (negative: killed by that signal)."""
        deadline = time.monotonic() + DEADLINE
        while self.read(0.5):
            assert time.monotonic() < deadline, f"the run did not end:\n{self.text()}"
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def frames(self) -> list:
        """The view's frames so far, each a list of its rows as plain text."""
        frames = []
        for chunk in self.output.split(FRAME_START)[1:]:
            if FRAME_END in chunk:
                body = chunk.split(FRAME_END)[0].decode("utf-8", errors="replace")
                frames.append([ESCAPES.sub("", row).rstrip("\r")
                               for row in body.split("\n")])
        return frames

    def text(self) -> str:
        return self.output.decode("utf-8", errors="replace")[-4000:]


def table(frame):
    """The rows under the column labels of a frame (up to the first empty one)."""
    for index, row in enumerate(frame):
        if row.lstrip().startswith("time Python native system"):
            rows = []
            for line_row in frame[index + 1:]:
                if not line_row.strip():
                    break
                rows.append(line_row)
            return rows
    return []


def top_row(terminal, sorted_by="time"):
    """The first row of the newest frame sorted by `sorted_by`, or ''."""
    for frame in reversed(terminal.frames()):
        if any(row.startswith(f"sorted by {sorted_by} ") for row in frame):
            rows = table(frame)
            return rows[0] if rows else ""
    return ""


def time_share(row: str) -> float:
    return float(row.split()[0])


def live_run(tmp_path, status=0, extra=()):
    """The workload under `triscope --live` in a terminal; its stop file."""
    stop = tmp_path / "stop"
    return Terminal(["--live", *extra, WORKLOAD, stop, status], tmp_path), stop


def test_the_view_shows_the_hot_line_while_the_program_runs(tmp_path):
    terminal, stop = live_run(tmp_path, status=5)
    terminal.wait_for(lambda t: TIME_LINE in top_row(t) and time_share(top_row(t)) > 0,
                      f"a frame led by {TIME_LINE}")
    assert terminal.status is None and not stop.exists()  # the program is still running
    assert ENTER in terminal.output
    frame = terminal.frames()[-1]
    assert re.match(r"triscope --live: [0-9.]+ s, \d+ samples, pid \d+: ", frame[0])
    assert "while f < 300000.0" in top_row(terminal)  # the line's source
    stop.touch()
    assert terminal.finish() == 5
    # The terminal is given back before the program's own output, kept while the view was
    # shown, and the report after it.
    after = terminal.output[terminal.output.rindex(LEAVE):].decode(errors="replace")
    assert "live_work: started" in after
    assert after.index("live_work: on stderr") < after.index("triscope profile of")
    assert FRAME_START not in terminal.output[terminal.output.rindex(LEAVE):]
    profile = load_profile(tmp_path / "profile.json")
    assert profile["files"]


def run_without_live(tmp_path, status):
    """The same workload under plain `triscope` in a terminal (stopped from the start)."""
    plain = tmp_path / "plain"
    plain.mkdir()
    stop = plain / "stop"
    stop.touch()
    terminal = Terminal([WORKLOAD, stop, status], plain)
    return terminal, terminal.finish()


def program_lines(output: bytes) -> list:
    """The workload's own report lines (signals, terminal) as it printed them."""
    text = ESCAPES.sub("", output.decode(errors="replace").replace("\r", ""))
    # A bound method's repr names its object's address, which differs from run to run.
    text = re.sub(r" at 0x[0-9a-f]+", "", text)
    return [line for line in text.splitlines() if line.startswith("live_work: ")]


def test_q_leaves_the_view_and_the_program_runs_on(tmp_path):
    terminal, stop = live_run(tmp_path, status=3)
    terminal.wait_for(lambda t: top_row(t) != "", "a frame with lines")
    terminal.send(b"q")
    terminal.wait_for(lambda t: LEAVE in t.output, "the view left")
    left_at = terminal.output.rindex(LEAVE)
    # Out of the view, the program is still running: it stops only now.
    assert terminal.status is None and not stop.exists()
    stop.touch()
    status = terminal.finish()
    after = terminal.output[left_at:]
    assert FRAME_START not in after  # the view did not come back
    reference, reference_status = run_without_live(tmp_path, 3)
    assert status == reference_status == 3
    text = after.decode(errors="replace")
    assert "triscope profile of" in text and "triscope: profile written to" in text
    assert text.index("live_work: signals") < text.index("triscope profile of")
    assert TIME_LINE.split(":")[0] in text.split("triscope profile of")[1]
    assert program_lines(after) == program_lines(reference.output)
    profile = load_profile(tmp_path / "profile.json")
    lines = profile["files"][str(WORKLOAD)]["lines"]
    assert any(line["lineno"] == marker_lineno(WORKLOAD, "live-time") for line in lines)


def test_the_sort_key_changes_the_order(tmp_path):
    terminal, stop = live_run(tmp_path)
    terminal.wait_for(lambda t: TIME_LINE in top_row(t, "time")
                      and any(MEMORY_LINE in row for row in table(t.frames()[-1])),
                      f"{TIME_LINE} first, {MEMORY_LINE} below it")
    terminal.send(b"s")
    terminal.wait_for(lambda t: MEMORY_LINE in top_row(t, "memory"),
                      f"a frame sorted by memory led by {MEMORY_LINE}")
    terminal.send(b"s")
    terminal.wait_for(lambda t: TIME_LINE in top_row(t, "Python"),
                      f"a frame sorted by Python time led by {TIME_LINE}")
    stop.touch()
    assert terminal.finish() == 0


def read_until(process, done) -> bytes:
    """What the view printed on a pipe (its plain-text form) until `done` holds for it."""
    output, deadline = b"", time.monotonic() + DEADLINE
    while not done(output):
        assert time.monotonic() < deadline, output.decode(errors="replace")
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            data = os.read(process.stdout.fileno(), 65536)
            assert data, output.decode(errors="replace")
            output += data
    return output


def test_plain_text_when_stdout_is_not_a_terminal(tmp_path):
    stop = tmp_path / "stop"
    process = subprocess.Popen(
        [sys.executable, "-m", "triscope", "--live", WORKLOAD, stop, "4"], cwd=tmp_path,
        env=_child_env({}), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    headers = re.compile(rb"^triscope --live: ([0-9.]+) s, \d+ samples, pid ", re.MULTILINE)
    # Two blocks, the second naming the hot line: then it is known to refresh.
    output = read_until(process, lambda output: len(headers.findall(output)) >= 2 and
                        TIME_LINE.encode() in output[[m.start() for m in
                                                      headers.finditer(output)][1]:])
    stop.touch()
    rest, stderr = process.communicate(timeout=DEADLINE)
    output += rest
    assert process.returncode == 4, stderr.decode(errors="replace")
    assert b"\x1b" not in output
    elapsed = [float(value) for value in headers.findall(output)]
    assert all(later - earlier >= 1.4 for earlier, later in zip(elapsed, elapsed[1:])), elapsed
    text = output.decode()
    assert "live_work: started" in text and "live_work: signals" in text  # its own stdout
    assert "triscope profile of" in stderr.decode()  # the report, on stderr as always


def test_exit_status_and_signals_are_unchanged(tmp_path):
    """A program ending by SIGTERM dies of it with --live as without; it sees the same
    signal handlers and the same terminal; the terminal is given back."""
    terminal, stop = live_run(tmp_path, status=-signal.SIGTERM)
    terminal.wait_for(lambda t: top_row(t) != "", "a frame with lines")
    stop.touch()
    status = terminal.finish()
    reference, reference_status = run_without_live(tmp_path, -signal.SIGTERM)
    assert status == reference_status == -signal.SIGTERM
    assert terminal.output.rindex(LEAVE) > terminal.output.rindex(FRAME_END)
    seen, expected = program_lines(terminal.output), program_lines(reference.output)
    assert [line for line in seen if "signals" in line] == \
        [line for line in expected if "signals" in line]
    assert "live_work: terminal [True, True, True] (120, 40)" in seen
    assert "triscope profile of" in terminal.text()


def test_the_terminal_is_given_back_when_the_program_is_killed(tmp_path):
    terminal, stop = live_run(tmp_path)
    terminal.wait_for(lambda t: top_row(t) != "", "a frame with lines")
    os.kill(terminal.pid, signal.SIGKILL)
    assert terminal.finish() == -signal.SIGKILL
    assert terminal.output.rindex(LEAVE) > terminal.output.rindex(FRAME_END)
    assert "live_work: started" in terminal.output[terminal.output.rindex(LEAVE):].decode()


def test_live_is_an_option_of_the_run():
    from triscope.options import Options
    assert Options.parse(["--live"]).live and not Options.parse([]).live
    assert json.loads(json.dumps(Options.parse(["--live"]).to_dict()))["live"] is True


def test_a_hot_line_in_code_named_after_a_fifo_does_not_freeze_the_view(tmp_path):
    """The view quotes each hot line's source; code compiled under the name of a fifo
    (any name will do) would have its open wait for a writer forever: no source is quoted
    for what is not a regular file, and the view goes on refreshing."""
    fifo = tmp_path / "named_pipe"
    os.mkfifo(fifo)
    stop = tmp_path / "stop"
    (tmp_path / "prog.py").write_text(
        "import os\n"
        "code = 'f = 0.0\\nwhile f < 300000.0: f += 1.0\\n'\n"
        f"while not os.path.exists({str(stop)!r}):\n"
        f"    exec(compile(code, {str(fifo)!r}, 'exec'))\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "triscope", "--live", "prog.py"], cwd=tmp_path,
        env=_child_env({}), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    blocks = re.compile(rb"^triscope --live: .*?(?=^triscope --live: |\Z)", re.MULTILINE | re.S)
    try:
        read_until(process, lambda output: sum(b"named_pipe:2" in block
                                               for block in blocks.findall(output)) >= 2)
    except AssertionError:
        process.kill()  # a frozen view (or writer) would otherwise outlive the test
        raise
    finally:
        stop.touch()
    _, stderr = process.communicate(timeout=DEADLINE)
    assert process.returncode == 0, stderr.decode(errors="replace")
