"""A plain Python program for `triscope attach` (tests/test_attach.py), never started under
triscope. It sets its own SIGINT, SIGTERM and SIGALRM handlers, prints "ready" when it is,
then works in the line marked @spin on its main thread while a reader thread takes commands
from stdin, one a line:

  state   prints (as one JSON line on stdout) what attaching must leave as it found it: the
          Python handlers of its signals and of triscope's, sys.path, builtins.profile,
          threading's thread bootstrap, the allocator hooks, the modules named triscope*
  unblock ends the C call (a read from a pipe) in which argv[1] "block" starts the main
          thread: a target that cannot run the attach code; it prints "unblocked" from a
          Python function, whose entry is a check where a pending script runs
  block   the main thread enters the same C call as "block" at the start, until "unblock"
  fork    the main thread forks; the child works a little and exits normally (status 0), the
          parent prints "child exited N"
  exit N  the main thread stops working and the program exits with status N
"""
import _signal
import builtins
import ctypes
import json
import os
import signal
import sys
import threading

start_blocked = sys.argv[1:2] == ["block"]
exit_status = None
fork_asked = block_asked = False
unblock_read, unblock_write = os.pipe()


def handler(signo, frame):
    pass


for signo in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
    signal.signal(signo, handler)


def allocators():
    """The raw bytes of Python's allocator hooks: PyMemAllocatorEx for PYMEM_DOMAIN_MEM (1)
    and PYMEM_DOMAIN_OBJ (2), and the arena allocator."""
    api = ctypes.pythonapi
    found = []
    for domain in (1, 2):
        hooks = ctypes.create_string_buffer(5 * ctypes.sizeof(ctypes.c_void_p))
        api.PyMem_GetAllocator(ctypes.c_int(domain), hooks)
        found.append(hooks.raw.hex())
    arena = ctypes.create_string_buffer(3 * ctypes.sizeof(ctypes.c_void_p))
    api.PyObject_GetArenaAllocator(arena)
    found.append(arena.raw.hex())
    return found


def state():
    rt = [signal.SIGRTMIN + n for n in (5, 6, 7)]
    return {
        "handlers": {str(int(s)): repr(signal.getsignal(s))
                     for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM, *rt)},
        "sys_path": list(sys.path),
        "profile_builtin": hasattr(builtins, "profile"),
        "bootstrap": threading.Thread._bootstrap_inner.__qualname__,
        "allocators": allocators(),
        "triscope_modules": sorted(m for m in sys.modules if m.startswith("triscope")),
        "signal_functions": [id(getattr(_signal, name)) for name in
                             ("signal", "getsignal", "pthread_sigmask", "siginterrupt")]
                            + [id(signal.siginterrupt)],
    }


def commands():
    global exit_status, fork_asked, block_asked
    for line in sys.stdin:
        word = line.split()
        if word == ["state"]:
            print(json.dumps(state()), flush=True)
        elif word == ["unblock"]:
            os.write(unblock_write, b"x")
        elif word == ["fork"]:
            fork_asked = True
        elif word == ["block"]:
            block_asked = True
        elif word[:1] == ["exit"]:
            exit_status = int(word[1])
            os.write(unblock_write, b"x")
            return


def unblocked():
    print("unblocked", flush=True)


def fork():
    import warnings
    warnings.simplefilter("ignore", DeprecationWarning)  # multi-threaded: its reader thread
    child = os.fork()
    if child == 0:
        for _ in range(100000):
            pass
        sys.exit(0)
    _, status = os.waitpid(child, 0)
    print(f"child exited {os.waitstatus_to_exitcode(status)}", flush=True)


threading.Thread(target=commands, daemon=True).start()
print("ready", flush=True)
if start_blocked:
    os.read(unblock_read, 1)  # a C call: the attach code cannot run meanwhile
    unblocked()
count = 0
while exit_status is None:
    count += sum([i * i for i in range(200)])  # @spin: the loop's own lines next to nothing
    if fork_asked:
        fork_asked = False
        fork()
    if block_asked:
        block_asked = False
        print("blocked", flush=True)
        os.read(unblock_read, 1)
        unblocked()
sys.exit(exit_status)
