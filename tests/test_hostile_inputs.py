"""Hostile input that is not a program (issue 13): option values, profile files, and the text
the tools print or send.

- Every numeric option of every subcommand is range-checked before anything starts: too
  large, negative, nan, inf and non-numeric values are one `triscope: error:` line and exit
  status 2 (the program never runs, no profile is read).
"""
import contextlib
import io
import json

import pytest

from conftest import describe, load_profile, run_triscope, workload

from triscope import cli


def in_process(argv):
    """`triscope *argv` run in this process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main([str(arg) for arg in argv])
        except SystemExit as exit_:
            status = exit_.code
    return status, out.getvalue(), err.getvalue()


def assert_one_error_line(status, stdout, stderr):
    detail = f"status {status}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    assert status == 2, detail
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("triscope: error: "), detail
    assert "Traceback" not in stderr, detail


@pytest.fixture(scope="module")
def stacks_profile(tmp_path_factory):
    """A real profile with stacks, memory and lines: what the tools accept."""
    cwd = tmp_path_factory.mktemp("hostile")
    proc = run_triscope(["--stacks", "--cpu-sampling-rate", "0.002", "--json", "-o",
                         cwd / "p.json", workload("diff_work.py"), "1"], cwd)
    assert proc.returncode == 0, describe(proc)
    load_profile(cwd / "p.json")
    return cwd / "p.json"


# ==== Item 13: numeric options ====

# Every numeric option: (subcommand argv before the option, option, a value too large).
# The run options need a program after them; the tools a profile.
RUN_OPTIONS = [
    ("--cpu-percent-threshold", "101"),
    ("--cpu-sampling-rate", "11"),
    ("--profile-interval", "1e9"),
    ("--malloc-threshold", "99999999999999999999999"),
    ("--memory-sampling-interval", "18446744073709551616"),
    ("--memory-sampling-interval", "9999999999999999999999"),
    ("--pid", "18446744073709551616"),
]
TOOL_OPTIONS = [
    ("view", "--cpu-percent-threshold", "1e300"),
    ("diff", "--top", "10" + "0" * 30),
    ("optimize", "--top", "10" + "0" * 30),
    ("optimize", "--timeout", "1e9"),
]
BAD_VALUES = {"negative": "-5", "nan": "nan", "inf": "inf", "minus_inf": "-inf",
              "non_numeric": "abc", "empty": "", "huge_exponent": "1e400"}


def tool_argv(tool, option, value, profile):
    if tool == "diff":
        return ["diff", profile, profile, option, value]
    if tool == "optimize":
        return ["optimize", profile, "--dry-run", option, value]
    return [tool, profile, option, value]


@pytest.fixture
def no_launch(monkeypatch):
    """Fails the test if a program would be started or a process signalled."""
    from triscope import launch

    def started(*args, **kwargs):
        raise AssertionError("the program was started despite a bad option value")
    monkeypatch.setattr(launch, "run", started)
    monkeypatch.setattr(cli, "control", started)


@pytest.mark.parametrize("option,value",
                         RUN_OPTIONS + [(option, bad) for option in
                                        dict.fromkeys(o for o, _ in RUN_OPTIONS)
                                        for bad in BAD_VALUES.values()])
def test_bad_run_option_value_is_one_line_before_the_program_starts(no_launch, option, value):
    argv = [option, value] + (["--on"] if option == "--pid" else ["prog.py"])
    assert_one_error_line(*in_process(argv))


@pytest.mark.parametrize("tool,option,value",
                         TOOL_OPTIONS + [(tool, option, bad) for tool, option, _ in TOOL_OPTIONS
                                         for bad in BAD_VALUES.values()])
def test_bad_tool_option_value_is_one_line(stacks_profile, tool, option, value):
    status, stdout, stderr = in_process(tool_argv(tool, option, value, stacks_profile))
    assert_one_error_line(status, stdout, stderr)
    assert option in stderr


def test_good_option_values_still_reach_the_program(monkeypatch):
    """The checks above would pass for a parser that refuses everything: this one fails then."""
    from triscope import launch
    seen = []
    monkeypatch.setattr(launch, "run", lambda options, *rest: seen.append(options) or 0)
    status, _, stderr = in_process(["--cpu-percent-threshold", "100", "--cpu-sampling-rate",
                                    "0.0001", "--profile-interval", "10", "--malloc-threshold",
                                    "0", "--memory-sampling-interval", str(2 ** 30), "prog.py"])
    assert status == 0 and len(seen) == 1, stderr
    assert seen[0].memory_sampling_interval == 2 ** 30 and seen[0].malloc_threshold == 0


@pytest.mark.parametrize("args", [
    ["--malloc-threshold", "99999999999999999999999"],
    ["--memory-sampling-interval", "18446744073709551616"],
    ["--memory-sampling-interval", "9999999999999999999999"],
], ids=["malloc_threshold", "interval_2_64", "interval_1e22"])
def test_issue_option_values_through_the_command(tmp_path, args):
    """The issue's commands: the program must not run, and nothing is written."""
    program = tmp_path / "prog.py"
    program.write_text("open('ran', 'w').close()\n")
    proc = run_triscope([*args, program], tmp_path)
    assert_one_error_line(proc.returncode, proc.stdout, proc.stderr)
    assert not (tmp_path / "ran").exists() and not (tmp_path / "profile.json").exists()


def test_optimize_timeout_inf_through_the_command(stacks_profile, tmp_path):
    proc = run_triscope(["optimize", stacks_profile, "--timeout", "inf"], tmp_path,
                        env={"TRISCOPE_AI_URL": "http://127.0.0.1:9/v1",
                             "TRISCOPE_AI_MODEL": "m"})
    assert_one_error_line(proc.returncode, proc.stdout, proc.stderr)
    assert "--timeout" in proc.stderr
