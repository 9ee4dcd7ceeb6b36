"""Copy volume without NumPy: lines that copy a known number of bytes and one that only reads.

Per round, with an 8 MiB bytearray `src`: bytes(src) copies 8 MiB (memcpy into the new bytes
object), bytearray(blob) copies them back, and the read-only line scans the same buffer
(find, which finds nothing, and a strided memoryview sum) without copying it. A sleep per
round spreads the run over a few seconds. Written to $GT_OUT:
{"copy_bytes"|"copy_bytearray"|"read_only": {"bytes", "mb"}, "rounds", "wall_s"} where bytes
is the volume copied (for read_only: the volume read).
usage: mem_copy.py [scale]   (scale 1.0: 50 rounds, 400 MiB per copying line, about 2.5 s)
"""
import json
import os
import sys
import time
from time import perf_counter

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
MB = 1 << 20
SIZE = 8 * MB
ROUNDS = max(1, int(50 * SCALE))
PAUSE_S = 0.04

src = bytearray(b"\x01") * SIZE
found = 0
start = perf_counter()
for _ in range(ROUNDS):
    blob = bytes(src)  # @copy_bytes
    back = bytearray(blob)  # @copy_bytearray
    found += src.find(b"\x02") + sum(memoryview(src)[::4096])  # @read_only
    time.sleep(PAUSE_S)
wall = perf_counter() - start
assert found == ROUNDS * (-1 + SIZE // 4096), found
assert back == src

volume = ROUNDS * SIZE
truth = {key: {"bytes": volume, "mb": volume / MB}
         for key in ("copy_bytes", "copy_bytearray", "read_only")}
truth.update(rounds=ROUNDS, wall_s=wall)
if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
