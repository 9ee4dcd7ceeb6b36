"""The options of a profiling run, and triscope's own errors: the bottom of the Python layer.

Every way of starting a profile ends in one `Options`: the command line (cli.py), the API and
the in-process starts (triscope.start(), the IPython magics, the pytest plugin, through
launch.begin_in_process) and a child of a profiled program (launch.start_child, reading
what its parent serialised with `to_dict`). It is immutable and fully resolved: which of CPU,
memory and GPU to profile is decided once, in `_dimensions`, and no part of triscope reads
the raw flags. No child and no in-process start parses an argv again (only the re-execution
under the allocator library runs the whole command line anew). A session that needs other
values (a child writes JSON only) makes a new Options with `replace`.

Adding an option touches `build_parser`, the `Options` fields, and the one place that uses
it (launch.native_keywords for what the C core reads). This module imports nothing of
triscope's but the version: every other module may import it.
"""

import argparse
import collections
import os
import sys

from triscope import __version__


class UsageError(Exception):
    """Bad input on the command line: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are UsageErrors (one line, exit status 2), for the
    run and for every subcommand."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise UsageError(message)


class Formatter(argparse.HelpFormatter):
    """argparse's help formatter given the terminal's width as shutil.get_terminal_size()
    would find it, without importing shutil (with bz2, lzma and fnmatch: 1 ms of every
    run's start, since each add_argument builds a formatter)."""

    def __init__(self, prog, *args, width=None, **kwargs):
        super().__init__(prog, *args, width=width or _columns() - 2, **kwargs)


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
            raise argparse.ArgumentTypeError(
                f"must be {kind_name} from {shown}, not {text[:40]!r}")
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
        raise argparse.ArgumentTypeError(f"no such directory: {text}")
    return os.path.abspath(text)

# The options of build_parser that take a value: where triscope's options end and the
# program begins (cli.split_command_line), and what the %scrun magic reads (jupyter.py).
OPTIONS_WITH_VALUE = {
    "-o", "--outfile", "--profile-only", "--profile-exclude", "--cpu-percent-threshold",
    "--cpu-sampling-rate", "--malloc-threshold", "--profile-interval", "--pid",
    "--memory-sampling-interval", "-c", "--config", "--program-path",
}
# Options read before the run's options are (--config: a file of them) or accepted and
# ignored (--standalone): no field of Options holds them.
NOT_RUN_OPTIONS = {"config", "standalone"}


def build_parser() -> argparse.ArgumentParser:
    """The options of `triscope [run]`, which the magics and a child's options share,
    grouped in --help as Scalene groups its own."""
    parser = Parser(
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
    parser.add_argument("--version", action="version", version=f"triscope {__version__}")
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="read options from a TOML file (YAML too when PyYAML is "
                             "installed): `cpu = true`, `outfile = \"p.json\"`, each key an "
                             "option's long name; the command line wins over the file")
    parser.add_argument("--standalone", action="store_true",
                        help="accepted for Scalene's users: the HTML report is always one "
                             "self-contained file")

    add = parser.add_argument_group("what is profiled").add_argument
    add("--cpu", "--cpu-only", dest="cpu", action="store_true",
        help="profile CPU time only (combine with --gpu, --memory); default: CPU, memory, "
             "and the GPU when an NVIDIA one is found")
    add("--gpu", action="store_true",
        help="profile NVIDIA GPU time and memory through NVML (with CPU time, which the GPU "
             "time is charged through; combine with --memory)")
    add("--gpu-sync", action="store_true",
        help="as --gpu, with CUDA kernel launches made blocking (CUDA_LAUNCH_BLOCKING=1 for "
             "the program) so GPU time lands on the lines that launch the kernels; slows "
             "programs that overlap CPU and GPU work (docs/ARCHITECTURE.md, GPU)")
    add("--memory", action="store_true", help="profile memory only (combine with --cpu, --gpu)")
    add("--stacks", action="store_true", default=True,
        help="record call stacks for the flame graph and `export` (the default: about 0.1 %% "
             "of CPU time, docs/PERFORMANCE.md)")
    add("--no-stacks", dest="stacks", action="store_false",
        help="do not record call stacks (no flame graph; `export` has nothing to write)")
    add("--async", dest="async_time", action="store_true", default=False,
        help="measure how long coroutines wait at each await line, in seconds of its own "
             "column, outside the percentages (Python 3.12 or newer; off by default: it costs "
             "9 %% of CPU time on the benchmark's async_tree, docs/ARCHITECTURE.md)")
    add("--no-async", dest="async_time", action="store_false",
        help="do not measure awaited time (the default)")
    add("--use-virtual-time", action="store_true",
        help="measure CPU time only, not waiting time")
    add("--idle", action="store_true",
        help="count the time of threads waiting for work (blocked on a lock, event, queue, "
             "join or in an idle pool) in the percentages; by default it is only reported")

    add = parser.add_argument_group("which code").add_argument
    add("--program-path", type=_directory, metavar="DIR",
        help="the directory holding the code to profile (default: the program's own)")
    add("--profile-all", "--profile-system-libraries", dest="profile_all",
        action="store_true",
        help="profile every file executed, the standard library and installed packages too")
    add("--profile-only", type=_comma_list, default=(),
        help="profile only files whose path contains one of these comma-separated strings")
    add("--profile-exclude", type=_comma_list, default=(),
        help="do not profile files whose path contains one of these strings")

    add = parser.add_argument_group("outputs").add_argument
    add("--cli", action="store_true", help="print the text report to the terminal")
    add("--web", action="store_true",
        help="also open the HTML report in a browser, when there is one")
    add("--json", action="store_true", help="write the JSON profile to --outfile")
    add("--html", action="store_true", help="write the HTML report to --outfile")
    add("-o", "--outfile",
        help="where the report goes (JSON with --json or a .json name, HTML with --html or "
             "a .html name, else the text report); by default profile.json and "
             "profile.html (not with --cli) in the current directory")
    add("--reduced-profile", action="store_true",
        help="keep only lines at or above the thresholds in the profile")
    add("--live", action="store_true",
        help="watch the profile while the program runs: a view of the hottest lines on the "
             "terminal, refreshed every second (q leaves it, s changes the sort; the program "
             "runs on and the report follows at its end); plain text every 2 s when stdout "
             "is not a terminal")
    add("--profile-interval", type=seconds,
        help="rewrite the cumulative JSON profile every S seconds while the program runs")
    add("--cpu-percent-threshold", type=percent, default=1.0,
        help="hide lines and files below this %% of the time (default 1)")
    add("--malloc-threshold", type=_malloc_samples, default=100,
        help="hide memory lines that allocated less than N × 10 KiB (N allocation samples "
             "at 10 KiB each, or that many MB; default 100)")

    add = parser.add_argument_group("sampling").add_argument
    add("--cpu-sampling-rate", type=seconds, default=0.01,
        help="seconds of thread CPU time between samples (default 0.01)")
    add("--memory-sampling-interval", type=_positive_bytes, default=256 * 1024,
        help="mean bytes between allocation (and copy) samples (default 262144)")

    add = parser.add_argument_group("control").add_argument
    add("-v", "--verbose", action="store_true",
        help="say at the start which process is profiled and how to suspend it (without "
             "it, only a run still going after 10 s says so)")
    add("--off", action="store_true",
        help="start with profiling off (turn it on with triscope.start() or --pid N --on); "
             "with --pid: suspend that process's profiling")
    add("--pid", type=_pid, help="with --on or --off: the triscope-profiled process to resume "
                                "or suspend")
    add("--on", action="store_true", help="with --pid: resume profiling")
    return parser


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
        return cls.from_namespace(build_parser().parse_args(with_config(list(tokens))))

    @classmethod
    def from_namespace(cls, namespace: argparse.Namespace) -> "Options":
        """The options build_parser() parsed into `namespace`, resolved."""
        given = {name: getattr(namespace, name, None) for name in cls._fields}
        given.update(_dimensions(namespace))
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


def _dimensions(namespace: argparse.Namespace) -> dict:
    """Which of CPU, memory and GPU to profile, from --cpu, --memory, --gpu, --gpu-sync: the
    ones named, or all when none is. GPU time is charged to lines through the CPU and
    waiting samples, so asking for the GPU profiles CPU time too (as --cpu); without --gpu
    the GPU is profiled only when neither --cpu nor --memory is given (and the C core finds
    one)."""
    gpu_named = namespace.gpu or namespace.gpu_sync
    cpu_named = namespace.cpu or gpu_named
    return {"cpu": cpu_named or not namespace.memory,
            "memory": namespace.memory or not cpu_named,
            "gpu": gpu_named or not (cpu_named or namespace.memory),
            "gpu_asked": bool(gpu_named)}
