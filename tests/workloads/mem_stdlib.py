"""Standard-library and native-heavy code whose output must not change under a profiler.

sqlite3 (in-memory table, inserts, aggregates, an index), zlib (compress/decompress round
trips, crc32), json (dump/load round trip of a nested document), ctypes (qsort with a Python
callback, memmove, string buffers) and, when it is installed, numpy (integer matrix products
and reductions). Everything printed is deterministic; checks failing raise. No $GT_OUT truth:
the reference is the same program's stdout under plain python.
usage: mem_stdlib.py [scale]   (scale 1.0: about 1-2 s)
"""
import ctypes
import hashlib
import json
import sqlite3
import sys
import zlib

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
N = max(1000, int(60_000 * SCALE))

# ---- sqlite3 ----
db = sqlite3.connect(":memory:")
db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, value REAL, blob BLOB)")
db.executemany("INSERT INTO t (name, value, blob) VALUES (?, ?, ?)",
               ((f"name{i % 997}", i * 0.5, bytes([i % 256]) * (i % 64)) for i in range(N)))
db.execute("CREATE INDEX t_name ON t (name)")
count, total, blobs = db.execute("SELECT COUNT(*), SUM(value), SUM(LENGTH(blob)) FROM t").fetchone()
top = db.execute("SELECT name, COUNT(*) FROM t GROUP BY name "
                 "ORDER BY COUNT(*) DESC, name LIMIT 3").fetchall()
print("sqlite:", count, total, blobs, top)
db.close()

# ---- zlib ----
data = b"".join(b"%d:%s;" % (i, b"abcdefgh"[: i % 8]) for i in range(N * 4))
packed = zlib.compress(data, 6)
assert zlib.decompress(packed) == data
stream = zlib.compressobj(9)
chunks = [stream.compress(data[i:i + 65536]) for i in range(0, len(data), 65536)]
chunks.append(stream.flush())
assert zlib.decompress(b"".join(chunks)) == data
print("zlib:", len(data), len(packed), zlib.crc32(data), zlib.adler32(packed))

# ---- json ----
doc = {"items": [{"id": i, "name": f"item-{i}", "tags": [str(i % 7), str(i % 11)],
                  "score": i / 8, "nested": {"a": [i, i * 2], "b": None, "c": i % 2 == 0}}
                 for i in range(N // 4)]}
text = json.dumps(doc, sort_keys=True)
again = json.loads(text)
assert again == doc
print("json:", len(text), hashlib.sha256(text.encode()).hexdigest()[:16],
      sum(item["nested"]["a"][1] for item in again["items"]))

# ---- ctypes ----
libc = ctypes.CDLL(None)
values = (ctypes.c_int * N)(*((i * 7919) % 10007 for i in range(N)))
CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
libc.qsort.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, CMP]
libc.qsort.restype = None
libc.qsort(values, N, ctypes.sizeof(ctypes.c_int), CMP(lambda a, b: a[0] - b[0]))
assert all(values[i] <= values[i + 1] for i in range(N - 1))
src = ctypes.create_string_buffer(b"triscope" * 1000)
dst = ctypes.create_string_buffer(len(src))
ctypes.memmove(dst, src, len(src))
libc.strlen.restype = ctypes.c_size_t
print("ctypes:", values[0], values[N // 2], values[N - 1], libc.strlen(dst), dst.raw[:16])

# ---- numpy, when installed ----
try:
    import numpy as np
except ImportError:
    print("numpy: absent")
else:
    a = np.arange(300 * 300, dtype=np.int64).reshape(300, 300) % 97
    b = (a.T * 3 + 1) % 89
    c = a @ b
    print("numpy:", int(c.sum()), int(c.max()), int(np.sort(c.ravel())[c.size // 2]),
          np.unique(a % 13).tolist()[:5], a.tobytes()[:8].hex())
