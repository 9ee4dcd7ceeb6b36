"""The clocks a workload times its own sections with, for the calling thread: wall time, CPU
time, and the time the thread was ready to run but waited for a CPU (the kernel's run-queue
delay, /proc/self/task/TID/schedstat), which triscope counts on the line that was preempted
(docs/PROFILE_FORMAT.md, "Idle threads and waiting for a CPU").

Reading the delay opens a file, which costs CPU time of its own: a section starts by reading
the delay and ends by reading the CPU clock, so that cost stays outside the section's CPU
time (it matters for sections of a few hundred microseconds).
"""
import threading
from time import perf_counter, thread_time


def run_delay():
    """Seconds this thread has waited for a CPU so far; 0 where the kernel does not say."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def start():
    """A section's start: (wall, CPU, delay)."""
    delay = run_delay()
    return perf_counter(), thread_time(), delay


def since(started):
    """(wall_s, cpu_s, cpu_wait_s) of the section begun at `started`."""
    cpu, wall = thread_time(), perf_counter()
    return wall - started[0], cpu - started[1], run_delay() - started[2]


def add(truth, key, started):
    """Adds the section begun at `started` to truth[key]'s "wall_s", "cpu_s", "cpu_wait_s"."""
    wall, cpu, delay = since(started)
    slot = truth.setdefault(key, {"wall_s": 0.0, "cpu_s": 0.0, "cpu_wait_s": 0.0})
    slot["wall_s"] += wall
    slot["cpu_s"] += cpu
    slot["cpu_wait_s"] += delay
