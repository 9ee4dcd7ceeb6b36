"""Programmatic control and lifecycle (docs/DEFINITIONS.md): start/stop, --off, @profile, suspend
and resume from another process, SIGTERM, --profile-interval. Each runs the real CLI."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import WORKLOADS, load_profile, marker_line, run_triscope, total_pct

LIFECYCLE = WORKLOADS / "lifecycle.py"


def profiled(tmp_path, *args, options=()):
    proc = run_triscope([*options, "--json", "-o", str(tmp_path / "p.json"), str(LIFECYCLE),
                         *args], tmp_path)
    assert proc.returncode == 0, proc.stderr
    return load_profile(tmp_path / "p.json")


def share(profile, marker):
    line = marker_line(profile, LIFECYCLE, marker)
    return 0.0 if line is None else total_pct(line)


def test_stop_and_start_from_code(tmp_path):
    profile = profiled(tmp_path, "api")
    assert share(profile, "phase_off") < 2, "a suspended phase was profiled"
    assert share(profile, "phase_on") > 60


def test_off_then_context_manager(tmp_path):
    profile = profiled(tmp_path, "context", options=["--off"])
    assert share(profile, "phase_off") < 2
    assert share(profile, "phase_on") > 60


def test_profile_decorator_restricts_the_report(tmp_path):
    profile = profiled(tmp_path, "decorate")
    assert share(profile, "decorated") > 20
    assert marker_line(profile, LIFECYCLE, "undecorated") is None
    names = {f["name"] for entry in profile["files"].values() for f in entry["functions"]}
    assert "undecorated" not in names and any(n.endswith("decorated") for n in names)


def start_background(tmp_path, mode, env=None, options=()):
    proc = subprocess.Popen(
        [sys.executable, "-m", "triscope", *options, "--json", "-o", str(tmp_path / "p.json"),
         str(LIFECYCLE), mode], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def control(pid, flag, tmp_path):
    return run_triscope(["--pid", str(pid), flag], tmp_path)


def main_thread_cpu_s(pid):
    """CPU seconds process `pid`'s main thread has run (proc(5): utime + stime)."""
    with open(f"/proc/{pid}/task/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_for_cpu(pid, seconds):
    """Waits until `pid`'s main thread has run `seconds` more CPU seconds: on a busy
    machine that takes longer, but the CPU the phase gets is the same."""
    start = main_thread_cpu_s(pid)
    deadline = time.monotonic() + 60
    while main_thread_cpu_s(pid) - start < seconds:
        assert time.monotonic() < deadline, "the program got no CPU for a minute"
        time.sleep(0.02)


def test_suspend_and_resume_from_another_process(tmp_path):
    """The spin's CPU while suspended is not in the profile, and the rest is. Each phase
    lasts until the spin has had its CPU seconds, and the profile is compared, in samples
    (one per sampling interval of CPU time), with the CPU seconds the spin itself measured:
    a busy machine stretches the phases but changes neither."""
    stop_file = tmp_path / "stop"
    env = dict(os.environ, STOP_FILE=str(stop_file))
    proc = start_background(tmp_path, "wait", env)
    try:
        run_for_cpu(proc.pid, 0.5)
        before_off = main_thread_cpu_s(proc.pid)
        off = control(proc.pid, "--off", tmp_path)
        assert off.returncode == 0, off.stderr
        assert "suspended" in off.stderr
        suspended_from = main_thread_cpu_s(proc.pid)
        run_for_cpu(proc.pid, 0.8)  # suspended: none of this may be counted
        suspended_to = main_thread_cpu_s(proc.pid)
        on = control(proc.pid, "--on", tmp_path)
        assert on.returncode == 0, on.stderr
        after_on = main_thread_cpu_s(proc.pid)
        run_for_cpu(proc.pid, 0.5)
        stop_file.touch()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    spun_s = float(out.split("spun ")[1])
    profile = load_profile(tmp_path / "p.json")
    line = marker_line(profile, LIFECYCLE, "phase_wait")
    profiled_s = line["cpu_s"]
    # Suspended for certain between suspended_from and suspended_to, perhaps from
    # before_off to after_on (the control commands take time to start and to signal).
    surely_suspended = suspended_to - suspended_from
    maybe_suspended = after_on - before_off
    slack = 0.1 + 0.05 * spun_s  # sampling and the clock ticks of /proc
    assert surely_suspended >= 0.8 - slack
    assert profiled_s <= spun_s - surely_suspended + slack, (profiled_s, spun_s,
                                                             surely_suspended)
    assert profiled_s >= spun_s - maybe_suspended - slack, (profiled_s, spun_s,
                                                            maybe_suspended)


def test_control_errors(tmp_path):
    missing = control(999999, "--off", tmp_path)
    assert missing.returncode == 2 and missing.stderr.startswith("triscope: error:")
    plain = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        not_ours = control(plain.pid, "--off", tmp_path)
    finally:
        plain.kill()
        plain.wait()
    assert not_ours.returncode == 2
    assert "not being profiled by triscope" in not_ours.stderr
    assert len(not_ours.stderr.strip().splitlines()) == 1


def test_sigterm_writes_the_profile_and_keeps_the_status(tmp_path):
    proc = start_background(tmp_path, "forever")
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM
    profile = load_profile(tmp_path / "p.json")
    assert share(profile, "phase_forever") > 50


STUCK = WORKLOADS / "sigterm_stuck.py"


def ended_within(proc, seconds):
    """The process's (returncode, stderr), or a failure if it has not ended in `seconds`."""
    try:
        _, stderr = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"still running {seconds} s after its SIGTERM (plain python dies of it)")
    return proc.returncode, stderr


@pytest.mark.parametrize("mode", [["--cpu"], []], ids=["cpu", "full"])
def test_sigterm_taken_by_another_thread_still_ends_the_run(tmp_path, mode):
    """A SIGTERM that another thread takes while the main thread waits on a lock: plain
    python dies of it; triscope's handler (Python: main thread only) was never run and the
    run waited for ever. The signal is sent again to the main thread, whose wait it ends:
    the profile is written and the run dies by SIGTERM."""
    plain = subprocess.run([sys.executable, str(STUCK), "thread"], timeout=60)
    assert plain.returncode == -signal.SIGTERM  # the premise
    proc = subprocess.Popen([sys.executable, "-m", "triscope", *mode, "--json", "-o",
                             str(tmp_path / "p.json"), str(STUCK), "thread"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    returncode, stderr = ended_within(proc, 60)
    assert returncode == -signal.SIGTERM, stderr
    assert load_profile(tmp_path / "p.json")["elapsed_s"] > 0.4


def test_sigterm_during_a_long_native_call_ends_the_run_after_the_grace(tmp_path):
    """The main thread in one C call of hours (no bytecode, no system call to interrupt):
    the handler cannot run before it returns. After 5 s the run ends by SIGTERM's default
    action, as plain python's would have at once, with one line saying its profile was not
    written; it used to go on for the whole call."""
    proc = subprocess.Popen([sys.executable, "-m", "triscope", "--json", "-o",
                             str(tmp_path / "p.json"), str(STUCK), "native"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "computing"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    returncode, stderr = ended_within(proc, 60)
    assert returncode == -signal.SIGTERM, stderr
    said = [line for line in stderr.splitlines() if line.startswith("triscope:")]
    assert said == ["triscope: SIGTERM: the program's main thread did not come back to "
                    "Python within 5 s (a long call in native code); the process ends as it "
                    "would without triscope, and its profile is not written"], stderr


# A launch whose checkpoints (launch.FIRST_CHECKPOINT_SECONDS, 1 s, then up to
# launch.CHECKPOINT_SECONDS, 10 s, apart) come every 0.2 s: --cpu, so that the launcher is
# not re-executed (the new image would not have the shorter period).
CHECKPOINTING_OFTEN = ("import sys\n"
                       "from triscope import cli, launch\n"
                       "launch.FIRST_CHECKPOINT_SECONDS = launch.CHECKPOINT_SECONDS = 0.2\n"
                       "sys.exit(cli.main(['--cpu', *sys.argv[1:]]))\n")


def checkpoint_complete(pid, directory):
    """Whether process `pid` has a complete checkpoint in `directory`: its two unnamed
    checkpoint files are written in turn, each marked complete once written, so a second
    one that is no longer empty means the first is whole."""
    written = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        link = f"/proc/{pid}/fd/{fd}"
        try:
            target = os.readlink(link)
            if (target.startswith(f"{directory}/") and target.endswith(" (deleted)") and
                    os.stat(link).st_size > 0):
                written += 1
        except OSError:  # closed meanwhile
            pass
    return written >= 2


def test_sigterm_during_a_long_native_call_leaves_the_last_checkpoint(tmp_path):
    """As above, once a checkpoint of the profile exists: when the watch gives up, that
    checkpoint becomes the profile, as for a crash, and the one line says where it is; the
    run still ends by SIGTERM. It used to leave nothing and say so."""
    output = tmp_path / "p.json"
    go = tmp_path / "go"
    proc = subprocess.Popen([sys.executable, "-c", CHECKPOINTING_OFTEN, "--json", "-o",
                             str(output), str(STUCK), "native", str(go)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "waiting"
        deadline = time.monotonic() + 60
        while not checkpoint_complete(proc.pid, tmp_path):
            assert time.monotonic() < deadline, "no checkpoint written in a minute"
            time.sleep(0.05)
        go.touch()
        assert proc.stdout.readline().strip() == "computing"
        run_for_cpu(proc.pid, 0.2)  # inside the C call by now
        proc.send_signal(signal.SIGTERM)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    returncode, stderr = ended_within(proc, 60)
    assert returncode == -signal.SIGTERM, stderr
    said = [line for line in stderr.splitlines() if line.startswith("triscope:")]
    assert said == ["triscope: SIGTERM: the program's main thread did not come back to "
                    "Python within 5 s (a long call in native code); the process ends as it "
                    "would without triscope, and its profile up to the last checkpoint is in "
                    f"{output}"], stderr
    assert load_profile(output)["program"] == str(STUCK)
    viewed = run_triscope(["view", str(output), "--cli"], tmp_path)
    assert viewed.returncode == 0 and str(STUCK) in viewed.stdout, viewed.stderr
    # The checkpoint files had no names, and the scratch name is gone.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["go", "p.json"]


def test_profile_interval_rewrites_the_profile_while_running(tmp_path):
    proc = start_background(tmp_path, "forever", options=["--profile-interval", "0.3"])
    try:
        path = tmp_path / "p.json"
        deadline = time.monotonic() + 20
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        first = load_profile(path)
        time.sleep(1.0)
        second = load_profile(path)  # replaced atomically: always whole
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert second["samples"] > first["samples"] > 0
    assert second["elapsed_s"] > first["elapsed_s"]


def test_os_exit_still_writes_the_profile(tmp_path):
    proc = run_triscope(["--json", "-o", str(tmp_path / "p.json"), str(LIFECYCLE), "osexit"],
                        tmp_path)
    assert proc.returncode == 7
    assert share(load_profile(tmp_path / "p.json"), "phase_on") > 60
