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
onto one time axis, from the earliest start. Each line also keeps its time by process,
sparse: the BY_PROCESS_TOP processes that spent the most time on it, and the rest as one sum
(docs/PROFILE_FORMAT.md, "Time by process"). Profiles are folded in one at a time
(Combination), so `triscope merge` holds one input at once however many it is given.
One path that held different code in different processes (the "<string>" of two `python -c`
children, a file edited between runs: their sha256 differ) stays two files: the later ones are named
"PATH (pid N)", so no line is summed with, or quoted from, another code's line.
Call stacks add up by their frames, read in either form a profile holds them in, and the
result names them by index into one table of distinct frames, as a run writes them
(docs/PROFILE_FORMAT.md, "Versions").
"""

from triscope import __version__
from triscope.reports import common

TIME_KEYS = ("cpu_python_pct", "cpu_native_pct", "cpu_system_pct")
# A stack's memory (docs/PROFILE_FORMAT.md), where its profile measured it: summed, its
# peak as a line's is.
STACK_MEMORY_KEYS = ("alloc_mb", "peak_mb")
SUMMED_KEYS = ("cpu_samples", "alloc_mb", "peak_mb", "live_mb", "alloc_samples", "copy_mb",
               "copy_mb_s", "gpu_mem_mb")
# Written since the per-line Scalene fields (docs/DEFINITIONS.md); a merge keeps them only
# where every part had them.
NEWER_SUMMED_KEYS = ("avg_mb", "growth_mb", "cpu_s")
# Written only by a process that used PyTorch's CUDA (docs/PROFILE_FORMAT.md, GPU): summed
# over the parts that have it, as gpu_mem_mb is.
PRESENT_SUMMED_KEYS = ("gpu_allocated_mb",)
# How many processes a line names in its time by process: enough to see the one or two
# workers a line's time piles on, and few enough that a line of a thousand workers' profile
# costs a handful of numbers, not a thousand.
BY_PROCESS_TOP = 5
# How many of the inputs skipped for one reason `triscope merge` names.
SKIPPED_EXAMPLES = 3


class MergeError(ValueError):
    """The inputs are not triscope profiles that can be combined."""


def _seconds(metrics: dict, thread_time: float) -> dict:
    return {key: metrics[key] / 100.0 * thread_time for key in TIME_KEYS}


# The running sums' own names: (the metric, its sum's key, its count's key).
_TIME_SUMS = tuple((key, "_s_" + key) for key in TIME_KEYS)
_NEWER_SUMS = tuple((key, "_n_" + key) for key in NEWER_SUMMED_KEYS)


def _add(target: dict, source: dict, thread_time: float) -> float:
    """Folds a line's or function's metrics into `target`'s running sums; returns its
    seconds. Called once per line of every profile merged: written for speed (a merge of
    a thousand workers' profiles spends most of its time here)."""
    get = target.get
    line_s = 0.0
    for key, sum_key in _TIME_SUMS:
        seconds = source[key] / 100.0 * thread_time  # as _seconds has it, to the last bit
        line_s += seconds
        target[sum_key] = get(sum_key, 0.0) + seconds
    target["_python_mb"] = get("_python_mb", 0.0) + source["alloc_mb"] * source["python_fraction"]
    for key in SUMMED_KEYS:
        target[key] = get(key, 0) + source[key]
    target["leak_likelihood"] = max(get("leak_likelihood", 0.0), source["leak_likelihood"])
    target["leak_mb_s"] = get("leak_mb_s", 0.0) + source["leak_mb_s"]
    target["gpu_pct"] = max(get("gpu_pct", 0.0), source["gpu_pct"])
    target["async_await_s"] = get("async_await_s", 0.0) + source.get("async_await_s", 0.0)
    if "timeline" not in target:
        target["timeline"] = source["timeline"]
    target["_parts"] = get("_parts", 0) + 1
    for key in PRESENT_SUMMED_KEYS:
        if key in source:
            target[key] = get(key, 0.0) + source[key]
    for key, count_key in _NEWER_SUMS:
        if key in source:
            target[count_key] = get(count_key, 0) + 1
            target[key] = get(key, 0.0) + source[key]
    if "core_utilization" in source:
        target["_n_core_utilization"] = get("_n_core_utilization", 0) + 1
        target["_computing_s"] = get("_computing_s", 0.0) + source["core_utilization"] * line_s
        target["_line_s"] = get("_line_s", 0.0) + line_s
    return line_s


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


def merge(profiles) -> dict:
    """The combined profile of `profiles` (the first one's run facts lead): a fold of them
    into one Combination, so an iterable that reads them one at a time holds one at once."""
    combination = Combination()
    for profile in profiles:
        combination.add(profile)
    return combination.result()


class Combination:
    """The running combination of the profiles added so far. It keeps sums, not profiles:
    what it holds grows with the distinct lines, functions and stacks, and with the
    processes' own entries (`processes`, `threads`, `leaks`), never with a profile's size
    times their number (docs/ARCHITECTURE.md, "Merging at scale")."""

    def __init__(self):
        self.count = 0
        self.first = None
        self.total_s = self.total_alloc = self.unattributed_s = 0.0
        self.totals = {key: 0.0 for key in TIME_KEYS}
        self.lines, self.functions, self.stacks = {}, {}, {}
        self.hashes, self.renamed = {}, {}
        self.samples = 0
        self.memory_enabled = False
        self.max_footprint_mb = self.copy_mb = 0.0
        self.threads, self.starts, self.leaks, self.processes = [], [], [], []
        # None once one profile lacked the field (written before it existed).
        self.footprint_line = {"line": None, "mb": -1.0}
        self.cpu_wait = {"seconds": 0.0, "measured": True}
        self.idle = {"measured": True, "threads": 0, "seconds": 0.0}
        self.awaited = {"reasons": [], "seconds": 0.0, "dropped": 0}
        self.overhead = {"rss_mb": 0.0}  # the processes' own memory, summed; None: unknown
        self.unprofiled = None

    def add(self, profile: dict) -> None:
        """Folds `profile` in; nothing of it is kept but what the sums need."""
        if not isinstance(profile, dict) or profile.get("schema") not in common.SCHEMAS:
            raise MergeError("not a triscope profile")
        # Either form: read through common.load, or as a run wrote it (a child's, a worker's).
        profile = common.expand_stacks(profile)
        if self.first is None:
            self.first = {key: value for key, value in profile.items()
                          if key not in ("files", "stacks", "threads", "leaks", "processes")}
        self.count += 1
        name = self._names(profile)
        thread_time = profile["thread_time_s"]
        self.total_s += thread_time
        self.total_alloc += profile["memory"].get("alloc_mb", 0.0)
        self.unattributed_s += profile["unattributed_pct"] / 100.0 * thread_time
        for key, seconds in _seconds(profile["totals"], thread_time).items():
            self.totals[key] += seconds
        own = _processes(profile)
        first_index = len(self.processes)
        for original, entry in profile["files"].items():
            path = name(original)
            for line in entry["lines"]:
                target = self.lines.setdefault(
                    (path, line["lineno"]), {"lineno": line["lineno"], "source": line["source"]})
                line_s = _add(target, line, thread_time)
                _add_by_process(target, line, line_s, first_index, len(own))
            for function in entry["functions"]:
                key = (path, function["name"], function["lineno"])
                target = self.functions.setdefault(key, {"name": function["name"],
                                                         "lineno": function["lineno"]})
                _add(target, function, thread_time)
        for stack in profile["stacks"]:
            frames = [[name(frame[0]), *frame[1:]] for frame in stack["frames"]]
            merged = self.stacks.setdefault(tuple(tuple(frame) for frame in frames),
                                            {"frames": frames, "samples": 0, "seconds": 0.0})
            merged["samples"] += stack["samples"]
            merged["seconds"] += stack["seconds"]
            for key in STACK_MEMORY_KEYS:
                if key in stack:
                    merged[key] = merged.get(key, 0.0) + stack[key]
        self.samples += profile["samples"]
        memory = profile["memory"]
        self.memory_enabled = self.memory_enabled or memory["enabled"]
        self.max_footprint_mb += memory["max_footprint_mb"]
        self.copy_mb += memory.get("copy_mb", 0.0)
        start = profile.get("started_at")
        self.starts.append(start)
        for thread in profile["threads"]:
            thread = dict(thread)
            thread.setdefault("pid", profile["pid"])
            self.threads.append((thread, start))
        self.leaks += [dict(leak, file=name(leak["file"])) for leak in profile["leaks"]]
        self.processes += own
        self._add_run_facts(profile, name)

    def _names(self, profile: dict):
        """A function from `profile`'s file paths to their merged names. A path whose sha256
        differs from the one first seen under it is another file: "PATH (pid N)"."""
        renamed = {}
        for path, entry in profile["files"].items():
            digest = entry.get("sha256")
            first = self.hashes.setdefault(path, digest)
            if digest and first and digest != first:
                renamed[path] = self.renamed.setdefault((path, digest),
                                                        f"{path} (pid {profile['pid']})")
                self.hashes[renamed[path]] = digest
        return lambda path: renamed.get(path, path)

    def _add_run_facts(self, profile: dict, name) -> None:
        """The whole-run fields a profile may lack (written before they existed): each is
        kept only while every profile added had it."""
        best = self.footprint_line
        if best is not None and "max_footprint_line" not in profile:
            self.footprint_line = None
        elif best is not None:
            line, peak = profile["max_footprint_line"], profile["memory"]["max_footprint_mb"]
            if line is not None and peak > best["mb"]:
                best.update(line=dict(line, file=name(line["file"])), mb=peak)
        if self.cpu_wait is not None and "cpu_wait_pct" not in profile:
            self.cpu_wait = None
        elif self.cpu_wait is not None:
            share = profile["cpu_wait_pct"]
            if share is None:
                self.cpu_wait["measured"] = False
            else:
                self.cpu_wait["seconds"] += share / 100.0 * profile["thread_time_s"]
        if self.idle is not None and "idle" not in profile:
            self.idle = None
        elif self.idle is not None:
            self.idle["measured"] = self.idle["measured"] and profile["idle"]["measured"]
            self.idle["threads"] += profile["idle"]["threads"]
            self.idle["seconds"] += profile["idle"]["seconds"]
        if self.awaited is not None and "async" not in profile:
            self.awaited = None
        elif self.awaited is not None:
            if not profile["async"]["measured"]:
                self.awaited["reasons"].append(profile["async"]["reason"])
            self.awaited["seconds"] += profile["async"]["seconds"]
            self.awaited["dropped"] += profile["async"]["dropped"]
        if self.overhead is not None and "overhead" not in profile:
            self.overhead = None
        elif self.overhead is not None:
            rss, total = profile["overhead"]["rss_mb"], self.overhead["rss_mb"]
            self.overhead["rss_mb"] = None if rss is None or total is None else total + rss
        if "unprofiled_children" in profile:
            self.unprofiled = add_unprofiled(self.unprofiled,
                                             profile["unprofiled_children"]["reasons"])

    def result(self) -> dict:
        """The combined profile of everything added, in the form a run writes (its stacks'
        frames indices into `stack_frames`)."""
        if not self.count:
            raise MergeError("no profiles to merge")
        total_s, total_alloc = self.total_s, self.total_alloc
        files = {}
        for (path, _), line in sorted(self.lines.items()):
            entry = files.setdefault(path, {"lines": [], "functions": []})
            _finish_by_process(line)
            entry["lines"].append(_finish_metrics(line, total_s, total_alloc))
        for (path, _, _), function in self.functions.items():
            files.setdefault(path, {"lines": [], "functions": []})["functions"].append(
                _finish_metrics(function, total_s, total_alloc))
        for path, entry in files.items():
            if self.hashes.get(path):
                entry["sha256"] = self.hashes[path]
            for key in TIME_KEYS:
                entry[key] = sum(line[key] for line in entry["lines"])
            entry["cpu_pct"] = sum(entry[key] for key in TIME_KEYS)
            entry["functions"].sort(key=lambda f: -sum(f[k] for k in TIME_KEYS))

        memory = dict(self.first["memory"])
        memory.update(enabled=self.memory_enabled, max_footprint_mb=self.max_footprint_mb,
                      alloc_mb=total_alloc, copy_mb=self.copy_mb)
        starts = None if None in self.starts else self.starts
        merged = dict(self.first)
        merged.update({
            "schema": common.SCHEMA,
            "version": __version__,
            "samples": self.samples,
            "thread_time_s": total_s,
            "unattributed_pct": 100.0 * self.unattributed_s / total_s if total_s else 0.0,
            "totals": {key: 100.0 * s / total_s if total_s else 0.0
                       for key, s in self.totals.items()},
            "threads": _threads(self.threads, min(starts) if starts else None),
            "memory": memory,
            "files": files,
            "leaks": self.leaks,
            "stacks": list(self.stacks.values()),
            "processes": self.processes,
        })
        if starts is None:
            merged.pop("started_at", None)
        else:
            merged["started_at"] = min(starts)
        self._finish_run_facts(merged)
        return common.compact_stacks(merged)

    def _finish_run_facts(self, merged: dict) -> None:
        for key, kept in (("max_footprint_line", self.footprint_line),
                          ("cpu_wait_pct", self.cpu_wait), ("idle", self.idle),
                          ("async", self.awaited), ("overhead", self.overhead),
                          ("unprofiled_children", self.unprofiled)):
            if kept is None:
                merged.pop(key, None)
        if self.footprint_line is not None:
            merged["max_footprint_line"] = self.footprint_line["line"]
        if self.cpu_wait is not None:
            merged["cpu_wait_pct"] = (self.cpu_wait["seconds"] / self.total_s * 100
                                      if self.cpu_wait["measured"] and self.total_s else None)
        if self.idle is not None:
            merged["idle"] = dict(self.idle)
        if self.awaited is not None:
            reasons = self.awaited["reasons"]
            merged["async"] = {"measured": not reasons, "reason": reasons[0] if reasons else None,
                               "seconds": self.awaited["seconds"],
                               "dropped": self.awaited["dropped"]}
        if self.overhead is not None:
            merged["overhead"] = dict(self.overhead)
        if self.unprofiled is not None:
            merged["unprofiled_children"] = self.unprofiled


def _add_by_process(target: dict, line: dict, line_s: float, first_index: int,
                    processes: int) -> None:
    """Charges `line`'s seconds (`line_s`) to the processes it came from, in `target`'s
    running top BY_PROCESS_TOP (docs/PROFILE_FORMAT.md, "Time by process"): a profile of one
    process gives its index; a merged one its own breakdown, moved to where its processes now
    stand; an older merged one without it, its remainder only. Each process adds to a line
    once, so a share that leaves the top for the remainder would never have come back."""
    top = target.get("_top")
    if top is None:
        top = target["_top"] = []
    if "by_process" in line:
        shares = [(first_index + index, seconds) for index, seconds in line["by_process"]["top"]]
        target["_rest_s"] = target.get("_rest_s", 0.0) + line["by_process"]["rest_s"]
    elif processes != 1:
        target["_rest_s"] = target.get("_rest_s", 0.0) + line_s
        return
    else:
        shares = ((first_index, line_s),)
    for index, seconds in shares:
        if seconds <= 0:
            continue
        if len(top) < BY_PROCESS_TOP:
            top.append([index, seconds])
            continue
        smallest = min(range(len(top)), key=lambda i: top[i][1])
        if seconds > top[smallest][1]:
            target["_rest_s"] = target.get("_rest_s", 0.0) + top[smallest][1]
            top[smallest] = [index, seconds]
        else:
            target["_rest_s"] = target.get("_rest_s", 0.0) + seconds


def _finish_by_process(line: dict) -> None:
    top, rest_s = line.pop("_top", []), line.pop("_rest_s", 0.0)
    if top or rest_s > 0:
        line["by_process"] = {"top": sorted(top, key=lambda share: (-share[1], share[0])),
                              "rest_s": rest_s}


def _threads(threads: list, earliest) -> list:
    """Every profile's threads, each with its process's pid; with the earliest of the
    profiles' wall-clock starts (None when one lacks its start), their timelines moved onto
    its axis, so that the processes' lanes line up."""
    moved = []
    for thread, start in threads:
        shift = start - earliest if earliest is not None else 0.0
        if shift and "timeline" in thread:
            thread["timeline"] = dict(thread["timeline"],
                                      start_s=thread["timeline"]["start_s"] + shift)
        moved.append(thread)
    return moved


def add_unprofiled(unprofiled, reasons: dict) -> dict:
    """`unprofiled_children` (docs/PROFILE_FORMAT.md) with `reasons` ({reason: count}) added."""
    combined = dict(unprofiled["reasons"]) if unprofiled else {}
    for reason, count in reasons.items():
        combined[reason] = combined.get(reason, 0) + count
    return {"count": sum(combined.values()), "reasons": combined}


def with_process_facts(profile: dict, **facts) -> dict:
    """`profile` with `facts` (a job's worker's name, host, address) on each of its process
    entries, made from the profile's own facts when it has none yet."""
    return dict(profile, processes=[dict(entry, **facts) for entry in _processes(profile)])


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
    """Writes `profile` to `path` atomically (a reader never sees half a file), in the form
    a run writes (common.compact_stacks: a profile given with its stacks' frames as triples
    is written with the frame table). What it
    writes is first read back as every reader reads a profile (the schema, finite numbers in
    range): a profile the readers would reject is a MergeError, and nothing is written."""
    import json
    import os
    from triscope.options import UsageError
    try:
        text = json.dumps(common.compact_stacks(profile), separators=(",", ":"),
                          allow_nan=False) + "\n"
        common.parse(text, "the merged profile")
    except (UsageError, ValueError, TypeError, RecursionError) as error:
        raise MergeError(str(error)) from None
    temporary = f"{path}.tmp.{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(temporary, path)


def main(argv: list) -> int:
    """`triscope merge -o out.json a.json b.json ...`: one profile of many processes. The
    inputs are read and folded in one at a time; one that cannot be read as a profile is
    skipped, and said (one line per reason) and recorded in the result's `skipped`."""
    import sys
    from triscope.options import new_parser, UsageError
    parser = new_parser(prog="triscope merge",
                        description="Combine profiles (processes, hosts) into one.")
    parser.add_argument("-o", "--outfile", required=True, help="the combined profile")
    parser.add_argument("profiles", nargs="+")
    options = parser.parse_args(argv)
    combination, skipped = Combination(), {}
    for path in options.profiles:
        try:
            profile = common.load(path)
        except UsageError as error:
            skipped.setdefault(_skip_reason(path, str(error)), []).append(path)
            continue
        try:
            combination.add(profile)
        except (MergeError, *common.MALFORMED) as error:
            raise UsageError(f"cannot merge {path}: {error!r}") from None
        del profile  # the next input is read into an empty hand
    said = [{"reason": reason, "count": len(paths), "examples": paths[:SKIPPED_EXAMPLES]}
            for reason, paths in skipped.items()]
    if not combination.count:
        raise UsageError("nothing could be merged: " + "; ".join(
            f"{_skipped_line(entry)}" for entry in said))
    combined = combination.result()
    if said:
        combined["skipped"] = {"count": sum(entry["count"] for entry in said), "reasons": said}
    try:
        write(combined, options.outfile)
    except MergeError as error:
        raise UsageError(f"cannot merge these profiles: {error}") from None
    except OSError as error:
        raise UsageError(f"cannot write {options.outfile}: {error.strerror}") from None
    for entry in said:
        print(f"triscope: {_skipped_line(entry)}", file=sys.stderr)
    print(f"triscope: {combination.count} profiles merged into {options.outfile}",
          file=sys.stderr)
    return 0


def _skip_reason(path: str, message: str) -> str:
    """Why `path` was skipped, from the error reading it (common.load's), without the path:
    the inputs skipped for one reason share one line. A file that is not JSON loses the
    parser's position too (each truncated file is cut at another place)."""
    unreadable = f"cannot read {path}: "
    if message.startswith(unreadable):
        return "cannot be read: " + message[len(unreadable):]
    rest = message[len(path) + 1:] if message.startswith(path + " ") else message
    if rest.startswith("is not a JSON profile"):
        return "not a JSON profile"
    return rest.removeprefix("is ")


def _skipped_line(entry: dict) -> str:
    count, examples = entry["count"], ", ".join(entry["examples"])
    more = f" and {count - len(entry['examples'])} more" if count > len(entry["examples"]) else ""
    return (f"{count} input{'s' if count != 1 else ''} skipped, {entry['reason']}: "
            f"{examples}{more}")
