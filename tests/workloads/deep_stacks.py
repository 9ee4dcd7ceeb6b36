"""Deep call stacks that share nearly all their frames: a recursive descent 20, 30, 40 and 50
calls deep, ending in one of two leaves. The stacks differ only in their depth and their
leaf, so a frame of one is a frame of many: what the profile's frame table holds once
(docs/PROFILE_FORMAT.md, "Versions"). At most 53 frames, under the 64 a stack keeps.

Each leaf notes the chain of calls above it as the program sees it: this file's frames,
outermost first, as [function, line]. Written to $GT_OUT: {"chains": [...], "leaves":
{"leaf_a": ..., "leaf_b": ...}} (the leaves' hot lines). Prints "deep stacks ok".
usage: deep_stacks.py [scale]   (scale 1.0: about 1 s)
"""
import json
import os
import sys

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
DEPTHS = (20, 30, 40, 50)
ROUNDS = max(1, round(4 * SCALE))
N = 400_000
HERE = os.path.realpath(__file__)
chains = set()
ours = {}  # co_filename → whether it is this file


def chain():
    """This file's frames above the leaf that called this, outermost first."""
    frame, calls = sys._getframe(2), []
    while frame is not None:
        name = frame.f_code.co_filename
        if ours.setdefault(name, os.path.realpath(name) == HERE):
            calls.append((frame.f_code.co_qualname, frame.f_lineno))
        frame = frame.f_back
    return tuple(reversed(calls))


def leaf_a(n):
    chains.add(chain())
    return sum([i * i % 7 for i in range(n)])  # @leaf_a


def leaf_b(n):
    chains.add(chain())
    return sum([i * 3 % 11 for i in range(n)])  # @leaf_b


def descend(depth, leaf, n):
    if depth == 0:
        return leaf(n)  # @call_leaf
    return descend(depth - 1, leaf, n) + 1  # @descend


total = 0
for _ in range(ROUNDS):
    for depth in DEPTHS:
        for leaf in (leaf_a, leaf_b):
            total += descend(depth, leaf, N)  # @call

if os.environ.get("GT_OUT"):
    lines = open(__file__).read().splitlines()
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump({"chains": sorted([list(map(list, c)) for c in chains]),
                   "leaves": {name: next(i + 1 for i, text in enumerate(lines)
                                         if text.endswith(f"# @{name}"))
                              for name in ("leaf_a", "leaf_b")}}, f)
print(total)
print("deep stacks ok")
