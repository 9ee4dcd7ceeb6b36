"""A CPU loop in the main thread while 20 threads wait in Event.wait, 5 in queue.Queue.get
and the workers of a ThreadPoolExecutor wait for work.

Each waiting thread times its own wait; the pool's workers are idle from the end of their
one task to the pool's shutdown. The threads start, and are woken, one at a time: 28
threads woken at once would wait for the GIL in turn, time that counts (it is contention),
grows with the machine's load and is not what this workload is about.
Written to $GT_OUT as {"loop": {"wall_s", "cpu_s"}, "idle_threads": N, "idle_s": their
waits summed, "wall_s": whole run}.
usage: idle_threads.py [seconds]   (the loop's length, default 2)
"""
import json
import os
import queue
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter, thread_time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
POOL_WORKERS = 3

waits = []


def timed(up, wait):
    up.set()
    start = perf_counter()
    wait()
    waits.append(perf_counter() - start)


events = [threading.Event() for _ in range(20)]
queues = [queue.Queue() for _ in range(5)]
waiters = [e.wait for e in events] + [q.get for q in queues]
wakers = [e.set for e in events] + [lambda q=q: q.put(None) for q in queues]
threads = []

start = perf_counter()
for wait in waiters:
    up = threading.Event()
    threads.append(threading.Thread(target=timed, args=(up, wait)))
    threads[-1].start()
    up.wait()

task_ends = []
pool_ready = threading.Barrier(POOL_WORKERS)


def task():
    pool_ready.wait()  # every worker takes one task, and all tasks end together
    task_ends.append(perf_counter())


pool = ThreadPoolExecutor(POOL_WORKERS)
for f in [pool.submit(task) for _ in range(POOL_WORKERS)]:
    f.result()

w, c = perf_counter(), thread_time()
acc = 0
while perf_counter() - w < SECONDS: acc += 1  # @loop
loop = {"wall_s": perf_counter() - w, "cpu_s": thread_time() - c}

for wake, t in zip(wakers, threads):
    wake()
    t.join()
shutdown = perf_counter()
pool.shutdown()
waits += [shutdown - end for end in task_ends]

truth = {"loop": loop, "idle_threads": len(waits), "idle_s": sum(waits),
         "wall_s": perf_counter() - start}
if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
