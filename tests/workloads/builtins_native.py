"""Long-running C builtins count as native time (docs/DEFINITIONS.md): sorted() on a big list runs inside
libpython without executing bytecode; hashlib runs in OpenSSL. A pure-Python line is the
control. Each line is timed here; written to $GT_OUT as
{"native_sorted"|"native_sha"|"pure": {"wall_s", "cpu_s", "cpu_wait_s"}, "wall_s": whole run}.
usage: builtins_native.py [scale]   (scale 1.0 is about 4 s)
"""
import hashlib
import json
import os
import random
import sys
from time import perf_counter

import thread_clocks

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROUNDS = 4
PURE_ITERS = int(10_000_000 * SCALE)

rng = random.Random(11)
FLOATS = [rng.random() for _ in range(int(2_000_000 * SCALE))]
BUF = rng.randbytes(int(32_000_000 * SCALE))

truth = {}


def pure(n):
    acc = 0
    for i in range(n): acc += (i * 7) % 13  # @pure
    return acc


start = perf_counter()
for _ in range(ROUNDS):
    started = thread_clocks.start()
    ordered = sorted(FLOATS)  # @native_sorted
    thread_clocks.add(truth, "native_sorted", started)
    del ordered
    started = thread_clocks.start()
    for _ in range(8): digest = hashlib.sha256(BUF).digest()  # @native_sha
    thread_clocks.add(truth, "native_sha", started)
    started = thread_clocks.start()
    pure(PURE_ITERS)
    thread_clocks.add(truth, "pure", started)
truth["wall_s"] = perf_counter() - start

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
