"""os.fork() without exec, FORKS times, while another thread keeps allocating.

A background thread churns Python and native (ctypes malloc/free) allocations the whole time,
so a fork can happen while it is inside the allocator. Each child allocates (a 10 MiB
bytearray, native malloc/free, a list of small objects), checks what it built, and leaves
with os._exit(0) (os._exit(3) on a wrong result). The parent waits for each child with a
deadline: a child that does not finish within CHILD_DEADLINE_S is reported as hung, killed,
and the program exits 1. Prints "forks: <n> ok" on success. Written to $GT_OUT:
{"forks", "statuses", "hung", "wall_s"}.
usage: mem_fork.py [forks]   (default 20)
"""
import ctypes
import json
import os
import signal
import sys
import threading
import time
from time import perf_counter

FORKS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
CHILD_DEADLINE_S = 20.0
MB = 1 << 20

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.restype = None
libc.free.argtypes = [ctypes.c_void_p]

stop = threading.Event()


def churn():
    n = 0
    while not stop.is_set():
        blocks = [libc.malloc(4096 + 997 * (k % 64)) for k in range(64)]  # @fork_churn_native
        for b in blocks:
            libc.free(b)
        junk = [bytearray(1000 + k) for k in range(200)]  # @fork_churn_py
        n += len(junk)


def child(i):
    big = bytearray(10 * MB)  # @child_alloc
    big[-1] = i % 256
    p = libc.malloc(MB)
    ctypes.memset(p, 7, MB)
    ok = ctypes.string_at(p, 16) == b"\x07" * 16
    libc.free(p)
    small = [str(k) for k in range(10_000)]
    ok = ok and big[-1] == i % 256 and small[-1] == "9999"
    os._exit(0 if ok else 3)


background = threading.Thread(target=churn, name="churn", daemon=True)
background.start()
time.sleep(0.1)
start = perf_counter()
statuses, hung = [], []
for i in range(FORKS):
    pid = os.fork()
    if pid == 0:
        child(i)
    deadline = time.monotonic() + CHILD_DEADLINE_S
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            statuses.append(os.waitstatus_to_exitcode(status))
            break
        if time.monotonic() > deadline:
            hung.append(i)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            statuses.append(None)
            break
        time.sleep(0.01)
    time.sleep(0.05)
wall = perf_counter() - start
stop.set()
background.join()

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump({"forks": FORKS, "statuses": statuses, "hung": hung, "wall_s": wall}, f)
if hung or any(s != 0 for s in statuses):
    print(f"forks: hung {hung}, statuses {statuses}", file=sys.stderr)
    sys.exit(1)
print(f"forks: {FORKS} ok")
