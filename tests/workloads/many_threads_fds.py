"""Many threads waiting for work, then a count of this process's open file descriptors.

THREADS threads block on one Event; the main thread lets 0.3 s pass (many profiler ticks),
counts /proc/self/fd, releases them and joins. Written to $GT_OUT as {"fds": n}.
usage: many_threads_fds.py [threads]   (default 400)
"""
import json
import os
import sys
import threading
import time

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 400

go = threading.Event()
threads = [threading.Thread(target=go.wait) for _ in range(THREADS)]
for t in threads:
    t.start()
time.sleep(0.3)
fds = len(os.listdir("/proc/self/fd"))
go.set()
for t in threads:
    t.join()
with open(os.environ["GT_OUT"], "w") as f:
    json.dump({"fds": fds}, f)
