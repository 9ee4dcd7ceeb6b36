"""Pure-Python work in a helper module: its time belongs to this file's line, not the caller's."""


def spin(n):
    acc = 0
    for i in range(n): acc += (i * 5) % 11  # @helper_hot
    return acc
