"""The configurations a benchmark runs under: plain, triscope's two modes, and the peers.

Each peer runs the way its documentation tells a user to, with its default settings and its
usual output file, so the slowdown is what a user would see; the only change is where the
output goes (the run's scratch directory). Every configuration runs the same interpreter on
the same program: a peer that cannot be imported (or py-spy's binary, when absent) is simply
not available, which is how triscope-only runs work in the test environment.
"""
import shutil
from dataclasses import dataclass
from pathlib import Path

from common import has_module


@dataclass(frozen=True)
class Profiler:
    name: str        # key in results
    label: str       # shown in the report
    module: str      # what must be importable (or a binary name for py-spy)
    kind: str        # "cpu": CPU only; "full": CPU and memory; "memory": memory only
    doc: str         # the command line, as shown in the report

    def argv(self, python, script, args):
        """The command that runs `script args` under this configuration in the cwd."""
        py, script, args = str(python), str(script), [str(a) for a in args]
        match self.name:
            case "plain":
                return [py, script, *args]
            case "triscope_cpu":
                return [py, "-m", "triscope", "--cpu", script, *args]
            case "triscope":
                return [py, "-m", "triscope", script, *args]
            case "triscope_1khz":
                return [py, "-m", "triscope", "--cpu", "--cpu-sampling-rate", "0.001", script,
                        *args]
            case "scalene_cpu":
                return [py, "-m", "scalene", "run", "--cpu-only", "-o", "scalene.json",
                        script, "---", *args]
            case "scalene":
                return [py, "-m", "scalene", "run", "-o", "scalene.json", script, "---", *args]
            case "pyspy":
                return [pyspy_binary(python), "record", "-o", "pyspy.txt", "--format", "raw",
                        "--", py, script, *args]
            case "pyinstrument":
                return [py, "-m", "pyinstrument", "-o", "pyinstrument.txt", script, *args]
            case "cprofile":
                return [py, "-m", "cProfile", "-o", "cprofile.prof", script, *args]
            case "memray":
                return [py, "-m", "memray", "run", "-q", "-f", "-o", "memray.bin", script, *args]
            case "tachyon":
                return [py, "-m", "profiling.sampling", "run", "-a", "--collapsed", "-o",
                        "tachyon.txt", script, *args]
            case "tachyon_100hz":
                return [py, "-m", "profiling.sampling", "run", "-a", "-r", "100", "--collapsed",
                        "-o", "tachyon.txt", script, *args]
        raise ValueError(self.name)

    def available(self, python):
        if self.name == "pyspy":
            return pyspy_binary(python) is not None
        return has_module(python, self.module)


PROFILERS = [
    Profiler("plain", "plain", "sys", "none", "python prog.py"),
    Profiler("triscope_cpu", "triscope --cpu", "triscope", "cpu",
             "python -m triscope --cpu prog.py"),
    Profiler("triscope", "triscope (full)", "triscope", "full", "python -m triscope prog.py"),
    # Ten times triscope's default rate: Tachyon's default, to compare the two at one rate.
    Profiler("triscope_1khz", "triscope --cpu (1 kHz)", "triscope", "cpu",
             "python -m triscope --cpu --cpu-sampling-rate 0.001 prog.py"),
    Profiler("scalene_cpu", "Scalene --cpu-only", "scalene", "cpu",
             "python -m scalene run --cpu-only -o scalene.json prog.py"),
    Profiler("scalene", "Scalene (full)", "scalene", "full",
             "python -m scalene run -o scalene.json prog.py"),
    Profiler("pyspy", "py-spy record", "py-spy", "cpu",
             "py-spy record -o pyspy.txt --format raw -- python prog.py"),
    Profiler("pyinstrument", "pyinstrument", "pyinstrument", "cpu",
             "python -m pyinstrument -o pyinstrument.txt prog.py"),
    Profiler("cprofile", "cProfile", "cProfile", "cpu",
             "python -m cProfile -o cprofile.prof prog.py"),
    Profiler("memray", "memray run", "memray", "memory",
             "python -m memray run -q -f -o memray.bin prog.py"),
    # CPython 3.15's own sampler ("Tachyon"): it samples from another process, whose CPU the
    # CPU-time column counts (the run's whole process tree).
    Profiler("tachyon", "Tachyon (1 kHz)", "profiling.sampling", "cpu",
             "python -m profiling.sampling run -a --collapsed -o tachyon.txt prog.py"),
    Profiler("tachyon_100hz", "Tachyon (100 Hz)", "profiling.sampling", "cpu",
             "python -m profiling.sampling run -a -r 100 --collapsed -o tachyon.txt prog.py"),
]
BY_NAME = {p.name: p for p in PROFILERS}


def pyspy_binary(python):
    """py-spy is a Rust binary installed next to the interpreter's scripts."""
    beside = Path(python).parent / "py-spy"
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")
