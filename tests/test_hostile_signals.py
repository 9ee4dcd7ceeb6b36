"""Programs that fight the profiler's signals (issue 13, items 4 and 5).

The profiler's signals (the CPU timer's and the two control signals of --pid) must be
invisible: a program that resets, ignores, blocks or handles them runs exactly as under plain
python (same stdout, same exit status) and still gets a profile of its CPU-bound line. See
docs/ARCHITECTURE.md ("Signals").
"""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import (describe, file_entry, load_profile, marker_line, run_python,
                      run_triscope, workload)

SCRIPT = workload("hostile_signals.py")


def same_as_python(tmp_path, mode, options=()):
    """`mode` under python and under `triscope *options`: same stdout and exit status.
    Returns (triscope's CompletedProcess, its profile or None when the program died)."""
    plain = run_python([SCRIPT, mode], tmp_path)
    proc = run_triscope([*options, "--json", "-o", tmp_path / "p.json", SCRIPT, mode],
                        tmp_path)
    assert proc.returncode == plain.returncode, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)
    assert "Traceback" not in proc.stderr, describe(proc)
    return proc, load_profile(tmp_path / "p.json") if proc.returncode == 0 else None


def hot_python_pct(profile):
    line = marker_line(profile, SCRIPT, "hot")
    return line["cpu_python_pct"] if line else 0.0


def program_python_pct(profile):
    """Python time on the program's lines (the hot line shares it with its loop's header)."""
    entry = file_entry(profile, SCRIPT)
    return entry["cpu_python_pct"] if entry else 0.0


@pytest.mark.parametrize("options", [(), ("--cpu",)], ids=["default", "cpu"])
def test_program_resetting_every_handler_is_profiled(tmp_path, options):
    """Before: killed by the timer signal (its default action), no output, no profile."""
    _, profile = same_as_python(tmp_path, "reset", options)
    assert profile["samples"] > 0
    assert hot_python_pct(profile) > 0


@pytest.mark.parametrize("options", [(), ("--cpu",)], ids=["default", "cpu"])
def test_handler_on_the_timer_signal_sees_only_its_own_signals(tmp_path, options):
    """Before: the program's handler was called for every timer tick. Now only for the two
    signals it raised itself; getsignal and signal return what the program set."""
    proc, profile = same_as_python(tmp_path, "handler", options)
    assert "calls before raising 0" in proc.stdout
    assert "still here" in proc.stdout
    assert hot_python_pct(profile) > 0


def test_program_raising_the_timer_signal_with_no_handler_dies_of_it(tmp_path):
    """As under python: the default action of a real-time signal ends the process."""
    proc, _ = same_as_python(tmp_path, "die")
    assert proc.returncode == -(signal.SIGRTMIN + 5)


@pytest.mark.parametrize("mode", ["ignore", "block"])
@pytest.mark.parametrize("options", [(), ("--cpu",)], ids=["default", "cpu"])
def test_ignored_or_blocked_signals_still_give_a_cpu_profile(tmp_path, mode, options):
    """Before: SIG_IGN on every real-time signal, or a thread blocking every signal, left no
    sample at all ("100 % system"). Virtual time leaves waiting out, so the split is of CPU
    time only and a busy machine cannot move it."""
    _, profile = same_as_python(tmp_path, mode, (*options, "--use-virtual-time"))
    assert profile["samples"] > 0
    assert profile["totals"]["cpu_python_pct"] > 50, profile["totals"]
    assert program_python_pct(profile) > 50 and hot_python_pct(profile) > 0


def test_native_code_ignoring_the_signal_is_kept_to_its_view(tmp_path):
    """Default mode: the preloaded library keeps libc's signal() to the program's view, so
    nothing is ever taken and the profile is whole."""
    _, profile = same_as_python(tmp_path, "native", ("--use-virtual-time",))
    assert profile["signals_taken"] == 0
    assert program_python_pct(profile) > 50 and hot_python_pct(profile) > 0


def test_native_code_taking_the_signal_in_cpu_mode_is_noticed(tmp_path):
    """--cpu (no preloaded library): libc's signal() reaches the kernel; the watchdog takes
    the signal back, the profile says so, and the text report has one line on it."""
    proc, profile = same_as_python(tmp_path, "native", ("--cpu", "--use-virtual-time"))
    assert profile["signals_taken"] >= 1
    assert hot_python_pct(profile) > 0
    view = run_triscope(["view", tmp_path / "p.json"], tmp_path)
    assert view.returncode == 0, describe(view)
    assert sum("took the profiler's signal" in line for line in view.stdout.splitlines()) == 1


def start_background(tmp_path, mode, args):
    env = dict(os.environ, STOP_FILE=str(tmp_path / "stop"))
    proc = subprocess.Popen(args + [str(SCRIPT), mode], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_control_signals_reach_a_program_that_reset_every_handler(tmp_path):
    """Item 4 for --pid: --off and --on after the program reset every handler to SIG_DFL."""
    proc = start_background(tmp_path, "controlled", [
        sys.executable, "-m", "triscope", "--json", "-o", str(tmp_path / "p.json")])
    try:
        for flag in ("--off", "--on"):
            sent = run_triscope(["--pid", proc.pid, flag], tmp_path)
            assert sent.returncode == 0, describe(sent)
        (tmp_path / "stop").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert "survived" in out
    load_profile(tmp_path / "p.json")


def test_control_refuses_a_process_that_loaded_the_extension_but_is_not_profiling(tmp_path):
    """Item 5: before, --on killed it with a real-time signal. Now one line, exit 2, and
    nothing is sent."""
    code = ("import triscope._native, os, time\n"
            "print('ready', flush=True)\n"
            "while not os.path.exists(os.environ['STOP_FILE']): time.sleep(0.05)\n"
            "print('survived')\n")
    env = dict(os.environ, STOP_FILE=str(tmp_path / "stop"))
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        sent = run_triscope(["--pid", proc.pid, "--on"], tmp_path)
        time.sleep(0.2)
        (tmp_path / "stop").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert sent.returncode == 2, describe(sent)
    assert sent.stderr.startswith("triscope: error:") and "nothing sent" in sent.stderr
    assert len(sent.stderr.strip().splitlines()) == 1
    assert proc.returncode == 0, err
    assert "survived" in out
