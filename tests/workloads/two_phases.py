"""Two threads in two phases: A computes while B sleeps, then B computes while A sleeps.

Each computes until its own CPU time (time.thread_time) has grown by CPU_S, so the phases keep
their order and length in CPU time on a busy machine; the sleeper polls a flag with short
sleeps (blocked in the system, not idle). The wall clock at the program's start and at the
switch from A's phase to B's, and both threads' native ids, are written to $GT_OUT:
{"start_wall", "switch_wall", "end_wall", "a_tid", "b_tid"}.
usage: two_phases.py [scale]   (scale 1.0: 0.6 s of CPU in each phase)
"""
import json
import os
import sys
import threading
import time

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
CPU_S = 0.6 * SCALE
truth = {"start_wall": time.time()}
a_done, b_done = threading.Event(), threading.Event()


def compute():
    until = time.thread_time() + CPU_S
    acc = 0
    while time.thread_time() < until:
        for i in range(2000): acc += (i * 7) % 13  # @compute
    return acc


def sleep_until(flag):
    while not flag.is_set():
        time.sleep(0.01)  # @sleep


def a():
    truth["a_tid"] = threading.get_native_id()
    compute()
    truth["switch_wall"] = time.time()
    a_done.set()
    sleep_until(b_done)


def b():
    truth["b_tid"] = threading.get_native_id()
    sleep_until(a_done)
    compute()
    b_done.set()


threads = [threading.Thread(target=a, name="phase-a"), threading.Thread(target=b, name="phase-b")]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
truth["end_wall"] = time.time()

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
