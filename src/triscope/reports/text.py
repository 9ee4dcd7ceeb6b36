"""The text report: a profile dict rendered for a terminal.

Owns how `--cli` shows a profile: the columns, hot-line highlighting and colour; which
files, lines and functions are worth printing is the display rule's (display.py).  It reads
nothing but the profile dict described in docs/PROFILE_FORMAT.md, so a saved profile
renders like a live run.

Two promises callers rely on: every output line fits `width` terminal columns, and without
colour the output holds no escape characters, so it can be piped, diffed or logged.
"""

import os

from triscope.reports import display

HOT_PCT = 10.0  # a line with this share of the run is hot, as is the run's hottest line
BAR_CELLS = 10  # the bar is full at 100% of the run
BAR_CHARS = ("█", "▓", "░")  # Python, native, system
SPARK_CHARS = "▁▂▃▄▅▆▇█"
SPARK_CELLS = 8
HOT_MARK = "▶"  # before a hot line's number
CUT_MARK = "…"  # where text was cut to fit
MIN_SOURCE = 20  # the bar, then the core utilization, are dropped before the source gets
                 # narrower than this
SOURCE_OWN_ROW_BELOW = 30  # with less room than this beside the numbers, the source gets a row
SOURCE_ROW_INDENT = " " * 8

BOLD = "\x1b[1m"
HOT = "\x1b[1;31m"
RESET = "\x1b[0m"


def render(profile, *, color=False, cpu_percent_threshold=1.0, malloc_threshold=100,
           width=100):
    """Return the text report of `profile`, every line at most `width` columns."""
    threshold = cpu_percent_threshold
    cut = display.report_cut(profile, threshold, malloc_threshold)
    thread_time = profile["thread_time_s"]
    awaited = _has_awaited_time(profile)
    files = sorted(profile["files"].items(), key=lambda item: item[1]["cpu_pct"], reverse=True)
    utilization = any("core_utilization" in line for _, entry in files for line in entry["lines"])
    columns = _line_columns(profile["memory"]["enabled"], profile["gpu"]["enabled"], awaited,
                            width, utilization)
    hottest = max((_total(line) for _, entry in files for line in entry["lines"]), default=0.0)

    rows = _header(profile, width, UTIL_COLUMN in columns)
    # Prose is wrapped at spaces, never cut (the title keeps its own rule: the program's end).
    rows = rows[:1] + [wrapped for row in rows[1:] for wrapped in _wrap(row, width)]
    hidden = 0
    for path, entry in files:
        shown = [line for line in entry["lines"] if display.line_shown(line, cut, thread_time)]
        if not display.file_shown(entry, shown, cut):
            hidden += 1
            continue
        rows += _file_rows(path, entry, shown, columns, cut, thread_time, awaited, hottest,
                           width)
    if hidden:
        rows += _wrap((f"{hidden} file(s) below {threshold:g}% hidden.", ""), width)
    rows += _leak_rows(profile["leaks"], width)
    rows += _wrap(_footer(profile), width)

    # Styles are applied after fitting, so escape codes never count against the width.
    out = []
    for text, style in rows:
        text = _fit(text, width).rstrip()
        out.append(f"{style}{text}{RESET}" if color and style and text else text)
    return "\n".join(out) + "\n"


# ==== Sections ====


def print_report(profile, stream, cpu_percent_threshold, malloc_threshold):
    """Writes the text report of `profile` to `stream`: in colour and as wide as the terminal
    (80 to 120 columns) when it is one, else plain and 100 columns wide."""
    color = stream.isatty() and "NO_COLOR" not in os.environ
    stream.write(render(profile, color=color, cpu_percent_threshold=cpu_percent_threshold,
                        malloc_threshold=malloc_threshold, width=report_width(stream)))
    stream.flush()


def report_width(stream):
    """The columns a report for `stream` may use: $COLUMNS when set (as the shell and
    Python's own tools read it), else the terminal's width, else 100 for a file or pipe;
    never under 80 (the narrowest the tables are laid out for) nor over 200."""
    try:
        width = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        width = 0
    if width <= 0:
        try:
            width = os.get_terminal_size(stream.fileno()).columns if stream.isatty() else 100
        except (OSError, ValueError, AttributeError):
            width = 100
    return max(80, min(width, 200))


def _header(profile, width, utilization):
    """Rows describing the whole run (`utilization`: the lines have a util column)."""
    totals = profile["totals"]
    threads = len(profile["threads"])
    title = "triscope profile of "
    rows = [
        (title + _fit_left(profile["program"], width - len(title)), BOLD),
        (
            f"{profile['elapsed_s']:.2f} s elapsed, {profile['samples']} samples every "
            f"{profile['cpu_sampling_interval_s'] * 1000:g} ms, {threads} thread(s)",
            "",
        ),
    ]
    split = (
        f"time: {totals['cpu_python_pct']:.1f}% Python, {totals['cpu_native_pct']:.1f}% native"
    )
    if profile["options"]["virtual_time"]:
        split += " (virtual time: system time was not measured)"
    else:
        split += f", {totals['cpu_system_pct']:.1f}% system"
    rows.append((split, ""))
    rows += _processes_rows(profile)
    rows += _time_definition_rows(profile)
    if profile["samples"] == 0:
        rows.append(("No samples were taken: the run may have been too short.", ""))
    taken = profile.get("signals_taken")  # older profiles lack it
    if isinstance(taken, int) and taken > 0:
        rows.append((f"the program took the profiler's signal {taken} time(s) with native code; "
                     "triscope took it back: CPU samples may be missing around then", ""))
    if round(profile["unattributed_pct"], 1) > 0:
        outside = profile["unattributed_pct"]
        where = f"{outside:.1f}% of the time was outside the files below"
        # A large share elsewhere (libraries, the stdlib, compiled code) deserves a pointer to
        # the option that shows it; a sliver (start-up, the interpreter's exit) does not.
        hint = (" (--profile-all shows every file)"
                if outside >= 10 and not profile["options"]["profile_all"] else "")
        rows.append((where + hint + ".", ""))
    unprofiled = profile.get("unprofiled_children")
    if unprofiled and unprofiled.get("count"):
        # Their time shows as the parent's waiting: say so, in one line.
        count = unprofiled["count"]
        why = "; ".join(f"{reason} ({n})" if len(unprofiled["reasons"]) > 1 else reason
                        for reason, n in unprofiled["reasons"].items())
        rows.append((f"{count} child process{'es' if count != 1 else ''} ran unprofiled: "
                     f"{why}.", ""))
    if profile["memory"]["enabled"]:
        mem = profile["memory"]
        peak = f"memory: peak {mem['max_footprint_mb']:.1f} MB  "
        rows.append((peak + _sparkline(mem["timeline"], 20), ""))
        where = profile.get("max_footprint_line")  # older profiles lack it
        if where:
            prefix, line = "memory: peak reached allocating at ", f":{where['lineno']}"
            rows.append((prefix + _fit_path(where["file"], width - len(prefix) - len(line)) +
                         line, ""))
        if not mem.get("native", True):
            rows.append(("memory: Python's allocator only (profiling began in-process: "
                         "native allocations and copies were not seen)", ""))
    gpu = profile["gpu"]
    if gpu["enabled"]:
        facts = f"GPU: {gpu['device'] or 'unknown device'}"
        busy, peak = gpu.get("busy_s"), gpu.get("peak_mem_mb")
        if all(isinstance(x, (int, float)) for x in (busy, peak)):  # older profiles lack them
            facts += (f", busy {busy:.2f} s ({gpu.get('accounting')} accounting), "
                      f"peak {peak:.0f} MB")
        rows.append((facts, ""))
        torch = gpu.get("allocator")
        if torch:  # the program used PyTorch's CUDA (docs/DEFINITIONS.md, GPU)
            rows.append(("GPU memory in PyTorch's allocator: peak "
                         f"{torch['peak_allocated_mb']:.0f} MB in tensors, "
                         f"{torch['peak_reserved_mb']:.0f} MB reserved", ""))
        devices = gpu.get("devices") or []
        if len(devices) > 1:
            rows.append(("GPU devices: " + ", ".join(
                f"cuda:{d['cuda_index']} {d['busy_s']:.2f} s {d['peak_mem_mb']:.0f} MB"
                for d in devices), ""))
        if gpu.get("launch_blocking"):
            rows.append(("GPU time: on the lines that launched each kernel (--gpu-sync)", ""))
        else:  # launches return before their kernels run (docs/ARCHITECTURE.md, GPU)
            rows.append(("GPU time: on lines running while the GPU was busy (--gpu-sync: "
                         "on launches)", ""))
    elif profile["options"].get("gpu") and gpu.get("reason"):
        rows.append((f"GPU: not profiled: {gpu['reason']}", ""))
    rows.append(("time columns: % of run; █ Python ▓ native ░ system (blocked: I/O, sleep, GIL)",
                 ""))
    if utilization:
        rows.append(("util: share of the line's time computing, not blocked (0 to 1)", ""))
    rows += _awaited_time_rows(profile)
    if profile["memory"]["enabled"]:
        rows.append(("memory columns: MB; py% from Python's allocator; copy in MB/s", ""))
    return rows


# Waiting for a CPU is worth a line from this share of the run on (docs/PROFILE_FORMAT.md).
CPU_WAIT_NOTABLE_PCT = 5.0


def _processes_rows(profile):
    """A merged profile's processes: how many, on how many hosts, and the slowest (the one
    that ran longest, which a job waits for)."""
    processes = profile.get("processes") or []
    pids = {entry["pid"] for entry in processes}  # an exec'd image is the same process
    if len(pids) < 2:
        return []
    hosts = {entry.get("host") for entry in processes if entry.get("host")}
    slowest = max(processes, key=lambda entry: entry["elapsed_s"])
    name = f"{slowest['name']} (pid {slowest['pid']})" if slowest.get("name") else \
        f"pid {slowest['pid']}"
    where = f" on {len(hosts)} host{'s' if len(hosts) != 1 else ''}" if hosts else ""
    return [(f"{len(pids)} processes{where}; the slowest: {name}, "
             f"{slowest['elapsed_s']:.2f} s", "")]


def _footer(profile):
    """Which process this was, and how a run like it is suspended and resumed (the run no
    longer says so at its start); nothing for a profile gathered from a job's workers (they
    name their host), which no triscope command ran."""
    pid = profile.get("pid")
    if not isinstance(pid, int) or any("host" in entry for entry in profile.get("processes", ())):
        return ("", "")
    return (f"process {pid} (while a run goes on: python -m triscope --pid {pid} --off "
            "suspends its profiling, --on resumes it)", "")


def _time_definition_rows(profile):
    """What the percentages count: idle threads and waiting for a CPU, one line each when
    they matter (older profiles lack both)."""
    options = profile["options"]
    if not options.get("cpu", True) or options["virtual_time"]:
        return []
    rows = []
    cpu_wait = profile.get("cpu_wait_pct", 0.0)
    if cpu_wait is None:
        rows.append(("waiting for a CPU was not measured (the kernel gives no run-queue "
                     "delays): it counts as system time", ""))
    elif cpu_wait >= CPU_WAIT_NOTABLE_PCT:
        rows.append((f"{cpu_wait:.0f}% of the time the program's threads were ready to run "
                     "but waited for a CPU (a busy machine or a CPU quota)", ""))
    idle = profile.get("idle")
    if idle and idle["threads"]:
        counted = ("counted as system time (--idle)" if options.get("idle")
                   else "not in the percentages; --idle counts it")
        rows.append((f"idle threads: {idle['threads']}, {idle['seconds']:.1f} s "
                     f"waiting for work ({counted})", ""))
    elif idle and not idle["measured"] and len(profile["threads"]) > 1:
        rows.append(("idle threads could not be told apart here: threads waiting for work "
                     "count as system time", ""))
    return rows


def _has_awaited_time(profile):
    """Whether some line has awaited time: only then is there a column for it."""
    return any(line.get("async_await_s", 0.0) > 0
               for entry in profile["files"].values() for line in entry["lines"])


def _awaited_time_rows(profile):
    """What the await column means, or why it is missing when it was asked for (older
    profiles have neither)."""
    facts = profile.get("async")
    if not facts:
        return []
    if not facts["measured"]:
        if profile["options"].get("async") and facts.get("reason"):
            return [(f"awaited time was not measured: {facts['reason']}", "")]
        return []
    if not _has_awaited_time(profile):
        return []
    rows = [("await column: seconds coroutines waited at the line (concurrent waits overlap; "
             "not in the %)", "")]
    if facts["dropped"]:
        rows.append((f"awaited time: {facts['dropped']} suspension(s) forgotten (too many "
                     "coroutines suspended at once)", ""))
    return rows


def _file_rows(path, entry, shown, columns, cut, thread_time, awaited, hottest, width):
    """Rows for one file: its heading, its lines that matter and its functions that do."""
    share = (
        f" {entry['cpu_pct']:.1f}% (Python {entry['cpu_python_pct']:.1f}, "
        f"native {entry['cpu_native_pct']:.1f}, system {entry['cpu_system_pct']:.1f})"
    )
    # A path that leaves the split no room gets a line of its own, the split the next; the
    # end of a path names the file, so when even a whole line is too short its start goes.
    if _columns_of(path) + len(share) <= width:
        rows = [("", ""), (path + share, BOLD)]
    else:
        rows = [("", ""), (_fit_path(path, width), BOLD), ("  " + share.strip(), BOLD)]
    labels = _prefix("line") + _labels(columns)
    # Too little room beside the numbers (memory columns at 80): each line's source goes on
    # a row of its own below them, as wide as the terminal.
    own_row = width - len(labels) - 1 < SOURCE_OWN_ROW_BELOW
    rows.append((labels + ("" if own_row else " source"), ""))
    previous = None
    for line in shown:
        if previous is not None and line["lineno"] > previous + 1:
            rows.append((_prefix(CUT_MARK), ""))
        previous = line["lineno"]
        total = _total(line)
        hot = total > 0 and (total >= HOT_PCT or total == hottest)
        cells = " ".join(cell(line) for _, _, cell in columns)
        style = HOT if hot else ""
        if own_row:
            rows.append((_prefix(line["lineno"], hot) + cells, style))
            if _source(line):
                rows.append((SOURCE_ROW_INDENT + _source(line), style))
        else:
            rows.append((_prefix(line["lineno"], hot) + cells + " " + _source(line), style))
    if not shown:
        rows.append((f"  (no single line reaches {cut.cpu_pct:g}%)", ""))

    functions = [f for f in entry["functions"]
                 if display.function_shown(f, cut, thread_time)]
    if functions:
        function_columns = CPU_COLUMNS + ([AWAIT_COLUMN] if awaited else [])
        rows.append(("functions:", ""))
        rows.append((_prefix("line") + _labels(function_columns) + " function", ""))
        for function in functions:
            cells = " ".join(cell(function) for _, _, cell in function_columns)
            rows.append((_prefix(function["lineno"]) + cells + " " + function["name"], ""))
    return rows


def _leak_rows(leaks, width):
    """Rows listing the likely leaks, most likely first."""
    if not leaks:
        return []
    rows = [("", ""), ("possible leaks:", BOLD), ("likelihood     MB/s  where", "")]
    for leak in sorted(leaks, key=lambda leak: leak["likelihood"], reverse=True):
        numbers = f"{leak['likelihood'] * 100:9.0f}% {leak['mb_s']:8.2f}  "
        where = _fit_path(leak["file"], width - len(numbers) - len(f":{leak['lineno']}"))
        rows.append((f"{numbers}{where}:{leak['lineno']}", ""))
    return rows


# ==== Columns ====


# Columns are (label, width, cell function); lines and functions share these three.
CPU_COLUMNS = [
    ("Python", 6, lambda m: _cell(m["cpu_python_pct"], 6)),
    ("native", 6, lambda m: _cell(m["cpu_native_pct"], 6)),
    ("system", 6, lambda m: _cell(m["cpu_system_pct"], 6)),
]


# Awaited time, in seconds: outside the percentages (docs/DEFINITIONS.md, Awaited time).
AWAIT_COLUMN = ("await", 6, lambda m: _cell(m.get("async_await_s", 0.0), 6, decimals=2))


# Core utilization (docs/DEFINITIONS.md): after the bar, and only where the source keeps its
# room; never at 80 columns, where the source needs every one.
UTIL_COLUMN = ("util", 4, lambda m: _cell(m.get("core_utilization", 0.0), 4, decimals=2))
UTIL_COLUMNS_FROM = 100


def _line_columns(memory, gpu, awaited, width, utilization=False):
    """The columns between line number and source that this profile and width call for
    (`utilization`: its lines have core_utilization)."""
    columns = list(CPU_COLUMNS)
    if awaited:
        columns.append(AWAIT_COLUMN)
    if memory:
        columns += [
            ("alloc", 5, lambda m: _cell(m["alloc_mb"], 5)),
            ("py%", 3, lambda m: _cell(m["python_fraction"] * 100, 3, decimals=0)),
            ("peak", 5, lambda m: _cell(m["peak_mb"], 5)),
            ("timeline", SPARK_CELLS, lambda m: _sparkline(m["timeline"], SPARK_CELLS)),
            ("copy", 5, lambda m: _cell(m["copy_mb_s"], 5)),
        ]
    if gpu:
        columns.append(("GPU%", 4, lambda m: _cell(m["gpu_pct"], 4)))
    used = len(_prefix("")) + sum(size + 1 for _, size, _ in columns) + BAR_CELLS + 1
    if width - used >= MIN_SOURCE:
        columns.insert(3, ("", BAR_CELLS, _bar))
        if utilization and width >= UTIL_COLUMNS_FROM and width - used - len(UTIL_COLUMN[0]) - 1 >= MIN_SOURCE:
            columns.insert(4, UTIL_COLUMN)
    return columns


def _labels(columns):
    return " ".join(label.rjust(size) for label, size, _ in columns)


def _prefix(lineno, hot=False):
    """The margin (hot marker) and line number column."""
    return (HOT_MARK if hot else " ") + f"{lineno:>5} "


def _cell(value, width, decimals=1):
    """`value` right-aligned in `width` columns, blank when it would print as zero."""
    text = f"{value:.{decimals}f}"
    if len(text) > width:
        text = f"{value:.0f}"
    if len(text) > width:
        text = f"{value:.0e}"
    if float(text) == 0:
        return " " * width
    return text.rjust(width)


def _bar(metrics):
    """The line's share of the run as BAR_CELLS characters, split Python/native/system."""
    keys = ("cpu_python_pct", "cpu_native_pct", "cpu_system_pct")
    parts = [max(0.0, metrics[key]) for key in keys]
    total = sum(parts)
    if total <= 0:
        return " " * BAR_CELLS
    # Any shown line gets at least one cell, or a 3% line would look like nothing.
    cells = min(BAR_CELLS, max(1, round(total / 100 * BAR_CELLS)))
    # Cut at cumulative boundaries so rounding neither loses nor adds a cell.
    python_end = round(cells * parts[0] / total)
    native_end = round(cells * (parts[0] + parts[1]) / total)
    bar = BAR_CHARS[0] * python_end + BAR_CHARS[1] * (native_end - python_end)
    return (bar + BAR_CHARS[2] * (cells - native_end)).ljust(BAR_CELLS)


def _sparkline(timeline, cells):
    """MB over time as `cells` block characters, the tallest being the largest value."""
    top = max((mb for _, mb in timeline), default=0.0)
    if top <= 0:
        return " " * cells
    start = min(t for t, _ in timeline)
    span = (max(t for t, _ in timeline) - start) or 1.0
    # Each cell shows the largest value in its slice of time.  An empty slice repeats the
    # previous cell, since live memory stays where it was until the next sample says otherwise.
    peaks = [None] * cells
    for t, mb in timeline:
        i = min(cells - 1, int((t - start) / span * cells))
        peaks[i] = mb if peaks[i] is None else max(peaks[i], mb)
    out, level = [], 0.0
    for peak in peaks:
        level = level if peak is None else peak
        step = int(-(-level * len(SPARK_CHARS) // top)) - 1  # ceil: no math import for it
        out.append(SPARK_CHARS[step] if level > 0 else " ")
    return "".join(out)


def _source(line):
    """The line's source text; it may be missing from a profile whose file is gone."""
    return (line.get("source") or "").expandtabs().rstrip()


def _total(metrics):
    return display.time_pct(metrics)


# ==== Fitting text to the terminal ====


# Characters known to take one column without asking unicodedata: Latin-1 and the report's
# own marks. A report of ASCII names and code then need not load unicodedata (a 1.2 MB
# library, 0.2 ms of every run's end). Below U+0378 no character is wide; above it even
# unassigned ones can be said to be (tests/test_text_report.py checks both against it).
_NARROW_BELOW = "\u0378"
_OWN_NARROW = frozenset((*BAR_CHARS, *SPARK_CHARS, HOT_MARK, CUT_MARK, "\ufffd"))


def _char_columns(char):
    # East Asian wide characters take two terminal columns.
    if char < _NARROW_BELOW or char in _OWN_NARROW:
        return 1
    import unicodedata
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _printable(text):
    # Control characters in a profiled file (a stray ESC, a form feed) must not reach the
    # terminal: they would break the layout or the no-escapes promise.
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


# Every character _char_columns calls narrow without asking, deleted by str.translate: what
# is left of a line (most often nothing) is all that needs asking, one character at a time.
_KNOWN_NARROW = dict.fromkeys(range(ord(_NARROW_BELOW)))
_KNOWN_NARROW.update(dict.fromkeys(map(ord, _OWN_NARROW)))


def _width(text):
    """The columns printable `text` takes."""
    rest = text.translate(_KNOWN_NARROW)
    return len(text) - len(rest) + sum(map(_char_columns, rest))


def _columns_of(text):
    return _width(_printable(text))


def _wrap(row, width):
    """A prose row as rows of at most `width` columns, broken at spaces (continuations
    indented); a word longer than a line is left to _fit."""
    text, style = row
    if _columns_of(text) <= width:
        return [row]
    lines = _wrap_words(text, width, "  ")
    return [(line, style) for line in lines] or [row]


# The characters that separate words in prose, each read as one space.
_SPACES = str.maketrans(dict.fromkeys("\t\n\x0b\x0c\r", " "))


def _wrap_words(text, width, indent):
    """`text` as lines of at most `width` characters (the second on with `indent` first),
    broken only where spaces are: each line takes words while they fit, the spaces at a
    break are dropped, and a word longer than a line gets one to itself. What
    textwrap.wrap(text, width, subsequent_indent=indent, break_long_words=False,
    break_on_hyphens=False) gives (tests/test_text_report.py compares them), without its
    import: compiling its patterns cost 0.7 ms of every run's end."""
    text = text.expandtabs().translate(_SPACES)
    chunks = []  # runs of spaces and words, last first
    start = 0
    for end in range(1, len(text) + 1):
        if end == len(text) or (text[end] == " ") != (text[start] == " "):
            chunks.append(text[start:end])
            start = end
    chunks.reverse()
    lines = []
    while chunks:
        prefix = indent if lines else ""
        room = width - len(prefix)
        if lines and chunks[-1].strip() == "":
            chunks.pop()  # the spaces a line breaks at (those before the first line stay)
        line, used = [], 0
        while chunks and used + len(chunks[-1]) <= room:
            used += len(chunks[-1])
            line.append(chunks.pop())
        if chunks and not line and len(chunks[-1]) > room:
            line.append(chunks.pop())
        if line and line[-1].strip() == "":
            line.pop()
        if line:
            lines.append(prefix + "".join(line))
    return lines


def _fit(text, width):
    """`text` made printable and cut to at most `width` columns, ending in '…' if cut."""
    text = _printable(text)
    if _width(text) <= width:
        return text
    kept, used = [], 0
    for char in text:
        used += _char_columns(char)
        if used > width - 1:
            break
        kept.append(char)
    return "".join(kept) + CUT_MARK if width > 0 else ""


def _fit_path(path, width):
    """`path` in at most `width` columns: whole directories dropped from its start, "…/" in
    their place, so no name is cut in the middle; a file name longer than the room alone is
    cut as _fit_left cuts."""
    if _columns_of(path) <= width:
        return path
    parts = path.split("/")
    for first in range(1, len(parts)):
        shortened = "…/" + "/".join(parts[first:])
        if _columns_of(shortened) <= width:
            return shortened
    return _fit_left(path, width)


def _fit_left(text, width):
    """Like _fit, but keeps the end of `text` and cuts its start."""
    return _fit(text[::-1], width)[::-1]
