"""Awaited time (docs/DEFINITIONS.md, Awaited time): two tasks wait concurrently in
asyncio.sleep, one twice as long as the other each round, while a third task computes
between sleep(0)s. The waits a task spent at each line are measured here with the event
loop's clock and written to $GT_OUT: {"long_s", "short_s"}.
usage: async_waits.py [rounds]   (about 0.6 s a round)
"""
import asyncio
import json
import os
import sys

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
LONG_S, SHORT_S = 0.4, 0.2
waited = {"long_s": 0.0, "short_s": 0.0}


async def long_waiter():
    loop = asyncio.get_running_loop()
    for _ in range(ROUNDS):
        began = loop.time()
        await asyncio.sleep(LONG_S)  # @long_wait
        waited["long_s"] += loop.time() - began


async def short_waiter():
    loop = asyncio.get_running_loop()
    for _ in range(ROUNDS):
        began = loop.time()
        await asyncio.sleep(SHORT_S)  # @short_wait
        waited["short_s"] += loop.time() - began
        await asyncio.sleep(LONG_S - SHORT_S)  # @rest


async def computer(stop):
    total = 0
    while not stop.is_set():
        total += sum(i * i % 7 for i in range(20_000))  # @compute
        await asyncio.sleep(0)
    return total


async def main():
    stop = asyncio.Event()
    busy = asyncio.create_task(computer(stop))
    await asyncio.gather(long_waiter(), short_waiter())
    stop.set()
    await busy


asyncio.run(main())
print("async waits ok")
if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as out:
        json.dump(waited, out)
