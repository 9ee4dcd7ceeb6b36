"""triscope's own memory end to end: what a run adds to the resident memory of the program
it profiles stays bounded by what the program needs of it, not by how long it runs
(docs/ARCHITECTURE.md, "The profiler's own memory").

GIVEN tests/workloads/mem_own_memory.py, which makes about 6,500 sampled allocations and as
many frees while holding few blocks (and nothing resident of them), WHEN it runs plain,
with --cpu and in the default mode, THEN the resident memory at its end (VmRSS, read by the
program) grows by at most the bars below: with --cpu by the launcher's modules and the C
core, in the default mode by at most MEMORY_BAR_KB more than with --cpu, and no memory event
is lost. Resident memory is counted, not timed: one run each.

MEMORY_BAR_KB comes from the sizes of what memory profiling writes for this program: the
page filter (64 KiB), the two queues' order rings (16 + 256 KiB), the cells of the records
queued at once (a few hundred of 1 KiB), the first levels of the live blocks' table
(48 KiB), one line's books; about 1 MiB is measured. The queue cycled through all its cells
(4 MiB) and the table written all over (4 MiB) each exceeded it twice over.
"""
import os

import pytest

from conftest import describe, read_truth, run_python, run_triscope, workload

CPU_BAR_KB = 4096      # --cpu over plain: the launcher's modules and the C core (2.7 MiB measured)
MEMORY_BAR_KB = 2048   # the default mode over --cpu: memory profiling's own structures


def resident_at_end(tmp_path, name, options=None):
    """The workload's {"rss_kb", "samples_lost"} run plain (options None) or under triscope."""
    cwd = tmp_path / name
    cwd.mkdir()
    env = {"GT_OUT": cwd / "truth.json"}
    script = workload("mem_own_memory.py")
    if options is None:
        proc = run_python([script], cwd, env=env)
    else:
        proc = run_triscope([*options, "--json", script], cwd, env=env)
    assert proc.returncode == 0, describe(proc)
    return read_truth(cwd / "truth.json")


@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer's shadow memory and quarantine are resident too")
def test_own_memory_bounded(tmp_path):
    plain = resident_at_end(tmp_path, "plain")
    cpu = resident_at_end(tmp_path, "cpu", ["--cpu"])
    full = resident_at_end(tmp_path, "full", [])
    facts = f"resident at the end, kB: plain {plain}, --cpu {cpu}, default {full}"
    assert full["samples_lost"] == 0, facts
    assert cpu["rss_kb"] - plain["rss_kb"] <= CPU_BAR_KB, facts
    assert full["rss_kb"] - cpu["rss_kb"] <= MEMORY_BAR_KB, facts
