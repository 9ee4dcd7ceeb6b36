"""Thread-pool benchmark: four worker threads share a queue of mixed tasks.

pyperformance has no benchmark where several Python threads run at once (concurrent_imap's
thread pool passes tiny items), so this one makes threads contend for the GIL the way a
server's worker pool does: each task runs a pure-Python loop (holds the GIL), hashes a
buffer (hashlib releases the GIL) and serialises a small document (allocates). Prints the
time per loop in pyperf's "name: value unit" form, so the harness reads it the same way.
usage: bm_threads.py [--loops N]
"""
import hashlib
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter

TASKS = 64
BUF = bytes(range(256)) * 1024  # 256 KiB


def task(i):
    acc = 0
    for k in range(6000):
        acc += (k * i) % 7
    digest = hashlib.sha256(BUF).hexdigest()
    doc = {"id": i, "acc": acc, "digest": digest, "items": [{"k": k, "v": str(k)} for k in range(50)]}
    return len(json.dumps(doc))


def main(loops):
    with ThreadPoolExecutor(max_workers=4) as pool:
        start = perf_counter()
        for _ in range(loops):
            assert sum(pool.map(task, range(TASKS))) > 0
        elapsed = perf_counter() - start
    print(f"threads: {1000 * elapsed / loops:.3g} ms")


if __name__ == "__main__":
    loops = int(sys.argv[sys.argv.index("--loops") + 1]) if "--loops" in sys.argv else 10
    main(loops)
