"""Long-running C builtins count as native time (SPEC §3): sorted() on a big list runs inside
libpython without executing bytecode; hashlib runs in OpenSSL. A pure-Python line is the
control. Each line is timed here; written to $GT_OUT as
{"native_sorted"|"native_sha"|"pure": {"wall_s", "cpu_s"}, "wall_s": whole run}.
usage: builtins_native.py [scale]   (scale 1.0 is about 4 s)
"""
import hashlib
import json
import os
import random
import sys
from time import perf_counter, thread_time

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROUNDS = 4
PURE_ITERS = int(10_000_000 * SCALE)

rng = random.Random(11)
FLOATS = [rng.random() for _ in range(int(2_000_000 * SCALE))]
BUF = rng.randbytes(int(32_000_000 * SCALE))

truth = {}


def add(key, wall0, cpu0):
    slot = truth.setdefault(key, {"wall_s": 0.0, "cpu_s": 0.0})
    slot["wall_s"] += perf_counter() - wall0
    slot["cpu_s"] += thread_time() - cpu0


def pure(n):
    acc = 0
    for i in range(n): acc += (i * 7) % 13  # @pure
    return acc


start = perf_counter()
for _ in range(ROUNDS):
    w, c = perf_counter(), thread_time()
    ordered = sorted(FLOATS)  # @native_sorted
    add("native_sorted", w, c)
    del ordered
    w, c = perf_counter(), thread_time()
    for _ in range(8): digest = hashlib.sha256(BUF).digest()  # @native_sha
    add("native_sha", w, c)
    w, c = perf_counter(), thread_time()
    pure(PURE_ITERS)
    add("pure", w, c)
truth["wall_s"] = perf_counter() - start

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
