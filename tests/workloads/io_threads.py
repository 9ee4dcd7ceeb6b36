"""Four threads that wait on the OS, not for work: each sleeps, then reads a pipe that the
main thread writes to later. Their waits are I/O and sleep, counted as system time on the
two lines below.

Each thread times both lines (wall and thread CPU time); written to $GT_OUT as
{"sleep"|"read": {"wall_s", "cpu_s"} summed over the threads, "wall_s": whole run}.
usage: io_threads.py [seconds]   (each wait's length, default 0.6)
"""
import json
import os
import sys
import threading
import time
from time import perf_counter, thread_time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 0.6
truth = {"sleep": {"wall_s": 0.0, "cpu_s": 0.0}, "read": {"wall_s": 0.0, "cpu_s": 0.0}}
lock = threading.Lock()


def add(key, wall0, cpu0):
    with lock:
        truth[key]["wall_s"] += perf_counter() - wall0
        truth[key]["cpu_s"] += thread_time() - cpu0


def worker(fd):
    w, c = perf_counter(), thread_time()
    time.sleep(SECONDS)  # @sleep
    add("sleep", w, c)
    w, c = perf_counter(), thread_time()
    os.read(fd, 1)  # @read
    add("read", w, c)


start = perf_counter()
pipes = [os.pipe() for _ in range(4)]
threads = [threading.Thread(target=worker, args=(r,)) for r, _ in pipes]
for t in threads:
    t.start()
time.sleep(2 * SECONDS)
for _, w in pipes:
    os.write(w, b"x")
for t in threads:
    t.join()
truth["wall_s"] = perf_counter() - start
if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
