"""pytest-session benchmark: a real package's own test suite, run in-process by pytest.main.

A slow test suite is a common reason to reach for a profiler, and a pytest session is unlike
the other programs: pytest rewrites the test modules' asserts as it imports them, builds an
item per test, and calls thousands of short functions through pluggy's hooks, with
fixtures, doctests and pickling in between. The suite is toolz's: a pure-Python package
whose wheel ships its tests (toolz.tests, about 190 tests, standard library only, no
plugins, no network), so `make bench-deps` installs it with the package. toolz.sandbox's
tests are left out: one starts a multiprocessing pool, whose forked workers would measure
how each profiler follows child processes, not the session. Each loop is one session; the
test modules are dropped from sys.modules between loops so that each session imports them
again, as a fresh `pytest` does. Prints the time per loop in pyperf's "name: value unit"
form.
usage: bm_pytest_session.py [--loops N]
"""
import os
import sys
from time import perf_counter

import pytest

SUITE = "toolz.tests"
# No .pytest_cache left behind: every session starts from the same state.
PYTEST_ARGS = ["-q", "-p", "no:cacheprovider", "--pyargs", SUITE]
# pytest's own plugins only: the bench environment's packages register plugins of their own
# (triscope's, platformdirs'), inert here, which would make the session depend on what else
# is installed.
os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"


def main(loops):
    elapsed = 0.0
    for _ in range(loops):
        start = perf_counter()
        status = pytest.main(PYTEST_ARGS)
        elapsed += perf_counter() - start
        # A failing test is a finding too: the profiler changed what the program does.
        assert status == pytest.ExitCode.OK, f"pytest exit status {status}"
        for name in [m for m in sys.modules if m == SUITE or m.startswith(SUITE + ".")]:
            del sys.modules[name]
    print(f"pytest_session: {1000 * elapsed / loops:.3f} ms")


if __name__ == "__main__":
    main(int(sys.argv[sys.argv.index("--loops") + 1]) if "--loops" in sys.argv else 1)
