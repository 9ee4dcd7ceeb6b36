"""Overhead: each benchmark run plain and under every profiler, in interleaved rounds.

A round runs the plain program once, then each profiler once, in an order rotated from round
to round (so no profiler always runs right after the plain run, nor always last); a
profiled run's slowdown is its wall-clock time over the same round's plain time. Pairing
within a round cancels slow drifts of the machine (another job starting, thermal state),
which matter on a shared 2-core machine; the median over rounds drops the odd disturbed
run. The time is the whole process, start-up and the profiler's own output included: that
is what a user waits for. Two more ratios are kept beside it: the program's own timer
(pyperf's time per loop), without start-up and exit, and the process's CPU time (user +
system, all its threads and children), which other jobs on the machine disturb less than
wall-clock time, and which counts work a profiler moves to another core.
"""
import re

from common import Scratch, child_env, geomean, log, median, run_process
from profilers import BY_NAME

# pyperf's "name: 61.7 ms" line (bench/programs print the same form; a "%.3g" there writes
# 1.23e+03 ms for a loop over a second, so an exponent is read too).
_TIMING = re.compile(r"^[\w.\-]+: ([\d.]+(?:e[+-]?\d+)?) (ns|us|ms|sec)\s*$", re.M)
_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "sec": 1.0}


def program_time(stdout):
    """Seconds per loop as the program reported it (its last timing line), or None."""
    found = _TIMING.findall(stdout)
    if not found:
        return None
    value, unit = found[-1]
    return float(value) * _UNIT[unit]


def _one(python, profiler, script, args, timeout):
    with Scratch() as cwd:
        result = run_process(profiler.argv(python, script, args), cwd, env=child_env(),
                             timeout=timeout)
    return {"wall_s": round(result["wall_s"], 4), "cpu_s": round(result["cpu_s"], 4),
            "maxrss_mb": round(result["maxrss_mb"], 1),
            "out_bytes": result["out_bytes"], "program_s": program_time(result["stdout"]),
            "rc": result["rc"], "error": None if result.ok else result["stderr_tail"][-600:]}


def warm_up(python, profilers, bench, pyperf_dir):
    """One untimed run per configuration: byte-compiles the profilers' modules and loads the
    page cache, so the first timed round is not the slow one."""
    for name in profilers:
        _one(python, BY_NAME[name], bench.path(pyperf_dir), bench.args(1), timeout=120)


def _ours(name):
    return BY_NAME[name].module == "triscope"


def run_benchmark(python, bench, profilers, rounds, pyperf_dir, peer_rounds):
    """All rounds of one benchmark; returns its entry of the results. The peers run in the
    first `peer_rounds` rounds only, triscope's configurations and the plain run in every
    round: triscope's ratios, a few percent from 1, need the rounds; the peers' stand far
    enough apart that three tell them (and the run stays within its time budget)."""
    script, args = bench.path(pyperf_dir), bench.args()
    first = _one(python, BY_NAME["plain"], script, args, timeout=300)  # warm-up, untimed
    if first["rc"] != 0:
        log(f"  {bench.name}: plain run failed, skipped: {first['error']}")
        return {"category": bench.category, "note": bench.note, "error": first["error"]}
    # A profiler 20x slower than plain is reported as such; beyond that it is stopped.
    timeout = max(60.0, 20 * first["wall_s"])
    profiled = [p for p in profilers if p != "plain"]
    runs = {name: [] for name in ["plain", *profiled]}
    failed = {}
    for r in range(rounds):
        running = [name for name in profiled if r < peer_rounds or _ours(name)]
        shift = r % len(running) if running else 0
        order = ["plain", *running[shift:], *running[:shift]]
        for name in order:
            if name in failed or (r >= 2 and _clearly_slow(runs, name)):
                continue
            run = _one(python, BY_NAME[name], script, args, timeout)
            run["round"] = r
            runs[name].append(run)
            if run["rc"] != 0:
                failed[name] = run["error"] or f"exit status {run['rc']}"
                log(f"  {bench.name}: {name} failed (rc={run['rc']}): {failed[name][-200:]}")
    entry = {"category": bench.category, "note": bench.note, "loops": bench.loops,
             "args": [str(a) for a in args], "runs": runs, "failed": failed,
             "plain_s": median(r["wall_s"] for r in runs["plain"]),
             "ratio": {}, "program_ratio": {}, "cpu_ratio": {}, "maxrss_mb": {}}
    plain_by_round = {r["round"]: r for r in runs["plain"] if r["rc"] == 0}
    for name in runs:
        entry["maxrss_mb"][name] = median(r["maxrss_mb"] for r in runs[name] if r["rc"] == 0)
        if name == "plain" or name in failed:
            continue
        ratios, program, cpu = [], [], []
        for run in runs[name]:
            base = plain_by_round.get(run["round"])
            if base is None:
                continue
            ratios.append(run["wall_s"] / base["wall_s"])
            cpu.append(run["cpu_s"] / base["cpu_s"])
            if run["program_s"] and base["program_s"]:
                program.append(run["program_s"] / base["program_s"])
        entry["ratio"][name] = _round(median(ratios))
        entry["program_ratio"][name] = _round(median(program))
        entry["cpu_ratio"][name] = _round(median(cpu))
    return entry


# A profiler more than CLEARLY_SLOW times slower than plain after two rounds, or more than
# FAR_TOO_SLOW after one, is not run further on that benchmark: such a slowdown is far
# beyond the noise, and the 30-minute budget is better spent on the rounds that decide the
# close calls (Scalene on async_tree, 16-26x of 1.8 s, took 2.5 minutes of two rounds).
CLEARLY_SLOW = 4.0
FAR_TOO_SLOW = 10.0


def _clearly_slow(runs, name):
    if name == "plain":
        return False
    plain = {r["round"]: r["wall_s"] for r in runs["plain"]}
    ratios = [r["wall_s"] / plain[r["round"]] for r in runs[name] if r["round"] in plain]
    return bool(ratios) and (min(ratios) > FAR_TOO_SLOW
                             or len(ratios) >= 2 and min(ratios) > CLEARLY_SLOW)


def summarize(benchmarks, profilers):
    """Median and geometric mean of the per-benchmark ratios, per profiler.

    Both over the benchmarks where the profiler ran; `n` says on how many, `failed` lists
    the others, so a profiler cannot look better by failing on its hard cases unnoticed.
    """
    out = {}
    for name in profilers:
        if name == "plain":
            continue
        ratios = [b["ratio"][name] for b in benchmarks.values() if name in b.get("ratio", {})
                  and b["ratio"][name] is not None]
        program = [b["program_ratio"][name] for b in benchmarks.values()
                   if b.get("program_ratio", {}).get(name) is not None]
        cpu = [b["cpu_ratio"][name] for b in benchmarks.values()
               if b.get("cpu_ratio", {}).get(name) is not None]
        failed = [n for n, b in benchmarks.items() if name in b.get("failed", {})]
        out[name] = {"median": _round(median(ratios)), "geomean": _round(geomean(ratios)),
                     "max": _round(max(ratios)) if ratios else None, "n": len(ratios),
                     "program_median": _round(median(program)),
                     "program_geomean": _round(geomean(program)),
                     "cpu_median": _round(median(cpu)), "failed": failed}
    return out


def run(python, benchmarks, profilers, rounds, pyperf_dir, checkpoint=None, peer_rounds=None):
    """The overhead section of the results."""
    if benchmarks:
        log(f"overhead: warming up {len(profilers)} configurations")
        warm_up(python, profilers, benchmarks[0], pyperf_dir)
    peer_rounds = rounds if peer_rounds is None else min(peer_rounds, rounds)
    results = {"rounds": rounds, "peer_rounds": peer_rounds, "profilers": profilers,
               "benchmarks": {}}
    for i, bench in enumerate(benchmarks, 1):
        log(f"overhead [{i}/{len(benchmarks)}] {bench.name} ({bench.category})")
        entry = run_benchmark(python, bench, profilers, rounds, pyperf_dir, peer_rounds)
        results["benchmarks"][bench.name] = entry
        if entry.get("ratio"):
            shown = ", ".join(f"{k} {v:.2f}x" for k, v in entry["ratio"].items() if v)
            log(f"  plain {entry['plain_s']:.2f}s; {shown}")
        results["summary"] = summarize(results["benchmarks"], profilers)
        if checkpoint:
            checkpoint()
    results["summary"] = summarize(results["benchmarks"], profilers)
    return results


def _round(x, digits=4):
    return None if x is None else round(x, digits)
