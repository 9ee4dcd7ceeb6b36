"""Combining profiles of several processes (docs/DEFINITIONS.md, Processes; `triscope merge`).

Each profile states its times as percentages of its own thread time, so merging turns them
back into seconds, adds them up per (file, line) and per (file, function), and states them
again as percentages of the combined thread time. Awaited time is seconds already: it adds
up as it is. Byte counts add up; a line's peak is the
sum of its peaks (an upper bound: the processes' peaks need not coincide), and so are its
average and growth, and a call stack's MB at the maximum footprint; its core utilization is
the mean of the processes', weighted by the line's time in each; leaks are kept per process.
The result keeps one entry per process in "processes", and every thread its process's pid;
where every profile has its wall-clock start (`started_at`), the threads' timelines are moved
onto one time axis, from the earliest start. One path that held
different code in different processes (the "<string>" of two `python -c` children, a file
edited between runs: their sha256 differ) stays two files: the later ones are named
"PATH (pid N)", so no line is summed with, or quoted from, another code's line.
"""

from triscope import __version__

TIME_KEYS = ("cpu_python_pct", "cpu_native_pct", "cpu_system_pct")
# A stack's memory (docs/PROFILE_FORMAT.md), where its profile measured it: summed, its
# peak as a line's is.
STACK_MEMORY_KEYS = ("alloc_mb", "peak_mb")
SUMMED_KEYS = ("cpu_samples", "alloc_mb", "peak_mb", "live_mb", "alloc_samples", "copy_mb",
               "copy_mb_s", "gpu_mem_mb")
# Written since the per-line Scalene fields (docs/DEFINITIONS.md); a merge keeps them only
# where every part had them.
NEWER_SUMMED_KEYS = ("avg_mb", "growth_mb")


class MergeError(ValueError):
    """The inputs are not triscope/1 profiles that can be combined."""


def _seconds(metrics: dict, thread_time: float) -> dict:
    return {key: metrics[key] / 100.0 * thread_time for key in TIME_KEYS}


def _add(target: dict, source: dict, thread_time: float) -> None:
    for key, seconds in _seconds(source, thread_time).items():
        target["_s_" + key] = target.get("_s_" + key, 0.0) + seconds
    python_bytes = source["alloc_mb"] * source["python_fraction"]
    target["_python_mb"] = target.get("_python_mb", 0.0) + python_bytes
    for key in SUMMED_KEYS:
        target[key] = target.get(key, 0) + source[key]
    target["leak_likelihood"] = max(target.get("leak_likelihood", 0.0), source["leak_likelihood"])
    target["leak_mb_s"] = target.get("leak_mb_s", 0.0) + source["leak_mb_s"]
    target["gpu_pct"] = max(target.get("gpu_pct", 0.0), source["gpu_pct"])
    target["async_await_s"] = target.get("async_await_s", 0.0) + source.get("async_await_s", 0.0)
    target.setdefault("timeline", source["timeline"])
    target["_parts"] = target.get("_parts", 0) + 1
    for key in NEWER_SUMMED_KEYS:
        if key in source:
            target["_n_" + key] = target.get("_n_" + key, 0) + 1
            target[key] = target.get(key, 0.0) + source[key]
    if "core_utilization" in source:
        line_s = sum(_seconds(source, thread_time).values())
        target["_n_core_utilization"] = target.get("_n_core_utilization", 0) + 1
        target["_computing_s"] = target.get("_computing_s", 0.0) + \
            source["core_utilization"] * line_s
        target["_line_s"] = target.get("_line_s", 0.0) + line_s


def _finish_metrics(entry: dict, total_s: float, total_alloc_mb: float) -> dict:
    for key in TIME_KEYS:
        entry[key] = 100.0 * entry.pop("_s_" + key) / total_s if total_s else 0.0
    python_mb = entry.pop("_python_mb")
    # A fraction of a sum of the parts it was made of: at most 1, but for float rounding.
    entry["python_fraction"] = min(1.0, python_mb / entry["alloc_mb"]) if entry["alloc_mb"] \
        else 0.0
    entry["mem_pct"] = 100.0 * entry["alloc_mb"] / total_alloc_mb if total_alloc_mb else 0.0
    parts = entry.pop("_parts")
    complete = {key: entry.pop("_n_" + key, 0) == parts
                for key in (*NEWER_SUMMED_KEYS, "core_utilization")}
    for key in NEWER_SUMMED_KEYS:
        if not complete[key]:
            entry.pop(key, None)
    computing_s, line_s = entry.pop("_computing_s", 0.0), entry.pop("_line_s", 0.0)
    if complete["core_utilization"]:
        # A share of a sum of the parts it was made of: at most 1, but for float rounding.
        entry["core_utilization"] = min(1.0, computing_s / line_s) if line_s else 0.0
    return entry


def merge(profiles: list) -> dict:
    """The combined profile of `profiles` (the first one's run facts lead)."""
    if not profiles:
        raise MergeError("no profiles to merge")
    for profile in profiles:
        if not isinstance(profile, dict) or profile.get("schema") != "triscope/1":
            raise MergeError("not a triscope/1 profile")
    first = profiles[0]
    total_s = sum(p["thread_time_s"] for p in profiles)
    total_alloc = sum(p["memory"].get("alloc_mb", 0.0) for p in profiles)
    lines, functions = {}, {}
    unattributed_s = 0.0
    totals = {key: 0.0 for key in TIME_KEYS}
    names, hashes = _distinct_names(profiles)
    for profile, name in zip(profiles, names):
        thread_time = profile["thread_time_s"]
        unattributed_s += profile["unattributed_pct"] / 100.0 * thread_time
        for key, seconds in _seconds(profile["totals"], thread_time).items():
            totals[key] += seconds
        for original, entry in profile["files"].items():
            path = name(original)
            for line in entry["lines"]:
                target = lines.setdefault((path, line["lineno"]),
                                          {"lineno": line["lineno"], "source": line["source"]})
                _add(target, line, thread_time)
            for function in entry["functions"]:
                key = (path, function["name"], function["lineno"])
                target = functions.setdefault(key, {"name": function["name"],
                                                    "lineno": function["lineno"]})
                _add(target, function, thread_time)

    files = {}
    for (path, _), line in sorted(lines.items()):
        entry = files.setdefault(path, {"lines": [], "functions": []})
        entry["lines"].append(_finish_metrics(line, total_s, total_alloc))
    for (path, _, _), function in functions.items():
        files.setdefault(path, {"lines": [], "functions": []})["functions"].append(
            _finish_metrics(function, total_s, total_alloc))
    for path, entry in files.items():
        if hashes.get(path):
            entry["sha256"] = hashes[path]
        for key in TIME_KEYS:
            entry[key] = sum(line[key] for line in entry["lines"])
        entry["cpu_pct"] = sum(entry[key] for key in TIME_KEYS)
        entry["functions"].sort(key=lambda f: -sum(f[k] for k in TIME_KEYS))

    stacks = {}
    for profile, name in zip(profiles, names):
        for stack in profile["stacks"]:
            frames = [[name(frame[0]), *frame[1:]] for frame in stack["frames"]]
            key = tuple(tuple(frame) for frame in frames)
            merged = stacks.setdefault(key, {"frames": frames, "samples": 0,
                                             "seconds": 0.0})
            merged["samples"] += stack["samples"]
            merged["seconds"] += stack["seconds"]
            for key in STACK_MEMORY_KEYS:
                if key in stack:
                    merged[key] = merged.get(key, 0.0) + stack[key]

    memory = dict(first["memory"])
    memory["enabled"] = any(p["memory"]["enabled"] for p in profiles)
    memory["max_footprint_mb"] = sum(p["memory"]["max_footprint_mb"] for p in profiles)
    memory["alloc_mb"] = total_alloc
    memory["copy_mb"] = sum(p["memory"].get("copy_mb", 0.0) for p in profiles)

    starts = [p.get("started_at") for p in profiles]
    starts = None if None in starts else starts
    merged = dict(first)
    merged.update({
        "version": __version__,
        "samples": sum(p["samples"] for p in profiles),
        "thread_time_s": total_s,
        "unattributed_pct": 100.0 * unattributed_s / total_s if total_s else 0.0,
        "totals": {key: 100.0 * s / total_s if total_s else 0.0 for key, s in totals.items()},
        "threads": _threads(profiles, starts),
        "memory": memory,
        "files": files,
        "leaks": [dict(leak, file=name(leak["file"]))
                  for p, name in zip(profiles, names) for leak in p["leaks"]],
        "stacks": list(stacks.values()),
        "processes": [process for p in profiles for process in _processes(p)],
    })
    if starts is None:
        merged.pop("started_at", None)
    else:
        merged["started_at"] = min(starts)
    _merge_max_footprint_line(merged, profiles, names)
    _merge_idle_and_cpu_wait(merged, profiles, total_s)
    _merge_awaited_time(merged, profiles)
    unprofiled = None
    for profile in profiles:
        if "unprofiled_children" in profile:
            unprofiled = add_unprofiled(unprofiled, profile["unprofiled_children"]["reasons"])
    if unprofiled is None:
        merged.pop("unprofiled_children", None)
    else:
        merged["unprofiled_children"] = unprofiled
    return merged


def _distinct_names(profiles: list) -> tuple:
    """(for each profile, a function from its file paths to their merged names; the sha256
    of each merged name, where known). A path whose sha256 differs from the one first seen
    under it is another file: it gets the name "PATH (pid N)"."""
    hashes, names, named = {}, [], {}
    for profile in profiles:
        renamed = {}
        for path, entry in profile["files"].items():
            digest = entry.get("sha256")
            first = hashes.setdefault(path, digest)
            if digest and first and digest != first:
                renamed[path] = named.setdefault((path, digest),
                                                 f"{path} (pid {profile['pid']})")
                hashes[renamed[path]] = digest
        names.append(lambda path, renamed=renamed: renamed.get(path, path))
    return names, hashes


def _threads(profiles: list, starts) -> list:
    """Every profile's threads, each with its process's pid; with the profiles' wall-clock
    starts (`starts`, or None when one lacks it), their timelines moved onto the axis of
    the earliest start, so that the processes' lanes line up."""
    threads = []
    for index, profile in enumerate(profiles):
        shift = starts[index] - min(starts) if starts else 0.0
        for thread in profile["threads"]:
            thread = dict(thread)
            thread.setdefault("pid", profile["pid"])
            if shift and "timeline" in thread:
                thread["timeline"] = dict(thread["timeline"],
                                          start_s=thread["timeline"]["start_s"] + shift)
            threads.append(thread)
    return threads


def _merge_max_footprint_line(merged: dict, profiles: list, names: list) -> None:
    """The line of the largest of the processes' maximum footprints (each process's own
    peak: their sum, the merged footprint, has no one line); absent when a profile lacks
    the field (written before it existed)."""
    if not all("max_footprint_line" in p for p in profiles):
        merged.pop("max_footprint_line", None)
        return
    best, best_mb = None, -1.0
    for profile, name in zip(profiles, names):
        line = profile["max_footprint_line"]
        if line is not None and profile["memory"]["max_footprint_mb"] > best_mb:
            best, best_mb = dict(line, file=name(line["file"])), \
                profile["memory"]["max_footprint_mb"]
    merged["max_footprint_line"] = best


def _merge_idle_and_cpu_wait(merged: dict, profiles: list, total_s: float) -> None:
    """The processes' CPU wait as a share of the combined thread time (null when one of them
    could not measure it), and their idle threads added up; absent when a profile lacks
    them (written before they existed)."""
    for key in ("cpu_wait_pct", "idle"):
        if not all(key in p for p in profiles):
            merged.pop(key, None)
    if "cpu_wait_pct" in merged:
        shares = [p["cpu_wait_pct"] for p in profiles]
        merged["cpu_wait_pct"] = None if None in shares or not total_s else sum(
            pct / 100.0 * p["thread_time_s"] for pct, p in zip(shares, profiles)) / total_s * 100
    if "idle" in merged:
        merged["idle"] = {
            "measured": all(p["idle"]["measured"] for p in profiles),
            "threads": sum(p["idle"]["threads"] for p in profiles),
            "seconds": sum(p["idle"]["seconds"] for p in profiles),
        }


def _merge_awaited_time(merged: dict, profiles: list) -> None:
    """The processes' awaited time added up; measured when it was in every one (else the
    first reason why not); absent when a profile lacks it (written before it existed)."""
    if not all("async" in p for p in profiles):
        merged.pop("async", None)
        return
    reasons = [p["async"]["reason"] for p in profiles if not p["async"]["measured"]]
    merged["async"] = {
        "measured": not reasons,
        "reason": reasons[0] if reasons else None,
        "seconds": sum(p["async"]["seconds"] for p in profiles),
        "dropped": sum(p["async"]["dropped"] for p in profiles),
    }


def add_unprofiled(unprofiled, reasons: dict) -> dict:
    """`unprofiled_children` (docs/PROFILE_FORMAT.md) with `reasons` ({reason: count}) added."""
    combined = dict(unprofiled["reasons"]) if unprofiled else {}
    for reason, count in reasons.items():
        combined[reason] = combined.get(reason, 0) + count
    return {"count": sum(combined.values()), "reasons": combined}


def _processes(profile: dict) -> list:
    """A profile's own process entries (a merged profile already lists several)."""
    if "processes" in profile:
        return profile["processes"]
    entry = {"pid": profile["pid"], "program": profile["program"], "args": profile["args"],
             "elapsed_s": profile["elapsed_s"], "thread_time_s": profile["thread_time_s"],
             "samples": profile["samples"]}
    if "started_at" in profile:
        entry["started_at"] = profile["started_at"]
    return [entry]


def mark_exec(profile: dict) -> dict:
    """`profile` as the profile of an image that replaced its process through exec: its
    entries in "processes" say so (`"via": "exec"`), and keep saying so once merged."""
    marked = dict(profile)
    marked["processes"] = [dict(entry, via="exec") for entry in _processes(profile)]
    return marked


def write(profile: dict, path: str) -> None:
    """Writes `profile` to `path` atomically (a reader never sees half a file). What it
    writes is first read back as every reader reads a profile (the schema, finite numbers in
    range): a profile the readers would reject is a MergeError, and nothing is written."""
    import json
    import os
    from triscope.options import UsageError
    from triscope.reports import common
    try:
        text = json.dumps(profile, separators=(",", ":"), allow_nan=False) + "\n"
        common.parse(text, "the merged profile")
    except (UsageError, ValueError, TypeError, RecursionError) as error:
        raise MergeError(str(error)) from None
    temporary = f"{path}.tmp.{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(temporary, path)


def main(argv: list) -> int:
    """`triscope merge -o out.json a.json b.json ...`: one profile of many processes."""
    import sys
    from triscope.options import Parser, UsageError
    from triscope.reports import common
    parser = Parser(prog="triscope merge",
                    description="Combine profiles (processes, hosts) into one.")
    parser.add_argument("-o", "--outfile", required=True, help="the combined profile")
    parser.add_argument("profiles", nargs="+")
    options = parser.parse_args(argv)
    profiles = [common.load(path) for path in options.profiles]
    try:
        combined = merge(profiles)
    except (MergeError, *common.MALFORMED) as error:
        raise UsageError(f"cannot merge these profiles: {error!r}") from None
    try:
        write(combined, options.outfile)
    except MergeError as error:
        raise UsageError(f"cannot merge these profiles: {error}") from None
    except OSError as error:
        raise UsageError(f"cannot write {options.outfile}: {error.strerror}") from None
    print(f"triscope: {len(profiles)} profiles merged into {options.outfile}", file=sys.stderr)
    return 0
