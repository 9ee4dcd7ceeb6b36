"""LD_PRELOAD hygiene: the program's environment and its children's are its own.

Prints the program's own LD_PRELOAD (repr), the output of a non-Python child (`ls -1` of a
directory it fills with known files) and of a Python child (a computation). What each child
sees as LD_PRELOAD is written to $GT_OUT, not printed, so the output check and the
environment check can fail apart:
{"program": repr, "sh_child": str, "python_child": repr, "ls_rc", "python_rc"}.
usage: mem_env.py
"""
import json
import os
import subprocess
import sys
import tempfile

own = os.environ.get("LD_PRELOAD")
print("program LD_PRELOAD:", repr(own))

with tempfile.TemporaryDirectory() as d:
    for name in ("alpha.txt", "beta.bin", "gamma"):
        with open(os.path.join(d, name), "w") as f:
            f.write(name)
    ls = subprocess.run(["ls", "-1", d], capture_output=True, text=True)
print("ls rc", ls.returncode)
print(ls.stdout, end="")
print("ls stderr:", repr(ls.stderr))

code = ("import os, zlib; print(repr(os.environ.get('LD_PRELOAD')));"
        "print(zlib.crc32(b'x' * 1_000_000), sum(i * i for i in range(200_000)))")
py = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
py_lines = py.stdout.splitlines()
print("python child rc", py.returncode)
print("python child:", py_lines[1:] if len(py_lines) > 1 else py.stdout)
print("python child stderr:", repr(py.stderr))

sh = subprocess.run(["sh", "-c", 'printf "%s" "${LD_PRELOAD-<unset>}"'], capture_output=True,
                    text=True)
print("sh rc", sh.returncode)

if os.environ.get("GT_OUT"):
    with open(os.environ["GT_OUT"], "w") as f:
        json.dump({"program": repr(own), "sh_child": sh.stdout,
                   "python_child": py_lines[0] if py_lines else None,
                   "ls_rc": ls.returncode, "python_rc": py.returncode}, f)
