"""A process for `triscope dump` to read: its main thread blocked in f → g → h, reading a
pipe nobody writes, and a second thread, named "worker" (in the kernel too, through
/proc/self/task/TID/comm, which the dump reads), blocked acquiring a lock that is never
released. Prints "ready" once the worker is at its lock's door and the main thread is about
to call f; runs until killed. Each function's body is one line, so whichever moment a dump
catches a thread inside h or `locked`, its line is the marked one.
usage: dump_target.py [spin]   (spin: a third thread, "spinner", calls `step` in a loop
                                forever, so the stacks change while a dump reads them)
"""
import os
import sys
import threading


def h(fd):
    return os.read(fd, 1)  # @read


def g(fd):
    return h(fd)  # @g-calls-h


def f(fd):
    return g(fd)  # @f-calls-g


def locked(lock):
    lock.acquire()  # @acquire


def worker(lock, ready_fd):
    with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as comm:
        comm.write("worker")
    os.write(ready_fd, b"w")
    locked(lock)  # @worker-calls-locked


def step(count):
    return count + 1  # @step


def spin():
    with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w") as comm:
        comm.write("spinner")
    count = 0
    while True:
        count = step(count)  # @spin-calls-step


if sys.argv[1:] == ["spin"]:
    threading.Thread(target=spin, daemon=True).start()
lock = threading.Lock()
lock.acquire()
never_written, worker_ready = os.pipe()
threading.Thread(target=worker, args=(lock, worker_ready), name="worker", daemon=True).start()
os.read(never_written, 1)
print("ready", flush=True)
f(never_written)  # @module-calls-f
