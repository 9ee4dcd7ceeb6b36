"""Allocation fast paths, timed from inside: N allocations (and their frees) of three kinds.

  small   bytes(64): one request to pymalloc through Python's object allocator
  large   bytearray(4096): Python's allocator, which passes it on to malloc
  native  libc malloc + free through ctypes: only the preloaded allocator hooks see it

Each loop allocates and drops one object per iteration, and nothing else: itertools.repeat
yields the same None, so the loop itself allocates no integers. The harness runs this with
memory profiling on and off (--cpu) and divides the difference by N. Prints one JSON line:
{"<kind>": {"n": N, "ns": nanoseconds per iteration}}.
usage: alloc_loop.py [n]   (default 3 million; native runs n/3 iterations)
"""
import ctypes
import json
import sys
from itertools import repeat
from time import perf_counter


def small(n):
    for _ in repeat(None, n):
        bytes(64)


def large(n):
    for _ in repeat(None, n):
        bytearray(4096)


def native(n):
    libc = ctypes.CDLL(None)  # malloc as the program sees it, so an interposer is used
    malloc, free = libc.malloc, libc.free
    malloc.restype, malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    free.restype, free.argtypes = None, [ctypes.c_void_p]
    for _ in repeat(None, n):
        free(malloc(256))


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000_000
    out = {}
    for name, fn, count in (("small", small, n), ("large", large, n), ("native", native, n // 3)):
        start = perf_counter()
        fn(count)
        out[name] = {"n": count, "ns": 1e9 * (perf_counter() - start) / count}
    print(json.dumps(out))
