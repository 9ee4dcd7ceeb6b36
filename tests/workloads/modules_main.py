"""Attribution across files: a helper module in a subdirectory package, and stdlib code.

Per round: heavy.spin() (pure Python in helpers_pkg/heavy.py, a profiled file: its time
belongs to @helper_hot there), json.dumps(indent=1) (the stdlib's pure-Python encoder) and
statistics.stdev() (pure-Python stdlib). The stdlib is not profiled by default, so its time
belongs to the calling lines @stdlib_json and @stdlib_stats. Each call is timed here;
written to $GT_OUT as {"helper_hot"|"stdlib_json"|"stdlib_stats": {"wall_s", "cpu_s"},
"wall_s": whole run}.
usage: modules_main.py [scale]   (scale 1.0 is about 4 s)
"""
import json
import os
import random
import statistics
import sys
from time import perf_counter, thread_time

from helpers_pkg import heavy

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROUNDS = 4
SPIN_ITERS = int(10_000_000 * SCALE)

rng = random.Random(5)
OBJ = [{f"k{i}": [rng.random(), "xxxxx", i, None, True] for i in range(10)}
       for _ in range(int(10_000 * SCALE))]
DATA = [rng.random() for _ in range(int(400_000 * SCALE))]

truth = {}


def add(key, wall0, cpu0):
    slot = truth.setdefault(key, {"wall_s": 0.0, "cpu_s": 0.0})
    slot["wall_s"] += perf_counter() - wall0
    slot["cpu_s"] += thread_time() - cpu0


start = perf_counter()
for _ in range(ROUNDS):
    w, c = perf_counter(), thread_time()
    heavy.spin(SPIN_ITERS)  # @call_helper
    add("helper_hot", w, c)
    w, c = perf_counter(), thread_time()
    text = json.dumps(OBJ, indent=1)  # @stdlib_json
    add("stdlib_json", w, c)
    w, c = perf_counter(), thread_time()
    sd = statistics.stdev(DATA)  # @stdlib_stats
    add("stdlib_stats", w, c)
truth["wall_s"] = perf_counter() - start

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
