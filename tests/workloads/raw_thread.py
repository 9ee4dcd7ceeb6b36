"""A thread started with _thread.start_new_thread, as C code or a low-level library would:
no threading.Thread, so nothing announces it to a profiler but its thread state.

It runs a pure-Python loop and measures its own CPU time (time.thread_time) and the time it
waited for a CPU (run-queue delay), while the main thread sleeps in short steps until it is
done. Written to $GT_OUT as
{"tid": native id, "cpu_s": the thread's CPU time, "cpu_wait_s": ..., "wall_s": ...}.
usage: raw_thread.py [scale]   (scale 1.0: about 0.65 s of CPU)
"""
import _thread
import json
import os
import sys
import threading
import time

import thread_clocks

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
N = int(20_000_000 * SCALE)
truth = {}


def work():
    started = thread_clocks.start()
    s = 0
    for i in range(N): s += i % 7  # @raw_hot
    _, cpu, delay = thread_clocks.since(started)
    truth.update(tid=threading.get_native_id(), cpu_s=cpu, cpu_wait_s=delay)


start = time.perf_counter()
_thread.start_new_thread(work, ())
while "cpu_s" not in truth:
    time.sleep(0.005)
truth["wall_s"] = time.perf_counter() - start
with open(os.environ["GT_OUT"], "w") as f:
    json.dump(truth, f)
print("raw thread ok")
