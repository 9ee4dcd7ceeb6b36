"""A program with its own SIGALRM, SIGPROF, SIGVTALRM and SIGUSR1 handlers and interval timers.

For each timer (ITIMER_REAL while sleeping, ITIMER_PROF and ITIMER_VIRTUAL while computing)
it arms a one-shot timer ROUNDS times and waits for its handler each time, so each handler
must run exactly ROUNDS times; then SIGUSR1 is sent to itself ROUNDS times the same way. Last,
a periodic ITIMER_REAL runs across time.sleep calls (which Python resumes after the handler),
checking that each sleep still lasts its full length. Prints the counts (deterministic) and
"signals ok"; a handler that stops firing, or was replaced, fails with a message.
usage: stress_signals.py [scale]   (scale 1.0: 40 rounds each, about 1 s)
"""
import signal
import sys
import time

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROUNDS = max(5, int(40 * SCALE))
DEADLINE_S = 10.0

counts = {"alarm": 0, "prof": 0, "vtalarm": 0, "usr1": 0, "periodic": 0}


def counter(key):
    def handler(signo, frame):
        counts[key] += 1
    return handler


handlers = {signal.SIGALRM: counter("alarm"), signal.SIGPROF: counter("prof"),
            signal.SIGVTALRM: counter("vtalarm"), signal.SIGUSR1: counter("usr1")}
for signo, handler in handlers.items():
    signal.signal(signo, handler)


def burn():
    s = 0
    for i in range(2000):
        s += i * i  # @signals_burn
    return s


def wait_for(key, target, busy):
    deadline = time.monotonic() + DEADLINE_S
    while counts[key] < target:
        if time.monotonic() > deadline:
            print(f"signals: {key} handler ran {counts[key]} times, expected {target}",
                  file=sys.stderr)
            sys.exit(1)
        if busy:
            burn()
        else:
            time.sleep(0.001)


for which, key, busy in ((signal.ITIMER_REAL, "alarm", False),
                         (signal.ITIMER_PROF, "prof", True),
                         (signal.ITIMER_VIRTUAL, "vtalarm", True)):
    for r in range(ROUNDS):
        signal.setitimer(which, 0.002)  # one shot
        wait_for(key, r + 1, busy)
    signal.setitimer(which, 0)

for r in range(ROUNDS):
    signal.raise_signal(signal.SIGUSR1)
    wait_for("usr1", r + 1, False)

# Periodic SIGALRM across sleeps: each sleep is resumed after the handler (PEP 475).
signal.signal(signal.SIGALRM, counter("periodic"))
signal.setitimer(signal.ITIMER_REAL, 0.003, 0.003)
short = 0
for r in range(max(2, ROUNDS // 8)):
    start = time.monotonic()
    time.sleep(0.02)
    short += time.monotonic() - start < 0.0195
signal.setitimer(signal.ITIMER_REAL, 0)
signal.signal(signal.SIGALRM, signal.SIG_DFL)

for signo, handler in handlers.items():
    if signo != signal.SIGALRM and signal.getsignal(signo) is not handler:
        print(f"signals: handler of {signo} was replaced", file=sys.stderr)
        sys.exit(1)
if counts["periodic"] == 0 or short:
    print(f"signals: periodic timer ran {counts['periodic']} times, {short} short sleeps",
          file=sys.stderr)
    sys.exit(1)
print(f"alarm {counts['alarm']} prof {counts['prof']} vtalarm {counts['vtalarm']} "
      f"usr1 {counts['usr1']}")
print("signals ok")
