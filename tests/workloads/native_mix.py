"""Native, Python and system time on three separate lines.

Per round: zlib.compress of an 8 MB buffer (native: the time is spent in libz), a one-line
pure-Python loop (Python), and time.sleep (system: wall-clock time that is not CPU time).
Each line is timed here, wall and thread CPU time; written to $GT_OUT as
{"native_zlib"|"pure"|"sleep": {"wall_s", "cpu_s", "cpu_wait_s"}, "wall_s": whole run}.
usage: native_mix.py [scale]   (scale 1.0 is about 4.5 s)
"""
import json
import os
import random
import sys
import time
import zlib
from time import perf_counter, thread_time

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROUNDS = 4
PURE_ITERS = int(10_000_000 * SCALE)
SLEEP_S = 0.3 * SCALE

# 16-letter pseudo-text: compressible enough that zlib does real matching work.
TABLE = bytes(b"abcdefghijklmnop"[i % 16] for i in range(256))
DATA = random.Random(7).randbytes(int(8_000_000 * max(SCALE, 0.1))).translate(TABLE)

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


def pure(n):
    acc = 0
    for i in range(n): acc += (i * 7) % 13  # @pure
    return acc


start = perf_counter()
for _ in range(ROUNDS):
    w, c = perf_counter(), cpu_clocks()
    blob = zlib.compress(DATA, 6)  # @native_zlib
    add("native_zlib", w, c)
    w, c = perf_counter(), cpu_clocks()
    pure(PURE_ITERS)
    add("pure", w, c)
    w, c = perf_counter(), cpu_clocks()
    time.sleep(SLEEP_S)  # @sleep
    add("sleep", w, c)
truth["wall_s"] = perf_counter() - start

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
