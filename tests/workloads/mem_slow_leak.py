"""A slow leak (under 1 MiB/s) in a program that churns far more memory than it leaks.

Every PERIOD_S, serve() stores five 16 KiB records under new keys of a module-level dict that
is never pruned (80 KiB per round: about 0.78 MiB/s), and builds and drops 4 MiB of
temporary buffers (the churn, about 40 MiB/s, all freed). The leak's rate is measured here:
bytes of the leaked records over the wall time of the loop (the dict's own table, which
grows too, is not counted). Written to $GT_OUT:
{"slow_leak": {"bytes", "mb", "mb_s"}, "churn": {"bytes", "mb"}, "rounds", "wall_s"}.
usage: mem_slow_leak.py [scale]   (scale 1.0: 60 rounds of 0.1 s, about 6 s)
"""
import json
import os
import sys
import time
from time import perf_counter

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
KB = 1 << 10
MB = 1 << 20
ROUNDS = max(2, int(60 * SCALE))
PERIOD_S = 0.1
RECORD = 16 * KB
PER_ROUND = 5
TEMP = 256 * KB
TEMPS = 16

sessions = {}
leak_bytes = 0


def serve(i):
    global leak_bytes
    for j in range(PER_ROUND):
        sessions[(i, j)] = bytearray(RECORD)  # @slow_leak
        leak_bytes += RECORD
    temps = [bytearray(TEMP) for _ in range(TEMPS)]  # @slow_churn
    return sum(len(t) for t in temps)


start = perf_counter()
churned = 0
for i in range(ROUNDS):
    churned += serve(i)
    time.sleep(PERIOD_S)
wall = perf_counter() - start

truth = {"slow_leak": {"bytes": leak_bytes, "mb": leak_bytes / MB, "mb_s": leak_bytes / MB / wall},
         "churn": {"bytes": churned, "mb": churned / MB}, "rounds": ROUNDS, "wall_s": wall}
if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
