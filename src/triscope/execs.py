"""The profiled program's exec (docs/ARCHITECTURE.md, "Output, exec, crashes and
privileges"): os.execv and os.execve wrapped so that the profile is not lost with the old
image — handed over to the new image when it is this Python with the child hook on (it
continues the profile: launch.start_child), written out as at exit when it is not — and,
in the new image, the environment the hand-over added taken back before the program sees
it.

It never imports launch: the session that profiles the process (launch._Session) is asked
for through the function given to patch_exec. Imports only what the launcher has loaded.
"""
import os
import sys

from triscope import _native, children, jsoncodec


def patch_exec(current_session) -> None:
    """os.exec* replace the process, and atexit never runs: hand the profile over first
    (docs/ARCHITECTURE.md, "Output, exec, crashes and privileges"). The other exec
    functions of os all end in os.execv or os.execve. `current_session()` is the session
    profiling this process, or None."""
    real_execve = getattr(os.execve, "triscope_original", os.execve)
    real_execv = getattr(os.execv, "triscope_original", os.execv)

    def execv(path, argv):
        session = current_session()
        if not _exec_is_ours(session, path):
            return real_execv(path, argv)
        _exec_handing_over(session, real_execve, path, argv, os.environ)

    def execve(path, argv, env):
        session = current_session()
        if not _exec_is_ours(session, path):
            return real_execve(path, argv, env)
        _exec_handing_over(session, real_execve, path, argv, env)

    for function, real in ((execv, real_execv), (execve, real_execve)):
        function.triscope_original = real
        function.__name__ = function.__qualname__ = real.__name__
        function.__doc__ = real.__doc__
    os.execv, os.execve = execv, execve


def _exec_is_ours(session, path) -> bool:
    """Whether this process's profile must be handed over: it is profiled here, and the exec
    will succeed as far as can be told (os.execvp tries each PATH directory in turn)."""
    if session is None or session.finished or os.getpid() != session.pid:
        return False
    if isinstance(path, int):
        return True  # fexecve
    path = os.fsdecode(path)
    return os.access(path, os.X_OK) and not os.path.isdir(path)


def _exec_handing_over(session, real_execve, path, argv, env) -> None:
    """Stops profiling (no timer signal may reach the new image), then either hands the
    profile to the new image, when it is a Python that profiles itself through the child
    hook, or writes it out as at exit, when it is not. Raises what the exec raises."""
    handover_dir = session.child_dir or children.child_dir()
    continues = handover_dir is not None and _continues_profile(path, argv, env)
    _native.stop()
    session.end_live()
    session.stop_checkpoints()
    env = dict(env)
    if continues:
        import time
        prefix = "exec" if session.child_dir else str(os.getpid())
        handover_path = os.path.join(handover_dir, f"{prefix}-{time.time_ns()}.json")
        session.as_launched(lambda: session.write_handover(handover_path))
        added = {}
        for name, value in children.exec_environment(env).items():
            added[name] = env.get(name)
            env[name] = value
        handover = {"added": added, "main": session.child_dir is not None}
        if session.child_dir is not None:
            handover.update(outfile=session.options.outfile and os.path.abspath(
                session.options.outfile), cwd=os.getcwd(), umask=session.launch_umask)
        env[children.EXEC_HANDOVER] = jsoncodec.dumps(handover)
    else:
        session.finish()
        for name in (children.CHILD_DIR, children.CHILD_OPTIONS, children.EXEC_HANDOVER):
            env.pop(name, None)
        if env.get("PYTHONPATH"):
            kept = children.without_hook(env["PYTHONPATH"])
            if kept is None:
                del env["PYTHONPATH"]
            else:
                env["PYTHONPATH"] = kept
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        real_execve(path, argv, env)
    except BaseException:
        # The exec failed after all: profile on. A hand-over left behind is merged at exit.
        if continues:
            _native.start()
        raise


def _continues_profile(path, argv, env) -> bool:
    """Whether the new image is this Python, with its site hook on: then it continues the
    profile. -I, -E and -S turn the hook off (no PYTHONPATH, no site)."""
    if isinstance(path, int):
        return False
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    target = os.path.realpath(os.fsdecode(path))
    if target != os.path.realpath(sys.executable) and os.path.basename(target) != version:
        return False
    return not children.flags_skipping_the_hook(list(argv))


def continue_after_exec(handover: dict) -> None:
    """In the new image of an exec (from the child hook): take back what the hand-over added
    to the environment, before the program can see it."""
    for name, value in handover["added"].items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
