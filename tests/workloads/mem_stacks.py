"""Memory by call stack: one allocating line (@make) reached through four callers.

keep_big builds 2 units and keep_small 1 unit (64 KiB bytearrays), both held until the
maximum footprint; between them churn allocates 4 units, each block dropped at once; after
everything is freed, late builds 1 unit (less than the maximum) and holds it to the end. So by
stack, allocated MB go 2 : 1 : 4 : 1 and the MB live at the maximum footprint 2 : 1 : 0 : 0,
all from the same line. Written to $GT_OUT: {"unit_mb", "alloc_units", "peak_units"}.
usage: mem_stacks.py [scale]   (scale 1.0: a unit of 32 MiB, under a second)
"""
import json
import os
import sys

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
BLOCK = 64 << 10
UNIT_MB = 32 * SCALE
BLOCKS = int(UNIT_MB * (1 << 20)) // BLOCK


def make(units):
    return [bytearray(BLOCK) for _ in range(int(units * BLOCKS))]  # @make


def keep_big():
    return make(2)


def keep_small():
    return make(1)


def churn():
    for _ in range(int(4 * BLOCKS)):
        make(1 / BLOCKS)


def late():
    return make(1)


big = keep_big()
churn()
small = keep_small()
del big, small
kept = late()

truth = {"unit_mb": BLOCKS * BLOCK / (1 << 20),
         "alloc_units": {"keep_big": 2, "keep_small": 1, "churn": 4, "late": 1},
         "peak_units": {"keep_big": 2, "keep_small": 1, "churn": 0, "late": 0}}
if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
