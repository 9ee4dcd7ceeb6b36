"""A tiny CPU-bound program (about 0.1 s per 10 loops), for the harness's smoke test: it needs
nothing outside the standard library. Prints "tiny: <ms per loop> ms" like pyperf does.
usage: bm_tiny.py [--loops N]
"""
import sys
from time import perf_counter


def work():
    acc = 0
    for i in range(100_000):
        acc += (i * 7) % 13
    return acc


if __name__ == "__main__":
    loops = int(sys.argv[sys.argv.index("--loops") + 1]) if "--loops" in sys.argv else 10
    start = perf_counter()
    for _ in range(loops):
        work()
    print(f"tiny: {1000 * (perf_counter() - start) / loops:.3g} ms")
