"""Memory profiling end to end, against workloads that know their own allocation volumes.

Bars (docs/DEFINITIONS.md): a line's allocated MB within 10% of what it requested
(20% for the small main-thread line of the threads workload); copy MB within 20% of the bytes
copied, and a line that only reads the same buffer shows at most 5% of that; peak and live MB
within 15%; a steady leak is listed with likelihood >= 0.9 and a rate within 50%, churned
memory is never listed, and a leak-free program lists nothing.

MB is 2**20 bytes throughout. Each workload runs once per module (2-6 s each) and the tests
read the same run; profiles are validated against the schema by load_profile.
"""
import json
import os

import pytest

from conftest import (describe, file_entry, line_entry, load_profile, marker_line,
                      marker_lineno, marker_source, profile_workload, require_file, run_python,
                      run_triscope, workload)

VOLUME_BAR = 0.10      # relative, a line's allocated MB
THREAD_MAIN_BAR = 0.20  # relative, the 20 MB main-thread line
COPY_BAR = 0.20        # relative, copied MB
READ_COPY_SHARE = 0.05  # a read-only line copies at most this share of the volume it reads
LIVE_BAR = 0.15        # relative, peak and live MB
LEAK_LIKELIHOOD = 0.9
LEAK_RATE_BAR = 0.50   # relative, a steady leak's MB/s
MEMORY_FIELDS = ("alloc_mb", "python_fraction", "peak_mb", "live_mb", "mem_pct",
                 "alloc_samples", "copy_mb", "copy_mb_s", "leak_likelihood", "leak_mb_s")


def line(run, marker, script=None):
    """The marked line's entry; fails with the file's memory lines when it has none."""
    script = script or run.script
    entry = marker_line(run.profile, script, marker)
    assert entry is not None, (
        f"@{marker} (line {marker_lineno(script, marker)}) has no entry; lines with memory: "
        f"{memory_lines(run.profile, script)}")
    return entry


def memory_lines(profile, script):
    """{lineno: (alloc_mb, copy_mb, live_mb)} of a file's lines, for assertion messages."""
    entry = file_entry(profile, script)
    if entry is None:
        return f"{script} not in profile: {sorted(profile['files'])}"
    return {l["lineno"]: (round(l["alloc_mb"], 1), round(l["copy_mb"], 1), round(l["live_mb"], 1))
            for l in entry["lines"] if l["alloc_mb"] or l["copy_mb"] or l["live_mb"]}


def within(got, want, bar):
    return abs(got - want) <= bar * want


def same_file(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def leak_at(profile, script, marker):
    """The `leaks` entry of the marked line, or None."""
    lineno = marker_lineno(script, marker)
    found = [leak for leak in profile["leaks"]
             if same_file(leak["file"], script) and leak["lineno"] == lineno]
    assert len(found) <= 1, profile["leaks"]
    return found[0] if found else None


def assert_memory_on(run):
    mem = run.profile["memory"]
    assert mem["enabled"] is True, f"memory profiling is off in a default run: {mem}"


# ==== 1. Known volumes: Python's allocator and native malloc ====

@pytest.fixture(scope="module")
def volumes_run(tmp_path_factory):
    return profile_workload(tmp_path_factory.mktemp("volumes"), "mem_volumes.py")


def test_volumes_memory_is_on_by_default(volumes_run):
    assert_memory_on(volumes_run)


def test_volumes_python_line(volumes_run):
    got = line(volumes_run, "py_alloc")
    want = volumes_run.truth["py_alloc"]["mb"]
    assert within(got["alloc_mb"], want, VOLUME_BAR), f"alloc {got['alloc_mb']:.1f} vs {want} MB"
    assert got["python_fraction"] >= 0.9, f"bytearray line python_fraction {got['python_fraction']}"
    assert got["alloc_samples"] > 0, got


def test_volumes_native_line(volumes_run):
    got = line(volumes_run, "native_alloc")
    truth = volumes_run.truth
    want = truth["native_alloc"]["mb"]
    assert within(got["alloc_mb"], want, VOLUME_BAR), (
        f"alloc {got['alloc_mb']:.1f} vs {want} MB (malloc interposed in the program: "
        f"{truth['malloc_interposed']})")
    assert got["python_fraction"] <= 0.1, f"malloc line python_fraction {got['python_fraction']}"


def test_volumes_function_metrics(volumes_run):
    """A function's memory is its own lines': py_phase and native_phase carry their volumes."""
    entry = require_file(volumes_run.profile, volumes_run.script)
    functions = {f["name"]: f for f in entry["functions"]}
    for name, key in (("py_phase", "py_alloc"), ("native_phase", "native_alloc")):
        assert name in functions, f"{name} missing from functions: {sorted(functions)}"
        want = volumes_run.truth[key]["mb"]
        assert within(functions[name]["alloc_mb"], want, VOLUME_BAR), (name, functions[name], want)


def test_volumes_mem_pct(volumes_run):
    """mem_pct is the line's share of the run's allocated bytes: 400 : 200 here, give or take
    the few MB of imports."""
    truth = volumes_run.truth
    whole = truth["py_alloc"]["mb"] + truth["native_alloc"]["mb"]
    for key in ("py_alloc", "native_alloc"):
        got = line(volumes_run, key)["mem_pct"]
        want = 100 * truth[key]["mb"] / whole
        assert abs(got - want) <= 5.0, f"{key}: mem_pct {got:.1f} vs {want:.1f}"
    total = sum(l["mem_pct"] for e in volumes_run.profile["files"].values() for l in e["lines"])
    assert total <= 100.5, total


# ==== 2. Copy volume ====

@pytest.fixture(scope="module")
def copy_run(tmp_path_factory):
    return profile_workload(tmp_path_factory.mktemp("copy"), "mem_copy.py")


@pytest.mark.parametrize("marker", ["copy_bytes", "copy_bytearray"])
def test_copy_lines(copy_run, marker):
    got = line(copy_run, marker)
    want = copy_run.truth[marker]["mb"]
    assert within(got["copy_mb"], want, COPY_BAR), f"{marker}: copy {got['copy_mb']:.1f} vs {want}"
    assert got["copy_mb_s"] > 0, got


def test_copy_read_only_line(copy_run):
    read = copy_run.truth["read_only"]["mb"]
    got = marker_line(copy_run.profile, copy_run.script, "read_only")
    copied = got["copy_mb"] if got else 0.0
    assert copied <= READ_COPY_SHARE * read, f"read-only line copied {copied:.1f} MB of {read} read"


@pytest.mark.parametrize("marker", ["copy_bytes", "copy_bytearray"])
def test_copy_lines_allocate_their_results(copy_run, marker):
    """Each copy lands in a new bytes/bytearray of the same size, from Python's allocator."""
    got = line(copy_run, marker)
    want = copy_run.truth[marker]["mb"]
    assert within(got["alloc_mb"], want, VOLUME_BAR), (marker, got["alloc_mb"], want)
    assert got["python_fraction"] >= 0.9, got


# ==== 2b. NumPy ====

@pytest.fixture(scope="module")
def numpy_run(tmp_path_factory):
    pytest.importorskip("numpy")
    return profile_workload(tmp_path_factory.mktemp("numpy"), "mem_numpy.py")


def test_numpy_arrays_are_native(numpy_run):
    got = line(numpy_run, "np_alloc")
    want = numpy_run.truth["np_alloc"]["mb"]
    assert within(got["alloc_mb"], want, VOLUME_BAR), f"np.ones alloc {got['alloc_mb']:.1f}, {want}"
    assert got["python_fraction"] <= 0.1, f"np.ones python_fraction {got['python_fraction']}"


def test_numpy_tobytes_copies(numpy_run):
    got = line(numpy_run, "np_copy")
    want = numpy_run.truth["np_copy"]["mb"]
    assert within(got["copy_mb"], want, COPY_BAR), f"tobytes copy {got['copy_mb']:.1f} vs {want}"
    assert got["copy_mb_s"] > 0, got


def test_numpy_sum_does_not_copy(numpy_run):
    read = numpy_run.truth["np_read"]["mb"]
    got = marker_line(numpy_run.profile, numpy_run.script, "np_read")
    copied = got["copy_mb"] if got else 0.0
    assert copied <= READ_COPY_SHARE * read, f"arr.sum() line copied {copied:.1f} MB"


# ==== 3. Threads ====

@pytest.fixture(scope="module")
def mem_threads_run(tmp_path_factory):
    return profile_workload(tmp_path_factory.mktemp("memthreads"), "mem_threads.py")


@pytest.mark.parametrize("marker,bar,python", [("worker_py", VOLUME_BAR, True),
                                               ("worker_native", VOLUME_BAR, False),
                                               ("main_alloc", THREAD_MAIN_BAR, True)])
def test_threads_memory_charged_to_own_line(mem_threads_run, marker, bar, python):
    got = line(mem_threads_run, marker)
    want = mem_threads_run.truth[marker]["mb"]
    assert within(got["alloc_mb"], want, bar), (
        f"{marker}: alloc {got['alloc_mb']:.1f} vs {want} MB; all: "
        f"{memory_lines(mem_threads_run.profile, mem_threads_run.script)}")
    if python:
        assert got["python_fraction"] >= 0.9, got
    else:
        assert got["python_fraction"] <= 0.1, got


def test_threads_no_other_line_absorbs_worker_memory(mem_threads_run):
    run = mem_threads_run
    marked = {marker_lineno(run.script, m) for m in ("worker_py", "worker_native", "main_alloc")}
    for entry in require_file(run.profile, run.script)["lines"]:
        if entry["lineno"] not in marked:
            assert entry["alloc_mb"] <= 5.0, (
                entry["lineno"], entry["source"].strip(), entry["alloc_mb"])


# ==== 4. Leaks ====

@pytest.fixture(scope="module")
def leak_run(tmp_path_factory):
    return profile_workload(tmp_path_factory.mktemp("leak"), "mem_leak.py")


def test_leak_is_listed(leak_run):
    leak = leak_at(leak_run.profile, leak_run.script, "leak")
    assert leak is not None, f"@leak not in leaks: {leak_run.profile['leaks']}"
    assert leak["likelihood"] >= LEAK_LIKELIHOOD, leak
    want = leak_run.truth["leak"]["mb_s"]
    assert within(leak["mb_s"], want, LEAK_RATE_BAR), f"rate {leak['mb_s']:.2f} vs {want:.2f} MB/s"


def test_leak_line_fields(leak_run):
    got = line(leak_run, "leak")
    truth = leak_run.truth["leak"]
    assert got["leak_likelihood"] >= LEAK_LIKELIHOOD, got
    assert within(got["leak_mb_s"], truth["mb_s"], LEAK_RATE_BAR), (got["leak_mb_s"], truth)
    assert within(got["alloc_mb"], truth["mb"], VOLUME_BAR), (got["alloc_mb"], truth)
    assert within(got["live_mb"], truth["mb"], LIVE_BAR), f"leaked, live at exit: {got['live_mb']}"


def test_leak_churn_is_not_listed(leak_run):
    assert leak_at(leak_run.profile, leak_run.script, "churn") is None, leak_run.profile["leaks"]
    got = line(leak_run, "churn")
    assert got["leak_likelihood"] < LEAK_LIKELIHOOD, got
    assert within(got["alloc_mb"], leak_run.truth["churn"]["mb"], VOLUME_BAR), got


def test_leak_list_is_only_the_leak(leak_run):
    leak_line = marker_lineno(leak_run.script, "leak")
    others = [l for l in leak_run.profile["leaks"]
              if not (same_file(l["file"], leak_run.script) and l["lineno"] == leak_line)]
    assert not others, others


@pytest.fixture(scope="module")
def slow_leak_run(tmp_path_factory):
    # 12 s, about 37 sampled blocks of the leak at the default interval: at 6 s (19) the
    # verdict, which needs its blocks almost never freed, failed about one run in 16 (a
    # resized dict table on the leaking line is a sampled block that is freed).
    return profile_workload(tmp_path_factory.mktemp("slowleak"), "mem_slow_leak.py", "2")


def test_slow_leak_is_found(slow_leak_run):
    run = slow_leak_run
    leak = leak_at(run.profile, run.script, "slow_leak")
    assert leak is not None, (
        f"@slow_leak ({run.truth['slow_leak']['mb_s']:.2f} MB/s) not in leaks: "
        f"{run.profile['leaks']}; line: {marker_line(run.profile, run.script, 'slow_leak')}")
    # About 37 sampled blocks: the rate is only checked to a factor 2.
    want = run.truth["slow_leak"]["mb_s"]
    assert want / 2 <= leak["mb_s"] <= want * 2, f"rate {leak['mb_s']:.2f} vs {want:.2f} MB/s"


def test_slow_leak_churn_is_not_listed(slow_leak_run):
    run = slow_leak_run
    assert leak_at(run.profile, run.script, "slow_churn") is None, run.profile["leaks"]


@pytest.fixture(scope="module")
def noleak_run(tmp_path_factory):
    return profile_workload(tmp_path_factory.mktemp("noleak"), "mem_noleak.py")


def test_no_leaks_in_leak_free_program(noleak_run):
    assert noleak_run.profile["leaks"] == [], (
        f"leak-free program reports leaks: {noleak_run.profile['leaks']}; sources: "
        + str({l['lineno']: marker_source_of(noleak_run, l) for l in noleak_run.profile['leaks']}))


def marker_source_of(run, leak):
    entry = line_entry(run.profile, leak["file"], leak["lineno"])
    return entry["source"].strip() if entry else None


def test_noleak_cache_is_live_not_leaking(noleak_run):
    got = line(noleak_run, "cache")
    want = noleak_run.truth["cache"]["mb"]
    assert within(got["live_mb"], want, LIVE_BAR), f"cache live {got['live_mb']:.1f} vs {want}"
    assert within(got["peak_mb"], want, LIVE_BAR), f"cache peak {got['peak_mb']:.1f} vs {want}"
    assert got["leak_likelihood"] < LEAK_LIKELIHOOD, got


# ==== 5. Live and peak ====

@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    return profile_workload(tmp_path_factory.mktemp("live"), "mem_live.py")


def assert_timeline(timeline, what):
    assert timeline, f"{what}: empty timeline"
    times = [t for t, _ in timeline]
    assert times == sorted(times), f"{what}: timeline not in time order: {times[:20]}"
    assert times[0] >= 0, f"{what}: negative time {times[0]}"
    assert all(mb >= 0 for _, mb in timeline), f"{what}: negative MB"


def test_live_big_line_peak_and_freed(live_run):
    got = line(live_run, "big")
    want = live_run.truth["big"]["mb"]
    assert within(got["peak_mb"], want, LIVE_BAR), f"big peak {got['peak_mb']:.1f} vs {want}"
    assert within(got["alloc_mb"], want, VOLUME_BAR), f"big alloc {got['alloc_mb']:.1f} vs {want}"
    assert got["live_mb"] <= LIVE_BAR * want, f"big was freed, yet live {got['live_mb']:.1f}"
    assert_timeline(got["timeline"], "@big")
    top = max(mb for _, mb in got["timeline"])
    assert top <= got["peak_mb"] + 0.5, (top, got["peak_mb"])


def test_live_kept_line_live_at_exit(live_run):
    got = line(live_run, "kept")
    want = live_run.truth["kept"]["mb"]
    assert within(got["live_mb"], want, LIVE_BAR), f"kept live {got['live_mb']:.1f} vs {want}"
    assert within(got["peak_mb"], want, LIVE_BAR), f"kept peak {got['peak_mb']:.1f} vs {want}"


def test_live_one_time_allocations_are_not_leaks(live_run):
    """@kept allocates once and then stays flat for the last second: live, not growing."""
    assert live_run.profile["leaks"] == [], live_run.profile["leaks"]


def test_live_freeing_line_allocates_nothing(live_run):
    got = marker_line(live_run.profile, live_run.script, "free_big")
    assert got is None or got["alloc_mb"] <= 1.0, got


def test_live_footprint_and_timeline(live_run):
    mem = live_run.profile["memory"]
    big = line(live_run, "big")
    assert mem["max_footprint_mb"] >= big["peak_mb"], (mem["max_footprint_mb"], big["peak_mb"])
    assert_timeline(mem["timeline"], "memory.timeline")
    assert max(mb for _, mb in mem["timeline"]) <= mem["max_footprint_mb"] * 1.05 + 1, mem
    assert mem["timeline"][-1][0] <= live_run.profile["elapsed_s"] + 1.0, mem["timeline"][-1]


CHURN_SMALL = """\
for _ in range(30):
    made = [str(i) * 3 for i in range(20000)]                # PyObject_Malloc
    zeroed = [bytes(200) for _ in range(20000)]              # PyObject_Calloc
    grown = [[j for j in range(i % 40)] for i in range(20000)]  # PyMem_Realloc, list growth
    del made, zeroed, grown
print("churned")
"""


def test_small_blocks_churned_are_freed(tmp_path):
    """Small blocks from pymalloc's malloc, calloc and realloc, about 500 MB made and freed
    with under 15 MB alive at once: the sampled ones must be seen freed, whatever path their
    free takes (docs/ARCHITECTURE.md, Memory sampling), or the footprint climbs with every
    round (176 MB on a smaller churn when they were not)."""
    script = tmp_path / "churn_small.py"
    script.write_text(CHURN_SMALL)
    proc = run_triscope([script], tmp_path, timeout=120)
    assert proc.returncode == 0 and proc.stdout == "churned\n", describe(proc)
    profile = load_profile(tmp_path / "profile.json")
    memory = profile["memory"]
    assert memory["alloc_mb"] > 200, memory["alloc_mb"]
    assert memory["max_footprint_mb"] < 30, (memory["max_footprint_mb"], memory["alloc_mb"])
    assert profile["leaks"] == [], profile["leaks"]


TRACED_SIZES = """\
import sys, tracemalloc
made = [bytes(100) for _ in range(200000)]
size = sys.getsizeof(made[0])
mine = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, __file__)])
print(sum(trace.size == size for trace in mine.traces))
"""


def test_tracemalloc_from_the_start_sees_plain_sizes(tmp_path):
    """Under PYTHONTRACEMALLOC tracemalloc's hooks are the allocator triscope wraps: a sampled
    block must be asked of them at its own size, or tracemalloc records the samples' padded
    size (28259084 bytes on the line against plain python's 28224504 when it did)."""
    script = tmp_path / "traced.py"
    script.write_text(TRACED_SIZES)
    env = {"PYTHONTRACEMALLOC": "1"}
    plain = run_python([script], tmp_path, env=env)
    assert plain.returncode == 0, describe(plain)
    proc = run_triscope([script], tmp_path, env=env)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)
    assert load_profile(tmp_path / "profile.json")["memory"]["enabled"] is True


# ==== 6. Stress: threads storming the allocator, and fork ====

def assert_same_run(tmp_path, script, *args, timeout=120, env=None):
    """Runs `script` under python and under triscope; same exit status and stdout; returns
    (triscope's CompletedProcess, its validated profile)."""
    plain = run_python([script, *args], tmp_path, env=env, timeout=timeout)
    assert plain.returncode == 0, describe(plain)
    profiled_dir = tmp_path / "profiled"
    profiled_dir.mkdir()
    proc = run_triscope([script, *args], profiled_dir, env=env, timeout=timeout)
    assert proc.returncode == plain.returncode, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)
    return proc, load_profile(profiled_dir / "profile.json")


def test_storm_threads_malloc_realloc_free(tmp_path):
    script = workload("mem_storm.py")
    proc, profile = assert_same_run(tmp_path, script)
    assert "storm ok" in proc.stdout
    assert profile["memory"]["enabled"] is True
    grow = line_entry(profile, script, marker_lineno(script, "storm_grow"))
    assert grow is not None and grow["alloc_mb"] > 0, grow


def test_fork_loop_does_not_hang(tmp_path):
    script = workload("mem_fork.py")
    proc = run_triscope([script], tmp_path, env={"GT_OUT": tmp_path / "truth.json"}, timeout=120)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == "forks: 20 ok\n", describe(proc)
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["hung"] == [] and truth["statuses"] == [0] * 20, truth
    profile = load_profile(tmp_path / "profile.json")
    assert profile["memory"]["enabled"] is True
    churn = line_entry(profile, script, marker_lineno(script, "fork_churn_py"))
    assert churn is not None and churn["alloc_mb"] > 0, "parent stopped profiling after fork"


# ==== 7. Programs using the standard library and native code ====

def test_stdlib_programs_unchanged(tmp_path):
    proc, profile = assert_same_run(tmp_path, workload("mem_stdlib.py"))
    assert profile["memory"]["enabled"] is True
    for module in ("sqlite:", "zlib:", "json:", "ctypes:", "numpy:"):
        assert module in proc.stdout, proc.stdout


# ==== 8. Options: --cpu, --memory, --memory-sampling-interval, --malloc-threshold ====

@pytest.fixture(scope="module")
def cpu_only_run(tmp_path_factory):
    return profile_workload(tmp_path_factory.mktemp("cpuonly"), "mem_volumes.py", "0.25",
                            options=["--cpu"])


def test_cpu_only_has_no_memory(cpu_only_run):
    prof = cpu_only_run.profile
    assert prof["memory"]["enabled"] is False, prof["memory"]
    assert prof["memory"]["max_footprint_mb"] == 0, prof["memory"]
    assert all(mb == 0 for _, mb in prof["memory"]["timeline"]), prof["memory"]
    assert prof["leaks"] == [], prof["leaks"]
    for path, entry in prof["files"].items():
        for item in entry["lines"] + entry["functions"]:
            nonzero = {k: item[k] for k in MEMORY_FIELDS if item[k]}
            assert not nonzero, f"{path}:{item['lineno']} has memory fields under --cpu: {nonzero}"
            assert item["timeline"] == [] or all(mb == 0 for _, mb in item["timeline"]), item


def test_cpu_only_does_not_preload_the_allocator(cpu_only_run):
    """CPU-only runs keep libc's own malloc (the ≤ 1.03x overhead bar)."""
    assert cpu_only_run.truth["malloc_interposed"] is False


def test_memory_only_option(tmp_path):
    run = profile_workload(tmp_path, "mem_volumes.py", "0.5", options=["--memory"])
    assert run.profile["memory"]["enabled"] is True
    got = line(run, "py_alloc")
    want = run.truth["py_alloc"]["mb"]
    assert within(got["alloc_mb"], want, VOLUME_BAR), (got["alloc_mb"], want)


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory):
    default = profile_workload(tmp_path_factory.mktemp("small"), "mem_small.py")
    fine = profile_workload(tmp_path_factory.mktemp("smallfine"), "mem_small.py",
                            options=["--memory-sampling-interval", "65536"])
    return default, fine


@pytest.mark.parametrize("which", [0, 1], ids=["default_interval", "interval_65536"])
@pytest.mark.parametrize("marker", ["small_16k", "tiny"])
def test_small_blocks_unbiased(small_runs, which, marker):
    """Blocks far below the sampling interval (16 KiB, 233 B) are still estimated without bias."""
    run = small_runs[which]
    got = line(run, marker)
    want = run.truth[marker]["mb"]
    assert within(got["alloc_mb"], want, VOLUME_BAR), (marker, got["alloc_mb"], want)
    assert got["python_fraction"] >= 0.9, got


def test_smaller_sampling_interval_takes_more_samples(small_runs):
    default, fine = small_runs

    def samples(run):
        return sum(l["alloc_samples"] for l in require_file(run.profile, run.script)["lines"])

    assert samples(default) > 0
    assert samples(fine) > 2 * samples(default), (samples(fine), samples(default))


def test_malloc_threshold_hides_lines_with_few_samples(tmp_path):
    script = workload("mem_small.py")
    text = marker_source(script, "few").split("#")[0].strip()  # 'blob = bytes(32 * MB)'
    reports = {}
    for threshold in (1, 100_000_000):
        cwd = tmp_path / str(threshold)
        cwd.mkdir()
        proc = run_triscope(["--malloc-threshold", threshold, script], cwd)
        assert proc.returncode == 0, describe(proc)
        profile = load_profile(cwd / "profile.json")
        few = line_entry(profile, script, marker_lineno(script, "few"))
        assert few is not None and few["alloc_samples"] >= 1, f"JSON keeps every line: {few}"
        reports[threshold] = proc.stderr
    assert text in reports[1], f"{text!r} missing with --malloc-threshold 1:\n{reports[1]}"
    assert text not in reports[100_000_000], (
        f"{text!r} shown with --malloc-threshold 100000000:\n{reports[100_000_000]}")


# ==== 9. LD_PRELOAD hygiene ====

@pytest.fixture(scope="module", params=[None, "libm.so.6"], ids=["unset", "user_libm"])
def env_runs(request, tmp_path_factory):
    """mem_env.py under python and under triscope, with the user's LD_PRELOAD unset or set."""
    script = workload("mem_env.py")
    out = {}
    for kind, runner in (("plain", run_python), ("triscope", run_triscope)):
        cwd = tmp_path_factory.mktemp(f"env-{kind}")
        proc = runner([script], cwd, env={"LD_PRELOAD": request.param,
                                          "GT_OUT": cwd / "truth.json"})
        truth_path = cwd / "truth.json"
        truth = json.loads(truth_path.read_text()) if truth_path.exists() else None
        out[kind] = (proc, truth)
    return request.param, out


def test_env_output_unchanged(env_runs):
    _, out = env_runs
    plain, _ = out["plain"]
    proc, _ = out["triscope"]
    assert plain.returncode == 0, describe(plain)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)


def test_env_program_sees_its_own_ld_preload(env_runs):
    user, out = env_runs
    proc, truth = out["triscope"]
    assert truth is not None, describe(proc)
    assert truth["program"] == repr(user), f"program sees {truth['program']}, user set {user!r}"


def test_env_children_see_the_users_ld_preload(env_runs):
    user, out = env_runs
    proc, truth = out["triscope"]
    assert truth is not None, describe(proc)
    assert truth["sh_child"] == (user if user is not None else "<unset>"), truth
    assert truth["python_child"] == repr(user), truth
