"""Native blocks under whichever allocator the user preloaded (glibc's, jemalloc, tcmalloc).

The @blocks line mallocs BLOCKS blocks of BLOCK_BYTES through ctypes and keeps them all live,
then @release frees them. Prints the program's own LD_PRELOAD (repr), so that a run under
triscope can be compared with plain python's. Written to $GT_OUT:
{"ld_preload": repr, "bytes", "mb"}.
usage: mem_allocators.py
"""
import ctypes
import json
import os

BLOCKS = 5000
BLOCK_BYTES = 100_000
MB = 1 << 20

print("program LD_PRELOAD:", repr(os.environ.get("LD_PRELOAD")))
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

blocks = [libc.malloc(BLOCK_BYTES) for _ in range(BLOCKS)]  # @blocks
assert all(blocks), "malloc failed"
for block in blocks:
    libc.free(block)  # @release

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump({"ld_preload": repr(os.environ.get("LD_PRELOAD")),
                   "bytes": BLOCKS * BLOCK_BYTES, "mb": BLOCKS * BLOCK_BYTES / MB}, f)
