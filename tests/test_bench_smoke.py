"""The benchmark harness (bench/run.py) on one tiny case, with triscope only.

`make bench` is not part of the tests (it takes up to 30 minutes and needs the peers from
the bench environment). This checks that the harness itself works with what the test
environment has: it runs bench/programs/bm_tiny.py plain and under triscope's two modes,
with no peer, and writes a results JSON and a report whose structure the full run shares.
"""
import json
import subprocess
import sys

from conftest import ROOT, describe


def test_bench_harness_on_a_tiny_benchmark(tmp_path):
    # GIVEN the tiny benchmark and triscope's two modes, no peers, two rounds
    out, doc = tmp_path / "results.json", tmp_path / "PERFORMANCE.md"
    # WHEN the harness runs it
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--benchmarks", "tiny",
         "--profilers", "triscope_cpu,triscope", "--rounds", "2", "--sections", "overhead",
         "--out", str(out), "--doc", str(doc)],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, describe(proc)
    # THEN every run is recorded and each profiler has a slowdown ratio
    results = json.loads(out.read_text())
    assert results["schema"] == "triscope-bench/1"
    for key in ("cpu", "cores", "ram_gb", "kernel"):
        assert results["machine"][key], results["machine"]
    assert results["profilers"] == ["plain", "triscope_cpu", "triscope"], results["profilers"]
    bench = results["overhead"]["benchmarks"]["tiny"]
    assert not bench["failed"], bench["failed"]
    for name in ("plain", "triscope_cpu", "triscope"):
        runs = bench["runs"][name]
        assert len(runs) == 2 and all(r["rc"] == 0 and r["wall_s"] > 0 for r in runs), runs
    for name in ("triscope_cpu", "triscope"):
        ratio = bench["ratio"][name]
        assert ratio is not None and 0.5 < ratio < 50, bench["ratio"]
        assert bench["program_ratio"][name] is not None, bench  # the program's own timer was read
        summary = results["overhead"]["summary"][name]
        assert summary["n"] == 1 and summary["median"] == ratio, summary
    # AND the report shows the machine, the goals and the table
    text = doc.read_text()
    for needle in ("## The machine", "## Goals", "## Overhead", "| tiny |", "triscope --cpu"):
        assert needle in text, needle


def test_a_benchmark_whose_package_is_missing_is_left_out(monkeypatch):
    # GIVEN a program that needs a module no interpreter has (the way bench/programs'
    # NumPy, pandas, Jinja2 and pytest programs need theirs), and pyperformance's absence
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import benchmarks
    needy = benchmarks.Benchmark("needy", "cpu", "own", "bm_tiny.py", 1,
                                 requires=("json", "no_such_module_for_this_test"))
    # WHEN the harness asks what each lacks under this interpreter
    lacking = benchmarks.missing(sys.executable, needy, pyperf_dir=None)
    # THEN only the module that cannot be imported is named (run.py reports it as "not
    # installed" and runs the rest), and a pyperformance program lacks pyperformance
    assert lacking == ["no_such_module_for_this_test"], lacking
    assert benchmarks.missing(sys.executable, benchmarks.ALL["nbody"], None) == ["pyperformance"]
    assert benchmarks.missing(sys.executable, benchmarks.TINY, None) == []
