"""Dask tasks for tests/test_dask.py: work() spends CPU on a heavy line and a light line in a
2:1 ratio and returns the CPU seconds its thread measured itself; allocate_natively() takes
and frees a block of libc's malloc, which only the allocator library sees."""

import ctypes
import time

LIBC = ctypes.CDLL(None)
LIBC.malloc.restype = ctypes.c_void_p
LIBC.free.argtypes = [ctypes.c_void_p]


def work(unit: float) -> float:
    begun = time.thread_time()
    end = begun + 2 * unit
    while time.thread_time() < end: pass  # @heavy
    end = time.thread_time() + unit
    while time.thread_time() < end: pass  # @light
    return time.thread_time() - begun


def allocate_natively(mb: int) -> int:
    for _ in range(4):
        block = LIBC.malloc(mb << 20)  # @native_alloc
        ctypes.memset(block, 1, mb << 20)
        LIBC.free(block)
    return 4 * mb
