"""Accuracy: what each profiler reports, scored against a known truth.

The truths come from tests/workloads/: each program times its own parts or allocates known
volumes, and writes the figures to $GT_OUT (see the workloads' docstrings). Each workload
runs once per profiler that reports the quantity, and every score is read from that one run:

  CPU line shares      split.py; a marked line's share of the marked lines (percentage
                       points). Scalene: its three per-line percentages; py-spy: samples
                       whose innermost frame in the program is the line.
  Python/native/system native_mix.py, builtins_native.py; each marked line's three parts
                       against its own CPU and waiting time (points). py-spy cannot tell
                       them apart: n/a.
  threads              threads.py; the CPU ratio of two threads doing 2:1 work (relative
                       error). triscope: its per-thread CPU; Scalene and py-spy: the CPU
                       samples of the stacks through run_a vs run_b.
  allocation per line  mem_volumes.py, mem_small.py; MB allocated on a line (relative error).
                       memray runs with --trace-python-allocators, which records every
                       allocation.
  Python share         mem_volumes.py; share of a line's bytes from Python's allocator.
  leaks                mem_leak.py (the leaking line is found, the churning one is not) and
                       mem_noleak.py (nothing is reported). memray's "leaks" are memory not
                       freed at exit, a different quantity: n/a.
  copy volume          mem_copy.py; MB copied per line. Scalene reports a rate, MB/s, which
                       is multiplied by its elapsed time.
  real programs        pyperformance programs under memray --trace-python-allocators
                       --native, whose exact per-line totals (less the allocations memray's
                       own tracing causes, see _MEMRAY_READER) are the truth for triscope and
                       Scalene (both run with --profile-all: memray charges the innermost
                       Python frame, wherever it is).
"""
import json
import os
import re
from pathlib import Path

from common import WORKLOADS, Scratch, child_env, log, run_process
from profilers import pyspy_binary

MB = 1 << 20
LINE_MIN_SHARE = 0.05  # a line must allocate this share of the bytes to be scored (docs/DEFINITIONS.md)

# The quality bars the report checks triscope's figures against (docs/DEFINITIONS.md).
BARS = {"cpu_lines": 3.0, "split": 5.0, "threads": 20.0, "alloc_volume": 10.0,
        "python_share": 10.0, "copy_volume": 20.0, "real_alloc": 10.0}


# ==== Markers and truth ====

def marker_lineno(path, marker):
    pattern = re.compile(r"#\s*@" + re.escape(marker) + r"(?![\w-])")
    for i, text in enumerate(Path(path).read_text().splitlines(), 1):
        if pattern.search(text):
            return i
    raise KeyError(f"@{marker} not in {path}")


def same(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


# ==== Running a workload under one profiler ====

def profile(python, tool, script, args=(), extra=()):
    """Run `script args` under `tool` in a scratch directory.

    Returns (parsed output, truth, wall seconds) or raises RuntimeError with the stderr.
    """
    py, script = str(python), str(script)
    args = [str(a) for a in args]
    with Scratch("bench-acc-") as cwd:
        gt = cwd / "truth.json"
        if tool in ("triscope", "triscope_1khz"):
            rate = ("--cpu", "--cpu-sampling-rate", "0.001") if tool == "triscope_1khz" else ()
            argv = [py, "-m", "triscope", "--json", "-o", "out.json", *rate, *extra, script,
                    *args]
        elif tool == "scalene":
            argv = [py, "-m", "scalene", "run", "-o", "out.json", *extra, script, "---", *args]
        elif tool == "pyspy":
            argv = [pyspy_binary(python), "record", "-o", "out.txt", "--format", "raw",
                    "--full-filenames", *extra, "--", py, script, *args]
        elif tool == "memray":
            argv = [py, "-m", "memray", "run", "-q", "-f", "--trace-python-allocators",
                    "-o", "out.bin", *extra, script, *args]
        elif tool in ("tachyon", "tachyon_100hz"):
            rate = ("-r", "100") if tool == "tachyon_100hz" else ()
            argv = [py, "-m", "profiling.sampling", "run", "-a", *rate, "--collapsed", "-o",
                    "out.txt", *extra, script, *args]
        else:
            raise ValueError(tool)
        result = run_process(argv, cwd, env=child_env({"GT_OUT": gt}), timeout=300)
        if not result.ok:
            raise RuntimeError(f"{tool} on {Path(script).name}: rc={result['rc']}: "
                               f"{result['stderr_tail'][-400:]}")
        truth = json.loads(gt.read_text()) if gt.exists() else None
        if tool == "pyspy":
            parsed = parse_pyspy((cwd / "out.txt").read_text())
        elif tool in ("tachyon", "tachyon_100hz"):
            parsed = parse_tachyon((cwd / "out.txt").read_text())
        elif tool == "memray":
            parsed = parse_memray(python, cwd / "out.bin", cwd)
        else:
            parsed = json.loads((cwd / "out.json").read_text())
    return parsed, truth, result["wall_s"]


_FRAME = re.compile(r"^(.*) \((.*):(\d+)\)$")


def parse_pyspy(text):
    """py-spy's raw (collapsed) format: `frame;frame;... count`, outermost first, each frame
    `function (file:line)`. Returns [(frames, count)] with frames as (function, file, line)."""
    stacks = []
    for row in text.splitlines():
        if not row.strip():
            continue
        path, _, count = row.rpartition(" ")
        frames = []
        for frame in path.split(";"):
            m = _FRAME.match(frame)
            if m:
                frames.append((m.group(1), m.group(2), int(m.group(3))))
        stacks.append((frames, int(count)))
    return stacks


def parse_tachyon(text):
    """Tachyon's --collapsed format: `tid:N;file:function:line;... count`, outermost first.
    Returns the shape parse_pyspy returns: [(frames, count)], frames (function, file, line),
    the thread kept as a first frame ("tid:N", "", 0) so that threads can be told apart."""
    stacks = []
    for row in text.splitlines():
        path, _, count = row.strip().rpartition(" ")
        if not path or not count.isdigit():
            continue
        frames = []
        for frame in path.split(";"):
            if frame.startswith("tid:"):
                frames.append((frame, "", 0))
                continue
            file, function, line = (frame.rsplit(":", 2) + ["", ""])[:3]
            if line.isdigit():
                frames.append((function, file, int(line)))
        stacks.append((frames, int(count)))
    return stacks


# Run inside the bench interpreter (memray is not importable here): every allocation record,
# summed per (file, line) of its innermost Python frame, bytes from Python's allocator apart.
# memray follows Python frames with a profile function. On 3.11, calling one makes CPython
# create a frame object (and line tables) for every call, and a bound method for every C
# method call it reports: allocations that exist only under memray. With --native the C
# stack shows them (made by call_trace or trace_call_function itself, not by a call they
# pass on) and they are left out.
# One effect cannot be told apart this way: while a profile function is set, 3.11 runs its
# unspecialised instructions, some of which allocate where the specialised ones do not
# (a tuple iterator per `for a, b in pairs`); the report says so beside those numbers.
_MEMRAY_READER = r"""
import json, sys, memray
from memray import AllocatorType as A
FREES = {A.FREE, A.MUNMAP, A.PYMALLOC_FREE, A.MMAP}
PY = {A.PYMALLOC_MALLOC, A.PYMALLOC_CALLOC, A.PYMALLOC_REALLOC}
# The first of these frames, going out from the allocation, says who asked for the memory:
# CPython's call machinery (the program's work) or its tracing hooks (memray's presence).
CALLS = {"_PyEval_EvalFrameDefault", "PyObject_Vectorcall", "_PyObject_VectorcallTstate",
         "_PyObject_MakeTpCall", "PyObject_Call", "call_trace", "trace_call_function"}
TRACER = {"call_trace", "trace_call_function"}
def made_by_tracer(rec):
    for frame in rec.native_stack_trace(max_stacks=24):
        if frame[0] in CALLS:
            return frame[0] in TRACER
    return False
reader = memray.FileReader(sys.argv[1])
native = reader.metadata.has_native_traces
lines, total, observer = {}, 0, 0
for rec in reader.get_allocation_records():
    if rec.allocator in FREES:
        continue
    size = rec.size * rec.n_allocations
    if native and made_by_tracer(rec):
        observer += size
        continue
    total += size
    stack = rec.stack_trace(max_stacks=1)
    key = f"{stack[0][1]}:{stack[0][2]}" if stack else "?"
    slot = lines.setdefault(key, [0, 0])
    slot[0] += size
    if rec.allocator in PY:
        slot[1] += size
json.dump({"total": total, "observer": observer, "lines": lines}, open(sys.argv[2], "w"))
"""


def parse_memray(python, binfile, cwd):
    out = Path(cwd) / "memray-lines.json"
    result = run_process([python, "-c", _MEMRAY_READER, binfile, out], cwd, timeout=600)
    if not result.ok:
        raise RuntimeError(f"reading memray's output: {result['stderr_tail'][-400:]}")
    data = json.loads(out.read_text())
    lines = {}
    for key, (size, py) in data["lines"].items():
        path, _, lineno = key.rpartition(":")
        if lineno.isdigit():
            lines[(os.path.realpath(path), int(lineno))] = {"bytes": size, "py_bytes": py}
    return {"total": data["total"], "observer": data["observer"], "lines": lines}


# ==== Per-tool readers: a line's figures in one vocabulary ====

def tri_line(prof, script, lineno):
    for path, entry in prof["files"].items():
        if same(path, script):
            for line in entry["lines"]:
                if line["lineno"] == lineno:
                    return line
    return None


def sc_line(prof, script, lineno):
    for path, entry in prof["files"].items():
        if same(path, script):
            for line in entry["lines"]:
                if line["lineno"] == lineno:
                    return line
    return None


def cpu_parts(tool, prof, script, lineno):
    """(python, native, system) percentages of a line, as the tool reports them."""
    if tool == "triscope":
        line = tri_line(prof, script, lineno) or {}
        return (line.get("cpu_python_pct", 0.0), line.get("cpu_native_pct", 0.0),
                line.get("cpu_system_pct", 0.0))
    if tool == "scalene":
        line = sc_line(prof, script, lineno) or {}
        return (line.get("n_cpu_percent_python", 0.0), line.get("n_cpu_percent_c", 0.0),
                line.get("n_sys_percent", 0.0))
    if tool in ("pyspy", "tachyon", "tachyon_100hz"):
        # Tachyon's collapsed stacks name a file by its base name only.
        mine = ((lambda file: os.path.basename(file) == os.path.basename(script))
                if tool != "pyspy" else (lambda file: same(file, script)))
        samples = 0
        for frames, count in prof:
            own = [f for f in frames if mine(f[1])]
            if own and own[-1][2] == lineno:
                samples += count
        return (float(samples), 0.0, 0.0)  # a count: only its share among lines is meaningful
    raise ValueError(tool)


def alloc_of(tool, prof, script, lineno):
    """(MB allocated, Python share 0-1 or None) of a line."""
    if tool == "triscope":
        line = tri_line(prof, script, lineno) or {}
        return line.get("alloc_mb", 0.0), line.get("python_fraction")
    if tool == "scalene":
        line = sc_line(prof, script, lineno) or {}
        return line.get("n_malloc_mb", 0.0), line.get("n_python_fraction")
    if tool == "memray":
        line = prof["lines"].get((os.path.realpath(script), lineno))
        if not line:
            return 0.0, None
        return line["bytes"] / MB, line["py_bytes"] / line["bytes"] if line["bytes"] else None
    raise ValueError(tool)


# ==== Scorers ====

def shares(parts):
    """{marker: (python, native, system, total)} as % of the marked lines' summed total."""
    whole = sum(sum(v) for v in parts.values()) or 1.0
    return {m: tuple(100 * x / whole for x in (*v, sum(v))) for m, v in parts.items()}


def truth_shares(truth, markers):
    """{marker: (cpu, wait, total)} as % of the timed sections' summed wall time."""
    whole = sum(truth[m]["wall_s"] for m in markers)
    out = {}
    for m in markers:
        wall, cpu = truth[m]["wall_s"], min(truth[m]["cpu_s"], truth[m]["wall_s"])
        out[m] = (100 * cpu / whole, 100 * (wall - cpu) / whole, 100 * wall / whole)
    return out


def score_line_shares(tool, prof, truth, script, markers):
    got = shares({m: cpu_parts(tool, prof, script, marker_lineno(script, m)) for m in markers})
    want = truth_shares(truth, markers)
    lines = {m: {"got": round(got[m][3], 2), "want": round(want[m][2], 2)} for m in markers}
    return {"error": round(max(abs(v["got"] - v["want"]) for v in lines.values()), 2),
            "unit": "points", "lines": lines}


def score_split(prof, tool, truth, script, markers, kinds):
    """kinds: marker -> "python" | "native", what the line's CPU time is. Its waiting time
    is system. Error: the largest of the three parts' differences over the lines."""
    got = shares({m: cpu_parts(tool, prof, script, marker_lineno(script, m)) for m in markers})
    want = truth_shares(truth, markers)
    lines, worst = {}, 0.0
    for m in markers:
        cpu, wait, _ = want[m]
        expect = (cpu, 0.0, wait) if kinds[m] == "python" else (0.0, cpu, wait)
        diff = max(abs(g - e) for g, e in zip(got[m][:3], expect))
        worst = max(worst, diff)
        lines[m] = {"got": [round(x, 1) for x in got[m][:3]],
                    "want": [round(x, 1) for x in expect]}
    return {"error": round(worst, 2), "unit": "points", "lines": lines}


def thread_ratio(tool, prof, truth):
    """CPU of worker a over worker b, as the tool sees it."""
    if tool == "triscope":
        by_tid = {t["tid"]: t["cpu_s"] for t in prof["threads"]}
        a, b = by_tid.get(truth["a"]["tid"], 0.0), by_tid.get(truth["b"]["tid"], 0.0)
    else:
        a = b = 0.0
        if tool == "scalene":
            stacks = [([f.split(" ", 1)[1].rsplit(":", 1)[0] for f in frames],
                       info.get("cpu_samples", 0.0)) for frames, info in prof.get("stacks", [])]
        else:  # py-spy, Tachyon
            stacks = [([f[0] for f in frames], count) for frames, count in prof]
        for names, weight in stacks:
            if "run_a" in names:
                a += weight
            elif "run_b" in names:
                b += weight
    return a / b if b else None


def score_threads(tool, prof, truth):
    want = truth["a"]["cpu_s"] / truth["b"]["cpu_s"]
    got = thread_ratio(tool, prof, truth)
    if got is None:
        return {"error": None, "unit": "%", "got": None, "want": round(want, 3)}
    return {"error": round(100 * abs(got / want - 1), 1), "unit": "%", "got": round(got, 3),
            "want": round(want, 3)}


def score_volumes(tool, prof, truth, script, markers, key="mb"):
    lines = {}
    for m in markers:
        mb, _ = alloc_of(tool, prof, script, marker_lineno(script, m))
        want = truth[m][key]
        lines[m] = {"got": round(mb, 2), "want": round(want, 2),
                    "error": round(100 * abs(mb / want - 1), 1)}
    return {"error": max(v["error"] for v in lines.values()), "unit": "%", "lines": lines}


def score_python_share(tool, prof, truth, script, expected):
    """A line's share of bytes from Python's allocator. A tool that sees under a tenth of a
    line's volume has no meaningful share for it (that miss is scored as volume): None."""
    lines, worst = {}, 0.0
    for m, want in expected.items():
        mb, frac = alloc_of(tool, prof, script, marker_lineno(script, m))
        if mb < 0.1 * truth[m]["mb"]:
            frac = None
        if frac is None:
            lines[m] = {"got": None, "want": want}  # shown as "—"; the others are scored
            continue
        lines[m] = {"got": round(frac, 3), "want": want}
        worst = max(worst or 0.0, 100 * abs(frac - want))
    scored = [v for v in lines.values() if v["got"] is not None]
    return {"error": round(worst, 1) if scored else None, "unit": "points", "lines": lines}


def leaks_of(tool, prof, script):
    """Line numbers of `script` the tool lists as leaking."""
    if tool == "triscope":
        return sorted(l["lineno"] for l in prof["leaks"] if same(l["file"], script))
    if tool == "scalene":
        for path, entry in prof["files"].items():
            if same(path, script):
                found = entry.get("leaks") or {}
                keys = found.keys() if isinstance(found, dict) else [l.get("lineno") for l in found]
                return sorted(int(k) for k in keys)
        return []
    raise ValueError(tool)


def score_copy(tool, prof, truth, script):
    lines = {}
    for m in ("copy_bytes", "copy_bytearray", "read_only"):
        lineno = marker_lineno(script, m)
        if tool == "triscope":
            mb = (tri_line(prof, script, lineno) or {}).get("copy_mb", 0.0)
        else:  # Scalene: a rate over the whole run
            mb = (sc_line(prof, script, lineno) or {}).get("n_copy_mb_s", 0.0) * \
                prof.get("elapsed_time_sec", 0.0)
        want = truth[m]["mb"] if m != "read_only" else 0.0
        lines[m] = {"got": round(mb, 1), "want": round(want, 1)}
    errs = [100 * abs(lines[m]["got"] / truth[m]["mb"] - 1) for m in ("copy_bytes",
                                                                        "copy_bytearray")]
    read_share = 100 * lines["read_only"]["got"] / truth["read_only"]["mb"]
    return {"error": round(max(errs), 1), "unit": "%", "read_only_copy_pct": round(read_share, 1),
            "lines": lines}


# ==== The cases ====

def run(python, available, scale, quick, pyperf_dir):
    """The accuracy section of the results: {metric: {tool: score}} plus details."""
    tools = {t for t in ("triscope", "triscope_1khz", "scalene", "memray", "pyspy", "tachyon",
                         "tachyon_100hz") if t in available}
    scores = {}
    s = str(scale)

    def case(name, script, metric_fns, runners, args=(s,), extra=None):
        script = WORKLOADS / script
        for tool in [t for t in runners if t in tools]:
            log(f"accuracy: {name} under {tool}")
            try:
                prof, truth, _ = profile(python, tool, script, args, (extra or {}).get(tool, ()))
            except Exception as exc:
                log(f"  {exc}")
                for key, _ in metric_fns:
                    scores.setdefault(key, {}).setdefault(tool, {}).setdefault(
                        "cases", {})[name] = {"error": None, "failed": str(exc)[-300:]}
                continue
            reader = "triscope" if tool == "triscope_1khz" else tool  # the same output
            for key, fn in metric_fns:
                slot = scores.setdefault(key, {}).setdefault(tool, {}).setdefault("cases", {})
                try:
                    slot[name] = fn(reader, prof, truth, script)
                except Exception as exc:
                    log(f"  scoring {key}/{tool}: {exc!r}")
                    slot[name] = {"error": None, "failed": repr(exc)[-300:]}

    split_m = ("hot_a", "hot_b", "hot_c")
    case("split.py", "split.py",
         [("cpu_lines", lambda t, p, g, sc: score_line_shares(t, p, g, sc, split_m))],
         ["triscope", "triscope_1khz", "scalene", "pyspy", "tachyon", "tachyon_100hz"])
    mix_m = ("native_zlib", "pure", "sleep")
    mix_k = {"native_zlib": "native", "pure": "python", "sleep": "python"}
    case("native_mix.py", "native_mix.py",
         [("cpu_lines", lambda t, p, g, sc: score_line_shares(t, p, g, sc, mix_m)),
          ("split", lambda t, p, g, sc: score_split(p, t, g, sc, mix_m, mix_k))],
         ["triscope", "triscope_1khz", "scalene", "pyspy", "tachyon", "tachyon_100hz"], extra={"pyspy": ("--idle",)})
    bi_m = ("native_sorted", "native_sha", "pure")
    bi_k = {"native_sorted": "native", "native_sha": "native", "pure": "python"}
    case("builtins_native.py", "builtins_native.py",
         [("split", lambda t, p, g, sc: score_split(p, t, g, sc, bi_m, bi_k))],
         ["triscope", "scalene"])
    case("threads.py", "threads.py",
         [("threads", lambda t, p, g, sc: score_threads(t, p, g))],
         ["triscope", "triscope_1khz", "scalene", "pyspy", "tachyon", "tachyon_100hz"], args=(str(min(scale, 0.5)),))
    case("mem_volumes.py", "mem_volumes.py",
         [("alloc_volume", lambda t, p, g, sc: score_volumes(t, p, g, sc,
                                                             ("py_alloc", "native_alloc"))),
          ("python_share", lambda t, p, g, sc: score_python_share(
              t, p, g, sc, {"py_alloc": 1.0, "native_alloc": 0.0}))],
         ["triscope", "scalene", "memray"])
    case("mem_small.py", "mem_small.py",
         [("alloc_volume", lambda t, p, g, sc: score_volumes(t, p, g, sc,
                                                             ("small_16k", "tiny", "few")))],
         ["triscope", "scalene", "memray"])
    case("mem_leak.py", "mem_leak.py",
         [("leaks", lambda t, p, g, sc: {
             "found": marker_lineno(sc, "leak") in leaks_of(t, p, sc),
             "false": [n for n in leaks_of(t, p, sc) if n != marker_lineno(sc, "leak")]})],
         ["triscope", "scalene"], args=(str(max(scale, 1.0)),))
    case("mem_noleak.py", "mem_noleak.py",
         [("leaks", lambda t, p, g, sc: {"found": None, "false": leaks_of(t, p, sc)})],
         ["triscope", "scalene"], args=(str(max(scale, 1.0)),))
    case("mem_copy.py", "mem_copy.py",
         [("copy_volume", lambda t, p, g, sc: score_copy(t, p, g, sc))],
         ["triscope", "scalene"])
    if pyperf_dir is not None and {"triscope", "memray"} <= tools:
        scores["real_alloc"] = real_programs(python, pyperf_dir, tools, quick)
    return {"scale": scale, "scores": scores, "summary": summarize(scores), "bars": BARS}


# Real programs: few loops, since memray --trace-python-allocators --native records every
# allocation with its C stack (about 30 s for float's 6 loops), but enough that the lines
# scored get about 50+ samples of triscope's (one per 256 KiB on average).
REAL = [("float", ["--loops", "6"]), ("json_dumps", ["--loops", "10"]),
        ("raytrace", ["--loops", "1"])]


def real_programs(python, pyperf_dir, tools, quick):
    out = {}
    for name, loops in REAL[1:2] if quick else REAL:
        script = Path(pyperf_dir) / f"bm_{name}" / "run_benchmark.py"
        args = ["--worker", "--values", "1", "--warmups", "0", "-p", "1", *loops]
        try:
            log(f"accuracy: {name} under memray (the truth)")
            exact, _, _ = profile(python, "memray", script, args, ("--native",))
        except Exception as exc:
            out[name] = {"failed": str(exc)[-300:]}
            continue
        total = exact["total"]
        hot = {k: v for k, v in exact["lines"].items() if v["bytes"] >= LINE_MIN_SHARE * total}
        entry = {"total_mb": round(total / MB, 1),
                 "observer_mb": round(exact["observer"] / MB, 1), "lines": {
            f"{Path(p).name}:{n}": {"memray": round(v["bytes"] / MB, 2)} for (p, n), v in hot.items()}}
        for tool in [t for t in ("triscope", "scalene") if t in tools]:
            log(f"accuracy: {name} under {tool}")
            try:
                prof, _, _ = profile(python, tool, script, args, ("--profile-all",))
            except Exception as exc:
                entry[tool] = {"error": None, "failed": str(exc)[-300:]}
                continue
            errs = []
            for (path, lineno), v in hot.items():
                mb, _ = alloc_of(tool, prof, path, lineno)
                row = entry["lines"][f"{Path(path).name}:{lineno}"]
                row[tool] = round(mb, 2)
                if tool == "triscope":  # how many samples the estimate rests on
                    row["triscope_samples"] = (tri_line(prof, path, lineno) or {}).get(
                        "alloc_samples", 0)
                errs.append(100 * abs(mb / (v["bytes"] / MB) - 1))
            entry[tool] = {"error": round(max(errs), 1) if errs else None,
                           "median_error": round(sorted(errs)[len(errs) // 2], 1) if errs else None}
        out[name] = entry
    return out


def summarize(scores):
    """{metric: {tool: worst error over its cases (None: n/a or failed)}}."""
    out = {}
    for key, by_tool in scores.items():
        if key == "real_alloc":
            tools = {t for e in by_tool.values() for t in e if t in ("triscope", "scalene")}
            out[key] = {t: _worst([e.get(t, {}).get("error") for e in by_tool.values()],
                                  [e.get(t, {}).get("failed") for e in by_tool.values()])
                        for t in tools}
            for t in tools:  # the typical line too: the worst one may be a tracing artefact
                errs = sorted(100 * abs(v[t] / v["memray"] - 1) for e in by_tool.values()
                              for v in e.get("lines", {}).values() if t in v and v["memray"])
                out[key][t]["median"] = round(errs[len(errs) // 2], 1) if errs else None
            continue
        out[key] = {}
        for tool, entry in by_tool.items():
            cases = entry.get("cases", {})
            if key == "leaks":
                leak = cases.get("mem_leak.py", {})
                clean = cases.get("mem_noleak.py", {})
                out[key][tool] = {"found": leak.get("found"),
                                  "false_positives": len(leak.get("false") or []) +
                                  len(clean.get("false") or []),
                                  "failed": bool(leak.get("failed") or clean.get("failed"))}
                continue
            out[key][tool] = _worst([c.get("error") for c in cases.values()],
                                    [c.get("failed") for c in cases.values()])
    return out


def _worst(errors, failures):
    got = [e for e in errors if e is not None]
    return {"error": max(got) if got else None, "failed": any(failures),
            "complete": len(got) == len(errors)}
