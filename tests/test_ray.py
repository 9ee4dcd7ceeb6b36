"""triscope.ray (docs/DEFINITIONS.md, "Ray"): a Ray job's task and actor workers profiled and
merged.

One local Ray instance of two CPUs (`ray.init(num_cpus=2)`), started by this plain test
process (not under triscope), serves the module: starting one costs seconds. Its workers
import the tasks from tests/workloads (the job's PYTHONPATH), so the profiles' lines are
under that file. The test that kills a worker runs last.
"""

import os
import shutil
import signal
import socket
import sys
import tempfile

import pytest

from conftest import WORKLOADS, load_profile, marker_line

try:
    import ray
except ImportError as error:
    pytest.skip(f"Ray cannot be imported on Python {sys.version_info[0]}.{sys.version_info[1]} "
                f"({error}): `make ray-deps` installs it where PyPI has a wheel (Ray 2.60: "
                f"CPython 3.11 to 3.14; docs/ARCHITECTURE.md, \"Ray jobs\")",
                allow_module_level=True)

TASKS = WORKLOADS / "ray_tasks.py"
UNIT = 0.1  # CPU seconds of the light line per task; the heavy line takes twice that


@pytest.fixture(scope="module")
def tasks():
    """The workload module, its functions made remote, on the module's Ray instance."""
    sys.path.insert(0, str(WORKLOADS))
    # Ray's sockets live under its temporary directory: a short path of this run's own.
    temporary = tempfile.mkdtemp(prefix="ray-")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temporary,
             runtime_env={"env_vars": {"PYTHONPATH": str(WORKLOADS)}})
    import ray_tasks
    # Ray's own workers start before any test measures: a second of CPU each, which on a
    # busy machine would be taken from the measured tasks' time slices.
    ray.get([ray.remote(ray_tasks.rest).remote(0.5) for _ in range(2)])
    try:
        yield ray_tasks
    finally:
        ray.shutdown()
        shutil.rmtree(temporary, ignore_errors=True)
        sys.path.remove(str(WORKLOADS))


def test_job_profile_merges_the_task_workers(tasks, tmp_path, capfd):
    import triscope.ray
    work, rest = ray.remote(tasks.work), ray.remote(tasks.rest)
    path = tmp_path / "job.json"
    with triscope.ray.profile(str(path), directories=[str(WORKLOADS)]) as job:
        # The job's two workers start first (a second of CPU each, which on a busy machine
        # would be taken from the measured tasks' time slices).
        started = ray.get([rest.remote(1.0) for _ in range(2)])
        results = ray.get([work.remote(UNIT) for _ in range(8)])
    profile = load_profile(path)
    heavy, light = marker_line(profile, TASKS, "heavy"), marker_line(profile, TASKS, "light")
    assert heavy and light, sorted(profile["files"])
    ratio = heavy["cpu_s"] / light["cpu_s"]
    assert 1.5 <= ratio <= 2.5, ratio
    measured = sum(cpu for cpu, _ in results)
    total = heavy["cpu_s"] + light["cpu_s"]
    assert abs(total - measured) <= 0.2 * measured, (total, measured)
    workers = profile["processes"]
    assert sorted(entry["name"] for entry in workers) == sorted(job.workers)
    assert all(entry["name"].startswith("task worker ") for entry in workers), workers
    assert all(entry["host"] == socket.gethostname() for entry in workers)
    pids = {entry["pid"] for entry in workers}
    assert len(pids) == len(workers)
    assert {pid for _, pid in results} | set(started) <= pids, (results, started, workers)
    # The workers' machinery (Ray, the standard library) is outside the profiled files.
    assert all(os.path.samefile(name, TASKS) for name in profile["files"]), profile["files"]
    assert job.lost == {}
    count = len(workers)
    assert f"{count} Ray workers' profiles merged into {path}" in capfd.readouterr().err
    # Work outside the block runs in Ray's own workers, never profiled.
    after = ray.get([work.remote(UNIT / 4) for _ in range(2)])
    assert not {pid for _, pid in after} & pids


def test_tasks_a_task_submits_are_the_jobs_too(tasks, tmp_path):
    import triscope.ray
    path = tmp_path / "nested.json"
    with triscope.ray.profile(str(path), directories=[str(WORKLOADS)]) as job:
        nested = ray.get(ray.remote(tasks.fan_out).remote(UNIT / 2, 2))
    profile = load_profile(path)
    assert marker_line(profile, TASKS, "heavy") and marker_line(profile, TASKS, "light")
    assert {pid for _, pid in nested} <= {entry["pid"] for entry in profile["processes"]}, \
        (nested, profile["processes"])
    assert job.lost == {}


def test_actor_process_profiled_under_its_class(tasks, tmp_path):
    import triscope.ray
    path = tmp_path / "actor.json"
    with triscope.ray.profile(str(path), directories=[str(WORKLOADS)]) as job:
        spinner = ray.remote(tasks.Spinner).remote()
        _, pid = ray.get(spinner.spin.remote(2 * UNIT))
    ray.kill(spinner)
    profile = load_profile(path)
    line = marker_line(profile, TASKS, "actor")
    assert line and line["cpu_samples"] > 0, sorted(profile["files"])
    assert [(entry["name"], entry["pid"]) for entry in profile["processes"]] == \
        [("actor Spinner", pid)]
    assert job.workers == ["actor Spinner"] and job.lost == {}


def test_killed_worker_survivors_merged_loss_said(tasks, tmp_path, capfd):
    import triscope.ray
    work = ray.remote(tasks.work)
    path = tmp_path / "job.json"
    with triscope.ray.profile(str(path), directories=[str(WORKLOADS)]) as job:
        futures = [work.remote(UNIT) for _ in range(6)]
        ready, _ = ray.wait(futures, num_returns=1)
        victim = ray.get(ready[0])[1]
        os.kill(victim, signal.SIGKILL)
        ray.get(futures)  # a task the killed worker was running runs again in another
    profile = load_profile(path)
    assert marker_line(profile, TASKS, "heavy")
    pids = {entry["pid"] for entry in profile["processes"]}
    assert pids and victim not in pids, profile["processes"]
    lost = [line for line in capfd.readouterr().err.splitlines()
            if line.startswith("triscope: no profile from")]
    label = f"(pid {victim} on {socket.gethostname()})"
    assert len(lost) == 1 and label in lost[0] and "killed or crashed" in lost[0], lost
    assert [name for name in job.lost if name.endswith(label)] == list(job.lost), job.lost
    assert len(job.lost) == 1 and list(job.lost)[0].startswith("task worker ")
