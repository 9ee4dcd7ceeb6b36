"""Thousands of short-lived threads, each running well under one kernel tick of CPU.

CHAINS chains run side by side; each link is a threading.Thread that runs a pure-Python loop
of a few hundred microseconds, measures that loop's own CPU time (time.thread_time), then
starts its successor and ends. The loops' CPU time, summed over every thread, is the truth a
profiler's line attribution is held to. Written to $GT_OUT as
{"threads": n, "hot_cpu_s": sum of the loops' CPU time, "cpu_wait_s": all the time
the links waited for a CPU, read once as each ends (triscope counts it where each thread was
last sampled running, mostly the loop), "wall_s": ...}.
usage: short_threads.py [scale]   (scale 1.0: 8 chains x 400 links, about 0.6 s of loop CPU)
"""
import json
import os
import sys
import threading
from time import perf_counter, thread_time

import thread_clocks

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
CHAINS = 8
LINKS = max(2, int(400 * SCALE))

hot_cpu = [0.0] * CHAINS
cpu_wait = [0.0] * CHAINS
done = threading.Semaphore(0)


def link(chain, index):
    acc, before = 0, thread_time()
    for i in range(2500): acc += (i * i + index) % 7  # @short_hot
    hot_cpu[chain] += thread_time() - before
    if index + 1 < LINKS:
        threading.Thread(target=link, args=(chain, index + 1)).start()
    cpu_wait[chain] += thread_clocks.run_delay()  # the thread's whole life so far
    if index + 1 == LINKS:
        done.release()


start = perf_counter()
for chain in range(CHAINS):
    threading.Thread(target=link, args=(chain, 0)).start()
for _ in range(CHAINS):
    done.acquire()
truth = {"threads": CHAINS * LINKS, "hot_cpu_s": sum(hot_cpu), "cpu_wait_s": sum(cpu_wait),
         "wall_s": perf_counter() - start}
with open(os.environ["GT_OUT"], "w") as f:
    json.dump(truth, f)
print(f"short threads ok: {CHAINS * LINKS} threads")
