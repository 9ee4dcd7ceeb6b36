"""Profiles a Python child process of a triscope run (SPEC §5).

The profiled program's children inherit TRISCOPE_CHILD_DIR and this directory on
PYTHONPATH, so any Python child started with the same interpreter (subprocess,
multiprocessing spawn and forkserver) imports this module at start-up and profiles itself
with the parent's options, leaving its profile for the parent to merge. It must never break
the child: any failure is one line on stderr, and the child runs unprofiled.
"""

import os
import sys


def _start_child_profile():
    if not os.environ.get("TRISCOPE_CHILD_DIR"):
        return
    try:
        from triscope import launch
    except ImportError:
        return  # another interpreter, without triscope: it runs unprofiled
    try:
        launch.start_child()
    except Exception as error:  # never let the profiler break the program
        print(f"triscope: child process {os.getpid()} not profiled: {error}", file=sys.stderr)


def _chain_to_the_next_sitecustomize():
    """Another sitecustomize further along sys.path still runs, as without triscope."""
    here = os.path.dirname(os.path.abspath(__file__))
    ourselves = sys.modules.pop("sitecustomize", None)
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    try:
        import sitecustomize  # noqa: F401
    except ImportError:
        pass
    finally:
        sys.path[:] = saved
        # The import system expects this module under its name once it has run.
        if ourselves is not None:
            sys.modules["sitecustomize"] = ourselves


_start_child_profile()
_chain_to_the_next_sitecustomize()
