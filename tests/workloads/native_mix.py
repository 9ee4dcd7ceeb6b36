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
from time import perf_counter

import thread_clocks

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROUNDS = 4
PURE_ITERS = int(10_000_000 * SCALE)
SLEEP_S = 0.3 * SCALE

# 16-letter pseudo-text: compressible enough that zlib does real matching work.
TABLE = bytes(b"abcdefghijklmnop"[i % 16] for i in range(256))
DATA = random.Random(7).randbytes(int(8_000_000 * max(SCALE, 0.1))).translate(TABLE)

truth = {}


def pure(n):
    acc = 0
    for i in range(n): acc += (i * 7) % 13  # @pure
    return acc


start = perf_counter()
for _ in range(ROUNDS):
    started = thread_clocks.start()
    blob = zlib.compress(DATA, 6)  # @native_zlib
    thread_clocks.add(truth, "native_zlib", started)
    started = thread_clocks.start()
    pure(PURE_ITERS)
    thread_clocks.add(truth, "pure", started)
    started = thread_clocks.start()
    time.sleep(SLEEP_S)  # @sleep
    thread_clocks.add(truth, "sleep", started)
truth["wall_s"] = perf_counter() - start

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
