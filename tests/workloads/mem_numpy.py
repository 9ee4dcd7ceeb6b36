"""NumPy: native array allocation, a copy to bytes, and a read of the same buffer.

Per round: np.ones makes a fresh 8 MiB float64 array (NumPy's data buffer comes from native
malloc, not Python's allocator); arr.tobytes() copies a fixed 8 MiB array into a new bytes
object (one memcpy of 8 MiB); arr.sum() only reads that array. Written to $GT_OUT:
{"np_alloc"|"np_copy"|"np_read": {"bytes", "mb"}, "rounds", "wall_s"} (bytes: allocated for
np_alloc, copied for np_copy, read for np_read).
usage: mem_numpy.py [scale]   (scale 1.0: 50 rounds, 400 MiB per line, about 2.5 s)
"""
import json
import os
import sys
import time
from time import perf_counter

import numpy as np

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
MB = 1 << 20
SIZE = 8 * MB
ROUNDS = max(1, int(50 * SCALE))
PAUSE_S = 0.04

arr = np.arange(SIZE // 8, dtype=np.float64)
assert arr.nbytes == SIZE and arr.flags.c_contiguous
total = 0.0
start = perf_counter()
for _ in range(ROUNDS):
    ones = np.ones(SIZE // 8)  # @np_alloc
    blob = arr.tobytes()  # @np_copy
    total += arr.sum()  # @np_read
    time.sleep(PAUSE_S)
wall = perf_counter() - start
assert ones.nbytes == SIZE and len(blob) == SIZE
assert total == ROUNDS * float(arr.sum())

volume = ROUNDS * SIZE
truth = {key: {"bytes": volume, "mb": volume / MB} for key in ("np_alloc", "np_copy", "np_read")}
truth.update(rounds=ROUNDS, wall_s=wall)
if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
