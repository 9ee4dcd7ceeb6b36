"""Programs that fight the profiler's signals (tests/test_hostile_signals.py).

Usage: hostile_signals.py MODE. Each mode prints what the program itself can observe, so that
its stdout under triscope must equal its stdout under plain python; the CPU-bound part is on
the line carrying the hot marker.
"""
import ctypes
import os
import signal
import sys
import threading

TIMER = signal.SIGRTMIN + 5  # the profiler's CPU timer signal
SUSPEND, RESUME = signal.SIGRTMIN + 6, signal.SIGRTMIN + 7


def spin(n=4_000_000):
    total = 0
    for i in range(n):
        total += i * i  # @hot
    return total


def reset_all():
    """Every handler back to the default, as some daemons and test runners do."""
    for signo in signal.valid_signals():
        try:
            signal.signal(signo, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass


def main(mode):
    if mode == "reset":
        reset_all()
        print(spin())
    elif mode == "handler":
        calls = []
        previous = signal.signal(TIMER, lambda signo, frame: calls.append(signo))
        print("previous", previous, "now ours:", callable(signal.getsignal(TIMER)))
        print(spin())
        print("calls before raising", len(calls))
        signal.raise_signal(TIMER)
        os.kill(os.getpid(), TIMER)
        print("calls after raising", calls)
        print("restored", signal.signal(TIMER, signal.SIG_IGN) is not None,
              signal.getsignal(TIMER))
        signal.raise_signal(TIMER)  # ignored, as the program asked
        print("still here")
    elif mode == "ignore":
        for signo in range(signal.SIGRTMIN, signal.SIGRTMAX + 1):
            signal.signal(signo, signal.SIG_IGN)
        print(spin())
    elif mode == "block":
        def worker():
            signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
            print(spin())
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    elif mode == "native":
        # libc's signal() from native code: in the default mode the preloaded library keeps
        # it to the program's view; in --cpu mode the watchdog takes the signal back.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.signal.restype = ctypes.c_void_p
        libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
        libc.signal(TIMER, 1)  # SIG_IGN
        print(spin())
    elif mode == "die":
        # The default action of a real-time signal the program raises itself: it dies of it.
        sys.stdout.write("before\n")
        sys.stdout.flush()
        signal.raise_signal(TIMER)
        print("not reached")
    elif mode == "controlled":
        reset_all()
        print("ready", flush=True)
        while not os.path.exists(os.environ["STOP_FILE"]):
            spin(100_000)
        print("survived")


main(sys.argv[1])
