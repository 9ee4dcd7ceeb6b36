"""A known line makes the memory footprint's peak; a line that sleeps and one that computes.

keep() holds many small blocks for the whole run (4 MiB in all: about 16 sampled blocks at
the 256 KiB mean; at 1 MiB, about 4, the line went unsampled in about one run of 60, e^-4);
peak() allocates one 48 MiB block, holds it through a sleep and frees it: no other moment
comes near that footprint. Then a line computes for about COMPUTE_S of CPU time, and a line
sleeps SLEEP_S. The test knows the lines by their markers; $GT_OUT gets the peak block's
size: {"peak_mb"}.
usage: mem_peak_line.py [scale]   (scale 1.0: about 1 s)
"""
import json
import os
import sys
import time

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
COMPUTE_S = 0.5 * SCALE
SLEEP_S = 0.4 * SCALE


def keep():
    return [bytes(1024) for _ in range(4096)]  # @small


def peak():
    block = bytearray(48 << 20)  # @peak
    time.sleep(0.1)
    return len(block)


kept = keep()
peak()
until = time.thread_time() + COMPUTE_S
while time.thread_time() < until: sum(i * i for i in range(1000))  # @computes
time.sleep(SLEEP_S)  # @sleeps

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump({"peak_mb": 48}, f)
