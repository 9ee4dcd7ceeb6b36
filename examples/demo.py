"""triscope's demo: a small program with Python, native and waiting time in known places."""

import hashlib
import threading
import time
import zlib


def python_work(n):
    total = 0
    for i in range(n):  # pure Python: bytecode all the way
        total += (i * i) % 7
    return total


def native_work(rounds):
    data = bytes(range(256)) * 20000
    for _ in range(rounds):
        zlib.compress(data, 9)  # native: zlib's C code
        hashlib.sha256(data).digest()  # native: OpenSSL


def waiting(rounds):
    for _ in range(rounds):
        time.sleep(0.01)  # system time: the thread waits


def worker():
    python_work(1_500_000)


def main():
    thread = threading.Thread(target=worker, name="worker")
    thread.start()
    python_work(3_000_000)
    native_work(12)
    waiting(40)
    thread.join()
    print("demo finished")


if __name__ == "__main__":
    main()
