"""`triscope diff before.json after.json`: what got faster or slower, per line and function.

The way to check that an optimisation worked. Each profile states its times as percentages of
its own thread time, so the two are compared in seconds (pct / 100 × thread_time_s), and in
megabytes allocated (alloc_mb). Lines are matched by (file, line number) and functions by
(file, qualified name), so a function keeps its identity when lines above it move; a file
that moved (another checkout, another tmp directory) is matched by its name when that is
unambiguous. Changes are ranked by size, biggest first.

A change smaller than about two sampling intervals is within sampling noise: the text report
leaves those out, the JSON keeps them (with `noise_s` to judge them by).

The JSON output (`--json`) is `{"schema": "triscope-diff/1", "before": {...}, "after": {...},
"lines": [...], "functions": [...]}`; see diff_entry() for an entry's fields.
"""

import json
import math
import os
import sys

from triscope.options import new_parser, UsageError, bounded
from triscope.reports import common, text as text_report

TIME_KEYS = ("cpu_python_pct", "cpu_native_pct", "cpu_system_pct")
SCHEMA = "triscope-diff/1"
NOISE_SAMPLES = 2  # changes under this many sampling intervals are hidden in the text report

FASTER = "\x1b[32m"
SLOWER = "\x1b[31m"


# What a profile may have measured, as the text names it: a diff compares a dimension only
# when both profiles measured it.
DIMENSIONS = {"cpu": "time", "memory": "memory", "gpu": "GPU"}


# ==== Reading a profile ====


def _measurements(profile: dict) -> dict:
    """What a diff needs from one profile, every number checked finite:
    {"summary": {...}, "lines": {(path, lineno): m}, "functions": {(path, name): m}}
    with m = {"seconds", "alloc_mb", "samples", "lineno", "source"/"name"}."""
    thread_time = common.number(profile["thread_time_s"])
    memory = profile["memory"]
    gpu = profile.get("gpu") or {}
    summary = {
        "cpu": bool(profile.get("options", {}).get("cpu", True)),
        "gpu": bool(gpu.get("enabled", False)),
        "gpu_busy_s": common.number(gpu.get("busy_s") or 0.0),
        "program": common.text(profile["program"]),
        "elapsed_s": common.number(profile["elapsed_s"]),
        "thread_time_s": thread_time,
        "samples": common.count(profile["samples"]),
        "cpu_sampling_interval_s": common.number(profile["cpu_sampling_interval_s"]),
        "memory": bool(memory["enabled"]),
        "alloc_mb": common.number(memory.get("alloc_mb", 0.0)),
        "max_footprint_mb": common.number(memory.get("max_footprint_mb", 0.0)),
    }
    lines, functions = {}, {}
    for path, entry in profile["files"].items():
        common.text(path)
        for line in entry["lines"]:
            lineno = common.count(line["lineno"])
            lines[(path, lineno)] = dict(_metrics(line, thread_time), lineno=lineno,
                                         source=common.text(line.get("source", "")))
        for function in entry["functions"]:
            name = common.text(function["name"])
            metrics = _metrics(function, thread_time)
            known = functions.get((path, name))
            if known is not None:  # two functions of one name in one file: add them up
                for key in ("seconds", "alloc_mb", "samples"):
                    metrics[key] += known[key]
            functions[(path, name)] = dict(metrics, name=name,
                                           lineno=common.count(function["lineno"]))
    summary["unattributed_s"] = common.number(profile["unattributed_pct"]) / 100 * thread_time
    return {"summary": summary, "lines": lines, "functions": functions}


def _metrics(entry: dict, thread_time: float) -> dict:
    pct = sum(common.number(entry[key]) for key in TIME_KEYS)
    return {"seconds": common.number(pct / 100.0 * thread_time),
            "alloc_mb": common.number(entry.get("alloc_mb", 0.0)),
            "samples": common.count(entry.get("cpu_samples", 0))}


def _pair_files(before_paths: set, after_paths: set) -> dict:
    """after path → before path: the same path, or for files that moved, the same name when
    only one unmatched file on each side has it."""
    pairs = {path: path for path in after_paths & before_paths}
    unmatched_before = {}
    for path in before_paths - after_paths:
        unmatched_before.setdefault(os.path.basename(path), []).append(path)
    unmatched_after = {}
    for path in after_paths - before_paths:
        unmatched_after.setdefault(os.path.basename(path), []).append(path)
    for name, paths in unmatched_after.items():
        if len(paths) == 1 and len(unmatched_before.get(name, ())) == 1:
            pairs[paths[0]] = unmatched_before[name][0]
    return pairs


# ==== Comparing ====


def compare(before: dict, after: dict) -> dict:
    """The diff of two profiles (dicts as read from JSON) as a triscope-diff/1 dict."""
    return compare_measurements(_measurements(before), _measurements(after))


def compare_measurements(old: dict, new: dict) -> dict:
    old_files = {path for path, _ in old["lines"]} | {path for path, _ in old["functions"]}
    new_files = {path for path, _ in new["lines"]} | {path for path, _ in new["functions"]}
    pairs = _pair_files(old_files, new_files)
    renamed = {before: after for after, before in pairs.items()}

    def rekeyed(table):  # before's keys in after's paths, so the two line up
        return {(renamed.get(path, path), key): value for (path, key), value in table.items()}

    noise = NOISE_SAMPLES * max(old["summary"]["cpu_sampling_interval_s"],
                                new["summary"]["cpu_sampling_interval_s"])
    compared = {dimension: old["summary"][dimension] and new["summary"][dimension]
                for dimension in DIMENSIONS}
    lines = _entries(rekeyed(old["lines"]), new["lines"], noise, compared)
    functions = _entries(rekeyed(old["functions"]), new["functions"], noise, compared)
    result = {
        "schema": SCHEMA,
        "before": old["summary"],
        "after": new["summary"],
        "compared": compared,
        "noise_s": noise,
        "lines": lines,
        "functions": functions,
    }
    _check_finite(result)
    return result


def _entries(old: dict, new: dict, noise: float, compared: dict) -> list:
    entries = []
    for key in old.keys() | new.keys():
        path, _ = key
        entries.append(diff_entry(path, old.get(key), new.get(key), noise, compared))
    entries.sort(key=lambda e: (-abs(e["delta_s"]), -abs(e["delta_alloc_mb"]), e["file"],
                                e.get("lineno", 0)))
    return entries


def diff_entry(path: str, old, new, noise: float, compared: dict = None) -> dict:
    """One line's or function's change: file, lineno, source (lines) or name (functions),
    before_s, after_s, delta_s, ratio (after/before, null when before is 0), status
    ("changed", "new": only in after, "gone": only in before), before_alloc_mb,
    after_alloc_mb, delta_alloc_mb, significant (|delta_s| above sampling noise).
    A dimension that `compared` says one of the profiles lacks counts 0 on both sides: an
    unprofiled dimension reads as zero, which is not a change."""
    compared = compared or {"cpu": True, "memory": True}
    either = new or old
    entry = {"file": path}
    if "name" in either:
        entry["name"] = either["name"]
    entry["lineno"] = either["lineno"]
    if "source" in either:
        entry["source"] = either["source"]
    before_s = old["seconds"] if old and compared["cpu"] else 0.0
    after_s = new["seconds"] if new and compared["cpu"] else 0.0
    before_mb = old["alloc_mb"] if old and compared["memory"] else 0.0
    after_mb = new["alloc_mb"] if new and compared["memory"] else 0.0
    entry.update({
        "status": "new" if old is None else "gone" if new is None else "changed",
        "before_s": before_s,
        "after_s": after_s,
        "delta_s": after_s - before_s,
        "ratio": after_s / before_s if before_s > 0 else None,
        "before_alloc_mb": before_mb,
        "after_alloc_mb": after_mb,
        "delta_alloc_mb": after_mb - before_mb,
        "significant": abs(after_s - before_s) >= noise,
    })
    return entry


def _check_finite(value) -> None:
    """Numbers near the float limits can still overflow in a difference or a ratio."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers out of range")
    elif isinstance(value, dict):
        for item in value.values():
            _check_finite(item)
    elif isinstance(value, list):
        for item in value:
            _check_finite(item)


# ==== The text report ====


def render(diff: dict, *, top: int = 15, color: bool = False, width: int = 100,
           before_name: str = "before", after_name: str = "after") -> str:
    """The diff as text, every line at most `width` columns, most changed first."""
    old, new = diff["before"], diff["after"]
    rows = [(f"triscope diff: {before_name} → {after_name}", text_report.BOLD)]
    if old["program"] != new["program"]:
        rows.append((f"program: {old['program']} → {new['program']}", ""))
    else:
        rows.append((f"program: {new['program']}", ""))
    compared = diff["compared"]
    if compared["cpu"]:
        rows.append(("time:    " + _change_summary(old["thread_time_s"], new["thread_time_s"],
                                                     "s", 3, ("slower", "faster"))
                     + "  (thread time)", ""))
    if compared["memory"]:
        rows.append(("memory:  " + _change_summary(old["alloc_mb"], new["alloc_mb"], "MB", 1,
                                                   ("more", "less"))
                     + f"  allocated; peak {old['max_footprint_mb']:.1f} → "
                       f"{new['max_footprint_mb']:.1f} MB", ""))
    if compared["gpu"]:
        rows.append(("GPU:     " + _change_summary(old["gpu_busy_s"], new["gpu_busy_s"], "s", 3,
                                                   ("more", "less")) + "  busy", ""))
    for dimension in DIMENSIONS:
        if not compared[dimension] and (old[dimension] or new[dimension]):
            only = before_name if old[dimension] else after_name
            rows.append((f"{DIMENSIONS[dimension]}: not compared, profiled only in {only}",
                         ""))
    rows.append((f"changes under {diff['noise_s'] * 1000:g} ms (two samples) are sampling noise"
                 " and not shown", ""))

    files = {e["file"] for e in diff["lines"]} | {e["file"] for e in diff["functions"]}
    shared = common.common_dir(files)
    if shared:
        rows.append((f"files under {shared}", ""))

    def where(entry):
        return f"{common.short_name(entry['file'], shared)}:{entry['lineno']}"

    if compared["cpu"]:
        rows += _time_table("lines, by change in time",
                            [e for e in diff["lines"] if e["significant"]],
                            top, width, lambda e: (where(e), _source(e)))
        rows += _time_table("functions, by change in time",
                            [e for e in diff["functions"] if e["significant"]], top, width,
                            lambda e: (where(e), e["name"]))
    if compared["memory"]:
        by_memory = sorted((e for e in diff["lines"] if abs(e["delta_alloc_mb"]) >= 0.05),
                           key=lambda e: -abs(e["delta_alloc_mb"]))
        rows += _memory_table(by_memory, top, width, lambda e: (where(e), _source(e)))

    out = []
    for line, style in rows:
        line = text_report._fit(line, width).rstrip()
        out.append(f"{style}{line}{text_report.RESET}" if color and style and line else line)
    return "\n".join(out) + "\n"


def _change_summary(before: float, after: float, unit: str, decimals: int, words) -> str:
    d = decimals
    change = f"{before:.{d}f} → {after:.{d}f} {unit} ({after - before:+.{d}f} {unit}"
    if before > 0 and after > 0:
        ratio = after / before
        if ratio >= 1.005:
            change += f", {ratio:.2f}× {words[0]}"
        elif ratio <= 0.995:
            change += f", {1 / ratio:.2f}× {words[1]}"
    return change + ")"


def _table(title, empty, header, entries, top, width, describe, numbers, delta):
    """Rows of one ranked table: `numbers(entry)` gives the figures before the place,
    `delta(entry)` the change whose sign colours the row."""
    rows = [("", ""), (title + ":", text_report.BOLD)]
    if not entries:
        return rows + [(f"  {empty}", "")]
    rows.append((header, ""))
    for entry in entries[:top]:
        place, label = describe(entry)
        figures = numbers(entry)
        rows.append((figures + _place_and_label(place, label, width - len(figures)),
                     SLOWER if delta(entry) > 0 else FASTER))
    if len(entries) > top:
        rows.append((f"  … {len(entries) - top} more (--top N shows more)", ""))
    return rows


def _time_table(title, entries, top, width, describe):
    return _table(
        title, "no change above sampling noise",
        f"{'before s':>9} {'after s':>9} {'change s':>9} {'ratio':>7}  where",
        entries, top, width, describe,
        lambda e: (f"{e['before_s']:9.3f} {e['after_s']:9.3f} "
                   f"{e['delta_s']:+9.3f} {_ratio(e):>7}  "),
        lambda e: e["delta_s"])


def _memory_table(entries, top, width, describe):
    return _table(
        "lines, by change in memory allocated", "no change of 0.05 MB or more",
        f"{'before MB':>9} {'after MB':>9} {'change':>9}  where",
        entries, top, width, describe,
        lambda e: (f"{e['before_alloc_mb']:9.1f} {e['after_alloc_mb']:9.1f} "
                   f"{e['delta_alloc_mb']:+9.1f}  "),
        lambda e: e["delta_alloc_mb"])


def _place_and_label(place: str, label: str, room: int) -> str:
    """`file:line  label` in `room` columns: the label gives way first, then the path's
    start (its end names the file)."""
    place = text_report._fit_left(place, max(12, min(len(place), room * 2 // 3)))
    return f"{place}  {label}"


def _ratio(entry: dict) -> str:
    if entry["status"] == "new":
        return "new"
    if entry["status"] == "gone" or entry["after_s"] == 0:
        return "gone"
    if entry["ratio"] is None:
        return "new"
    return f"{entry['ratio']:.2f}×" if entry["ratio"] < 100 else ">100×"


def _source(entry: dict) -> str:
    return " ".join(entry.get("source", "").split())


# ==== The command ====


def main(argv: list) -> int:
    """`triscope diff before.json after.json [--json] [-o FILE] [--top N]`."""
    parser = new_parser(prog="triscope diff",
                        description="What got faster or slower between two profiles of a program"
                                    ", per line and per function (times in seconds of thread "
                                    "time, memory in MB allocated), biggest change first.")
    parser.add_argument("before", help="the profile before the change")
    parser.add_argument("after", help="the profile after the change")
    parser.add_argument("--json", action="store_true",
                        help="the diff as JSON (triscope-diff/1) instead of text")
    parser.add_argument("-o", "--outfile",
                        help="write the diff here (JSON with --json or a .json name)")
    parser.add_argument("--top", type=bounded(int, 1, 100_000), default=15,
                        help="lines and functions shown per table in the text (default 15)")
    options = parser.parse_args(argv)
    measurements = []
    for path in (options.before, options.after):
        profile = common.load(path)
        with common.reading(path):
            measurements.append(_measurements(profile))
    try:
        diff = compare_measurements(*measurements)
    except common.MALFORMED as error:
        raise UsageError(f"cannot compare these profiles: {error}") from None
    as_json = options.json or (options.outfile or "").endswith(".json")
    if as_json:
        content = json.dumps(diff, indent=1, allow_nan=False) + "\n"
    else:
        stream = sys.stdout
        color = options.outfile is None and stream.isatty() and "NO_COLOR" not in os.environ
        width = text_report.report_width(stream) if options.outfile is None else 100
        content = render(diff, top=options.top, color=color, width=width,
                         before_name=options.before, after_name=options.after)
    if options.outfile:
        common.write_output(content, options.outfile)
        print(f"triscope: diff written to {options.outfile}", file=sys.stderr)
    else:
        sys.stdout.write(content)
    return 0
