"""`triscope dump PID`: the Python stack of every thread of a running process, now.

Like `py-spy dump`: for a process that seems hung, or to see where one is. The stacks are
read from outside, through the C core (_native.dump_process, docs/ARCHITECTURE.md "triscope
dump"): the target is never stopped, signalled or made to run anything, so a process stuck
in C code or holding the GIL forever can be read. That reading needs the same CPython
major.minor as the target's, since the structure layouts compiled into the extension are the
ones followed in its memory. This module only adds what /proc says (command line, thread
names, whether triscope profiles it) and prints the result, as text or as JSON
(docs/DEFINITIONS.md, "triscope dump").
"""

import json
import sys

from triscope.options import new_parser, UsageError
from triscope.ptrace_access import why_denied

def _read_proc(pid: int, name: str) -> str:
    try:
        with open(f"/proc/{pid}/{name}", encoding="utf-8", errors="replace") as file:
            return file.read()
    except OSError:
        return ""


def read(pid: int) -> dict:
    """The dump of process `pid` as the documented JSON object (docs/DEFINITIONS.md)."""
    from triscope import _native
    try:
        raw = _native.dump_process(pid)
    except PermissionError as error:
        raise UsageError(f"{error}: {why_denied(pid, 'read')}") from None
    except (ProcessLookupError, RuntimeError) as error:
        raise UsageError(str(error)) from None
    command = [arg for arg in _read_proc(pid, "cmdline").split("\0")[:-1]]
    profiled = "triscope/_native" in _read_proc(pid, "maps")
    threads = []
    # The interpreter lists its newest thread first; the oldest (the main one) reads first.
    for thread in reversed(raw["threads"]):
        native_id = thread["native_id"]
        name = _read_proc(pid, f"task/{native_id}/comm").rstrip("\n") or None
        threads.append({
            "native_id": native_id,
            "name": name,
            "main": native_id == pid,
            "holds_gil": thread["holds_gil"],
            "truncated": thread["truncated"],
            "frames": [{"function": function, "file": file, "line": line}
                       for function, file, line in thread["frames"]],
        })
    return {"pid": pid, "command": command, "python": raw["python"],
            "interpreter_file": raw["object"], "profiled_by_triscope": profiled,
            "threads": threads}


def format_text(dump: dict) -> str:
    lines = [f"Process {dump['pid']}: {' '.join(dump['command']) or '?'}",
             f"Python {dump['python']} ({dump['interpreter_file']}), "
             f"{'profiled' if dump['profiled_by_triscope'] else 'not profiled'} by triscope"]
    for thread in dump["threads"]:
        notes = [note for note, present in (("main thread", thread["main"]),
                                            ("holds the GIL", thread["holds_gil"]))
                 if present]
        name = f' "{thread["name"]}"' if thread["name"] is not None else ""
        lines.append("")
        lines.append(f"Thread {thread['native_id']}{name}"
                     + (f" ({', '.join(notes)})" if notes else ""))
        for frame in thread["frames"]:
            lines.append(f"    {frame['function']} ({frame['file']}:{frame['line']})")
        if thread["truncated"]:
            lines.append("    ... (outer frames not shown)")
        if not thread["frames"]:
            lines.append("    (no Python frames)")
    return "\n".join(lines) + "\n"


def main(argv: list) -> int:
    parser = new_parser(prog="triscope dump",
                        description="Print the Python stack of every thread of a running "
                                    "process, read from outside (the process is not stopped).")
    parser.add_argument("pid", type=int, help="the process to read")
    parser.add_argument("--json", action="store_true",
                        help="print the dump as JSON (docs/DEFINITIONS.md)")
    options = parser.parse_args(argv)
    if not 0 < options.pid < 2 ** 31:  # pid_t: anything else names no process
        raise UsageError(f"no process {options.pid}")
    dump = read(options.pid)
    sys.stdout.write(json.dumps(dump, indent=2) + "\n" if options.json else format_text(dump))
    return 0
