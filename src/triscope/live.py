"""The live view: `triscope --live prog.py` (docs/ARCHITECTURE.md, "The live view").

Two sides. The program's process renders nothing: its C core sends a snapshot of the profile
so far about once a second (live.c: the hottest lines by each sort order, with the
profile's own share fields) as one message on a SOCK_SEQPACKET socket, and drops one rather
than wait for the viewer. The viewer is a separate process, started by the launcher before
the program runs (`start`), and owns the terminal: it is plain Python, standard library
only, and never reads the program's memory.

`view(source, ...)` is the viewer itself, for any source of snapshots (`SocketSource` here;
`triscope attach --live` can hand it another): on a terminal, a full-screen view refreshed
in place on the alternate screen, hottest lines first; `s` cycles the sort (time, memory,
Python, native, system), `q` leaves the view while the program runs on, and the normal
report follows at its end. When stdout is not a terminal, a short plain-text block every
2 seconds instead, with no escape sequences.

The program's stdout and stderr, when they are the view's terminal, would garble it: they
are moved onto a pseudo-terminal of the viewer's (`Live.capture_output`), so the program
still writes to a terminal (isatty, its size, line buffering and colours as before). The
viewer shows the last few lines under the view, keeps all of it, and writes it to the
terminal, in order, as soon as the view closes (q, or the program's end); from then on it
passes the program's output straight through.
"""

import os
import re
import select
import signal
import socket
import stat
import sys
import time

from triscope import _native, outputs
from triscope.reports import display, text

# Snapshots come this often, and the plain-text blocks this much further apart.
SNAPSHOT_SECONDS = 1.0
BLOCK_SECONDS = 2.0
BLOCK_ROWS = 10
# How long the end of the run waits for the viewer to give the terminal back.
FINISH_WAIT_SECONDS = 10.0
# live.h's TS_LIVE_MAX_BYTES, with room: a message is never cut short.
MAX_SNAPSHOT_BYTES = 256 * 1024
# At the run's end, the program's output still in flight is passed on until none came for
# this long (only children that outlive the run keep writing after that).
QUIET_SECONDS = 0.5
# The widest "file:line" column; a longer path keeps its end.
WHERE_COLUMNS = 36
# Program output shown under the view.
OUTPUT_TAIL_ROWS = 3

# The sort orders, as the C core chooses the lines it sends (live.h, ts_live_order_t).
ORDERS = (
    ("time", display.time_pct),
    ("memory", lambda line: line["alloc_mb"]),
    ("Python", lambda line: line["cpu_python_pct"]),
    ("native", lambda line: line["cpu_native_pct"]),
    ("system", lambda line: line["cpu_system_pct"]),
)

ENTER_SCREEN = "\x1b[?1049h\x1b[?25l"   # the alternate screen, cursor hidden
LEAVE_SCREEN = "\x1b[?25h\x1b[?1049l"
FRAME_START = "\x1b[H"                   # each frame is drawn from the top left...
FRAME_END = "\x1b[J"                     # ...and clears what is below it
CLEAR_LINE = "\x1b[K"
ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")


# ==== The launcher's side ====


class Live:
    """The live view of one run, seen from the run's process: the socket the C core sends
    on, and the program's output moved onto the viewer's pseudo-terminal."""

    def __init__(self, sender: socket.socket, output_terminal, terminal_fds: list):
        self.sender = sender
        self.output_terminal = output_terminal  # the pseudo-terminal's program side, or None
        self.terminal_fds = terminal_fds        # which of 1 and 2 are the view's terminal
        self.saved = {}                         # fd → (a duplicate of it, its identity)
        self.output_identity = None             # the pseudo-terminal's, once captured

    def send_snapshots(self, only_ranges) -> None:
        """Hands the socket to the C core, which sends from now on (as the profile runs)."""
        _native.live_every(SNAPSHOT_SECONDS, _native.park_fd(self.sender.detach()),
                           only_ranges=only_ranges)

    def capture_output(self) -> None:
        """The program's stdout and stderr that are the view's terminal go to the viewer's
        pseudo-terminal until finish()."""
        if self.output_terminal is None:
            return
        sys.stdout.flush()
        sys.stderr.flush()
        for descriptor in self.terminal_fds:
            # Close-on-exec (children never see it), off the program's numbers.
            saved = _native.park_fd(os.dup(descriptor))
            self.saved[descriptor] = saved, outputs.identity(saved)
            os.dup2(self.output_terminal, descriptor)
        self.output_identity = outputs.identity(self.output_terminal)
        os.close(self.output_terminal)
        self.output_terminal = None

    def finish(self) -> None:
        """The run is over (or about to exec): the terminal's descriptors back, the viewer
        told, and its answer awaited, so that what the program wrote comes before the
        report."""
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # the program closed them: nothing of its own is waiting
        for descriptor, (saved, identity) in self.saved.items():
            # Only while it still is the pseudo-terminal: where the program itself pointed
            # its stdout (a file, /dev/null) stays where it pointed it.
            if (outputs.identity(descriptor) == self.output_identity
                    and outputs.identity(saved) == identity):
                os.dup2(saved, descriptor)
            try:
                os.close(saved)
            except OSError:
                pass
        self.saved = {}
        if self.output_terminal is not None:
            os.close(self.output_terminal)
            self.output_terminal = None
        _native.live_finish(FINISH_WAIT_SECONDS)


def start(title: str) -> Live:
    """Starts the viewer for a run about to begin: before the profile starts (no thread of
    the profiler runs yet, and no child hook is in place), so the viewer is a plain process.
    It is started twice removed, so it is never the program's child: the program's
    os.wait() and SIGCHLD never see it."""
    sender, receiver = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    on_terminal = os.isatty(1)
    program_side = viewer_side = None
    terminal_fds = []
    if on_terminal:
        terminal_fds = [fd for fd in (1, 2) if _same_terminal(fd, 1)]
        viewer_side, program_side = os.openpty()
        _copy_terminal_settings(1, program_side)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            if os.fork() == 0:
                sender.close()
                if program_side is not None:
                    os.close(program_side)
                _run_viewer(SocketSource(receiver), title, viewer_side)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    receiver.close()
    if viewer_side is not None:
        os.close(viewer_side)
    return Live(sender, program_side, terminal_fds)


def _same_terminal(descriptor: int, other: int) -> bool:
    return os.isatty(descriptor) and outputs.identity(descriptor) == outputs.identity(other)


def _copy_terminal_settings(terminal: int, pseudo_terminal: int) -> None:
    """The program's pseudo-terminal as the real one: same settings and size. Output
    post-processing is left to the real terminal, which the viewer passes the bytes to
    (else a newline would be translated twice)."""
    import fcntl
    import termios
    try:
        attributes = termios.tcgetattr(terminal)
        attributes[1] &= ~termios.OPOST
        termios.tcsetattr(pseudo_terminal, termios.TCSANOW, attributes)
        size = fcntl.ioctl(terminal, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(pseudo_terminal, termios.TIOCSWINSZ, size)
    except (OSError, termios.error):
        pass


def _run_viewer(source, title: str, program_output) -> None:
    """The viewer process's life: the view, then passing the program's output through
    until nobody writes to it any more. Never returns."""
    # Ctrl-C, Ctrl-\ are the program's to receive (it is in the same process group, as it
    # must be to read keys): the view ends when the program does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    try:
        view(source, title=title, program_output=program_output)
    except Exception as error:
        # One line, never a traceback over the view; the run goes on without it (the core
        # stops sending when the socket closes), and the program keeps its output.
        os.write(2, f"triscope: the live view stopped: {error!r}\n".encode(errors="replace"))
        source.finish()
        if program_output is not None:
            _pass_through(program_output, 1, None)
        os._exit(1)
    os._exit(0)


class SocketSource:
    """Snapshots from the socket the profiled process's C core sends them on: one JSON
    object per message. fileno() for select; receive() gives the newest of those waiting
    (None when none is) and raises EOFError once the run is over."""

    def __init__(self, connection: socket.socket):
        self.connection = connection
        self.connection.setblocking(False)

    def fileno(self) -> int:
        return self.connection.fileno()

    def receive(self):
        import json
        newest = None
        while True:
            try:
                data, _, flags, _ = self.connection.recvmsg(MAX_SNAPSHOT_BYTES)
            except (BlockingIOError, InterruptedError):
                return newest
            except OSError:
                data, flags = b"", 0
            if not data:
                raise EOFError
            if flags & socket.MSG_TRUNC:
                continue
            try:
                newest = json.loads(data)
            except ValueError:
                continue

    def finish(self) -> None:
        """The terminal is given back: the run's end may go on (live_finish waits for
        this)."""
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# ==== The viewer ====


def view(source, *, title: str, program_output=None, out_fd: int = 1) -> None:
    """Shows the snapshots of `source` until it ends: full screen when `out_fd` is a
    terminal, else plain-text blocks. `program_output`: the viewer's side of the program's
    pseudo-terminal (or None), shown under the view and passed through once it closes."""
    if os.isatty(out_fd):
        screen = _Screen(out_fd, title, program_output)
        screen.run(source)
        program_output = screen.program_output  # None once every writer was gone
    else:
        _plain_blocks(source, title, out_fd)
    # The run is over and its process has its own descriptors back: what the program wrote
    # before comes out before the report does, which waits for finish().
    still_open = program_output is not None and _pass_through(program_output, out_fd,
                                                              QUIET_SECONDS)
    if hasattr(source, "finish"):
        source.finish()
    if still_open:  # children that outlive the run still write: passed on until they end
        _pass_through(program_output, out_fd, None)


def _plain_blocks(source, title: str, out_fd: int) -> None:
    """A block every BLOCK_SECONDS while the run goes on; no escape sequences. A reader
    that goes away (`| head`) stops the blocks, not the run."""
    last = None
    writing = True
    while True:
        select.select([source], [], [])
        try:
            snapshot = source.receive()
        except EOFError:
            return
        now = time.monotonic()
        if snapshot is None or not writing or (last is not None and now - last <
                                               BLOCK_SECONDS - SNAPSHOT_SECONDS / 2):
            continue
        last = now
        try:
            _write_all(out_fd, block(snapshot, title).encode("utf-8"))
        except OSError:
            writing = False


def block(snapshot: dict, title: str, width: int = 100, rows: int = BLOCK_ROWS) -> str:
    """The plain-text block of one snapshot: the header and the `rows` hottest lines."""
    lines = [text._fit(row, width).rstrip() for row, _ in _header(snapshot, title, None)]
    columns = _columns(snapshot, width)
    lines.append(text._fit(_labels(columns), width).rstrip())
    for row in _rows(snapshot, sort_lines(snapshot, 0)[:rows], columns, width):
        lines.append(text._fit(row, width).rstrip())
    return "\n".join(lines) + "\n\n"


def sort_lines(snapshot: dict, order: int) -> list:
    """The snapshot's lines, largest first by ORDERS[order], then by time."""
    key = ORDERS[order][1]
    return sorted(snapshot["lines"],
                  key=lambda line: (-key(line), -display.time_pct(line), line["file"],
                                    line["lineno"]))


def _header(snapshot: dict, title: str, order):
    """(text, style) rows above the lines."""
    totals = snapshot["totals"]
    state = " (profiling suspended)" if snapshot.get("paused") else ""
    # The title last: a long command line is what gives way to the width.
    rows = [(f"triscope --live: {snapshot['elapsed_s']:.1f} s, {snapshot['samples']} samples"
             f"{state}, pid {snapshot['pid']}: {title}", text.BOLD)]
    split = (f"time: {totals['cpu_python_pct']:.1f}% Python, "
             f"{totals['cpu_native_pct']:.1f}% native")
    if not snapshot.get("virtual_time"):
        split += f", {totals['cpu_system_pct']:.1f}% system"
    if snapshot.get("memory"):
        split += (f"   memory: {totals['live_mb']:.1f} MB now, peak {totals['peak_mb']:.1f} MB, "
                  f"{totals['alloc_mb']:.1f} MB allocated")
    rows.append((split, ""))
    outside = display.time_pct(snapshot["unattributed"])
    if round(outside, 1) > 0:
        rows.append((f"{outside:.1f}% of the time was outside the files below", ""))
    if order is not None:
        rows.append((f"sorted by {ORDERS[order][0]}   s: sort by "
                     f"{ORDERS[_next_order(snapshot, order)][0]}   q: leave the view "
                     "(the program runs on)", ""))
    return rows


def _next_order(snapshot: dict, order: int) -> int:
    order = (order + 1) % len(ORDERS)
    if ORDERS[order][0] == "memory" and not snapshot.get("memory"):
        order = (order + 1) % len(ORDERS)
    return order


def _columns(snapshot: dict, width: int) -> list:
    """(label, width, cell) columns of a line row: the text report's time columns and
    bar, memory as the text report shows it (MB)."""
    columns = [("time", 6, lambda line: text._cell(display.time_pct(line), 6))]
    columns += text.CPU_COLUMNS
    if width >= 100:  # else the bar takes the room "file:line" needs
        columns.append(("", text.BAR_CELLS, text._bar))
    if snapshot.get("memory"):
        columns += [("alloc", 6, lambda line: text._cell(line["alloc_mb"], 6)),
                    ("peak", 6, lambda line: text._cell(line["peak_mb"], 6))]
    return columns


def _labels(columns: list) -> str:
    return " ".join(label.rjust(size) for label, size, _ in columns) + "  where"


def _rows(snapshot: dict, lines: list, columns: list, width: int) -> list:
    """One row per line: its cells, where it is (the end of a long path kept, in a column
    of at most WHERE_COLUMNS, and of what the width leaves) and its source."""
    wheres = [f"{_short_path(snapshot['files'][line['file']])}:{line['lineno']}"
              for line in lines]
    room = width - sum(size + 1 for _, size, _ in columns) - 1
    width = min(WHERE_COLUMNS, room, max(map(len, wheres), default=0))
    rows = []
    for line, where in zip(lines, wheres):
        cells = " ".join(cell(line) for _, _, cell in columns)
        source = _source_line(snapshot["files"][line["file"]], line["lineno"])
        rows.append(f"{cells}  {text._fit_left(where, width).ljust(width)}  {source}")
    return rows


def _short_path(path: str) -> str:
    """The path from the working directory when the file is under it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def _source_line(path: str, lineno: int) -> str:
    """The line's text; "" but for a regular file (a code object may be named after a fifo,
    whose open would wait for a writer and freeze the view)."""
    import linecache
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return ""
    except (OSError, ValueError):
        return ""
    return linecache.getline(path, lineno).strip()


class _Screen:
    """The full-screen view on a terminal."""

    def __init__(self, out_fd: int, title: str, program_output):
        self.out_fd = out_fd
        self.title = title
        self.program_output = program_output
        self.keyboard = _open_keyboard()
        self.saved_mode = None
        self.snapshot = None
        self.order = 0
        self.shown = False
        self.left = False  # q: the view is over, the program's output passes through
        self.resized = False
        self.output_tail = b""
        self.spool = None  # the program's output while the view is shown

    def run(self, source) -> None:
        import tempfile
        self.spool = tempfile.TemporaryFile()
        signal.signal(signal.SIGWINCH, self._on_resize)
        signal.signal(signal.SIGTSTP, self._on_suspend)
        signal.signal(signal.SIGTERM, self._on_terminate)
        signal.signal(signal.SIGHUP, self._on_terminate)
        try:
            self._loop(source)
        finally:
            self._leave()

    def _loop(self, source) -> None:
        next_draw = time.monotonic()
        while True:
            waiting = [source]
            if self.keyboard is not None and self.shown:
                waiting.append(self.keyboard)
            if self.program_output is not None:
                waiting.append(self.program_output)
            timeout = max(0.0, next_draw - time.monotonic()) if self.shown else None
            ready, _, _ = select.select(waiting, [], [], timeout)
            redraw = self.resized
            if source in ready:
                try:
                    snapshot = source.receive()
                except EOFError:
                    return
                if snapshot is not None:
                    self.snapshot, redraw = snapshot, True
                    if not self.shown and not self.left:
                        self._enter()  # the first: the program runs, the terminal is ours
            if self.keyboard is not None and self.keyboard in ready:
                redraw |= self._on_keys(os.read(self.keyboard, 64))
            if self.program_output is not None and self.program_output in ready:
                if not self._take_output():
                    self.program_output = None
            if self.shown and (redraw or time.monotonic() >= next_draw):
                self.resized = False
                self._draw()
                next_draw = time.monotonic() + SNAPSHOT_SECONDS

    def _on_keys(self, keys: bytes) -> bool:
        """True when the view must be drawn again."""
        redraw = False
        for key in keys.lower():
            if key == ord("q"):
                self._leave()
                self.left = True
            elif key == ord("s") and self.snapshot is not None:
                self.order = _next_order(self.snapshot, self.order)
                redraw = True
        return redraw

    def _take_output(self) -> bool:
        """What the program wrote: kept while the view is shown, passed on after. False
        once nobody writes to the pseudo-terminal any more."""
        try:
            data = os.read(self.program_output, 65536)
        except OSError:  # EIO: every writer is gone
            return False
        if not data:
            return False
        if not self.left:
            self.spool.write(data)
            self.output_tail = (self.output_tail + data)[-4096:]
        else:
            _write_all(self.out_fd, data)
        return True

    def _enter(self) -> None:
        if self.keyboard is not None:
            import termios
            import tty
            try:
                self.saved_mode = termios.tcgetattr(self.keyboard)
                tty.setcbreak(self.keyboard, termios.TCSANOW)
            except termios.error:
                self.saved_mode = None
        _write_all(self.out_fd, ENTER_SCREEN.encode())
        self.shown = True

    def _leave(self) -> None:
        """Gives the terminal back: its mode, the main screen, then what the program wrote
        meanwhile, in order."""
        if self.shown:
            self._restore_terminal()
        self.shown = False
        self.spool.seek(0)
        while chunk := self.spool.read(65536):
            _write_all(self.out_fd, chunk)
        self.spool.seek(0)
        self.spool.truncate()
        self.output_tail = b""

    def _restore_terminal(self) -> None:
        if self.saved_mode is not None:
            import termios
            try:
                termios.tcsetattr(self.keyboard, termios.TCSANOW, self.saved_mode)
            except termios.error:
                pass
        _write_all(self.out_fd, LEAVE_SCREEN.encode())

    def _on_resize(self, signo, frame) -> None:
        self.resized = True
        if self.program_output is not None:
            _copy_size(self.out_fd, self.program_output)

    def _on_suspend(self, signo, frame) -> None:
        """Ctrl-Z: the terminal given back while stopped, the view again after."""
        was_shown = self.shown
        self._leave()
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)
        signal.signal(signal.SIGTSTP, self._on_suspend)  # continued
        if was_shown:
            self._enter()

    def _on_terminate(self, signo, frame) -> None:
        self._leave()
        self.left = True

    def _draw(self) -> None:
        size = os.get_terminal_size(self.out_fd)
        width, height = size.columns, size.lines
        rows = screen_rows(self.snapshot, self.title, self.order, width, height,
                           _output_rows(self.output_tail) if self.program_output is not None
                           else None)
        frame = [FRAME_START]
        for index, (row, style) in enumerate(rows):
            row = text._fit(row, width)
            frame.append(f"{style}{row}{text.RESET}" if style and row else row)
            frame.append(CLEAR_LINE + ("\r\n" if index < len(rows) - 1 else ""))
        frame.append(FRAME_END)
        _write_all(self.out_fd, "".join(frame).encode("utf-8", errors="replace"))


def screen_rows(snapshot: dict, title: str, order: int, width: int, height: int,
                output_rows) -> list:
    """(text, style) rows of the full-screen view, at most `height`: the header, the
    hottest lines by ORDERS[order], and the program's latest output under them."""
    rows = _header(snapshot, title, order)
    columns = _columns(snapshot, width)
    rows += [("", ""), (_labels(columns), text.BOLD)]
    footer = []
    if output_rows is not None:
        footer = [("── the program's output (all of it is shown when the view closes) ──", "")]
        footer += [(row, "") for row in output_rows[-OUTPUT_TAIL_ROWS:]]
    room = max(0, height - len(rows) - len(footer) - 1)
    lines = sort_lines(snapshot, order)
    hottest = max((display.time_pct(line) for line in lines), default=0.0)
    for line, row in zip(lines, _rows(snapshot, lines[:room], columns, width)):
        total = display.time_pct(line)
        hot = total > 0 and (total >= text.HOT_PCT or total == hottest)
        rows.append((row, text.HOT if hot else ""))
    if not lines:
        rows.append(("(no line measured yet)", ""))
    rows += [("", "")] * max(0, height - len(rows) - len(footer))
    return (rows + footer)[:height]


def _output_rows(tail: bytes) -> list:
    """The program's latest output as plain rows: escape sequences out, a carriage return
    keeping what was written after it (a progress bar's last state)."""
    decoded = tail.decode("utf-8", errors="replace")
    rows = []
    for row in ESCAPES.sub("", decoded).split("\n"):
        row = row.rstrip("\r").rpartition("\r")[2]
        rows.append(text._printable(row.expandtabs()))
    if rows and rows[-1] == "":
        rows.pop()
    return rows


def _open_keyboard():
    """The terminal's keyboard: the controlling terminal (as `less` reads it, so the
    program's stdin stays its own), else stdin when it is the terminal; None without one."""
    try:
        return os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return 0 if os.isatty(0) else None


def _copy_size(terminal: int, pseudo_terminal: int) -> None:
    import fcntl
    import termios
    try:
        size = fcntl.ioctl(terminal, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(pseudo_terminal, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def _pass_through(program_output: int, out_fd: int, quiet_seconds) -> bool:
    """The program's output straight to the terminal, until every writer is gone (False)
    or, with `quiet_seconds`, until nothing came for that long (True)."""
    while True:
        if quiet_seconds is not None:
            ready, _, _ = select.select([program_output], [], [], quiet_seconds)
            if not ready:
                return True
        try:
            data = os.read(program_output, 65536)
        except OSError:  # EIO: no writer left
            return False
        if not data:
            return False
        try:
            _write_all(out_fd, data)
        except OSError:
            return False


def _write_all(descriptor: int, data: bytes) -> None:
    view_ = memoryview(data)
    while view_:
        view_ = view_[os.write(descriptor, view_):]
