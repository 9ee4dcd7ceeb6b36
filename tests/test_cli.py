"""The command line, end to end: every option changes what it should, the program runs exactly
as under python, and triscope's own errors are one line and exit status 2.

Each test runs the real CLI in a subprocess with tmp_path as the working directory; option
tests use short runs of the workloads (scale 0.3, about 1-1.5 s).
"""
import json
import os
import platform
import selectors
import shutil
import signal
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path

import pytest

from conftest import (DEFAULT_TIMEOUT, WORKLOADS, _child_env, describe, file_entry,
                      load_profile, marker_line, marker_lineno, marker_source,
                      profile_workload, program_stderr, require_file, run_python, run_triscope,
                      total_pct, workload)

SHORT = "0.3"  # workload scale for option tests
SPLIT = workload("split.py")
SEMANTICS = workload("semantics.py")
HEAVY = WORKLOADS / "helpers_pkg" / "heavy.py"


def hot_text(marker):
    """A piece of the marked line's source that a text report shows even when it trims lines."""
    return marker_source(SPLIT, marker).strip().split(":")[0]  # e.g. 'for ia in range(n)'


def triscope_version():
    out = subprocess.run([sys.executable, "-c", "import triscope; print(triscope.__version__)"],
                         capture_output=True, text=True, timeout=DEFAULT_TIMEOUT)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def sub_copy(tmp_path):
    """semantics.py copied to tmp_path/sub/, so it can be run by a relative path."""
    sub = tmp_path / "sub"
    sub.mkdir()
    shutil.copy(SEMANTICS, sub / "semantics.py")
    return "sub/semantics.py"


def assert_one_error_line(proc):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, describe(proc)
    assert len(lines) == 1 and lines[0].startswith("triscope: error:"), describe(proc)
    assert "Traceback" not in proc.stderr


# ==== Outputs ====

def test_default_outputs(tmp_path):
    run = profile_workload(tmp_path, "split.py", SHORT)
    prof = run.profile
    assert run.proc.stdout == "", "triscope must not write to the program's stdout"
    assert hot_text("hot_a") in run.proc.stderr, "text report not on stderr"
    assert prof["schema"] == "triscope/2"
    assert prof["version"] == triscope_version()
    assert prof["args"] == [str(SPLIT), SHORT]
    assert prof["python"] == platform.python_version()
    assert prof["cpu_sampling_interval_s"] == pytest.approx(0.01)
    assert prof["stacks"], "stacks are recorded by default"
    opts = prof["options"]
    assert opts["cpu_percent_threshold"] == pytest.approx(1.0)
    assert opts["stacks"] and not opts["reduced_profile"] and not opts["profile_all"]
    assert not opts["virtual_time"]
    assert opts["profile_only"] == [] and opts["profile_exclude"] == []
    entry = require_file(prof, SPLIT)
    linenos = [l["lineno"] for l in entry["lines"]]
    assert linenos == sorted(linenos)
    for m in ("hot_a", "hot_b", "hot_c"):
        line = marker_line(prof, SPLIT, m)
        assert line is not None, m
        assert line["source"] == marker_source(SPLIT, m)
        assert line["cpu_samples"] > 0


def test_a_run_starts_quietly(tmp_path):
    """Nothing is said at the start of a run (no banner, no GPU line without --gpu); the
    report ends with the process and how to suspend and resume one; -v says it at once."""
    proc = run_triscope(["--cli", SPLIT, SHORT], tmp_path)
    assert proc.returncode == 0, describe(proc)
    profile = load_profile(tmp_path / "profile.json")
    if profile["elapsed_s"] < 9:  # a run of 10 s or more says it (a very busy machine)
        assert "profiling process" not in proc.stderr, describe(proc)
    assert "GPU" not in proc.stderr, describe(proc)
    footer = proc.stderr.splitlines()
    assert any(line.startswith(f"process {profile['pid']} (while a run goes on: python -m "
                               f"triscope --pid {profile['pid']} --off") for line in footer)
    proc = run_triscope(["-v", "--cli", SPLIT, SHORT], tmp_path)
    assert proc.returncode == 0, describe(proc)
    first = proc.stderr.splitlines()[0]
    assert first.startswith("triscope: profiling process ") and "--off" in first, first


def test_a_long_run_announces_itself_once(tmp_path):
    """What a run still going after a while writes (launch.ANNOUNCE_AFTER_SECONDS, 10 s):
    the same mechanism with a short delay, in a process profiling itself."""
    program = textwrap.dedent("""
        import time, triscope
        from triscope import _native
        triscope.start()
        _native.announce_after(0.3, "the announcement\\n")
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            sum(range(1000))
        triscope.stop()
    """)
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=DEFAULT_TIMEOUT, env=_child_env(None), cwd=tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stderr.count("the announcement\n") == 1, describe(proc)


def test_config_file_sets_options_and_the_command_line_wins(tmp_path):
    """-c/--config FILE (Scalene's habit): TOML options, each key an option's long name; a
    pyproject.toml's [tool.triscope] table serves too; the command line wins."""
    (tmp_path / "triscope.toml").write_text(
        'cpu = true\njson = true\noutfile = "from-config.json"\n'
        'cpu_sampling_rate = 0.02\nprofile-only = ["split"]\nstacks = false\n')
    proc = run_triscope(["-c", "triscope.toml", "--cpu-sampling-rate", "0.005", SPLIT, SHORT],
                        tmp_path)
    assert proc.returncode == 0, describe(proc)
    profile = load_profile(tmp_path / "from-config.json")
    assert profile["options"]["cpu"] and not profile["options"]["memory"]
    assert profile["cpu_sampling_interval_s"] == pytest.approx(0.005)
    assert profile["options"]["profile_only"] == ["split"]
    assert not profile["options"]["stacks"] and profile["stacks"] == []
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.triscope]\nmemory = true\njson = true\n'
        'outfile = "from-pyproject.json"\n')
    proc = run_triscope(["--config=pyproject.toml", SPLIT, SHORT], tmp_path)
    assert proc.returncode == 0, describe(proc)
    profile = load_profile(tmp_path / "from-pyproject.json")
    assert profile["options"]["memory"] and not profile["options"]["cpu"]


@pytest.mark.parametrize("content,name,says", [
    ("cpu = true\nbogus = 1\n", "c.toml", "'bogus' is not an option"),
    ("cpu = 3\n", "c.toml", "cpu takes true or false"),
    ("cpu = [\n", "c.toml", "is not valid TOML"),
    ("pid = 1\n", "c.toml", "'pid' is not an option"),
    ('[project]\nname = "x"\n', "pyproject.toml", "has no [tool.triscope] table"),
    ("cpu: true\n", "c.yaml", None),
])
def test_bad_config_file_is_one_error_line(tmp_path, content, name, says):
    (tmp_path / name).write_text(content)
    proc = run_triscope(["-c", name, SPLIT, SHORT], tmp_path)
    if says is None:  # YAML: read with PyYAML when it is installed, else one line says so
        try:
            import yaml  # noqa: F401
        except ImportError:
            says = "reading YAML needs PyYAML"
        else:
            assert proc.returncode == 0, describe(proc)
            return
    assert_one_error_line(proc)
    assert says in proc.stderr, proc.stderr
    proc = run_triscope(["-c", "missing.toml", SPLIT, SHORT], tmp_path)
    assert_one_error_line(proc)


def test_scalene_spellings(tmp_path):
    """--profile-system-libraries is --profile-all, --standalone is accepted (the page is
    always self-contained), --program-path names the directory whose code is profiled."""
    encoder = tmp_path / "encode.py"
    encoder.write_text("import json, time\n"
                       "data = [{'k': i, 'v': str(i)} for i in range(20000)]\n"
                       "end = time.process_time() + 0.6\n"
                       "while time.process_time() < end:\n"
                       "    json.dumps(data, indent=1)  # json's pure-Python encoder\n")
    proc = run_triscope(["--profile-system-libraries", "--standalone", "--json", "-o",
                         "all.json", encoder], tmp_path)
    assert proc.returncode == 0, describe(proc)
    profile = load_profile(tmp_path / "all.json")
    assert profile["options"]["profile_all"]
    assert any(path.endswith("json/encoder.py") for path in profile["files"]), \
        sorted(profile["files"])
    app, lib = tmp_path / "app", tmp_path / "lib"
    app.mkdir()
    lib.mkdir()
    (lib / "helper.py").write_text(
        "def spin():\n"
        "    total = 0\n"
        "    for i in range(3_000_000): total += i  # @lib_spin\n"
        "    return total\n")
    (app / "main.py").write_text(
        f"import sys\nsys.path.insert(0, {str(lib)!r})\nimport helper\nhelper.spin()\n")
    proc = run_triscope(["--json", "-o", "own.json", app / "main.py"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert str(lib / "helper.py") not in load_profile(tmp_path / "own.json")["files"]
    proc = run_triscope(["--program-path", lib, "--json", "-o", "lib.json", app / "main.py"],
                        tmp_path)
    assert proc.returncode == 0, describe(proc)
    files = load_profile(tmp_path / "lib.json")["files"]
    assert marker_line({"files": files}, lib / "helper.py", "lib_spin") is not None, files
    assert str(app / "main.py") not in files
    proc = run_triscope(["--program-path", tmp_path / "nowhere", app / "main.py"], tmp_path)
    assert_one_error_line(proc)


def test_run_subcommand_word(tmp_path):
    ref = run_python([SEMANTICS, "info", "x"], tmp_path)
    proc = run_triscope(["run", SEMANTICS, "info", "x"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == ref.stdout
    load_profile(tmp_path / "profile.json")


def test_run_subcommand_with_options(tmp_path):
    run = profile_workload(tmp_path, "split.py", SHORT, options=["run", "--cpu-sampling-rate",
                                                                 "0.02"])
    assert run.profile["cpu_sampling_interval_s"] == pytest.approx(0.02)


def test_outfile_text(tmp_path):
    """-o FILE without --json: the text report goes to FILE, the JSON still to ./profile.json."""
    run = profile_workload(tmp_path, "split.py", SHORT, options=["-o", "report.txt"])
    report = (tmp_path / "report.txt").read_text()
    assert hot_text("hot_a") in report
    assert hot_text("hot_a") not in run.proc.stderr, "report also printed to stderr"
    assert not report.lstrip().startswith("{"), "-o without --json wrote JSON"


def test_outfile_json(tmp_path):
    """--json -o FILE: the JSON goes to FILE (not ./profile.json); the report to stderr."""
    run = profile_workload(tmp_path, "split.py", SHORT, options=["--json", "-o", "out.json"],
                           profile_name="out.json")
    assert not (tmp_path / "profile.json").exists()
    assert marker_line(run.profile, SPLIT, "hot_a") is not None
    assert hot_text("hot_a") in run.proc.stderr


def test_outfile_long_name(tmp_path):
    profile_workload(tmp_path, "split.py", SHORT, options=["--json", "--outfile", "p2.json"],
                     profile_name="p2.json")
    assert not (tmp_path / "profile.json").exists()


def test_cli_flag(tmp_path):
    run = profile_workload(tmp_path, "split.py", SHORT, options=["--cli"])
    assert hot_text("hot_a") in run.proc.stderr
    assert run.proc.stdout == ""


@pytest.mark.parametrize("flag", ["--cpu", "--cpu-only"])
def test_cpu_only(tmp_path, flag):
    run = profile_workload(tmp_path, "split.py", SHORT, options=[flag])
    prof = run.profile
    assert prof["options"]["cpu"] is True
    assert prof["options"]["memory"] is False and prof["memory"]["enabled"] is False
    assert prof["options"]["gpu"] is False and prof["gpu"]["enabled"] is False
    assert total_pct(marker_line(prof, SPLIT, "hot_a")) > 30


# ==== Thresholds and reduction ====

def test_cpu_percent_threshold_text_report(tmp_path):
    """hot_c has about 20%: shown at the default threshold (1), hidden at 25."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    base = profile_workload(tmp_path / "a", "split.py", SHORT, options=["-o", "r.txt"])
    high = profile_workload(tmp_path / "b", "split.py", SHORT,
                            options=["--cpu-percent-threshold", "25", "-o", "r.txt"])
    base_report = (tmp_path / "a" / "r.txt").read_text()
    high_report = (tmp_path / "b" / "r.txt").read_text()
    for m in ("hot_a", "hot_b", "hot_c"):
        assert hot_text(m) in base_report, m
    # At 25 each line is shown or hidden by the share that run measured (hot_b about 30 %,
    # hot_c about 20 %; on a busy machine a short run has measured hot_c above 25).
    for m in ("hot_a", "hot_b", "hot_c"):
        share = total_pct(marker_line(high.profile, SPLIT, m))
        if share >= 26:
            assert hot_text(m) in high_report, (m, share)
        elif share < 24:
            assert hot_text(m) not in high_report, (m, share)
    assert hot_text("hot_a") in high_report
    # The threshold only hides lines in reports; the JSON keeps them.
    assert high.profile["options"]["cpu_percent_threshold"] == pytest.approx(25)
    assert marker_line(high.profile, SPLIT, "hot_c") is not None
    assert total_pct(marker_line(base.profile, SPLIT, "hot_c")) < 25


def test_reduced_profile_with_threshold(tmp_path):
    run = profile_workload(tmp_path, "split.py", SHORT,
                           options=["--cpu", "--reduced-profile", "--cpu-percent-threshold", "25"])
    prof = run.profile
    assert prof["options"]["reduced_profile"] is True
    assert marker_line(prof, SPLIT, "hot_a") is not None
    assert marker_line(prof, SPLIT, "hot_b") is not None
    assert marker_line(prof, SPLIT, "hot_c") is None, "a ~20% line kept under threshold 25"
    for path, entry in prof["files"].items():
        for line in entry["lines"]:
            assert total_pct(line) >= 25, (path, line)


def test_reduced_profile_default_threshold(tmp_path):
    """Every line kept has at least 1 % of the time, or as many allocation samples as the
    default --malloc-threshold asks for (100 at 10 KiB each, at the 256 KiB default
    interval: 4 samples; docs/PROFILE_FORMAT.md, "Which lines are worth showing"): the
    workload's clock reads open a /proc file per section, a line that allocates."""
    run = profile_workload(tmp_path, "split.py", SHORT, options=["--reduced-profile"])
    want_samples = round(100 * 10 * 1024 / run.profile["memory"]["sampling_interval_bytes"])
    for path, entry in run.profile["files"].items():
        for line in entry["lines"]:
            assert total_pct(line) >= 1 or line["alloc_samples"] >= want_samples, (path, line)
    assert marker_line(run.profile, SPLIT, "hot_c") is not None


# ==== Sampling ====

def test_reduced_profile_keeps_a_line_by_its_volume(tmp_path):
    """One 100 MB allocation is a single allocation sample, below --malloc-threshold's
    sample count; --reduced-profile keeps its line for its volume."""
    script = tmp_path / "big.py"
    script.write_text("import time\n"
                      "def spin():\n"
                      "    end = time.process_time() + 0.5\n"
                      "    while time.process_time() < end: pass  # @spin\n"
                      "spin()\n"
                      "blob = bytearray(100_000_000)  # @big\n"
                      "spin()\n")
    proc = run_triscope(["--reduced-profile", "--json", "-o", "p.json", script], tmp_path)
    assert proc.returncode == 0, describe(proc)
    profile = load_profile(tmp_path / "p.json")
    big = marker_line(profile, script, "big")
    assert big is not None, "the 100 MB line was dropped"
    assert big["alloc_mb"] >= 90 and big["alloc_samples"] < 4, big


def test_cpu_sampling_rate(tmp_path):
    runs = {}
    for rate in ("0.02", "0.005"):
        (tmp_path / rate).mkdir()
        run = profile_workload(tmp_path / rate, "split.py", SHORT,
                               options=["--cpu-sampling-rate", rate])
        prof = run.profile
        assert prof["cpu_sampling_interval_s"] == pytest.approx(float(rate))
        cpu = sum(t["cpu_s"] for t in prof["threads"])
        expected = cpu / float(rate)
        assert 0.5 * expected <= prof["samples"] <= 1.5 * expected, (rate, prof["samples"], cpu)
        runs[rate] = prof["samples"] / cpu
    ratio = runs["0.005"] / runs["0.02"]
    assert 2.4 <= ratio <= 5.6, f"4x the rate gave {ratio:.2f}x the samples per CPU second"


def test_no_stacks(tmp_path):
    """--no-stacks: the default's stacks left out, and the page's flame graph with them."""
    run = profile_workload(tmp_path, "split.py", SHORT, options=["--no-stacks"])
    assert run.profile["options"]["stacks"] is False and run.profile["stacks"] == []


@pytest.mark.parametrize("options", [[], ["--stacks"]], ids=["default", "--stacks"])
def test_stacks(tmp_path, options):
    run = profile_workload(tmp_path, "split.py", SHORT, options=options)
    prof = run.profile
    assert prof["options"]["stacks"] is True
    assert prof["stacks"], "no stacks recorded"
    hot_a = marker_lineno(SPLIT, "hot_a")
    call_a = marker_lineno(SPLIT, "call_a")
    found = 0
    for stack in prof["stacks"]:
        frames = stack["frames"]
        assert frames and stack["samples"] >= 0
        for frame in frames:
            assert len(frame) == 3 and isinstance(frame[0], str) and isinstance(frame[1], str)
            assert isinstance(frame[2], int)
        ours = [(fn, ln) for f, fn, ln in frames if os.path.realpath(f) == str(SPLIT)]
        if ours[-2:] == [("<module>", call_a), ("func_a", hot_a)]:  # outermost first
            found += stack["samples"]
    assert found > 0, "no stack <module>:call_a -> func_a:hot_a (outermost first)"
    share = 100 * found / max(1, sum(s["samples"] for s in prof["stacks"]))
    summary = [(s["samples"], s["seconds"], s["frames"][-1][1:]) for s in prof["stacks"]]
    assert share > 30, (f"stacks through func_a (about half the CPU) hold only {share:.1f}% "
                        f"of stack samples; run samples {prof['samples']}; stacks {summary}")


def test_use_virtual_time(tmp_path):
    run = profile_workload(tmp_path, "native_mix.py", SHORT, options=["--use-virtual-time"])
    prof = run.profile
    assert prof["options"]["virtual_time"] is True
    assert prof["totals"]["cpu_system_pct"] == 0
    for path, entry in prof["files"].items():
        assert entry["cpu_system_pct"] == 0, path
        for line in entry["lines"]:
            assert line["cpu_system_pct"] == 0, (path, line)
    cpu = sum(t["cpu_s"] for t in prof["threads"])
    assert prof["thread_time_s"] == pytest.approx(cpu, rel=0.10, abs=0.05)
    sleep_s = run.truth["sleep"]["wall_s"]
    assert prof["thread_time_s"] <= prof["elapsed_s"] - 0.5 * sleep_s, (prof, run.truth)
    assert total_pct(marker_line(prof, workload("native_mix.py"), "sleep")) < 3
    # CPU time only: no waiting measured, so neither a CPU wait nor an idle thread.
    assert prof["cpu_wait_pct"] is None and prof["idle"]["seconds"] == 0, prof


# ==== Which files ====

def test_profile_all_adds_stdlib(tmp_path):
    run = profile_workload(tmp_path, "modules_main.py", SHORT, options=["--profile-all"])
    prof = run.profile
    assert prof["options"]["profile_all"] is True
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    std_files = [f for f in prof["files"] if os.path.realpath(f).startswith(stdlib + os.sep)]
    assert std_files, f"no stdlib file with --profile-all: {sorted(prof['files'])}"
    encoder = [f for f in std_files if f.endswith(os.path.join("json", "encoder.py"))]
    assert encoder, std_files
    # The encoder's own lines now hold a good part of the json.dumps time.
    want = 100 * run.truth["stdlib_json"]["wall_s"] / prof["thread_time_s"]
    assert prof["files"][encoder[0]]["cpu_pct"] >= 0.5 * want, (prof["files"][encoder[0]], want)
    assert file_entry(prof, workload("modules_main.py")) is not None


def test_profile_only(tmp_path):
    run = profile_workload(tmp_path, "modules_main.py", SHORT,
                           options=["--profile-only", "zzz-none,heavy"])
    prof = run.profile
    assert prof["options"]["profile_only"] == ["zzz-none", "heavy"]
    assert file_entry(prof, HEAVY) is not None, sorted(prof["files"])
    assert file_entry(prof, workload("modules_main.py")) is None, sorted(prof["files"])
    for f in prof["files"]:
        assert "heavy" in f or "zzz-none" in f, f


def test_profile_exclude(tmp_path):
    run = profile_workload(tmp_path, "modules_main.py", SHORT,
                           options=["--profile-exclude", "zzz-none,helpers_pkg"])
    prof = run.profile
    assert prof["options"]["profile_exclude"] == ["zzz-none", "helpers_pkg"]
    assert file_entry(prof, HEAVY) is None, sorted(prof["files"])
    main = workload("modules_main.py")
    assert file_entry(prof, main) is not None
    for f in prof["files"]:
        assert "helpers_pkg" not in f, f
    # heavy.py is no longer profiled: its time is charged to the line that called it.
    want = 100 * run.truth["helper_hot"]["wall_s"] / prof["thread_time_s"]
    got = total_pct(marker_line(prof, main, "call_helper"))
    assert got >= 0.5 * want, f"calling line got {got:.1f}%, helper took {want:.1f}%"


# ==== Program arguments and '---' ====

def test_program_options_after_script_go_to_program(tmp_path):
    args = [SEMANTICS, "info", "--cpu", "--version", "-o", "x.txt", "--json"]
    ref = run_python(args, tmp_path)
    proc = run_triscope(args, tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == ref.stdout
    assert not (tmp_path / "x.txt").exists()
    load_profile(tmp_path / "profile.json")


def test_triple_dash(tmp_path):
    prog = [SEMANTICS, "info", "--cpu", "--help", "--json", "-o", "x.json"]
    ref = run_python(prog, tmp_path)
    proc = run_triscope(["--cpu-sampling-rate", "0.02", "---", *prog], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == ref.stdout
    assert json.loads(proc.stdout)["argv"] == [str(SEMANTICS), *prog[1:]]
    assert not (tmp_path / "x.json").exists(), "the program's -o was taken by triscope"
    prof = load_profile(tmp_path / "profile.json")
    assert prof["cpu_sampling_interval_s"] == pytest.approx(0.02)


def test_triple_dash_module(tmp_path):
    write_package(tmp_path)
    ref = run_python(["-m", "mpkg", "--cpu", "x"], tmp_path)
    proc = run_triscope(["---", "-m", "mpkg", "--cpu", "x"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == ref.stdout
    load_profile(tmp_path / "profile.json")


# ==== -m ====

def write_package(root):
    pkg = root / "mpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "work.py").write_text(textwrap.dedent("""\
        def spin(n):
            acc = 0
            for i in range(n): acc += (i * 7) % 13  # @pkg_hot
            return acc
        """))
    (pkg / "__main__.py").write_text(textwrap.dedent("""\
        import json, sys
        from mpkg import work
        print(json.dumps({"argv": sys.argv, "name": __name__, "path0": sys.path[0]}))
        work.spin(20_000_000)
        """))
    return pkg


def test_module_package_main(tmp_path):
    pkg = write_package(tmp_path)
    ref = run_python(["-m", "mpkg", "a", "--cpu"], tmp_path)
    assert ref.returncode == 0, describe(ref)
    proc = run_triscope(["-m", "mpkg", "a", "--cpu"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == ref.stdout
    prof = load_profile(tmp_path / "profile.json")
    line = marker_line(prof, pkg / "work.py", "pkg_hot")
    assert line is not None, sorted(prof["files"])
    assert total_pct(line) > 50, line



@pytest.mark.parametrize("memory", [True, False], ids=["re-executed", "in-place"])
def test_module_in_a_package_runs_the_package_once(tmp_path, memory):
    """`-m pkg.mod` imports pkg once, as plain python does: the launcher re-executed for
    memory profiling finds the module only in the interpreter that runs it (the first
    interpreter imported pkg to find mod, and its output showed twice)."""
    pkg = tmp_path / "opkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("print('package ran')\n")
    (pkg / "mod.py").write_text("print('module ran')\n")
    ref = run_python(["-m", "opkg.mod"], tmp_path)
    proc = run_triscope([*([] if memory else ["--cpu"]), "--cli", "-m", "opkg.mod"], tmp_path)
    assert proc.returncode == ref.returncode == 0, describe(proc)
    assert proc.stdout == ref.stdout == "package ran\nmodule ran\n", describe(proc)


# ==== --version, --help, the console script ====

def test_version(tmp_path):
    proc = run_triscope(["--version"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.strip() == f"triscope {triscope_version()}"


def test_help(tmp_path):
    proc = run_triscope(["--help"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    for option in ("--cpu", "--cpu-only", "--cli", "--json", "--outfile", "--reduced-profile",
                   "--profile-all", "--profile-only", "--profile-exclude", "--use-virtual-time",
                   "--cpu-percent-threshold", "--cpu-sampling-rate", "--stacks", "--version",
                   "---"):
        assert option in proc.stdout, f"{option} missing from --help"
    assert not (tmp_path / "profile.json").exists()


def test_console_script(tmp_path):
    exe = Path(sys.executable).parent / "triscope"
    if not exe.exists():
        pytest.skip(f"no console script at {exe}")
    proc = subprocess.run([str(exe), "--version"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=DEFAULT_TIMEOUT, env=_child_env(None))
    assert proc.returncode == 0 and proc.stdout.strip() == f"triscope {triscope_version()}"
    proc = subprocess.run([str(exe), str(SEMANTICS), "info"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=DEFAULT_TIMEOUT,
                          env=_child_env(None))
    assert proc.returncode == 0, describe(proc)
    assert json.loads(proc.stdout)["name"] == "__main__"
    load_profile(tmp_path / "profile.json")


@pytest.mark.parametrize("launcher", ["module", "console script", "-m program"])
def test_stacks_start_at_the_program(tmp_path, launcher):
    """The launcher's frames (the console script, runpy, triscope) are in no stack: stacks
    begin at the program's own first frame (or, under -m, at the import machinery runpy
    called to find the program's package), or at the interpreter's exit waiting for threads
    (threading._shutdown, which the interpreter calls after the program, as under python)."""
    package = tmp_path / "spinpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    spin = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    (package / "__main__.py").write_text(spin)
    (tmp_path / "spin.py").write_text(spin)
    options = ["--cpu", "--stacks", "--json", "-o", "p.json"]
    if launcher == "console script":
        exe = Path(sys.executable).parent / "triscope"
        if not exe.exists():
            pytest.skip(f"no console script at {exe}")
        proc = subprocess.run([str(exe), *options, "spin.py"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=DEFAULT_TIMEOUT, env=_child_env(None))
    else:
        program = ["-m", "spinpkg"] if launcher == "-m program" else ["spin.py"]
        proc = run_triscope([*options, *program], tmp_path)
    assert proc.returncode == 0, describe(proc)
    stacks = load_profile(tmp_path / "p.json")["stacks"]
    assert stacks, "no stacks recorded"
    want = str(package / "__main__.py") if launcher == "-m program" else str(tmp_path / "spin.py")
    roots = {tuple(stack["frames"][0][:2]) for stack in stacks}
    assert (want, "<module>") in roots, roots
    launcher_code = ("runpy", f"{os.sep}triscope{os.sep}", f"{os.sep}bin{os.sep}triscope")
    for stack in stacks:
        root_path, root_function, _ = stack["frames"][0]
        assert (root_path, root_function) == (want, "<module>") or (
            launcher == "-m program" and root_path.startswith("<frozen importlib")) or (
            (os.path.basename(root_path), root_function) == ("threading.py", "_shutdown")), stack
        for path, _, _ in stack["frames"]:
            assert not any(part in path for part in launcher_code), stack["frames"]


# ==== The program runs exactly as under python ====

def test_stdout_byte_identical(tmp_path):
    args = [SEMANTICS, "output", "big-output", "output"]
    ref = run_python(args, tmp_path, text=False)
    proc = run_triscope(args, tmp_path, text=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ref.stdout
    load_profile(tmp_path / "profile.json")


def test_argv_name_path_file(tmp_path):
    rel = sub_copy(tmp_path)
    args = [rel, "info", "a b", "--cpu", "é"]
    ref = run_python(args, tmp_path)
    proc = run_triscope(args, tmp_path)
    assert proc.returncode == 0, describe(proc)
    got, want = json.loads(proc.stdout), json.loads(ref.stdout)
    assert got == want
    assert got["argv"] == args and got["name"] == "__main__"
    assert os.path.realpath(got["path0"]) == os.path.realpath(tmp_path / "sub")
    load_profile(tmp_path / "profile.json")


def test_stdin_passthrough(tmp_path):
    data = bytes(range(256)) * 400 + "ünïcode\n".encode() + b"\r\n\x00end"
    ref = run_python([SEMANTICS, "stdin"], tmp_path, input=data, text=False)
    proc = run_triscope([SEMANTICS, "stdin"], tmp_path, input=data, text=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ref.stdout
    assert proc.stdout.split()[0] == str(len(data)).encode()
    load_profile(tmp_path / "profile.json")


def test_stderr_passthrough(tmp_path):
    """With the report in a file, stderr is the program's own plus 'triscope:' lines."""
    args = [SEMANTICS, "stderr:first message", "info", "stderr:ünï second"]
    ref = run_python(args, tmp_path)
    proc = run_triscope(["-o", "report.txt", *args], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert program_stderr(proc.stderr) == ref.stderr
    assert proc.stdout == ref.stdout
    load_profile(tmp_path / "profile.json")


@pytest.mark.parametrize("code", [0, 3, 42])
def test_exit_status(tmp_path, code):
    proc = run_triscope([SEMANTICS, "spin:0.3", f"exit:{code}"], tmp_path)
    assert proc.returncode == code, describe(proc)
    prof = load_profile(tmp_path / "profile.json")
    assert marker_line(prof, SEMANTICS, "spin_hot") is not None


def test_exit_with_message(tmp_path):
    args = [SEMANTICS, "exit-msg:goodbye"]
    ref = run_python(args, tmp_path)
    proc = run_triscope(["-o", "report.txt", *args], tmp_path)
    assert ref.returncode == 1 and proc.returncode == 1, describe(proc)
    assert program_stderr(proc.stderr) == ref.stderr
    load_profile(tmp_path / "profile.json")


def test_exception_traceback_identical(tmp_path):
    rel = sub_copy(tmp_path)
    args = [rel, "stderr:before", "spin:0.3", "raise"]
    ref = run_python(args, tmp_path)
    proc = run_triscope(["-o", "report.txt", *args], tmp_path)
    assert ref.returncode == 1
    assert proc.returncode == 1, describe(proc)
    got = program_stderr(proc.stderr)
    assert "runpy" not in got and "triscope" not in got, got
    assert got == ref.stderr
    prof = load_profile(tmp_path / "profile.json")
    assert marker_line(prof, tmp_path / rel, "spin_hot") is not None


def test_exception_traceback_with_report_on_stderr(tmp_path):
    """Without -o the report follows on stderr, but the traceback is still python's, whole."""
    args = [SEMANTICS, "raise"]
    ref = run_python(args, tmp_path)
    proc = run_triscope(args, tmp_path)
    assert proc.returncode == 1, describe(proc)
    assert ref.stderr in proc.stderr, describe(proc)
    load_profile(tmp_path / "profile.json")


def test_syntax_error(tmp_path):
    (tmp_path / "bad.py").write_text("print('start')\ndef broken(:\n    pass\n")
    ref = run_python(["bad.py"], tmp_path)
    proc = run_triscope(["bad.py"], tmp_path)
    assert ref.returncode == 1
    assert proc.returncode == 1, describe(proc)
    assert proc.stdout == ""
    got = program_stderr(proc.stderr)
    assert ref.stderr.strip() in got, describe(proc)  # File/line, source, caret, message
    assert "SyntaxError" in got
    if "Traceback" in got:
        assert "triscope" not in got and "runpy" not in got, got


def _readline_with_timeout(stream, timeout):
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            return b""
        return stream.readline()
    finally:
        sel.close()


def _interrupt(cmd, cwd):
    """Start cmd, wait for its 'ready', send SIGINT; return (returncode, stderr). The child
    starts with SIGINT at its default: a suite started in the background by a shell without
    job control inherits SIGINT ignored, and Python then installs no KeyboardInterrupt
    handler (the plain-python reference ran its whole 60 s loop and exited 0)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=_child_env(None), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = _readline_with_timeout(proc.stdout, 60)
        assert line == b"ready\n", (line, proc.poll())
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err.decode(errors="replace")


def test_sigint(tmp_path):
    ref_rc, ref_err = _interrupt([sys.executable, SEMANTICS, "ready-loop"], tmp_path)
    assert ref_rc == -signal.SIGINT
    rc, err = _interrupt([sys.executable, "-m", "triscope", "-o", "report.txt", SEMANTICS,
                          "ready-loop"], tmp_path)
    assert rc == ref_rc, err
    assert "KeyboardInterrupt" in program_stderr(err)
    assert "runpy" not in program_stderr(err)
    prof = load_profile(tmp_path / "profile.json")
    assert marker_line(prof, SEMANTICS, "spin_hot") is not None


# ==== triscope's own errors: one line, status 2 ====

def test_error_missing_script(tmp_path):
    assert_one_error_line(run_triscope(["no_such_program.py", "a"], tmp_path))


def test_error_directory_as_script(tmp_path):
    (tmp_path / "adir").mkdir()
    assert_one_error_line(run_triscope(["adir"], tmp_path))


@pytest.mark.parametrize("options", [
    ["--no-such-option"],
    ["--cpu-sampling-rate", "fast"],
    ["-o", "missing_dir/report.txt"],
    ["--json", "-o", "missing_dir/profile.json"],
], ids=["unknown-option", "bad-value", "text-outfile-in-missing-dir",
        "json-outfile-in-missing-dir"])
def test_error_before_program_runs(tmp_path, options):
    proc = run_triscope([*options, SEMANTICS, "marker:ran.txt", "info"], tmp_path)
    assert_one_error_line(proc)
    assert proc.stdout == ""
    assert not (tmp_path / "ran.txt").exists(), "the program ran despite the error"
