"""A CPU loop in the main thread while 20 threads wait in Event.wait, 5 in queue.Queue.get
and the workers of a ThreadPoolExecutor wait for work.

Each waiting thread times its own wait; the pool's workers are idle from the end of their
one task to the pool's shutdown. Written to $GT_OUT as {"loop": {"wall_s", "cpu_s"},
"idle_threads": N, "idle_s": their waits summed, "wall_s": whole run}.
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
ready = threading.Barrier(20 + 5 + POOL_WORKERS + 1)


def timed(wait):
    ready.wait()
    start = perf_counter()
    wait()
    waits.append(perf_counter() - start)


event = threading.Event()
queues = [queue.Queue() for _ in range(5)]
threads = [threading.Thread(target=timed, args=(event.wait,)) for _ in range(20)]
threads += [threading.Thread(target=timed, args=(q.get,)) for q in queues]
task_ends = []


def task():
    ready.wait()  # every worker takes one task, and all tasks end together
    task_ends.append(perf_counter())


start = perf_counter()
for t in threads:
    t.start()
pool = ThreadPoolExecutor(POOL_WORKERS)
tasks = [pool.submit(task) for _ in range(POOL_WORKERS)]
ready.wait()
for f in tasks:
    f.result()

w, c = perf_counter(), thread_time()
acc = 0
while perf_counter() - w < SECONDS: acc += 1  # @loop
loop = {"wall_s": perf_counter() - w, "cpu_s": thread_time() - c}

event.set()
for q in queues:
    q.put(None)
for t in threads:
    t.join()
shutdown = perf_counter()
pool.shutdown()
waits += [shutdown - end for end in task_ends]

truth = {"loop": loop, "idle_threads": len(waits), "idle_s": sum(waits),
         "wall_s": perf_counter() - start}
if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
