"""The pytest plugin (`pytest --triscope[=PATH]`) and `triscope -m pytest` (docs/DEFINITIONS.md).

GIVEN a small test suite in tmp_path whose test calls a hot function of its own package,
WHEN pytest runs it in a subprocess with --triscope, THEN the profile is written where asked,
validates, and holds the hot line; without the option the plugin does nothing.
"""
import os
import subprocess
import sys

import pytest

from conftest import describe, line_entry, load_profile, marker_lineno, run_triscope, total_pct

WORK = '''\
def crunch(n):
    total = 0
    for i in range(n):
        total += i * i  # @crunch
    return total
'''

TESTS = '''\
from pkg.work import crunch


def test_crunch():
    assert crunch(6_000_000) > 0


def test_quick():
    assert sum(range(10)) == 45
'''

FAILING = '''\
def test_fails():
    assert 1 == 2
'''


def make_suite(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "work.py").write_text(WORK)
    (tmp_path / "test_work.py").write_text(TESTS)
    return tmp_path / "pkg" / "work.py"


def run_pytest(tmp_path, *args):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTEST_", "GT_OUT"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *map(str, args)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)


def test_triscope_option_writes_the_profile(tmp_path):
    """The hot line holds more than a fifth of the session. The loop's samples fall on its
    two lines at random (its `for` line and its body): with 1.5 M rounds, about nine samples,
    the body's share ranged 31-82 % and fell to 18 % in a CI run; 6 M rounds give about 36."""
    work = make_suite(tmp_path)
    proc = run_pytest(tmp_path, "--triscope=out.json")
    assert proc.returncode == 0, describe(proc)
    assert "2 passed" in proc.stdout
    profile = load_profile(tmp_path / "out.json")
    hot = line_entry(profile, work, marker_lineno(work, "crunch"))
    assert hot is not None and total_pct(hot) > 20, profile["files"].keys()
    assert "triscope profile" in proc.stdout
    assert f"triscope: profile written to {tmp_path / 'out.json'}" in proc.stdout
    assert all(not path.startswith(sys.prefix) for path in profile["files"])


def test_default_path_and_failing_tests(tmp_path):
    make_suite(tmp_path)
    (tmp_path / "test_failing.py").write_text(FAILING)
    proc = run_pytest(tmp_path, "--triscope")
    assert proc.returncode == 1, describe(proc)  # pytest's own status is kept
    load_profile(tmp_path / "triscope-profile.json")


def test_without_the_option_nothing_is_profiled(tmp_path):
    make_suite(tmp_path)
    proc = run_pytest(tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert "triscope" not in proc.stdout + proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg", "test_work.py"]


def test_a_test_path_taken_for_the_profile_path_is_refused(tmp_path):
    make_suite(tmp_path)
    proc = run_pytest(tmp_path, "--triscope", "test_work.py")
    assert proc.returncode == 4, describe(proc)  # pytest's usage error
    assert "--triscope=PATH" in proc.stderr


def test_triscope_dash_m_pytest_runs_as_python_dash_m_pytest(tmp_path):
    work = make_suite(tmp_path)
    (tmp_path / "test_failing.py").write_text(FAILING)
    plain = run_pytest(tmp_path)
    # No --profile-only: under -m the working directory (the user's tests) is profiled.
    proc = run_triscope(["--cpu", "--json", "-o", "p.json",
                         "-m", "pytest", "-q", "-p", "no:cacheprovider"], tmp_path)
    assert proc.returncode == plain.returncode == 1, describe(proc)
    assert "1 failed, 2 passed" in proc.stdout and "1 failed, 2 passed" in plain.stdout
    profile = load_profile(tmp_path / "p.json")
    assert line_entry(profile, work, marker_lineno(work, "crunch")) is not None


def _warnings_as_errors(tmp_path, how):
    """pytest's own arguments for `how`: -W error, or the same through an ini file."""
    if how == "-W error":
        return ["-W", "error"]
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
    return []


@pytest.mark.parametrize("how", ["-W error", "filterwarnings = error"])
def test_triscope_dash_m_pytest_warns_of_nothing(tmp_path, how):
    """triscope is imported before pytest starts, and pytest marks every module of a
    distribution with a pytest11 plugin for assertion rewriting: it must not warn that it
    cannot (a warning is an error here, and the test run would fail at start-up)."""
    make_suite(tmp_path)
    args = _warnings_as_errors(tmp_path, how)
    plain = run_pytest(tmp_path, *args)
    assert plain.returncode == 0, describe(plain)
    proc = run_triscope(["--cpu", "--json", "-o", "p.json",
                         "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], tmp_path)
    assert proc.returncode == plain.returncode, describe(proc)
    assert "2 passed" in proc.stdout, describe(proc)
    assert "Warning" not in proc.stdout + proc.stderr, describe(proc)
    load_profile(tmp_path / "p.json")


@pytest.mark.parametrize("how", ["-W error", "filterwarnings = error"])
def test_triscope_option_warns_of_nothing(tmp_path, how):
    make_suite(tmp_path)
    args = _warnings_as_errors(tmp_path, how)
    proc = run_pytest(tmp_path, "--triscope=out.json", *args)
    assert proc.returncode == 0, describe(proc)
    assert "Warning" not in proc.stdout + proc.stderr, describe(proc)
    load_profile(tmp_path / "out.json")


OTHER_TESTS = '''\
def test_its_own_loop():
    total = 0
    for i in range(1_500_000):
        total += i * 3  # @other
    assert total > 0
'''


def test_xdist_workers_are_profiled_and_merged(tmp_path):
    """pytest -n 2 --triscope=PATH: each worker profiles itself and sends its profile back
    over xdist's channel; the controller merges them, one process entry per worker."""
    pytest.importorskip("xdist")
    # GIVEN two test files, each calling the hot function, run on two workers
    work = make_suite(tmp_path)
    (tmp_path / "test_other.py").write_text(OTHER_TESTS)
    proc = run_pytest(tmp_path, "-n", "2", "--dist", "loadfile", "--triscope=out.json")
    assert proc.returncode == 0, describe(proc)
    assert "3 passed" in proc.stdout, describe(proc)
    # THEN one profile with both workers, named, and every test file's lines
    profile = load_profile(tmp_path / "out.json")
    workers = profile["processes"]
    assert sorted(worker["name"] for worker in workers) == ["gw0", "gw1"], workers
    assert len({worker["pid"] for worker in workers}) == 2 and os.getpid() not in \
        {worker["pid"] for worker in workers}
    for path, marker in ((work, "crunch"), (tmp_path / "test_other.py", "other")):
        hot = line_entry(profile, path, marker_lineno(path, marker))
        assert hot is not None and hot["cpu_samples"] > 0, (marker, profile["files"].keys())
    # and the report says how many processes, and which took longest, without a pid footer
    assert "triscope: 2 xdist workers' profiles merged" in proc.stdout, describe(proc)
    assert "2 processes on 1 host; the slowest: gw" in proc.stdout, describe(proc)
    assert "--pid" not in proc.stdout
