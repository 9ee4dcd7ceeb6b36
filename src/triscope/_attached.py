"""The part of `triscope attach` that runs inside the process attached to (docs/ARCHITECTURE.md,
"Attaching to a running process").

attach.py has the interpreter run a small script of its own in the target's main thread
(sys.remote_exec); the script imports this module and calls begin(), and later a second one
calls end(). In between the target is profiled in-process, as by triscope.start(): CPU with
per-thread clocks and stacks, memory from Python's allocator only (the allocator library
cannot be loaded into a running process). Nothing here prints on the target's streams: every
answer goes back to the attacher, which says it. A target that exits while profiled writes its
profile from its exit hook, as a child of a profiled program does (a quiet session).

With `triscope attach --live`, begin() also connects to the attacher's socket and hands the
descriptor to the C core, which sends the view's snapshots on it as for `triscope --live`;
end() takes it back and closes it before anything else, so nothing of the view stays here.
"""

import os
import sys

from triscope import _native, launch
from triscope.options import Options

_session = None  # the profile begin() started, until end()


def begin(options: dict, profile_path: str, view: dict = None) -> str:
    """Profiles this process from here on with `options` (Options.to_dict's), its profile to
    be written to `profile_path`; with `view` ({"socket": path, "seconds": period}), a live
    view's snapshots go to the attacher's socket. Returns None, or why it could not (one
    line)."""
    global _session
    if _native.is_running():
        return "it is already being profiled by triscope"
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    # The program's code, as for triscope.start(): its script's directory, else where it runs;
    # as its code objects name it (`python ../x.py` keeps the "..") and resolved.
    where = os.path.join(os.getcwd(), os.path.dirname(main_file)) if main_file else os.getcwd()
    program_dirs = sorted({where, os.path.abspath(where), os.path.realpath(where)})
    _session = launch.begin_in_process(program_dirs, main_file or "<interactive>",
                                       json_path=profile_path,
                                       options=Options.from_dict(options), quiet=True)
    if view is not None:
        _send_snapshots(view["socket"], view["seconds"])
    return None


def _send_snapshots(path: str, seconds: float) -> None:
    """The C core sends the live view's snapshots to the attacher's socket at `path`. A
    socket that cannot be reached costs the view only: the attacher, finding no connection,
    says so, and the profile goes on."""
    import socket  # only for a view: nothing more than needed is imported into the target
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # close-on-exec
    try:
        connection.connect(path)
    except OSError:
        connection.close()
        return
    _native.live_every(seconds, _native.park_fd(connection.detach()))


def end(profile_path: str) -> str:
    """Stops the profile begin() started, writes it to `profile_path` (None: the attacher gave
    up waiting, nothing is written), and gives the process back what profiling changed.
    Returns None, or why the profile could not be written (one line)."""
    global _session
    session, _session = _session, None
    # No wait for the viewer: the attacher ends its view itself once this has answered.
    _native.live_finish(0.0)
    if session is None:
        return "no profile was begun by triscope attach here"
    _native.stop()
    failure = None
    if profile_path is not None:
        try:
            session.as_launched(lambda: session.write_json(profile_path))
        except OSError as error:
            failure = f"cannot write {profile_path}: {error.strerror}"
    _native.release()
    launch.end_in_process(session)
    return failure
