"""Shared pieces of the benchmark harness: running one process and measuring it, the machine
description, and the statistics every report uses.

A run is one whole process, timed from spawn to reap with time.perf_counter, its peak RSS
taken from the rusage that os.wait4 returns for that very child (RUSAGE_CHILDREN would give
the maximum over every child reaped so far, useless for per-run figures). Nothing here knows
about profilers or benchmarks.
"""
import datetime
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PROGRAMS = BENCH / "programs"
RESULTS = BENCH / "results"
WORKLOADS = ROOT / "tests" / "workloads"


# ==== Running one process ====

class RunResult(dict):
    """wall_s, rc, cpu_s (user + system), maxrss_mb, stdout (text), stderr_tail, out_bytes (files left in cwd)."""

    @property
    def ok(self):
        return self["rc"] == 0


def run_process(argv, cwd, env=None, timeout=600, keep_stdout=True):
    """Run argv in cwd to completion; time it and read its peak RSS.

    stdout and stderr go to files in cwd (a pipe would need a reader thread that competes
    for the 2 cores being measured). On timeout the whole process group is killed and rc is
    None.
    """
    cwd = Path(cwd)
    out_path, err_path = cwd / ".bench-stdout", cwd / ".bench-stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen([str(a) for a in argv], cwd=str(cwd), env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            # wait4 on this pid: the rusage is this child's (and its reaped descendants').
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not reap it again
    stdout = out_path.read_text(errors="replace") if keep_stdout else ""
    stderr = err_path.read_text(errors="replace")
    out_path.unlink()
    err_path.unlink()
    out_bytes = sum(p.stat().st_size for p in cwd.rglob("*") if p.is_file())
    return RunResult(wall_s=wall, rc=None if timed_out.is_set() else proc.returncode,
                     cpu_s=usage.ru_utime + usage.ru_stime, maxrss_mb=usage.ru_maxrss / 1024, stdout=stdout,
                     stderr_tail=stderr[-2000:], out_bytes=out_bytes)


class Scratch:
    """A fresh temporary working directory per run, removed afterwards, so each profiler
    writes its output files where nothing else does and their size can be measured."""

    def __init__(self, prefix="bench-"):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def child_env(extra=None):
    """os.environ without anything that would change a profiled program's behaviour."""
    env = dict(os.environ)
    for key in ("GT_OUT", "PYTHONMALLOC", "PYTHONDEVMODE", "LD_PRELOAD", "PYTHONPROFILEIMPORTTIME"):
        env.pop(key, None)
    env.update(extra or {})
    return env


def python_info(python):
    """Version and implementation of the interpreter that runs the benchmarks."""
    out = subprocess.run([python, "-c", "import sys, platform; print(platform.python_version());"
                          " print(sys.prefix)"], capture_output=True, text=True, check=True)
    version, prefix = out.stdout.split("\n")[:2]
    return {"executable": str(python), "version": version, "prefix": prefix}


def has_module(python, module):
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


# ==== The machine ====

def _read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine():
    """CPU model, cores, RAM, kernel and OS, for the report's header."""
    model = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown")
    mem_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal:")), 0)
    os_name = next((line.split("=", 1)[1].strip().strip('"')
                    for line in _read("/etc/os-release").splitlines()
                    if line.startswith("PRETTY_NAME=")), platform.system())
    return {"cpu": model, "cores": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "ram_gb": round(mem_kb / 1024 / 1024, 1), "kernel": platform.release(),
            "os": os_name, "load_avg_start": os.getloadavg()}


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# ==== Statistics ====

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def geomean(values):
    values = [v for v in values if v is not None and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def save_json(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)


def log(*parts):
    """Progress on stderr with the time of day: a 30-minute run should show where it is."""
    print(time.strftime("%H:%M:%S"), *parts, flush=True, file=sys.stderr)
