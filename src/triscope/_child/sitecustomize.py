"""Profiles a Python child process of a triscope run (docs/DEFINITIONS.md, Processes).

The profiled program's children get TRISCOPE_CHILD_DIR and this directory on PYTHONPATH
(from the C environment, or added by the parent's spawn wrappers; the program's os.environ
never holds them), so any Python child started with the same interpreter (subprocess,
multiprocessing spawn and forkserver) imports this module at start-up and profiles itself
with the parent's options, leaving its profile for the parent to merge. It must never break
the child: any failure is one line on stderr, and the child runs unprofiled.

Every Python on PATH inherits PYTHONPATH too, Python 2 included: this file is written so
that any of them parses and runs it (ASCII only; no f-strings, annotations or print
function), and one that triscope does not support runs unprofiled in silence, leaving only a
note in the parent's directory for children, which the report counts (docs/ARCHITECTURE.md,
"The launcher and child processes"). A profiled child then gets the os.environ and sys.path
it was given, without them. A sitecustomize the environment already has still runs, and is
the one the program finds under that name.
"""

import os
import sys


def _unsupported_reason():
    """Why this interpreter cannot profile itself, or None when it can."""
    implementation = getattr(getattr(sys, "implementation", None), "name", "cpython")
    if implementation != "cpython" or sys.version_info[:2] < (3, 11):
        name = "Python" if implementation == "cpython" else implementation
        return "%s %d.%d is not supported" % (name, sys.version_info[0], sys.version_info[1])
    return None


def _note_unprofiled(child_dir, reason):
    """Leaves the reason for the parent's report; silently nothing if it cannot."""
    try:
        path = os.path.join(child_dir, "unprofiled-%d.txt" % os.getpid())
        stream = open(path, "w")
        try:
            stream.write(reason + "\n")
        finally:
            stream.close()
    except Exception:
        pass


def _start_child_profile():
    """Whether this child is profiled now."""
    child_dir = os.environ.get("TRISCOPE_CHILD_DIR")
    if not child_dir:
        return False
    reason = _unsupported_reason()
    if reason is None:
        try:
            from triscope import launch
        except ImportError:  # another build of this Python, without a triscope it can load
            reason = "Python %d.%d at %s cannot load this triscope" % (
                sys.version_info[0], sys.version_info[1], sys.executable)
    if reason is not None:
        _note_unprofiled(child_dir, reason)
        return False
    try:
        launch.start_child()
        return True
    except Exception as error:  # never let the profiler break the program
        sys.stderr.write("triscope: child process %d not profiled: %s\n" % (os.getpid(), error))
        return False


def _restore_given_environment():
    """A child given an environment without triscope's variables (`env={}`, or os.environ,
    which never holds them) had them put back by its parent (children.child_environment) to
    be profiled at all; it gets the environment it was given again, and the sys.path that
    one gives, before its own code."""
    restore = os.environ.get("TRISCOPE_CHILD_RESTORE")
    if restore is None:
        return
    try:
        import json
        saved = json.loads(restore)
        for name, value in saved["environ"].items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        added = set(saved["sys_path"])
        sys.path[:] = [entry for entry in sys.path if entry not in added]
    except Exception:
        pass


def _chain_to_the_next_sitecustomize():
    """Another sitecustomize further along sys.path still runs, as without triscope, and
    stays in sys.modules under that name, where the program may look for it."""
    here = os.path.dirname(os.path.abspath(__file__))
    ourselves = sys.modules.pop("sitecustomize", None)
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    try:
        import sitecustomize  # noqa: F401
    except ImportError as error:
        if getattr(error, "name", "sitecustomize") != "sitecustomize":
            raise  # that sitecustomize's own failure, reported as Python would
    finally:
        sys.path[:] = saved
        # The import system expects a module under its name once this one has run.
        if "sitecustomize" not in sys.modules and ourselves is not None:
            sys.modules["sitecustomize"] = ourselves


def _hide_triscope():
    """In a profiled child, its os.environ and sys.path without what it inherited of
    triscope's, which its own children find in its C environment instead."""
    try:
        from triscope import children
        children.hide_from_the_child()
    except Exception as error:  # never let the profiler break the program
        sys.stderr.write("triscope: child process %d: %s\n" % (os.getpid(), error))


def _main():
    profiled = _start_child_profile()
    _restore_given_environment()
    if profiled:
        _hide_triscope()
    _chain_to_the_next_sitecustomize()


_main()
