"""Lifecycle workload: phases that are profiled or not, driven by its arguments.

usage: lifecycle.py MODE
  api      triscope.stop() around @phase_off, triscope.start() before @phase_on
  context  `with triscope.profiling():` around @phase_on only (run with --off)
  decorate @profile on one of two functions
  wait     prints "ready", then spins in @phase_wait until a file named by $STOP_FILE exists,
           then prints "spun S": the CPU seconds the spin got (a busy machine gives it less)
  forever  prints "ready", then spins in @phase_forever until killed
  osexit   spins in @phase_on, then ends with os._exit(7)
"""
import os
import sys
import time

MODE = sys.argv[1]


def phase_off():
    end = time.perf_counter() + 0.6
    while time.perf_counter() < end:  # @phase_off
        pass


def phase_on():
    end = time.perf_counter() + 0.6
    while time.perf_counter() < end:  # @phase_on
        pass


def undecorated():
    end = time.perf_counter() + 0.5
    while time.perf_counter() < end:  # @undecorated
        pass


if MODE == "api":
    import triscope
    triscope.stop()
    phase_off()
    triscope.start()
    phase_on()
elif MODE == "context":
    import triscope
    phase_off()
    with triscope.profiling():
        phase_on()
elif MODE == "decorate":
    @profile  # noqa: F821 (a builtin under triscope)
    def decorated():
        end = time.perf_counter() + 0.5
        while time.perf_counter() < end:  # @decorated
            pass
    decorated()
    undecorated()
elif MODE == "wait":
    print("ready", flush=True)
    stop_file = os.environ["STOP_FILE"]
    spin_start = time.thread_time()
    while not os.path.exists(stop_file):  # @phase_wait
        pass
    print(f"spun {time.thread_time() - spin_start:.6f}", flush=True)
elif MODE == "osexit":
    phase_on()
    os._exit(7)
elif MODE == "forever":
    print("ready", flush=True)
    while True: pass  # @phase_forever
