"""`triscope attach PID`: profiles a running Python process that was not started under
triscope, for a while, and reports as a run does (docs/DEFINITIONS.md, "triscope attach";
the mechanism in docs/ARCHITECTURE.md, "Attaching to a running process").

This process stays outside the target. It checks what can be checked from /proc (the process
exists, is a Python of this one's version, may be attached to, is not profiled already), then
has the target's interpreter run a script in its main thread, at its next check, through
sys.remote_exec (CPython 3.14+); the script imports triscope from this installation
and begins an in-process profile (_attached.py). A second script stops it, writes the profile
into this command's private directory and gives the target back what profiling changed; this
command then writes the reports from it.

remote_exec says nothing about when, or whether, the script runs: a target blocked in C code
or asleep runs it late, or never. Each script therefore first claims a token file by renaming
it; this command, giving up, claims it itself, and whichever rename fails lost: a script that
lost does nothing but remove its own files. Answers come back through a fifo, and the target's
end through a pidfd, so nothing here waits by sleeping.

With --live, the directory also holds a listening socket: the begin script connects to it and
the target's C core sends the live view's snapshots there, as for `triscope --live`; a viewer
process forked here shows them (live.view) until the target's profile ends, and is gone
before anything else is printed.
"""

import json
import os
import re
import select
import signal
import sys
import tempfile

from triscope import _compat
from triscope.ptrace_access import why_denied
from triscope.options import UsageError, Options, build_parser, bounded

# How long the target has to run the attach code, by default: a busy Python program runs it
# within milliseconds; one blocked in a system call or C code does not run it at all.
DEFAULT_TIMEOUT_S = 10.0

# The script the target runs: its own globals, no __file__, errors only on its stderr (as
# "Exception ignored"), so it catches everything and answers through the fifo instead. It
# never leaves its directory's entries on sys.path or in sys.path_importer_cache.
SCRIPT = '''\
# Written by `triscope attach` for sys.remote_exec: run once in this process.
def triscope_attach(request):
    import os, sys
    here = request["dir"]

    def tidy():  # the attacher gave up on this script and left its files to it
        try:
            for name in os.listdir(here):
                os.unlink(os.path.join(here, name))
            os.rmdir(here)
        except OSError:
            pass

    try:
        os.rename(os.path.join(here, "pending"), os.path.join(here, "taken"))
        claimed = True
    except OSError:
        claimed = False
    if not claimed and request["action"] == "begin":
        return tidy()
    answer = {"error": None}
    try:
        attached = sys.modules.get("triscope._attached")
        if attached is None and request["action"] == "begin":
            import importlib.util
            known = sys.modules.get("triscope")
            found = known.__spec__ if known is not None else importlib.util.find_spec("triscope")
            where = found and found.submodule_search_locations
            if where and os.path.realpath(where[0]) != request["package"]:
                answer["error"] = "it imports another triscope (" + where[0] + ")"
            else:
                saved, cached = list(sys.path), request["parent"] in sys.path_importer_cache
                sys.path.append(request["parent"])
                try:
                    from triscope import _attached as attached
                finally:
                    sys.path[:] = saved
                    if not cached:
                        sys.path_importer_cache.pop(request["parent"], None)
        if attached is None:
            answer["error"] = answer["error"] or "triscope attach's code is not loaded"
        elif request["action"] == "begin":
            answer["error"] = attached.begin(request["options"], request["profile"],
                                             request["view"])
        else:
            answer["error"] = attached.end(request["profile"] if claimed else None)
    except BaseException as error:
        answer["error"] = type(error).__name__ + ": " + str(error)
    if not claimed:
        return tidy()
    try:
        fifo = os.open(os.path.join(here, "answer"), os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return  # the attacher is gone
    try:
        os.write(fifo, (__import__("json").dumps(answer) + "\\n").encode())
    finally:
        os.close(fifo)
triscope_attach(REQUEST)
'''

PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))


def build_attach_parser():
    """The run's options that make sense for a process already running, and attach's own."""
    parser = build_parser()
    parser.prog = "triscope attach"
    parser.usage = "triscope attach PID [--duration S] [--timeout S] [options]"
    parser.description = ("Profile a running Python 3.14+ process (not started under "
                          "triscope) until --duration has passed or Ctrl-C, then report as "
                          "a run does.")
    parser.epilog = ("Memory is Python's allocator only: native allocations need the "
                     "allocator library, loaded when a program starts under triscope. "
                     "--off, --pid, --on, --gpu-sync and --profile-interval do not apply.")
    parser.add_argument("target", type=bounded(int, 1, 2 ** 22), metavar="PID",
                        help="the process to profile")
    parser.add_argument("--duration", type=bounded(float, 0.01, 10 ** 7, "seconds"),
                        help="seconds to profile (default: until Ctrl-C or the process ends)")
    parser.add_argument("--timeout", type=bounded(float, 0.01, 3600, "seconds"),
                        default=DEFAULT_TIMEOUT_S,
                        help="seconds the process has to run the attach code (default 10); "
                             "a process blocked in C code or asleep runs none")
    return parser


def parse(argv: list):
    """(pid, duration, timeout, Options) from attach's command line, or a UsageError."""
    namespace = build_attach_parser().parse_args(argv)
    for name, flag in (("off", "--off"), ("on", "--on"), ("gpu_sync", "--gpu-sync")):
        if getattr(namespace, name):
            raise UsageError(f"{flag} does not apply to triscope attach")
    for name, flag in (("pid", "--pid"), ("profile_interval", "--profile-interval")):
        if getattr(namespace, name) is not None:
            raise UsageError(f"{flag} does not apply to triscope attach")
    options = Options.from_values(vars(namespace))
    if not namespace.gpu:
        # Loading NVML into someone else's process cannot be undone: only when asked.
        options = options.replace(gpu=False)
    return namespace.target, namespace.duration, namespace.timeout, options


# ==== What /proc tells before anything is tried ====

def _read(path: str, binary: bool = False):
    with open(path, "rb" if binary else "r", **({} if binary else {"errors": "replace"})) as f:
        return f.read()


def _python_version(pid: int):
    """(major, minor) of the Python process `pid` runs, from the libpython it maps or the name
    of its executable; None when neither says (then remote_exec is the judge)."""
    maps = _read(f"/proc/{pid}/maps")
    found = re.search(r"/libpython(\d+)\.(\d+)", maps)
    if found is None:
        executable = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
        found = re.fullmatch(r"python(\d+)\.(\d+)[a-z]*(?: \(deleted\))?", executable)
    return (int(found[1]), int(found[2])) if found else None


def _profiled_by_triscope(pid: int) -> bool:
    """Whether `pid` runs a triscope profile now: the extension loaded and its control
    signals handled (SigCgt, proc(5)); after an attached profile ended they are not."""
    from triscope import _native
    if "triscope/_native" not in _read(f"/proc/{pid}/maps"):
        return False
    status = _read(f"/proc/{pid}/status")
    caught = next((int(line.split()[1], 16) for line in status.splitlines()
                   if line.startswith("SigCgt:")), 0)
    return all(caught >> (signo - 1) & 1
               for signo in (_native.SIGNAL_SUSPEND, _native.SIGNAL_RESUME))


def _remote_debug_switch(pid: int) -> str:
    """How the target turned remote execution off, as far as its start shows, or ''."""
    environ = _read(f"/proc/{pid}/environ", binary=True).split(b"\0")
    if any(entry.startswith(b"PYTHON_DISABLE_REMOTE_DEBUG=") and entry != 
           b"PYTHON_DISABLE_REMOTE_DEBUG=" for entry in environ):
        return "PYTHON_DISABLE_REMOTE_DEBUG is set in its environment"
    argv = _read(f"/proc/{pid}/cmdline", binary=True).split(b"\0")
    for index, arg in enumerate(argv):
        if arg == b"-Xdisable-remote-debug" or (
                arg == b"-X" and argv[index + 1:index + 2] == [b"disable-remote-debug"]):
            return "it was started with -X disable-remote-debug"
    return ""


def check_target(pid: int) -> None:
    """Raises a UsageError saying why `pid` cannot be attached to, when /proc can tell."""
    if pid == os.getpid():
        raise UsageError("triscope cannot attach to itself")
    here = "Python {}.{}".format(*sys.version_info[:2])
    try:
        version = _python_version(pid)
        if version is None and "python" not in os.path.basename(os.readlink(
                f"/proc/{pid}/exe")).lower() and "libpython" not in _read(f"/proc/{pid}/maps"):
            raise UsageError(f"process {pid} is not a Python program (it runs "
                             f"{os.readlink(f'/proc/{pid}/exe')})")
        if version is not None and version != sys.version_info[:2]:
            there = "Python {}.{}".format(*version)
            raise UsageError(
                f"process {pid} runs {there} and this triscope runs on {here}: attaching "
                f"needs the same version (use the triscope installed for {there})")
        if os.stat(f"/proc/{pid}/root")[1:3] != os.stat("/")[1:3]:
            raise UsageError(f"process {pid} sees another root directory (a container or a "
                             "chroot): run triscope attach inside it")
        if _profiled_by_triscope(pid):
            raise UsageError(f"process {pid} is already being profiled by triscope (started "
                             "under it, or attached by another triscope attach)")
    except (FileNotFoundError, ProcessLookupError):
        raise UsageError(f"no process {pid}") from None
    except PermissionError:
        raise UsageError(why_denied(pid, "attach to")) from None


# ==== Talking to the target ====

class _Channel:
    """This command's private directory for one attach: the scripts, their token, the fifo
    their answers come through, the profile; and a pidfd that says when the target ends."""

    def __init__(self, pid: int):
        self.pid = pid
        self.dir = tempfile.mkdtemp(prefix=f"triscope-attach-{pid}-")
        try:
            owner = os.stat(f"/proc/{pid}").st_uid
            if os.geteuid() == 0 and owner != 0:  # root attaching to a user's process
                os.chown(self.dir, owner, -1)
            os.mkfifo(self.path("answer"), 0o600)
            if os.geteuid() == 0 and owner != 0:
                os.chown(self.path("answer"), owner, -1)
            # Read and write: it never reads as ended while no script has it open.
            self.answers = os.open(self.path("answer"), os.O_RDWR | os.O_NONBLOCK)
        except OSError:
            self.remove()
            raise
        try:
            self.ended = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.ended = None  # then the target's end is looked for between waits
        self.buffer = b""
        self.listener = None  # --live: the socket the target connects to...
        self.viewer = None    # ...the viewer process's pid, once it shows the view...
        self.view_connection = None  # ...and the connection it reads, kept to end it

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def listen(self):
        """The live view's socket in this directory: its path, or None (said in one line)
        when it cannot be made; the profile goes on without a view then."""
        import socket
        path = self.path("view")
        try:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            self.listener.bind(path)
            if os.geteuid() == 0 and os.stat(self.dir).st_uid != 0:
                os.chown(path, os.stat(self.dir).st_uid, -1)  # connecting needs write access
            self.listener.listen(1)
            self.listener.setblocking(False)
        except OSError as error:
            print(f"triscope: no live view (its socket {path}: {error.strerror or error}); "
                  "profiling goes on without it", file=sys.stderr)
            if self.listener is not None:
                self.listener.close()
                self.listener = None
            return None
        return path

    def start_view(self, title: str) -> None:
        """Shows the live view, in a process of its own, on the connection the begin script
        made (it connected before it answered, so it is waiting here)."""
        from triscope import live
        try:
            connection, _ = self.listener.accept()
        except OSError:
            print(f"triscope: process {self.pid} did not connect to the live view; "
                  "profiling goes on without it", file=sys.stderr)
            return
        finally:
            self.listener.close()
            self.listener = None
        sys.stdout.flush()
        sys.stderr.flush()
        viewer = os.fork()
        if viewer == 0:
            try:
                # Ctrl-C and SIGTERM are this command's: they end the target's profile, whose
                # end ends the view.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                for descriptor in (self.answers, self.ended):
                    if descriptor is not None:
                        os.close(descriptor)
                live._run_viewer(live.SocketSource(connection), title, None)
            finally:
                os._exit(1)
        self.viewer, self.view_connection = viewer, connection

    def end_view(self) -> None:
        """The view ends, and its process with it, before this command prints anything more:
        the terminal is back. When the target has ended its profile (or itself), the viewer
        has read the end already; otherwise this ends the connection, which the target's C
        core then closes at its next snapshot."""
        if self.viewer is None:
            return
        import socket
        try:
            self.view_connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.view_connection.close()
        try:
            os.waitpid(self.viewer, 0)
        except _Interrupted:  # Ctrl-C again: a viewer stuck writing is not waited for
            os.kill(self.viewer, signal.SIGKILL)
            os.waitpid(self.viewer, 0)
        self.viewer = self.view_connection = None

    def send(self, action: str, options: dict = None, view: str = None) -> None:
        """Has the target run the script for `action` ("begin" or "end") at its next check;
        `view`: the live view's socket, for begin."""
        with open(self.path("pending"), "w"):
            pass
        request = {"dir": self.dir, "action": action, "options": options,
                   "profile": self.path("profile.json"), "package": PACKAGE_DIR,
                   "parent": os.path.dirname(PACKAGE_DIR),
                   "view": None}
        if view is not None:
            from triscope import live
            request["view"] = {"socket": view, "seconds": live.SNAPSHOT_SECONDS}
        script = self.path(f"{action}.py")
        with open(script, "w", encoding="utf-8") as stream:
            stream.write(SCRIPT.replace("REQUEST", repr(request)))
        _compat.remote_exec(self.pid, script)

    def target_ended(self) -> bool:
        if self.ended is not None:
            return bool(select.select([self.ended], [], [], 0)[0])
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False

    def wait(self, timeout):
        """Waits up to `timeout` seconds (None: for ever) for the script's answer: the answer's
        dict, or "ended" when the target ended first, or None at the timeout."""
        import time
        deadline = None if timeout is None else time.monotonic() + timeout
        watched = [self.answers] + ([self.ended] if self.ended is not None else [])
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            # Without a pidfd the target's end is looked for every second.
            step = left if self.ended is not None else min(1.0, 1.0 if left is None else left)
            ready = select.select(watched, [], [], step)[0]
            if self.answers in ready:
                self.buffer += os.read(self.answers, 65536)
                if b"\n" in self.buffer:
                    line, _, self.buffer = self.buffer.partition(b"\n")
                    return json.loads(line)
                continue
            if (self.ended is not None and self.ended in ready) or self.target_ended():
                return "ended"
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def withdraw(self) -> bool:
        """Takes the pending script's token back: True when the script had not claimed it (it
        will do nothing if it ever runs, and removes this directory then)."""
        try:
            os.rename(self.path("pending"), self.path("withdrawn"))
            return True
        except FileNotFoundError:
            return False

    def close(self) -> None:
        self.end_view()
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for descriptor in (self.answers, self.ended):
            if descriptor is not None:
                os.close(descriptor)
        self.answers = self.ended = None

    def remove(self) -> None:
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)


def _remote_exec_error(pid: int, error: Exception) -> str:
    """The one line for what sys.remote_exec raised."""
    message = str(error)
    if isinstance(error, PermissionError):
        return why_denied(pid, "attach to")
    if isinstance(error, ProcessLookupError):
        return f"no process {pid}"
    if "not enabled" in message:
        switch = _remote_debug_switch(pid)
        return (f"process {pid} has remote debugging turned off"
                f"{' (' + switch + ')' if switch else ''}: it cannot be attached to")
    versions = re.search(r"from a Python (\S+) process to a Python (\S+) process", message)
    if versions:
        return (f"process {pid} runs Python {versions[2]} and this triscope runs on Python "
                f"{versions[1]}: attaching needs the same version (use the triscope "
                f"installed for Python {versions[2]})")
    if "PyRuntime" in message:
        return f"process {pid} is not a Python program (no Python runtime found in it)"
    return f"cannot attach to process {pid}: {message}"


class _Interrupted(Exception):
    """Ctrl-C (or SIGTERM) of this command."""


def _on_terminate(signo, frame):
    raise _Interrupted()


# ==== The command ====

def main(argv: list) -> int:
    pid, duration, timeout, options = parse(argv)
    if not _compat.HAS_REMOTE_EXEC:
        raise UsageError("triscope attach needs Python 3.14 or newer (sys.remote_exec, "
                         "PEP 768); this triscope runs on Python {}.{}".format(
                             *sys.version_info[:2]))
    check_target(pid)
    from triscope import launch
    try:
        program = " ".join(os.fsdecode(arg) for arg in _read(
            f"/proc/{pid}/cmdline", binary=True).split(b"\0")[:-1])
    except OSError:
        program = f"process {pid}"
    session = launch._Session(options, program, [])  # where the outputs go, checked now
    previous = {signo: signal.signal(signo, _on_terminate)
                for signo in (signal.SIGINT, signal.SIGTERM)}
    channel = None
    try:
        channel = _Channel(pid)
        return _attach(channel, pid, duration, timeout, options, session)
    except _Interrupted:
        return _interrupted_before_start(channel, pid)
    finally:
        for signo, handler in previous.items():
            signal.signal(signo, handler)
        if channel is not None:
            channel.close()


def _interrupted_before_start(channel, pid: int) -> int:
    """Ctrl-C while the target had not answered the attach code yet."""
    if channel is None or channel.withdraw():
        print(f"triscope: interrupted before process {pid} ran the attach code: nothing "
              "was started there", file=sys.stderr)
        return 130
    # Its script had claimed the token: it is beginning the profile. Let it, then stop it.
    answer = channel.wait(None)
    if answer == "ended" or answer["error"]:
        channel.remove()
        return 130
    return _stop(channel, pid, None, timeout=None)


def _attach(channel, pid, duration, timeout, options, session) -> int:
    view = channel.listen() if options.live else None
    try:
        channel.send("begin", options.to_dict(), view)
    except Exception as error:  # whatever remote_exec raises: one line, nothing left
        channel.remove()
        raise UsageError(_remote_exec_error(pid, error)) from None
    print(f"triscope: process {pid} runs the attach code at its next check (waiting up to "
          f"{timeout:g} s)", file=sys.stderr)
    answer = channel.wait(timeout)
    if answer is None and channel.withdraw():
        raise UsageError(
            f"process {pid} did not run the attach code within {timeout:g} s (its main "
            "thread is blocked in C code or asleep): nothing was started there, and the "
            "code does nothing if it runs later")
    if answer is None:
        answer = channel.wait(None)  # it claimed the token just now: it is answering
    if answer == "ended":
        channel.remove()
        raise UsageError(f"process {pid} ended before it ran the attach code")
    if answer["error"]:
        channel.remove()
        raise UsageError(f"cannot attach to process {pid}: {answer['error']}")
    how_long = f"for {duration:g} s" if duration is not None else "until Ctrl-C"
    memory = " (memory: Python's allocator only)" if options.memory else ""
    print(f"triscope: attached to process {pid}, profiling {how_long}{memory}",
          file=sys.stderr)
    if view is not None:
        channel.start_view(session.program)
    try:
        ended = _wait_ended(channel, duration)
    except _Interrupted:
        ended = False
    if ended:
        return _report_after_exit(channel, pid, session)
    return _stop(channel, pid, session, timeout)


def _wait_ended(channel, duration) -> bool:
    """Waits `duration` seconds (None: until interrupted); True when the target ended."""
    import time
    deadline = None if duration is None else time.monotonic() + duration
    watched = [channel.ended] if channel.ended is not None else []
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        step = left if channel.ended is not None else min(1.0, 1.0 if left is None else left)
        if select.select(watched, [], [], step)[0] or channel.target_ended():
            return True


def _stop(channel, pid, session, timeout) -> int:
    """Has the target stop, write the profile here and restore itself; then reports."""
    try:
        channel.send("end")
    except Exception as error:
        if channel.target_ended():
            return _report_after_exit(channel, pid, session)
        raise UsageError(_remote_exec_error(pid, error)) from None
    channel.end_view()  # the terminal is this command's again before it says anything more
    try:
        answer = channel.wait(timeout)
        if answer is None:
            print(f"triscope: process {pid} has not run the stop code within {timeout:g} s "
                  "(its main thread is blocked in C code or asleep); waiting for it (Ctrl-C "
                  "to give up: it then stops profiling when it next runs Python code, "
                  "writing nothing)", file=sys.stderr)
            answer = channel.wait(None)
    except _Interrupted:
        if channel.withdraw():
            raise UsageError(f"gave up waiting for process {pid}: it stops profiling and "
                             "restores itself when it next runs Python code") from None
        answer = channel.wait(None)
    if answer == "ended":
        return _report_after_exit(channel, pid, session)
    if answer["error"]:
        channel.remove()
        raise UsageError(f"process {pid} could not hand its profile back: {answer['error']}")
    if session is None:
        channel.remove()
        return 130
    print(f"triscope: detached from process {pid}", file=sys.stderr)
    return _report(channel, session)


def _report_after_exit(channel, pid, session) -> int:
    """The target ended while profiled: its exit hook wrote the profile, unless it was
    killed."""
    channel.end_view()
    if session is not None and os.path.exists(channel.path("profile.json")):
        print(f"triscope: process {pid} exited while profiled; its profile up to its exit "
              "follows", file=sys.stderr)
        return _report(channel, session)
    channel.remove()
    raise UsageError(f"process {pid} ended while profiled, without writing its profile "
                     "(killed by a signal, or os._exit)")


def _report(channel, session) -> int:
    """The reports, as a run writes them, from the profile the target wrote here."""
    from triscope import outputs
    try:
        with open(channel.path("profile.json"), "rb") as stream:
            data = stream.read()
        outputs.replace_file(session.json_path, data)
        session.write_reports()
    except OSError as error:
        print(f"triscope: error: cannot write the profile: {error}", file=sys.stderr)
        return 1
    finally:
        channel.remove()
    return 0
