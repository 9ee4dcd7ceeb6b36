"""Python-level version differences, in one place (the C core keeps its own in compat.h):
the call opcodes below, whether sys.remote_exec exists (`triscope attach`), and the
functions below threading and subprocess through which the launcher sees threads and
children start.

Awaited time (--async) is heard through sys.monitoring, which came in 3.12 (HAS_MONITORING).
The program's __main__ namespace differs too (MAIN_HAS_ANNOTATIONS, MAIN_HAS_CACHED).

The signal handler tells native time from Python time partly by the opcode the innermost
frame is executing: an opcode that calls out (CALL and every specialised or instrumented
variant of it, PRECALL on 3.11) means the interpreter is running C code on the line's behalf.
Opcode numbers differ per version, so the table is built here from the interpreter's opcode
module alone (dis, which holds the same names, costs 1.6 ms to import) — when the extension
is built, for the interpreter it is built for (tools/call_opcodes_header.py runs this file on
its own): a run does not import opcode for it.
"""

import _thread
import sys

# sys.remote_exec (3.14+; docs/ARCHITECTURE.md, "Attaching to a running process"): has a
# running interpreter run a script at its next check.
# `triscope attach` needs it; on 3.11-3.13 it says so in one line.
HAS_REMOTE_EXEC = hasattr(sys, "remote_exec")


def remote_exec(pid: int, script: str) -> None:
    sys.remote_exec(pid, script)


HAS_MONITORING = sys.version_info >= (3, 12)

# What the interpreter's own __main__ namespace holds beside __name__, __doc__, __package__,
# __loader__, __spec__ and __builtins__, which the launcher's fresh one copies (a program
# listing its globals must find Python's): an empty __annotations__ until 3.14, whose
# annotations are evaluated lazily; and, beside __file__, __cached__ (None for a program)
# until 3.15.
MAIN_HAS_ANNOTATIONS = sys.version_info < (3, 14)
MAIN_HAS_CACHED = sys.version_info < (3, 15)

# The _thread function with which threading.Thread.start starts a thread, which threading
# binds as `_` + its name when it is imported (launch._install_thread_hook).
THREAD_START = ("start_joinable_thread" if hasattr(_thread, "start_joinable_thread")
                else "start_new_thread")  # 3.13 and later; before

# Where _posixsubprocess.fork_exec(args, executable_list, close_fds, pass_fds, cwd, env, ...),
# through which subprocess and multiprocessing start children, takes what the children's
# hook reads (children.watch_environments): the same positions in 3.11 to 3.15, whose
# later arguments differ (3.14 dropped allow_vfork). An interpreter-private function, so
# its positions are kept here with the other version facts.
FORK_EXEC_ARGS, FORK_EXEC_EXECUTABLES, FORK_EXEC_ENV = 0, 1, 5


def call_opcodes() -> bytes:
    """A 256-byte table: 1 for opcodes that call out of the bytecode loop."""
    import opcode  # at build time (tools/call_opcodes_header.py), not in a run
    names = dict(enumerate(opcode.opname))
    specialized = getattr(opcode, "_specialized_opmap", None)
    if specialized is not None:  # 3.13+: the specialised opcodes' own numbers
        names.update({number: name for name, number in specialized.items()})
    else:  # 3.11, 3.12: they take the unused numbers in turn, as dis numbers them
        unused = [number for number, name in names.items() if name.startswith("<")]
        names.update(zip(unused, opcode._specialized_instructions))
    table = bytearray(256)
    for number, name in names.items():
        if 0 <= number < 256 and "CALL" in name:
            table[number] = 1
    return bytes(table)
