"""Many memory samples, few of them alive at once: 12,000 native blocks of 32 to 256 KiB
(anonymous mappings through ctypes' mmap and munmap, never touched: no allocator's heap
keeps pages of them resident), 256 kept alive at a time. At the default 256 KiB
sampling interval that is about 6,500 sampled allocations and as many frees of sampled
blocks: more than a lap of the memory-sample queue (4,096 records) and inserts all over a
table sized for every block that could be tracked, which made triscope's own memory grow
with the run rather than with what the program holds. Paced (10 ms asleep every 100 blocks,
while triscope drains its queues 10 times a second) so that the queue never fills: the
records queued at once stay far below its capacity.

Writes to $GT_OUT: {"rss_kb": the resident memory at the end (VmRSS), "samples_lost":
memory events triscope lost (null when not profiled)}.
usage: mem_own_memory.py
"""
import ctypes
import json
import os
import random
import sys
import time

BLOCKS = 12_000
ALIVE = 256

PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS = 1, 2, 0x02, 0x20

libc = ctypes.CDLL(None)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


def allocate(size):
    return libc.mmap(None, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), size


def release(block):
    libc.munmap(*block)


def churn():
    rng = random.Random(7)
    alive = [None] * ALIVE
    for i in range(BLOCKS):
        at = i % ALIVE
        if alive[at] is not None:
            release(alive[at])
        alive[at] = allocate(rng.randrange(32 << 10, 256 << 10))
        if i % 100 == 99:
            time.sleep(0.01)
    for block in alive:
        release(block)


def resident_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


churn()
native = sys.modules.get("triscope._native")
lost = native.sample_counts()[2] if native is not None else None
with open(os.environ["GT_OUT"], "w") as out:
    json.dump({"rss_kb": resident_kb(), "samples_lost": lost}, out)
