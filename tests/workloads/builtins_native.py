"""Long-running C builtins count as native time (SPEC §3): sorted() on a big list runs inside
libpython without executing bytecode; hashlib runs in OpenSSL. A pure-Python line is the
control. Each line is timed here; written to $GT_OUT as
{"native_sorted"|"native_sha"|"pure": {"wall_s", "cpu_s", "cpu_wait_s"}, "wall_s": whole run}.
usage: builtins_native.py [scale]   (scale 1.0 is about 4 s)
"""
import hashlib
import json
import os
import random
import sys
from time import perf_counter, thread_time

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROUNDS = 4
PURE_ITERS = int(10_000_000 * SCALE)

rng = random.Random(11)
FLOATS = [rng.random() for _ in range(int(2_000_000 * SCALE))]
BUF = rng.randbytes(int(32_000_000 * SCALE))

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
    ordered = sorted(FLOATS)  # @native_sorted
    add("native_sorted", w, c)
    del ordered
    w, c = perf_counter(), cpu_clocks()
    for _ in range(8): digest = hashlib.sha256(BUF).digest()  # @native_sha
    add("native_sha", w, c)
    w, c = perf_counter(), cpu_clocks()
    pure(PURE_ITERS)
    add("pure", w, c)
truth["wall_s"] = perf_counter() - start

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
