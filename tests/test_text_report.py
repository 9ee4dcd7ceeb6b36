"""Unit tests for the text report and the profile schema, on synthetic profiles."""

import json
import pathlib
import re

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triscope.reports import text

SCHEMA = json.loads(
    (pathlib.Path(__file__).parent.parent / "docs" / "profile.schema.json").read_text()
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def make_line(lineno, python=0.0, native=0.0, system=0.0, source=None, **metrics):
    line = {
        "lineno": lineno,
        "source": f"statement_{lineno}()" if source is None else source,
        "cpu_python_pct": python,
        "cpu_native_pct": native,
        "cpu_system_pct": system,
        "cpu_samples": int((python + native + system) * 10),
        "gpu_pct": 0.0,
        "gpu_mem_mb": 0.0,
        "alloc_mb": 0.0,
        "python_fraction": 0.0,
        "peak_mb": 0.0,
        "live_mb": 0.0,
        "mem_pct": 0.0,
        "alloc_samples": 0,
        "timeline": [],
        "copy_mb": 0.0,
        "copy_mb_s": 0.0,
        "leak_likelihood": 0.0,
        "leak_mb_s": 0.0,
    }
    line.update(metrics)
    return line


def make_function(name, lines):
    """A function entry whose metrics are the sums of `lines`."""
    function = make_line(lines[0]["lineno"])
    del function["source"]
    function["name"] = name
    for key in ("cpu_python_pct", "cpu_native_pct", "cpu_system_pct"):
        function[key] = sum(line[key] for line in lines)
    return function


def make_file(lines, functions=None):
    return {
        "cpu_pct": sum(text._total(line) for line in lines),
        "cpu_python_pct": sum(line["cpu_python_pct"] for line in lines),
        "cpu_native_pct": sum(line["cpu_native_pct"] for line in lines),
        "cpu_system_pct": sum(line["cpu_system_pct"] for line in lines),
        "lines": lines,
        "functions": functions or [],
    }


def make_profile(files=None, memory=False, gpu=False, samples=1000):
    """A valid triscope/1 profile (an earlier triscope's: no frame table, docs/PROFILE_FORMAT.md,
    "Versions"); by default one file with a hot, a warm and a cold line."""
    if files is None:
        lines = [
            make_line(3, python=40.0, native=5.0, system=5.0, source="for i in range(n):"),
            make_line(4, python=3.0, native=1.0, source="    total += i"),
            make_line(9, python=0.5, source="print(total)"),
        ]
        files = {"/home/u/app/main.py": make_file(lines, [make_function("main", lines)])}
    return {
        "schema": "triscope/1",
        "version": "0.1.0",
        "program": "main.py",
        "args": ["main.py"],
        "python": "3.11.7",
        "pid": 4242,
        "elapsed_s": 2.5,
        "cpu_sampling_interval_s": 0.01,
        "samples": samples,
        "thread_time_s": 2.5,
        "unattributed_pct": 45.5,
        "totals": {"cpu_python_pct": 60.0, "cpu_native_pct": 20.0, "cpu_system_pct": 20.0},
        "options": {
            "cpu": True,
            "memory": memory,
            "gpu": gpu,
            "virtual_time": False,
            "stacks": False,
            "reduced_profile": False,
            "profile_all": False,
            "profile_only": [],
            "profile_exclude": [],
            "cpu_percent_threshold": 1.0,
            "malloc_threshold": 100,
        },
        "threads": [{"tid": 101, "name": "MainThread", "cpu_s": 2.0, "wait_s": 0.5}],
        "memory": {"enabled": memory, "max_footprint_mb": 12.5 if memory else 0.0,
                   "timeline": [[0.0, 1.0], [1.0, 12.5]] if memory else []},
        "gpu": {"enabled": gpu, "device": "NVIDIA H100" if gpu else None},
        "files": files,
        "leaks": [],
        "stacks": [],
    }


def rows_with(report, fragment):
    return [row for row in report.splitlines() if fragment in row]


# ==== Schema ====


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("memory,gpu", [(False, False), (True, True)])
def test_synthetic_profile_validates(memory, gpu):
    profile = make_profile(memory=memory, gpu=gpu)
    profile["leaks"] = [{"file": "/a.py", "lineno": 3, "likelihood": 0.9, "mb_s": 1.5}]
    profile["stacks"] = [{"frames": [["/a.py", "main", 3]], "samples": 4, "seconds": 0.04}]
    jsonschema.Draft202012Validator(SCHEMA).validate(profile)


def _broken(change):
    profile = make_profile()
    change(profile)
    return profile


@pytest.mark.parametrize(
    "profile",
    [
        _broken(lambda p: p.pop("files")),
        _broken(lambda p: p["files"]["/home/u/app/main.py"]["lines"][0].update(lineno="3")),
        _broken(lambda p: p["files"]["/home/u/app/main.py"]["lines"][0].pop("mem_pct")),
        _broken(lambda p: p["files"]["/home/u/app/main.py"]["functions"][0].pop("name")),
        _broken(lambda p: p.update(schema="triscope/3")),
        _broken(lambda p: p.update(samples=1.5)),
        _broken(lambda p: p["gpu"].update(device=3)),
        _broken(lambda p: p["memory"].update(timeline=[[0.0, 1.0, 2.0]])),
        _broken(lambda p: p.update(leaks=[dict(file="/a", lineno=1, likelihood=1.5, mb_s=0.0)])),
        _broken(lambda p: p["totals"].update(cpu_native_pct=-1.0)),
    ],
    ids=["no files", "string lineno", "no mem_pct", "function without name", "wrong schema",
         "float samples", "numeric device", "timeline triple", "likelihood over 1",
         "negative pct"],
)
def test_invalid_profiles_are_rejected(profile):
    assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(profile)


STACK = [["/a.py", "<module>", 1], ["/a.py", "main", 3]]


@pytest.mark.parametrize("schema,table,frames", [
    ("triscope/1", None, STACK),
    ("triscope/2", STACK, [0, 1]),
    ("triscope/2", [], []),
    # A profile read with its frames expanded, written back by a test or a tool.
    ("triscope/2", None, STACK),
], ids=["triples", "indices", "empty table", "triples without a table"])
def test_both_forms_of_the_stacks_validate(schema, table, frames):
    profile = dict(make_profile(), schema=schema,
                   stacks=[{"frames": frames, "samples": 1, "seconds": 0.01}])
    if table is not None:
        profile["stack_frames"] = table
    jsonschema.Draft202012Validator(SCHEMA).validate(profile)


@pytest.mark.parametrize("table,frames", [
    (STACK, STACK),            # triples beside a table
    (None, [0, 1]),            # indices without one
    (STACK, [0, -1]),          # a negative index
    (STACK, [0, 1.0]),         # not an integer
    (STACK, [0, "1"]),
    ([["/a.py", "main"]], [0]),  # a table entry that is no triple
    ({"0": STACK[0]}, [0]),
], ids=["triples beside a table", "indices without a table", "negative index",
        "float index", "string index", "pair in the table", "table not a list"])
def test_frames_that_break_the_form_are_rejected(table, frames):
    """By the schema, and by the readers' own check of it (which, stricter than JSON Schema,
    takes 1.0 for no integer: triscope/reports/validate.py)."""
    from triscope.reports import validate
    profile = dict(make_profile(), schema="triscope/2",
                   stacks=[{"frames": frames, "samples": 1, "seconds": 0.01}])
    if table is not None:
        profile["stack_frames"] = table
    if not any(isinstance(frame, float) for frame in frames):
        assert not jsonschema.Draft202012Validator(SCHEMA).is_valid(profile)
    with pytest.raises(validate.Invalid):
        validate.check(profile)


def test_an_index_past_the_table_is_rejected_by_the_readers():
    """Beyond a schema: each index must name an entry of the table."""
    from triscope.reports import validate
    profile = dict(make_profile(), schema="triscope/2", stack_frames=STACK,
                   stacks=[{"frames": [0, 1], "samples": 1, "seconds": 0.01},
                           {"frames": [1, 0, 2], "samples": 1, "seconds": 0.01}])
    with pytest.raises(validate.Invalid) as error:
        validate.check(profile)
    assert str(error.value) == "at /stacks/1/frames/2: frame index 2 is not in stack_frames, " \
                               "which has 2 frames"
    profile["stacks"][1]["frames"][2] = 1
    validate.check(profile)


def test_extra_fields_on_lines_are_allowed():
    profile = make_profile()
    profile["files"]["/home/u/app/main.py"]["lines"][0]["future_field"] = 1
    jsonschema.Draft202012Validator(SCHEMA).validate(profile)


# ==== What is shown ====


def test_hot_line_is_marked_and_cold_line_hidden():
    report = text.render(make_profile())
    hot = rows_with(report, "for i in range(n):")
    assert len(hot) == 1 and hot[0].startswith("▶")
    assert not rows_with(report, "total += i")[0].startswith("▶")
    assert not rows_with(report, "print(total)")  # 0.5% < 1% threshold
    assert "40.0" in hot[0] and "5.0" in hot[0]


def test_gap_between_shown_lines_gets_an_ellipsis_row():
    lines = [make_line(3, python=20.0), make_line(4, python=20.0), make_line(10, python=20.0)]
    report = text.render(make_profile({"/a.py": make_file(lines)})).splitlines()
    first = next(i for i, row in enumerate(report) if "statement_3()" in row)
    assert "statement_4()" in report[first + 1]  # adjacent: no gap row
    assert report[first + 2].strip() == "…"
    assert "statement_10()" in report[first + 3]


def test_threshold_changes_what_is_shown():
    profile = make_profile()
    assert rows_with(text.render(profile, cpu_percent_threshold=0.1), "print(total)")
    high = text.render(profile, cpu_percent_threshold=20.0)
    assert rows_with(high, "for i in range(n):")
    assert not rows_with(high, "total += i")


def test_function_summary_respects_threshold():
    lines = [make_line(3, python=30.0), make_line(20, python=0.2)]
    functions = [make_function("busy", lines[:1]), make_function("idle", lines[1:])]
    report = text.render(make_profile({"/a.py": make_file(lines, functions)}))
    busy = rows_with(report, " busy")
    assert len(busy) == 1 and "30.0" in busy[0] and busy[0].split()[0] == "3"
    assert not rows_with(report, " idle")


def test_zero_values_are_blank():
    lines = [make_line(3, python=30.0)]
    row = rows_with(text.render(make_profile({"/a.py": make_file(lines)})), "statement_3()")[0]
    assert "30.0" in row and "0.0" not in row.replace("30.0", "")


def test_files_sorted_by_cpu_and_low_files_hidden():
    files = {
        "/small.py": make_file([make_line(1, python=5.0)]),
        "/big.py": make_file([make_line(1, python=50.0)]),
        "/tiny.py": make_file([make_line(1, python=0.2)]),
        "/tiny2.py": make_file([make_line(1, python=0.3)]),
    }
    report = text.render(make_profile(files))
    assert report.index("/big.py") < report.index("/small.py")
    assert "/tiny.py" not in report and "/tiny2.py" not in report
    assert "2 file(s) below 1% hidden." in report


def test_memory_heavy_line_is_shown_only_with_memory():
    heavy = make_line(7, python=0.1, mem_pct=80.0, alloc_mb=512.0, python_fraction=0.25,
                      peak_mb=256.0, timeline=[[0.0, 0.0], [1.0, 128.0], [2.0, 256.0]],
                      alloc_samples=2048)
    lines = [make_line(3, python=30.0), heavy]
    files = {"/a.py": make_file(lines)}
    assert not rows_with(text.render(make_profile(files)), "statement_7()")
    report = text.render(make_profile(files, memory=True))
    row = rows_with(report, "statement_7()")[0]
    assert "512.0" in row and "256.0" in row and " 25 " in row
    assert "█" in row  # the sparkline reaches its top


def test_malloc_threshold_hides_lines_with_few_samples():
    # 3 samples at the default 256 KiB interval; the default threshold (100 × 10 KiB ≈ 4
    # samples) hides it, a threshold of 50 (2 samples) shows it.
    sparse = make_line(9, python=0.1, mem_pct=30.0, alloc_mb=0.75, alloc_samples=3)
    files = {"/a.py": make_file([make_line(3, python=30.0), sparse])}
    profile = make_profile(files, memory=True)
    profile["memory"]["sampling_interval_bytes"] = 262144
    assert not rows_with(text.render(profile), "statement_9()")
    assert rows_with(text.render(profile, malloc_threshold=50), "statement_9()")


def test_memory_columns_only_when_memory_enabled():
    assert "alloc" not in text.render(make_profile())
    assert "peak" not in text.render(make_profile())
    report = text.render(make_profile(memory=True))
    assert all(label in report for label in ("alloc", "py%", "peak", "timeline", "copy"))


def test_gpu_column_only_when_gpu_enabled():
    assert "GPU%" not in text.render(make_profile())
    lines = [make_line(3, python=30.0, gpu_pct=77.0)]
    report = text.render(make_profile({"/a.py": make_file(lines)}, gpu=True))
    assert "GPU%" in report and "77.0" in rows_with(report, "statement_3()")[0]


def test_virtual_time_says_system_time_was_not_measured():
    profile = make_profile()
    assert "not measured" not in text.render(profile)
    profile["options"]["virtual_time"] = True
    assert "system time was not measured" in text.render(profile)


def test_large_share_outside_the_files_points_to_profile_all():
    profile = make_profile()  # 45.5 % outside
    assert "(--profile-all shows every file)" in rows_with(text.render(profile), "outside")[0]
    profile["unattributed_pct"] = 2.0
    assert rows_with(text.render(profile), "outside") == [
        "2.0% of the time was outside the files below."]
    profile["unattributed_pct"] = 45.5
    profile["options"]["profile_all"] = True
    assert "--profile-all" not in text.render(profile)


def test_leaks_are_listed():
    profile = make_profile()
    assert "leak" not in text.render(profile)
    leak = {"file": "/home/u/app/main.py", "lineno": 12, "likelihood": 0.95, "mb_s": 3.25}
    profile["leaks"] = [leak]
    row = rows_with(text.render(profile), "/home/u/app/main.py:12")[0]
    assert "95%" in row and "3.25" in row


def test_bar_is_proportional_and_split():
    assert text._bar(make_line(1, python=100.0)) == "█" * 10
    assert text._bar(make_line(1, python=20.0, native=20.0, system=10.0)) == "██▓▓░     "
    assert text._bar(make_line(1, system=2.0)) == "░" + " " * 9
    assert text._bar(make_line(1)) == " " * 10


def test_sparkline_follows_the_timeline():
    assert text._sparkline([[0.0, 1.0], [7.0, 8.0]], 8) == "▁▁▁▁▁▁▁█"
    assert text._sparkline([], 8) == " " * 8
    assert len(text._sparkline([[0.0, 1.0], [0.0, 2.0]], 8)) == 8


# ==== Fitting the terminal ====


def long_profile(memory, gpu):
    path = "/very/long/directory" * 10  # 200 characters
    assert len(path) == 200
    lines = [
        make_line(12345, python=60.0, native=10.0, source="x = (" + "a, " * 98 + ")"),
        make_line(12346, python=20.0, source="\tif 名前 == 'ünï':\x1b[31m  # 日本語" * 10),
        make_line(12347, python=10.0, source=""),
    ]
    functions = [make_function("a_function_with_a_name_" * 10, lines)]
    profile = make_profile({path: make_file(lines, functions)}, memory=memory, gpu=gpu)
    profile["program"] = path + "/main.py"
    profile["leaks"] = [{"file": path, "lineno": 12345, "likelihood": 0.5, "mb_s": 1.0}]
    return profile


@pytest.mark.parametrize("width", [80, 100])
@pytest.mark.parametrize("memory,gpu", [(False, False), (True, True)])
@pytest.mark.parametrize("color", [False, True])
def test_every_line_fits_the_width(width, memory, gpu, color):
    profile = long_profile(memory, gpu)
    assert len(profile["files"][next(iter(profile["files"]))]["lines"][0]["source"]) == 300
    report = text.render(profile, width=width, color=color)
    for row in ANSI.sub("", report).splitlines():
        columns = sum(2 if ch in "名前日本語" else 1 for ch in row)
        assert columns <= width, row
    assert rows_with(report, "x = (a, a,")  # the long line is cut, not dropped
    assert rows_with(report, "main.py")  # long paths keep their end


def test_no_escapes_without_color_and_some_with():
    plain = text.render(long_profile(True, True), color=False)
    assert "\x1b" not in plain
    # A raw control character in the profiled file itself must not reach the terminal.
    lines = [make_line(3, python=30.0, source="print('\x1b[31mred\x0c')")]
    row = rows_with(text.render(make_profile({"/a.py": make_file(lines)})), "print(")[0]
    assert "\x1b" not in row and "\x0c" not in row and "[31mred" in row
    coloured = text.render(make_profile(), color=True)
    assert ANSI.search(coloured)
    assert any(text.HOT in row for row in rows_with(coloured, "for i in range(n):"))


def test_narrow_terminal_drops_the_bar_before_the_source():
    wide = rows_with(text.render(make_profile(), width=120), "for i in range(n):")[0]
    narrow = rows_with(text.render(make_profile(memory=True), width=80), "for i in range(n):")[0]
    assert "█" in wide
    assert "for i in range(n):" in narrow and "▓" not in narrow


# ==== Odd profiles ====


def test_zero_sample_profile_renders():
    profile = make_profile(files={}, samples=0)
    profile["totals"] = {"cpu_python_pct": 0.0, "cpu_native_pct": 0.0, "cpu_system_pct": 0.0}
    profile["unattributed_pct"] = 0.0
    jsonschema.Draft202012Validator(SCHEMA).validate(profile)
    report = text.render(profile)
    assert "No samples were taken" in report
    assert "hidden" not in report


def test_missing_source_and_all_zero_lines_render():
    profile = make_profile()
    lines = profile["files"]["/home/u/app/main.py"]["lines"]
    del lines[0]["source"]
    lines.append(make_line(50))
    report = text.render(profile, cpu_percent_threshold=0.0)
    assert [row for row in report.splitlines() if row.startswith("▶    3")]
    assert [row for row in report.splitlines() if row.startswith("    50")]


def test_in_process_memory_is_marked_python_only():
    profile = make_profile(memory=True)
    profile["memory"]["native"] = False
    assert "Python's allocator only" in text.render(profile, width=200)
    profile["memory"]["native"] = True
    assert "Python's allocator only" not in text.render(profile, width=200)


# ==== What the percentages count: idle threads, waiting for a CPU ====

CPU_WAIT_SENTENCE = ("of the time the program's threads were ready to run but waited for a "
                     "CPU (a busy machine or a CPU quota)")


def test_cpu_wait_sentence_when_it_matters():
    """From 5 % on the header says how much of the time the threads waited for a CPU."""
    profile = make_profile()
    profile["cpu_wait_pct"] = 37.4
    lines = text.render(profile, width=200).splitlines()
    assert f"37% {CPU_WAIT_SENTENCE}" in lines
    profile["cpu_wait_pct"] = 4.9
    assert CPU_WAIT_SENTENCE not in text.render(profile, width=200)


def test_cpu_wait_not_measured_is_one_line():
    profile = make_profile()
    profile["cpu_wait_pct"] = None
    report = text.render(profile, width=200)
    assert report.count("waiting for a CPU was not measured") == 1
    profile["options"]["virtual_time"] = True  # CPU time only: nothing to say
    assert "waiting for a CPU" not in text.render(profile, width=200)


def test_idle_threads_total_line():
    profile = make_profile()
    profile["idle"] = {"measured": True, "threads": 20, "seconds": 38.12}
    rows = [r for r in text.render(profile, width=200).splitlines() if r.startswith("idle")]
    assert rows == ["idle threads: 20, 38.1 s waiting for work (not in the percentages; "
                    "--idle counts it)"]
    profile["options"]["idle"] = True
    assert "idle threads: 20, 38.1 s waiting for work (counted as system time (--idle))" in (
        text.render(profile, width=200))
    profile["idle"]["threads"] = 0
    assert "idle threads" not in text.render(profile, width=200)


def test_older_profile_says_nothing_of_idle_or_cpu_wait():
    report = text.render(make_profile(), width=200)
    assert "idle" not in report and "waited for a CPU" not in report


# ==== Width ====


@pytest.mark.parametrize("width", [80, 100, 120, 200])
def test_prose_is_wrapped_at_spaces_never_cut(width):
    """The run's notes are sentences: at any width they wrap between words, and the words
    joined back give each sentence whole (no '…' in them)."""
    profile = long_profile(True, False)
    profile["cpu_wait_pct"] = 37.4
    profile["idle"] = {"threads": 20, "seconds": 38.1, "measured": True}
    profile["unprofiled_children"] = {"count": 2, "reasons": {
        "a Python started with -E ignores triscope's hook": 1,
        "a statically linked interpreter the allocator library cannot enter": 1}}
    report = text.render(profile, width=width)
    header = report.split("\n\n")[0].splitlines()[1:]  # after the title, before the files
    assert all(len(row) <= width for row in header), header
    assert not any(row.endswith("…") for row in header), header
    joined = " ".join(row.strip() for row in header)
    assert f"37% {CPU_WAIT_SENTENCE}" in joined
    assert "idle threads: 20, 38.1 s waiting for work (not in the percentages; --idle " \
           "counts it)" in joined
    assert "a statically linked interpreter the allocator library cannot enter" in joined


def test_a_long_file_heading_puts_the_split_on_its_own_line():
    """A path too long for one line with its split: the path keeps its end on a line of its
    own and the split follows, whole; a short path keeps both on one line."""
    profile = long_profile(False, False)
    entry = next(iter(profile["files"].values()))
    rows = text.render(profile, width=80).splitlines()
    at = next(i for i, row in enumerate(rows) if row.startswith("…") and "directory" in row)
    # Whole directories give way, never part of a name.
    assert rows[at].startswith(("…/very/", "…/long/", "…/directory/"))
    assert rows[at].endswith("/very/long/directory")
    assert rows[at + 1].strip() == (
        f"{entry['cpu_pct']:.1f}% (Python {entry['cpu_python_pct']:.1f}, "
        f"native {entry['cpu_native_pct']:.1f}, system {entry['cpu_system_pct']:.1f})")
    heading = rows_with(text.render(make_profile(), width=80), "/home/u/app/main.py")[0]
    assert heading.startswith("/home/u/app/main.py ") and "(Python" in heading


def test_narrow_report_with_memory_gives_the_source_a_row_of_its_own():
    """At 80 columns the memory columns leave the source about 12 characters beside them:
    it goes on the next row instead, whole when it fits the terminal; at 200 it stays beside
    the numbers."""
    source = "    total += compute_the_next_value(i, previous, weights)  # the hot one"
    lines = [make_line(3, python=60.0, source=source, alloc_mb=12.0, alloc_samples=500)]
    profile = make_profile({"/p/hot.py": make_file(lines)}, memory=True)
    rows = text.render(profile, width=80).splitlines()
    at = next(i for i, row in enumerate(rows) if row.startswith("▶    3"))
    assert "total +=" not in rows[at]
    assert rows[at + 1] == text.SOURCE_ROW_INDENT + source.expandtabs().rstrip()
    assert all(len(row) <= 80 for row in rows)
    wide = rows_with(text.render(profile, width=200), "▶    3")[0]
    assert wide.endswith(source)


# ==== Issue 20: prose is wrapped without textwrap ====
# text._wrap_words promises textwrap.wrap's lines for the settings the report used with it:
# compared on prose of words, every kind of white space, characters beyond ASCII and Unicode
# spaces (which str.strip drops), at widths down to below the continuation indent.

PROSE = st.text(alphabet=st.sampled_from(list("ab-. \t\n\r\x0b\x0c\u00a0\u2003é漢")),
                max_size=80)


@settings(max_examples=600, deadline=None)
@given(PROSE, st.integers(min_value=1, max_value=40))
def test_prose_wraps_as_textwrap_wraps_it(prose, width):
    import textwrap
    expected = textwrap.wrap(prose, width, subsequent_indent="  ", break_long_words=False,
                             break_on_hyphens=False)
    assert text._wrap_words(prose, width, "  ") == expected


def test_columns_without_unicodedata_are_its_columns():
    # _char_columns answers Latin-1 and the report's own marks without importing
    # unicodedata: those answers must be the ones it would give.
    import unicodedata

    def truth(char):
        return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1

    own = {*text.BAR_CHARS, *text.SPARK_CHARS, text.HOT_MARK, text.CUT_MARK, "\ufffd"}
    known = [chr(code) for code in range(0x378)] + sorted(own)
    assert [text._char_columns(c) for c in known] == [truth(c) for c in known]
    assert text._char_columns("漢") == 2 and text._char_columns("ｆ") == 2


def test_sparkline_steps_round_up():
    # A cell's step is the level's share of the top, rounded up, at least the lowest mark.
    line = text._sparkline([[0.0, 1.0], [1.0, 3.0], [2.0, 4.0], [3.0, 8.0]], 4)
    assert line == "▁▃▄█"
    assert text._sparkline([[0.0, 0.001], [1.0, 8.0]], 2) == "▁█"
