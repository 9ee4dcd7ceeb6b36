"""Allocation storm: 8 threads mixing native malloc/calloc/realloc/free and Python growth.

Each thread runs ROUNDS rounds with its own seeded generator. Native part (ctypes, the GIL is
released during each call, so the threads really race inside the allocator): malloc a block,
fill it with a pattern, realloc it up or down, check the surviving prefix kept its content,
calloc a block and check it is zeroed, posix_memalign an aligned block, free everything.
Python part: a bytearray grown by +=, a list grown by append, a dict filled, all dropped.
Each thread folds what it read back into a checksum; the program prints one line per thread
(in thread order) and "storm ok", so its stdout is the same under any profiler that does not
break it. Exits 1 on any content mismatch. Written to $GT_OUT:
{"threads", "rounds", "native_bytes", "python_bytes", "wall_s"}.
usage: mem_storm.py [scale]   (scale 1.0: 8 threads x 2000 rounds, about 2.5 s)
"""
import ctypes
import json
import os
import random
import sys
import threading
from time import perf_counter

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
THREADS = 8
ROUNDS = max(10, int(2000 * SCALE))

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.calloc.restype = ctypes.c_void_p
libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
libc.realloc.restype = ctypes.c_void_p
libc.realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.free.restype = None
libc.free.argtypes = [ctypes.c_void_p]
libc.posix_memalign.restype = ctypes.c_int
libc.posix_memalign.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t, ctypes.c_size_t]

results = [None] * THREADS
errors = []
volumes = [[0, 0] for _ in range(THREADS)]


def storm(index):
    rng = random.Random(index)
    checksum = 0
    native = python = 0
    for r in range(ROUNDS):
        # Native: malloc, fill, realloc, check; calloc, check; memalign; free.
        size = rng.choice((16, 200, 4096, 65536, 300_000, 1 << 20))
        new_size = rng.choice((8, 1000, 50_000, 2 << 20))
        fill = (index * 31 + r) % 251 + 1
        p = libc.malloc(size)
        ctypes.memset(p, fill, size)
        q = libc.realloc(p, new_size)
        kept = min(size, new_size)
        if q is None or ctypes.string_at(q, kept) != bytes([fill]) * kept:
            errors.append(f"thread {index} round {r}: realloc lost content")
        z = libc.calloc(1, size)
        if ctypes.string_at(z, size) != bytes(size):
            errors.append(f"thread {index} round {r}: calloc not zeroed")
        aligned = ctypes.c_void_p()
        if libc.posix_memalign(ctypes.byref(aligned), 64, size) != 0 or aligned.value % 64:
            errors.append(f"thread {index} round {r}: posix_memalign failed")
        ctypes.memset(aligned, fill, size)
        head = ctypes.string_at(q, 1)[0] + ctypes.string_at(aligned, 1)[0]
        checksum = (checksum * 131 + head) % 1_000_000_007
        libc.free(q)
        libc.free(z)
        libc.free(aligned)
        native += size + new_size + 2 * size
        # Python: growth by += / append / dict insert, then dropped.
        buf = bytearray()
        for k in range(rng.randrange(1, 40)):
            buf += bytes([k % 256]) * 1024  # @storm_grow
        items = [bytes(rng.randrange(10, 300)) for _ in range(rng.randrange(10, 200))]
        table = {k: str(k) * 3 for k in range(rng.randrange(10, 300))}
        checksum = (checksum * 131 + len(buf) + sum(map(len, items)) + len(table)) % 1_000_000_007
        python += len(buf) + sum(map(len, items))
    results[index] = checksum
    volumes[index] = [native, python]


start = perf_counter()
threads = [threading.Thread(target=storm, args=(i,), name=f"storm-{i}") for i in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = perf_counter() - start

for i, checksum in enumerate(results):
    print(f"thread {i}: {checksum}")
if errors:
    print("\n".join(errors[:20]), file=sys.stderr)
    sys.exit(1)
print("storm ok")
if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump({"threads": THREADS, "rounds": ROUNDS,
                   "native_bytes": sum(v[0] for v in volumes),
                   "python_bytes": sum(v[1] for v in volumes), "wall_s": wall}, f)
