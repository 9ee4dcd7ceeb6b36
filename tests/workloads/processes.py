"""Child processes doing known work: a multiprocessing pool (start method from argv) runs
@heavy twice as many iterations as @light; `executor` uses ProcessPoolExecutor; `subprocess`
runs this file again as a plain child that spins in @child_spin.

`pool` writes the CPU time its tasks measured for themselves to $GT_OUT, when set, as
{"heavy_cpu_s", "light_cpu_s"}: twice the iterations are not twice the CPU time when the
machine's other hyperthread is busy in one phase and idle in the other. `executor` writes
{"heavy_cpu_s": CPU time plus the time they waited for a CPU (run-queue delay)}.

usage: processes.py pool METHOD | executor | subprocess [python3] | child
"""
import json
import os
import sys

import thread_clocks

HEAVY, LIGHT, TASKS = 6_000_000, 3_000_000, 4


def heavy(n):
    total = 0
    for i in range(n): total += i % 7  # @heavy
    return total


def timed_heavy(n):
    started = thread_clocks.start()
    heavy(n)
    _, cpu, delay = thread_clocks.since(started)
    return cpu + delay


def light(n):
    total = 0
    for i in range(n): total += i % 7  # @light
    return total


def cpu_of(work, n):
    """Runs work(n); returns the CPU time it took this thread."""
    started = thread_clocks.start()
    work(n)
    _, cpu, _ = thread_clocks.since(started)
    return cpu


def heavy_cpu(n):
    return cpu_of(heavy, n)


def light_cpu(n):
    return cpu_of(light, n)


def dump_stacks_on_request():
    """A hang's diagnosis (tests/test_processes.py): this process's Python stacks on SIGUSR2,
    printed by faulthandler's own C handler, so even a main thread stuck in C answers."""
    import faulthandler
    import signal
    faulthandler.register(signal.SIGUSR2, all_threads=True)


def child_spin():
    total = 0
    for i in range(6_000_000): total += i % 3  # @child_spin
    return total


if __name__ == "__main__":
    import faulthandler
    # A rare hang of a pool's shutdown has been seen in CI (the parent killed by the test's
    # 180 s timeout, waiting for a worker that did not end): if it comes back, the parent's
    # threads are dumped to stderr, and every process's on the test's SIGUSR2.
    faulthandler.dump_traceback_later(100, exit=False)
    dump_stacks_on_request()
    mode = sys.argv[1]
    if mode == "pool":
        import multiprocessing
        context = multiprocessing.get_context(sys.argv[2])
        with context.Pool(2, initializer=dump_stacks_on_request) as pool:
            heavy_results = pool.map_async(heavy_cpu, [HEAVY] * TASKS)
            light_results = pool.map_async(light_cpu, [LIGHT] * TASKS)
            truth = {"heavy_cpu_s": sum(heavy_results.get(timeout=120)),
                     "light_cpu_s": sum(light_results.get(timeout=120))}
        if "GT_OUT" in os.environ:
            with open(os.environ["GT_OUT"], "w") as f:
                json.dump(truth, f)
    elif mode == "executor":
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(2, initializer=dump_stacks_on_request) as executor:
            heavy_cpu_s = sum(executor.map(timed_heavy, [HEAVY] * 2))
        if "GT_OUT" in os.environ:
            with open(os.environ["GT_OUT"], "w") as f:
                json.dump({"heavy_cpu_s": heavy_cpu_s}, f)
    elif mode == "subprocess":
        import subprocess
        python = sys.argv[2] if len(sys.argv) > 2 else sys.executable
        subprocess.run([python, __file__, "child"], check=True, timeout=120)
    elif mode == "child":
        child_spin()
    print("done", mode)
