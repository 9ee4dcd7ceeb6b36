"""Live and peak memory: 100 MiB held for a while and freed, then 50 MiB kept to the end.

The @big line builds 100 MiB (1 MiB bytearrays) that stay alive for HOLD_S, then the @free_big
line frees them all; later the @kept line builds 50 MiB that are still alive when the program
ends. Written to $GT_OUT: {"big": {"bytes", "mb"}, "kept": {"bytes", "mb"}, "wall_s"}.
usage: mem_live.py [scale]   (scale 1.0: 100 + 50 MiB, about 3 s)
"""
import json
import os
import sys
import time
from time import perf_counter

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
MB = 1 << 20
BIG = int(100 * SCALE)
KEPT = int(50 * SCALE)
HOLD_S = 1.0

start = perf_counter()
big = [bytearray(MB) for _ in range(BIG)]  # @big
time.sleep(HOLD_S)
del big  # @free_big
time.sleep(HOLD_S / 2)
kept = [bytearray(MB) for _ in range(KEPT)]  # @kept
time.sleep(HOLD_S)

truth = {"big": {"bytes": BIG * MB, "mb": BIG}, "kept": {"bytes": KEPT * MB, "mb": KEPT},
         "wall_s": perf_counter() - start}
if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
