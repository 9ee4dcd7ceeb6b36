"""Which lines, functions and files are worth showing: the one definition of the display
rule (docs/PROFILE_FORMAT.md, "Which lines are worth showing").

A line is worth showing when its share of the run's time reaches the CPU threshold, or when
its share of all allocation reaches an allocation bar and it allocated at least the volume
--malloc-threshold asks for: as many allocation samples, or as many MB (a single large
allocation is one sample). Reports set that bar at the CPU threshold.
--reduced-profile applies the same rule when the profile is written, with no allocation bar:
a reduced profile keeps every line a report at those thresholds could show, and the reports
reading it apply the whole rule again. The writer is given the cut (the four numbers) and
applies it to the exact shares it holds; the thresholds' meaning lives here alone.

A line or function is also worth showing when its awaited time (--async) reaches the CPU
threshold's share of the run's time (thread_time_s): an await line spends next to no CPU.

A file is worth showing when its own share reaches the CPU threshold or one of its lines is
worth showing; a function when its share of the run's time reaches the CPU threshold. The
rule reads nothing but the profile dict, so a saved profile shows like a live run.
"""

import collections

# --malloc-threshold N counts allocation samples at this many bytes each, so the same N
# means the same volume whatever the sampling interval (N = 100 is about 1 MB).
MALLOC_THRESHOLD_UNIT = 10 * 1024


# collections.namedtuple, not typing.NamedTuple: the launcher imports this module at exit
# (and root's runs before the program), and typing alone costs more than the whole rule.
class Cut(collections.namedtuple("Cut", "cpu_pct mem_pct alloc_samples alloc_mb")):
    """The rule's four numbers:

    cpu_pct        a line with this share of the run's time is shown...
    mem_pct        ...as is one with this share of all allocation...
    alloc_samples  ...and at least this many allocation samples (0: memory not shown)...
    alloc_mb       ...or at least this many MB allocated
    """
    __slots__ = ()


def min_alloc_samples(malloc_threshold: int, sampling_interval_bytes: int) -> int:
    """The allocation samples --malloc-threshold asks for at this sampling interval (at
    least one)."""
    interval = sampling_interval_bytes or MALLOC_THRESHOLD_UNIT
    return max(1, round(malloc_threshold * MALLOC_THRESHOLD_UNIT / interval))


def min_alloc_mb(malloc_threshold: int) -> float:
    """The volume --malloc-threshold asks for, in MB."""
    return malloc_threshold * MALLOC_THRESHOLD_UNIT / (1024 * 1024)


def report_cut(profile: dict, cpu_percent_threshold: float, malloc_threshold: int) -> Cut:
    """What a report of `profile` shows at these thresholds."""
    memory = profile["memory"]
    samples = (min_alloc_samples(malloc_threshold, memory.get("sampling_interval_bytes"))
               if memory["enabled"] else 0)
    return Cut(cpu_percent_threshold, cpu_percent_threshold, samples,
               min_alloc_mb(malloc_threshold))


def reduced_profile_cut(cpu_percent_threshold: float, malloc_threshold: int,
                        sampling_interval_bytes: int) -> Cut:
    """What --reduced-profile keeps: the lines a report at these thresholds could show.
    Without memory profiled no line has allocation samples, so the sample count alone
    leaves them out."""
    return Cut(cpu_percent_threshold, 0.0,
               min_alloc_samples(malloc_threshold, sampling_interval_bytes),
               min_alloc_mb(malloc_threshold))


def time_pct(metrics: dict) -> float:
    """A line's, function's or file's share of the run's time, all kinds together."""
    return metrics["cpu_python_pct"] + metrics["cpu_native_pct"] + metrics["cpu_system_pct"]


def awaited_shown(metrics: dict, cut: Cut, thread_time_s: float) -> bool:
    """Whether a line's or function's awaited time (seconds, outside the percentages)
    reaches the CPU threshold's share of the run's time."""
    awaited = metrics.get("async_await_s", 0.0)  # older profiles lack it
    return awaited > 0 and 100.0 * awaited >= cut.cpu_pct * thread_time_s


def line_shown(line: dict, cut: Cut, thread_time_s: float = None) -> bool:
    """`thread_time_s`: the profile's, for the awaited-time part of the rule (None: left
    out)."""
    return time_pct(line) >= cut.cpu_pct or (
        cut.alloc_samples > 0 and line["mem_pct"] >= cut.mem_pct
        and (line["alloc_samples"] >= cut.alloc_samples
             or (cut.alloc_mb > 0 and line["alloc_mb"] >= cut.alloc_mb))) or (
        thread_time_s is not None and awaited_shown(line, cut, thread_time_s))


def file_shown(entry: dict, shown_lines: list, cut: Cut) -> bool:
    """`shown_lines`: those of the file's lines that line_shown keeps."""
    return entry["cpu_pct"] >= cut.cpu_pct or bool(shown_lines)


def function_shown(function: dict, cut: Cut, thread_time_s: float = None) -> bool:
    return time_pct(function) >= cut.cpu_pct or (
        thread_time_s is not None and awaited_shown(function, cut, thread_time_s))


def reduced(profile: dict, cut: Cut) -> dict:
    """A copy of `profile` holding only what `cut` shows: its lines, and the files with any
    (`view --reduced`, Scalene's `view -r`)."""
    thread_time_s = profile.get("thread_time_s")
    files = {}
    for path, entry in profile["files"].items():
        lines = [line for line in entry["lines"] if line_shown(line, cut, thread_time_s)]
        if file_shown(entry, lines, cut):
            files[path] = dict(entry, lines=lines, functions=[
                f for f in entry["functions"] if function_shown(f, cut, thread_time_s)])
    return dict(profile, files=files,
                options=dict(profile["options"], reduced_profile=True))
