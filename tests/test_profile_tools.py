"""The profile tools (docs/DEFINITIONS.md): `triscope diff`, `triscope export`, and what all the tools
reading a saved profile (view, diff, merge, export) do with bad input.

GIVEN two runs of tests/workloads/diff_work.py, whose line @changed does N times the work
of the line @steady (N=1 before, N=4 after), WHEN they are diffed, THEN @changed ranks first.
The two profiles are made once per module (short runs, 2 ms sampling) and shared.
"""
import contextlib
import gzip
import io
import json
import os
import re
import select
import signal
import subprocess
import sys

import pytest

from conftest import (FORMS, WORKLOADS, _child_env, describe, load_profile, marker_lineno,
                      old_form, run_triscope)

from test_text_report import make_file, make_line, make_profile
from triscope import cli
from triscope.reports import diff as diff_report

WORK = WORKLOADS / "diff_work.py"


@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    """(before.json, after.json): the workload with factor 1, then 4, with stacks. CPU time
    only (--use-virtual-time): waiting for a busy machine's CPUs would be noise here."""
    cwd = tmp_path_factory.mktemp("diff")
    paths = []
    for name, factor in (("before.json", 1), ("after.json", 4)):
        proc = run_triscope(["--stacks", "--use-virtual-time", "--cpu-sampling-rate", "0.002",
                             "--json", "-o",
                             cwd / name, WORK, factor], cwd)
        assert proc.returncode == 0, describe(proc)
        load_profile(cwd / name)
        paths.append(cwd / name)
    return paths


def in_process(*argv):
    """`triscope *argv` run in this process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main([str(arg) for arg in argv])
    return status, out.getvalue(), err.getvalue()


def assert_one_error_line(status, err):
    assert status == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("triscope: error: "), err
    assert "Traceback" not in err


# ==== diff ====


def test_diff_ranks_the_slowed_line_first(profiles, tmp_path):
    before, after = profiles
    proc = run_triscope(["diff", before, after, "--json"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    diff = json.loads(proc.stdout)
    assert diff["schema"] == "triscope-diff/1"
    top = diff["lines"][0]
    assert top["lineno"] == marker_lineno(WORK, "changed"), diff["lines"][:3]
    assert top["status"] == "changed" and top["significant"]
    assert top["delta_s"] > 0 and top["ratio"] > 2
    steady = next(e for e in diff["lines"] if e["lineno"] == marker_lineno(WORK, "steady"))
    assert abs(steady["delta_s"]) < top["delta_s"] / 2
    # seconds are pct / 100 × thread time of each profile
    after_profile = json.loads(after.read_text())
    line = next(l for l in next(iter(after_profile["files"].values()))["lines"]
                if l["lineno"] == top["lineno"])
    pct = line["cpu_python_pct"] + line["cpu_native_pct"] + line["cpu_system_pct"]
    assert top["after_s"] == pytest.approx(pct / 100 * after_profile["thread_time_s"])
    assert diff["functions"][0]["name"].startswith("changing"), diff["functions"][:3]
    # memory: the changed line allocates 4× as much too
    by_memory = max(diff["lines"], key=lambda e: abs(e["delta_alloc_mb"]))
    assert by_memory["lineno"] == top["lineno"] and by_memory["delta_alloc_mb"] > 0


def test_diff_text_report(profiles):
    before, after = profiles
    status, out, err = in_process("diff", before, after)
    assert status == 0, err
    lines = out.splitlines()
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    assert "\x1b" not in out
    table = lines.index("lines, by change in time:")
    first = lines[table + 2]
    assert f"diff_work.py:{marker_lineno(WORK, 'changed')}" in first, out
    assert "+" in first.split()[2]
    assert "functions, by change in time:" in out
    assert "lines, by change in memory allocated:" in out
    assert "slower" in lines[2]


def test_diff_the_other_way_shows_it_faster(profiles):
    before, after = profiles
    status, out, err = in_process("diff", after, before, "--json")
    assert status == 0, err
    top = json.loads(out)["lines"][0]
    assert top["lineno"] == marker_lineno(WORK, "changed")
    assert top["delta_s"] < 0 and top["ratio"] < 0.5


def test_diff_outfile(profiles, tmp_path):
    before, after = profiles
    status, _, err = in_process("diff", before, after, "-o", tmp_path / "d.json")
    assert status == 0, err
    assert json.loads((tmp_path / "d.json").read_text())["lines"]
    status, _, err = in_process("diff", before, after, "-o", tmp_path / "d.txt", "--top", "1")
    assert status == 0, err
    assert "more (--top N shows more)" in (tmp_path / "d.txt").read_text()


def test_diff_of_a_profile_with_itself_is_empty(profiles):
    before, _ = profiles
    status, out, err = in_process("diff", before, before)
    assert status == 0, err
    assert "no change above sampling noise" in out
    status, out, _ = in_process("diff", before, before, "--json")
    assert all(e["delta_s"] == 0 and not e["significant"] for e in json.loads(out)["lines"])


def synthetic(path, lines, thread_time=1.0, functions=()):
    """A minimal profile dict for the diff's pure functions: lines {lineno: pct}."""
    return {
        "program": "p.py", "elapsed_s": thread_time, "thread_time_s": thread_time,
        "samples": 100, "cpu_sampling_interval_s": 0.01, "unattributed_pct": 0.0,
        "memory": {"enabled": False},
        "files": {path: {
            "lines": [{"lineno": n, "source": f"line {n}", "cpu_python_pct": pct,
                       "cpu_native_pct": 0.0, "cpu_system_pct": 0.0}
                      for n, pct in lines.items()],
            "functions": [{"name": name, "lineno": n, "cpu_python_pct": pct,
                           "cpu_native_pct": 0.0, "cpu_system_pct": 0.0}
                          for name, n, pct in functions]}},
    }


def test_diff_in_seconds_matches_moved_files_and_new_lines():
    # 50% of 2 s = 1 s before; 10% of 4 s = 0.4 s after: faster, though its share of a
    # longer run looks smaller still; line 3 is new, line 2 gone; the file moved.
    before = synthetic("/a/old/prog.py", {1: 50.0, 2: 10.0}, 2.0, [("f", 1, 60.0)])
    after = synthetic("/b/new/prog.py", {1: 10.0, 3: 80.0}, 4.0, [("f", 1, 90.0)])
    diff = diff_report.compare(before, after)
    by_line = {e["lineno"]: e for e in diff["lines"]}
    assert [e["lineno"] for e in diff["lines"]] == [3, 1, 2]
    assert by_line[1]["before_s"] == pytest.approx(1.0)
    assert by_line[1]["after_s"] == pytest.approx(0.4)
    assert by_line[3]["status"] == "new" and by_line[3]["ratio"] is None
    assert by_line[2]["status"] == "gone"
    assert {e["file"] for e in diff["lines"]} == {"/b/new/prog.py"}
    (function,) = diff["functions"]
    assert function["before_s"] == pytest.approx(1.2) and function["after_s"] == pytest.approx(3.6)
    text = diff_report.render(diff, width=80)
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "new" in text and "gone" in text


def test_diff_leaves_out_what_one_profile_did_not_measure():
    """A full profile against a --cpu one: the memory the second did not measure is not a
    drop to zero; and a --memory profile against a full one compares no time."""
    full = synthetic("/p/prog.py", {1: 50.0, 2: 10.0})
    full["memory"] = {"enabled": True, "alloc_mb": 68.6, "max_footprint_mb": 40.0}
    full["files"]["/p/prog.py"]["lines"][0]["alloc_mb"] = 60.0
    full["gpu"] = {"enabled": True, "busy_s": 0.5}
    cpu_only = synthetic("/p/prog.py", {1: 50.0, 2: 10.0})
    cpu_only["options"] = {"cpu": True}
    diff = diff_report.compare(full, cpu_only)
    assert diff["compared"] == {"cpu": True, "memory": False, "gpu": False}
    assert all(e["delta_alloc_mb"] == 0 for e in diff["lines"])
    text = diff_report.render(diff, width=80, before_name="full.json", after_name="cpu.json")
    assert "memory: not compared, profiled only in full.json" in text
    assert "GPU: not compared, profiled only in full.json" in text
    assert "68.6" not in text and "0.0 MB" not in text
    memory_only = synthetic("/p/prog.py", {1: 0.0})
    memory_only["options"] = {"cpu": False}
    memory_only["memory"] = {"enabled": True, "alloc_mb": 70.0, "max_footprint_mb": 41.0}
    diff = diff_report.compare(memory_only, full)
    assert diff["compared"] == {"cpu": False, "memory": True, "gpu": False}
    assert all(e["delta_s"] == 0 for e in diff["lines"])
    text = diff_report.render(diff, width=80, before_name="mem.json", after_name="full.json")
    assert "time: not compared, profiled only in full.json" in text
    assert "by change in time" not in text
    assert "memory:  68.6" not in text and "70.0" in text


# ==== export ====


def test_export_speedscope(profiles, tmp_path):
    _, after = profiles
    out = tmp_path / "after.speedscope.json"
    status, _, err = in_process("export", "--format", "speedscope", after, "-o", out)
    assert status == 0, err
    data = json.loads(out.read_text())
    assert data["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = data["shared"]["frames"]
    assert frames and all(isinstance(f["name"], str) and f["name"] for f in frames)
    (profile,) = data["profiles"]
    assert profile["type"] == "sampled" and profile["unit"] == "seconds"
    assert len(profile["samples"]) == len(profile["weights"]) > 0
    for stack in profile["samples"]:
        assert stack and all(isinstance(i, int) and 0 <= i < len(frames) for i in stack)
    assert all(w > 0 for w in profile["weights"])
    stacks_total = sum(s["seconds"] for s in json.loads(after.read_text())["stacks"])
    assert sum(profile["weights"]) == pytest.approx(stacks_total)
    assert profile["endValue"] == pytest.approx(stacks_total) and profile["startValue"] == 0
    # the hot line is a frame of the heaviest stack
    heaviest = profile["samples"][profile["weights"].index(max(profile["weights"]))]
    assert any(frames[i].get("line") == marker_lineno(WORK, "changed") for i in heaviest)


FOLDED = re.compile(r"^(?P<stack>[^\n]+) (?P<count>\d+)$")


def test_export_collapsed(profiles):
    _, after = profiles
    status, out, err = in_process("export", "--format", "collapsed", after)
    assert status == 0, err
    total = 0
    for line in out.splitlines():
        match = FOLDED.match(line)
        assert match, line
        assert all(match["stack"].split(";")), line
        total += int(match["count"])
    stacks_total = sum(s["seconds"] for s in json.loads(after.read_text())["stacks"])
    assert total == pytest.approx(stacks_total * 1e6, abs=len(out.splitlines()))
    changed = f"diff_work.py:{marker_lineno(WORK, 'changed')})"
    assert changed in out


def test_export_collapsed_frames_cannot_break_the_format():
    from triscope.reports import export
    stacks = [([("/x/a;b.py", "f\nname", 1), ("/x/a;b.py", "g", 2)], 0.5)]
    (line,) = export.collapsed(stacks).splitlines()
    assert FOLDED.match(line) and line.count(";") == 1 and line.endswith(" 500000")


def test_export_without_stacks_is_one_error(tmp_path):
    proc = run_triscope(["--cpu", "--no-stacks", "--json", "-o", "p.json", WORK, "1"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    proc = run_triscope(["export", "--format", "collapsed", "p.json"], tmp_path)
    assert_one_error_line(proc.returncode, proc.stderr)
    assert "--no-stacks" in proc.stderr and proc.stdout == ""


def profile_stacks(path):
    """{(frames as tuples, outermost first): (samples, seconds)} of a profile's stacks."""
    return {tuple(tuple(frame) for frame in stack["frames"]): (stack["samples"], stack["seconds"])
            for stack in load_profile(path)["stacks"] if stack["seconds"] > 0}


# ---- gecko: the Firefox Profiler's gecko profile format ----

# What the Firefox Profiler requires of a gecko profile, meta and thread (its definition of the
# format, version 27 onwards), and the columns of each table.
GECKO_META = {"version", "interval", "startTime", "shutdownTime", "categories", "markerSchema",
              "processType", "stackwalk", "debug", "gcpoison", "asyncstack"}
GECKO_THREAD = {"name", "registerTime", "processType", "unregisterTime", "tid", "pid",
                "markers", "samples", "frameTable", "stackTable", "stringTable"}
GECKO_COLUMNS = {
    "frameTable": ["location", "relevantForJS", "innerWindowID", "implementation", "line",
                   "column", "category", "subcategory"],
    "stackTable": ["prefix", "frame"],
    "samples": ["stack", "time", "eventDelay"],
    "markers": ["name", "startTime", "endTime", "phase", "category", "data"],
}
# How the profiler reads a function, its file and its line from a frame's location string.
GECKO_LOCATION = re.compile(r"^(.*) \((.+?):([0-9]+)(?::([0-9]+))?\)$")


def gecko_rows(thread, table):
    """The rows of a gecko table as dicts, after checking its schema and row lengths."""
    schema = thread[table]["schema"]
    assert sorted(schema, key=schema.get) == GECKO_COLUMNS[table], schema
    rows = thread[table]["data"]
    assert all(isinstance(row, list) and len(row) == len(schema) for row in rows), table
    return [dict(zip(GECKO_COLUMNS[table], row)) for row in rows]


def test_export_gecko(profiles, tmp_path):
    _, after = profiles
    out = tmp_path / "after.gecko.json"
    status, _, err = in_process("export", "--format", "gecko", after, "-o", out)
    assert status == 0, err
    text = out.read_text()
    assert text.isascii()
    status, stdout, err = in_process("export", "--format", "gecko", after)
    assert status == 0 and stdout == text, err
    data = json.loads(text)
    assert GECKO_META <= set(data["meta"]) and {"libs", "threads", "pausedRanges",
                                                 "processes"} <= set(data)
    meta = data["meta"]
    assert isinstance(meta["version"], int) and meta["interval"] > 0
    assert "preprocessedProfileVersion" not in meta  # a gecko profile, not a processed one
    categories = meta["categories"]
    assert categories and all({"name", "color", "subcategories"} <= set(c) for c in categories)
    (thread,) = data["threads"]  # triscope adds all threads up: one track, named so
    assert GECKO_THREAD <= set(thread) and "all" in thread["name"]
    strings = thread["stringTable"]
    assert all(isinstance(s, str) for s in strings)
    frames = gecko_rows(thread, "frameTable")
    for frame in frames:
        assert 0 <= frame["location"] < len(strings)
        assert GECKO_LOCATION.match(strings[frame["location"]]), strings[frame["location"]]
        assert 0 <= frame["category"] < len(categories)
        assert 0 <= frame["subcategory"] < len(categories[frame["category"]]["subcategories"])
        assert isinstance(frame["line"], int) and frame["line"] > 0
    stacks = gecko_rows(thread, "stackTable")
    for index, stack in enumerate(stacks):
        assert 0 <= stack["frame"] < len(frames)
        assert stack["prefix"] is None or 0 <= stack["prefix"] < index  # callers come first
    samples = gecko_rows(thread, "samples")
    assert samples and all(0 <= s["stack"] < len(stacks) for s in samples)
    times = [s["time"] for s in samples]
    assert times == sorted(times) and times[0] >= 0
    assert gecko_rows(thread, "markers") == []

    def frames_of(stack_index):
        """(file, function, line) of each frame, outermost first."""
        out = []
        while stack_index is not None:
            frame = frames[stacks[stack_index]["frame"]]
            name, path, _, _ = GECKO_LOCATION.match(strings[frame["location"]]).groups()
            out.append((path, name, frame["line"]))
            stack_index = stacks[stack_index]["prefix"]
        return tuple(reversed(out))

    # Every stack of the profile, each `seconds / interval` samples long (at least one).
    expected = profile_stacks(after)
    counts = {}
    for sample in samples:
        key = frames_of(sample["stack"])
        counts[key] = counts.get(key, 0) + 1
    assert set(counts) == set(expected)
    interval = meta["interval"] / 1e3
    for key, (_, seconds) in expected.items():
        assert counts[key] == max(1, round(seconds / interval)), key
    # The hot line, in its function, leads the stack with the most samples.
    hottest = max(counts, key=counts.get)
    assert hottest[-1][2] == marker_lineno(WORK, "changed")
    assert hottest[-1][1].startswith("changing")
    assert any(s.startswith(hottest[-1][1] + " (") for s in strings)


# ---- pprof: profile.proto, gzip-compressed ----
# A reader of the protobuf wire format, enough for profile.proto: varints (wire type 0) and
# length-delimited fields (wire type 2); profile.proto uses no other.


def pb_varint(data, at):
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            assert shift <= 70, "a varint longer than 10 bytes"
            return value, at


def pb_message(data):
    """field number → [values] (int for a varint, bytes for a length-delimited field)."""
    fields, at = {}, 0
    while at < len(data):
        key, at = pb_varint(data, at)
        number, wire = key >> 3, key & 7
        assert number > 0, "field number 0"
        if wire == 0:
            value, at = pb_varint(data, at)
        elif wire == 2:
            length, at = pb_varint(data, at)
            value, at = data[at:at + length], at + length
            assert at <= len(data), "a field runs past its message"
        else:
            raise AssertionError(f"wire type {wire} is not used by profile.proto")
        fields.setdefault(number, []).append(value)
    return fields


def pb_ints(message, number):
    """A repeated integer field, packed (one length-delimited run) or not."""
    values = []
    for value in message.get(number, []):
        if isinstance(value, bytes):
            at = 0
            while at < len(value):
                item, at = pb_varint(value, at)
                values.append(item)
        else:
            values.append(value)
    return values


def pb_int(message, number):
    """An optional integer field: 0 when absent (proto3)."""
    (value,) = message.get(number, [0])
    assert isinstance(value, int)
    return value


def read_pprof(data):
    """A gzip'd profile.proto Profile as plain Python, checked against the format's rules."""
    profile = pb_message(gzip.decompress(data))
    strings = [s.decode("utf-8") for s in profile.get(6, [])]
    assert strings and strings[0] == "", "string_table[0] must be the empty string"

    def string(index):
        assert 0 <= index < len(strings), index
        return strings[index]

    def value_type(raw):
        message = pb_message(raw)
        return string(pb_int(message, 1)), string(pb_int(message, 2))

    sample_types = [value_type(raw) for raw in profile.get(1, [])]
    mappings = {pb_int(pb_message(raw), 1) for raw in profile.get(3, [])}
    functions = {}
    for raw in profile.get(5, []):
        message = pb_message(raw)
        id_ = pb_int(message, 1)
        assert id_ and id_ not in functions, "function ids are unique and nonzero"
        functions[id_] = (string(pb_int(message, 4)), string(pb_int(message, 2)),
                          pb_int(message, 5))
    locations = {}
    for raw in profile.get(4, []):
        message = pb_message(raw)
        id_ = pb_int(message, 1)
        assert id_ and id_ not in locations, "location ids are unique and nonzero"
        assert pb_int(message, 2) in mappings | {0}, "a location's mapping exists"
        lines = [pb_message(line) for line in message.get(4, [])]
        assert lines and all(pb_int(line, 1) in functions for line in lines)
        locations[id_] = [(pb_int(line, 1), pb_int(line, 2)) for line in lines]
    samples = []
    for raw in profile.get(2, []):
        message = pb_message(raw)
        ids, values = pb_ints(message, 1), pb_ints(message, 2)
        assert ids and all(i in locations for i in ids), "every location id exists"
        assert len(values) == len(sample_types), "one value per sample type"
        samples.append((ids, values))
    return {"strings": strings, "sample_types": sample_types, "functions": functions,
            "locations": locations, "samples": samples,
            "period_type": value_type(profile[11][0]), "period": pb_int(profile, 12),
            "default_sample_type": string(pb_int(profile, 14)),
            "comments": [string(i) for i in pb_ints(profile, 13)]}


def test_export_pprof(profiles, tmp_path):
    _, after = profiles
    out = tmp_path / "after.pb.gz"
    status, _, err = in_process("export", "--format", "pprof", after, "-o", out)
    assert status == 0, err
    pprof = read_pprof(out.read_bytes())
    # --use-virtual-time: the time is CPU time
    assert pprof["sample_types"] == [("samples", "count"), ("cpu", "nanoseconds")]
    assert pprof["default_sample_type"] == "cpu"
    assert pprof["period_type"] == ("cpu", "nanoseconds")
    recorded = json.loads(after.read_text())
    assert pprof["period"] == round(recorded["cpu_sampling_interval_s"] * 1e9)
    assert any("all 1 thread" in comment for comment in pprof["comments"])

    def frame(location_id):
        (function_id, line), = pprof["locations"][location_id]
        path, name, _ = pprof["functions"][function_id]
        return path, name, line

    # The profile's stacks exactly: locations innermost first, values samples and nanoseconds.
    decoded = {tuple(frame(i) for i in reversed(ids)): values for ids, values in pprof["samples"]}
    expected = profile_stacks(after)
    assert set(decoded) == set(expected)
    for key, (samples, seconds) in expected.items():
        assert decoded[key] == [samples, round(seconds * 1e9)], key
    # The hot function: the most self time, on the line marked @changed.
    self_time = {}
    for ids, values in pprof["samples"]:
        self_time[ids[0]] = self_time.get(ids[0], 0) + values[1]
    path, name, line = frame(max(self_time, key=self_time.get))
    assert path == str(WORK) and name.startswith("changing")
    assert line == marker_lineno(WORK, "changed")
    first_lines = {(p, n): first for p, n, first in pprof["functions"].values()}
    assert first_lines[str(WORK), "changing"] == marker_lineno(WORK, "changed") - 1


def test_export_pprof_to_a_pipe_but_never_a_terminal(profiles, tmp_path):
    _, after = profiles
    proc = run_triscope(["export", "--format", "pprof", after], tmp_path, text=False)
    assert proc.returncode == 0, describe(proc)
    assert proc.stderr == b""
    status, _, err = in_process("export", "--format", "pprof", after, "-o", tmp_path / "p.gz")
    assert status == 0, err
    assert proc.stdout == (tmp_path / "p.gz").read_bytes()  # the same bytes, run after run
    assert read_pprof(proc.stdout)["samples"]
    # stdout a terminal: one line saying why, nothing written to it
    leader, follower = os.openpty()
    try:
        child = subprocess.run([sys.executable, "-m", "triscope", "export", "--format", "pprof",
                                str(after)], cwd=tmp_path, env=_child_env(None),
                               stdout=follower, stderr=subprocess.PIPE, text=True, timeout=60)
        os.close(follower)
        written = b""
        while select.select([leader], [], [], 0)[0]:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal is closed on both sides: nothing more
                break
            if not chunk:
                break
            written += chunk
    finally:
        os.close(leader)
    assert_one_error_line(child.returncode, child.stderr)
    assert "terminal" in child.stderr and "-o" in child.stderr
    assert written == b""


def test_export_pprof_unwritable_output_is_one_error(profiles, tmp_path):
    _, after = profiles
    target = tmp_path / "no-such-dir" / "p.pb.gz"
    status, _, err = in_process("export", "--format", "pprof", after, "-o", target)
    assert_one_error_line(status, err)
    assert not target.parent.exists()


@pytest.mark.parametrize("tool", [["view", "--cli"], ["diff", "BEFORE"],
                                  ["export", "--format", "collapsed"],
                                  ["export", "--format", "speedscope"],
                                  ["export", "--format", "gecko"],
                                  ["export", "--format", "pprof"], ["optimize", "--dry-run"]],
                         ids=lambda tool: "-".join(tool[:3:2]))
def test_a_reader_that_goes_away_ends_the_tool_as_a_filter(profiles, tmp_path, tool):
    """`triscope view p.json | head`: the pipe's reader is gone before the tool writes. Like
    any Unix filter it ends killed by SIGPIPE, silently: no traceback, no error line."""
    before, after = profiles
    argv = [str(before) if word == "BEFORE" else word for word in tool] + [str(after)]
    reader, writer = os.pipe()
    os.close(reader)
    try:
        child = subprocess.run([sys.executable, "-m", "triscope", *argv], cwd=tmp_path,
                               env=_child_env(None), stdout=writer, stderr=subprocess.PIPE,
                               text=True, timeout=60)
    finally:
        os.close(writer)
    assert child.returncode == -signal.SIGPIPE, child.stderr
    assert child.stderr == ""


@pytest.mark.parametrize("columns", [None, "80", "200"])
def test_view_text_takes_its_width_from_columns(profiles, tmp_path, columns):
    """$COLUMNS sets the report's width, as for the shell's own tools; without it a pipe
    gets 100 columns."""
    _, after = profiles
    proc = run_triscope(["view", "--cli", after], tmp_path, env={"COLUMNS": columns})
    assert proc.returncode == 0, describe(proc)
    width = int(columns or 100)
    rows = proc.stdout.splitlines()
    assert rows and max(len(row) for row in rows) <= width, proc.stdout


def test_view_reduced_leaves_hidden_lines_out_of_the_page(profiles, tmp_path):
    _, after = profiles
    for name, extra in (("whole.html", []), ("reduced.html", ["-r"])):
        status, _, err = in_process("view", "--html", *extra, "-o", tmp_path / name, after)
        assert status == 0, err
    whole, reduced = ((tmp_path / name).read_text() for name in ("whole.html", "reduced.html"))
    assert '"reduced_profile":true' in reduced and '"reduced_profile":true' not in whole
    assert len(reduced) < len(whole)


# ==== Both forms of the stacks (docs/PROFILE_FORMAT.md, "Versions") ====


@pytest.fixture(scope="module")
def old_profiles(profiles, tmp_path_factory):
    """The two profiles as an earlier triscope wrote them: triscope/1, no frame table, every
    stack's frames [file, function, lineno] triples."""
    cwd = tmp_path_factory.mktemp("old")
    paths = []
    for path in profiles:
        old = cwd / path.name
        old.write_text(json.dumps(old_form(load_profile(path))))
        paths.append(old)
    return paths


def test_a_run_writes_each_frame_once_and_the_stacks_by_index(profiles):
    for path in profiles:
        raw = load_profile(path, raw=True)  # indices in range: load_profile checks them
        assert raw["schema"] == "triscope/2"
        table = raw["stack_frames"]
        assert table and len({tuple(frame) for frame in table}) == len(table)
        assert all(isinstance(index, int) for stack in raw["stacks"] for index in stack["frames"])
        # First use first: scanning the stacks in order meets the table's entries in order.
        seen = []
        for stack in raw["stacks"]:
            seen += [index for index in stack["frames"] if index not in seen]
        assert seen == list(range(len(table)))


# What every reader makes of a profile: the same, from either form (pprof's bytes included:
# it is written with mtime 0).
READERS = {
    "view": ["view", "--cli", "AFTER"],
    "diff": ["diff", "BEFORE", "AFTER"],
    "diff_json": ["diff", "BEFORE", "AFTER", "--json"],
    "export_speedscope": ["export", "--format", "speedscope", "AFTER"],
    "export_collapsed": ["export", "--format", "collapsed", "AFTER"],
    "export_gecko": ["export", "--format", "gecko", "AFTER"],
    "export_pprof": ["export", "--format", "pprof", "AFTER", "-o", "OUT"],
    "merge": ["merge", "-o", "OUT", "BEFORE", "AFTER"],
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_an_older_profile_reads_as_the_new_one(profiles, old_profiles, tmp_path, monkeypatch,
                                               reader):
    """GIVEN the same two profiles in the triscope/1 form (triples in the stacks) and as a
    run writes them now (triscope/2, a frame table), WHEN each tool reads them, THEN it says
    and writes the same, and a merge writes the frame table."""
    said = {}
    for form, paths in (("old", old_profiles), ("new", profiles)):
        monkeypatch.chdir(paths[0].parent)  # the same names in what the tools say
        out = tmp_path / f"{form}.out"
        names = {"BEFORE": paths[0].name, "AFTER": paths[1].name, "OUT": out}
        status, stdout, err = in_process(*[names.get(word, word) for word in READERS[reader]])
        assert status == 0, err
        said[form] = (stdout, out.read_bytes() if out.exists() else None)
    assert said["old"] == said["new"]
    assert said["new"][0] or said["new"][1]
    if reader == "merge":
        merged = load_profile(tmp_path / "new.out", raw=True)
        assert merged["schema"] == "triscope/2" and merged["stack_frames"]
        assert len({tuple(frame) for frame in merged["stack_frames"]}) == \
            len(merged["stack_frames"])
        stacks = {}
        for path in profiles:
            for stack in load_profile(path)["stacks"]:
                key = tuple(map(tuple, stack["frames"]))
                stacks[key] = stacks.get(key, 0) + stack["samples"]
        assert {tuple(map(tuple, stack["frames"])): stack["samples"]
                for stack in load_profile(tmp_path / "new.out")["stacks"]} == stacks


@pytest.mark.parametrize("form", sorted(FORMS))
def test_merge_of_one_form_with_the_other(profiles, tmp_path, form):
    """A merge of an older profile with a new one: either order, one frame table."""
    before, after = profiles
    other = tmp_path / "before.json"
    other.write_text(json.dumps(FORMS[form](load_profile(before))))
    status, _, err = in_process("merge", "-o", tmp_path / "m.json", other, after)
    assert status == 0, err
    merged = load_profile(tmp_path / "m.json", raw=True)
    assert merged["schema"] == "triscope/2"
    frames = {tuple(frame) for path in profiles for stack in load_profile(path)["stacks"]
              for frame in stack["frames"]}
    assert sorted(map(tuple, merged["stack_frames"])) == sorted(frames)


# ==== Bad input for every tool that reads a profile ====


def bad_files(directory, good):
    """name → path of a file no tool can use."""
    text = good.read_text()
    profile = json.loads(text)
    files = {
        "not_json": "this is not JSON\n",
        "binary": b"\x89PNG\r\n\x1a\n\x00\xff",
        "empty": "",
        "other_schema": json.dumps({"schema": "speedscope", "files": {}}),
        "a_list": "[1, 2, 3]",
        "truncated": text[: len(text) // 2],
        "infinity": text.replace('"thread_time_s":', '"thread_time_s":1e999,"x":', 1),
        "nan": text.replace('"thread_time_s":', '"thread_time_s":NaN,"x":', 1),
        "huge_float": text.replace('"thread_time_s":', '"thread_time_s":1e300,"x":', 1),
        "huge_int": text.replace('"samples":', '"samples":' + "9" * 400 + ',"x":', 1),
        "giant_int": text.replace('"samples":', '"samples":' + "9" * 5000 + ',"x":', 1),
        "deep": "[" * 100_000 + "]" * 100_000,
        "wrong_types": json.dumps(dict(profile, files=[1, 2], stacks={"a": 1})),
        "missing_fields": json.dumps({"schema": "triscope/1"}),
        "string_numbers": json.dumps(dict(profile, thread_time_s="1.0", stacks=[
            {"frames": [["a", "b", "c"]], "samples": "1", "seconds": "x"}])),
        "newer_schema": json.dumps(dict(profile, schema="triscope/3")),
        # The frame table (docs/PROFILE_FORMAT.md, "Versions"): an index past its end, one
        # that is no integer, triples where the table's indices belong, indices without it.
        "frame_past_the_table": json.dumps(_with_frame(profile, len(profile["stack_frames"]))),
        "frame_not_an_index": json.dumps(_with_frame(profile, "0")),
        "frame_a_triple_beside_the_table": json.dumps(_with_frame(profile, ["a", "b", 1])),
        "frame_indices_without_the_table": json.dumps(
            {key: value for key, value in profile.items() if key != "stack_frames"}),
    }
    paths = {}
    for name, content in files.items():
        path = directory / f"{name}.json"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        paths[name] = path
    paths["missing"] = directory / "no-such-file.json"
    paths["directory"] = directory
    return paths


def _with_frame(profile, frame):
    """`profile` (with its frame table) whose last stack's innermost frame is `frame`."""
    profile = json.loads(json.dumps(profile))
    profile["stacks"][-1]["frames"][-1] = frame
    return profile


# Damage in fields the view never reads (thread time, stacks).
NOT_READ_BY_VIEW = {"string_numbers"}

COMMANDS = {
    "view": lambda bad, good, out: ["view", bad, "--cli"],
    "view_html": lambda bad, good, out: ["view", bad, "-o", out / "v.html"],
    "diff_before": lambda bad, good, out: ["diff", bad, good],
    "diff_after": lambda bad, good, out: ["diff", good, bad, "--json"],
    # Beside a good profile a bad one is skipped (test_merge_skips_what_it_cannot_read_and_
    # says_so); alone it leaves nothing to merge.
    "merge": lambda bad, good, out: ["merge", "-o", out / "m.json", bad],
    "export_speedscope": lambda bad, good, out: ["export", "--format", "speedscope", bad],
    "export_collapsed": lambda bad, good, out: ["export", "--format", "collapsed", bad],
    "export_gecko": lambda bad, good, out: ["export", "--format", "gecko", bad],
    "export_pprof": lambda bad, good, out: ["export", "--format", "pprof", bad,
                                            "-o", out / "p.pb.gz"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_input_is_one_error_line(profiles, tmp_path, command):
    _, good = profiles
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    failures = []
    for name, bad in bad_files(inputs, good).items():
        status, stdout, err = in_process(*COMMANDS[command](bad, good, out))
        lines = err.splitlines()
        if command.startswith("view") and name in NOT_READ_BY_VIEW and status == 0:
            continue  # the report does not read those fields: rendering is fine too
        if (status != 2 or len(lines) != 1 or not lines[0].startswith("triscope: error: ")
                or "Traceback" in err):
            failures.append(f"{name}: status {status}, stderr {err[-300:]!r}")
    assert not failures, "\n".join(failures)
    assert not (out / "m.json").exists(), "merge wrote a profile from bad input"
    assert not (out / "p.pb.gz").exists(), "export wrote a pprof file from bad input"


def test_a_frame_past_the_table_is_said_in_one_line(profiles, tmp_path):
    """The error names the stack, the frame and the table's size, and nothing is drawn."""
    _, good = profiles
    profile = json.loads(good.read_text())
    bad = tmp_path / "bad.json"
    size = len(profile["stack_frames"])
    bad.write_text(json.dumps(_with_frame(profile, size + 7)))
    last, depth = len(profile["stacks"]) - 1, len(profile["stacks"][-1]["frames"]) - 1
    for argv in (["view", bad], ["view", "--html", "-o", tmp_path / "v.html", bad],
                 ["export", "--format", "collapsed", bad]):
        proc = run_triscope(argv, tmp_path)
        assert_one_error_line(proc.returncode, proc.stderr)
        assert proc.stderr == (
            f"triscope: error: {bad} is not a valid triscope/2 profile (docs/profile.schema.json): "
            f"at /stacks/{last}/frames/{depth}: frame index {size + 7} is not in stack_frames, "
            f"which has {size} frames\n"), proc.stderr
        assert proc.stdout == ""
    assert not (tmp_path / "v.html").exists()


def test_bad_input_through_the_command(profiles, tmp_path):
    _, good = profiles
    (tmp_path / "bad.json").write_text('{"schema": "triscope/1", "files": ')
    for argv in (["diff", "bad.json", good], ["export", "--format", "speedscope", "bad.json"],
                 ["view", "bad.json"], ["merge", "-o", "m.json", "bad.json"]):
        proc = run_triscope(argv, tmp_path)
        assert_one_error_line(proc.returncode, proc.stderr)
        assert "bad.json" in proc.stderr


def test_unwritable_output_is_one_error(profiles, tmp_path):
    before, after = profiles
    target = tmp_path / "no-such-dir" / "out.txt"
    for argv in (["diff", before, after, "-o", target],
                 ["export", "--format", "collapsed", after, "-o", target]):
        status, _, err = in_process(*argv)
        assert_one_error_line(status, err)


# ==== merge at scale ====

GENERATE_WORKERS = r'''
"""Writes N worker profiles into DIR: each 20 files of 200 lines, 100 stacks, one thread;
13 kinds of worker (their lines' times differ), each written as text once and copied with
its own pid, so that writing 2,000 of them takes seconds."""
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from test_text_report import make_file, make_line, make_profile
count, out = int(sys.argv[1]), Path(sys.argv[2])
kinds = []
for kind in range(13):
    files = {f"/job/task_{f}.py": make_file(
        [make_line(n, python=0.02 + 0.0001 * ((kind + n) % 13)) for n in range(1, 201)], [])
        for f in range(20)}
    profile = make_profile(files)
    profile.update(pid=999999999, elapsed_s=2.0 + kind / 10,
                   stacks=[{"frames": [["/job/task_0.py", "run", 1],
                                       [f"/job/task_{s % 20}.py", f"f{s}", 1 + s]],
                            "samples": 3, "seconds": 0.03} for s in range(100)])
    profile["threads"][0]["timeline"] = {
        "bucket_s": 0.02, "start_s": 0.0, **{k: [0.01] * 100 for k in
                                             ("python", "native", "system", "cpu_wait", "idle")}}
    kinds.append(json.dumps(profile))
for worker in range(count):
    text = kinds[worker % 13].replace("999999999", str(10000 + worker))
    (out / f"w{worker:04d}.json").write_text(text)
'''

MEASURE_MERGE = r'''
import resource, subprocess, sys, time
started = time.perf_counter()
status = subprocess.call(sys.argv[1:])
print(status, time.perf_counter() - started,
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
'''


def merge_workers(tmp_path, count):
    """`triscope merge` of `count` generated worker profiles: (status, seconds, peak MB of
    the merge process alone), measured by a small parent whose only child it is."""
    workers = tmp_path / "workers"
    workers.mkdir()
    subprocess.run([sys.executable, "-c", GENERATE_WORKERS, str(count), str(workers),
                    os.path.dirname(__file__)], check=True)
    inputs = sorted(str(path) for path in workers.iterdir())
    proc = subprocess.run([sys.executable, "-c", MEASURE_MERGE, sys.executable, "-m", "triscope",
                           "merge", "-o", str(tmp_path / "job.json"), *inputs],
                          capture_output=True, text=True, timeout=900, env=_child_env(None))
    status, seconds, peak_mb = proc.stdout.split()
    return int(status), float(seconds), float(peak_mb), proc.stderr


# 200 worker profiles in `make test` (about 30 s), the 2,000 under `make stress`
# (TRISCOPE_STRESS=10, about 5 minutes) and in bench/costs.py, which times it.
MANY_WORKERS = int(200 * float(os.environ.get("TRISCOPE_STRESS", "1")))


def test_merging_many_workers_holds_one_at_a_time(tmp_path):
    """Worker profiles of 20 files × 200 lines and 100 stacks each (1.5 MB of JSON, 3.8 MB
    once parsed: 200 of them held together would take 760 MB) merge in under 200 MB: the
    inputs are folded in one at a time. The time is only bounded loosely."""
    status, seconds, peak_mb, stderr = merge_workers(tmp_path, MANY_WORKERS)
    assert status == 0, stderr
    assert peak_mb < 200, f"the merge's peak memory: {peak_mb:.0f} MB"
    assert seconds < 600
    merged = load_profile(tmp_path / "job.json")
    assert len(merged["processes"]) == MANY_WORKERS and len(merged["stacks"]) == 100
    line = next(iter(merged["files"].values()))["lines"][0]
    assert len(line["by_process"]["top"]) == 5 and line["by_process"]["rest_s"] > 0


def test_merge_gives_each_lines_time_by_process(tmp_path):
    """Two workers, line 3: 1.5 s in the first, 0.5 s in the second; line 4 only in the
    second. The merged JSON names both by their index in `processes`."""
    paths = []
    for index, (pct, other) in enumerate(((60.0, 0.0), (20.0, 8.0))):
        lines = [make_line(3, python=pct)] + ([make_line(4, native=other)] if other else [])
        profile = make_profile({"/app/main.py": make_file(lines, [])})
        profile["pid"] = 500 + index
        paths.append(tmp_path / f"w{index}.json")
        paths[-1].write_text(json.dumps(profile))
    proc = run_triscope(["merge", "-o", tmp_path / "m.json", *paths], tmp_path)
    assert proc.returncode == 0, describe(proc)
    merged = load_profile(tmp_path / "m.json")
    assert [p["pid"] for p in merged["processes"]] == [500, 501]
    line3, line4 = merged["files"]["/app/main.py"]["lines"]
    assert line3["by_process"]["top"] == [[0, pytest.approx(1.5)], [1, pytest.approx(0.5)]]
    assert line3["by_process"]["rest_s"] == 0
    assert line4["by_process"]["top"] == [[1, pytest.approx(0.2)]]
    # A merge of merged profiles moves their breakdowns to where their processes now stand.
    proc = run_triscope(["merge", "-o", tmp_path / "mm.json", paths[0], tmp_path / "m.json"],
                        tmp_path)
    assert proc.returncode == 0, describe(proc)
    line3 = load_profile(tmp_path / "mm.json")["files"]["/app/main.py"]["lines"][0]
    assert line3["by_process"]["top"] == [[0, pytest.approx(1.5)], [1, pytest.approx(1.5)],
                                          [2, pytest.approx(0.5)]]


def test_merge_sums_the_pytorch_allocator_where_processes_had_it(tmp_path):
    """Two workers used PyTorch's CUDA (docs/PROFILE_FORMAT.md, GPU), a third did not: the
    line's allocator figure is the sum of the two that had one, as its NVML figure is."""
    paths = []
    for index, allocated in enumerate((1024.0, 512.0, None)):
        line = make_line(3, python=20.0, gpu_mem_mb=2048.0)
        if allocated is not None:
            line["gpu_allocated_mb"] = allocated
        profile = make_profile({"/app/train.py": make_file([line], [])}, gpu=True)
        profile["pid"] = 600 + index
        paths.append(tmp_path / f"w{index}.json")
        paths[-1].write_text(json.dumps(profile))
    proc = run_triscope(["merge", "-o", tmp_path / "m.json", *paths], tmp_path)
    assert proc.returncode == 0, describe(proc)
    line = load_profile(tmp_path / "m.json")["files"]["/app/train.py"]["lines"][0]
    assert line["gpu_allocated_mb"] == pytest.approx(1536.0), line
    assert line["gpu_mem_mb"] == pytest.approx(3 * 2048.0), line


def test_merge_skips_what_it_cannot_read_and_says_so(tmp_path):
    """One line per reason, with the count and the first paths; the merged profile records
    them. Nothing readable at all: one error line, exit status 2."""
    good = tmp_path / "good.json"
    good.write_text(json.dumps(make_profile()))
    truncated = []
    for index in range(4):
        truncated.append(tmp_path / f"cut{index}.json")
        truncated[-1].write_text(json.dumps(make_profile())[:100 + index])
    other = tmp_path / "other.json"
    other.write_text(json.dumps(dict(make_profile(), schema="triscope/3")))
    missing = tmp_path / "missing.json"
    proc = run_triscope(["merge", "-o", tmp_path / "m.json", good, *truncated, other, missing],
                        tmp_path)
    assert proc.returncode == 0, describe(proc)
    lines = proc.stderr.splitlines()
    assert lines == [
        f"triscope: 4 inputs skipped, not a JSON profile: {truncated[0]}, {truncated[1]}, "
        f"{truncated[2]} and 1 more",
        "triscope: 1 input skipped, a triscope/3 profile (a newer triscope's; this one reads "
        f"triscope/1 and triscope/2): {other}",
        f"triscope: 1 input skipped, cannot be read: No such file or directory: {missing}",
        f"triscope: 1 profiles merged into {tmp_path / 'm.json'}"], proc.stderr
    skipped = load_profile(tmp_path / "m.json")["skipped"]
    assert skipped["count"] == 6
    assert [(r["reason"], r["count"], len(r["examples"])) for r in skipped["reasons"]] == [
        ("not a JSON profile", 4, 3),
        ("a triscope/3 profile (a newer triscope's; this one reads triscope/1 and triscope/2)",
         1, 1),
        ("cannot be read: No such file or directory", 1, 1)]
    proc = run_triscope(["merge", "-o", tmp_path / "n.json", *truncated, missing], tmp_path)
    assert_one_error_line(proc.returncode, proc.stderr)
    assert "nothing could be merged" in proc.stderr and str(missing) in proc.stderr
    assert not (tmp_path / "n.json").exists()


@pytest.mark.parametrize("mode", [["--cpu"], []], ids=["cpu", "full"])
def test_a_profile_says_what_memory_triscope_added(tmp_path, mode):
    """`overhead.rss_mb`: the resident memory triscope had added as profiling began (its
    modules and tables), more than nothing and less than the 64 MB a regression to eagerly
    touched tables or imports would approach; `triscope merge` sums the processes'."""
    (tmp_path / "tiny.py").write_text("x = 1\n")
    proc = run_triscope([*mode, "--cli", "-o", tmp_path / "p.json", "tiny.py"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    own = load_profile(tmp_path / "p.json")["overhead"]["rss_mb"]
    assert 0 < own < 64, own
    proc = run_triscope(["merge", "-o", tmp_path / "m.json", tmp_path / "p.json",
                         tmp_path / "p.json"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert load_profile(tmp_path / "m.json")["overhead"]["rss_mb"] == pytest.approx(2 * own)
