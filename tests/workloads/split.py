"""Pure-Python work split 50/30/20 over three lines in three functions.

Each hot line is a whole loop on one line, so all of its bytecode belongs to that line. The
calls alternate over ROUNDS rounds; each call is timed here (wall and thread CPU time) and the
sums are written to $GT_OUT as {"<marker>": {"wall_s", "cpu_s", "cpu_wait_s"}, ..., "wall_s": whole run}.
usage: split.py [scale]   (scale 1.0 is about 4.5 s; the shares do not depend on it)
"""
import json
import os
import sys
from time import perf_counter, thread_time

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROUNDS = 5
UNIT = int(2_300_000 * SCALE)  # iterations per 10% share

truth = {}


def add(key, wall0, cpu0):
    wall, (cpu, delay) = perf_counter(), cpu_clocks()
    slot = truth.setdefault(key, {"wall_s": 0.0, "cpu_s": 0.0, "cpu_wait_s": 0.0})
    slot["wall_s"] += wall - wall0
    slot["cpu_s"] += cpu - cpu0[0]
    slot["cpu_wait_s"] += delay - cpu0[1]


def run_delay():
    """Seconds this thread has so far been ready to run but waited for a CPU (the kernel's
    run-queue delay, /proc/self/task/TID/schedstat): triscope counts that time on the line
    that was preempted (docs/PROFILE_FORMAT.md). 0 where the kernel does not give it."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_clocks():
    """(CPU time, run-queue delay) of this thread so far."""
    return thread_time(), run_delay()


def func_a(n):
    acc = 0
    for ia in range(n): acc += (ia * 7) % 13  # @hot_a
    return acc


def func_b(n):
    acc = 0
    for ib in range(n): acc += (ib * 7) % 13  # @hot_b
    return acc


def func_c(n):
    acc = 0
    for ic in range(n): acc += (ic * 7) % 13  # @hot_c
    return acc


start = perf_counter()
for _ in range(ROUNDS):
    w, c = perf_counter(), cpu_clocks()
    func_a(5 * UNIT)  # @call_a
    add("hot_a", w, c)
    w, c = perf_counter(), cpu_clocks()
    func_b(3 * UNIT)  # @call_b
    add("hot_b", w, c)
    w, c = perf_counter(), cpu_clocks()
    func_c(2 * UNIT)  # @call_c
    add("hot_c", w, c)
truth["wall_s"] = perf_counter() - start

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
