"""Dask tasks for tests/test_dask.py: each spends CPU on a heavy line and a light line in a
2:1 ratio and returns the CPU seconds its thread measured itself."""

import time


def work(unit: float) -> float:
    begun = time.thread_time()
    end = begun + 2 * unit
    while time.thread_time() < end: pass  # @heavy
    end = time.thread_time() + unit
    while time.thread_time() < end: pass  # @light
    return time.thread_time() - begun
