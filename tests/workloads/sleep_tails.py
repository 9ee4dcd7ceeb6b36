"""Short sleeps between stretches of work: each nap's end falls in a tick in which the thread
wakes and runs, and that tick's waiting is the nap's end (docs/ARCHITECTURE.md, "System
time"). 60 rounds of a 15 ms sleep on one line and 30 ms of CPU work in a function.
Writes {"requested_s": the sleeps asked for, "slept_s": as timed here} to $GT_OUT.
usage: sleep_tails.py
"""
import json
import os
import time

ROUNDS, NAP_S, WORK_S = 60, 0.015, 0.03


def work(seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        x += 1
    return x


slept = 0.0
for _ in range(ROUNDS):
    started = time.perf_counter()
    time.sleep(NAP_S)  # @nap
    slept += time.perf_counter() - started
    work(WORK_S)

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump({"requested_s": ROUNDS * NAP_S, "slept_s": slept}, f)
