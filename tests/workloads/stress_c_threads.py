"""A thread storm from C: threads made by pthread_create in a compiled helper call into Python.

The helper (tests/test_stress.py compiles it; its path is argv[1]) exports
`long storm(callback, nthreads, calls)`: it starts `nthreads` pthreads, each calling the ctypes
callback `calls` times, joins them and returns the sum of the results. Each call enters Python
from a thread Python has never seen (ctypes takes the GIL with PyGILState_Ensure, which makes a
thread state, and frees it on return), so thread states are born and die at a high rate while
a Python thread computes beside them. Every tenth call is longer, and the very first one
lasts about 0.2 s, long enough for its thread to be found and sampled. Prints the
results of each wave and "c storm ok".
usage: stress_c_threads.py helper.so [scale]   (scale 1.0: 12 waves x 16 threads x 20 calls)
"""
import ctypes
import sys
import threading

HELPER = sys.argv[1]
SCALE = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
WAVES = max(2, int(12 * SCALE))
THREADS = 16
CALLS = 20

lib = ctypes.CDLL(HELPER)
CALLBACK = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_int)
lib.storm.restype = ctypes.c_long
lib.storm.argtypes = [CALLBACK, ctypes.c_int, ctypes.c_int]


def on_call(token):
    n = 20_000 if token % 10 == 0 else 300
    if token == 0 and not first_wave_done:
        first_wave_done.append(token)
        n = 9_000_000  # one long call (0.5 s): the periodic scan finds it within 0.2 s
    s = 0
    for i in range(n):
        s += (i ^ token) % 11  # @c_callback_hot
    parts = [str(token)] * 20
    return s + len("".join(parts))


first_wave_done = []
callback = CALLBACK(on_call)  # kept alive for as long as C may call it
beside = [0]
stop = threading.Event()


def python_side():
    while not stop.is_set():
        beside[0] = (beside[0] + sum(i * i for i in range(2000))) % 1_000_003


companion = threading.Thread(target=python_side, name="companion")
companion.start()
results = []
for wave in range(WAVES):
    total = lib.storm(callback, THREADS, CALLS)
    if total < 0:
        print(f"wave {wave}: pthread_create failed", file=sys.stderr)
        sys.exit(1)
    results.append(total)
stop.set()
companion.join()
print(" ".join(map(str, results)))
print("c storm ok")
