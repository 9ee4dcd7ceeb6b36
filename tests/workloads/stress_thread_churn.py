"""Thread churn: 32 threads alive at all times, each replaced by a fresh one when it ends.

WIDTH chains run side by side; each link is a threading.Thread that does a little Python work
and allocation, then starts its successor and ends, GENERATIONS links per chain. So threads
start and end continuously while 32 of them run, the case where a profiler's per-thread timers
and slots are created and torn down thousands of times. Every chain folds its work into a
checksum; the program prints the checksums and "churn ok" (deterministic output).
usage: stress_thread_churn.py [scale]   (scale 1.0: 32 chains x 150 generations, about 1 s)
"""
import sys
import threading

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
WIDTH = 32
GENERATIONS = max(2, int(150 * SCALE))

checksums = [0] * WIDTH
finished = threading.Semaphore(0)


def link(chain, generation):
    s = 0
    for i in range(500 + 37 * chain):
        s += (i * i + generation) % 7  # @churn_work
    junk = [bytes(64 + k) for k in range(40)]  # @churn_alloc
    checksums[chain] = (checksums[chain] * 31 + s + len(junk)) % 1_000_003
    if generation + 1 < GENERATIONS:
        threading.Thread(target=link, args=(chain, generation + 1),
                         name=f"churn-{chain}-{generation + 1}").start()
    else:
        finished.release()


for chain in range(WIDTH):
    threading.Thread(target=link, args=(chain, 0), name=f"churn-{chain}-0").start()
for _ in range(WIDTH):
    if not finished.acquire(timeout=120):
        print("churn: a chain stopped", file=sys.stderr)
        sys.exit(1)
print(" ".join(map(str, checksums)))
print(f"churn ok: {WIDTH * GENERATIONS} threads")
