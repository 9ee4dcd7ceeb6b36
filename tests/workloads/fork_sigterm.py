"""Children SIGTERMed right after they are forked (tests/test_processes.py): each must end by
SIGTERM, as under plain python, whatever point of its start the signal reaches.

usage: fork_sigterm.py COUNT; prints `survivor <kind> <i>` for a child still alive 10 s after
its SIGTERM (then killed; the first of each kind ends that kind's loop), and `ended COUNT`.
"""
import multiprocessing
import os
import signal
import sys
import time

GRACE_S = 10.0


def outlived(pid_ended, kill) -> bool:
    """Whether the child is still there GRACE_S after its SIGTERM (then it is killed)."""
    deadline = time.monotonic() + GRACE_S
    while not pid_ended():
        if time.monotonic() > deadline:
            kill()
            return True
        time.sleep(0.002)
    return False


def forked(count: int) -> None:
    for i in range(count):
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        os.kill(pid, signal.SIGTERM)
        status = []

        def ended():
            done, code = os.waitpid(pid, os.WNOHANG)
            status.append(code)
            return done != 0

        if outlived(ended, lambda: (os.kill(pid, signal.SIGKILL), os.waitpid(pid, 0))):
            print("survivor fork", i, flush=True)
            return  # one is enough: each costs GRACE_S
        if not (os.WIFSIGNALED(status[-1]) and os.WTERMSIG(status[-1]) == signal.SIGTERM):
            print("not ended by SIGTERM: fork", i, status[-1], flush=True)


def block_on(lock):
    lock.acquire()  # the parent holds it: blocks until killed


def pool_like(count: int) -> None:
    """A multiprocessing worker blocked on a queue's lock, terminated as it starts."""
    context = multiprocessing.get_context("fork")
    lock = context.Lock()
    lock.acquire()
    for i in range(count):
        process = context.Process(target=block_on, args=(lock,))
        process.start()
        process.terminate()
        if outlived(lambda: process.join(0) or process.exitcode is not None, process.kill):
            print("survivor process", i, flush=True)
            return
        if process.exitcode != -signal.SIGTERM:
            print("not ended by SIGTERM: process", i, process.exitcode, flush=True)


if __name__ == "__main__":
    count = int(sys.argv[1])
    forked(count)
    pool_like(count)
    print("ended", count)
