"""os.fork() in a loop while threads compute and allocate, with children that live a while.

Two threads keep computing and allocating in the parent. Each child starts a thread of its
own, computes, and leaves in one of four ways by turn: os._exit, sys.exit (running atexit
handlers, which must not write the parent's profile), falling off the end of a function that
raises SystemExit from a nested call, or after forking a grandchild and waiting for it. The
parent waits for each child with a deadline and kills one that hangs. Prints the children's
exit statuses (deterministic) and "fork ok".
usage: stress_fork.py [scale]   (scale 1.0: 24 forks)
"""
import os
import signal
import sys
import threading
import time
import warnings

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
FORKS = max(4, int(24 * SCALE))
DEADLINE_S = 20.0

# 3.12+ warns that forking a multi-threaded process may deadlock: the point of this program.
warnings.simplefilter("ignore", DeprecationWarning)
stop = threading.Event()


def compute(n):
    s = 0
    for i in range(n):
        s += (i * i) % 11  # @fork_compute
    return s


def background():
    while not stop.is_set():
        compute(5000)
        [bytearray(512) for _ in range(100)]  # @fork_alloc


def wait_child(pid):
    deadline = time.monotonic() + DEADLINE_S
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "hung"
        time.sleep(0.002)


def nested_exit(code):
    raise SystemExit(code)


def child(i):
    helper = threading.Thread(target=compute, args=(20_000,))
    helper.start()
    value = compute(10_000 + i)
    helper.join()
    way = i % 4
    if way == 0:
        os._exit(10 + value % 7)
    if way == 1:
        sys.exit(20 + value % 7)
    if way == 2:
        nested_exit(30 + value % 7)
    pid = os.fork()
    if pid == 0:
        os._exit(compute(1000 + i) % 7)
    status = wait_child(pid)
    os._exit(40 + status if isinstance(status, int) else 98)


threads = [threading.Thread(target=background, name=f"bg-{k}") for k in range(2)]
for t in threads:
    t.start()
statuses = []
for i in range(FORKS):
    pid = os.fork()
    if pid == 0:
        child(i)  # never returns: every way out ends the child
    statuses.append(wait_child(pid))
    compute(2000)
stop.set()
for t in threads:
    t.join()
print(" ".join(map(str, statuses)))
if "hung" in statuses:
    print("fork: a child hung", file=sys.stderr)
    sys.exit(1)
print("fork ok")
