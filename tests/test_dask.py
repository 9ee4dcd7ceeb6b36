"""triscope.dask (docs/DEFINITIONS.md, "Dask"): a Dask job's workers profiled and merged.

One LocalCluster of two worker processes, started by this plain test process (not under
triscope), serves the module: starting one costs seconds. The test that kills a worker runs
last (its nanny starts a replacement, under the same name and a new address).
"""

import os
import signal
import sys

import pytest

from conftest import WORKLOADS, load_profile, marker_line, run_triscope

distributed = pytest.importorskip("distributed")

TASKS = WORKLOADS / "dask_tasks.py"
UNIT = 0.1  # CPU seconds of the light line per task; the heavy line takes twice that


@pytest.fixture(scope="module")
def client():
    sys.path.insert(0, str(WORKLOADS))  # the workers (spawned) import the tasks from here too
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None)
    connected = distributed.Client(cluster)
    try:
        yield connected
    finally:
        connected.close()
        cluster.close()
        sys.path.remove(str(WORKLOADS))


def _work():
    import dask_tasks
    return dask_tasks.work


def test_job_profile_merges_both_workers(client, tmp_path, capfd):
    import triscope.dask
    path = tmp_path / "job.json"
    with triscope.dask.profile(client, str(path), directories=[str(WORKLOADS)]) as job:
        measured = sum(client.gather(client.map(_work(), [UNIT] * 8, pure=False)))
    profile = load_profile(path)
    heavy, light = marker_line(profile, TASKS, "heavy"), marker_line(profile, TASKS, "light")
    assert heavy and light, sorted(profile["files"])
    ratio = heavy["cpu_s"] / light["cpu_s"]
    assert 1.5 <= ratio <= 2.5, ratio
    total = heavy["cpu_s"] + light["cpu_s"]
    assert abs(total - measured) <= 0.2 * measured, (total, measured)
    workers = [entry for entry in profile["processes"] if entry.get("address")]
    assert sorted(entry["name"] for entry in workers) == ["0", "1"], profile["processes"]
    assert len({entry["pid"] for entry in workers}) == 2
    assert all(entry["host"] and entry["address"].startswith("tcp://") for entry in workers)
    # The workers' machinery is outside the profiled files: only the task code is there.
    assert all(os.path.samefile(name, TASKS) for name in profile["files"]), profile["files"]
    assert job.lost == {} and sorted(job.workers) == ["0", "1"]
    assert f"2 Dask workers' profiles merged into {path}" in capfd.readouterr().err
    # The workers go on unprofiled: another job is profiled afresh.
    with triscope.dask.profile(client, str(tmp_path / "again.json"),
                               directories=[str(WORKLOADS)]):
        client.gather(client.map(_work(), [UNIT / 4] * 2, pure=False))
    assert marker_line(load_profile(tmp_path / "again.json"), TASKS, "heavy")


def test_plugin_profiles_each_worker_until_teardown(client, tmp_path):
    import triscope.dask
    plugin = triscope.dask.Profiler(path=str(tmp_path / "worker-{name}.json"),
                                    directories=[str(WORKLOADS)])
    client.register_plugin(plugin)
    try:
        client.gather(client.map(_work(), [UNIT / 2] * 4, pure=False))
    finally:
        client.unregister_worker_plugin(plugin.name)
    written = sorted(tmp_path.glob("worker-*.json"))
    assert [p.name for p in written] == ["worker-0.json", "worker-1.json"]
    proc = run_triscope(["merge", "-o", "job.json", *map(str, written)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    profile = load_profile(tmp_path / "job.json")
    assert sorted(entry["name"] for entry in profile["processes"]) == ["0", "1"]
    assert marker_line(profile, TASKS, "heavy") and marker_line(profile, TASKS, "light")


def test_native_memory_plugin_lets_workers_see_malloc(client, tmp_path):
    """NativeMemory restarts each worker with the allocator library preloaded: a profile
    with memory on then sees a task's libc malloc (4 x 16 MiB), which Python's allocator
    alone never sees; the profile says native allocations were measured."""
    import triscope.dask

    def allocate():
        import dask_tasks
        return dask_tasks.allocate_natively

    client.register_plugin(triscope.dask.NativeMemory())
    client.wait_for_workers(2)
    path = tmp_path / "native.json"
    with triscope.dask.profile(client, str(path), memory=True, directories=[str(WORKLOADS)]):
        allocated = sum(client.gather(client.map(allocate(), [16] * 2, pure=False)))
    profile = load_profile(path)
    assert profile["memory"]["native"] is True, profile["memory"]
    line = marker_line(profile, TASKS, "native_alloc")
    assert line is not None and line["python_fraction"] <= 0.1, line
    assert abs(line["alloc_mb"] - allocated) <= 0.15 * allocated, (line["alloc_mb"], allocated)


def test_killed_worker_survivors_merged_loss_said(client, tmp_path, capfd):
    import triscope.dask
    pids = client.run(os.getpid)
    victim = sorted(client.scheduler_info()["workers"].items(),
                    key=lambda item: str(item[1]["name"]))[1]
    path = tmp_path / "job.json"
    with triscope.dask.profile(client, str(path), directories=[str(WORKLOADS)]) as job:
        futures = client.map(_work(), [UNIT] * 6, pure=False)
        distributed.wait(futures, return_when="FIRST_COMPLETED")
        os.kill(pids[victim[0]], signal.SIGKILL)
        client.gather(futures)  # the killed worker's tasks run again elsewhere
    profile = load_profile(path)
    assert marker_line(profile, TASKS, "heavy")
    survivor = [entry for entry in profile["processes"] if entry["name"] == "0"]
    assert len(survivor) == 1 and survivor[0]["pid"] == pids[next(
        address for address in pids if address != victim[0])]
    assert victim[0] not in {entry.get("address") for entry in profile["processes"]}
    lost = [line for line in capfd.readouterr().err.splitlines()
            if line.startswith("triscope: no profile from")]
    assert len(lost) == 1 and f"worker 1 ({victim[0]})" in lost[0], lost
    assert "left the cluster" in lost[0] and list(job.lost) == [f"1 ({victim[0]})"]
