"""A thread that blocks reading a pipe at the bottom of a deep call chain: 100 calls of one
recursive function, every tenth through a generator (whose frame lives in the generator
object, away from the thread's other frames). Its waiting time is system time on the read
line, charged to the stack walked from another thread while it waits.

Writes to $GT_OUT {"chain": [[function, line], ...] the thread's calls, outermost first, as
seen just above the read (the innermost line is the one before @read); "wait_s": how long
the read blocked}.
usage: deep_wait.py [seconds]   (how long the main thread keeps the pipe empty, default 1.0)
"""
import json
import os
import sys
import threading
import time
import traceback

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
DEPTH = 100
truth = {}


def through_generator(n, fd):
    yield descend(n - 1, fd)  # @via_generator


def descend(n, fd):
    if n == 0:
        truth["chain"] = [[frame.name, frame.lineno] for frame in traceback.extract_stack()]
        began = time.perf_counter()
        os.read(fd, 1)  # @read
        truth["wait_s"] = time.perf_counter() - began
        return 0
    if n % 10 == 0:
        return next(through_generator(n, fd))  # @into_generator
    return descend(n - 1, fd)  # @recurse


reader, writer = os.pipe()
thread = threading.Thread(target=descend, args=(DEPTH, reader))
thread.start()
time.sleep(SECONDS)
os.write(writer, b"x")
thread.join()
if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as stream:
        json.dump(truth, stream)
