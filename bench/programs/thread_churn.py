"""Short-lived threads, timed from inside: N threading.Threads started and joined one after
another, each doing nothing. What a profiler adds per thread (registering it, arming its
timer, measuring its waiting as it ends) shows as the difference per thread between runs,
as in thread-per-task programs. Prints one JSON line: {"n": N, "us": microseconds per thread}.
usage: thread_churn.py [n]   (default 3000)
"""
import json
import sys
import threading
from time import perf_counter


def nothing():
    pass


def main(n):
    start = perf_counter()
    for _ in range(n):
        thread = threading.Thread(target=nothing)
        thread.start()
        thread.join()
    return (perf_counter() - start) / n * 1e6


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    print(json.dumps({"n": n, "us": round(main(n), 2)}))
