"""Known allocation volumes: Python's allocator on one line, native malloc on another.

py_phase allocates PY_CHUNKS bytearrays of 1 MiB on the marked line (each dropped on the next
round, so the memory is churned, not kept); native_phase calls libc malloc + free for
NATIVE_CHUNKS blocks of 1 MiB through ctypes. A short sleep per round spreads the work over a
few seconds. ctypes looks malloc up in the process's global scope (CDLL(None)), as the program
would see it with an allocator preloaded; a handle on libc.so.6 itself would bypass any
interposer. Written to $GT_OUT:
{"py_alloc"|"native_alloc": {"bytes", "mb", "blocks", "wall_s"}, "malloc_interposed": bool,
 "wall_s"}.
usage: mem_volumes.py [scale]   (scale 1.0: 400 MiB + 200 MiB, about 3.5 s)
"""
import ctypes
import json
import os
import sys
import time
from time import perf_counter

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
MB = 1 << 20
PY_CHUNKS = int(400 * SCALE)
NATIVE_CHUNKS = int(200 * SCALE)
PAUSE_S = 0.005

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.restype = None
libc.free.argtypes = [ctypes.c_void_p]


def malloc_interposed():
    """True when a loaded library other than libc defines malloc (an allocator is preloaded).

    Comparing addresses through the global scope does not work: in a non-PIE interpreter
    (Debian's) the global malloc is the executable's PLT stub. So every mapped library is asked
    for its own malloc (dlsym on its handle searches it before its dependencies)."""
    own = ctypes.cast(ctypes.CDLL("libc.so.6").malloc, ctypes.c_void_p).value
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if ".so" in line and "/" in line}
    for path in paths:
        try:
            lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
            if ctypes.cast(lib.malloc, ctypes.c_void_p).value != own:
                return True
        except (OSError, AttributeError):
            continue
    return False


truth = {"malloc_interposed": malloc_interposed()}


def py_phase(n):
    for _ in range(n):
        buf = bytearray(MB)  # @py_alloc
        time.sleep(PAUSE_S)
    return n * MB


def native_phase(n):
    for _ in range(n):
        libc.free(libc.malloc(MB))  # @native_alloc
        time.sleep(PAUSE_S)
    return n * MB


start = perf_counter()
for key, phase, n in (("py_alloc", py_phase, PY_CHUNKS),
                      ("native_alloc", native_phase, NATIVE_CHUNKS)):
    w = perf_counter()
    nbytes = phase(n)
    truth[key] = {"bytes": nbytes, "mb": nbytes / MB, "blocks": n, "wall_s": perf_counter() - w}
truth["wall_s"] = perf_counter() - start

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump(truth, f)
