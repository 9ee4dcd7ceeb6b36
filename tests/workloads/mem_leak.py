"""A steady leak beside a line that churns the same volume.

Every PERIOD_S, handle() appends a fresh 4 MiB bytes object to a module-level list that is
never emptied (the leak), and replaces a 4 MiB bytearray that the previous round allocated
(the churn: same volume, freed one round later). 4 MiB, not 1: at the default mean sampling
interval of 256 KiB a 1 MiB block goes unsampled once in 55 (e^-4), and three of twenty
did so in about 1 run in 200, putting a line's volume 15 % low; a 4 MiB block is missed
once in 9 million (e^-16). The leak's rate is measured here: bytes
leaked over the wall time of the loop. Written to $GT_OUT:
{"leak": {"bytes", "mb", "mb_s"}, "churn": {"bytes", "mb"}, "rounds", "wall_s"}.
usage: mem_leak.py [scale]   (scale 1.0: 20 rounds of 0.2 s, about 20 MiB/s over 4 s)
"""
import json
import os
import sys
import time
from time import perf_counter

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
MB = 1 << 20
BLOCK = 4 * MB
ROUNDS = max(2, int(20 * SCALE))
PERIOD_S = 0.2

leaked = []
scratch = None


def handle(i):
    global scratch
    leaked.append(bytes(BLOCK))  # @leak
    scratch = bytearray(BLOCK)  # @churn
    scratch[0] = i % 256


start = perf_counter()
for i in range(ROUNDS):
    handle(i)
    time.sleep(PERIOD_S)
wall = perf_counter() - start

leak_bytes = ROUNDS * BLOCK
truth = {"leak": {"bytes": leak_bytes, "mb": leak_bytes / MB, "mb_s": leak_bytes / MB / wall},
         "churn": {"bytes": ROUNDS * BLOCK, "mb": ROUNDS * BLOCK / MB},
         "rounds": ROUNDS, "wall_s": wall}
if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
