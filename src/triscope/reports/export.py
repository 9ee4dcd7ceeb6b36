"""`triscope export --format speedscope|collapsed|gecko|pprof profile.json`: the recorded
call stacks in the formats flame-graph tools and profile viewers read.

All are made from the profile's `stacks` (recorded unless `--no-stacks`): each stack is a list
of [file, function, line] frames, outermost first (as common.load gives them, from the frame
table of a triscope/2 profile or from an older one's stacks), with the thread time spent in it
and the samples taken there (docs/PROFILE_FORMAT.md). triscope aggregates stacks over all
threads, so every format holds one track or profile of all threads' time, and says so.
With `--weight alloc` or `--weight peak` a stack weighs the memory its allocations took
(`alloc_mb`) or held at the run's maximum footprint (`peak_mb`) instead: the memory flame
graph, in bytes; speedscope, collapsed and pprof take it, gecko (samples in time) does not.

- speedscope (https://www.speedscope.app/file-format-schema.json): one "sampled" profile
  whose samples are the distinct stacks, weighted by seconds of thread time. speedscope
  would like one profile per thread, but triscope aggregates stacks over all threads, so
  the one profile holds every thread's time (its name says so).
- collapsed (Brendan Gregg's folded stacks, read by flamegraph.pl, inferno, speedscope and
  most flame-graph tools): one line per stack, `frame;frame;frame count`, with count the
  integer microseconds of thread time in that stack. A frame name never breaks that
  structure: ';' in a name becomes ':' and any line break a space. Other characters are kept
  exact in a file or a pipe; on a terminal, control characters are replaced as in the text
  report (a name from an untrusted profile must not drive the terminal).
- gecko (the Firefox Profiler's "gecko profile", which profiler.firefox.com opens and
  converts itself): meta, one thread of all threads' time with its string, frame and stack
  tables and its samples. The format has samples, not weights, so each stack becomes
  round(seconds / interval) samples one interval apart (at least one), laid end to end in
  the order of their frames' names: the time axis is thread time added up, not the run's
  clock, and the thread's name says so.
- pprof (profile.proto, gzip-compressed: `go tool pprof`, Grafana Pyroscope, Parca): two
  sample types, samples/count and the stack's time in nanoseconds ("cpu" with
  --use-virtual-time, where only CPU time is counted; "wall" otherwise, where waiting is in
  it too), one function per (file, function), one location per frame line; for memory, one
  sample type in bytes (alloc_space or peak_space), as a heap profile has. Protobuf is
  written here by hand (varints and length-delimited fields); the output is binary, so it
  is never written to a terminal.

speedscope and collapsed name a frame `function (file:line)`, file relative to the
directory all the stack's files share, so two calls from different lines of one function
are two frames, as in the line-level report. gecko and pprof have functions and lines of
their own: a frame there is a line of a function, the function named by its name and full
path, with the first line the profile's function table gives it (else the lowest line the
stacks show of it).
"""

import gzip
import json
import sys

from triscope import __version__
from triscope.options import new_parser, UsageError
from triscope.reports import common

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"
FORMATS = ("speedscope", "collapsed", "gecko", "pprof")


# What a stack's weight in an export can be: its time, its allocated memory, its memory live
# at the maximum footprint (docs/PROFILE_FORMAT.md). The profile's key for each, and what it
# is called where a tool shows it.
WEIGHTS = {"time": "seconds", "alloc": "alloc_mb", "peak": "peak_mb"}
WEIGHT_NAMES = {"time": "time", "alloc": "allocated memory",
                "peak": "memory live at the maximum footprint"}
MB = 1 << 20


def _stacks(profile: dict, weight: str = "time") -> list:
    """[(frames, value, samples)] with frames [(file, function, line)] and value the stack's
    `weight` (seconds, or MB), only stacks with some. None when the profile has no such
    weight at all (memory by stack was not recorded)."""
    key = WEIGHTS[weight]
    stacks, measured = [], weight == "time"
    for stack in profile["stacks"]:
        frames = []
        for frame in stack["frames"]:
            if not isinstance(frame, list) or len(frame) != 3:
                raise ValueError("a stack frame is not [file, function, line]")
            frames.append((common.text(frame[0]), common.text(frame[1]),
                           common.count(frame[2])))
        if key not in stack:
            continue
        measured = True
        value = common.number(stack[key])
        samples = common.count(stack["samples"])
        if frames and value > 0:
            stacks.append((frames, value, samples))
    return stacks if measured else None


def _first_lines(profile: dict, stacks: list) -> dict:
    """(file, function) → its first line: the profile's function table where it has the
    function, else the lowest line of it the stacks show."""
    lines = {}
    for frames, _, _ in stacks:
        for path, function, line in frames:
            key = (path, function)
            lines[key] = min(line, lines.get(key, line))
    for path, entry in profile["files"].items():
        for function in entry["functions"]:
            key = (path, common.text(function["name"]))
            if key in lines:
                lines[key] = common.count(function["lineno"])
    return lines


def _frame_names(stacks: list) -> dict:
    """(file, function, line) → its display name, files shortened by what they share."""
    frames = {frame for stack, _ in stacks for frame in stack}
    shared = common.common_dir(path for path, _, _ in frames)
    return {frame: f"{frame[1]} ({common.short_name(frame[0], shared)}:{frame[2]})"
            for frame in sorted(frames)}


def speedscope(profile: dict, stacks: list, weight: str = "time") -> dict:
    """A speedscope file: one sampled profile of all threads, weighted in seconds (or, for
    memory, in bytes)."""
    if weight != "time":
        stacks = [(frames, round(value * MB)) for frames, value in stacks]
    names = _frame_names(stacks)
    index = {frame: i for i, frame in enumerate(names)}
    total = sum(value for _, value in stacks)
    program = str(profile.get("program", "program"))
    what = "" if weight == "time" else f", {WEIGHT_NAMES[weight]}"
    return {
        "$schema": SPEEDSCOPE_SCHEMA,
        "name": f"triscope: {program}",
        "exporter": f"triscope {__version__}",
        "activeProfileIndex": 0,
        "shared": {"frames": [{"name": names[frame], "file": frame[0], "line": frame[2]}
                              for frame in names]},
        "profiles": [{
            "type": "sampled",
            "name": f"{program} (all threads{what})",
            "unit": "seconds" if weight == "time" else "bytes",
            "startValue": 0,
            "endValue": total,
            "samples": [[index[frame] for frame in frames] for frames, _ in stacks],
            "weights": [value for _, value in stacks],
        }],
    }


# Every character some reader of folded stacks may take for the end of a line (Python's
# str.splitlines breaks on all of these; perl and most tools on \n, some on \r).
LINE_BREAKS = {ord(c): " " for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def _folded_frame(name: str) -> str:
    # ';' separates frames and a line ends a stack: neither may occur inside one.
    return name.replace(";", ":").translate(LINE_BREAKS)


def collapsed(stacks: list, weight: str = "time") -> str:
    """Folded stacks: `frame;frame;frame count`, count in microseconds of thread time (or,
    for memory, in bytes)."""
    scale = 1e6 if weight == "time" else MB
    names = _frame_names(stacks)
    folded = {}
    for frames, value in stacks:
        key = ";".join(_folded_frame(names[frame]) for frame in frames)
        folded[key] = folded.get(key, 0.0) + value
    lines = []
    for key, value in sorted(folded.items()):
        count = round(value * scale)
        if count > 0:
            lines.append(f"{key} {count}")
    return "".join(line + "\n" for line in lines)


# ==== gecko (the Firefox Profiler) ====

# The gecko profile version whose layout this writes (a frame table of 8 columns, phased
# markers, no source table): the Firefox Profiler upgrades an older gecko profile to its own
# version when it opens one, but refuses a newer one, so the oldest version with this
# layout opens in the most of its releases.
GECKO_VERSION = 27
# One sample per stack at least, and a file of a few tens of MB at most: past this many
# samples the interval between them is widened.
GECKO_MOST_SAMPLES = 1_000_000


def _gecko_table(schema: tuple, rows: list) -> dict:
    return {"schema": {name: i for i, name in enumerate(schema)}, "data": rows}


def gecko(profile: dict, stacks: list) -> dict:
    """A gecko profile: one thread holding every thread's time, in samples one interval
    apart."""
    first_lines = _first_lines(profile, stacks)
    strings, string_index = [], {}
    frames, frame_index = [], {}
    stack_rows, stack_index = [], {}

    def string(value: str) -> int:
        if value not in string_index:
            string_index[value] = len(strings)
            strings.append(value)
        return string_index[value]

    def frame(key: tuple) -> int:
        if key not in frame_index:
            path, function, line = key
            # "name (file:line)" is the form the profiler reads a function, its file and
            # its first line from; the frame's own line is a column of its own.
            location = string(f"{function} ({path}:{first_lines[path, function]})")
            frame_index[key] = len(frames)
            # location, relevantForJS, innerWindowID, implementation, line, column,
            # category (0: Python), subcategory
            frames.append([location, False, 0, None, line, None, 0, 0])
        return frame_index[key]

    def stack(keys: list) -> int:
        prefix = None
        for key in keys:
            node = (prefix, frame(key))
            if node not in stack_index:
                stack_index[node] = len(stack_rows)
                stack_rows.append(list(node))
            prefix = stack_index[node]
        return prefix

    interval = common.number(profile["cpu_sampling_interval_s"])
    total = sum(seconds for _, seconds, _ in stacks)
    if interval <= 0 or total / interval > GECKO_MOST_SAMPLES:
        interval = total / GECKO_MOST_SAMPLES
    interval_ms = interval * 1e3
    samples = []
    # Stacks in the order of their frames: those sharing callers sit side by side, as in
    # a flame graph.
    for keys, seconds, _ in sorted(stacks, key=lambda entry: entry[0]):
        index = stack(keys)
        for _ in range(max(1, round(seconds / interval))):
            # stack, time (ms from meta.startTime), eventDelay
            samples.append([index, round(len(samples) * interval_ms, 6), 0])
    program = str(profile.get("program", "program"))
    threads = len(profile["threads"])
    pid = common.count(profile["pid"])
    return {
        "meta": {
            "version": GECKO_VERSION,
            "interval": interval_ms,
            # When the run began is not in the profile: the samples' times count from 0.
            "startTime": 0,
            "shutdownTime": None,
            "processType": 0,
            "product": f"triscope: {program}",
            "misc": f"triscope {__version__}, Python {common.text(profile['python'])}",
            "stackwalk": 0,
            "debug": 0,
            "gcpoison": 0,
            "asyncstack": 0,
            "categories": [{"name": "Python", "color": "yellow",
                            "subcategories": ["Other"]}],
            "markerSchema": [],
        },
        "libs": [],
        "pausedRanges": [],
        "processes": [],
        "threads": [{
            "name": f"all {threads} thread{'s' if threads != 1 else ''}, time added up",
            "processName": program,
            "processType": "default",
            "pid": pid,
            "tid": pid,
            "registerTime": 0,
            "unregisterTime": None,
            "markers": _gecko_table(
                ("name", "startTime", "endTime", "phase", "category", "data"), []),
            "samples": _gecko_table(("stack", "time", "eventDelay"), samples),
            "frameTable": _gecko_table(
                ("location", "relevantForJS", "innerWindowID", "implementation", "line",
                 "column", "category", "subcategory"), frames),
            "stackTable": _gecko_table(("prefix", "frame"), stack_rows),
            "stringTable": strings,
        }],
    }


# ==== pprof (profile.proto) ====


def _varint(value: int) -> bytes:
    """Protobuf's base-128 varint of a non-negative int (all triscope writes); one no
    uint64 holds is malformed data."""
    if not 0 <= value < 1 << 64:
        raise ValueError("a number is out of range for pprof")
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _int_field(number: int, value: int) -> bytes:
    """A varint field; a zero is left out, as proto3 reads a missing field as 0."""
    return _varint(number << 3) + _varint(value) if value else b""


def _bytes_field(number: int, data: bytes) -> bytes:
    """A length-delimited field: a string, an embedded message or packed varints."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _packed_field(number: int, values: list) -> bytes:
    return _bytes_field(number, b"".join(_varint(value) for value in values))


def pprof(profile: dict, stacks: list, weight: str = "time") -> bytes:
    """A gzip-compressed profile.proto `Profile` of the stacks: samples and nanoseconds, or
    for memory bytes allocated (alloc_space) or live at the maximum footprint (peak_space)."""
    first_lines = _first_lines(profile, stacks)
    strings = {"": 0}  # string_table[0] must be ""

    def string(value: str) -> int:
        return strings.setdefault(value, len(strings))

    functions, locations = {}, {}  # key → id (ids count from 1: 0 means unset)
    messages = bytearray()

    def function(path: str, name: str) -> int:
        if (path, name) not in functions:
            functions[path, name] = len(functions) + 1
        return functions[path, name]

    def location(key: tuple) -> int:
        if key not in locations:
            locations[key] = len(locations) + 1
        return locations[key]

    if weight == "time":
        kind = "cpu" if profile["options"]["virtual_time"] else "wall"
        sample_types = (("samples", "count"), (kind, "nanoseconds"))
        period_type, period = (kind, "nanoseconds"), common.number(
            profile["cpu_sampling_interval_s"]) * 1e9
    else:
        # As a heap profile: its one sample type in bytes, the period the mean bytes between
        # allocation samples.
        kind = f"{weight}_space"
        sample_types = ((kind, "bytes"),)
        period_type, period = ("space", "bytes"), common.count(
            profile["memory"].get("sampling_interval_bytes", 0))
    samples = []
    for keys, value, count in stacks:
        ids = [location(key) for key in reversed(keys)]  # the leaf first
        values = [count, round(value * 1e9)] if weight == "time" else [round(value * MB)]
        samples.append(_packed_field(1, ids) + _packed_field(2, values))
    for kind, unit in sample_types:  # 1: sample_type
        messages += _bytes_field(1, _int_field(1, string(kind)) + _int_field(2, string(unit)))
    for sample in samples:  # 2: sample
        messages += _bytes_field(2, sample)
    program = str(profile.get("program", "program"))
    # 3: mapping. One, for the program, whose functions, files and lines are all known:
    # pprof then neither looks for a binary nor tries to symbolize addresses.
    messages += _bytes_field(3, _int_field(1, 1) + _int_field(5, string(program))
                             + b"".join(_int_field(field, 1) for field in (7, 8, 9)))
    for (path, name, line), id_ in locations.items():  # 4: location, with one line
        line_message = _int_field(1, function(path, name)) + _int_field(2, line)
        messages += _bytes_field(4, _int_field(1, id_) + _int_field(2, 1)
                                 + _bytes_field(4, line_message))
    # 5: function. No system_name: pprof takes a function whose system_name is its name for
    # a C++ name to tidy, and would cut "<module>" down to nothing.
    for (path, name), id_ in functions.items():
        messages += _bytes_field(5, _int_field(1, id_) + _int_field(2, string(name))
                                 + _int_field(4, string(path))
                                 + _int_field(5, first_lines[path, name]))
    threads = len(profile["threads"])
    comments = [string(f"triscope {__version__}: {program}"),
                string(f"all {threads} thread{'s' if threads != 1 else ''}, "
                       f"{WEIGHT_NAMES[weight]} added up")]
    tail = (_int_field(10, round(common.number(profile["elapsed_s"]) * 1e9))  # duration
            + _bytes_field(11, _int_field(1, string(period_type[0]))  # period_type
                           + _int_field(2, string(period_type[1])))
            + _int_field(12, round(period))  # period
            + _packed_field(13, comments)
            + _int_field(14, string(kind)))  # default_sample_type
    for value in strings:  # 6: string_table, in index order (dicts keep insertion order)
        # A string must be UTF-8: a lone surrogate a JSON profile may hold becomes '?'.
        messages += _bytes_field(6, value.encode("utf-8", "replace"))
    # mtime 0: the same profile gives the same bytes.
    return gzip.compress(bytes(messages) + tail, mtime=0)

def main(argv: list) -> int:
    """`triscope export --format speedscope|collapsed|gecko|pprof profile.json [-o FILE]`."""
    parser = new_parser(
        prog="triscope export",
        description="Export the call stacks of a profile (recorded unless --no-stacks) for "
                    "flame-graph tools and profile viewers. triscope adds the stacks of all "
                    "threads up, so each export holds one profile of all threads' time (or, "
                    "with --weight, memory).")
    parser.add_argument("--format", required=True, choices=FORMATS,
                        help="speedscope: a speedscope.app JSON file (one sampled profile of "
                             "all threads, weights in seconds); collapsed: folded stacks "
                             "'frame;frame;frame count', count in microseconds; gecko: a "
                             "Firefox Profiler (profiler.firefox.com) JSON file, one track "
                             "of all threads; pprof: gzip-compressed profile.proto for go "
                             "tool pprof, Grafana Pyroscope and Parca (binary: -o FILE or a "
                             "pipe, never a terminal)")
    parser.add_argument("--weight", choices=tuple(WEIGHTS), default="time",
                        help="what a stack weighs: time (thread time, the default), alloc "
                             "(MB allocated there) or peak (MB it held at the maximum "
                             "footprint): the memory flame graph, in bytes (not with gecko)")
    parser.add_argument("profile")
    parser.add_argument("-o", "--outfile", help="where the export goes (default: stdout)")
    options = parser.parse_args(argv)
    weight = options.weight
    if options.format == "pprof" and not options.outfile and sys.stdout.isatty():
        raise UsageError("pprof is binary and stdout is a terminal: write it with "
                         "-o FILE or pipe it")
    if options.format == "gecko" and weight != "time":
        raise UsageError("gecko holds time samples only: export memory (--weight "
                         f"{weight}) as speedscope, collapsed or pprof")
    profile = common.load(options.profile)
    with common.reading(options.profile):
        stacks = _stacks(profile, weight)
        if stacks is None:
            raise UsageError(f"{options.profile} has no memory by call stack: profile with "
                             "memory (not --cpu) and without --no-stacks")
        if not stacks and weight == "time":
            raise UsageError(f"{options.profile} has no call stacks: it was recorded with "
                             "--no-stacks (or by a triscope that needed --stacks for them); "
                             "profile again without --no-stacks")
        if not stacks:
            raise UsageError(f"{options.profile} has no call stacks with "
                             f"{WEIGHT_NAMES[weight]}")
        weighted = [(frames, value) for frames, value, _ in stacks]
        if options.format == "speedscope":
            content = json.dumps(speedscope(profile, weighted, weight), allow_nan=False) + "\n"
        elif options.format == "collapsed":
            content = collapsed(weighted, weight)
        elif options.format == "gecko":
            content = json.dumps(gecko(profile, stacks), allow_nan=False) + "\n"
        else:
            content = pprof(profile, stacks, weight)
    if options.outfile:
        common.write_output(content, options.outfile)
        print(f"triscope: {options.format} export written to {options.outfile}",
              file=sys.stderr)
    elif isinstance(content, bytes):
        sys.stdout.flush()
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
    elif options.format == "collapsed" and sys.stdout.isatty():
        # Names are kept exact for the file or pipe a flame-graph tool reads, but a terminal
        # gets no control character from an untrusted profile (docs/ARCHITECTURE.md).
        sys.stdout.write(common.terminal_text(content) + ("\n" if content else ""))
    else:
        sys.stdout.write(content)
    return 0
