"""Ray tasks and an actor for tests/test_ray.py: each spends CPU on a heavy line and a light
line in a 2:1 ratio, and returns the CPU seconds its thread measured itself and its process."""

import os
import time


def work(unit: float) -> tuple:
    begun = time.thread_time()
    end = begun + 2 * unit
    while time.thread_time() < end: pass  # @heavy
    end = time.thread_time() + unit
    while time.thread_time() < end: pass  # @light
    return time.thread_time() - begun, os.getpid()


class Spinner:
    """An actor's work: its method's line, in the actor's own process."""

    def spin(self, unit: float) -> tuple:
        begun = time.thread_time()
        end = begun + unit
        while time.thread_time() < end: pass  # @actor
        return time.thread_time() - begun, os.getpid()


def rest(seconds: float) -> int:
    """A task that only waits: it holds a worker that long."""
    time.sleep(seconds)
    return os.getpid()


def fan_out(unit: float, count: int) -> list:
    """A task that submits tasks of its own: `count` of work, their results."""
    import ray
    work_remotely = ray.remote(work)
    return ray.get([work_remotely.remote(unit) for _ in range(count)])
