"""`triscope export --format speedscope|collapsed profile.json`: the recorded call stacks in
the formats flame-graph tools read.

Both are made from the profile's `stacks` (recorded with `--stacks`): each stack is a list
of [file, function, line] frames, outermost first, with the thread time spent in it.

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

A frame is named `function (file:line)`, file relative to the directory all the stack's
files share, so two calls from different lines of one function are two frames, as in the
line-level report.
"""

import json
import sys

from triscope import __version__
from triscope.options import Parser, UsageError
from triscope.reports import common

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"
FORMATS = ("speedscope", "collapsed")


def _stacks(profile: dict) -> list:
    """[(frames, seconds)] with frames [(file, function, line)], only stacks with time."""
    stacks = []
    for stack in profile["stacks"]:
        frames = []
        for frame in stack["frames"]:
            if not isinstance(frame, list) or len(frame) != 3:
                raise ValueError("a stack frame is not [file, function, line]")
            frames.append((common.text(frame[0]), common.text(frame[1]),
                           common.count(frame[2])))
        seconds = common.number(stack["seconds"])
        if frames and seconds > 0:
            stacks.append((frames, seconds))
    return stacks


def _frame_names(stacks: list) -> dict:
    """(file, function, line) → its display name, files shortened by what they share."""
    frames = {frame for stack, _ in stacks for frame in stack}
    shared = common.common_dir(path for path, _, _ in frames)
    return {frame: f"{frame[1]} ({common.short_name(frame[0], shared)}:{frame[2]})"
            for frame in sorted(frames)}


def speedscope(profile: dict, stacks: list) -> dict:
    """A speedscope file: one sampled profile of all threads, weighted in seconds."""
    names = _frame_names(stacks)
    index = {frame: i for i, frame in enumerate(names)}
    total = sum(seconds for _, seconds in stacks)
    program = str(profile.get("program", "program"))
    return {
        "$schema": SPEEDSCOPE_SCHEMA,
        "name": f"triscope: {program}",
        "exporter": f"triscope {__version__}",
        "activeProfileIndex": 0,
        "shared": {"frames": [{"name": names[frame], "file": frame[0], "line": frame[2]}
                              for frame in names]},
        "profiles": [{
            "type": "sampled",
            "name": f"{program} (all threads)",
            "unit": "seconds",
            "startValue": 0,
            "endValue": total,
            "samples": [[index[frame] for frame in frames] for frames, _ in stacks],
            "weights": [seconds for _, seconds in stacks],
        }],
    }


# Every character some reader of folded stacks may take for the end of a line (Python's
# str.splitlines breaks on all of these; perl and most tools on \n, some on \r).
LINE_BREAKS = {ord(c): " " for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def _folded_frame(name: str) -> str:
    # ';' separates frames and a line ends a stack: neither may occur inside one.
    return name.replace(";", ":").translate(LINE_BREAKS)


def collapsed(stacks: list) -> str:
    """Folded stacks: `frame;frame;frame count`, count in microseconds of thread time."""
    names = _frame_names(stacks)
    folded = {}
    for frames, seconds in stacks:
        key = ";".join(_folded_frame(names[frame]) for frame in frames)
        folded[key] = folded.get(key, 0.0) + seconds
    lines = []
    for key, seconds in sorted(folded.items()):
        micros = round(seconds * 1e6)
        if micros > 0:
            lines.append(f"{key} {micros}")
    return "".join(line + "\n" for line in lines)


def main(argv: list) -> int:
    """`triscope export --format speedscope|collapsed profile.json [-o FILE]`."""
    parser = Parser(prog="triscope export",
                    description="Export the call stacks of a profile recorded with --stacks "
                                "for flame-graph tools.")
    parser.add_argument("--format", required=True, choices=FORMATS,
                        help="speedscope: a speedscope.app JSON file (one sampled profile of "
                             "all threads, weights in seconds); collapsed: folded stacks "
                             "'frame;frame;frame count', count in microseconds")
    parser.add_argument("profile")
    parser.add_argument("-o", "--outfile", help="where the export goes (default: stdout)")
    options = parser.parse_args(argv)
    profile = common.load(options.profile)
    with common.reading(options.profile):
        stacks = _stacks(profile)
        if not stacks:
            raise UsageError(f"{options.profile} has no call stacks: record them with "
                             "'triscope --stacks ...'")
        if options.format == "speedscope":
            content = json.dumps(speedscope(profile, stacks), allow_nan=False) + "\n"
        else:
            content = collapsed(stacks)
    if options.outfile:
        common.write_output(content, options.outfile)
        print(f"triscope: {options.format} export written to {options.outfile}",
              file=sys.stderr)
    elif options.format == "collapsed" and sys.stdout.isatty():
        # Names are kept exact for the file or pipe a flame-graph tool reads, but a terminal
        # gets no control character from an untrusted profile (docs/ARCHITECTURE.md).
        sys.stdout.write(common.terminal_text(content) + ("\n" if content else ""))
    else:
        sys.stdout.write(content)
    return 0
