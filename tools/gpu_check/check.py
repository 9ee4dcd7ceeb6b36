"""The GPU acceptance check (issue: GPU profiling proven on a real NVIDIA GPU).

Runs, under triscope, programs that know their own truth (driver_spin.py through the CUDA
driver alone, framework_matmul.py through PyTorch and CuPy where installed), compares each
profile with that truth, prints one summary table and exits 1 on any miss. Run it through
tools/gpu-check.sh, which builds triscope for this machine's Python and puts it on
PYTHONPATH. What is checked, and why, is in docs/PERFORMANCE.md ("GPU").

usage: check.py OUT_DIR [--replay]
  OUT_DIR keeps every run's profile, truth, stdout and log, and summary.json (the machine's
  facts and the table: bench/results/gpu.json is one, rendered into docs/PERFORMANCE.md);
  --replay checks the runs saved there again without running anything (to re-read a GPU
  machine's results elsewhere).
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIB = 1 << 20
KERNEL_SHARE_MIN = 80.0    # % of all GPU time on the kernel lines, at least
HOST_SHARE_MAX = 10.0      # % of all GPU time on the host lines, at most
MEMORY_TOLERANCE = 0.10    # per-line peak above the baseline vs what was allocated
CPU_SHARE_TOLERANCE = 5.0  # points: a line's time share with --gpu vs --cpu
SLOWDOWN_MAX = 1.10        # the PyTorch program's elapsed time, --gpu over --cpu

rows = []  # (program, check, measured, bar, ok)
REPLAY = "--replay" in sys.argv[2:]
FACTS = {}  # nvidia-smi's answers, by query


def record(program, check, measured, bar, ok):
    rows.append((program, check, measured, bar, bool(ok)))


def marker_lineno(path, marker):
    pattern = re.compile(r"#\s*@" + re.escape(marker) + r"(?![\w-])")
    found = [i for i, text in enumerate(Path(path).read_text().splitlines(), 1)
             if pattern.search(text)]
    assert len(found) == 1, f"marker @{marker} found {len(found)} times in {path}"
    return found[0]


def line(profile, program, marker):
    """The profile's entry for the line marked `# @marker` in `program` (zeros if absent)."""
    lineno = marker_lineno(program, marker)
    entry = profile["files"].get(str(program), {"lines": []})
    for item in entry["lines"]:
        if item["lineno"] == lineno:
            return item
    return {"gpu_pct": 0.0, "gpu_mem_mb": 0.0, "cpu_python_pct": 0.0, "cpu_native_pct": 0.0,
            "cpu_system_pct": 0.0}


def time_share(item):
    return item["cpu_python_pct"] + item["cpu_native_pct"] + item["cpu_system_pct"]


def run(out_dir, name, program, args, options, env=None):
    """`program args` under `triscope options`; (returncode, stdout, profile, truth)."""
    json_path = out_dir / f"{name}.json"
    truth_path = out_dir / f"{name}.truth.json"
    stdout_path = out_dir / f"{name}.stdout"
    rc_path = out_dir / f"{name}.rc"
    if not REPLAY:
        for stale in (json_path, truth_path, stdout_path, rc_path):
            stale.unlink(missing_ok=True)
        settings = dict(os.environ, GT_OUT=str(truth_path), **(env or {}))
        command = [sys.executable, "-m", "triscope", *options, "--cli", "-o", str(json_path),
                   str(program), *args]
        began = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, env=settings,
                              timeout=300, cwd=out_dir)
        seconds = time.perf_counter() - began
        (out_dir / f"{name}.log").write_text(
            f"$ {' '.join(command)}\nrc {proc.returncode}, {seconds:.1f} s\n--- stdout\n"
            f"{proc.stdout}--- stderr\n{proc.stderr}")
        stdout_path.write_text(proc.stdout)
        rc_path.write_text(str(proc.returncode))
        if proc.returncode != 0:
            sys.stderr.write(f"--- {name} failed:\n{proc.stderr[-3000:]}\n")
    returncode = int(rc_path.read_text()) if rc_path.exists() else None
    stdout = stdout_path.read_text() if stdout_path.exists() else None
    profile = json.loads(json_path.read_text()) if json_path.exists() else None
    truth = json.loads(truth_path.read_text()) if truth_path.exists() else None
    ok = returncode == 0 and profile is not None and truth is not None
    record(name, "runs: exit 0, profile and truth written", f"rc {returncode}", "rc 0", ok)
    return stdout, profile, truth


def nvidia_smi(query):
    """nvidia-smi's answer to --query-gpu=`query` (kept in OUT_DIR/nvidia-smi.json for a
    replay)."""
    if query in FACTS:
        return FACTS[query]
    try:
        return subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=60).stdout.strip()
    except OSError:
        return ""


def check_gpu_run(name, program, profile, truth):
    """The GPU checks of one --gpu profile against its program's truth."""
    gpu = profile["gpu"]
    record(name, "GPU profiled", f"enabled={gpu['enabled']} ({gpu.get('reason') or gpu.get('accounting')})",
           "enabled", gpu["enabled"])
    if not gpu["enabled"]:
        return
    record(name, "device named", gpu["device"], truth["device"], truth["device"] in gpu["device"])
    driver = nvidia_smi("driver_version").splitlines()[:1]
    record(name, "driver named", str(gpu.get("driver")), driver[0] if driver else "?",
           bool(driver) and gpu.get("driver") == driver[0])
    kernel = sum(line(profile, program, m)["gpu_pct"] for m in truth["kernel_lines"])
    host = sum(line(profile, program, m)["gpu_pct"] for m in truth["host_lines"])
    record(name, "kernel lines' share of GPU time", f"{kernel:.1f} % of {gpu['busy_s']:.2f} s",
           f">= {KERNEL_SHARE_MIN:.0f} %", kernel >= KERNEL_SHARE_MIN)
    record(name, "host lines' share of GPU time", f"{host:.1f} %", f"<= {HOST_SHARE_MAX:.0f} %",
           host <= HOST_SHARE_MAX)
    baseline = line(profile, program, truth["host_lines"][0])["gpu_mem_mb"]
    peak = line(profile, program, truth["alloc_line"])["gpu_mem_mb"]
    allocated = truth["alloc_bytes"] / MIB
    error = abs((peak - baseline) - allocated) / allocated
    record(name, "alloc line's GPU memory above baseline",
           f"{peak - baseline:.0f} MiB (baseline {baseline:.0f})", f"{allocated:.0f} MiB ±10 %",
           error <= MEMORY_TOLERANCE)
    record(name, "accounting, polls", f"{gpu['accounting']}, {gpu['polls']} polls "
           f"({gpu['failed_polls']} failed), {gpu['poll_cost_us']:.0f} us each", "no failed poll",
           gpu["failed_polls"] == 0)
    if "allocator_at_alloc" in truth:
        check_allocator_view(name, program, profile, truth)


def check_allocator_view(name, program, profile, truth):
    """PyTorch's allocator per line (docs/DEFINITIONS.md, GPU) against what the program read
    from torch.cuda.memory_allocated itself; a program without torch has no such view."""
    allocator = profile["gpu"].get("allocator")
    if truth["allocator_at_alloc"] is None:
        record(name, "no PyTorch allocator view", str(allocator), "None", allocator is None)
        return
    record(name, "PyTorch allocator view", str(allocator and allocator["source"]),
           "torch.cuda.memory_allocated", allocator is not None)
    if allocator is None:
        return
    for marker, key in ((truth["alloc_line"], "allocator_at_alloc"),
                        (truth["host_lines"][0], "allocator_before")):
        seen = line(profile, program, marker).get("gpu_allocated_mb", 0.0)
        expected = truth[key] / MIB
        record(name, f"@{marker}'s allocator MB", f"{seen:.0f} MiB", f"{expected:.0f} MiB ±10 %",
               abs(seen - expected) <= MEMORY_TOLERANCE * expected)


def check_cpu_unchanged(name, program, cpu_run, gpu_run):
    """Same stdout, and every marked line's time share within a few points."""
    (cpu_stdout, cpu_profile, truth), (gpu_stdout, gpu_profile, _) = cpu_run, gpu_run
    record(name, "stdout --gpu == --cpu", "same" if cpu_stdout == gpu_stdout else "differs",
           "same", cpu_stdout == gpu_stdout)
    worst, where = 0.0, ""
    for marker in truth["kernel_lines"] + truth["host_lines"] + [truth["alloc_line"]]:
        gap = abs(time_share(line(cpu_profile, program, marker)) -
                  time_share(line(gpu_profile, program, marker)))
        if gap >= worst:
            worst, where = gap, marker
    record(name, "line time shares --gpu vs --cpu", f"{worst:.1f} points ({where})",
           f"<= {CPU_SHARE_TOLERANCE:.0f} points", worst <= CPU_SHARE_TOLERANCE)


def has_module(module):
    return subprocess.run([sys.executable, "-c", f"import {module}"],
                          capture_output=True).returncode == 0


def check_program(out_dir, name, program, args, slowdown=False):
    gpu_run = run(out_dir, f"{name}-gpu", program, args, ["--gpu"])
    cpu_run = run(out_dir, f"{name}-cpu", program, args, ["--cpu"])
    if None in (gpu_run[1], gpu_run[2], cpu_run[1], cpu_run[2]):
        return
    check_gpu_run(f"{name}-gpu", program, gpu_run[1], gpu_run[2])
    check_cpu_unchanged(name, program, cpu_run, gpu_run)
    ratio = gpu_run[2]["elapsed_s"] / cpu_run[2]["elapsed_s"]
    record(name, "slowdown --gpu / --cpu (program's own time)", f"{ratio:.3f}x",
           f"<= {SLOWDOWN_MAX:.2f}x" if slowdown else "reported", not slowdown or ratio <= SLOWDOWN_MAX)
    # The default mode adds the allocator library (LD_PRELOAD) to a CUDA program.
    full = run(out_dir, f"{name}-full", program, args, [])
    if full[1] is not None:
        record(f"{name}-full", "memory and GPU together",
               f"memory {full[1]['memory']['enabled']}, GPU {full[1]['gpu']['enabled']}",
               "both on", full[1]["memory"]["enabled"] and full[1]["gpu"]["enabled"])


def check_visible_devices(out_dir, program):
    """CUDA_VISIBLE_DEVICES naming the first GPU by UUID: that device alone is polled,
    under the number the program's CUDA runtime gives it."""
    uuid = nvidia_smi("uuid").splitlines()[0]
    _, profile, truth = run(out_dir, "driver-visible", program, [], ["--gpu"],
                            env={"CUDA_VISIBLE_DEVICES": uuid})
    if profile is None or truth is None:
        return
    devices = profile["gpu"].get("devices", [])
    named = [(d["uuid"], d["cuda_index"]) for d in devices]
    record("driver-visible", "devices polled (CUDA_VISIBLE_DEVICES=uuid)", str(named)[:60],
           f"[({uuid[:12]}..., 0)]", named == [(uuid, 0)])
    if devices:
        busy, total = devices[0]["busy_s"], profile["gpu"]["busy_s"]
        record("driver-visible", "per-device busy time", f"{busy:.2f} s of {total:.2f} s",
               f">= {truth['kernel_s'] * 0.8:.1f} s, = total", busy >= truth["kernel_s"] * 0.8
               and abs(busy - total) <= 0.05 * total)


def check_gpu_sync(out_dir, program):
    """A kernel that overlaps Python: its GPU time goes to the Python line running meanwhile
    (documented attribution), and with --gpu-sync to the line that launched it."""
    results = {}
    for name, options in (("driver-async", ["--gpu"]), ("driver-async-sync", ["--gpu-sync"])):
        _, profile, truth = run(out_dir, name, program, ["async"], options)
        if profile is None or truth is None:
            return
        results[name] = truth["elapsed_s"]
        target = truth["overlap_line" if name == "driver-async" else "launch_line"]
        share = line(profile, program, target)["gpu_pct"]
        record(name, f"GPU time on @{target}", f"{share:.1f} %", f">= {KERNEL_SHARE_MIN:.0f} %",
               share >= KERNEL_SHARE_MIN)
        blocking, wanted = profile["gpu"].get("launch_blocking"), "--gpu-sync" in options
        record(name, "launch_blocking in the profile", str(blocking), str(wanted),
               blocking is wanted)
    record("driver-async", "cost of --gpu-sync on overlapped work",
           f"{results['driver-async-sync'] / results['driver-async']:.2f}x", "reported", True)


def report_nvml_costs(out_dir):
    """Each NVML query's cost here: what sets the polling period (gpu.c)."""
    path = out_dir / "nvml-cost.json"
    if not REPLAY:
        proc = subprocess.run([sys.executable, str(HERE / "nvml_cost.py")], capture_output=True,
                              text=True, timeout=120)
        path.write_text(proc.stdout if proc.returncode == 0 else "{}")
    for query, microseconds in json.loads(path.read_text()).items():
        record("nvml", f"{query} (median)", f"{microseconds:.0f} us", "reported", True)


def print_table():
    widths = [max(len(str(row[i])) for row in rows + [("program", "check", "measured", "bar")])
              for i in range(4)]
    header = ("program", "check", "measured", "bar", "result")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths + [6])))
    for row in rows:
        cells = [str(c).ljust(w) for c, w in zip(row[:4], widths)]
        print("  ".join(cells + ["ok" if row[4] else "MISS"]))
    misses = sum(not row[4] for row in rows)
    print(f"gpu-check: {len(rows) - misses} of {len(rows)} checks passed"
          + (f", {misses} missed" if misses else ""))
    return misses


def main():
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "gpu-check-out").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    facts_path = out_dir / "nvidia-smi.json"
    if REPLAY:
        FACTS.update(json.loads(facts_path.read_text()))
    else:
        for query in ("name,driver_version,memory.total", "driver_version", "uuid"):
            FACTS[query] = nvidia_smi(query)
        FACTS["python"] = sys.version.split()[0]
        FACTS["date"] = time.strftime("%Y-%m-%d")
        FACTS["commit"] = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
                                         capture_output=True, text=True).stdout.strip()
        for module in ("torch", "cupy"):
            found = subprocess.run([sys.executable, "-c", f"import {module}; "
                                    f"print({module}.__version__)"], capture_output=True, text=True)
            FACTS[module] = found.stdout.strip() if found.returncode == 0 else None
        facts_path.write_text(json.dumps(FACTS))
    print(f"gpu-check: {FACTS['name,driver_version,memory.total']}; Python "
          f"{sys.version.split()[0]}", flush=True)
    programs = [("driver", HERE / "driver_spin.py", [], False)]
    for framework in ("torch", "cupy"):
        if (out_dir / f"{framework}-gpu.rc").exists() if REPLAY else has_module(framework):
            programs.append((framework, HERE / "framework_matmul.py", [framework],
                             framework == "torch"))
        else:
            record(framework, "installed", "no", "skipped", True)
    checks = [(name, check_program, (out_dir, name, program, args, slowdown))
              for name, program, args, slowdown in programs]
    checks += [("nvml", report_nvml_costs, (out_dir,)),
               ("driver-visible", check_visible_devices, (out_dir, HERE / "driver_spin.py")),
               ("driver-async", check_gpu_sync, (out_dir, HERE / "driver_spin.py"))]
    for name, function, args in checks:
        try:
            function(*args)
        except Exception as error:  # one program's surprise must not hide the others' table
            record(name, "checks completed", f"{type(error).__name__}: {error}"[:80], "no error",
                   False)
    misses = print_table()
    summary = {"facts": FACTS, "rows": [dict(zip(("program", "check", "measured", "bar", "ok"),
                                                 row)) for row in rows]}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
