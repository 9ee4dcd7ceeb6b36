"""The display rule (triscope.reports.display; docs/PROFILE_FORMAT.md, "Which lines are
worth showing"): the sample count --malloc-threshold asks for, the report's cut and
--reduced-profile's, which keeps every line a report at the same thresholds shows.
"""
import itertools

from triscope.reports import display


def line(time_pct=0.0, mem_pct=0.0, samples=0, alloc_mb=None):
    """A line's metrics; its MB allocated default to what `samples` stand for (256 KiB each)."""
    return {"cpu_python_pct": time_pct, "cpu_native_pct": 0.0, "cpu_system_pct": 0.0,
            "mem_pct": mem_pct, "alloc_samples": samples,
            "alloc_mb": samples * 0.25 if alloc_mb is None else alloc_mb}


def profile(memory=True, interval=256 * 1024):
    return {"memory": {"enabled": memory, "sampling_interval_bytes": interval}}


def test_malloc_threshold_is_a_volume():
    assert display.min_alloc_samples(100, 256 * 1024) == 4      # 100 × 10 KiB ≈ 3.9 samples
    assert display.min_alloc_samples(100, 10 * 1024) == 100
    assert display.min_alloc_samples(1, 256 * 1024) == 1        # never less than one
    assert display.min_alloc_samples(100, 0) == 100             # older profiles: no interval


def test_report_cut():
    cut = display.report_cut(profile(), 1.0, 100)
    assert cut[:3] == (1.0, 1.0, 4) and 0.97 < cut.alloc_mb < 0.98  # 100 × 10 KiB
    assert display.line_shown(line(time_pct=1.0), cut)
    assert not display.line_shown(line(time_pct=0.9), cut)
    assert display.line_shown(line(mem_pct=5.0, samples=4), cut)
    assert not display.line_shown(line(mem_pct=5.0, samples=3), cut)
    assert not display.line_shown(line(mem_pct=0.5, samples=40), cut)
    # One 100 MB allocation is one sample: its volume keeps it.
    assert display.line_shown(line(mem_pct=90.0, samples=1, alloc_mb=100.0), cut)
    assert not display.line_shown(line(mem_pct=90.0, samples=1, alloc_mb=0.5), cut)
    # Without memory, allocation never shows a line.
    no_memory = display.report_cut(profile(memory=False), 1.0, 100)
    assert no_memory.alloc_samples == 0
    assert not display.line_shown(line(mem_pct=50.0, samples=400), no_memory)


def test_files_and_functions():
    cut = display.report_cut(profile(), 2.0, 100)
    assert display.file_shown({"cpu_pct": 2.0}, [], cut)
    assert display.file_shown({"cpu_pct": 0.0}, [line(time_pct=3.0)], cut)
    assert not display.file_shown({"cpu_pct": 1.9}, [], cut)
    assert display.function_shown(line(time_pct=2.0), cut)
    assert not display.function_shown(line(time_pct=1.9, mem_pct=90.0, samples=90), cut)


def test_reduced_profile_keeps_what_a_report_shows():
    for threshold, malloc_threshold in [(1.0, 100), (0.0, 1), (25.0, 64)]:
        report = display.report_cut(profile(), threshold, malloc_threshold)
        reduced = display.reduced_profile_cut(threshold, malloc_threshold, 256 * 1024)
        assert reduced.mem_pct == 0.0
        for time_pct, mem_pct, samples, alloc_mb in itertools.product(
                (0.0, 0.5, threshold, 30.0), (0.0, 0.5, threshold, 30.0), (0, 1, 2, 3, 4, 9),
                (None, 100.0)):
            metrics = line(time_pct, mem_pct, samples, alloc_mb)
            if display.line_shown(metrics, report):
                assert display.line_shown(metrics, reduced), (threshold, metrics)


def test_reduced_keeps_only_what_the_cut_shows():
    """`view --reduced` (Scalene's view -r): the lines, functions and files the cut hides
    are gone from the profile the page shows."""
    cut = display.report_cut(profile(), 2.0, 100)
    shown, hidden = line(time_pct=5.0), line(time_pct=0.5)
    whole = {"memory": {"enabled": True}, "options": {"reduced_profile": False}, "files": {
        "/a.py": {"cpu_pct": 5.5, "lines": [dict(shown, lineno=1), dict(hidden, lineno=2)],
                  "functions": [dict(shown, name="f"), dict(hidden, name="g")]},
        "/b.py": {"cpu_pct": 0.5, "lines": [dict(hidden, lineno=1)], "functions": []}}}
    reduced = display.reduced(whole, cut)
    assert list(reduced["files"]) == ["/a.py"]
    assert [l["lineno"] for l in reduced["files"]["/a.py"]["lines"]] == [1]
    assert [f["name"] for f in reduced["files"]["/a.py"]["functions"]] == ["f"]
    assert reduced["options"]["reduced_profile"] and not whole["options"]["reduced_profile"]
    assert len(whole["files"]["/a.py"]["lines"]) == 2  # the profile read is left as it was
