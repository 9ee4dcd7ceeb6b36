"""A loop nest for the AI region proposals (tests/test_ai.py): the hot line is in the inner
loop of grid(), which a module-level block calls."""
import sys


def grid(n):
    total = 0
    for i in range(n):  # @outer
        row = []
        for j in range(n):
            row.append(i * j % 7)  # @hot
        total += sum(row)
    return total


def small():
    return sum(range(10))  # @outside


if __name__ == "__main__":  # @block
    print(grid(int(sys.argv[1]) if len(sys.argv) > 1 else 400), small())
