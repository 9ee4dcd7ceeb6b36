"""NumPy benchmark: an array pipeline on a million floats, as in a data-cleaning script.

Each loop cleans a million noisy readings: vectorised arithmetic that makes a temporary
array per operation, reductions, a boolean mask and boolean indexing, a sort and fancy
indexing, a histogram, a convolution and a 200 x 200 matrix product. Nearly all the time
is in NumPy's C loops, and every array of more than a few kilobytes is a malloc (8 MB for a
million float64): this is the program where a memory profiler's native allocation hooks,
rather than its Python-level ones, are exercised, and where a CPU profiler must attribute
time spent in C to the Python line that called it. The matrix product goes to OpenBLAS,
which may run it on threads of its own. The random numbers come from a seeded generator,
so each run does the same work. Prints the time per loop in pyperf's
"name: value unit" form.
usage: bm_numpy.py [--loops N]
"""
import sys
from time import perf_counter

import numpy as np

READINGS = 1_000_000
SORTED = 100_000      # the prefix that is sorted: a full sort would dominate the loop
MATRIX = 200          # the covariance of MATRIX features over 1,000 samples


def clean(rng):
    t = np.linspace(0.0, 100.0, READINGS)
    signal = 3.0 * np.sin(t) + rng.standard_normal(READINGS)
    z = (signal - signal.mean()) / signal.std()
    outliers = np.abs(z) > 2.5
    cleaned = np.where(outliers, 0.0, signal)
    kept = signal[~outliers]
    order = np.argsort(kept[:SORTED])
    largest = kept[order[-1000:]]
    histogram = np.bincount((np.clip(z, -4.0, 4.0) * 10 + 40).astype(np.int64), minlength=81)
    smooth = np.convolve(cleaned[:200_000], np.full(16, 1 / 16), mode="valid")
    features = cleaned[:MATRIX * 1000].reshape(1000, MATRIX)
    covariance = features.T @ features / 1000
    return float(largest.sum() + histogram.max() + smooth[-1] + np.trace(covariance))


def main(loops):
    rng = np.random.default_rng(20)
    start = perf_counter()
    for _ in range(loops):
        assert clean(rng) > 0
    elapsed = perf_counter() - start
    print(f"numpy: {1000 * elapsed / loops:.3f} ms")


if __name__ == "__main__":
    main(int(sys.argv[sys.argv.index("--loops") + 1]) if "--loops" in sys.argv else 10)
