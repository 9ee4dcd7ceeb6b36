"""Programs whose SIGTERM finds the main thread away from the interpreter (tests/test_lifecycle.py).
Without a handler of their own, plain python dies of the signal at once, whatever the
threads are doing; under triscope, whose handler (Python) runs only on the main thread
between two bytecodes, each must still end by SIGTERM.

usage: sigterm_stuck.py thread | native | native GO_FILE
  thread: another thread takes a SIGTERM sent to itself while the main thread waits on a lock
          that nothing releases (the main thread's wait is never interrupted).
  native: prints `computing`, then the main thread computes in C for hours without coming
          back to the interpreter (the test sends the SIGTERM). Given GO_FILE, it first
          prints `waiting` and sleeps until that file exists (the test lets a checkpoint of
          the profile be written meanwhile).
"""
import os
import signal
import sys
import threading
import time


def take_sigterm_on_this_thread():
    time.sleep(0.5)
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)


if __name__ == "__main__":
    if sys.argv[1] == "thread":
        never_released = threading.Lock()
        never_released.acquire()
        threading.Thread(target=take_sigterm_on_this_thread, daemon=True).start()
        never_released.acquire()
    else:
        if len(sys.argv) > 2:
            print("waiting", flush=True)
            while not os.path.exists(sys.argv[2]):
                time.sleep(0.02)
        print("computing", flush=True)
        sum(range(10 ** 14))  # @stuck_in_c: one C call, hours long
    print("not reached")
