"""Where the time of a sampled thread goes, interruption by interruption.

A tight loop reads the clock (about 0.1 µs a turn) and sorts every longer gap between two
reads into classes: SHORT gaps (0.7-8 µs) are a signal or an interrupt handled in this
thread, such as a profiler's sampling signal and its handler; MEDIUM gaps (8 µs-1 ms) are
this thread giving its core to another for a moment, such as a profiler's background thread
waking up; longer ones are the scheduler running other jobs, which on a shared machine
swamps everything else, and are only counted. Run plain and under a profiler at two
sampling intervals, the extra SHORT time per extra sample is what each sample costs the
profiled thread, resolved to well under a microsecond even on a busy machine, which the
run's total time is not. Also counts how often the process's other threads (under
triscope --cpu, its consumer thread) were switched in, from their schedstat: the consumer's
wake-ups, counted rather than assumed (docs/ARCHITECTURE.md, "System time"). Prints one
JSON line.
usage: gap_probe.py [seconds]   (default 3)
"""
import json
import os
import sys
from time import perf_counter_ns

SHORT_NS, MEDIUM_NS, LONG_NS = 700, 8_000, 1_000_000


def probe(seconds):
    n_short = t_short = n_medium = t_medium = n_long = 0
    last = perf_counter_ns()
    end = last + int(seconds * 1e9)
    while last < end:
        now = perf_counter_ns()
        gap = now - last
        if gap > SHORT_NS:
            if gap < MEDIUM_NS:
                n_short += 1
                t_short += gap
            elif gap < LONG_NS:
                n_medium += 1
                t_medium += gap
            else:
                n_long += 1
        last = now
    return {"seconds": seconds, "short": n_short, "short_ns": t_short, "medium": n_medium,
            "medium_ns": t_medium, "long": n_long}


def other_threads_switches():
    """Context switches of every thread of this process but the main one (schedstat's
    third field), 0 where /proc cannot tell."""
    total = 0
    for tid in os.listdir("/proc/self/task"):
        if int(tid) == os.getpid():
            continue
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as stat:
                total += int(stat.read().split()[2])
        except (OSError, ValueError, IndexError):
            pass
    return total


if __name__ == "__main__":
    result = probe(float(sys.argv[1]) if len(sys.argv) > 1 else 3.0)
    print(json.dumps({**result, "other_switches": other_threads_switches()}))
