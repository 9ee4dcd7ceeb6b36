"""The profile tools (docs/DEFINITIONS.md): `triscope diff`, `triscope export`, and what all the tools
reading a saved profile (view, diff, merge, export) do with bad input.

GIVEN two runs of tests/workloads/diff_work.py, whose line @changed does N times the work
of the line @steady (N=1 before, N=4 after), WHEN they are diffed, THEN @changed ranks first.
The two profiles are made once per module (short runs, 2 ms sampling) and shared.
"""
import contextlib
import io
import json
import re

import pytest

from conftest import WORKLOADS, describe, load_profile, marker_lineno, run_triscope

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
    proc = run_triscope(["--cpu", "--json", "-o", "p.json", WORK, "1"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    proc = run_triscope(["export", "--format", "collapsed", "p.json"], tmp_path)
    assert_one_error_line(proc.returncode, proc.stderr)
    assert "--stacks" in proc.stderr and proc.stdout == ""


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


# Damage in fields the view never reads (thread time, stacks).
NOT_READ_BY_VIEW = {"string_numbers"}

COMMANDS = {
    "view": lambda bad, good, out: ["view", bad, "--cli"],
    "view_html": lambda bad, good, out: ["view", bad, "-o", out / "v.html"],
    "diff_before": lambda bad, good, out: ["diff", bad, good],
    "diff_after": lambda bad, good, out: ["diff", good, bad, "--json"],
    "merge": lambda bad, good, out: ["merge", "-o", out / "m.json", good, bad],
    "export_speedscope": lambda bad, good, out: ["export", "--format", "speedscope", bad],
    "export_collapsed": lambda bad, good, out: ["export", "--format", "collapsed", bad],
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


def test_bad_input_through_the_command(profiles, tmp_path):
    _, good = profiles
    (tmp_path / "bad.json").write_text('{"schema": "triscope/1", "files": ')
    for argv in (["diff", "bad.json", good], ["export", "--format", "speedscope", "bad.json"],
                 ["view", "bad.json"], ["merge", "-o", "m.json", "bad.json", good]):
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
