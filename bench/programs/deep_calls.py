"""Deep call stacks for the cost of recording them: every sample lands about 60 frames down
(a chain of nested calls above a recursive function), near the 64 frames a stack is cut at,
so a stack costs about as much to record as one ever does.
usage: deep_calls.py [rounds]   (default 100; 0 only starts and ends)
"""
import sys


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def nest(depth, n):
    return fib(n) if depth == 0 else nest(depth - 1, n)


rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
total = 0
for _ in range(rounds):
    total += nest(40, 18)
print(total)
