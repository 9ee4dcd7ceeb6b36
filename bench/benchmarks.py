"""The overhead benchmark set: programs from the pyperformance package, run as plain scripts.

Each pyperformance benchmark is a script (bm_<name>/run_benchmark.py) built on pyperf's
Runner. With `--worker --loops N --values 1 --warmups 0 -p 1` the Runner runs the benchmark
N times in the current process and prints "name: <time per loop>", without spawning worker
processes or calibrating, so every profiler sees one ordinary process running the same
fixed amount of work. `--worker-task K` picks the K-th benchmark of a script that defines
several. Loops are chosen so that each plain run takes about 0.8 s on a 2-core machine (a
pytest session, one loop, takes about 1.1 s): the set, 18 programs x 10 configurations, has
to fit the 30-minute budget with the accuracy and cost sections. A round of one program under
every configuration costs 12 to 25 times its plain run (the peers that trace every call are 2
to 5 times slower), 17 s on average (2026-11-27: 1,248 s for 18 x 4 rounds), of which plain
and triscope's three configurations take 4 s; the accuracy and cost sections take about 10
minutes more. So triscope's configurations run 6 rounds and the peers the first 3 of them:
about 19 minutes, where 5 rounds of everything would need about 26 and the run 36.

bench/programs/ holds what pyperformance lacks: a pool of threads that contend for the GIL,
and the programs people bring to a profiler that pyperformance leaves out because they need
packages (a NumPy pipeline, a pandas group-by, a Jinja2 request loop, a pytest session of a
real package's suite; bench/requirements.txt pins them). A benchmark whose packages the
interpreter cannot import is left out and reported as not installed, like a missing peer,
so an interpreter without a NumPy wheel still runs the rest. bm_tiny.py, for the smoke test,
needs no package at all.
"""
import subprocess
from dataclasses import dataclass
from pathlib import Path

from common import PROGRAMS

PYPERF_WORKER = ("--worker", "--values", "1", "--warmups", "0", "-p", "1")


@dataclass(frozen=True)
class Benchmark:
    name: str
    category: str            # cpu | alloc | async | threads | io | native | web | tests
    source: str              # "pyperformance" or "own"
    script: str              # bm_<x>/run_benchmark.py under pyperformance, or a file in PROGRAMS
    loops: int
    extra: tuple = ()        # arguments after the worker options
    quick: bool = False      # part of `make bench-quick`
    note: str = ""
    requires: tuple = ()     # modules it imports beyond the standard library

    def path(self, pyperf_dir):
        if self.source == "own":
            return PROGRAMS / self.script
        return Path(pyperf_dir) / self.script

    def args(self, loops=None):
        loops = self.loops if loops is None else loops
        if self.source == "own":
            return ["--loops", str(loops), *self.extra]
        return [*PYPERF_WORKER, "--loops", str(loops), *self.extra]


def _pp(name, category, loops, *extra, quick=False, note=""):
    return Benchmark(name, category, "pyperformance", f"bm_{name.split(':')[0]}/run_benchmark.py",
                     loops, tuple(extra), quick, note)


BENCHMARKS = [
    # CPU-bound: the interpreter's own speed.
    _pp("nbody", "cpu", 10, quick=True, note="float arithmetic on lists"),
    _pp("richards", "cpu", 20, note="OS task scheduler simulation, method calls"),
    _pp("raytrace", "cpu", 3, note="ray tracer, objects and float math"),
    _pp("go", "cpu", 7, note="Go game AI, recursion"),
    _pp("nqueens", "cpu", 10, note="generators and permutations"),
    # Allocation-heavy: many short-lived objects.
    _pp("float", "alloc", 11, quick=True, note="allocates millions of float and Point objects"),
    _pp("deepcopy", "alloc", 2500, "--worker-task", "0", note="copy.deepcopy of nested containers"),
    _pp("json_loads", "alloc", 2000, note="json.loads of documents (C scanner)"),
    _pp("xml_etree", "alloc", 6, "--worker-task", "0", note="ElementTree parse (C accelerator)"),
    # Async and threads.
    _pp("async_tree", "async", 1, "io", note="asyncio task tree with asyncio.sleep (the io variant)"),
    Benchmark("threads", "threads", "own", "bm_threads.py", 35, quick=True,
              note="4 threads: Python loop, hashlib (GIL released), json; bench/programs"),
    # I/O-bound: file system, sqlite, sockets.
    _pp("pathlib", "io", 30, note="pathlib on a directory of files"),
    _pp("sqlite_synth", "io", 350000, note="sqlite3 (in memory) calling back into Python"),
    _pp("asyncio_tcp", "io", 1, note="asyncio TCP client and server on loopback"),
    # What people profile beyond the interpreter: bench/programs with their packages.
    Benchmark("numpy", "native", "own", "bm_numpy.py", 10, requires=("numpy",), quick=True,
              note="NumPy on a million floats: temporaries, reductions, masks, sort, matmul"),
    Benchmark("pandas_groupby", "native", "own", "bm_pandas_groupby.py", 2,
              requires=("pandas",),
              note="pandas: a 200,000-row frame, string columns, a merge, group-by aggregations"),
    Benchmark("templates", "web", "own", "bm_templates.py", 700,
              requires=("jinja2",),
              note="web request loop: query string, Jinja2 page with inheritance, escaping"),
    Benchmark("pytest_session", "tests", "own", "bm_pytest_session.py", 1,
              requires=("pytest", "toolz.tests"),
              note="pytest.main on toolz's own test suite (shipped in its wheel), in-process"),
]

# The smoke test's benchmark: standard library only, a fraction of a second.
TINY = Benchmark("tiny", "cpu", "own", "bm_tiny.py", 10, note="smoke test")
ALL = {b.name: b for b in [*BENCHMARKS, TINY]}


def pyperformance_dir(python):
    """The folder holding pyperformance's bm_* directories for `python`, or None."""
    code = ("import os, pyperformance; print(os.path.join(os.path.dirname(pyperformance.__file__),"
            " 'data-files', 'benchmarks'))")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        return None
    path = Path(out.stdout.strip())
    return path if path.is_dir() else None


def missing(python, bench, pyperf_dir):
    """What `bench` needs and `python` lacks: pyperformance, or the modules it cannot
    import; empty when the benchmark can run."""
    if bench.source == "pyperformance":
        return [] if pyperf_dir is not None else ["pyperformance"]
    if not bench.requires:
        return []
    out = subprocess.run([python, "-c", _PROBE, *bench.requires], capture_output=True, text=True)
    return out.stdout.split() if out.returncode == 0 else list(bench.requires)


# Imports each module for real (a wheel can install and still fail to import) and prints
# those that failed.
_PROBE = """import importlib, sys
lacking = []
for module in sys.argv[1:]:
    try:
        importlib.import_module(module)
    except Exception:
        lacking.append(module)
print(*lacking)
"""


def select(names=None, quick=False):
    """The benchmarks to run: named ones, the quick subset, or the whole set."""
    if names:
        return [ALL[n] for n in names]
    return [b for b in BENCHMARKS if b.quick or not quick]
