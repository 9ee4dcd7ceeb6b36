"""Thread timelines and the per-line figures Scalene's users read (docs/DEFINITIONS.md, Core
utilization, Thread timelines, Memory): written by real runs, combined by `triscope merge`,
shown by the text report and, in headless Chromium, drawn as swimlanes by the viewer.
"""
import json

import pytest

from conftest import (describe, load_profile, marker_line, marker_lineno, profile_workload,
                      run_triscope)
from test_html import Viewer, browser  # noqa: F401 (the browser fixture)
from test_text_report import make_file, make_line, make_profile

KINDS = ("python", "native", "system", "cpu_wait", "idle")
# On a CPU. Waiting for one is not: on a loaded machine a thread that wakes from each of its
# short sleeps waits for a CPU much of the time, and a computing one too.
BUSY = ("python", "native")


def seconds_of(timeline, kinds):
    return sum(sum(timeline[kind]) for kind in kinds)


def share_between(timeline, kinds, start, end):
    """The share of the lane's `kinds` seconds in buckets that lie wholly in [start, end]."""
    whole = seconds_of(timeline, kinds)
    inside = 0.0
    for index in range(len(timeline["python"])):
        begins = timeline["start_s"] + index * timeline["bucket_s"]
        if begins >= start and begins + timeline["bucket_s"] <= end:
            inside += sum(timeline[kind][index] for kind in kinds)
    return inside / whole if whole else 0.0


# ==== Thread timelines ====


@pytest.fixture(scope="module")
def phases_run(tmp_path_factory):
    return profile_workload(tmp_path_factory.mktemp("phases"), "two_phases.py")


def test_each_thread_is_busy_in_its_own_phase(phases_run):
    """A computes, then sleeps while B computes: each lane runs in its own phase, placed on
    the profile's time axis by its wall-clock start, and its books are all in it."""
    profile, truth = phases_run.profile, phases_run.truth
    threads = {thread["tid"]: thread for thread in profile["threads"]}
    lane_a, lane_b = threads[truth["a_tid"]]["timeline"], threads[truth["b_tid"]]["timeline"]
    # The program's clock, on the profile's axis: the profile starts before the program.
    switch = truth["switch_wall"] - profile["started_at"]
    end = truth["end_wall"] - profile["started_at"]
    assert 0 < truth["start_wall"] - profile["started_at"] < switch < end <= \
        profile["elapsed_s"] + 0.05, (truth, profile["started_at"], profile["elapsed_s"])
    slack = 2 * lane_a["bucket_s"]  # a bucket straddling the switch belongs to neither phase
    assert share_between(lane_a, BUSY, 0, switch + slack) >= 0.9, lane_a
    assert share_between(lane_b, BUSY, switch - slack, end + slack) >= 0.9, lane_b
    for thread in (threads[truth["a_tid"]], threads[truth["b_tid"]]):
        lane = thread["timeline"]
        assert set(KINDS) <= set(lane) and lane["bucket_s"] > 0
        assert all(len(lane[kind]) == len(lane["python"]) <= 128 for kind in KINDS)
        # Every second of the thread's books is in its lane, CPU and waiting alike.
        cpu = seconds_of(lane, ("python", "native"))
        assert abs(cpu - thread["cpu_s"]) <= 0.02 + 0.02 * thread["cpu_s"], (cpu, thread)
        waited = seconds_of(lane, ("system", "cpu_wait", "idle"))
        expected = thread["wait_s"] + thread["idle_s"]
        assert abs(waited - expected) <= 0.05 + 0.05 * expected, (waited, thread)
        # No bucket holds more time than it lasts (the last but for a tick's CPU time read
        # late: docs/ARCHITECTURE.md, "Thread timelines").
        interval = profile["cpu_sampling_interval_s"]
        for index in range(len(lane["python"])):
            held = sum(lane[kind][index] for kind in KINDS)
            late = interval if index == len(lane["python"]) - 1 else 0
            assert held <= lane["bucket_s"] * 1.01 + late + 1e-6, (index, held, lane)


def test_a_long_run_keeps_at_most_128_buckets(tmp_path):
    """The buckets widen as the run grows: a 6 s run at 20 ms a bucket would need 300."""
    run = profile_workload(tmp_path, "two_phases.py", "5", options=["--cpu"])
    for thread in run.profile["threads"]:
        lane = thread["timeline"]
        assert lane["bucket_s"] * 128 >= run.profile["elapsed_s"] * 0.99, lane["bucket_s"]
        assert 0 < len(lane["python"]) <= 128


# ==== Per-line figures ====


@pytest.fixture(scope="module")
def peak_run(tmp_path_factory):
    return profile_workload(tmp_path_factory.mktemp("peak"), "mem_peak_line.py")


def test_max_footprint_line_is_the_line_that_made_the_peak(peak_run):
    profile, script = peak_run.profile, peak_run.script
    where = profile["max_footprint_line"]
    assert where == {"file": str(script), "lineno": marker_lineno(script, "peak")}, where
    assert profile["memory"]["max_footprint_mb"] >= 40


def test_core_utilization_of_a_sleep_and_of_a_computation(peak_run):
    sleeps = marker_line(peak_run.profile, peak_run.script, "sleeps")
    computes = marker_line(peak_run.profile, peak_run.script, "computes")
    assert sleeps["core_utilization"] <= 0.2, sleeps
    assert computes["core_utilization"] >= 0.8, computes


def test_average_and_growth_of_live_memory(peak_run):
    """The 48 MiB block lives a tenth of the run and is freed: a small average, no growth;
    the small blocks kept from the start to the end average about what is live."""
    peak = marker_line(peak_run.profile, peak_run.script, "peak")
    small = marker_line(peak_run.profile, peak_run.script, "small")
    assert peak["peak_mb"] >= 40 and peak["avg_mb"] < peak["peak_mb"] / 3, peak
    assert abs(peak["growth_mb"]) < 1, peak
    assert 0.3 * small["live_mb"] <= small["avg_mb"] <= 1.1 * small["live_mb"], small
    assert abs(small["growth_mb"]) <= 0.2 * small["live_mb"] + 0.1, small


def test_text_report_names_the_peak_line_and_shows_util_where_it_fits(peak_run):
    lineno = marker_lineno(peak_run.script, "peak")
    for columns, util in ((80, False), (120, True)):
        proc = run_triscope(["view", "profile.json", "--cli"], peak_run.cwd,
                            env={"COLUMNS": str(columns)})
        assert proc.returncode == 0, describe(proc)
        report = proc.stdout + proc.stderr
        assert all(len(row) <= columns for row in report.splitlines()), report
        assert f"peak reached allocating at {peak_run.script}:{lineno}" in report or \
            f"mem_peak_line.py:{lineno}" in report, report
        headings = [row for row in report.splitlines() if row.lstrip().startswith("line ")]
        assert headings and all((" util " in row) == util for row in headings[:1]), headings


# ==== Merging ====


def lane(start_s, python):
    return {"start_s": start_s, "bucket_s": 0.5, "python": python,
            **{kind: [0.0] * len(python) for kind in KINDS[1:]}}


def with_new_fields(profile, pid, started_at, peak_mb, utilization):
    profile["pid"] = pid
    profile["started_at"] = started_at
    profile["threads"][0]["timeline"] = lane(0.5, [0.5, 0.25])
    profile["memory"]["max_footprint_mb"] = peak_mb
    profile["max_footprint_line"] = {"file": "/home/u/app/main.py", "lineno": 3 + pid % 2}
    for entry in profile["files"].values():
        for line in entry["lines"]:
            line.update(core_utilization=utilization, avg_mb=1.0, growth_mb=0.5)
    return profile


def merged(tmp_path, profiles):
    names = []
    for index, profile in enumerate(profiles):
        names.append(f"p{index}.json")
        (tmp_path / names[-1]).write_text(json.dumps(profile))
    proc = run_triscope(["merge", "-o", "merged.json", *names], tmp_path)
    assert proc.returncode == 0, describe(proc)
    return load_profile(tmp_path / "merged.json")


def test_merge_puts_the_processes_on_one_time_axis(tmp_path):
    first = with_new_fields(make_profile(memory=True), 10, 1000.0, 12.5, 0.2)
    second = with_new_fields(make_profile(memory=True), 11, 1002.0, 30.0, 1.0)
    profile = merged(tmp_path, [first, second])
    assert profile["started_at"] == 1000.0
    assert [p["started_at"] for p in profile["processes"]] == [1000.0, 1002.0]
    assert [(t["pid"], t["timeline"]["start_s"]) for t in profile["threads"]] == \
        [(10, 0.5), (11, 2.5)]
    assert profile["max_footprint_line"] == {"file": "/home/u/app/main.py", "lineno": 4}
    line = profile["files"]["/home/u/app/main.py"]["lines"][0]
    # Equal time in both: the mean of 0.2 and 1.0; averages and growths add up.
    assert line["core_utilization"] == pytest.approx(0.6)
    assert line["avg_mb"] == pytest.approx(2.0) and line["growth_mb"] == pytest.approx(1.0)


def test_older_profiles_merge_and_render_without_the_new_fields(tmp_path):
    """A profile from before these fields, merged with a new one: nothing is made up (no
    start, no line figures only one side had), and every tool still reads the result."""
    new = with_new_fields(make_profile(memory=True), 10, 1000.0, 12.5, 0.2)
    profile = merged(tmp_path, [make_profile(memory=True), new])
    assert "started_at" not in profile and "max_footprint_line" not in profile
    line = profile["files"]["/home/u/app/main.py"]["lines"][0]
    assert not {"core_utilization", "avg_mb", "growth_mb"} & set(line)
    assert [t["timeline"]["start_s"] for t in profile["threads"] if "timeline" in t] == [0.5]
    for tool in (["view", "merged.json", "--cli"], ["view", "merged.json", "--html"],
                 ["diff", "p0.json", "merged.json"]):
        proc = run_triscope(tool, tmp_path)
        assert proc.returncode == 0, describe(proc)


# ==== The viewer ====


@pytest.mark.parametrize("width", [900, 1400])
def test_swimlanes_render_at_any_width(browser, phases_run, width):  # noqa: F811
    """One lane per thread, inside the page at 900 and 1400 px, each bucket a column whose
    parts have the legend's colours; hovering a column of A's busy phase gives its split."""
    viewer = Viewer(browser, phases_run.cwd / "profile.html")
    try:
        page = viewer.page
        page.set_viewport_size({"width": width, "height": 900})
        names = page.eval_on_selector_all("#timeline .lane-name", "n => n.map(e => e.textContent)")
        assert sorted(names) == sorted(t["name"] for t in phases_run.profile["threads"])
        page.locator("#timeline").scroll_into_view_if_needed()
        lanes = page.locator("#timeline svg.lane")
        assert lanes.count() == len(names)
        for index in range(lanes.count()):
            box = lanes.nth(index).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, box
            assert box["width"] >= width / 3, box  # the lane, not its name, takes the room
        legend = page.text_content("#timeline .legend")
        for label in ("Python", "native", "waiting for a CPU", "system", "idle"):
            assert label in legend
        a_lane = lanes.nth(names.index("phase-a"))
        assert a_lane.locator("rect.python, rect.native").count() > 0
        box = a_lane.bounding_box()
        truth, profile = phases_run.truth, phases_run.profile
        middle = (truth["switch_wall"] - profile["started_at"]) / 2
        end = max(profile["elapsed_s"], max(
            t["timeline"]["start_s"] + len(t["timeline"]["python"]) * t["timeline"]["bucket_s"]
            for t in profile["threads"]))
        page.mouse.move(box["x"] + box["width"] * middle / end, box["y"] + box["height"] / 2)
        tip = page.locator("#tip")
        tip.wait_for(state="visible")
        assert "from" in tip.text_content() and "ms" in tip.text_content()
        assert any(kind in tip.text_content() for kind in ("Python", "native", "waiting"))
        page.screenshot(path=str(phases_run.cwd / f"timeline-{width}.png"))
        viewer.check_clean()
    finally:
        viewer.page.close()


# ==== A line's CPU samples over time ====

TWO_LOOPS = """\
import time

end = time.process_time() + 0.6
while time.process_time() < end:  # @first
    pass
end = time.process_time() + 0.6
while time.process_time() < end:  # @second
    pass
"""


def test_a_lines_cpu_samples_over_time_follow_when_it_ran(tmp_path):
    """cpu_timeline: the first loop's samples lie in the run's first half, the second's in
    its second half, and each line's buckets add up to its CPU samples."""
    script = tmp_path / "two_loops.py"
    script.write_text(TWO_LOOPS)
    proc = run_triscope(["--cpu", "--json", "-o", "p.json", script], tmp_path)
    assert proc.returncode == 0, describe(proc)
    profile = load_profile(tmp_path / "p.json")
    lines = {marker: marker_line(profile, script, marker) for marker in ("first", "second")}
    axes = {(line["cpu_timeline"]["start_s"], line["cpu_timeline"]["bucket_s"])
            for line in lines.values()}
    assert len(axes) == 1, axes  # one axis for every line
    (start, width), = axes
    buckets = max(len(line["cpu_timeline"]["samples"]) for line in lines.values())
    assert buckets <= 32
    middle = buckets // 2  # the first bucket of the second half
    for marker, half in (("first", slice(0, middle)), ("second", slice(middle, None))):
        samples = lines[marker]["cpu_timeline"]["samples"]
        assert sum(samples) == lines[marker]["cpu_samples"], (marker, samples)
        assert sum(samples[half]) >= 0.85 * sum(samples), (marker, samples, start, width)


def test_merged_profiles_leave_the_cpu_timeline_out(tmp_path):
    """Each process has its own axis: a merge drops the field rather than add unlike
    buckets."""
    first, second = make_profile(), make_profile()
    for profile in (first, second):
        line = profile["files"]["/home/u/app/main.py"]["lines"][0]
        line["cpu_timeline"] = {"start_s": 0.0, "bucket_s": 0.05, "samples": [3, 1]}
    profile = merged(tmp_path, [first, second])
    assert all("cpu_timeline" not in line for entry in profile["files"].values()
               for line in entry["lines"])
