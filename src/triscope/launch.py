"""Running the program under the profiler, so that it cannot tell (docs/DEFINITIONS.md).

The program runs in this process, in a fresh `__main__` module, with the `sys.argv`,
`sys.orig_argv`, `sys.path[0]` and `__file__` that `python program.py` (or `python -m
module`) would give it (mainprogram.py). Its exceptions are reported as Python reports
them, minus triscope's own frames, and its exit status is kept. The profile is written from
an atexit hook: after the interpreter has joined the program's non-daemon threads, and after
the program's own atexit handlers (registered later, so run earlier).
"""

# Imports are kept to what every run needs before its program starts: they are start-up time
# added to each run, and modules the program would find imported. The reports (text, HTML,
# merge) are imported at exit, when they are written (docs/PERFORMANCE.md, start-up + exit).
# Signal handlers are set through _signal, which the interpreter has loaded already: the
# signal module wraps the same functions in enums (0.5 ms, and enum's 1.2 ms). threading and
# subprocess are hooked from below, through _thread and _posixsubprocess, and imported only
# by a program that uses them (_install_thread_hook, children.watch_environments).
import _signal
import _thread
import atexit
import builtins
import os
import stat
import sys

from triscope import (__version__, _compat, _native, children, execs, jsoncodec, mainprogram,
                      originals, outputs, preload, scratch, source)
from triscope.options import Options

OWN_DIR = os.path.dirname(os.path.abspath(__file__))
# Code that is the launcher's, not the program's: hidden from stacks. runpy is how a program
# is reached (`python -m triscope`, `triscope -m module`), so its frames sit above every
# program's first frame (its code names "<frozen runpy>" where the interpreter froze it).
# It sits beside os in the standard library; imported only for -m (1.6 ms of a start).
_RUNPY = os.path.join(os.path.dirname(os.__file__), "runpy.py")
OWN_CODE = [OWN_DIR, os.path.realpath(OWN_DIR), _RUNPY, os.path.realpath(_RUNPY),
            "<frozen runpy>"]


def _strip_own_frames(tb):
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(OWN_DIR + os.sep):
        tb = tb.tb_next
    return tb


# ==== sys.path: the launcher's, then the program's ====
# docs/ARCHITECTURE.md, "The launcher and child processes". Unless -P (sys.flags.safe_path),
# the interpreter puts one directory first on sys.path; while the launcher runs, that entry
# is one of triscope's (__main__.py sees to it), and only when the program begins does it
# become the program's own: its script's directory, or the working directory under -m. What
# triscope imports once the program has begun (writing the reports at exit), it imports with
# its own sys.path, never from the program's directories.

_launcher_sys_path = None  # sys.path as the launcher had it, for its imports at exit


def _with_launcher_sys_path(method):
    """Runs `method` (the session's finish) importing with the launcher's sys.path: a module
    beside the program named like one triscope imports at exit must not run. The program's
    own sys.path object comes back afterwards, whatever the program made of it."""
    def with_launcher_sys_path(self):
        if _launcher_sys_path is None:  # profiling in-process: there is no other path
            return method(self)
        programs = sys.path
        sys.path = list(_launcher_sys_path)
        try:
            return method(self)
        finally:
            sys.path = programs
    with_launcher_sys_path.__doc__ = method.__doc__
    return with_launcher_sys_path


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class _Session:
    """One profiled run: what to write where when it ends."""

    def __init__(self, options: Options, program: str, program_args: list):
        self.options = options
        self.program = program
        self.string_source = None  # a `python -c` process's code, the source of <string>
        self.args = program_args
        self.pid = os.getpid()
        self.finished = False  # finish() has begun
        self.written = False   # finish() is over
        self.sigterm_pending = False
        self.child_dir = None  # where children leave their profiles, when they are profiled
        self.overhead_rss_mb = None  # triscope's own memory as profiling began (own_memory)
        self.quiet = False     # a child's session: its profile is for the parent only
        self.running_mark = None  # a child's: children.mark_running, gone once it has written
        self.die_by_sigint = False
        self.checkpoint_fds = []  # the directory, then the two checkpoint files
        self.via_exec = False      # this image continues the profile of one that exec'd
        self.held = None           # (descriptor, identity) of the JSON output: hold_output()
        self.in_held = False       # the JSON is in the held descriptor, not at json_path
        self.live = None           # the live view (live.Live) while it is shown: --live
        self.launch_umask = _current_umask()  # what the outputs are made under: as_launched
        self.launch_recursion_limit = sys.getrecursionlimit()
        self.originals = originals.Originals()  # the file functions: as_launched
        self.owns_streams = False  # the reports go to the process's own stderr: as_launched
        self.json_path, self.text_path, self.html_path = self._output_paths()

    def _output_paths(self):
        """(JSON, text, HTML) paths: no text path means stderr, no HTML path no HTML. Each
        that `-o` names also gets its outputs.Target (what kind of thing it is, checked now)."""
        options = self.options
        outfile = options.outfile and os.path.abspath(options.outfile)
        as_json = outfile and (options.json or outfile.endswith(".json"))
        as_html = outfile and not as_json and (options.html or outfile.endswith(".html"))
        self.json_target = self.text_target = self.html_target = None
        target = outputs.Target(outfile) if outfile else None
        if as_json and not target.in_place:
            json_path = target.path
        elif as_json:
            # The JSON is made in a file of ours first (the reports read it back, children
            # are merged into it), then copied to the device, fifo or descriptor.
            self.json_target = target
            json_path = self._scratch_json_path()
        else:
            json_path = os.path.abspath("profile.json")
            if not os.access(os.path.dirname(json_path), os.W_OK):
                # A read-only working directory must not cost the user the profile.
                json_path = self._scratch_json_path()
        if as_html:
            html_path = outfile
            self.html_target = target
        elif options.cli and not (options.html or options.web):
            html_path = None
        elif self.json_target is not None:
            html_path = os.path.abspath("profile.html")
        else:
            html_path = os.path.splitext(outfile if as_json else json_path)[0] + ".html"
        text_path = outfile if outfile and not (as_json or as_html) else None
        if text_path:
            self.text_target = target
        if html_path and not as_html:
            self.html_target = outputs.Target(html_path)
        return json_path, text_path, html_path

    def _scratch_json_path(self) -> str:
        return os.path.join(scratch.directory(), f"triscope-{os.getpid()}.json")

    def write_handover(self, path: str) -> None:
        """This image's profile, for the one it execs (or, for a child, for the parent) to
        merge; marked as an exec'd image's when it is one."""
        self.write_json(path)
        if self.via_exec:
            from triscope.reports import merge
            with open(path, "rb") as stream:
                profile = jsoncodec.loads(stream.read())
            merge.write(merge.mark_exec(profile), path)

    def hold_output(self) -> None:
        """A program run as root may become another user, who may not write the output's
        directory: keep the JSON output open from now on, to write it in place when it
        cannot be replaced at the end. Only one that exists already: a file made now would
        show, empty, to whoever reads it while the program runs."""
        if os.geteuid() != 0 or self.json_target is not None:
            return
        try:
            descriptor = _native.park_fd(os.open(self.json_path, os.O_RDWR | os.O_CLOEXEC))
        except OSError:
            return
        self.held = descriptor, outputs.identity(descriptor)

    def _write_held(self) -> bool:
        """Writes the profile into the held output, while it still is the output (not a
        number the program reused, not a file an earlier write replaced)."""
        if self.held is None or outputs.identity(self.held[0]) != self.held[1]:
            return False
        try:
            if os.fstat(self.held[0]).st_nlink == 0:
                return False
            self.write_json(descriptor=self.held[0])
        except OSError:
            return False
        self.in_held = True
        return True

    def release_output(self) -> None:
        if self.held is not None:
            os.close(self.held[0])
            self.held = None

    def write_json(self, path: str = None, descriptor: int = -1) -> None:
        """Writes the profile so far (atomically: a reader never sees half a file; in place
        into `descriptor` when one is given)."""
        _native.write_profile(None if descriptor >= 0 else path or self.json_path,
                              fd=descriptor, **self._profile_facts())

    def _profile_facts(self) -> dict:
        """What the profile records besides the measurements: the keywords of
        _native.write_profile (and of each checkpoint's). sys.argv and the @profile ranges
        are passed as the objects themselves: a checkpoint written later sees what the
        program has made of them by then."""
        import triscope
        return dict(version=__version__, program=self.program,
                    string_source=self.string_source, args=sys.argv,
                    python=".".join(map(str, sys.version_info[:3])),
                    only_ranges=triscope.profiled_functions, decode_source=source.decode,
                    overhead_rss_mb=-1 if self.overhead_rss_mb is None
                    else self.overhead_rss_mb)

    def own_memory(self, before: int) -> None:
        """Records what triscope has added to the resident memory since `before` (bytes, as
        triscope._resident_bytes read it): called as profiling begins."""
        import triscope
        now = triscope._resident_bytes()
        if before > 0 and now > 0:
            self.overhead_rss_mb = max(0, now - before) / (1024 * 1024)

    @_with_launcher_sys_path
    def finish(self) -> None:
        if os.getpid() != self.pid or self.finished:
            return  # a forked child exiting normally: the parent owns the profile
        self.finished = True
        _native.stop()
        self.end_live()
        try:
            self.as_launched(self._write_all)
        finally:  # however writing went
            remove_child_dir(self)
        self.written = True
        self._die_if_asked()

    def _write_all(self) -> None:
        try:
            if self.quiet:
                self.write_handover(self.json_path)
                if self.running_mark is not None:
                    os.unlink(self.running_mark)
            else:
                self.write_json()
            written = True
        except OSError as error:
            # A child outliving its parent's merge has nowhere to write. Otherwise (full
            # disk, privileges dropped, directory gone) the profile goes in place through
            # the output kept open, or else beside.
            written = not self.quiet and (self._write_held() or self._write_beside(error))
        if written and not self.quiet:
            try:
                self.write_reports()
            except OSError as error:
                print(f"triscope: error: cannot write the profile: {error}", file=sys.stderr)
            except ImportError:
                print(f"triscope: the reports were not written: the program gave up the "
                      f"privileges that read triscope's installation; the profile is in "
                      f"{self.json_path} (`triscope view` makes them)", file=sys.stderr)

    def as_launched(self, write) -> None:
        """Calls `write` with what the program may have done to the process that would cost
        the user the profile undone for its duration (docs/ARCHITECTURE.md, "What the
        program leaves behind"): files are made under the umask triscope began with (a umask
        of 0o777 would make them unreadable; a child's hand-over, for the parent alone,
        under 0o077); the descriptors the program used up or limited are given room
        (_native.make_room); a recursion limit it lowered is the start's again (the reports
        nest deeper than 25 calls); and a run's reports go to the process's own stdout and
        stderr, not to objects the program put in sys.stdout and sys.stderr; and the file
        functions it replaced or deleted (open, os.open, ...) are the ones the run began with
        (originals.py). After it the process is the program's again: it may go on, or exec."""
        programs_functions = self.originals.put_back()
        programs_umask = os.umask(0o077 if self.quiet else self.launch_umask)
        programs_limit = sys.getrecursionlimit()
        programs_streams = sys.stdout, sys.stderr
        _native.make_room()
        try:
            sys.setrecursionlimit(max(programs_limit, self.launch_recursion_limit))
            if self.owns_streams:
                sys.stdout, sys.stderr = (
                    own if own is not None and not own.closed else theirs
                    for own, theirs in ((sys.__stdout__, sys.stdout),
                                        (sys.__stderr__, sys.stderr)))
            write()
        finally:
            sys.stdout, sys.stderr = programs_streams
            try:
                sys.setrecursionlimit(programs_limit)
            except RecursionError:
                pass  # deeper now than the program's limit allows: left at the start's
            _native.room_done()
            os.umask(programs_umask)
            originals.Originals.take_back(programs_functions)

    def end_live(self) -> None:
        """The live view ends with the profile (the program's end, or an exec): the
        program's output and the terminal are given back before anything else is printed."""
        if self.live is not None:
            live, self.live = self.live, None
            live.finish()

    def _write_beside(self, error: OSError) -> bool:
        scratch = self._scratch_json_path()
        try:
            self.write_json(scratch)
        except OSError as failure:
            if not self._write_through_checkpoint(failure):
                print(f"triscope: error: cannot write the profile: {failure}", file=sys.stderr)
            return False  # no reports: they would need files of their own
        print(f"triscope: cannot write {self.json_path}: {error.strerror}; the profile is in "
              f"{scratch}", file=sys.stderr)
        self.json_path = scratch
        return True

    def _write_through_checkpoint(self, failure: OSError) -> bool:
        """The last way out, where no file could be opened: a program that lowered its hard
        RLIMIT_NOFILE to what it holds leaves no number (as_launched can raise only the soft
        limit back, unprivileged). The profile goes into a checkpoint file, open since the
        start, and takes the output's name as after a crash (docs/ARCHITECTURE.md, "What
        the program leaves behind"); the reports are not written."""
        if not self.checkpoint_fds:
            return False
        try:
            where = _native.checkpoint_final(**self._profile_facts())
        except (OSError, RuntimeError):
            return False
        print(f"triscope: cannot write the profile: {failure.strerror}; it is in {where}, "
              f"written through a checkpoint file, without the reports (`triscope view "
              f"{where}` makes them)", file=sys.stderr)
        return True

    def _die_if_asked(self) -> None:
        self.stop_checkpoints()
        self.release_output()
        if self.sigterm_pending:
            _die_by(_signal.SIGTERM)
        if self.die_by_sigint:
            _die_by(_signal.SIGINT)

    def write_reports(self) -> None:
        """The text and HTML reports, from the JSON (with the children's folded in)."""
        from triscope.reports import text
        data = self._read_json()
        merged = self.child_dir and children.merge_children(
            lambda: jsoncodec.loads(data), self.child_dir, self.via_exec, self._rewrite_json)
        if merged:
            profile, data = merged, None
        else:
            profile = _without_stacks(data)
        if self.text_path:
            import io
            report = io.StringIO()
            text.print_report(profile, report, self.options.cpu_percent_threshold,
                              self.options.malloc_threshold)
            outputs.deliver(self.text_target, report.getvalue().encode("utf-8"), "report",
                     ".txt")
        else:
            text.print_report(profile, sys.stderr, self.options.cpu_percent_threshold,
                              self.options.malloc_threshold)
        json_written = self.json_path
        if self.json_target is not None:
            # The bytes read above, unless merging the children rewrote them.
            json_written = outputs.deliver(self.json_target,
                                    self._read_json() if data is None else data, "profile",
                                    ".json")
            if json_written != self.json_path:
                os.unlink(self.json_path)
        print(f"triscope: profile written to {json_written}", file=sys.stderr)
        if self.html_path:
            self.write_html(profile, data)

    def _read_json(self) -> bytes:
        if not self.in_held:
            with open(self.json_path, "rb") as stream:
                return stream.read()
        os.lseek(self.held[0], 0, os.SEEK_SET)
        chunks = []
        while chunk := os.read(self.held[0], 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)

    def _rewrite_json(self, profile: dict) -> None:
        """The merged profile over the JSON written before, where that went."""
        from triscope.reports import merge
        if not self.in_held:
            merge.write(profile, self.json_path)
            return
        import json
        data = (json.dumps(profile, separators=(",", ":")) + "\n").encode("utf-8")
        os.ftruncate(self.held[0], 0)
        os.pwrite(self.held[0], data, 0)

    def write_html(self, profile: dict, profile_json: bytes = None) -> None:
        from triscope.reports import html
        written = outputs.deliver(self.html_target, html.page(profile, profile_json), "report",
                           ".html")
        print(f"triscope: HTML report written to {written}", file=sys.stderr)
        if self.options.web and not html.open_in_browser(written):
            print(f"triscope: no browser to open it here; open {written} in one",
                  file=sys.stderr)

    def take_sigterm(self) -> None:
        """SIGTERM handled by on_sigterm (the program has no handler of its own), with the
        relay that makes it as sure as the default action (docs/ARCHITECTURE.md, "Control")."""
        _signal.signal(_signal.SIGTERM, self.on_sigterm)
        _native.sigterm_relay()

    def on_sigterm(self, signo, frame) -> None:
        """SIGTERM with no handler of the program's: write the profile, then die by it.
        Arriving while the profile is being written (a pool worker exiting as its pool
        terminates it), it waits for the writing to end instead of cutting it short."""
        _native.sigterm_taken()
        if self.finished and not self.written:
            self.sigterm_pending = True
            return
        self.finish()
        _die_by(_signal.SIGTERM)

    def checkpoint(self) -> None:
        """A run keeps a copy of the profile that a crash, or a SIGTERM the main thread
        cannot take in time (docs/ARCHITECTURE.md, "Control"), makes the profile: the first
        after FIRST_CHECKPOINT_SECONDS, then twice as far apart each time, up to
        CHECKPOINT_SECONDS apart, into two unnamed files beside the output (or in the temporary
        directory, when the output is not a regular file), in turn. Unnamed, they leave
        nothing behind on any exit; opened now, they are still writable after the program
        drops its privileges. A file system without O_TMPFILE gets no checkpoints."""
        if self.json_target is not None:
            directory = scratch.directory()
            final_name = f"triscope-{os.getpid()}-crash.json"
        else:
            directory, final_name = os.path.split(self.json_path)
        try:
            dir_fd = _native.park_fd(
                os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
        except OSError:
            return
        self.checkpoint_fds = [dir_fd]
        try:
            for _ in range(2):
                self.checkpoint_fds.append(_native.park_fd(
                    os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o666)))
        except OSError:
            return self.stop_checkpoints()
        meta = self._profile_facts()
        _native.checkpoint_every(
            FIRST_CHECKPOINT_SECONDS, CHECKPOINT_SECONDS, tuple(self.checkpoint_fds[1:]),
            dir_fd,
            f".{final_name}.crash.{os.getpid()}", final_name,
            os.path.join(directory, final_name), meta)

    def stop_checkpoints(self) -> None:
        _native.checkpoint_stop()
        for descriptor in self.checkpoint_fds:
            try:
                os.close(descriptor)
            except OSError:
                pass
        self.checkpoint_fds = []

    def write_periodically(self, seconds: float) -> None:
        """--profile-interval: the cumulative profile, rewritten every `seconds`."""
        def loop():
            while not self.finished:
                time.sleep(seconds)
                if not self.finished and _native.is_running():
                    try:
                        self.write_json()
                    except OSError as error:
                        print(f"triscope: error: cannot write the profile: {error}",
                              file=sys.stderr)
        import threading
        import time
        threading.Thread(target=loop, name="triscope-profile-interval", daemon=True).start()


def _open_to_every_user(paths: list) -> bool:
    """Whether any user may still read what the end imports and reads (the package, the
    launcher's sys.path) after a privilege drop: each of `paths` that exists may be read
    (a directory listed and entered) by others, below directories others may enter. What
    lies inside is taken to be as open as the directory installers put it in. When so, a
    root run need not load the reports before its program (_ready_for_a_privilege_drop)."""
    for path in paths:
        current = os.path.realpath(path)
        try:
            mode = os.stat(current).st_mode
        except OSError:
            continue  # nothing there: nothing is imported from it
        wanted = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
        while True:
            if mode & wanted != wanted:
                return False
            parent = os.path.dirname(current)
            if parent == current:
                break
            current, wanted = parent, stat.S_IXOTH
            try:
                mode = os.stat(current).st_mode
            except OSError:
                return False
    return True


def _ready_for_a_privilege_drop() -> None:
    """A program run as root may become another user and then no longer read the code and
    data writing the profile and the reports needs, when they are installed where only root
    may read (a Python under /root): load them. Exactly what the end imports and reads: the
    reports and the modules they import lazily (source's tokenize, regions' ast for a
    profile with measured lines, the text report's unicodedata for wide characters), the
    viewer page and viewer/ai.json. Only such a run pays for this (_open_to_every_user), and
    only when its program gives up root through os (_load_before_privilege_changes); any
    other imports at exit what it uses."""
    import io, json, shutil, tempfile, tokenize, unicodedata  # noqa: E401,F401
    from triscope import ai_spec, regions  # noqa: F401
    from triscope.reports import display, html, merge, text  # noqa: F401
    html.template()
    ai_spec.spec()


# The os functions through which a program gives up root (or the groups that let it read).
PRIVILEGE_CHANGES = ("setuid", "seteuid", "setreuid", "setresuid", "setgid", "setegid",
                     "setregid", "setresgid", "setgroups", "initgroups")


def _load_before_privilege_changes() -> None:
    """For a root run whose installation only root may read: the first call of one of os's
    PRIVILEGE_CHANGES loads what the end needs (_ready_for_a_privilege_drop), with the
    launcher's sys.path, before the change. Loading it before every such run's program
    cost 8 ms of its start, for the few programs that ever drop privileges. A C library's
    own setuid() is not seen: that run's profile is still written (its output was opened
    at the start, as root) and the end says in one line why the reports are not
    (docs/ARCHITECTURE.md, "Output, exec, crashes and privileges")."""
    pending = [True]

    def loading_first(name, change):
        def privilege_change(*args):
            if pending:
                pending.clear()
                programs = sys.path
                sys.path = list(_launcher_sys_path or programs)
                try:
                    _ready_for_a_privilege_drop()
                finally:
                    sys.path = programs
            return change(*args)
        privilege_change.__name__ = privilege_change.__qualname__ = name
        privilege_change.__doc__ = change.__doc__
        return privilege_change

    for name in PRIVILEGE_CHANGES:
        change = getattr(os, name, None)
        if change is not None:
            setattr(os, name, loading_first(name, change))


def _without_stacks(data: bytes) -> dict:
    """The profile the C writer wrote, read without its stacks: all the text report and the
    page's regions read of it (the page takes the bytes as they are). The stacks are most of
    the bytes (a pytest session's 220 KB: 2.0 ms of the 2.2 it took to read them all) and
    come last, the frame table first (profile_json.c), so the rest is read alone."""
    cut = data.rfind(b',"stack_frames":')
    return jsoncodec.loads(data[:cut] + b"}" if cut > 0 else data)


def remove_child_dir(session: "_Session") -> None:
    """Removes the directory where children leave their profiles and notes (and the link to
    the package in it). The run's owner calls this however the run ends: normally, by
    sys.exit, os._exit, an exception, a signal it turns into an exit, or before an exec
    (docs/ARCHITECTURE.md, "The launcher and child processes"). A child never does."""
    if session.child_dir is None or session.quiet or os.getpid() != session.pid:
        return
    scratch.remove_made_dir(session.child_dir)


def _profile_children(session: _Session, program_dirs: list) -> None:
    """Children started from here (subprocess, multiprocessing) profile themselves too, with
    this run's options (start_child reads them back)."""
    session.child_dir = scratch.make_dir(f"triscope-{os.getpid()}-children-")
    children.remove_stale_dirs(os.path.dirname(session.child_dir))
    # `python3` on PATH may be another installation of the same Python: give it the
    # triscope package alone (not our site-packages) through a directory holding a link.
    package_link_dir = os.path.join(session.child_dir, "lib")
    os.mkdir(package_link_dir)
    os.symlink(OWN_DIR, os.path.join(package_link_dir, "triscope"))
    children.watch_environments(session.child_dir, jsoncodec.dumps(
        {"options": session.options.to_dict(), "program_dirs": program_dirs}))
    children.keep_in_c_environment(os.environ.get("PYTHONPATH"))


def start_child() -> None:
    """In a child of a profiled program (from its sitecustomize): profile this process with
    the parent's options, leaving the profile in the parent's directory for children. In the
    new image of a profiled process that exec'd, continue its profile."""
    settings = jsoncodec.loads(os.environ[children.CHILD_OPTIONS])
    global _launcher_sys_path
    _launcher_sys_path = list(sys.path)  # at start-up, before the child's own first entry
    options = Options.from_dict(settings["options"])
    if options.memory and not preload.in_place():
        with open("/proc/self/cmdline", "rb") as stream:
            argv = [os.fsdecode(arg) for arg in stream.read().split(b"\0")[:-1]]
        preload.reexec([sys.executable, *argv[1:]])
    preload.restore_environment()
    children.watch_environments(os.environ[children.CHILD_DIR],
                                os.environ[children.CHILD_OPTIONS])
    handover = os.environ.pop(children.EXEC_HANDOVER, None)
    handover = handover and jsoncodec.loads(handover)
    program_dirs = settings["program_dirs"]
    program = string_source = None
    command = children.python_command(sys.orig_argv)
    if command[0] == "-c":
        # CPython names the code of -c "<string>"; its text is the command's.
        program, string_source = f"-c {command[1]}", command[1]
        program_dirs = program_dirs + ["<string>"]
    elif command[0] == "-m":
        program = f"-m {command[1]}"
        program_dirs = program_dirs + _child_module_dirs(command[1])
    elif handover and sys.argv and os.path.isfile(sys.argv[0]):
        # The image exec'd may be a program of its own, elsewhere: its code is the program's.
        program_dirs = program_dirs + [os.path.dirname(os.path.abspath(sys.argv[0]))]
    _begin_child_session(options, program_dirs, handover=handover, program=program,
                         string_source=string_source)
    if handover:
        execs.continue_after_exec(handover)


def _child_module_dirs(module: str) -> list:
    """What a `python -m module` child profiles, as a -m run of triscope would (see
    mainprogram.dirs_of_module_run). Its module is looked for as the child will look for it
    (its working directory first, unless -P), by its top-level name only: finding a
    submodule would import its packages before the child's own code runs."""
    import importlib.util
    cwd = os.getcwd()
    added = not sys.flags.safe_path
    if added:
        sys.path.insert(0, cwd)
    try:
        spec = importlib.util.find_spec(module.partition(".")[0])
    except (ImportError, ValueError):
        spec = None  # the child says so itself, as plain Python would
    finally:
        if added:
            sys.path.remove(cwd)
    if spec is None:
        return [cwd, os.path.realpath(cwd)]
    return mainprogram.dirs_of_module_run(spec, cwd)


def _begin_child_session(options: Options, program_dirs, configure=True, handover=None,
                         program=None, string_source=None) -> None:
    global _session
    program = program or (sys.argv[0] if sys.argv else "<child>")
    if handover and handover["main"]:
        session = _main_session_after_exec(options, program, handover)
    else:  # a child's profile is JSON for the parent to merge, nothing else
        options = options.replace(cli=True, html=False, web=False, outfile=None, json=True,
                                  profile_interval=None)
        session = _Session(options, program, sys.argv[1:])
        session.json_path = os.path.join(children.child_dir(), f"{os.getpid()}.json")
        session.text_path = session.html_path = None
        session.quiet = True
        # A forked child runs what its parent ran until then: its own work (a fork server's
        # worker), whatever the parent's command.
        command = children.python_command(sys.orig_argv) if configure else ("", None)
        session.running_mark = children.mark_running(children.child_dir(), command)
    session.via_exec = bool(handover)
    session.string_source = string_source
    _session = session
    if configure:
        _configure(options, program_dirs)
    atexit.register(session.finish)
    if _signal.getsignal(_signal.SIGTERM) in (_signal.SIG_DFL, None) or not configure:
        session.take_sigterm()
    _patch_os_exit()
    execs.patch_exec(_current_session)
    _native.start()
    if not session.quiet:
        session.checkpoint()


def _main_session_after_exec(options: Options, program: str, handover: dict) -> "_Session":
    """The run's own session again, in the image the profiled program exec'd: it writes the
    outputs the run was asked for, its own profile merged with what was handed over."""
    options = options.replace(outfile=handover["outfile"])
    here = os.getcwd()
    try:
        os.chdir(handover["cwd"])  # where the run's default outputs go
    except OSError:
        pass
    try:
        session = _Session(options, program, sys.argv[1:])
    finally:
        os.chdir(here)
    session.child_dir = os.environ[children.CHILD_DIR]
    session.launch_umask = handover.get("umask", session.launch_umask)
    session.owns_streams = True
    return session


def _patch_os_exit() -> None:
    """os._exit skips atexit (pool workers end with it): write the profile first. Best
    effort: threads still running are cut off wherever they are."""
    real_exit = getattr(os._exit, "triscope_original", os._exit)

    def _exit(status):
        if _session is not None:
            _session.finish()
        real_exit(status)

    _exit.triscope_original = real_exit
    os._exit = _exit


def _after_fork_in_child() -> None:
    """A forked child: drop the parent's sampling state; profile itself when children are
    profiled (multiprocessing's fork start method, os.fork). A SIGTERM held over the fork
    is let in last, when the child's own handler is in place."""
    try:
        _begin_forked_child()
    finally:
        _release_sigterm()


def _begin_forked_child() -> None:
    global _thread_hook_lock
    _thread_hook_lock = _thread.allocate_lock()  # another thread may have held it at the fork
    if _session is None:
        return  # nothing profiled here now (a profile attached to this process has ended)
    _native.after_fork_in_child()
    if children.child_dir() is None:
        return
    parent = _session
    try:
        # A forked `-c` process runs the same code: its <string> is still that code.
        _begin_child_session(parent.options, None, configure=False,
                             string_source=parent.string_source,
                             program=parent.program if parent.string_source else None)
    except Exception as error:  # never let the profiler break the child
        print(f"triscope: child process {os.getpid()} not profiled: {error}", file=sys.stderr)


# A run still going after this long says which process it profiles (docs/DEFINITIONS.md).
ANNOUNCE_AFTER_SECONDS = 10.0


def _announce(options: Options) -> None:
    """Which process is profiled and how to suspend it: at once with -v, else only if the
    run is still going after ANNOUNCE_AFTER_SECONDS (a short run stays quiet)."""
    pid = os.getpid()
    banner = (f"triscope: profiling process {pid} (suspend: python -m triscope --pid {pid} "
              f"--off; resume: python -m triscope --pid {pid} --on)")
    if options.verbose:
        print(banner, file=sys.stderr)
    else:
        _native.announce_after(ANNOUNCE_AFTER_SECONDS, banner + "\n")


def _die_by(signo: int) -> None:
    """Ends the process as killed by `signo`, as it would have without triscope."""
    sys.stdout.flush()
    sys.stderr.flush()
    _signal.signal(signo, _signal.SIG_DFL)
    os.kill(os.getpid(), signo)


_session = None


def _current_session():
    """The session profiling this process, or None (for execs.patch_exec)."""
    return _session


# A crash loses the time since the last checkpoint: about half of a short run, at most
# CHECKPOINT_SECONDS of a long one; a run shorter than FIRST_CHECKPOINT_SECONDS has none
# (one costs well under a millisecond: 25 of a 2.5 s run added no measurable CPU time).
FIRST_CHECKPOINT_SECONDS = 1.0
CHECKPOINT_SECONDS = 10.0


def start_or_resume() -> None:
    """triscope.start(): resume a running profile, or profile this process from here on
    (without the allocator library: memory is what Python's allocator shows)."""
    if _native.is_running():
        _native.resume()
        return
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    program_dirs = [os.path.dirname(os.path.abspath(main_file))] if main_file else [os.getcwd()]
    print("triscope: profiling in-process: memory shows Python's allocator only "
          "(run under the triscope command for native allocations)", file=sys.stderr)
    begin_in_process(program_dirs, main_file or "<interactive>")


def begin_in_process(program_dirs: list, program: str, json_path: str = None,
                     options: Options = None, quiet: bool = False) -> "_Session":
    """Profiles this process from here on, files under `program_dirs` (the pytest plugin,
    the IPython magics, triscope.start()), with `options` (default: the command line's
    defaults); the JSON goes to `json_path` (default ./profile.json). The returned
    session's finish() stops and writes; with `quiet` it writes the JSON only.
    Raises RuntimeError when this process is already being profiled."""
    global _session
    if _native.is_running():
        raise RuntimeError("this process is already being profiled")
    import triscope
    before = triscope._resident_bytes()
    options = (options or Options.parse([])).replace(cli=True)
    session = _Session(options, program, sys.argv[1:])
    if json_path is not None:
        session.json_path = os.path.abspath(json_path)
    session.quiet = quiet
    _configure(options, [os.path.abspath(d) for d in program_dirs])
    _session = session
    atexit.register(session.finish)
    _native.start(paused=options.off)
    session.own_memory(before)
    return session


def end_in_process(session: "_Session") -> None:
    """Undoes begin_in_process for a `session` that is stopped and written, as far as Python
    lets it be undone: its exit hook and the thread hook go; the fork hook stays (it does
    nothing with no session). The C core's own release is _native.release()."""
    global _session
    atexit.unregister(session.finish)
    session.finished = session.written = True
    remove_thread_hook()
    if _session is session:
        _session = None


def _install_thread_hook() -> None:
    """Samples each threading.Thread from its first instruction, and stops before its
    thread state is freed (the periodic scan in C only catches up every 0.1 s).

    threading is not imported for it (0.8 ms of a start, for programs that may start no
    thread): until the program imports it, the hook waits in the _thread function that
    threading binds as it is imported and calls to start each Thread (_compat.THREAD_START).
    The first call, as the first Thread starts, puts the hook on threading and gives both
    bindings their function back, before the thread runs."""
    with _thread_hook_lock:
        if _original_bootstrap_inner is not None or _waiting_start is not None:
            return
        threading = sys.modules.get("threading")
        if threading is not None:
            _hook_threading(threading)
            return
        _wait_for_threading()


def _hook_threading(threading) -> None:
    global _original_bootstrap_inner
    original = _original_bootstrap_inner = threading.Thread._bootstrap_inner

    def _bootstrap_inner(self):
        _native.thread_enter(self.name)
        try:
            original(self)
        finally:
            _native.thread_leave()

    threading.Thread._bootstrap_inner = _bootstrap_inner


def _wait_for_threading() -> None:
    global _waiting_start
    start = getattr(_thread, _compat.THREAD_START)

    def start_thread(*args, **kwargs):
        with _thread_hook_lock:
            threading = sys.modules.get("threading")
            if threading is not None and _waiting_start is not None:
                _stop_waiting()
                _hook_threading(threading)
        return start(*args, **kwargs)

    start_thread.__name__ = start_thread.__qualname__ = start.__name__
    start_thread.__doc__ = start.__doc__
    _waiting_start = start, start_thread
    setattr(_thread, _compat.THREAD_START, start_thread)


def _stop_waiting() -> None:
    """Gives _thread (and threading, when it bound the waiting function) their own back."""
    global _waiting_start
    start, waiting = _waiting_start
    _waiting_start = None
    if getattr(_thread, _compat.THREAD_START) is waiting:
        setattr(_thread, _compat.THREAD_START, start)
    threading = sys.modules.get("threading")
    if getattr(threading, "_" + _compat.THREAD_START, None) is waiting:
        setattr(threading, "_" + _compat.THREAD_START, start)


def remove_thread_hook() -> None:
    """threading as it was before _install_thread_hook (a profile attached to a running
    process ends). Threads started meanwhile keep the hook's frame; with no profile running,
    what it calls does nothing."""
    global _original_bootstrap_inner
    with _thread_hook_lock:
        if _waiting_start is not None:
            _stop_waiting()
        if _original_bootstrap_inner is not None:
            sys.modules["threading"].Thread._bootstrap_inner = _original_bootstrap_inner
            _original_bootstrap_inner = None


_original_bootstrap_inner = None  # threading's own, while the thread hook is in place
# (_thread's function, the one waiting in its place) until the first Thread starts.
_waiting_start = None
_thread_hook_lock = _thread.allocate_lock()


def _kept_lines(options):
    """The lines the profile keeps: with --reduced-profile, the display rule's cut
    (reports/display.py); otherwise None, every measured line."""
    if not options.reduced_profile:
        return None
    from triscope.reports import display
    return display.reduced_profile_cut(options.cpu_percent_threshold,
                                       options.malloc_threshold,
                                       options.memory_sampling_interval)


def native_keywords(options: Options) -> dict:
    """What the C core takes from the options, all in this one place: the keywords of
    _native.configure that come from them, handed over in that one call before the run
    (write_profile then takes only facts of the run). An option the core reads is added
    here, in the parser and in Options, and nowhere else."""
    return dict(
        interval_s=options.cpu_sampling_rate, virtual_time=options.use_virtual_time,
        idle=options.idle, stacks=options.stacks, awaits=options.async_time,
        profile_all=options.profile_all,
        profile_only=options.profile_only, profile_exclude=options.profile_exclude,
        cpu=options.cpu, memory=options.memory, gpu=options.gpu, gpu_asked=options.gpu_asked,
        alloc_interval=options.memory_sampling_interval,
        copy_interval=options.memory_sampling_interval,
        kept_lines=_kept_lines(options),
        cpu_percent_threshold=options.cpu_percent_threshold,
        malloc_threshold=options.malloc_threshold)


def _configure(options: Options, program_dirs: list, launcher_file=None) -> None:
    """Configures the C core for `options`, profiling the code under `program_dirs`.
    `launcher_file`: the script that started triscope (the `triscope` console script),
    hidden from stacks like the rest of the launcher."""
    own_code = OWN_CODE + ([os.path.abspath(launcher_file)] if launcher_file else [])
    _native.configure(**native_keywords(options), program_dirs=program_dirs,
                      library_dirs=mainprogram.library_dirs_inside(program_dirs),
                      own_dirs=own_code)
    _install_thread_hook()
    global _fork_hook_registered
    if not _fork_hook_registered:  # once: profiling may begin again in-process (IPython magics)
        _fork_hook_registered = True
        os.register_at_fork(before=_hold_sigterm, after_in_parent=_release_sigterm,
                            after_in_child=_after_fork_in_child)


_fork_hook_registered = False  # os.register_at_fork has no undoing: it stays once made
_sigterm_held = False  # _hold_sigterm blocked SIGTERM in the forking thread for this fork


def _hold_sigterm() -> None:
    """Before a fork, where SIGTERM is triscope's (the program has no handler): block it in
    the forking thread, which the child inherits. A SIGTERM reaching the child before the
    interpreter has re-initialised its signals after the fork is otherwise taken by the
    inherited handler and then forgotten, and the child lives on where plain python's would
    have died (docs/ARCHITECTURE.md, "Control"). Blocked, it waits in the kernel until
    _release_sigterm, at the end of the child's after-fork work."""
    global _sigterm_held
    handler = _signal.getsignal(_signal.SIGTERM)
    if getattr(handler, "__func__", None) is _Session.on_sigterm:
        blocked_before = _signal.pthread_sigmask(_signal.SIG_BLOCK, {_signal.SIGTERM})
        _sigterm_held = _signal.SIGTERM not in blocked_before


def _release_sigterm() -> None:
    """After a fork, in the parent and (last) in the child: SIGTERM as it was before."""
    global _sigterm_held
    if _sigterm_held:
        _sigterm_held = False
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, {_signal.SIGTERM})


def run(options: Options, program: str, is_module: bool, program_args: list) -> int:
    """Profiles `program` with `options`, in an interpreter that has the allocator library
    preloaded when memory is profiled (cli.main re-executed it: preload.py)."""
    global _launcher_sys_path
    _launcher_sys_path = list(sys.path)
    if options.gpu_sync:
        # Asked for: the program (and its children) see it, as if they had set it themselves.
        os.environ["CUDA_LAUNCH_BLOCKING"] = "1"
    launcher_file = getattr(sys.modules.get("__main__"), "__file__", None)
    preload.restore_environment()
    session = _Session(options, f"-m {program}" if is_module else
                       "<stdin>" if program == "-" else program, program_args)
    session.owns_streams = True
    code = path_entry = None
    if is_module:
        program_dirs = mainprogram.module_dirs(program)
    elif program != "-" and mainprogram.is_path_entry(program):
        path_entry, program_dirs = mainprogram.prepare_path_entry(program, program_args)
    else:
        try:
            code, main_globals, program_dirs = (
                mainprogram.prepare_stdin(program_args) if program == "-"
                else mainprogram.prepare_script(program, program_args))
        except SyntaxError as error:
            import traceback
            traceback.print_exception(type(error), error, None)
            return 1
    if options.program_path:  # Scalene's --program-path: whose code is the program's
        program_dirs = sorted({options.program_path, os.path.realpath(options.program_path)})
    if options.live:
        # Before the profile is configured: the viewer is forked as a plain process, with
        # no profiler thread, fork hook or child hook in it.
        from triscope import live
        session.live = live.start(" ".join([session.program, *program_args]))
    global _session
    _session = session
    _configure(options, program_dirs, launcher_file)
    _profile_children(session, program_dirs)
    atexit.register(session.finish)
    _patch_os_exit()
    execs.patch_exec(_current_session)
    if _signal.getsignal(_signal.SIGTERM) == _signal.SIG_DFL:
        session.take_sigterm()
    if not hasattr(builtins, "profile"):
        import triscope
        builtins.profile = triscope.profile
    _announce(options)
    if options.async_time and not _compat.HAS_MONITORING:
        print("triscope: awaited time (--async) needs Python 3.12 or newer (sys.monitoring): "
              "not measured", file=sys.stderr)
    if os.geteuid() == 0:
        if not _open_to_every_user([OWN_DIR, *_launcher_sys_path]):
            _load_before_privilege_changes()
        session.hold_output()
    _native.start(paused=options.off)
    import triscope
    session.own_memory(triscope._RESIDENT_AT_IMPORT)
    session.checkpoint()
    if options.profile_interval:
        session.write_periodically(options.profile_interval)
    if session.live is not None:
        import triscope
        session.live.send_snapshots(triscope.profiled_functions)
        session.live.capture_output()
    mainprogram.enter_main_path(program, is_module, path_entry)
    sys.orig_argv = mainprogram.plain_orig_argv(
        preload.launch_argv or sys.orig_argv,
        ["-m", program, *program_args] if is_module else [program, *program_args])
    try:
        if code is None:  # -m, or a directory or zip file: runpy runs the module
            if is_module:
                sys.argv[:] = [program, *program_args]
            mainprogram.fresh_main_module(None, None)
            import runpy
            _native.run_as_program(runpy._run_module_as_main,
                                   (program, True) if is_module else ("__main__", False))
        else:
            _native.run_as_program(code, main_globals)
    except SystemExit:
        raise
    except KeyboardInterrupt as interrupt:
        _report(interrupt)
        session.die_by_sigint = True
        return 130
    except BaseException as error:  # the program's own exception, reported as Python does
        _report(error)
        return 1
    return 0


def _report(error: BaseException) -> None:
    # The default hook prints the exception's own __traceback__, so strip it there.
    traceback_ = _strip_own_frames(error.__traceback__)
    sys.excepthook(type(error), error.with_traceback(traceback_), traceback_)
