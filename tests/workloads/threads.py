"""Two threads run the same pure-Python function, 2:1 in iterations, while main joins.

Worker A (started from run_a) does 2*N iterations, worker B (run_b) N. Each worker records
its native thread id, its own CPU time (time.thread_time), the time it waited for a CPU
(run-queue delay) and wall time; main records the time it spent in join. Written to $GT_OUT as
{"a"|"b": {"tid", "iters", "cpu_s", "cpu_wait_s", "wall_s"}, "main": {"tid", "join_s"},
"wall_s"}.
usage: threads.py [scale]   (scale 1.0 is about 4.5 s of CPU, on one core because of the GIL)
"""
import json
import os
import sys
import threading
from time import perf_counter

import thread_clocks

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
N = int(38_000_000 * SCALE)

truth = {}


def work(n):
    acc = 0
    for i in range(n): acc += (i * 7) % 13  # @thread_hot
    return acc


def measured(key, n):
    started = thread_clocks.start()
    work(n)
    wall, cpu, delay = thread_clocks.since(started)
    truth[key] = {"tid": threading.get_native_id(), "iters": n,
                  "cpu_s": cpu, "cpu_wait_s": delay, "wall_s": wall}


def run_a():
    measured("a", 2 * N)  # @call_a


def run_b():
    measured("b", N)  # @call_b


start = perf_counter()
workers = [threading.Thread(target=run_a, name="worker-a"),
           threading.Thread(target=run_b, name="worker-b")]
for t in workers:
    t.start()
w = perf_counter()
for t in workers: t.join()  # @join
truth["main"] = {"tid": threading.get_native_id(), "join_s": perf_counter() - w}
truth["wall_s"] = perf_counter() - start

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
