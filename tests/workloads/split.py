"""Pure-Python work split 50/30/20 over three lines in three functions.

Each hot line is a whole loop on one line, so all of its bytecode belongs to that line. The
calls alternate over ROUNDS rounds; each call is timed here (wall and thread CPU time) and the
sums are written to $GT_OUT as {"<marker>": {"wall_s", "cpu_s", "cpu_wait_s"}, ..., "wall_s": whole run}.
usage: split.py [scale]   (scale 1.0 is about 4.5 s; the shares do not depend on it)
"""
import json
import os
import sys
from time import perf_counter

import thread_clocks

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROUNDS = 5
UNIT = int(2_300_000 * SCALE)  # iterations per 10% share

truth = {}


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
    started = thread_clocks.start()
    func_a(5 * UNIT)  # @call_a
    thread_clocks.add(truth, "hot_a", started)
    started = thread_clocks.start()
    func_b(3 * UNIT)  # @call_b
    thread_clocks.add(truth, "hot_b", started)
    started = thread_clocks.start()
    func_c(2 * UNIT)  # @call_c
    thread_clocks.add(truth, "hot_c", started)
truth["wall_s"] = perf_counter() - start

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
