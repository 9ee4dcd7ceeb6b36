"""triscope's own costs: per CPU sample, per allocation, profile size and own memory; and
every profiler's fixed cost (start-up and exit, on an empty program).

- Per CPU sample: bench/programs/gap_probe.py, a loop that reads the clock and adds up the
  gaps between reads, plain and under `triscope --cpu` at sampling intervals of 0.1 s and
  0.001 s. Each sample interrupts the thread for its signal and handler: the extra short
  gaps per extra sample are that cost, measured inside the thread, so that other jobs on
  the machine, which lengthen whole runs by several percent, do not drown a cost of a few
  microseconds. Linux checks CPU-time timers at each scheduler tick (CONFIG_HZ, often 250),
  so the short interval yields at most HZ samples a second. The extra medium gaps per extra
  interval show what the consumer thread's wake-ups take from the sampled thread.
- Allocation fast path: bench/programs/alloc_loop.py times its own loops (N allocations
  and frees each) with memory profiling on (default) and off (--cpu); the difference per
  iteration is the cost of the hooks, sampling included (one sample per 256 KiB on average).
- Short-lived threads: bench/programs/thread_churn.py starts and joins N threads that do
  nothing, timing its own loop, plain and under `--cpu` and the default mode: the extra
  microseconds per thread (registration, the thread's timer, the last measure of its
  waiting as it ends) are what a thread-per-task program pays per task.
- Long run: bench/programs/long_run.py for 60 s (20 s in quick) under triscope's default
  mode: the size of profile.json and profile.html, and the profiler's own memory, as peak
  RSS profiled minus peak RSS of the same program run plain (its heap is steady, so a
  shorter plain run has the same peak).
- Merge at scale: `triscope merge` of 2,000 generated worker profiles (200 in quick), each
  20 files of 200 lines and 100 stacks: its wall time and peak RSS.
- The end of a real run: a `--cpu` run of richards timed inside the launcher's process, its
  end split into writing the JSON, the text report (reading the profile back included) and
  the page (the regions of the profiled file included), which an empty program's end does
  not show (no line is measured there).
- Where the fixed cost goes: of the milliseconds triscope adds to an empty program, what
  `python -m` itself costs (runpy and its imports: `python -m empty` against `python
  empty.py`), triscope's imports (every interpreter of the run's `-X importtime` self
  times, less `python -m empty`'s),
  and the HTML page (importing its writer and rendering the empty run's profile in a fresh
  interpreter); the rest is everything else of a run (a second interpreter start in the
  default mode, the C core's start and stop, its thread, the hooks, the JSON, the text
  report). -X importtime slows the imports it times a little, so that part reads high.
"""
import json
import shutil
import subprocess

from common import PROGRAMS, Scratch, child_env, log, median, run_process
from profilers import pyspy_binary


def _triscope(python, options, script, args, cwd, timeout=600):
    argv = [python, "-m", "triscope", *options, script, *args]
    return run_process(argv, cwd, env=child_env(), timeout=timeout)


def per_sample(python, rounds, seconds):
    """Per-sample cost from bench/programs/gap_probe.py: plain, and under `triscope --cpu`
    at 0.1 s and 0.001 s, interleaved. The extra short interruptions per extra sample are
    the handler's cost in the profiled thread; the extra medium ones per extra wake-up of
    the consumer thread (counted from its context switches, about one per interval) are
    what those wake-ups take from it when they land on its core. The process CPU-time
    difference per extra sample is kept too: it is the simplest measure but, on a shared
    machine, swamped by noise (see `cpu_noise_us`)."""
    script = PROGRAMS / "gap_probe.py"
    configs = {"plain": None, "slow": "0.1", "fast": "0.001"}
    runs = {k: [] for k in configs}
    for r in range(rounds):
        order = list(configs) if r % 2 == 0 else list(reversed(configs))
        for key in order:
            with Scratch() as cwd:
                if configs[key] is None:
                    res = run_process([python, script, seconds], cwd, env=child_env())
                    samples = 0
                else:
                    res = _triscope(python, ["--cpu", "--cpu-sampling-rate", configs[key],
                                             "--json", "-o", "p.json"], script, [seconds], cwd)
                    samples = json.loads((cwd / "p.json").read_text())["samples"] if res.ok else 0
            if not res.ok:
                return {"failed": res["stderr_tail"][-300:]}
            gaps = json.loads(res["stdout"].strip().splitlines()[-1])
            runs[key].append({**gaps, "samples": samples, "cpu_s": res["cpu_s"]})
    med = {k: {f: median(r[f] for r in v) for f in ("short", "short_ns", "medium", "medium_ns",
                                                     "long", "samples", "cpu_s",
                                                     "other_switches")}
           for k, v in runs.items()}
    extra_samples = med["fast"]["samples"] - med["slow"]["samples"]
    extra_wakeups = med["fast"]["other_switches"] - med["slow"]["other_switches"]
    out = {"seconds": seconds, "runs": runs, "median": med,
           "samples_per_s_fast": round(med["fast"]["samples"] / seconds, 1),
           "wakeups_per_s": {k: round(med[k]["other_switches"] / seconds, 1)
                             for k in ("slow", "fast")}}
    if extra_samples > 0:
        per = [(f["short_ns"] - s["short_ns"]) / 1000 / (f["samples"] - s["samples"])
               for f, s in zip(runs["fast"], runs["slow"]) if f["samples"] > s["samples"]]
        out["handler_us"] = round((med["fast"]["short_ns"] - med["slow"]["short_ns"]) / 1000
                                  / extra_samples, 2)
        out["handler_us_range"] = [round(min(per), 2), round(max(per), 2)] if per else None
        out["short_per_sample"] = round((med["fast"]["short"] - med["slow"]["short"])
                                        / extra_samples, 2)
        out["tick_us"] = (round((med["fast"]["medium_ns"] - med["slow"]["medium_ns"]) / 1000
                                / extra_wakeups, 2) if extra_wakeups > 0 else None)
        out["cpu_us"] = round(1e6 * (med["fast"]["cpu_s"] - med["slow"]["cpu_s"]) / extra_samples, 1)
        slow_cpu = [r["cpu_s"] for r in runs["slow"]]
        out["cpu_noise_us"] = round(1e6 * (max(slow_cpu) - min(slow_cpu)) / extra_samples, 1)
    return out


def alloc_path(python, rounds, n):
    script = PROGRAMS / "alloc_loop.py"
    runs = {"memory": [], "cpu": []}
    for r in range(rounds):
        for mode in (("memory", "cpu") if r % 2 == 0 else ("cpu", "memory")):
            options = ["--json", "-o", "p.json"] + (["--cpu"] if mode == "cpu" else [])
            with Scratch() as cwd:
                res = _triscope(python, options, script, [n], cwd)
            if not res.ok:
                return {"failed": res["stderr_tail"][-300:]}
            runs[mode].append(json.loads(res["stdout"].strip().splitlines()[-1]))
    with Scratch() as cwd:  # the same loops without any profiler, for scale
        plain = run_process([python, script, n], cwd, env=child_env())
    base = json.loads(plain["stdout"].strip().splitlines()[-1]) if plain.ok else {}
    out = {}
    for kind in ("small", "large", "native"):
        diffs = [m[kind]["ns"] - c[kind]["ns"] for m, c in zip(runs["memory"], runs["cpu"])]
        out[kind] = {"ns": round(median(diffs), 1),
                     "range": [round(min(diffs), 1), round(max(diffs), 1)],
                     "iteration_ns_plain": round(base[kind]["ns"], 1) if base else None,
                     "iteration_ns_cpu": round(median(c[kind]["ns"] for c in runs["cpu"]), 1),
                     "iteration_ns_memory": round(median(m[kind]["ns"] for m in runs["memory"]), 1),
                     "n": runs["cpu"][0][kind]["n"]}
    return out


def per_thread(python, rounds, n):
    """Microseconds a short-lived thread costs (bench/programs/thread_churn.py): plain, under
    `--cpu` and the default mode, in interleaved rounds; each run times its own loop, so
    start-up and exit do not enter."""
    script = PROGRAMS / "thread_churn.py"
    modes = {"plain": None, "cpu": ["--cpu"], "full": []}
    runs = {mode: [] for mode in modes}
    for r in range(rounds):
        for mode in (list(modes) if r % 2 == 0 else list(reversed(modes))):
            with Scratch() as cwd:
                if modes[mode] is None:
                    res = run_process([python, script, n], cwd, env=child_env())
                else:
                    res = _triscope(python, [*modes[mode], "--json", "-o", "p.json"], script,
                                    [n], cwd)
            if not res.ok:
                return {"failed": res["stderr_tail"][-300:]}
            runs[mode].append(json.loads(res["stdout"].strip().splitlines()[-1])["us"])
    out = {"n": n}
    for mode in modes:
        out[f"{mode}_us"] = round(median(runs[mode]), 1)
    for mode in ("cpu", "full"):
        out[f"{mode}_extra_us"] = round(out[f"{mode}_us"] - out["plain_us"], 1)
    return out


def long_run(python, seconds):
    script = PROGRAMS / "long_run.py"
    with Scratch() as cwd:
        plain = run_process([python, script, min(seconds, 5.0)], cwd, env=child_env())
    with Scratch() as cwd:
        res = _triscope(python, [], script, [seconds], cwd, timeout=seconds * 5 + 120)
        if not res.ok:
            return {"failed": res["stderr_tail"][-300:]}
        prof = json.loads((cwd / "profile.json").read_text())
        out = {"seconds": seconds,
               "json_kb": round((cwd / "profile.json").stat().st_size / 1024, 1),
               "html_kb": round((cwd / "profile.html").stat().st_size / 1024, 1)
               if (cwd / "profile.html").exists() else None,
               "samples": prof["samples"],
               "lines": sum(len(e["lines"]) for e in prof["files"].values()),
               "peak_rss_mb": round(res["maxrss_mb"], 1),
               "plain_peak_rss_mb": round(plain["maxrss_mb"], 1),
               "own_memory_mb": round(res["maxrss_mb"] - plain["maxrss_mb"], 1),
               "wall_s": round(res["wall_s"], 1)}
    return out


def merge_at_scale(python, count):
    """`triscope merge` of `count` worker profiles, each 20 files of 200 lines and 100
    stacks, made from one real profile's line: its seconds and peak RSS (docs/ARCHITECTURE.md,
    "Merging at scale": the inputs are folded in one at a time)."""
    with Scratch() as cwd:
        res = _triscope(python, ["--cpu", "--stacks", "--json", "-o", "seed.json"],
                        PROGRAMS / "long_run.py", [0.5], cwd)
        if not res.ok:
            return {"failed": res["stderr_tail"][-300:]}
        seed = json.loads((cwd / "seed.json").read_text())
        template = next(line for entry in seed["files"].values() for line in entry["lines"])
        stack = seed["stacks"][0] if seed["stacks"] else {"frames": [], "samples": 1,
                                                            "seconds": 0.01}
        paths = []
        for worker in range(count):
            profile = {key: value for key, value in seed.items()
                       if key not in ("processes", "stack_frames")}  # stacks: as triples
            profile["pid"] = 10000 + worker
            profile["files"] = {
                f"/job/task_{f}.py": {**{k: 0.0 for k in ("cpu_pct", "cpu_python_pct",
                                                         "cpu_native_pct", "cpu_system_pct")},
                                      "lines": [dict(template, lineno=n) for n in range(1, 201)],
                                      "functions": []} for f in range(20)}
            profile["stacks"] = [dict(stack, frames=[[f"/job/task_{s % 20}.py", f"f{s}", s]])
                                 for s in range(100)]
            paths.append(cwd / f"w{worker:05d}.json")
            paths[-1].write_text(json.dumps(profile))
        res = run_process([python, "-m", "triscope", "merge", "-o", "job.json", *paths], cwd,
                          env=child_env(), timeout=3600)
        if not res.ok:
            return {"failed": res["stderr_tail"][-300:]}
        return {"profiles": count, "input_mb": round(sum(p.stat().st_size for p in paths) / 2**20),
                "seconds": round(res["wall_s"], 1), "peak_rss_mb": round(res["maxrss_mb"], 1)}


def _own_instructions(out) -> int:
    """Instructions executed in triscope's own code (its C core and allocator library, where
    the function was: callgrind's self cost, every thread), from one callgrind output file.
    The program's and the interpreter's instructions are left out, so how much work the
    interpreter did around the samples (a collection, a dict resized, a report of one more
    file at the end) does not blur the count."""
    listing = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100",
                              str(out)], capture_output=True, text=True).stdout
    total = 0
    for row in listing.splitlines():
        count, _, where = row.strip().partition(" ")
        count = count.replace(",", "")
        if "/triscope/" in where and count.isdigit():
            total += int(count)
    return total


def _instructions(python, argv, cwd):
    """Instructions the command executes, every process of it (callgrind's totals), those in
    triscope's own code, and the samples of the profile it wrote to p.json, if any."""
    run_process(["valgrind", "--tool=callgrind", "--trace-children=yes",
                 f"--callgrind-out-file={cwd}/callgrind.%p", *argv], cwd,
                env=child_env({"PYTHONHASHSEED": "0"}), timeout=1200)
    total = own = 0
    for out in cwd.glob("callgrind.*"):
        total += sum(int(row.split()[1]) for row in out.read_text(errors="replace").splitlines()
                     if row.startswith("totals:"))
        own += _own_instructions(out)
        out.unlink()
    profile = cwd / "p.json"
    samples, depth = 0, 0
    if profile.exists():
        data = json.loads(profile.read_text())
        samples = data["samples"]
        depth = max((len(stack["frames"]) for stack in data["stacks"]), default=0)
        profile.unlink()
    return total, own, samples, depth


def stacks_cost(python, rounds):
    """What recording call stacks costs per CPU sample, in instructions counted by callgrind,
    which another job on the machine does not disturb (timings here swing by more than the
    0.5 % in question). bench/programs/deep_calls.py runs about 60 frames deep; each
    configuration runs with `rounds` of work and with none, so start-up and exit cancel out.
    A sample's instructions = (triscope's own instructions in the run with work, less in the
    run without) / (its samples): the C core's own count, not the run's total less plain
    python's, since the interpreter's work around the samples varies from run to run by more
    than the samples cost (a report of one file more at the end: 29 M instructions; 100
    samples of 60 frames: about 2 M). What the core's calls into the C library and the
    kernel cost is not in it. Under callgrind a program runs ~50x slower, so it takes more
    samples per unit of work; per sample, the count is what it is natively. The share of the
    program's time follows from the instructions the plain program executes per CPU second
    natively."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        return {"failed": "valgrind (with callgrind_annotate) is not installed"}
    script = PROGRAMS / "deep_calls.py"
    configs = {"plain": [], "no_stacks": ["--cpu", "--no-stacks"], "stacks": ["--cpu", "--stacks"]}
    counts = {}
    with Scratch() as cwd:
        for name, options in configs.items():
            for work in (rounds, 0):
                argv = [python, script, work] if name == "plain" else \
                    [python, "-m", "triscope", *options, "--json", "-o", "p.json", script, work]
                counts[name, work] = _instructions(python, [str(a) for a in argv], cwd)
        cpu = {work: median(run_process([python, script, work], cwd, env=child_env())["cpu_s"]
                            for _ in range(5)) for work in (rounds, 0)}
    work_ir = counts["plain", rounds][0] - counts["plain", 0][0]
    per_sample = {}
    for name in ("no_stacks", "stacks"):
        own = counts[name, rounds][1] - counts[name, 0][1]
        samples = counts[name, rounds][2] - counts[name, 0][2]
        if samples <= 0:
            return {"failed": f"no samples under {name}"}
        per_sample[name] = own / samples
    ips = work_ir / max(cpu[rounds] - cpu[0], 1e-3)  # natively, per CPU second
    extra = per_sample["stacks"] - per_sample["no_stacks"]
    return {"rounds": rounds, "depth": counts["stacks", rounds][3],
            "per_sample_instructions": {k: round(v) for k, v in per_sample.items()},
            "stacks_per_sample_instructions": round(extra),
            "program_instructions_per_cpu_s": round(ips),
            "stacks_pct_at_100hz": round(100 * extra * 100 / ips, 3)}


def fixed_cost(python, profilers, rounds):
    """Milliseconds each configuration adds to a program that does nothing (median of
    interleaved rounds): the part of a whole-process slowdown that does not grow with the
    program's run time."""
    from profilers import BY_NAME
    script = PROGRAMS / "empty.py"
    walls = {name: [] for name in profilers}
    for r in range(rounds):
        for name in profilers:
            with Scratch() as cwd:
                res = run_process(BY_NAME[name].argv(python, script, []), cwd, env=child_env(),
                                  timeout=120)
            if res.ok:
                walls[name].append(res["wall_s"])
    plain = median(walls.get("plain", []))
    return {name: round(1000 * (median(w) - plain), 1) for name, w in walls.items()
            if name != "plain" and w and plain is not None}


def _import_ms(argv, cwd):
    """Milliseconds the command's interpreters spent importing: the self times -X importtime
    prints, of every interpreter of the run (PYTHONPROFILEIMPORTTIME passes to a
    re-execution)."""
    out = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True,
                         env=child_env({"PYTHONPROFILEIMPORTTIME": "1"}), timeout=120)
    total_us = 0
    for row in out.stderr.splitlines():
        self_us = row.removeprefix("import time:").split("|")[0].strip()
        if row.startswith("import time:") and self_us.isdigit():  # not the header
            total_us += int(self_us)
    return total_us / 1000


# Importing the page's writer and rendering a profile, as the end of a run does, timed in a
# fresh interpreter: the first render reads the viewer page.
PAGE_TIMER = """import json, sys, time
start = time.perf_counter()
from triscope.reports import html
html.render(json.load(open(sys.argv[1])))
print(1000 * (time.perf_counter() - start))
"""


def fixed_cost_parts(python, fixed_ms, rounds):
    """Of each triscope mode's fixed cost (`fixed_ms`): what `python -m` itself costs (runpy
    and its imports, which every `python -m` tool pays before its first line: the wall time
    of `python -m empty` over `python empty.py`, median of interleaved runs), triscope's
    imports (the self times beyond `python -m empty`'s) and the HTML page's milliseconds
    (medians of `rounds`); the rest is the run's other work."""
    script = PROGRAMS / "empty.py"
    as_module = [python, "-m", script.stem]  # run where a copy of the script is
    module_walls, script_walls = [], []
    with Scratch() as cwd:
        shutil.copy(script, cwd)
        for _ in range(10 * rounds):
            module_walls.append(run_process(as_module, cwd, env=child_env())["wall_s"])
            script_walls.append(run_process([python, script], cwd, env=child_env())["wall_s"])
    modes = {"triscope_cpu": ["--cpu"], "triscope": []}
    imports = {name: [] for name in ("plain", *modes)}
    page = []
    for _ in range(rounds):
        with Scratch() as cwd:
            shutil.copy(script, cwd)
            imports["plain"].append(_import_ms(as_module, cwd))
            for name, options in modes.items():
                imports[name].append(_import_ms([python, "-m", "triscope", *options, "--json",
                                                 "-o", "p.json", script], cwd))
            timed = subprocess.run([python, "-c", PAGE_TIMER, "p.json"], cwd=cwd,
                                   capture_output=True, text=True, env=child_env(), timeout=120)
            if timed.returncode == 0:
                page.append(float(timed.stdout))
    plain_imports = median(imports["plain"])
    parts = {"plain_imports_ms": round(plain_imports, 1),
             "python_m_ms": round(1000 * (median(module_walls) - median(script_walls)), 1),
             "page_ms": round(median(page), 1) if page else None}
    for name in modes:
        if name not in fixed_ms or parts["page_ms"] is None:
            continue
        extra_imports = median(imports[name]) - plain_imports
        parts[name] = {"fixed_ms": fixed_ms[name], "imports_ms": round(extra_imports, 1),
                       "rest_ms": round(fixed_ms[name] - parts["python_m_ms"] - extra_imports
                                        - parts["page_ms"], 1)}
    return parts


# The end of a `--cpu` run timed inside the launcher's own process: cli.main run in place
# with the session's writing steps wrapped in timers, their milliseconds written as JSON to
# the file the environment names when the run has ended.
END_TIMER = """import json, os, sys, time
from triscope import cli, launch
spent = {}
def timed(name):
    method = getattr(launch._Session, name)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0) + 1000 * (time.perf_counter() - start)
            if name == "finish":
                with open(os.environ["TRISCOPE_BENCH_END"], "w") as out:
                    json.dump(spent, out)
    setattr(launch._Session, name, wrapper)
for name in ("finish", "write_json", "write_reports", "write_html"):
    timed(name)
sys.argv = ["triscope", *sys.argv[1:]]
sys.exit(cli.main())
"""


def end_of_run(python, rounds):
    """Where the end of a `--cpu` run of a real program goes (medians of `rounds`): writing
    the JSON, the text report (with reading the profile back) and the page. richards from
    pyperformance (else the smoke test's program), whose profile reports one file."""
    from benchmarks import ALL, TINY, pyperformance_dir
    pyperf_dir = pyperformance_dir(python)
    bench = ALL["richards"] if pyperf_dir is not None else TINY
    parts = {"finish": [], "write_json": [], "write_reports": [], "write_html": []}
    for _ in range(rounds):
        with Scratch() as cwd:
            spent_path = cwd / "end.json"
            res = run_process([python, "-c", END_TIMER, "--cpu",
                               bench.path(pyperf_dir), *bench.args(bench.loops // 4 or 1)],
                              cwd, env=child_env({"TRISCOPE_BENCH_END": str(spent_path)}),
                              timeout=300)
            if not res.ok or not spent_path.exists():
                return {"failed": res.get("stderr_tail", "")[-500:] or "no timings"}
            spent = json.loads(spent_path.read_text())
            for name in parts:
                parts[name].append(spent.get(name, 0.0))
    ms = {name: median(values) for name, values in parts.items()}
    return {"program": bench.name, "finish_ms": round(ms["finish"], 1),
            "json_ms": round(ms["write_json"], 1),
            "text_ms": round(ms["write_reports"] - ms["write_html"], 1),
            "page_ms": round(ms["write_html"], 1)}


def run(python, long_seconds, quick, profilers=("plain", "triscope_cpu", "triscope")):
    rounds = 3 if quick else 5
    log("costs: start-up and exit of each profiler")
    out = {"fixed_ms": fixed_cost(python, profilers, rounds)}
    log("costs: where triscope's start-up and exit go")
    out["fixed_parts"] = fixed_cost_parts(python, out["fixed_ms"], rounds)
    log("costs: the end of a run on a real program")
    out["end_of_run"] = end_of_run(python, rounds)
    log(f"  {out['end_of_run'].get('finish_ms')} ms")
    log("costs: per CPU sample")
    out["per_sample"] = per_sample(python, rounds, 1.5 if quick else 3.0)
    log(f"  {out['per_sample'].get('handler_us')} us of the thread's time per sample")
    log("costs: allocation fast path")
    out["alloc"] = alloc_path(python, rounds, 2_000_000 if quick else 3_000_000)
    log("costs: short-lived threads")
    out["threads"] = per_thread(python, rounds, 1000 if quick else 3000)
    log(f"  {out['threads'].get('cpu_extra_us')} us more per thread with --cpu")
    log("costs: recording call stacks (callgrind)")
    out["stacks"] = stacks_cost(python, 200 if quick else 700)
    log(f"  {out['stacks'].get('stacks_pct_at_100hz')} % of CPU time at 100 samples/s")
    log(f"costs: a {long_seconds:.0f} s run")
    out["long_run"] = long_run(python, long_seconds)
    log("costs: triscope merge of many worker profiles")
    out["merge"] = merge_at_scale(python, 200 if quick else 2000)
    log(f"  {out['merge'].get('seconds')} s, peak {out['merge'].get('peak_rss_mb')} MB")
    return out


def versions(python, available):
    """Version of each profiler, and of the benchmarks' packages, as installed for `python`."""
    code = ("import json, sys, importlib.metadata as m\nout = {}\n"
            "for name in sys.argv[1:]:\n"
            "    try: out[name] = m.version(name)\n"
            "    except Exception: pass\n"
            "print(json.dumps(out))")
    dists = {"triscope": "triscope", "triscope_cpu": "triscope", "scalene": "scalene",
             "scalene_cpu": "scalene", "pyinstrument": "pyinstrument", "memray": "memray",
             "pyperformance": "pyperformance", "pyperf": "pyperf", "matplotlib": "matplotlib",
             # the benchmark programs' packages (report.BENCHMARK_PACKAGES)
             "numpy": "numpy", "pandas": "pandas", "jinja2": "jinja2", "pytest": "pytest",
             "toolz": "toolz"}
    names = sorted(set(dists.values()))
    found = subprocess.run([python, "-c", code, *names], capture_output=True, text=True)
    by_dist = json.loads(found.stdout) if found.returncode == 0 else {}
    out = {k: by_dist[d] for k, d in dists.items() if d in by_dist}
    if "pyspy" in available:
        spy = subprocess.run([pyspy_binary(python), "--version"], capture_output=True, text=True)
        out["pyspy"] = spy.stdout.strip().split()[-1] if spy.returncode == 0 else "?"
    out["cprofile"] = "standard library"
    if "tachyon" in available or "tachyon_100hz" in available:
        out["tachyon"] = "standard library (profiling.sampling)"
    return out
