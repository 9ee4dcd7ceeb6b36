"""IPython and Jupyter magics (docs/DEFINITIONS.md): `%load_ext triscope`, then

    %scrun [options] statement      profile one statement
    %%triscope [options]            profile the whole cell

options being the `triscope` command's (--stacks, --cpu, --memory, --cpu-sampling-rate S,
--cpu-percent-threshold P, --use-virtual-time, -o FILE, ...). The statement or cell runs in
the notebook's namespace, profiled in-process: CPU time and what Python's allocator shows
of memory (native allocations need the allocator library, which only `triscope run` can
put in place). The report is shown inline: the HTML viewer in a notebook, the text report
in a terminal IPython (--cli or --html choose). The profile dict is kept in the namespace
as `_triscope_profile` (and as `triscope.jupyter.last_profile`); -o FILE also writes it
(JSON, or the HTML or text report by the name's extension).

The code is written to a file of its own (in a temporary directory of this process) and run
from there, so the profile's lines carry their source text. Code defined in earlier cells
is profiled where IPython keeps cells in files (Jupyter's kernel does); in a terminal
IPython, whose cells have no file, its time is charged to the line of this cell that called
it (the attribution rule).
"""

import json
import os
import re
import shlex
import sys

last_profile = None
_cell_dir = None
_cell_count = 0


def load_ipython_extension(ipython) -> None:
    """`%load_ext triscope`: registers %scrun and %%triscope (and %%scalene, the same)."""
    def line_magic(line):
        __tracebackhide__ = True  # noqa: F841 (IPython hides this frame in tracebacks)
        return scrun(ipython, line)

    def cell_magic(line, cell):
        __tracebackhide__ = True  # noqa: F841
        return triscope_cell(ipython, line, cell)

    ipython.register_magic_function(line_magic, magic_kind="line", magic_name="scrun")
    ipython.register_magic_function(cell_magic, magic_kind="cell", magic_name="triscope")
    # The spelling Scalene's users type from memory, with the same meaning.
    ipython.register_magic_function(cell_magic, magic_kind="cell", magic_name="scalene")


def scrun(ipython, line: str):
    """%scrun [options] statement."""
    __tracebackhide__ = True  # noqa: F841
    tokens, statement = split_options(line)
    if not statement.strip():
        return _error("usage: %scrun [options] statement")
    return _profile(ipython, tokens, statement)


def triscope_cell(ipython, line: str, cell: str):
    """%%triscope [options] on its own first line, then the cell."""
    __tracebackhide__ = True  # noqa: F841
    try:
        tokens = shlex.split(line)
    except ValueError as error:
        return _error(f"bad options: {error}")
    return _profile(ipython, tokens, cell)


def split_options(line: str):
    """(option tokens, statement) of `%scrun` arguments: the options come first; `--` ends
    them when the statement itself starts with '-'."""
    from triscope.options import OPTIONS_WITH_VALUE
    tokens = []
    rest = line
    while True:
        match = re.match(r"\s*(\S+)", rest)
        if match is None or not match.group(1).startswith("-"):
            break
        token = match.group(1)
        rest = rest[match.end():]
        if token == "--":
            break
        tokens.append(token)
        if token in OPTIONS_WITH_VALUE:
            value = re.match(r"\s*(\S+)", rest)
            if value is None:
                break
            tokens.append(value.group(1))
            rest = rest[value.end():]
    return tokens, rest.strip()


def _error(message: str) -> None:
    print(f"triscope: error: {message}", file=sys.stderr)


def _new_cell_file(source: str) -> str:
    """Writes `source` to a file of its own, where the profile can read its lines."""
    global _cell_dir, _cell_count
    import tempfile
    if _cell_dir is None or not os.path.isdir(_cell_dir):
        _cell_dir = tempfile.mkdtemp(prefix=f"triscope-ipython-{os.getpid()}-")
    _cell_count += 1
    path = os.path.join(_cell_dir, f"cell{_cell_count}.py")
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(source)
    return path


def _program_dirs(ipython, cell_path: str) -> list:
    """The cell's directory, the working directory (the notebook's own modules) and the
    directory where the kernel keeps earlier cells, when it keeps them in files."""
    dirs = [os.path.dirname(cell_path), os.getcwd()]
    try:
        name = ipython.compile.get_code_name("", "", 0)
    except Exception:  # an IPython without it, or another compiler
        name = None
    if isinstance(name, str) and os.path.isabs(name):
        dirs.append(os.path.dirname(name))
    return dirs


def _profile(ipython, tokens: list, source: str):
    global last_profile
    __tracebackhide__ = True  # noqa: F841
    from triscope import _native, launch
    from triscope.options import Options, UsageError
    try:
        options = Options.parse(tokens)
    except UsageError as error:
        return _error(str(error))
    except SystemExit:  # --help, --version: argparse has printed them
        return None
    if _native.is_running():
        return _error("this process is already being profiled (by the triscope command, "
                      "or triscope.start())")
    source = ipython.transform_cell(source)  # IPython syntax (!cmd, %magic) to Python
    cell_path = _new_cell_file(source)
    try:
        code = compile(source, cell_path, "exec")
    except SyntaxError:
        ipython.showsyntaxerror()
        return None
    json_path = os.path.splitext(cell_path)[0] + ".json"
    background = _other_threads()
    # Where the profile goes is the magic's business: -o is written from it by _show.
    session = launch.begin_in_process(
        _program_dirs(ipython, cell_path), f"<cell {_cell_count}>", json_path=json_path,
        options=options.replace(outfile=None), quiet=True)
    try:
        exec(code, ipython.user_ns)
    finally:
        session.finish()
        profile = _read_profile(json_path)
        if profile is not None:
            _leave_out_threads(profile, background)
            last_profile = profile
            ipython.user_ns["_triscope_profile"] = profile
            _show(ipython, profile, options)
    return None


def _read_profile(json_path: str):
    """The cell's profile, its stacks' frames as [file, function, lineno] (a user reads
    `_triscope_profile` in the notebook; the file names them by index)."""
    import linecache
    from triscope.reports import common
    try:
        with open(json_path, encoding="utf-8") as stream:
            profile = common.expand_stacks(json.load(stream))
    except (OSError, ValueError) as error:
        _error(f"cannot read the profile: {error}")
        return None
    # Cells IPython keeps in memory only: their text is in linecache.
    for path, entry in profile.get("files", {}).items():
        for line in entry.get("lines", []):
            if not line.get("source"):
                line["source"] = linecache.getline(path, line["lineno"]).rstrip("\r\n")
    return profile


def _other_threads() -> set:
    """Native ids of the threads running besides this one: the shell's own (IPython's
    history writer, the kernel's heartbeat, I/O and control threads)."""
    import threading
    me = threading.get_native_id()
    return {t.native_id for t in threading.enumerate() if t.native_id not in (None, me)}


TIME_KEYS = ("cpu_python_pct", "cpu_native_pct", "cpu_system_pct")


def _leave_out_threads(profile: dict, tids: set) -> None:
    """Takes the time of the shell's own threads out of the profile. They wait through the
    whole cell; left in, their waiting would be most of the 100% and every line of the
    cell would look small. Their time is all outside the profiled files (unattributed),
    so the lines' seconds stay as they are and only the percentages grow. Threads that ran
    profiled code (started by an earlier cell) are kept: then nothing is changed."""
    gone = [t for t in profile.get("threads", []) if t.get("tid") in tids]
    old = profile["thread_time_s"]
    wait = sum(t["wait_s"] for t in gone)
    cpu = sum(t["cpu_s"] for t in gone)
    new = old - wait - cpu
    unattributed_s = profile["unattributed_pct"] / 100 * old
    if not gone or new <= 0 or wait + cpu > unattributed_s * 1.01 + 1e-6:
        return
    scale = old / new
    for entry in profile["files"].values():
        for metrics in (entry, *entry["lines"], *entry["functions"]):
            for key in (*TIME_KEYS, "cpu_pct"):
                if key in metrics:
                    metrics[key] *= scale
    seconds = {key: profile["totals"][key] / 100 * old for key in TIME_KEYS}
    seconds["cpu_system_pct"] = max(0.0, seconds["cpu_system_pct"] - wait)
    for key in ("cpu_python_pct", "cpu_native_pct"):  # their little CPU: Python first
        taken = min(cpu, seconds[key])
        seconds[key] -= taken
        cpu -= taken
    total = sum(seconds.values()) or 1.0
    profile["totals"] = {key: 100 * value / total for key, value in seconds.items()}
    attributed = sum(entry.get("cpu_pct", 0.0) for entry in profile["files"].values())
    profile["unattributed_pct"] = max(0.0, 100.0 - attributed)
    profile["thread_time_s"] = new
    profile["threads"] = [t for t in profile["threads"] if t.get("tid") not in tids]


def _in_notebook(ipython) -> bool:
    return getattr(ipython, "kernel", None) is not None


def _show(ipython, profile: dict, options) -> None:
    from triscope.reports import html, text
    if options.outfile:
        _write_outfile(profile, options)
    as_html = options.html or options.web or (_in_notebook(ipython) and not options.cli)
    if as_html:
        from IPython.display import HTML, display
        import html as html_escape
        page = html_escape.escape(html.render(profile), quote=True)
        # In an iframe the viewer keeps its own page: its ids, styles and CSP.
        display(HTML(f'<div><iframe srcdoc="{page}" style="width:100%;height:640px;border:0">'
                     "</iframe></div>"))
        return
    width = text.report_width(sys.stdout)
    sys.stdout.write(text.render(
        profile, color=sys.stdout.isatty() and "NO_COLOR" not in os.environ,
        cpu_percent_threshold=options.cpu_percent_threshold,
        malloc_threshold=options.malloc_threshold, width=width))


def _write_outfile(profile: dict, options) -> None:
    from triscope.reports import html, text
    path = options.outfile
    try:
        if options.json or path.endswith(".json"):
            with open(path, "w", encoding="utf-8") as stream:
                json.dump(profile, stream)
        elif options.html or path.endswith(".html"):
            html.write(profile, path)
        else:
            with open(path, "w", encoding="utf-8") as stream:
                stream.write(text.render(profile, width=100,
                                         cpu_percent_threshold=options.cpu_percent_threshold,
                                         malloc_threshold=options.malloc_threshold))
    except OSError as error:
        _error(f"cannot write {path}: {error.strerror or error}")
        return
    print(f"triscope: profile written to {path}", file=sys.stderr)
