"""triscope: a CPU, GPU and memory profiler for Python with a C core.

Programmatic use (docs/DEFINITIONS.md, Programmatic use):

    import triscope
    triscope.start()          # resume profiling (run under `triscope --off prog.py`), or
                              # begin profiling this process when not run under triscope
    ...
    triscope.stop()           # suspend profiling
    with triscope.profiling():  # the same, around a block
        ...
    @triscope.profile         # when any function carries it, only those are reported
    def hot(): ...

Under the triscope command `profile` is also a builtin, so `@profile` needs no import.
In IPython or Jupyter, `%load_ext triscope` adds the magics %scrun and %%triscope (jupyter.py).

PYTEST_DONT_REWRITE: pytest rewrites the asserts of every package of a distribution that has a
pytest plugin (pytest_plugin.py), and warns when one is imported before it starts, as this
package is under `triscope -m pytest`. triscope holds no tests: this marker, in this
docstring, tells pytest to leave it alone (docs/ARCHITECTURE.md, "The launcher and child
processes").
"""

__version__ = "0.1.0"


def _resident_bytes() -> int:
    """This process's resident memory now (/proc/self/statm), 0 where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return 0


_PAGE_BYTES = __import__("os").sysconf("SC_PAGE_SIZE")
# Before anything else of triscope: the baseline of a launched run's own memory
# (docs/PROFILE_FORMAT.md, `overhead`).
_RESIDENT_AT_IMPORT = _resident_bytes()

# (file, first line, last line) of every @profile function, for the report's restriction.
profiled_functions = []


def _last_line(code) -> int:
    """The last line of a code object, nested functions and classes included."""
    last = max((line for _, _, line in code.co_lines() if line is not None),
               default=code.co_firstlineno)
    for constant in code.co_consts:
        if hasattr(constant, "co_lines"):
            last = max(last, _last_line(constant))
    return last


def profile(function):
    """Restricts the report to decorated functions (when any is decorated)."""
    import os
    code = getattr(function, "__code__", None)
    if code is not None:
        profiled_functions.append(
            (os.path.abspath(code.co_filename), code.co_firstlineno, _last_line(code)))
    return function


def start() -> None:
    """Resumes profiling, or begins profiling this process when triscope is not running."""
    from triscope import launch
    launch.start_or_resume()


def stop() -> None:
    """Suspends profiling until start()."""
    from triscope import _native
    _native.suspend()


def load_ipython_extension(ipython) -> None:
    """`%load_ext triscope` in IPython or Jupyter: the %scrun and %%triscope magics."""
    from triscope import jupyter
    jupyter.load_ipython_extension(ipython)


class profiling:
    """Context manager: profiles the block (start() on entry, stop() on exit)."""

    def __enter__(self):
        start()
        return self

    def __exit__(self, *exc_info):
        stop()
        return False
