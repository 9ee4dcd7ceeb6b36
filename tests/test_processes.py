"""Child processes (docs/DEFINITIONS.md): multiprocessing with each start method, ProcessPoolExecutor
and subprocess children are profiled and merged into the parent's report; merge combines
profiles. Every run has a timeout: a hang fails the test instead of blocking the suite."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import (WORKLOADS, _child_env, describe_hung_processes, descendants,
                      load_profile, marker_line, run_triscope)

PROCESSES = WORKLOADS / "processes.py"


def profile_of(tmp_path, *args, env=None):
    """Runs processes.py under triscope; a run that has not ended in 180 s fails the test
    with what each of its processes was doing: the kernel's view of every thread, then the
    Python stacks that the workload's processes print on SIGUSR2 (faulthandler)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "triscope", "--json", "-o", str(tmp_path / "p.json"),
         str(PROCESSES), *args], cwd=str(tmp_path), env=_child_env(env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        hung = [process.pid, *descendants(process.pid)]
        states = describe_hung_processes(hung)
        for pid in hung:
            try:
                os.kill(pid, signal.SIGUSR2)
            except OSError:
                pass
        time.sleep(2)  # the dumps are written by the processes' own handlers
        for pid in hung:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _, stderr = process.communicate()
        pytest.fail(f"{' '.join(args)} did not end in 180 s\n{states}\nits stderr:\n{stderr}")
    proc = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(f"done {args[0]}")
    assert "error" not in proc.stderr, proc.stderr
    return load_profile(tmp_path / "p.json")


def cpu_pct(profile, marker):
    line = marker_line(profile, PROCESSES, marker)
    assert line is not None, f"@{marker} missing: children were not profiled or merged"
    return line["cpu_python_pct"] + line["cpu_native_pct"]


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_pool_workers_are_profiled_with_the_right_ratio(tmp_path, method):
    """The workers' CPU samples on @heavy and @light stand as the CPU time the tasks
    measured for themselves (about 2:1: twice the iterations; not exactly, as CPU time per
    iteration depends on what the machine's other hyperthread does in each phase). CPU
    samples, not the lines' times: those also hold the time the workers waited for a CPU,
    which a loaded machine spreads unevenly over the two phases."""
    truth_path = tmp_path / "truth.json"
    profile = profile_of(tmp_path, "pool", method, env={"GT_OUT": truth_path})
    truth = json.loads(truth_path.read_text())
    want = truth["heavy_cpu_s"] / truth["light_cpu_s"]
    ratio = cpu_samples(profile, "heavy") / cpu_samples(profile, "light")
    assert abs(ratio / want - 1) <= 0.25, \
        f"{method}: heavy/light samples {ratio:.2f}, the tasks' own CPU {want:.2f} (± 25%)"
    pids = {process["pid"] for process in profile["processes"]}
    assert len(pids) >= 3, "the parent and at least two workers"
    # multiprocessing's resource tracker and fork server outlive the program by design: not
    # children that left no profile
    assert "unprofiled_children" not in profile, profile["unprofiled_children"]


def cpu_samples(profile, marker):
    line = marker_line(profile, PROCESSES, marker)
    assert line is not None, f"@{marker} missing: children were not profiled or merged"
    return line["cpu_samples"]


def cpu_seconds(profile, marker):
    return cpu_pct(profile, marker) / 100 * profile["thread_time_s"]


def test_process_pool_executor(tmp_path):
    """The workers' own measure of their tasks' CPU time is what the merged profile shows."""
    truth_path = tmp_path / "truth.json"
    profile = profile_of(tmp_path, "executor", env={"GT_OUT": truth_path})
    truth = json.loads(truth_path.read_text())["heavy_cpu_s"]
    assert abs(cpu_seconds(profile, "heavy") / truth - 1) <= 0.25, (cpu_seconds(profile, "heavy"), truth)


def test_subprocess_child(tmp_path):
    profile = profile_of(tmp_path, "subprocess")
    assert cpu_seconds(profile, "child_spin") > 0.1


def test_python3_on_path_child(tmp_path):
    """`python3` from PATH, another installation of this Python without triscope in it."""
    import shutil
    python3 = shutil.which("python3")
    if python3 is None:
        pytest.skip("no python3 on PATH")
    # The same version and ABI (a debug build's "d") can load this build's extension.
    probe = "import sys; print(sys.version_info[:2], repr(sys.abiflags))"
    version = subprocess.run([python3, "-c", probe], capture_output=True, text=True,
                             timeout=60).stdout.strip()
    if version != f"{sys.version_info[:2]} {sys.abiflags!r}":
        pytest.skip(f"python3 on PATH is {version}, not this interpreter's version and ABI")
    profile = profile_of(tmp_path, "subprocess", "python3")
    assert cpu_seconds(profile, "child_spin") > 0.1


LEAVES_NO_PROFILE = """\
import os, signal, subprocess, sys, time
spin = ("import sys, time  # left-no-profile\\n"
        "open('started', 'w').close()  # its profiling has begun: its code runs\\n"
        "end = time.process_time() + 5\\nwhile time.process_time() < end: pass")

def wait_for_start():
    deadline = time.monotonic() + 60
    while not os.path.exists("started") and time.monotonic() < deadline:
        time.sleep(0.01)

if sys.argv[1] == "killed":
    child = subprocess.Popen([sys.executable, "-c", spin])
    wait_for_start()
    child.kill()
    print(child.wait())
else:  # a daemon: a grandchild in a session of its own, still computing at the end
    first = os.fork()
    if first == 0:
        os.setsid()
        if os.fork() == 0:
            quiet = os.open(os.devnull, os.O_RDWR)  # the run's output ends with the run
            for stream in range(3):
                os.dup2(quiet, stream)
            os.execv(sys.executable, [sys.executable, "-c", spin])
        os._exit(0)
    os.waitpid(first, 0)
    wait_for_start()
    print("parent done")
"""


@pytest.mark.parametrize("how", ["killed", "daemon"])
def test_children_that_left_no_profile_are_counted(tmp_path, how):
    """A child killed before it could write its profile, or still running when the program
    ended (a daemon), is not in the profile: the report says so, rather than leave the
    parent's waiting unexplained. It used to go unsaid."""
    # The spinning child's own mark, for the pkill below: one shared by both cases let the
    # first to end kill the other's daemon while it ran (under pytest -n 2).
    mark = f"left-no-profile-{how}-{os.getpid()}"
    (tmp_path / "leaves.py").write_text(LEAVES_NO_PROFILE.replace("left-no-profile", mark))
    proc = run_triscope(["--cpu", "leaves.py", how], tmp_path, timeout=120)
    try:
        assert proc.returncode == 0, proc.stderr
        reason = ("killed before it could write its profile" if how == "killed"
                  else "still running when the program ended, it left no profile")
        assert load_profile(tmp_path / "profile.json")["unprofiled_children"] == {
            "count": 1, "reasons": {reason: 1}}
        said = " ".join(proc.stderr.split())  # the report wraps its lines at the terminal's width
        assert f"1 child process ran unprofiled: {reason}." in said, proc.stderr
    finally:
        subprocess.run(["pkill", "-f", mark])


def test_merge_command(tmp_path):
    first = profile_of(tmp_path, "child")
    (tmp_path / "a.json").write_text(json.dumps(first))
    (tmp_path / "b.json").write_text(json.dumps(first))
    proc = run_triscope(["merge", "-o", str(tmp_path / "m.json"), str(tmp_path / "a.json"),
                         str(tmp_path / "b.json")], tmp_path)
    assert proc.returncode == 0, proc.stderr
    merged = load_profile(tmp_path / "m.json")
    assert merged["thread_time_s"] == pytest.approx(2 * first["thread_time_s"])
    assert merged["samples"] == 2 * first["samples"]
    # Two copies of the same run: the same shares, twice the allocated bytes.
    spin, spin_merged = (marker_line(p, PROCESSES, "child_spin") for p in (first, merged))
    assert spin_merged["cpu_python_pct"] == pytest.approx(spin["cpu_python_pct"], abs=0.01)
    assert spin_merged["alloc_mb"] == pytest.approx(2 * spin["alloc_mb"], abs=0.01)
    assert len(merged["processes"]) == 2


def test_merge_rejects_bad_input(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    proc = run_triscope(["merge", "-o", str(tmp_path / "m.json"), str(tmp_path / "bad.json")],
                        tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("triscope: error:") and len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize("mode", [["--cpu"], []], ids=["cpu", "full"])
def test_a_child_sigtermed_as_it_is_forked_dies(tmp_path, mode):
    """A forked child inherits triscope's SIGTERM handler; a SIGTERM that reached it before
    the interpreter re-initialised its signals after the fork was caught and forgotten, and
    the child lived on (93 of 100 with --cpu; a pool's freshly forked worker ignored the
    pool's terminate). Every child must end by SIGTERM, as under plain python."""
    workload = WORKLOADS / "fork_sigterm.py"
    plain = subprocess.run([sys.executable, str(workload), "40"], capture_output=True,
                           text=True, timeout=300)
    assert plain.stdout.strip() == "ended 40", plain.stdout  # the workload's own premise
    proc = run_triscope([*mode, "--json", "-o", str(tmp_path / "p.json"), str(workload), "40"],
                        tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    profile = load_profile(tmp_path / "p.json")
    # A child's run lies within the whole run's (one read 2**64 ns less the machine's uptime).
    assert all(0 <= child["elapsed_s"] <= profile["elapsed_s"] for child in profile["processes"])
    assert proc.stdout.strip() == "ended 40", proc.stdout
