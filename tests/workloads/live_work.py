"""For tests/test_live.py: works until told to stop, on two lines, one heavy on time
(@live-time: a float loop, which allocates nothing) and one heavy on memory (@live-memory:
64 MiB zeroed by calloc, costing little time); then says what it sees of its terminal and
signals, and ends with the status asked for (a negative one: killed by that signal).

argv: STOP_FILE STATUS. It works until STOP_FILE exists.
"""
import os
import signal
import sys

stop_file, status = sys.argv[1], int(sys.argv[2])
print("live_work: started", flush=True)
while not os.path.exists(stop_file):
    f = 0.0
    while f < 300000.0: f += 1.0  # @live-time
    blob = bytes(64 << 20)  # @live-memory
    del blob
names = ("SIGINT", "SIGTERM", "SIGHUP", "SIGPIPE", "SIGCHLD", "SIGWINCH", "SIGTSTP")
seen = {name: repr(signal.getsignal(getattr(signal, name))) for name in names}
terminal = [os.isatty(fd) for fd in (0, 1, 2)]
size = tuple(os.get_terminal_size(1)) if terminal[1] else None
print(f"live_work: signals {seen}", flush=True)
print(f"live_work: terminal {terminal} {size}", flush=True)
print("live_work: on stderr", file=sys.stderr, flush=True)
if status < 0:
    os.kill(os.getpid(), -status)
sys.exit(status)
