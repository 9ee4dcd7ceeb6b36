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

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
N = int(20_000_000 * SCALE)
truth = {}


def run_delay():
    """Seconds this thread has so far been ready to run but waited for a CPU (the kernel's
    run-queue delay, /proc/self/task/TID/schedstat); triscope counts that time on the line
    that was preempted (docs/PROFILE_FORMAT.md). 0 where the kernel does not give it."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def work():
    before, delay = time.thread_time(), run_delay()
    s = 0
    for i in range(N): s += i % 7  # @raw_hot
    truth.update(tid=threading.get_native_id(), cpu_wait_s=run_delay() - delay,
                 cpu_s=time.thread_time() - before)


start = time.perf_counter()
_thread.start_new_thread(work, ())
while "cpu_s" not in truth:
    time.sleep(0.005)
truth["wall_s"] = time.perf_counter() - start
with open(os.environ["GT_OUT"], "w") as f:
    json.dump(truth, f)
print("raw thread ok")
