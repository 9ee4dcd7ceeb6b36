"""A steady leak beside a line that churns the same volume.

Every PERIOD_S, handle() appends a fresh 1 MiB bytes object to a module-level list that is
never emptied (the leak), and replaces a 1 MiB bytearray that the previous round allocated
(the churn: same volume, freed one round later). The leak's rate is measured here: bytes
leaked over the wall time of the loop. Written to $GT_OUT:
{"leak": {"bytes", "mb", "mb_s"}, "churn": {"bytes", "mb"}, "rounds", "wall_s"}.
usage: mem_leak.py [scale]   (scale 1.0: 20 rounds of 0.2 s, about 5 MiB/s over 4 s)
"""
import json
import os
import sys
import time
from time import perf_counter

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
MB = 1 << 20
ROUNDS = max(2, int(20 * SCALE))
PERIOD_S = 0.2

leaked = []
scratch = None


def handle(i):
    global scratch
    leaked.append(bytes(MB))  # @leak
    scratch = bytearray(MB)  # @churn
    scratch[0] = i % 256


start = perf_counter()
for i in range(ROUNDS):
    handle(i)
    time.sleep(PERIOD_S)
wall = perf_counter() - start

leak_bytes = ROUNDS * MB
truth = {"leak": {"bytes": leak_bytes, "mb": leak_bytes / MB, "mb_s": leak_bytes / MB / wall},
         "churn": {"bytes": ROUNDS * MB, "mb": ROUNDS * MB / MB},
         "rounds": ROUNDS, "wall_s": wall}
if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
