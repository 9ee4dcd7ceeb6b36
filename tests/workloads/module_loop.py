"""A short program whose only work is a loop in module-level code (about 0.1 s).

Its code object is the module's own, which dies as the program ends, before the last samples
are resolved; the loop's time must still land on its lines (@loop_for, @loop_body).
Prints the sum. usage: module_loop.py
"""
s = 0
for i in range(1000000):  # @loop_for
    s += i  # @loop_body
print(s)
