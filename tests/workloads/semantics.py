"""A program for checking that triscope runs a program exactly as python does.

Its arguments are actions, done in order; anything else (e.g. '--cpu') is only reported:
  info          print JSON: sys.argv, __name__, sys.path[0], __file__, __spec__ is None
  stdin         read all of stdin (bytes); print its length and sha256
  output        print unicode text and raw bytes (NUL, 0xff, CR LF); end without a newline
  big-output    print about 1 MB of lines
  stderr:MSG    write MSG and a newline to stderr
  spin:S        busy pure-Python work for S seconds
  marker:PATH   create the file PATH (shows the program ran)
  ready-loop    print 'ready', then busy-loop for up to 60 s (for SIGINT tests)
  exit:N        sys.exit(N)
  exit-msg:MSG  sys.exit(MSG)
  raise         raise ValueError from a nested call
"""
import hashlib
import json
import sys
import time


def spin(seconds):
    deadline = time.perf_counter() + seconds
    acc = 0
    while time.perf_counter() < deadline:
        for i in range(10_000): acc += (i * 7) % 13  # @spin_hot
    return acc


def inner(value):
    raise ValueError(f"bad value: {value!r}")


def outer(value):
    return inner(value) + 1


def do(action):
    name, _, arg = action.partition(":")
    if name == "info":
        print(json.dumps({"argv": sys.argv, "name": __name__, "path0": sys.path[0],
                          "file": __file__, "spec_is_none": __spec__ is None}))
    elif name == "stdin":
        data = sys.stdin.buffer.read()
        print(len(data), hashlib.sha256(data).hexdigest())
    elif name == "output":
        print("héllo wörld ✓ 日本語 \U0001F600 tab\there")
        sys.stdout.flush()
        sys.stdout.buffer.write(bytes(range(256)) + b"\r\n\x00\xff\xfe raw\n")
        sys.stdout.buffer.flush()
        sys.stdout.write("tail without newline ✓")
    elif name == "big-output":
        for i in range(20_000):
            print(f"line {i:06d} " + "x" * 40)
    elif name == "stderr":
        print(arg, file=sys.stderr)
    elif name == "spin":
        spin(float(arg))
    elif name == "marker":
        with open(arg, "w") as f:
            f.write("ran\n")
    elif name == "ready-loop":
        print("ready", flush=True)
        spin(60)
    elif name == "exit":
        sys.exit(int(arg))
    elif name == "exit-msg":
        sys.exit(arg)
    elif name == "raise":
        outer(42)


for action in sys.argv[1:]:
    do(action)
