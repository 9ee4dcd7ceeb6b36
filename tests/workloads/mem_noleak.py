"""No leak: a big long-lived cache built at the start, then steady churn without growth.

First a 200 MiB cache (1 MiB bytearrays, kept to the end) is built on one line. Then, for
about 4 s, each round inserts a 256 KiB entry into a bounded LRU dict (the oldest entry beyond
LRU_SIZE is evicted on another line, so what the insert line allocates is freed later), and
allocates and drops temporary buffers and lists. Nothing grows after the cache is built.
Written to $GT_OUT: {"cache": {"bytes", "mb"}, "lru": {"bytes", "mb", "live_bytes"},
"churn": {"bytes", "mb"}, "rounds", "wall_s"}.
usage: mem_noleak.py [scale]   (scale 1.0: 200 rounds of 20 ms)
"""
import json
import os
import sys
import time
from collections import OrderedDict
from time import perf_counter

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
KB = 1 << 10
MB = 1 << 20
CACHE_MB = 200
ROUNDS = max(40, int(200 * SCALE))
PERIOD_S = 0.02
ENTRY = 256 * KB
LRU_SIZE = 32

start = perf_counter()
cache = [bytearray(MB) for _ in range(CACHE_MB)]  # @cache
lru = OrderedDict()
churned = 0
for i in range(ROUNDS):
    lru[i] = bytearray(ENTRY)  # @lru_insert
    if len(lru) > LRU_SIZE:
        lru.popitem(last=False)  # @lru_evict
    temp = [bytes(64 * KB) for _ in range(8)]  # @temp
    churned += sum(map(len, temp))
    cache[i % CACHE_MB][0] = i % 256
    time.sleep(PERIOD_S)
wall = perf_counter() - start

truth = {"cache": {"bytes": CACHE_MB * MB, "mb": CACHE_MB},
         "lru": {"bytes": ROUNDS * ENTRY, "mb": ROUNDS * ENTRY / MB,
                 "live_bytes": len(lru) * ENTRY},
         "churn": {"bytes": churned, "mb": churned / MB}, "rounds": ROUNDS, "wall_s": wall}
if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
