"""Generators, coroutines and asyncio: a generator pipeline, a generator expression, many
asyncio tasks that compute between awaits, an async generator, a cancelled task and work
handed to a thread with asyncio.to_thread. Prints the results (deterministic) and
"async ok".
usage: stress_async.py [scale]   (scale 1.0: about 1 s)
"""
import asyncio
import sys

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
N = max(1000, int(1_500_000 * SCALE))


def squares(n):
    for i in range(n):
        yield (i * i) % 17  # @gen_yield


def pipeline(n):
    evens = (x for x in squares(n) if x % 2 == 0)  # @genexpr
    return sum(evens)


async def worker(k, n):
    s = 0
    for step in range(10):
        for i in range(n // 10):
            s += (i ^ k) % 7  # @coro_hot
        await asyncio.sleep(0)
    return s


async def ticker(n):
    for i in range(n):
        yield i
        await asyncio.sleep(0)


def blocking(n):
    return sum(i % 3 for i in range(n))


async def main():
    results = await asyncio.gather(*(worker(k, N // 20) for k in range(40)))
    total = sum(results)
    async for i in ticker(200):
        total += i
    sleeper = asyncio.create_task(asyncio.sleep(10))
    await asyncio.sleep(0.01)
    sleeper.cancel()
    try:
        await sleeper
    except asyncio.CancelledError:
        total += 1
    total += await asyncio.to_thread(blocking, N)
    return total


print(pipeline(N), asyncio.run(main()))
print("async ok")
