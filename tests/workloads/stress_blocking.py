"""Native code blocked in libc poll, nanosleep, select and read (through ctypes) while other
threads burn CPU: a profiler's signal must never make one of them fail with EINTR.

Two threads (main and a worker) alternate a slice of Python work (so their CPU clocks move
and a CPU-time timer fires now and then just before a call) with blocking calls:
poll(NULL, 0, 2 ms), nanosleep(2 ms), select(0, ..., 1 ms) and a read() of one byte from a
pipe that a writer thread feeds every few milliseconds. A burner thread spins the whole time.
Every return value is checked; a failure is counted with its errno. Prints the counts
(deterministic when nothing fails) and "blocking ok".
usage: stress_blocking.py [scale]   (scale 1.0: 2 threads x 80 rounds, about 1.5 s)
"""
import ctypes
import errno
import os
import sys
import threading

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROUNDS = max(5, int(80 * SCALE))

libc = ctypes.CDLL(None, use_errno=True)


class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


libc.poll.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int]
libc.nanosleep.argtypes = [ctypes.POINTER(timespec), ctypes.POINTER(timespec)]
libc.select.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                        ctypes.POINTER(timeval)]
libc.read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
libc.read.restype = ctypes.c_ssize_t

failures = []
lock = threading.Lock()
stop = threading.Event()


def fail(call, result):
    code = ctypes.get_errno()
    with lock:
        failures.append(f"{call} returned {result}, errno {errno.errorcode.get(code, code)}")


def work():
    s = 0
    for i in range(3000):
        s += i % 7  # @blocking_work
    return s


def blocker(read_fd, ok):
    buf = ctypes.create_string_buffer(1)
    for r in range(ROUNDS):
        work()
        result = libc.poll(None, 0, 2)
        if result != 0:
            fail("poll", result)
        work()
        result = libc.nanosleep(ctypes.byref(timespec(0, 2_000_000)), None)
        if result != 0:
            fail("nanosleep", result)
        work()
        result = libc.select(0, None, None, None, ctypes.byref(timeval(0, 1000)))
        if result != 0:
            fail("select", result)
        work()
        result = libc.read(read_fd, buf, 1)
        if result != 1:
            fail("read", result)
        ok[0] += 1


def writer(fds, rounds):
    for _ in range(rounds):
        libc.nanosleep(ctypes.byref(timespec(0, 3_000_000)), None)
        for fd in fds:
            os.write(fd, b"x")


def burner():
    while not stop.is_set():
        work()


pipes = [os.pipe(), os.pipe()]
counts = [[0], [0]]
burn = threading.Thread(target=burner, name="burner")
burn.start()
feed = threading.Thread(target=writer, args=([w for _, w in pipes], ROUNDS), name="writer")
feed.start()
worker = threading.Thread(target=blocker, args=(pipes[1][0], counts[1]), name="blocker")
worker.start()
blocker(pipes[0][0], counts[0])
worker.join()
feed.join()
stop.set()
burn.join()
if failures:
    print(f"blocking: {len(failures)} calls failed: {failures[:10]}", file=sys.stderr)
    sys.exit(1)
print(f"rounds {counts[0][0]} {counts[1][0]}")
print("blocking ok")
