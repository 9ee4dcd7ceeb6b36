"""The `triscope` command line (docs/DEFINITIONS.md): parses it and dispatches, nothing more.

`triscope [run] [options] program` profiles a program (launch.run, with the Options of
options.py; when memory is profiled, in an interpreter re-executed with the allocator library
first, preload.py); `triscope --pid N --on/--off` resumes or suspends one (control, here);
each profile tool (`view`, `diff`, `merge`, `export`, `optimize`) is a module with its own
main(argv), and so is `attach` (profiles a running process from outside: attach.py). Every
error of triscope's own is one line on stderr, `triscope: error: ...`, and exit status 2: the modules below raise UsageError, and main turns it into that line. The
program's options are never parsed here: everything after the program (or after `---`) is
handed to it untouched.

Only the entry points (`__main__.py`, the console script) import this module: everything
else sits below it (tests/test_structure.py). It imports options.py only once it is needed:
a command line without options (`triscope prog.py`, the common case) is the default run,
which profiles memory, so the interpreter re-executes under the allocator library before
importing anything else, and the new image parses it. The options of a run are read without
argparse where they can be (options.quick_values; importing argparse and building its parser
take about 9 ms): --help, errors, --config and the profile tools' command lines still go
through it.
"""

import importlib
import os
import sys

from triscope import preload

# Each profile tool: the module whose main(argv) runs it. `run` is implied when the first
# word is none of these.
PROFILE_TOOLS = {
    "view": "triscope.reports.view",
    "diff": "triscope.reports.diff",
    "merge": "triscope.reports.merge",
    "export": "triscope.reports.export",
    "optimize": "triscope.optimize",
    "dump": "triscope.dump",
    "attach": "triscope.attach",
}


def fail(message: str) -> int:
    print(f"triscope: error: {message}", file=sys.stderr)
    return 2


def split_command_line(argv: list):
    """Splits triscope's options from the program: (options, program, is_module, args)."""
    from triscope.options import OPTIONS_WITH_VALUE, UsageError
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


def run_tool(name: str, argv: list) -> int:
    """A profile tool, ending as any Unix filter does when its reader goes away
    (`triscope view p.json | head`): silently, killed by SIGPIPE, not with a traceback."""
    try:
        status = importlib.import_module(PROFILE_TOOLS[name]).main(argv)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # Python ignores SIGPIPE and reports EPIPE as this exception instead; whatever is
        # still buffered for the closed pipe goes nowhere, so the flush at exit cannot fail.
        import signal
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGPIPE)
        return 128 + signal.SIGPIPE  # not reached: SIGPIPE's default action ends the process


def _no_options(argv: list) -> bool:
    """Whether the command line starts with the program (`prog.py`, `-m module`,
    `--- prog.py`): no option of triscope's, every one at its default."""
    if not argv:
        return False
    return argv[0] in ("-m", "---") and len(argv) >= 2 or not argv[0].startswith("-")


def main(argv: list = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    tool = argv[0] if argv and argv[0] in PROFILE_TOOLS else None
    if argv and argv[0] == "run":
        argv = argv[1:]
    reexec_tried = tool is None and _no_options(argv) and not preload.in_place(launcher=True)
    if reexec_tried:
        preload.reexec(preload.triscope_command(argv))  # returns only if it cannot
    from triscope.options import Options, UsageError, run_values
    try:
        if tool is not None:
            return run_tool(tool, argv[1:])
        own, program, is_module, program_args = split_command_line(argv)
        values = run_values(own)
        if values["pid"] is not None:
            if program is not None:
                raise UsageError("--pid controls a running process: give no program")
            return control(values["pid"], values["on"], values["off"])
        if program is None:
            raise UsageError("no program to profile (try: triscope your_program.py)")
        options = Options.from_values(values)
        if options.memory and not reexec_tried and not preload.in_place(launcher=True):
            # Before the launcher is even imported: the interpreter re-executed checks the
            # outputs and reads the program itself, so whatever this one did besides would
            # be start-up time spent twice (and `-m pkg.mod` would import pkg twice).
            preload.reexec(preload.triscope_command(argv))  # returns only if it cannot
        from triscope import launch
        return launch.run(options, program, is_module, program_args)
    except UsageError as error:
        return fail(str(error))
