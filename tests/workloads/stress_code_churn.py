"""Code objects created and destroyed continuously: fresh source compiled and exec'd in a loop,
its function called and dropped, so code objects die and new ones are born at the same
addresses.

Every generated function is named after the line it is defined on, fn_L<line> in
generated_a.py and gx_L<line> in generated_b.py (names of files that do not exist, in this
program's directory, so they are profiled), and spans exactly SPAN lines, so whoever reads the
profile can tell whether a line was charged to the right function. Prints the sum of the
results (deterministic) and "code churn ok".
usage: stress_code_churn.py [scale]   (scale 1.0: 1200 compilations)
"""
import os
import sys

SCALE = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
ROUNDS = max(20, int(1200 * SCALE))
SPAN = 5
SLOTS = 60
HERE = os.path.dirname(os.path.abspath(__file__))
FILES = {"fn": os.path.join(HERE, "generated_a.py"), "gx": os.path.join(HERE, "generated_b.py")}


def source(prefix, line):
    body = (f"def {prefix}_L{line}(n):\n"
            f"    s = {line}\n"
            f"    for k in range(n):\n"
            f"        s += (k * k) % 13\n"
            f"    return s\n")
    return "\n" * (line - 1) + body


total = 0
for i in range(ROUNDS):
    prefix = "fn" if i % 2 == 0 else "gx"
    line = 1 + SPAN * ((i // 2 * 7) % SLOTS)  # both files reuse the same lines
    code = compile(source(prefix, line), FILES[prefix], "exec")
    namespace = {}
    exec(code, namespace)
    total += namespace[f"{prefix}_L{line}"](15_000 + i % 500)
    del namespace, code
print(total)
print("code churn ok")
