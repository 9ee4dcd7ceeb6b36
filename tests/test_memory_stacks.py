"""Memory by call stack (the memory flame graph) end to end: the profile's stacks carry the
MB allocated there and the MB they held at the run's maximum footprint; merge adds them up;
`triscope export --weight alloc|peak` writes them.

GIVEN tests/workloads/mem_stacks.py, whose one allocating line (@make) is reached through
four callers that allocate 2 : 1 : 4 : 1 units and hold 2 : 1 : 0 : 0 of them at the maximum
footprint, WHEN it runs with --stacks, THEN the stacks through each caller show those
volumes. One sample every 64 KiB on average (--memory-sampling-interval): a unit of 32 MiB is
then about 320 samples of 64 KiB blocks, a relative error of about 4 % (1 sigma) per caller.
"""
import gzip
import json

import pytest

from conftest import (FORMS, describe, load_profile, marker_lineno, old_form, profile_workload,
                      run_triscope)
from test_profile_tools import FOLDED, assert_one_error_line, in_process, read_pprof

CALLERS = ("keep_big", "keep_small", "churn", "late")
VOLUME_BAR = 0.15      # relative, a caller's allocated or peak MB
RATIO_BAR = 0.20       # relative, keep_big : keep_small
ABSENT_BAR = 0.10      # of a unit: MB a caller holds at the peak when it holds nothing then


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return profile_workload(tmp_path_factory.mktemp("memstacks"), "mem_stacks.py",
                            options=["--stacks", "--memory-sampling-interval", "65536",
                                     "--json"])


def by_caller(profile, key):
    """{caller: the `key` MB of the stacks through it}: each stack counted once, for the
    first of CALLERS among its functions."""
    totals = dict.fromkeys(CALLERS, 0.0)
    for stack in profile["stacks"]:
        names = [frame[1] for frame in stack["frames"]]
        caller = next((name for name in CALLERS if name in names), None)
        if caller:
            totals[caller] += stack.get(key, 0.0)
    return totals


def test_stacks_carry_allocated_memory(run):
    unit = run.truth["unit_mb"]
    allocated = by_caller(run.profile, "alloc_mb")
    for caller, units in run.truth["alloc_units"].items():
        assert abs(allocated[caller] - units * unit) <= VOLUME_BAR * units * unit, (
            caller, allocated)
    ratio = allocated["keep_big"] / allocated["keep_small"]
    assert abs(ratio - 2.0) <= RATIO_BAR * 2.0, allocated
    # The same line allocated it all: every stack with memory ends there.
    make = marker_lineno(run.script, "make")
    heavy = [stack for stack in run.profile["stacks"] if stack["alloc_mb"] >= unit / 4]
    assert len(heavy) >= 4
    assert all(stack["frames"][-1][2] == make for stack in heavy), heavy
    # What the stacks allocated is what the whole run did, less than a unit elsewhere.
    total = sum(stack["alloc_mb"] for stack in run.profile["stacks"])
    assert abs(total - run.profile["memory"]["alloc_mb"]) <= unit


def test_stacks_carry_the_memory_held_at_the_maximum_footprint(run):
    """Not each stack's own maximum: `late` holds a unit at the end, when less is live than
    at the maximum footprint, and `churn` frees each block at once."""
    unit = run.truth["unit_mb"]
    peak = by_caller(run.profile, "peak_mb")
    for caller, units in run.truth["peak_units"].items():
        if units:
            assert abs(peak[caller] - units * unit) <= VOLUME_BAR * units * unit, (caller, peak)
        else:
            assert peak[caller] <= ABSENT_BAR * unit, (caller, peak)
    assert abs(peak["keep_big"] / peak["keep_small"] - 2.0) <= RATIO_BAR * 2.0, peak
    footprint = run.profile["memory"]["max_footprint_mb"]
    assert sum(stack["peak_mb"] for stack in run.profile["stacks"]) <= footprint + 0.01


def test_time_stays_beside_memory(run):
    """A stack of memory only has no time; the stacks with time are still there."""
    assert any(stack["seconds"] > 0 for stack in run.profile["stacks"])
    assert all(stack["samples"] == 0 for stack in run.profile["stacks"]
               if stack["seconds"] == 0)


def test_without_memory_the_stacks_have_no_memory_fields(tmp_path):
    run_cpu = profile_workload(tmp_path, "mem_stacks.py", "0.25",
                               options=["--stacks", "--cpu", "--json"])
    assert run_cpu.profile["stacks"], "no stacks recorded"
    assert not any("alloc_mb" in stack or "peak_mb" in stack
                   for stack in run_cpu.profile["stacks"])


def test_merge_adds_up_the_stacks_memory(run, tmp_path):
    path = run.cwd / "profile.json"
    proc = run_triscope(["merge", "-o", tmp_path / "merged.json", path, path], tmp_path)
    assert proc.returncode == 0, describe(proc)
    merged = load_profile(tmp_path / "merged.json")
    for key in ("alloc_mb", "peak_mb"):
        once, twice = by_caller(run.profile, key), by_caller(merged, key)
        assert once["keep_big"] > 0, (key, once)
        for caller in CALLERS:
            assert twice[caller] == pytest.approx(2 * once[caller], abs=0.01), (key, caller)


def test_merge_keeps_old_stacks_without_memory(run, tmp_path):
    """A profile written before the stacks had memory (triscope/1: no frame table either)
    merges with one that has it."""
    old = old_form(load_profile(run.cwd / "profile.json"))
    for stack in old["stacks"]:
        del stack["alloc_mb"], stack["peak_mb"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    proc = run_triscope(["merge", "-o", "merged.json", "old.json", run.cwd / "profile.json"],
                        tmp_path)
    assert proc.returncode == 0, describe(proc)
    merged = load_profile(tmp_path / "merged.json")
    assert by_caller(merged, "alloc_mb") == pytest.approx(by_caller(run.profile, "alloc_mb"),
                                                          abs=0.01)


# ==== export --weight ====

def folded_by_caller(text):
    """{caller: the counts of the folded stacks through it}."""
    totals = dict.fromkeys(CALLERS, 0)
    for line in text.splitlines():
        match = FOLDED.match(line)
        assert match, line
        caller = next((name for name in CALLERS if f";{name} (" in match["stack"]), None)
        if caller:
            totals[caller] += int(match["count"])
    return totals


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("weight,key", [("alloc", "alloc_mb"), ("peak", "peak_mb")])
def test_export_collapsed_memory_in_bytes(run, tmp_path, weight, key, form):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(FORMS[form](run.profile)))
    status, out, err = in_process("export", "--format", "collapsed", "--weight", weight, path)
    assert status == 0, err
    counted = folded_by_caller(out)
    expected = by_caller(run.profile, key)
    for caller in CALLERS:
        assert counted[caller] == pytest.approx(expected[caller] * (1 << 20), abs=1 << 12), (
            caller, counted, expected)
    assert counted["keep_big"] > 0 and counted["keep_small"] > 0


def test_export_collapsed_time_is_unchanged_by_memory(run):
    """Stacks of memory only (no time) are not in a time export."""
    status, out, err = in_process("export", "--format", "collapsed", run.cwd / "profile.json")
    assert status == 0, err
    timed = sum(1 for stack in run.profile["stacks"] if round(stack["seconds"] * 1e6) > 0)
    assert len(out.splitlines()) == timed


def test_export_speedscope_memory(run, tmp_path):
    status, _, err = in_process("export", "--format", "speedscope", "--weight", "peak",
                                run.cwd / "profile.json", "-o", tmp_path / "s.json")
    assert status == 0, err
    (profile,) = json.loads((tmp_path / "s.json").read_text())["profiles"]
    assert profile["unit"] == "bytes" and "maximum footprint" in profile["name"]
    peak = sum(stack["peak_mb"] for stack in run.profile["stacks"])
    assert sum(profile["weights"]) == pytest.approx(peak * (1 << 20), abs=1 << 12)
    assert all(isinstance(weight, int) and weight > 0 for weight in profile["weights"])


def test_export_pprof_memory(run, tmp_path):
    status, _, err = in_process("export", "--format", "pprof", "--weight", "alloc",
                                run.cwd / "profile.json", "-o", tmp_path / "a.pb.gz")
    assert status == 0, err
    pprof = read_pprof((tmp_path / "a.pb.gz").read_bytes())
    assert pprof["sample_types"] == [("alloc_space", "bytes")]
    assert pprof["default_sample_type"] == "alloc_space"
    assert pprof["period_type"] == ("space", "bytes") and pprof["period"] == 65536
    allocated = sum(values[0] for _, values in pprof["samples"])
    expected = sum(stack["alloc_mb"] for stack in run.profile["stacks"])
    assert allocated == pytest.approx(expected * (1 << 20), abs=1 << 14)
    assert gzip.decompress((tmp_path / "a.pb.gz").read_bytes())


def test_export_memory_as_gecko_is_one_error(run):
    status, out, err = in_process("export", "--format", "gecko", "--weight", "alloc",
                                  run.cwd / "profile.json")
    assert_one_error_line(status, err)
    assert "gecko" in err and out == ""


def test_export_memory_of_a_profile_without_it_is_one_error(tmp_path):
    run_cpu = profile_workload(tmp_path, "mem_stacks.py", "0.25",
                               options=["--stacks", "--cpu", "--json"])
    status, out, err = in_process("export", "--format", "collapsed", "--weight", "peak",
                                  run_cpu.cwd / "profile.json")
    assert_one_error_line(status, err)
    assert "no memory by call stack" in err and out == ""


def test_export_bad_weight_is_one_error(run):
    status, _, err = in_process("export", "--format", "collapsed", "--weight", "bytes",
                                run.cwd / "profile.json")
    assert_one_error_line(status, err)
    assert "--weight" in err and "'alloc'" in err and "'peak'" in err
