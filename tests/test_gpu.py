"""GPU profiling (docs/DEFINITIONS.md, GPU), tested without a GPU.

The test suite builds a stand-in for NVIDIA's libnvidia-ml.so.1 (tests/c/nvml_standin.c)
and points $TRISCOPE_NVML_LIBRARY at it. The stand-in reports the device busy (90%) and
512 MiB of GPU memory for the calling process only while a file exists; the workload
(tests/workloads/gpu_window.py) creates that file around one line — the window — so GPU time
belongs to that line and to no other. Other variables of the stand-in make NVML calls fail
mid-run, make a poll expensive, hide per-process figures, or take the device away.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import (ROOT, describe, load_profile, marker_line, run_python, run_triscope,
                      workload)

WINDOW = workload("gpu_window.py")
SECONDS = 1.0
MIB_512 = 512.0


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """Path of the compiled stand-in NVML library."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the stand-in NVML library")
    out = tmp_path_factory.mktemp("nvml") / "libnvidia-ml-standin.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(out),
                    str(ROOT / "tests" / "c" / "nvml_standin.c")], check=True)
    return out


def run_window(tmp_path, standin, mode="spin", seconds=SECONDS, options=("--cli",), **env):
    """gpu_window.py under triscope with the stand-in; (process, validated profile)."""
    settings = {"TRISCOPE_NVML_LIBRARY": standin,
                "STANDIN_NVML_BUSY_FILE": tmp_path / "gpu-busy",
                "GT_OUT": tmp_path / "truth.json"}
    settings.update(env)
    proc = run_triscope([*options, WINDOW, mode, seconds], tmp_path, env=settings)
    assert proc.returncode == 0, describe(proc)
    return proc, load_profile(tmp_path / "profile.json")


def gpu_pct(profile, marker):
    line = marker_line(profile, WINDOW, marker)
    return line["gpu_pct"] if line else 0.0


def assert_no_error_lines(proc):
    text = proc.stderr
    assert not re.search(r"error|Traceback|Exception", text, re.I), describe(proc)


# ==== Attribution ====

@pytest.mark.parametrize("mode", ["spin", "sleep"])
def test_window_line_gets_the_gpu_time(tmp_path, standin, mode):
    # GIVEN a program whose GPU is busy only while one line runs, on CPU (spin) or blocked
    # (sleep), with an idle helper thread waiting all along
    # WHEN it is profiled with per-process accounting
    proc, prof = run_window(tmp_path, standin, mode)
    # THEN that line has (almost) all the GPU time, the others (almost) none
    gpu = prof["gpu"]
    assert gpu["enabled"] is True and gpu["device"] == "Stand-in NVIDIA GPU", gpu
    assert gpu["accounting"] == "process" and gpu["reason"] is None, gpu
    window = gpu_pct(prof, f"window_{mode}")
    assert window >= 80.0, (window, gpu)
    for marker in ("before", "after", "idle"):
        assert gpu_pct(prof, marker) <= 10.0, (marker, gpu_pct(prof, marker))
    # busy time: 90% of the window
    assert 0.5 * 0.9 * SECONDS <= gpu["busy_s"] <= 1.5 * 0.9 * SECONDS, gpu
    # AND the process's GPU memory appears: on the window line, and as the run's peak
    assert marker_line(prof, WINDOW, f"window_{mode}")["gpu_mem_mb"] == pytest.approx(MIB_512)
    assert gpu["peak_mem_mb"] == pytest.approx(MIB_512)
    assert marker_line(prof, WINDOW, "before")["gpu_mem_mb"] <= MIB_512
    # AND the function of the window line carries it too
    functions = {f["name"]: f for f in next(iter(prof["files"].values()))["functions"]}
    assert functions["window"]["gpu_pct"] >= 80.0
    assert functions["window"]["gpu_mem_mb"] == pytest.approx(MIB_512)
    # AND the text report shows the GPU column and the device
    assert "GPU%" in proc.stderr and "Stand-in NVIDIA GPU" in proc.stderr, describe(proc)
    assert gpu["polls"] > 0 and gpu["failed_polls"] == 0 and gpu["poll_cost_us"] > 0


@pytest.mark.parametrize("case", ["no per-process utilisation", "foreign PID namespace"])
def test_device_wide_accounting(tmp_path, standin, case):
    # GIVEN a driver without per-process utilisation, or NVML naming a process that does not
    # exist here (as inside a container, where NVML reports host PIDs)
    if case == "no per-process utilisation":
        env = {"STANDIN_NVML_NO_PROCESS_UTIL": "1"}
    else:
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        env = {"STANDIN_NVML_PID": str(gone.pid)}
    # WHEN profiled
    proc, prof = run_window(tmp_path, standin, **env)
    # THEN device-wide figures are used, said so, and still charged to the window line
    gpu = prof["gpu"]
    assert gpu["enabled"] is True and gpu["accounting"] == "device", gpu
    assert gpu_pct(prof, "window_spin") >= 80.0, gpu
    assert gpu_pct(prof, "before") <= 10.0 and gpu_pct(prof, "after") <= 10.0
    assert gpu["peak_mem_mb"] == pytest.approx(MIB_512)


# ==== Robustness ====

@pytest.mark.parametrize("failing", ["every query", "nvmlDeviceGetUtilizationRates"])
def test_nvml_failing_mid_run_is_survived(tmp_path, standin, failing):
    # GIVEN NVML calls that start failing in the middle of the run (all of them, or the
    # device utilisation that device-wide accounting relies on)
    env = {"STANDIN_NVML_FAIL_FROM": "40"}
    if failing != "every query":
        env.update(STANDIN_NVML_FAIL_FUNCTION=failing, STANDIN_NVML_NO_PROCESS_UTIL="1")
    # WHEN profiled
    proc, prof = run_window(tmp_path, standin, **env)
    # THEN the run completes with a valid profile, the failures counted, no error shown
    gpu = prof["gpu"]
    assert gpu["enabled"] is True and gpu["failed_polls"] > 0, gpu
    assert gpu["polls"] > gpu["failed_polls"], gpu
    assert_no_error_lines(proc)
    # the lines are still there; what the failed polls covered is charged to no line
    assert marker_line(prof, WINDOW, "before") is not None
    assert all(0.0 <= line["gpu_pct"] <= 100.0 + 1e-6
               for entry in prof["files"].values() for line in entry["lines"])


def test_expensive_poll_lowers_the_rate(tmp_path, standin):
    # GIVEN a driver whose every call costs 2 ms (a poll makes two): polls come about every
    # 0.4 s, so each window edge can be off by a poll; a 3 s window keeps that under a sixth
    proc, prof = run_window(tmp_path, standin, seconds=3.0, STANDIN_NVML_DELAY_US="2000")
    gpu = prof["gpu"]
    # THEN the cost is measured and polls come at most once per 100 poll costs, and at
    # least every 2 s (the cap: a busy machine measured a 28 ms poll once, 2.8 s for 100)
    assert gpu["poll_cost_us"] >= 3000.0, gpu
    assert gpu["poll_interval_s"] >= min(100 * gpu["poll_cost_us"] / 1e6 * 0.99, 2.0), gpu
    assert gpu["poll_interval_s"] <= 2.0, gpu
    assert gpu["polls"] <= prof["elapsed_s"] / 0.3 + 3, gpu
    # AND the attribution still holds, if coarser
    assert gpu_pct(prof, "window_spin") >= 60.0, gpu


# ==== Without a GPU ====

@pytest.mark.parametrize("case", ["no library", "no device", "no driver"])
def test_without_gpu_profiling_is_off_quietly(tmp_path, standin, case):
    # GIVEN no NVML library, a library with no device, or one whose driver is not loaded
    env = {"no library": {"TRISCOPE_NVML_LIBRARY": tmp_path / "missing" / "libnvidia-ml.so.1"},
           "no device": {"STANDIN_NVML_DEVICES": "0"},
           "no driver": {"STANDIN_NVML_INIT_FAIL": "1"}}[case]
    # WHEN a program is profiled with the default dimensions
    proc, prof = run_window(tmp_path, standin, seconds=0.3, **env)
    # THEN GPU profiling is off and nothing is said of it: the default mode only looks for a
    # GPU (the profile's reason is for a GPU asked for)
    gpu = prof["gpu"]
    assert gpu["enabled"] is False and gpu["device"] is None, gpu
    assert prof["options"]["gpu"] is True
    assert gpu["reason"] is None, gpu
    assert all(line["gpu_pct"] == 0 and line["gpu_mem_mb"] == 0
               for entry in prof["files"].values() for line in entry["lines"])
    assert "GPU" not in proc.stderr, describe(proc)
    assert_no_error_lines(proc)
    # WHEN the GPU is asked for (--gpu) THEN the profile and the report say why it was not
    proc, prof = run_window(tmp_path, standin, seconds=0.3, options=("--cli", "--gpu"), **env)
    assert prof["gpu"]["enabled"] is False, prof["gpu"]
    assert isinstance(prof["gpu"]["reason"], str) and prof["gpu"]["reason"], prof["gpu"]
    assert "GPU: not profiled" in proc.stderr, describe(proc)
    assert_no_error_lines(proc)


def test_cpu_only_does_not_touch_the_gpu(tmp_path, standin):
    proc, prof = run_window(tmp_path, standin, seconds=0.3, options=("--cli", "--cpu"))
    assert prof["options"]["gpu"] is False and prof["gpu"]["enabled"] is False
    assert prof["gpu"]["reason"] is None and "GPU" not in proc.stderr, describe(proc)


def test_gpu_option(tmp_path, standin):
    # --gpu alone: GPU with the CPU time it is charged through, no memory profiling
    proc, prof = run_window(tmp_path, standin, options=("--cli", "--gpu"))
    options = prof["options"]
    assert options["gpu"] is True and options["cpu"] is True and options["memory"] is False
    assert prof["gpu"]["enabled"] is True
    assert gpu_pct(prof, "window_spin") >= 80.0


OPENS = """\
import os, time
first = os.open(os.devnull, os.O_RDONLY)
end = time.process_time() + 0.3
while time.process_time() < end:  # polls taken meanwhile
    sum(i * i for i in range(200))
print(first, os.open(os.devnull, os.O_RDONLY))
"""


@pytest.mark.parametrize("options", [["--gpu"], []], ids=["gpu", "default"])
def test_nvmls_own_descriptors_leave_the_programs_numbers(tmp_path, standin, options):
    # GIVEN an NVML that keeps 14 descriptors open from its initialisation, as the real one
    # does on an H100 (docs/ARCHITECTURE.md, "What the program leaves behind")
    (tmp_path / "opens.py").write_text(OPENS)
    plain = run_python(["opens.py"], tmp_path)
    proc = run_triscope([*options, "opens.py"], tmp_path,
                        env={"TRISCOPE_NVML_LIBRARY": standin, "STANDIN_NVML_INIT_OPENS": "14"})
    # THEN GPU profiling is on and the program's opens get the numbers plain python gives
    assert proc.returncode == 0 == plain.returncode, describe(proc)
    assert load_profile(tmp_path / "profile.json")["gpu"]["enabled"] is True
    assert proc.stdout == plain.stdout == "3 4\n", describe(proc)


# ==== Devices the program can use, the driver, blocking launches ====

def test_devices_follow_cuda_visible_devices(tmp_path, standin):
    # GIVEN four GPUs of which the program may use two (named out of NVML's order, one by
    # UUID), and only one of those two busy during the window
    visible = "GPU-00000003,1"
    proc, prof = run_window(tmp_path, standin, options=("--cli", "--gpu"),
                            STANDIN_NVML_DEVICES="4", STANDIN_NVML_BUSY_DEVICES="3",
                            CUDA_VISIBLE_DEVICES=visible)
    gpu = prof["gpu"]
    # THEN exactly those two are polled, under the numbers CUDA gives them
    devices = {d["index"]: d for d in gpu["devices"]}
    assert sorted(devices) == [1, 3], gpu
    assert devices[3]["cuda_index"] == 0 and devices[1]["cuda_index"] == 1, gpu
    assert devices[3]["uuid"].startswith("GPU-00000003")
    # AND the busy device carries all the time and memory, the other none
    assert devices[3]["busy_s"] == pytest.approx(gpu["busy_s"], rel=0.01), gpu
    assert devices[3]["peak_mem_mb"] == pytest.approx(MIB_512)
    assert devices[1]["busy_s"] == 0 and devices[1]["peak_mem_mb"] == 0, gpu
    assert gpu["visible_devices"] == visible and gpu["driver"] == "999.99.99-standin", gpu
    assert gpu_pct(prof, "window_spin") >= 80.0
    # AND the text report lists both devices
    assert "cuda:0" in proc.stderr and "cuda:1" in proc.stderr, describe(proc)


def test_no_visible_device_turns_gpu_off_with_the_reason(tmp_path, standin):
    proc, prof = run_window(tmp_path, standin, seconds=0.3, options=("--cli", "--gpu"),
                            CUDA_VISIBLE_DEVICES="")
    assert prof["gpu"]["enabled"] is False, prof["gpu"]
    assert "CUDA_VISIBLE_DEVICES" in prof["gpu"]["reason"]
    assert "GPU: not profiled: CUDA_VISIBLE_DEVICES" in proc.stderr, describe(proc)


ENV_PROGRAM = """\
import os
print("CUDA_LAUNCH_BLOCKING=" + repr(os.environ.get("CUDA_LAUNCH_BLOCKING")))
"""


@pytest.mark.parametrize("option", ["--gpu", "--gpu-sync"])
def test_gpu_sync_makes_launches_blocking(tmp_path, standin, option):
    # GIVEN a program that prints what CUDA would read
    program = tmp_path / "env_program.py"
    program.write_text(ENV_PROGRAM)
    proc = run_triscope(["--cli", option, program], tmp_path,
                        env={"TRISCOPE_NVML_LIBRARY": standin, "CUDA_LAUNCH_BLOCKING": None})
    assert proc.returncode == 0, describe(proc)
    prof = load_profile(tmp_path / "profile.json")
    # THEN --gpu-sync (only) sets CUDA_LAUNCH_BLOCKING=1 for the program, and says so
    blocking = option == "--gpu-sync"
    assert proc.stdout == f"CUDA_LAUNCH_BLOCKING={'1' if blocking else None!r}\n"
    assert prof["options"]["gpu"] is True and prof["gpu"]["enabled"] is True
    assert prof["gpu"]["launch_blocking"] is blocking, prof["gpu"]
    assert ("on the lines that launched" in proc.stderr) is blocking, describe(proc)


def test_gpu_check_without_a_gpu_says_so_and_passes(tmp_path):
    # GIVEN a machine where nvidia-smi lists no GPU (as on a machine without the driver)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    fake.chmod(0o755)
    proc = subprocess.run([str(ROOT / "tools" / "gpu-check.sh"), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}"))
    # THEN one line, exit 0, nothing built
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.count("\n") == 1 and "no NVIDIA GPU" in proc.stdout, describe(proc)
    assert proc.stderr == "" and not (tmp_path / "out").exists()


# ==== PyTorch's allocator (docs/DEFINITIONS.md, GPU) ====

TORCH_WINDOW = workload("torch_window.py")
TORCH_STANDIN = ROOT / "tests" / "workloads" / "torch_standin"


def run_torch_window(tmp_path, standin, mode, **env):
    """torch_window.py under triscope --gpu with both stand-ins; (process, profile, truth)."""
    settings = {"TRISCOPE_NVML_LIBRARY": standin, "PYTHONPATH": TORCH_STANDIN,
                "STANDIN_NVML_BUSY_FILE": tmp_path / "gpu-busy",
                "GT_OUT": tmp_path / "truth.json"}
    settings.update(env)
    proc = run_triscope(["--cli", "--gpu", TORCH_WINDOW, mode], tmp_path, env=settings)
    assert proc.returncode == 0 and proc.stdout == "done\n", describe(proc)
    truth = json.loads((tmp_path / "truth.json").read_text())
    return proc, load_profile(tmp_path / "profile.json"), truth


def allocated_mb(profile, marker):
    return marker_line(profile, TORCH_WINDOW, marker)["gpu_allocated_mb"]


def test_pytorch_allocator_view_per_line(tmp_path, standin):
    # GIVEN a program whose PyTorch allocator holds 64 MiB all along and 1 GiB more only
    # while one line runs (two devices: the sum is what the program holds)
    proc, prof, truth = run_torch_window(tmp_path, standin, "torch")
    # THEN that line's allocator figure is what its tensors held, the lines well before and
    # after it held only the 64 MiB, and the run's peak is the sum
    assert allocated_mb(prof, "holds") == pytest.approx(1088.0), prof["gpu"]
    assert allocated_mb(prof, "before") == pytest.approx(64.0)
    assert allocated_mb(prof, "after") == pytest.approx(64.0)
    functions = {f["name"]: f for f in prof["files"][str(TORCH_WINDOW)]["functions"]}
    assert functions["main"]["gpu_allocated_mb"] == pytest.approx(1088.0)
    allocator = prof["gpu"]["allocator"]
    assert allocator["source"] == "torch.cuda.memory_allocated", allocator
    assert allocator["peak_allocated_mb"] == pytest.approx(1088.0), allocator
    assert allocator["peak_reserved_mb"] == pytest.approx(1088.0), allocator
    # about ten reads a second (a GIL period each), both devices each time (the program
    # counted those before its end), never one before CUDA was initialised
    assert allocator["reads"] >= 0.5 * 10 * 2.5, allocator
    assert 0 < truth["asked"] <= 2 * allocator["reads"], truth
    assert truth["asked_before_init"] == 0, truth
    # AND NVML's figure is still its own (the stand-in's process holds no GPU memory here)
    assert marker_line(prof, TORCH_WINDOW, "holds")["gpu_mem_mb"] == 0
    # AND the text report says where the figures come from
    assert "GPU memory in PyTorch's allocator: peak 1088 MB in tensors" in proc.stderr, \
        describe(proc)


@pytest.mark.parametrize("mode", ["no-torch", "no-init"])
def test_pytorch_is_never_imported_nor_initialised(tmp_path, standin, mode):
    # GIVEN a program that never imports torch (though it is importable), or imports it and
    # never initialises CUDA
    proc, prof, truth = run_torch_window(tmp_path, standin, mode)
    # THEN triscope imported nothing, asked nothing, and the profile has no allocator view
    assert truth["torch_imported"] is (mode == "no-init"), truth
    assert truth["asked"] == 0, truth
    assert prof["gpu"]["enabled"] is True and prof["gpu"]["allocator"] is None, prof["gpu"]
    assert all("gpu_allocated_mb" not in line
               for entry in prof["files"].values() for line in entry["lines"])
    assert "PyTorch" not in proc.stderr, describe(proc)


def test_a_failing_pytorch_allocator_is_left_alone(tmp_path, standin):
    # GIVEN a torch whose memory statistics raise (internals that changed)
    proc, prof, truth = run_torch_window(tmp_path, standin, "torch", STANDIN_TORCH_BROKEN="1")
    # THEN the program ran as without triscope (asserted by the helper: exit 0, its output
    # alone), triscope asked once and stopped asking, and the profile has no allocator view
    assert truth["asked"] == 1, truth
    assert prof["gpu"]["allocator"] is None, prof["gpu"]
    assert_no_error_lines(proc)
