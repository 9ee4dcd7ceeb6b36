"""A GPU "window" for the stand-in NVML library (tests/c/nvml_standin.c), which reports the
device busy only while $STANDIN_NVML_BUSY_FILE exists.

The program spends SECONDS on a line before the window, opens the window (creates the file)
for SECONDS on one line, closes it and spends SECONDS on a line after it. `spin` runs the
window line on CPU (as a thread launching kernels or spinning in a synchronisation does);
`sleep` waits on it (a thread blocked in a synchronisation). Meanwhile an idle helper thread
waits all along: GPU time must not be charged to it. Writes its truth to $GT_OUT.

usage: gpu_window.py spin|sleep [SECONDS]
"""
import json
import os
import sys
import threading
import time

BUSY_FILE = os.environ["STANDIN_NVML_BUSY_FILE"]
MODE = sys.argv[1] if len(sys.argv) > 1 else "spin"
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
idle = threading.Event()


def idler():
    idle.wait()  # @idle


def before():
    end = time.perf_counter() + SECONDS
    while time.perf_counter() < end: pass  # @before


def window():
    with open(BUSY_FILE, "w"):
        pass
    end = time.perf_counter() + SECONDS
    if MODE == "spin":
        while time.perf_counter() < end: pass  # @window_spin
    else:
        while time.perf_counter() < end: time.sleep(0.005)  # @window_sleep
    os.unlink(BUSY_FILE)


def after():
    end = time.perf_counter() + SECONDS
    while time.perf_counter() < end: time.sleep(0.002)  # @after


def main():
    helper = threading.Thread(target=idler, name="idler")
    helper.start()
    started = time.perf_counter()
    before()
    window()
    after()
    idle.set()
    helper.join()
    if os.environ.get("GT_OUT"):
        with open(os.environ["GT_OUT"], "w") as stream:
            json.dump({"mode": MODE, "seconds": SECONDS, "pid": os.getpid(),
                       "elapsed_s": time.perf_counter() - started}, stream)


if __name__ == "__main__":
    main()
