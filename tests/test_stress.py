"""Stress: programs that are hard on a profiler run under triscope exactly as under python.

Each workload (tests/workloads/stress_*.py) checks itself and prints a deterministic result.
It is run twice, under plain python and under `triscope` in its default mode (CPU + memory),
and the two runs must agree: same exit status, byte-identical stdout, no traceback; the
profile must validate against the schema. Some tests also check what the profile says about
the hard part (deep stacks, freshly compiled code, generators).

`make test` runs them at scale 1 (each a few seconds); `make stress` runs the same tests
longer (TRISCOPE_STRESS=10: ten times the work, and ten times the time limits).
Every subprocess has a timeout: a hang fails the test instead of stalling the suite.
"""
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from conftest import (DEFAULT_TIMEOUT, describe, file_entry, load_profile, marker_line,
                      run_python, run_triscope, workload)

SCALE = float(os.environ.get("TRISCOPE_STRESS", "1"))
TIMEOUT = DEFAULT_TIMEOUT * max(1.0, SCALE)

pytestmark = pytest.mark.stress


def same_run(tmp_path, script, *args, options=()):
    """Runs `script *args` under python and under `triscope *options`; both must succeed with
    identical stdout and no traceback. Returns (triscope's CompletedProcess, its profile)."""
    args = [*args, str(SCALE)]
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    plain = run_python([script, *args], plain_dir, timeout=TIMEOUT)
    assert plain.returncode == 0, describe(plain)
    profiled_dir = tmp_path / "profiled"
    profiled_dir.mkdir()
    proc = run_triscope([*options, script, *args], profiled_dir, timeout=TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)
    assert "Traceback" not in proc.stderr, describe(proc)
    assert "Fatal Python error" not in proc.stderr, describe(proc)
    return proc, load_profile(profiled_dir / "profile.json")


def cpu_of(entry):
    return entry["cpu_python_pct"] + entry["cpu_native_pct"] if entry else 0.0


# ==== Threads ====

def test_thread_churn_32_threads(tmp_path):
    """32 threads alive at all times, each replaced when it ends (4800 threads at scale 1)."""
    script = workload("stress_thread_churn.py")
    proc, profile = same_run(tmp_path, script)
    assert "churn ok" in proc.stdout
    assert profile["memory"]["enabled"] is True
    alloc = marker_line(profile, script, "churn_alloc")
    assert alloc is not None and alloc["alloc_mb"] > 0, "worker allocations not seen"


@pytest.fixture(scope="module")
def storm_helper(tmp_path_factory):
    """The pthread helper of stress_c_threads.py, built with the interpreter's C compiler."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the pthread helper")
    out = tmp_path_factory.mktemp("helper") / "stress_helper.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(out),
                    str(workload("stress_helper.c")), "-lpthread"],
                   check=True, capture_output=True, timeout=DEFAULT_TIMEOUT)
    return out


def test_thread_storm_from_c(tmp_path, storm_helper):
    """pthreads made in C call into Python through a ctypes callback (a thread state is
    born and freed per call) while a Python thread computes."""
    script = workload("stress_c_threads.py")
    proc, profile = same_run(tmp_path, script, storm_helper)
    assert "c storm ok" in proc.stdout
    # The C threads are sampled: their long callbacks show up on the callback's line.
    assert cpu_of(marker_line(profile, script, "c_callback_hot")) > 0, "C threads not sampled"


# ==== Signals and system calls ====

def test_program_signal_handlers_and_itimers(tmp_path):
    """The program's SIGALRM/SIGPROF/SIGVTALRM/SIGUSR1 handlers fire exactly as often as
    under python; setitimer timers keep working; sleeps are not cut short."""
    proc, _ = same_run(tmp_path, workload("stress_signals.py"))
    assert "signals ok" in proc.stdout


def test_blocking_libc_calls_never_see_eintr(tmp_path):
    """poll/nanosleep/select/read through ctypes never fail (EINTR) while threads burn CPU;
    a short sampling interval makes timer signals near the calls frequent."""
    proc, _ = same_run(tmp_path, workload("stress_blocking.py"),
                       options=["--cpu-sampling-rate", "0.002"])
    assert "blocking ok" in proc.stdout


# ==== Processes ====

def test_fork_loop_with_threads(tmp_path):
    """os.fork() while threads compute and allocate; children exit every which way."""
    proc, profile = same_run(tmp_path, workload("stress_fork.py"))
    assert "fork ok" in proc.stdout
    # Only the parent wrote a profile: a child leaving through sys.exit must not.
    assert proc.stderr.count("profile written to") == 1, describe(proc)


# ==== Stacks and code objects ====

def test_deep_recursion(tmp_path):
    """5000 frames (and recursion through C and yield from), beyond the 64-frame walker."""
    script = workload("stress_recursion.py")
    proc, profile = same_run(tmp_path, script, options=["--stacks"])
    assert "recursion ok" in proc.stdout
    leaf = marker_line(profile, script, "recursion_leaf")
    entry = file_entry(profile, script)
    assert cpu_of(leaf) >= 0.5 * cpu_of(entry), "the leaf's time went elsewhere"
    for stack in profile["stacks"]:
        assert all(len(frame) == 3 for frame in stack["frames"])


def test_generators_coroutines_asyncio(tmp_path):
    script = workload("stress_async.py")
    proc, profile = same_run(tmp_path, script)
    assert "async ok" in proc.stdout
    assert cpu_of(marker_line(profile, script, "coro_hot")) > 0
    names = {f["name"] for f in file_entry(profile, script)["functions"]}
    assert {"worker", "squares"} <= names, names


def test_code_objects_created_and_destroyed(tmp_path):
    """Fresh code exec'd in a loop: every sampled generated line is named by the function
    that really holds it, in the file that really holds it."""
    script = workload("stress_code_churn.py")
    proc, profile = same_run(tmp_path, script, options=["--stacks"])
    assert "code churn ok" in proc.stdout
    span = 5
    seen = 0
    for path, entry in profile["files"].items():
        prefix = {"generated_a.py": "fn", "generated_b.py": "gx"}.get(Path(path).name)
        if prefix is None:
            continue
        for function in entry["functions"]:
            if function["name"] == "<module>":
                continue
            assert function["name"] == f"{prefix}_L{function['lineno']}", (path, function)
            seen += 1
    assert seen > 0, f"no generated function in the profile: {sorted(profile['files'])}"
    for stack in profile["stacks"]:
        for file, function, lineno in stack["frames"]:
            prefix = {"generated_a.py": "fn", "generated_b.py": "gx"}.get(Path(file).name)
            if prefix is None or function == "<module>":
                continue
            assert function.startswith(prefix + "_L"), (file, function, lineno)
            first = int(function[len(prefix) + 2:])
            assert first <= lineno < first + span, (file, function, lineno)
