"""The `triscope` command line (SPEC §1): option parsing and triscope's own errors.

Every error of triscope's own is one line on stderr, `triscope: error: ...`, and exit
status 2. The program's options are never parsed here: everything after the program (or
after `---`) is handed to it untouched.
"""

import argparse
import json
import os
import sys

from triscope import __version__

# Subcommands of Scalene 2.x habits; `run` is also implied when absent.
PROFILE_TOOLS = ("view", "diff", "merge", "export", "optimize")
NOT_YET = {}
OPTIONS_WITH_VALUE = {
    "-o", "--outfile", "--profile-only", "--profile-exclude", "--cpu-percent-threshold",
    "--cpu-sampling-rate", "--malloc-threshold", "--profile-interval", "--pid",
    "--memory-sampling-interval",
}


class UsageError(Exception):
    """Bad input on the command line: reported as one line, exit status 2."""


class _GpuAction(argparse.Action):
    """--gpu: GPU time is charged to lines through the CPU and waiting samples, so asking
    for the GPU profiles CPU time too (as --cpu; combine with --memory for memory)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.gpu = namespace.cpu = True
        if option_string == "--gpu-sync":
            namespace.gpu_sync = True


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def fail(message: str) -> int:
    print(f"triscope: error: {message}", file=sys.stderr)
    return 2


def _comma_list(text: str) -> list:
    return [part for part in text.split(",") if part]


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


# The ranges of the numeric options. A value outside them is a typing slip, not a wish:
# 2**30 bytes between memory samples already takes about one sample per gigabyte allocated,
# and a pid above the kernel's largest pid_max (2**22) names no process.
_seconds = bounded(float, 0.0001, 10, "seconds")
_percent = bounded(float, 0, 100, "percent")
_positive_bytes = bounded(int, 1, 2 ** 30, "bytes")
_malloc_samples = bounded(int, 0, 10 ** 9, "samples")
_pid = bounded(int, 1, 2 ** 22)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="triscope",
        description="A CPU, GPU and memory profiler for Python.",
        usage="triscope [run] [options] (program.py | -m module | --- program.py) [args...]\n"
              "       triscope view profile.json [--cli | --html | --web] [-o FILE]",
        epilog="Profile tools (each has --help): triscope view profile.json renders a saved "
               "profile; diff before.json after.json compares two; merge combines several; "
               "export --format speedscope|collapsed writes flame-graph input; optimize asks "
               "an AI model for proposals.",
    )
    add = parser.add_argument
    add("--version", action="version", version=f"triscope {__version__}")
    add("--cpu", "--cpu-only", dest="cpu", action="store_true",
        help="profile CPU time only (combine with --gpu, --memory); default: CPU, memory, "
             "and the GPU when an NVIDIA one is found")
    add("--gpu", action=_GpuAction,
        help="profile NVIDIA GPU time and memory through NVML (with CPU time, which the GPU "
             "time is charged through; combine with --memory)")
    add("--gpu-sync", action=_GpuAction,
        help="as --gpu, with CUDA kernel launches made blocking (CUDA_LAUNCH_BLOCKING=1 for "
             "the program) so GPU time lands on the lines that launch the kernels; slows "
             "programs that overlap CPU and GPU work (docs/ARCHITECTURE.md, GPU)")
    add("--memory", action="store_true", help="profile memory only (combine with --cpu, --gpu)")
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
        help="keep only lines at or above the CPU threshold in the profile")
    add("--profile-interval", type=_seconds,
        help="rewrite the cumulative JSON profile every S seconds while the program runs")
    add("--profile-all", action="store_true", help="profile every file executed")
    add("--profile-only", type=_comma_list, default=[],
        help="profile only files whose path contains one of these comma-separated strings")
    add("--profile-exclude", type=_comma_list, default=[],
        help="do not profile files whose path contains one of these strings")
    add("--use-virtual-time", action="store_true",
        help="measure CPU time only, not waiting time")
    add("--idle", action="store_true",
        help="count the time of threads waiting for work (blocked on a lock, event, queue, "
             "join or in an idle pool) in the percentages; by default it is only reported")
    add("--cpu-percent-threshold", type=_percent, default=1.0,
        help="hide lines and files below this %% of the time (default 1)")
    add("--cpu-sampling-rate", type=_seconds, default=0.01,
        help="seconds of thread CPU time between samples (default 0.01)")
    add("--malloc-threshold", type=_malloc_samples, default=100,
        help="hide memory lines with fewer than N allocation samples, counted at 10 KiB "
             "each so N means the same volume at any sampling interval (default 100)")
    add("--memory-sampling-interval", type=_positive_bytes, default=256 * 1024,
        help="mean bytes between allocation (and copy) samples (default 262144)")
    add("--stacks", action="store_true", help="record full call stacks")
    add("--off", action="store_true",
        help="start with profiling off (turn it on with triscope.start() or --pid N --on); "
             "with --pid: suspend that process's profiling")
    add("--pid", type=_pid, help="with --on or --off: the triscope-profiled process to resume "
                                "or suspend")
    add("--on", action="store_true", help="with --pid: resume profiling")
    return parser


def split_command_line(argv: list):
    """Splits triscope's options from the program: (options, program, is_module, args)."""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "---":
            rest = argv[i + 1:]
            if rest[:1] == ["-m"]:
                if len(rest) < 2:
                    raise UsageError("-m needs a module name")
                return argv[:i], rest[1], True, rest[2:]
            if not rest:
                raise UsageError("no program given after ---")
            return argv[:i], rest[0], False, rest[1:]
        if token == "-m":
            if i + 1 >= len(argv):
                raise UsageError("-m needs a module name")
            return argv[:i], argv[i + 1], True, argv[i + 2:]
        if token.startswith("-") and token != "-":
            if token in OPTIONS_WITH_VALUE:
                i += 1
            i += 1
            continue
        return argv[:i], token, False, argv[i + 1:]
    return argv, None, False, []


def view(argv: list) -> int:
    parser = _Parser(prog="triscope view", description="Render a saved profile.")
    parser.add_argument("profile")
    parser.add_argument("--cli", action="store_true",
                        help="text report on stdout (the default without --html, --web, -o)")
    parser.add_argument("--html", action="store_true",
                        help="write the HTML report: to -o FILE, else beside the profile "
                             "(profile.json gives profile.html)")
    parser.add_argument("--web", action="store_true",
                        help="write the HTML report and open it in a browser, when there is one")
    parser.add_argument("-o", "--outfile", help="where the HTML report goes")
    parser.add_argument("--cpu-percent-threshold", type=_percent, default=1.0,
                        help="hide lines and files below this %% of the time (default 1)")
    options = parser.parse_args(argv)
    as_html = options.html or options.web or options.outfile is not None
    profile = _load_profile(options.profile)
    from triscope import launch
    html_path = os.path.abspath(options.outfile or os.path.splitext(options.profile)[0] + ".html")
    try:
        if options.cli or not as_html:
            launch.print_report(profile, sys.stdout, options.cpu_percent_threshold, 100)
        if as_html:
            launch.write_html(profile, html_path, options.web)
    except OSError as error:
        return fail(f"cannot write the report: {error}")
    except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError,
            RecursionError) as error:
        return fail(f"{options.profile} is malformed: {error!r}")
    return 0


def merge_command(argv: list) -> int:
    """`triscope merge -o out.json a.json b.json ...`: one profile of many processes."""
    parser = _Parser(prog="triscope merge",
                     description="Combine profiles (processes, hosts) into one.")
    parser.add_argument("-o", "--outfile", required=True, help="the combined profile")
    parser.add_argument("profiles", nargs="+")
    options = parser.parse_args(argv)
    from triscope.reports import merge
    profiles = [_load_profile(path) for path in options.profiles]
    try:
        combined = merge.merge(profiles)
    except (merge.MergeError, LookupError, TypeError, ValueError, AttributeError,
            ArithmeticError, RecursionError) as error:
        return fail(f"cannot merge these profiles: {error!r}")
    try:
        merge.write(combined, options.outfile)
    except merge.MergeError as error:
        return fail(f"cannot merge these profiles: {error}")
    except OSError as error:
        return fail(f"cannot write {options.outfile}: {error.strerror}")
    print(f"triscope: {len(profiles)} profiles merged into {options.outfile}", file=sys.stderr)
    return 0


# No measurement of a real run comes near these: a number beyond them is a damaged or forged
# file, and refusing it here keeps every sum and ratio the tools compute finite.
LARGEST_FLOAT = 1e15
LARGEST_INT = 2 ** 63


def _parse_float(text: str) -> float:
    value = float(text)
    if not abs(value) <= LARGEST_FLOAT:  # also NaN
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _parse_int(text: str) -> int:
    value = int(text)
    if abs(value) > LARGEST_INT:
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _parse_constant(name: str):
    raise ValueError(f"{name} is not a number in a profile")


def _load_profile(path: str) -> dict:
    """A triscope/1 profile from `path`, or a UsageError saying why not (not JSON, not
    triscope/1, numbers no run could produce, anything docs/profile.schema.json rejects)."""
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except IsADirectoryError:
        raise UsageError(f"cannot read {path}: it is a directory") from None
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{path} is not a JSON profile: {str(error)[:200]}") from None
    return parse_profile(text, path)


def parse_profile(text: str, name: str) -> dict:
    """The triscope/1 profile in `text` (from `name`), or a UsageError saying why not. The
    writers run what they write through this too, so a reader never meets a profile a
    triscope tool wrote and cannot read."""
    try:
        profile = json.loads(text, parse_float=_parse_float, parse_int=_parse_int,
                             parse_constant=_parse_constant)
    except (ValueError, RecursionError) as error:
        raise UsageError(f"{name} is not a JSON profile: {str(error)[:200]}") from None
    if not isinstance(profile, dict) or profile.get("schema") != "triscope/1":
        raise UsageError(f"{name} is not a triscope/1 profile")
    from triscope.reports import validate
    try:
        validate.check(profile)
    except validate.Invalid as error:
        raise UsageError(f"{name} is not a valid triscope/1 profile "
                         f"(docs/profile.schema.json): {_one_line(str(error))}") from None
    except RecursionError:
        raise UsageError(f"{name} is not a triscope/1 profile: nested too deeply") from None
    return profile


def _one_line(text: str, limit: int = 200) -> str:
    """`text` with no control character (a forged key may hold any) and at most `limit`
    characters, for an error line."""
    text = "".join(c if c.isprintable() else "\ufffd" for c in text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _handles_signals(pid: int, signals: tuple) -> bool:
    """Whether process `pid` has a handler on each of `signals` now (SigCgt, /proc(5))."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            caught = next((int(line.split()[1], 16) for line in status
                           if line.startswith("SigCgt:")), 0)
    except (OSError, ValueError, IndexError):
        return False
    return all(caught >> (signo - 1) & 1 for signo in signals)


def control(pid: int, on: bool, off: bool) -> int:
    """`triscope --pid N --on/--off`: resume or suspend a process run by triscope."""
    if on == off:
        return fail("--pid needs exactly one of --on or --off")
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
            profiled = any("triscope/_native" in line for line in maps)
    except FileNotFoundError:
        return fail(f"no process {pid}")
    except PermissionError:
        return fail(f"process {pid} belongs to another user")
    if not profiled:
        return fail(f"process {pid} is not being profiled by triscope")
    from triscope import _native
    # Loading the extension is not enough: only a process whose profile has begun handles
    # the control signals, and to any other one of them is fatal.
    if not _handles_signals(pid, (_native.SIGNAL_SUSPEND, _native.SIGNAL_RESUME)):
        return fail(f"process {pid} is not being profiled by triscope now "
                    "(its profile has not begun): nothing sent")
    try:
        _native.send_control(pid, on)
    except ProcessLookupError:
        return fail(f"no process {pid}")
    except PermissionError:
        return fail(f"process {pid} belongs to another user")
    print(f"triscope: profiling of process {pid} {'resumed' if on else 'suspended'}",
          file=sys.stderr)
    return 0


def main(argv: list = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in PROFILE_TOOLS:
            if argv[0] == "view":
                return view(argv[1:])
            if argv[0] == "merge":
                return merge_command(argv[1:])
            if argv[0] == "diff":
                from triscope.reports import diff
                return diff.main(argv[1:])
            if argv[0] == "export":
                from triscope.reports import export
                return export.main(argv[1:])
            if argv[0] == "optimize":
                from triscope import optimize
                return optimize.main(argv[1:])
            return fail(f"'triscope {argv[0]}' is not available yet")
        if argv and argv[0] == "run":
            argv = argv[1:]
        own, program, is_module, program_args = split_command_line(argv)
        options = build_parser().parse_args(own)
        for flag, feature in NOT_YET.items():
            value = getattr(options, flag.lstrip("-").replace("-", "_"))
            if value is not None and value is not False:  # given on the command line
                print(f"triscope: {flag}: {feature} is not available yet in this version",
                      file=sys.stderr)
        if options.pid is not None:
            if program is not None:
                raise UsageError("--pid controls a running process: give no program")
            return control(options.pid, options.on, options.off)
        if program is None:
            raise UsageError("no program to profile (try: triscope your_program.py)")
        from triscope import launch
        return launch.run(options, program, is_module, program_args, argv)
    except UsageError as error:
        return fail(str(error))
