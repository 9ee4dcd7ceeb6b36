"""A long, varied run for the profile's size and the profiler's own memory: for the given
number of seconds it cycles through CPU work, allocation churn, string and dict work, JSON
and a helper thread, touching a few hundred distinct lines and stacks, with a steady live
heap (about 30 MB), so the profiler's tables grow only with what it records.
usage: long_run.py [seconds]   (default 60)
"""
import json
import random
import sys
import threading
import time
from collections import OrderedDict

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
rng = random.Random(5)
KEEP = [bytearray(1 << 20) for _ in range(30)]


def arithmetic(n):
    acc = 0.0
    for i in range(n):
        acc += (i % 7) * 0.5 - (i % 3)
    return acc


def churn(n):
    cache = OrderedDict()
    for i in range(n):
        cache[i] = [rng.random() for _ in range(20)]
        if len(cache) > 200:
            cache.popitem(last=False)
    return len(cache)


def strings(n):
    parts = [f"{i:05d}-{i * i % 97}" for i in range(n)]
    return len(",".join(parts).split("-"))


def documents(n):
    doc = {"items": [{"id": i, "name": str(i) * 3, "tags": ["a", "b"]} for i in range(n)]}
    return len(json.loads(json.dumps(doc))["items"])


def recurse(depth):
    return 1 if depth == 0 else 1 + recurse(depth - 1)


def helper(stop):
    while not stop.is_set():
        sum(x * x for x in range(20_000))
        time.sleep(0.01)


if __name__ == "__main__":
    stop = threading.Event()
    worker = threading.Thread(target=helper, args=(stop,))
    worker.start()
    end = time.perf_counter() + SECONDS
    rounds = 0
    while time.perf_counter() < end:
        arithmetic(50_000)
        churn(2_000)
        strings(5_000)
        documents(500)
        recurse(rng.randrange(50, 300))
        time.sleep(0.005)
        rounds += 1
    stop.set()
    worker.join()
    print(f"long_run: {rounds} rounds")
