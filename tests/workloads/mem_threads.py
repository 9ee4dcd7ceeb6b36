"""Allocations by worker threads are the workers' own, while main allocates at the same time.

Worker "py" allocates PY_CHUNKS bytearrays of 1 MiB (Python's allocator), worker "native"
mallocs and frees NATIVE_CHUNKS blocks of 1 MiB through ctypes (native), and meanwhile the
main thread allocates MAIN_CHUNKS bytearrays of 1 MiB on its own line. All three pace
themselves over about the same 2.5 s, so their allocations interleave. Each thread records
its native id. Written to $GT_OUT:
{"worker_py"|"worker_native"|"main_alloc": {"tid", "bytes", "mb", "wall_s"}, "wall_s"}.
usage: mem_threads.py [scale]   (scale 1.0: 100 + 50 MiB in workers, 20 MiB in main)
"""
import ctypes
import json
import os
import sys
import threading
import time
from time import perf_counter

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
MB = 1 << 20
PY_CHUNKS = int(100 * SCALE)
NATIVE_CHUNKS = int(50 * SCALE)
MAIN_CHUNKS = int(20 * SCALE)
SPAN_S = 2.5 * max(SCALE, 0.2)

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.restype = None
libc.free.argtypes = [ctypes.c_void_p]

truth = {}


def record(key, nbytes, w):
    truth[key] = {"tid": threading.get_native_id(), "bytes": nbytes, "mb": nbytes / MB,
                  "wall_s": perf_counter() - w}


def worker_py():
    w = perf_counter()
    for _ in range(PY_CHUNKS):
        buf = bytearray(MB)  # @worker_py
        time.sleep(SPAN_S / PY_CHUNKS)
    record("worker_py", PY_CHUNKS * MB, w)


def worker_native():
    w = perf_counter()
    for _ in range(NATIVE_CHUNKS):
        libc.free(libc.malloc(MB))  # @worker_native
        time.sleep(SPAN_S / NATIVE_CHUNKS)
    record("worker_native", NATIVE_CHUNKS * MB, w)


start = perf_counter()
threads = [threading.Thread(target=worker_py, name="worker-py"),
           threading.Thread(target=worker_native, name="worker-native")]
for t in threads:
    t.start()
w = perf_counter()
for _ in range(MAIN_CHUNKS):
    mine = bytearray(MB)  # @main_alloc
    time.sleep(SPAN_S / MAIN_CHUNKS)
record("main_alloc", MAIN_CHUNKS * MB, w)
for t in threads:
    t.join()
truth["wall_s"] = perf_counter() - start

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
