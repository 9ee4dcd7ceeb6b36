"""Many small allocations, for sampling: the estimate stays unbiased for blocks far smaller
than the sampling interval, and a smaller interval takes proportionally more samples.

@small_16k allocates SMALL_BLOCKS bytearrays of 16 KiB (each freed on the next round);
@tiny allocates TINY_OBJECTS bytes objects of 200 bytes (233 bytes each with their header,
which Python's small-object allocator serves); @few allocates one 32 MiB bytes object, once
(calloc'd, its pages never touched): few allocation samples and practically no CPU time.
Written to $GT_OUT:
{"small_16k"|"tiny"|"few": {"bytes", "mb", "blocks"}, "wall_s"} (bytes as requested from the
allocator: the objects' sizes with their headers, sys.getsizeof).
usage: mem_small.py [scale]   (scale 1.0: 312 MiB + 400 MiB + 32 MiB, about 2 s)
"""
import json
import os
import sys
import time
from time import perf_counter

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
KB = 1 << 10
MB = 1 << 20
SMALL_BLOCKS = int(20_000 * SCALE)
TINY_OBJECTS = int(1_800_000 * SCALE)
BATCH = 1000
PAUSE_S = 0.02

start = perf_counter()
for i in range(SMALL_BLOCKS):
    buf = bytearray(16 * KB)  # @small_16k
    if i % BATCH == 0:
        time.sleep(PAUSE_S)
for i in range(TINY_OBJECTS):
    obj = bytes(200)  # @tiny
    if i % (BATCH * 50) == 0:
        time.sleep(PAUSE_S)
blob = bytes(32 * MB)  # @few
time.sleep(0.3)
wall = perf_counter() - start

truth = {"small_16k": {"bytes": SMALL_BLOCKS * 16 * KB, "blocks": SMALL_BLOCKS},
         "tiny": {"bytes": TINY_OBJECTS * sys.getsizeof(bytes(200)), "blocks": TINY_OBJECTS},
         "few": {"bytes": 32 * MB, "blocks": 1}, "wall_s": wall}
for entry in truth.values():
    if isinstance(entry, dict):
        entry["mb"] = entry["bytes"] / MB
if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
