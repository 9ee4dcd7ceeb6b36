"""The options of a profiling run, and triscope's own errors: the bottom of the Python layer.

Every way of starting a profile ends in one `Options`: the command line (cli.py), the API and
the in-process starts (triscope.start(), the IPython magics, the pytest plugin, through
launch.begin_in_process) and a child of a profiled program (launch.start_child, reading
what its parent serialised with `to_dict`). It is immutable and fully resolved: which of CPU,
memory and GPU to profile is decided once, in `_dimensions`, and no part of triscope reads
the raw flags. No child and no in-process start parses an argv again (only the re-execution
under the allocator library runs the whole command line anew). A session that needs other
values (a child writes JSON only) makes a new Options with `replace`.

Each option is defined once, in RUN_OPTIONS, from which two parsers are made: argparse's
(`build_parser`: --help, the error messages, --config, abbreviations) and `quick_values`, a
plain loop over the tokens that reads the command lines of most runs, giving exactly what
argparse would, and leaves the others to argparse (docs/ARCHITECTURE.md, "Reading the run's
options"). argparse, with the re, enum, gettext and locale it imports, is imported only when
a parser is made (importing it and building the run's parser: about 9 ms). Adding an option
touches RUN_OPTIONS, the Options fields, and the one place that uses it
(launch.native_keywords for what the C core reads). This module imports nothing of
triscope's but the version: every other module may import it.
"""

import collections
import os
import sys

from triscope import __version__


class UsageError(Exception):
    """Bad input on the command line: reported as one line, exit status 2."""


def new_parser(**settings):
    """An argparse parser whose errors are UsageErrors (one line, exit status 2), for the
    run and for every subcommand; `settings` are ArgumentParser's."""
    import argparse
    settings.setdefault("formatter_class", _formatter)
    parser = argparse.ArgumentParser(**settings)
    # An attribute of the instance, not a subclass's method: a subclass would need argparse
    # imported with this module, by every run.
    parser.error = _raise_usage_error
    return parser


def _raise_usage_error(message: str):
    raise UsageError(message)


def _formatter(prog: str, *args, width=None, **settings):
    """argparse's help formatter given the terminal's width as shutil.get_terminal_size()
    would find it, without importing shutil (with bz2, lzma and fnmatch: 1 ms of a start,
    since each add_argument builds a formatter)."""
    import argparse
    return argparse.HelpFormatter(prog, *args, width=width or _columns() - 2, **settings)


def _columns() -> int:
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def _type_error(message: str) -> Exception:
    """The exception by which an argparse type rejects a value: argparse prints its message
    as it is. Imported only then: a value that passes needs no argparse."""
    from argparse import ArgumentTypeError
    return ArgumentTypeError(message)


def bounded(kind, low, high, unit=""):
    """An argparse type: `kind` (int or float) from `low` to `high`, else a one-line error.

    Every numeric option goes through this, so no value reaches the C core, a timer or a
    socket that it could overflow or wrap (docs/ARCHITECTURE.md, "Option values"): an int
    accepts only whole numbers, a float only finite ones (no nan, no inf).
    """
    shown = f"{low} to {high}" if kind is int else f"{low:g} to {high:g}"
    shown += f" {unit}" if unit else ""

    def parse(text: str):
        try:
            value = kind(text.strip()) if len(text) <= 100 else None
        except ValueError:
            value = None
        if value is None or not (low <= value <= high):  # NaN compares false
            kind_name = "a whole number" if kind is int else "a number"
            raise _type_error(f"must be {kind_name} from {shown}, not {text[:40]!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some of its messages
    return parse


def _comma_list(text: str) -> tuple:
    return tuple(part for part in text.split(",") if part)


# The ranges of the numeric options. A value outside them is a typing slip, not a wish:
# 2**30 bytes between memory samples already takes about one sample per gigabyte allocated,
# and a pid above the kernel's largest pid_max (2**22) names no process.
seconds = bounded(float, 0.0001, 10, "seconds")
percent = bounded(float, 0, 100, "percent")
_positive_bytes = bounded(int, 1, 2 ** 30, "bytes")
_malloc_samples = bounded(int, 0, 10 ** 9, "samples")
_pid = bounded(int, 1, 2 ** 22)


def _directory(text: str) -> str:
    if not os.path.isdir(text):
        raise _type_error(f"no such directory: {text}")
    return os.path.abspath(text)


# The options of `triscope [run]`, which the magics and a child's options share, in the
# groups --help shows them in (as Scalene groups its own): (group, option strings,
# add_argument's keywords). Only the actions quick_values knows are used: store (a value,
# through `type`), store_true, store_false, and version.
RUN_OPTIONS = (
    (None, ("--version",), dict(action="version", version=f"triscope {__version__}")),
    (None, ("-c", "--config"), dict(
        metavar="FILE",
        help="read options from a TOML file (YAML too when PyYAML is installed): `cpu = "
             "true`, `outfile = \"p.json\"`, each key an option's long name; the command "
             "line wins over the file")),
    (None, ("--standalone",), dict(
        action="store_true",
        help="accepted for Scalene's users: the HTML report is always one self-contained "
             "file")),

    ("what is profiled", ("--cpu", "--cpu-only"), dict(
        dest="cpu", action="store_true",
        help="profile CPU time only (combine with --gpu, --memory); default: CPU, memory, "
             "and the GPU when an NVIDIA one is found")),
    ("what is profiled", ("--gpu",), dict(
        action="store_true",
        help="profile NVIDIA GPU time and memory through NVML (with CPU time, which the GPU "
             "time is charged through; combine with --memory)")),
    ("what is profiled", ("--gpu-sync",), dict(
        action="store_true",
        help="as --gpu, with CUDA kernel launches made blocking (CUDA_LAUNCH_BLOCKING=1 for "
             "the program) so GPU time lands on the lines that launch the kernels; slows "
             "programs that overlap CPU and GPU work (docs/ARCHITECTURE.md, GPU)")),
    ("what is profiled", ("--memory",), dict(
        action="store_true", help="profile memory only (combine with --cpu, --gpu)")),
    ("what is profiled", ("--stacks",), dict(
        action="store_true", default=True,
        help="record call stacks for the flame graph and `export` (the default: about 0.1 %% "
             "of CPU time, docs/PERFORMANCE.md)")),
    ("what is profiled", ("--no-stacks",), dict(
        dest="stacks", action="store_false",
        help="do not record call stacks (no flame graph; `export` has nothing to write)")),
    ("what is profiled", ("--async",), dict(
        dest="async_time", action="store_true", default=False,
        help="measure how long coroutines wait at each await line, in seconds of its own "
             "column, outside the percentages (Python 3.12 or newer; off by default: it costs "
             "9 %% of CPU time on the benchmark's async_tree, docs/ARCHITECTURE.md)")),
    ("what is profiled", ("--no-async",), dict(
        dest="async_time", action="store_false",
        help="do not measure awaited time (the default)")),
    ("what is profiled", ("--use-virtual-time",), dict(
        action="store_true", help="measure CPU time only, not waiting time")),
    ("what is profiled", ("--idle",), dict(
        action="store_true",
        help="count the time of threads waiting for work (blocked on a lock, event, queue, "
             "join or in an idle pool) in the percentages; by default it is only reported")),

    ("which code", ("--program-path",), dict(
        type=_directory, metavar="DIR",
        help="the directory holding the code to profile (default: the program's own)")),
    ("which code", ("--profile-all", "--profile-system-libraries"), dict(
        dest="profile_all", action="store_true",
        help="profile every file executed, the standard library and installed packages too")),
    ("which code", ("--profile-only",), dict(
        type=_comma_list, default=(),
        help="profile only files whose path contains one of these comma-separated strings")),
    ("which code", ("--profile-exclude",), dict(
        type=_comma_list, default=(),
        help="do not profile files whose path contains one of these strings")),

    ("outputs", ("--cli",), dict(
        action="store_true", help="print the text report to the terminal")),
    ("outputs", ("--web",), dict(
        action="store_true", help="also open the HTML report in a browser, when there is one")),
    ("outputs", ("--json",), dict(
        action="store_true", help="write the JSON profile to --outfile")),
    ("outputs", ("--html",), dict(
        action="store_true", help="write the HTML report to --outfile")),
    ("outputs", ("-o", "--outfile"), dict(
        help="where the report goes (JSON with --json or a .json name, HTML with --html or "
             "a .html name, else the text report); by default profile.json and "
             "profile.html (not with --cli) in the current directory")),
    ("outputs", ("--reduced-profile",), dict(
        action="store_true", help="keep only lines at or above the thresholds in the profile")),
    ("outputs", ("--live",), dict(
        action="store_true",
        help="watch the profile while the program runs: a view of the hottest lines on the "
             "terminal, refreshed every second (q leaves it, s changes the sort; the program "
             "runs on and the report follows at its end); plain text every 2 s when stdout "
             "is not a terminal")),
    ("outputs", ("--profile-interval",), dict(
        type=seconds,
        help="rewrite the cumulative JSON profile every S seconds while the program runs")),
    ("outputs", ("--cpu-percent-threshold",), dict(
        type=percent, default=1.0,
        help="hide lines and files below this %% of the time (default 1)")),
    ("outputs", ("--malloc-threshold",), dict(
        type=_malloc_samples, default=100,
        help="hide memory lines that allocated less than N × 10 KiB (N allocation samples "
             "at 10 KiB each, or that many MB; default 100)")),

    ("sampling", ("--cpu-sampling-rate",), dict(
        type=seconds, default=0.01,
        help="seconds of thread CPU time between samples (default 0.01)")),
    ("sampling", ("--memory-sampling-interval",), dict(
        type=_positive_bytes, default=256 * 1024,
        help="mean bytes between allocation (and copy) samples (default 262144)")),

    ("control", ("-v", "--verbose"), dict(
        action="store_true",
        help="say at the start which process is profiled and how to suspend it (without "
             "it, only a run still going after 10 s says so)")),
    ("control", ("--off",), dict(
        action="store_true",
        help="start with profiling off (turn it on with triscope.start() or --pid N --on); "
             "with --pid: suspend that process's profiling")),
    ("control", ("--pid",), dict(
        type=_pid,
        help="with --on or --off: the triscope-profiled process to resume or suspend")),
    ("control", ("--on",), dict(action="store_true", help="with --pid: resume profiling")),
)

# The options of RUN_OPTIONS that take a value: where triscope's options end and the program
# begins (cli.split_command_line), and what the %scrun magic reads (jupyter.py).
OPTIONS_WITH_VALUE = {string for _, strings, settings in RUN_OPTIONS
                      if settings.get("action", "store") == "store" for string in strings}
# Options read before the run's options are (--config: a file of them) or accepted and
# ignored (--standalone): no field of Options holds them.
NOT_RUN_OPTIONS = {"config", "standalone"}


def build_parser():
    """argparse's parser of RUN_OPTIONS, with the usage and help of `triscope [run]`."""
    parser = new_parser(
        prog="triscope",
        description="A CPU, GPU and memory profiler for Python.",
        usage="triscope [run] [options] (program.py | -m module | --- program.py) [args...]\n"
              "       triscope view profile.json [--cli | --html | --web] [-o FILE]",
        epilog="Profile tools (each has --help): triscope view profile.json renders a saved "
               "profile; diff before.json after.json compares two; merge combines several; "
               "export --format speedscope|collapsed|gecko|pprof writes the stacks for "
               "flame-graph tools, the Firefox Profiler and pprof; optimize asks "
               "an AI model for proposals; dump PID prints a running process's stacks.",
    )
    groups = {None: parser}
    for group, strings, settings in RUN_OPTIONS:
        if group not in groups:
            groups[group] = parser.add_argument_group(group)
        groups[group].add_argument(*strings, **settings)
    return parser


# ==== The quick parser ====
# What argparse does with a command line made only of RUN_OPTIONS' own option strings, each
# option with a value followed by one that does not start with '-' (docs/ARCHITECTURE.md,
# "Reading the run's options"): it starts from each destination's default (the first option naming it
# gives it: --stacks's True, --async's False), then sets the options in their order, a flag
# to its constant, an option with a value to its type applied to the next token (the last
# one given wins). Every other form is argparse's alone, and quick_values leaves the tokens
# to it: --help and --version, an abbreviated option (argparse accepts a unique prefix), a
# cluster of short flags (-vv), --opt=value, `--`, a value that starts with '-' (argparse
# takes some, a negative number, and refuses others), a value its type refuses (argparse
# says why), --config (a file of options), and --pid (controls another process).

QUICK_EXCLUDED = {"config", "pid"}
_FLAG_CONSTANTS = {"store_true": True, "store_false": False}


def _destination(strings: tuple, settings: dict) -> str:
    """The attribute argparse stores an option in: `dest`, else its first long option
    string (its first string when it has none) without the dashes, '-' made '_'."""
    if "dest" in settings:
        return settings["dest"]
    named = next((string for string in strings if string.startswith("--")), strings[0])
    return named.lstrip("-").replace("-", "_")


def _quick_tables():
    """(the defaults argparse starts from: destination -> value, the option strings
    quick_values parses: string -> (destination, whether it takes a value, its constant or
    its type))."""
    defaults, by_string = {}, {}
    for _, strings, settings in RUN_OPTIONS:
        action = settings.get("action", "store")
        if action == "version":
            continue  # prints and exits, and leaves nothing in argparse's namespace
        destination = _destination(strings, settings)
        if action == "store":
            meaning = (destination, True, settings.get("type", str))
            default = None
        else:
            meaning = (destination, False, _FLAG_CONSTANTS[action])
            default = not _FLAG_CONSTANTS[action]
        defaults.setdefault(destination, settings.get("default", default))
        if destination not in QUICK_EXCLUDED:
            by_string.update(dict.fromkeys(strings, meaning))
    return defaults, by_string


_QUICK_DEFAULTS, _QUICK_OPTIONS = _quick_tables()


def quick_values(tokens: list):
    """The values argparse's parser of RUN_OPTIONS would give `tokens` (destination ->
    value), or None when the tokens are left to it. Pure: nothing is printed, opened or
    changed, so deciding to leave them costs nothing but the time."""
    values = dict(_QUICK_DEFAULTS)
    index = 0
    while index < len(tokens):
        meaning = _QUICK_OPTIONS.get(tokens[index])
        if meaning is None:
            return None
        destination, takes_value, constant_or_type = meaning
        if not takes_value:
            values[destination] = constant_or_type
            index += 1
            continue
        if index + 1 >= len(tokens) or tokens[index + 1].startswith("-"):
            return None
        try:
            values[destination] = constant_or_type(tokens[index + 1])
        except Exception:  # whatever the type raises, argparse reports (or raises) it
            return None
        index += 2
    return values


def run_values(tokens: list) -> dict:
    """The values of the run's options `tokens` (triscope's own, no program): destination
    -> value, as argparse gives them; a UsageError for bad input, and SystemExit after
    --help or --version."""
    values = quick_values(tokens)
    if values is None:
        values = vars(build_parser().parse_args(with_config(list(tokens))))
    return values


def with_config(tokens: list) -> list:
    """`tokens` with `-c/--config FILE` replaced by the options the file holds, placed first
    so that the command line wins. The file is TOML (a `[triscope]` or `[tool.triscope]`
    table, so pyproject.toml serves, or top-level keys), or YAML when named .yaml/.yml and
    PyYAML is installed; each key is an option's long name (dashes or underscores), each
    value what the option takes: true/false for a flag, a list or a comma-separated string
    for --profile-only and --profile-exclude."""
    for index, token in enumerate(tokens):
        if token in ("-c", "--config"):
            if index + 1 >= len(tokens):
                raise UsageError(f"{token} needs a file name")
            path, rest = tokens[index + 1], tokens[:index] + tokens[index + 2:]
        elif token.startswith("--config="):
            path, rest = token.partition("=")[2], tokens[:index] + tokens[index + 1:]
        else:
            continue
        return _config_tokens(path) + with_config(rest)
    return list(tokens)


def _config_tokens(path: str) -> list:
    table = _read_config(path)
    actions = {string: action for action in build_parser()._actions
               for string in action.option_strings}
    tokens = []
    for key, value in table.items():
        name = "--" + str(key).replace("_", "-")
        action = actions.get(name)
        if action is None or action.dest in ("config", "pid", "on", "help", "version"):
            raise UsageError(f"{path}: {key!r} is not an option a configuration file can set")
        if action.nargs == 0:  # a flag
            if not isinstance(value, bool):
                raise UsageError(f"{path}: {key} takes true or false, not {value!r}")
            if value:
                tokens.append(name)
            else:  # false: the flag's opposite (stacks = false is --no-stacks), if it has one
                tokens += [opposite.option_strings[0] for opposite in actions.values()
                           if opposite.dest == action.dest and opposite.nargs == 0
                           and opposite.const is not action.const][:1]
        elif isinstance(value, list):
            tokens += [name, ",".join(str(item) for item in value)]
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            tokens += [name, str(value)]
        else:
            raise UsageError(f"{path}: {key} takes a value, not {value!r}")
    return tokens


def _read_config(path: str) -> dict:
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as error:
        raise UsageError(f"cannot read the configuration file {path}: "
                         f"{error.strerror or error}") from None
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise UsageError(f"{path}: reading YAML needs PyYAML (pip install pyyaml); or "
                             "write the file as TOML") from None
        try:
            table = yaml.safe_load(data) or {}
        except yaml.YAMLError as error:
            raise UsageError(f"{path} is not valid YAML: "
                             f"{' '.join(str(error).split())}") from None
    else:
        import tomllib
        try:
            table = tomllib.loads(data.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise UsageError(f"{path} is not valid TOML: {error}") from None
    if not isinstance(table, dict):
        raise UsageError(f"{path}: the options must be a table of option = value")
    section = table.get("tool", {}).get("triscope") if isinstance(table.get("tool"), dict) \
        else None
    section = table.get("triscope", section)
    if section is not None:
        if not isinstance(section, dict):
            raise UsageError(f"{path}: [triscope] must be a table of option = value")
        return section
    if "tool" in table or "project" in table:
        raise UsageError(f"{path} has no [tool.triscope] table")
    return table


# The fields of Options, in order. Options is a named tuple, not a dataclass: it is made
# before every run, and dataclasses imports inspect (with ast, dis and tokenize), several
# milliseconds of every run's start-up (docs/PERFORMANCE.md, start-up + exit). A named
# tuple is as immutable.
_FIELDS = (
    # What is profiled, resolved (see _dimensions).
    "cpu", "memory", "gpu",
    "gpu_asked",          # --gpu or --gpu-sync given: a GPU that cannot be profiled is said
    "gpu_sync",           # CUDA_LAUNCH_BLOCKING=1 for the program
    # Where the outputs go.
    "cli", "web", "json", "html",
    "outfile",            # None: profile.json and profile.html in the working directory
    "profile_interval",   # None: the JSON is written at the end only
    "live",               # the live view while the program runs (launch.run only)
    # What the profile keeps and shows.
    "reduced_profile", "profile_all", "profile_only", "profile_exclude", "use_virtual_time",
    "idle", "cpu_percent_threshold", "malloc_threshold", "stacks",
    "async_time",         # awaited time at await lines (--async)
    # How it samples.
    "cpu_sampling_rate", "memory_sampling_interval",
    "off",                # begin with profiling suspended
    "program_path",       # --program-path: the directory of the code to profile, or None
    "verbose",            # announce the profiled process at the start, not after a while
)


class Options(collections.namedtuple("Options", _FIELDS)):
    """How one process is profiled and where its outputs go. The defaults are the parser's
    (`Options.parse([])`); `--pid`/`--on` control another process and are not here."""

    __slots__ = ()

    @classmethod
    def parse(cls, tokens: list) -> "Options":
        """The options of `tokens` (triscope's own, no program), or a UsageError."""
        return cls.from_values(run_values(tokens))

    @classmethod
    def from_values(cls, values: dict) -> "Options":
        """The options of `values` (run_values', or the attributes of a namespace parsed by
        build_parser()), resolved."""
        given = {name: values.get(name) for name in cls._fields}
        given.update(_dimensions(values))
        return cls(**given)

    def to_dict(self) -> dict:
        """The options as JSON values, for a child process (from_dict reads them there)."""
        return self._asdict()

    @classmethod
    def from_dict(cls, given: dict) -> "Options":
        """The options to_dict gave, after a trip through JSON (which has lists, not
        tuples)."""
        return cls(**{**given, "profile_only": tuple(given["profile_only"]),
                      "profile_exclude": tuple(given["profile_exclude"])})

    def replace(self, **changes) -> "Options":
        """These options with `changes` (field=value) made: a new Options."""
        return self._replace(**changes)


def _dimensions(values: dict) -> dict:
    """Which of CPU, memory and GPU to profile, from --cpu, --memory, --gpu, --gpu-sync: the
    ones named, or all when none is. GPU time is charged to lines through the CPU and
    waiting samples, so asking for the GPU profiles CPU time too (as --cpu); without --gpu
    the GPU is profiled only when neither --cpu nor --memory is given (and the C core finds
    one)."""
    gpu_named = values["gpu"] or values["gpu_sync"]
    cpu_named = values["cpu"] or gpu_named
    return {"cpu": cpu_named or not values["memory"],
            "memory": values["memory"] or not cpu_named,
            "gpu": gpu_named or not (cpu_named or values["memory"]),
            "gpu_asked": bool(gpu_named)}
