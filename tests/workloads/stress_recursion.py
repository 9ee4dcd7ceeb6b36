"""Very deep recursion, far beyond a profiler's frame cap (64): 5000 Python frames, recursion
through C (map) and through `yield from`, and RecursionError unwinding from the limit.

The work is at the bottom of each recursion, in leaf() (the line marked @recursion_leaf), so a
profiler that charges the innermost profiled frame puts nearly all the CPU time there.
Prints the results (deterministic) and "recursion ok".
usage: stress_recursion.py [scale]   (scale 1.0: about 1 s)
"""
import sys

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROUNDS = max(2, int(12 * SCALE))
DEPTH = 5000
sys.setrecursionlimit(20_000)


def leaf(n):
    s = 0
    for i in range(n):
        s += (i * i) % 13  # @recursion_leaf
    return s


def down(depth, n):
    if depth == 0:
        return leaf(n)
    return down(depth - 1, n) + 1


def through_c(depth, n):
    if depth == 0:
        return leaf(n)
    return next(map(through_c, [depth - 1], [n])) + 1


def nested_gen(depth, n):
    if depth == 0:
        yield leaf(n)
        return
    yield from nested_gen(depth - 1, n)


def forever(depth):
    return forever(depth + 1) + 1


results = []
for r in range(ROUNDS):
    results.append(down(DEPTH, 600_000))
    results.append(through_c(400, 200_000))
    results.append(sum(nested_gen(800, 200_000)))
errors = 0
for r in range(max(1, ROUNDS // 4)):
    try:
        forever(0)
    except RecursionError:
        errors += 1
print(sum(results), len(results), errors)
print("recursion ok")
