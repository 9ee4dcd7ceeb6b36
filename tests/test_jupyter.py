"""The IPython/Jupyter magics (docs/DEFINITIONS.md): `%load_ext triscope`, `%scrun`, `%%triscope`.

GIVEN an IPython InteractiveShell (in a subprocess: profiling runs in-process there) with
the extension loaded, WHEN a cell with a hot loop runs under %%triscope and a statement
under %scrun, THEN each leaves a profile of its own code (with its lines' source) in
`_triscope_profile`, the text report is printed, -o writes a valid profile, and errors are
one line. The driver prints one JSON summary line for the test to read.
"""
import json
import subprocess
import sys

import pytest

from conftest import describe, load_profile

pytest.importorskip("IPython")

DRIVER = r'''
import json, sys
import IPython.display
from IPython.core.interactiveshell import InteractiveShell

shown = []
IPython.display.display = lambda *objects, **kw: shown.extend(objects)
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "triscope")
summary = {}

def lines_of(profile):
    return {(path, line["lineno"]): (line["source"], sum(line[k] for k in (
        "cpu_python_pct", "cpu_native_pct", "cpu_system_pct")))
        for path, entry in profile["files"].items() for line in entry["lines"]}

def record(name, result):
    profile = shell.user_ns.pop("_triscope_profile", None)
    summary[name] = {"success": result.success, "profile": profile and {
        "lines": [[p, n, s, pct] for (p, n), (s, pct) in lines_of(profile).items()],
        "thread_time_s": profile["thread_time_s"],
        "unattributed_pct": profile["unattributed_pct"],
        "memory": profile["memory"]["enabled"]}}

print("=== cell", flush=True)
record("cell", shell.run_cell("""%%triscope --cpu-sampling-rate 0.002
def hot(n):
    total = 0
    for i in range(n):
        total += i * i  # the hot line
    return total
result = hot(1_500_000)
"""))
summary["result"] = shell.user_ns.get("result")
print("=== line", flush=True)
record("line", shell.run_cell(
    "%scrun --cpu-sampling-rate 0.002 -o " + sys.argv[1] + " again = hot(1_500_000)"))
summary["again"] = shell.user_ns.get("again")
print("=== html", flush=True)
record("html", shell.run_cell("%%triscope --html\nsum(range(1000))\n"))
summary["shown"] = [getattr(o, "data", str(o))[:200] for o in shown]
print("=== error", flush=True)
record("error", shell.run_cell("%scrun --cpu-sampling-rate 99 x = 1"))
record("raises", shell.run_cell("%%triscope\nboom = 1\n1 / 0\n"))
summary["boom"] = shell.user_ns.get("boom")
print("=== scalene", flush=True)
record("scalene", shell.run_cell("""%%scalene --cpu-sampling-rate 0.002
spun = hot(1_000_000)
"""))
print("SUMMARY " + json.dumps(summary), flush=True)
'''


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("ipython")
    (cwd / "driver.py").write_text(DRIVER)
    proc = subprocess.run([sys.executable, "driver.py", str(cwd / "line.json")], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "NO_COLOR": "1"})
    assert proc.returncode == 0, describe(proc)
    line = next(l for l in proc.stdout.splitlines() if l.startswith("SUMMARY "))
    return proc, json.loads(line[len("SUMMARY "):]), cwd


def section(stdout, name):
    return stdout.split(f"=== {name}\n", 1)[1].split("\n=== ", 1)[0]


def test_cell_magic_profiles_the_cell(session):
    proc, summary, _ = session
    cell = summary["cell"]
    assert cell["success"] and summary["result"] == sum(i * i for i in range(1_500_000))
    lines = {source.strip(): pct for _, _, source, pct in cell["profile"]["lines"]}
    hot = lines.get("total += i * i  # the hot line", 0) + lines.get("for i in range(n):", 0)
    assert hot > 50, cell["profile"]
    # the shell's own idle threads are not part of the cell's 100%
    assert cell["profile"]["unattributed_pct"] < 30
    assert cell["profile"]["memory"]
    report = section(proc.stdout, "cell")
    assert "triscope profile of <cell 1>" in report and "total += i * i" in report


def test_line_magic_profiles_the_statement_and_writes_outfile(session):
    proc, summary, cwd = session
    line = summary["line"]
    assert line["success"] and summary["again"] == summary["result"]
    # hot() lives in the first cell's file: its lines are profiled again, with their source
    assert any("total += i * i" in source and pct > 20
               for _, _, source, pct in line["profile"]["lines"]), line["profile"]
    profile = load_profile(cwd / "line.json")
    assert profile["thread_time_s"] == pytest.approx(line["profile"]["thread_time_s"])


def test_html_display(session):
    proc, summary, _ = session
    assert summary["html"]["success"] and summary["html"]["profile"] is not None
    (shown,) = summary["shown"]
    assert shown.startswith("<div><iframe srcdoc=")
    assert "Consider using" not in proc.stderr


def test_errors(session):
    proc, summary, _ = session
    bad = summary["error"]
    assert bad["profile"] is None
    errors = [l for l in proc.stderr.splitlines() if l.startswith("triscope: error:")]
    assert len(errors) == 1 and "cpu-sampling-rate" in errors[0], proc.stderr
    raised = summary["raises"]
    assert not raised["success"] and summary["boom"] == 1
    assert raised["profile"] is not None  # the profile up to the exception is still shown
    assert "ZeroDivisionError" in proc.stdout + proc.stderr


def test_scalene_spelling_of_the_cell_magic(session):
    """%%scalene, typed from memory by Scalene's users, is %%triscope."""
    proc, summary, _ = session
    cell = summary["scalene"]
    assert cell["success"] and cell["profile"] is not None, proc.stderr
    assert any("total += i * i" in source and pct > 20
               for _, _, source, pct in cell["profile"]["lines"]), cell["profile"]
    assert "triscope profile of <cell" in section(proc.stdout, "scalene")
