"""A workload for `triscope diff`: one line's work is scaled by the argument.

`diff_work.py N`: the line marked @changed does N times the work of the line marked
@steady, which stays the same whatever N is, and builds a list N times as long (its memory
changes too, on every version: a generator of ints allocates nothing where ints are
recycled from a free list, as on 3.14). Two runs (N=1, then N=4) make a before/after
pair in which @changed is the line that got slower.
"""
import sys

UNIT = 1_000_000


def steady():
    return sum(i * i for i in range(UNIT))  # @steady


def changing(factor):
    return sum([i * 3 for i in range(UNIT * factor)])  # @changed


def main():
    factor = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    block = bytearray(4_000_000 * factor)  # @grows
    steady()
    changing(factor)
    return len(block)


if __name__ == "__main__":
    main()
