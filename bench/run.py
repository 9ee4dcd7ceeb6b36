"""triscope's benchmark harness: overhead and accuracy, side by side with its peers.

    python bench/run.py            the full set (`make bench`, < 30 min on 2 cores)
    python bench/run.py --quick    a subset (`make bench-quick`, < 5 min)
    python bench/run.py --report-only   re-render docs/PERFORMANCE.md from the saved results

Everything runs with one interpreter, --python (default: this one): the plain runs, triscope
and every peer, so the only difference between two runs of a benchmark is the profiler.
Peers that interpreter cannot import are left out and reported as such; with none installed
(the test environment) the harness measures triscope alone. Sections:

  overhead.py   slowdown on pyperformance programs (docs/DEFINITIONS.md, Quality bars)
  accuracy.py   errors against workloads that measure their own truth, and against memray's
                exact per-line allocation totals on real programs
  costs.py      triscope's cost per CPU sample, per allocation, profile size, own memory
  report.py     docs/PERFORMANCE.md and docs/overhead.png from the results JSON

Results go to bench/results/<full|quick>.json; the full run also rewrites the doc.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import accuracy
import benchmarks as benchmarks_mod
import costs
import overhead
import report
from common import RESULTS, ROOT, log, machine, now_iso, python_info, save_json
from profilers import PROFILERS

SECTIONS = ("overhead", "accuracy", "costs")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the bench-quick subset")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter that runs every benchmark (default: this one)")
    ap.add_argument("--benchmarks", help="comma-separated benchmark names (default: the set)")
    ap.add_argument("--profilers", help="comma-separated configurations (default: all available)")
    ap.add_argument("--rounds", type=int,
                    help="interleaved rounds per benchmark for plain and triscope (6; quick 3)")
    ap.add_argument("--peer-rounds", type=int,
                    help="how many of those rounds the peers run in too (3; quick 3)")
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help=f"which of {','.join(SECTIONS)} to run")
    ap.add_argument("--scale", type=float, help="accuracy workloads' scale (1.0; quick 0.3)")
    ap.add_argument("--long-run-s", type=float, help="length of the long run (60 s; quick 20 s)")
    ap.add_argument("--out", type=Path, help="results JSON (bench/results/full|quick.json)")
    ap.add_argument("--doc", type=Path, help="report to write (docs/PERFORMANCE.md for the full "
                    "run, bench/results/PERFORMANCE-quick.md for --quick)")
    ap.add_argument("--no-doc", action="store_true", help="write no report")
    ap.add_argument("--report-only", action="store_true", help="only re-render the report")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other sections of an existing --out file (re-run some)")
    args = ap.parse_args(argv)
    # Six rounds of triscope's configurations, three with the peers in them: the peers take
    # three quarters of a round's time, and five rounds of everything would take the full run
    # past its 30 minutes on 2 cores (the estimate is in bench/benchmarks.py).
    args.rounds = args.rounds or (3 if args.quick else 6)
    args.peer_rounds = args.peer_rounds or 3
    args.scale = args.scale or (0.3 if args.quick else 1.0)
    args.long_run_s = args.long_run_s or (20.0 if args.quick else 60.0)
    args.out = args.out or RESULTS / ("quick.json" if args.quick else "full.json")
    if args.doc is None:
        args.doc = (RESULTS / "PERFORMANCE-quick.md") if args.quick else ROOT / "docs" / "PERFORMANCE.md"
    args.sections = [s for s in args.sections.split(",") if s]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections: {sorted(unknown)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.report_only:
        results = json.loads(args.out.read_text())
        report.write(results, args.doc, args.out)
        return 0

    python = args.python
    wanted = args.profilers.split(",") if args.profilers else [p.name for p in PROFILERS]
    if "plain" not in wanted:
        wanted.insert(0, "plain")
    available, missing = [], {}
    for p in PROFILERS:
        if p.name not in wanted:
            continue
        if p.available(python):
            available.append(p.name)
        else:
            missing[p.name] = "not installed"
    previous = json.loads(args.out.read_text()) if args.merge and args.out.exists() else {}
    results = {"schema": "triscope-bench/1", "date": now_iso(), "quick": args.quick,
               "machine": machine(), "python": python_info(python),
               "profilers": available, "unavailable": missing,
               "versions": costs.versions(python, available)}
    pyperf_dir = benchmarks_mod.pyperformance_dir(python)
    chosen = benchmarks_mod.select(args.benchmarks.split(",") if args.benchmarks else None,
                                   quick=args.quick)
    # A benchmark whose packages are missing is left out and reported, as a peer is.
    lacking = {b.name: benchmarks_mod.missing(python, b, pyperf_dir) for b in chosen}
    unavailable_benchmarks = {name: f"not installed: {', '.join(what)}"
                              for name, what in lacking.items() if what}
    chosen = [b for b in chosen if b.name not in unavailable_benchmarks]
    if unavailable_benchmarks:
        results["unavailable_benchmarks"] = unavailable_benchmarks
        log("benchmarks left out: " + "; ".join(f"{name} ({why})" for name, why
                                                 in unavailable_benchmarks.items()))
    for section in SECTIONS:  # --merge: what this run does not redo comes from the last one
        if section not in args.sections and section in previous:
            results[section] = previous[section]
            results.setdefault("merged", []).append(section)
    log(f"profilers: {', '.join(available)}" + (f"; not installed: {', '.join(missing)}"
                                                 if missing else ""))
    started = time.perf_counter()
    checkpoint = lambda: save_json(args.out, results)  # noqa: E731 - partial results survive a crash

    if "overhead" in args.sections:
        t = time.perf_counter()
        results["overhead"] = overhead.run(python, chosen, available, args.rounds, pyperf_dir,
                                           checkpoint=checkpoint, peer_rounds=args.peer_rounds)
        results["overhead"]["seconds"] = round(time.perf_counter() - t, 1)
        checkpoint()
    if "accuracy" in args.sections:
        t = time.perf_counter()
        results["accuracy"] = accuracy.run(python, available, args.scale, args.quick,
                                           pyperf_dir)
        results["accuracy"]["seconds"] = round(time.perf_counter() - t, 1)
        checkpoint()
    if "costs" in args.sections and "triscope" in available:
        t = time.perf_counter()
        results["costs"] = costs.run(python, args.long_run_s, args.quick, available)
        results["costs"]["seconds"] = round(time.perf_counter() - t, 1)
        checkpoint()

    results["machine"]["load_avg_end"] = os.getloadavg()
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    if results.get("merged"):  # the duration of a whole run: its sections' times added up
        results["total_seconds"] = round(sum(results[s].get("seconds", 0) for s in SECTIONS
                                             if s in results), 1)
        results["date_merged_sections"] = previous.get("date")
    save_json(args.out, results)
    log(f"results: {args.out} ({results['total_seconds'] / 60:.1f} min)")
    if not args.no_doc:
        report.write(results, args.doc, args.out)
        log(f"report: {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
