"""A loop that shares its CPU with other work: the main thread pins itself to CPU argv[1]
(the test runs two busy loops there) and computes for argv[2] seconds of its own CPU time,
reading its CPU clock (a system call) every 10,000 steps, as a program that times itself
does. Only this thread is pinned: the profiler's own thread keeps every CPU.

Writes {"cpu_s": the CPU time the loop took} to $GT_OUT.
"""
import json
import os
import sys
import time


def spin(seconds):
    started = time.thread_time()
    total = 0
    while time.thread_time() - started < seconds:  # @clock
        for i in range(10_000): total += i  # @spin
    return time.thread_time() - started


if __name__ == "__main__":
    os.sched_setaffinity(0, {int(sys.argv[1])})  # the calling thread only
    cpu_s = spin(float(sys.argv[2]))
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump({"cpu_s": cpu_s}, f)
