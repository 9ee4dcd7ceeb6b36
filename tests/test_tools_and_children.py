"""`-m` tools and Python children (issue 14; docs/ARCHITECTURE.md, "-m tools and -c/-m
children").

`triscope -m pytest` profiles the code under test (the working directory's files), never
pytest's own frames; a `python -c` or `python -m` child is a process of the report with its
own lines, not time outside the files. Every share compared here is of the same process's
thread time, so a busy machine (which stretches the run) does not change the verdicts.
"""
import json
import os
import sys
import textwrap

import pytest

from conftest import describe, load_profile, run_python, run_triscope

HOT_MODULE = textwrap.dedent("""\
    def hot(n):
        total = 0
        for i in range(n):
            total += (i * i % 7) ^ (i // 3 % 5) + (i & 7) * 3  # module hot line
        return total
""")

TEST_FILE = textwrap.dedent("""\
    from mypkg.hot import hot


    def test_hot_module():
        assert hot(3_000_000) > 0


    def test_hot_in_the_test():
        total = 0
        for i in range(3_000_000):
            total += (i * i % 5) ^ (i // 7 % 3) + (i & 3) * 5  # test hot line
        assert total > 0
""")


def _line(profile, path, marker):
    """The profile's line of `path` whose source holds `marker`."""
    for line in profile["files"][path]["lines"]:
        if marker in line["source"]:
            return line
    raise AssertionError(f"no line with {marker!r} in {path}: {profile['files'][path]}")


def _time_pct(entry):
    return entry["cpu_python_pct"] + entry["cpu_native_pct"] + entry["cpu_system_pct"]


def test_m_pytest_profiles_the_code_under_test_not_pytest(tmp_path):
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "hot.py").write_text(HOT_MODULE)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_hot.py").write_text(TEST_FILE)
    proc = run_triscope(["--cpu", "--json", "-o", "p.json", "-m", "pytest", "-q",
                         "-p", "no:cacheprovider", "tests"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert "2 passed" in proc.stdout
    profile = load_profile(tmp_path / "p.json")
    module = str(package / "hot.py")
    test_file = str(tmp_path / "tests" / "test_hot.py")
    assert set(profile["files"]) == {module, test_file}, list(profile["files"])
    module_line = _line(profile, module, "module hot line")
    test_line = _line(profile, test_file, "test hot line")
    # Each file's hot line is its busiest line.
    for path, hot_line in ((module, module_line), (test_file, test_line)):
        busiest = max(profile["files"][path]["lines"], key=_time_pct)
        assert busiest["lineno"] == hot_line["lineno"], profile["files"][path]["lines"]
        assert _time_pct(hot_line) > 0


def test_m_of_a_standard_tool_runs_as_python_and_profiles_no_tool_frames(tmp_path):
    """`-m json.tool` is an installed tool too: its output is plain Python's, and its own
    frames are not profiled (the working directory holds no code: every sample is outside
    the files, which the report says); --profile-only shows the tool's lines when asked."""
    data = {"numbers": list(range(20000)), "words": ["x" * 20] * 20000}
    (tmp_path / "in.json").write_text(json.dumps(data))
    reference = run_python(["-m", "json.tool", "in.json"], tmp_path)
    proc = run_triscope(["--cpu", "--json", "-o", "p.json", "-m", "json.tool", "in.json"],
                        tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == reference.stdout
    profile = load_profile(tmp_path / "p.json")
    assert profile["files"] == {}
    assert profile["unattributed_pct"] > 99
    proc = run_triscope(["--cpu", "--json", "-o", "only.json", "--profile-only",
                         f"json{os.sep}", "-m", "json.tool", "in.json"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    shown = load_profile(tmp_path / "only.json")["files"]
    assert shown and all(f"{os.sep}json{os.sep}" in path for path in shown), list(shown)


SPIN_CODE = textwrap.dedent("""\
    import time
    end = time.process_time() + 0.5
    n = 0
    while time.process_time() < end:  # -c loop
        n += 1
""")

SPIN_MODULE = textwrap.dedent("""\
    import time


    def spin(seconds):
        end = time.process_time() + seconds
        n = 0
        while time.process_time() < end:  # module loop
            n += 1


    spin(0.5)
""")

PARENT = textwrap.dedent("""\
    import os
    import subprocess
    import sys
    code = {code!r}
    subprocess.run([sys.executable, "-c", code], check=True)
    subprocess.run([sys.executable, "-m", "spinmod"], check=True, cwd={lib!r})
""")


def test_c_and_m_children_are_processes_with_their_own_lines(tmp_path):
    """The -c code's lines are under <string>, quoted from the command; the module lives
    outside the parent's directory and is profiled as a -m run profiles its module."""
    app, lib = tmp_path / "app", tmp_path / "lib"
    app.mkdir()
    lib.mkdir()
    (lib / "spinmod.py").write_text(SPIN_MODULE)
    (app / "parent.py").write_text(PARENT.format(code=SPIN_CODE, lib=str(lib)))
    proc = run_triscope(["--cpu", "--json", "-o", "p.json", app / "parent.py"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    profile = load_profile(tmp_path / "p.json")
    processes = {entry["program"]: entry for entry in profile["processes"]}
    assert f"-c {SPIN_CODE}" in processes, list(processes)
    assert "-m spinmod" in processes, list(processes)
    total_s = profile["thread_time_s"]
    for program, path, marker in ((f"-c {SPIN_CODE}", "<string>", "# -c loop"),
                                  ("-m spinmod", str(lib / "spinmod.py"), "# module loop")):
        child = processes[program]
        assert child["samples"] > 0
        loop = _line(profile, path, marker)
        assert loop["source"] == next(text for text in SPIN_CODE.splitlines() + SPIN_MODULE.
                                      splitlines() if marker in text)
        # The child's time is its own lines' (its loop and the loop's body), not outside.
        file_s = profile["files"][path]["cpu_pct"] / 100 * total_s
        assert file_s >= 0.8 * child["thread_time_s"], (program, file_s, child)
    # What no file holds is a sliver: the parent waits on its own lines.
    assert profile["unattributed_pct"] < 10, profile["unattributed_pct"]


TWO_C_CHILDREN = textwrap.dedent("""\
    import subprocess
    import sys
    for word in ("first", "second"):
        code = "total = 0\\nfor i in range(2000000):\\n    total += i  # " + word + "\\n"
        subprocess.run([sys.executable, "-c", code], check=True)
""")


def test_two_c_children_keep_their_own_lines(tmp_path):
    """Both children's code is "<string>": merged, each keeps its own lines and source
    (the second under "<string> (pid N)"), none summed with the other's."""
    (tmp_path / "prog.py").write_text(TWO_C_CHILDREN)
    proc = run_triscope(["--cpu", "--json", "-o", "p.json", "prog.py"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    profile = load_profile(tmp_path / "p.json")
    children = [entry for entry in profile["processes"] if entry["program"].startswith("-c")]
    assert len(children) == 2, profile["processes"]
    second_pid = children[1]["pid"]
    names = {"<string>": "# first", f"<string> (pid {second_pid})": "# second"}
    assert set(names) <= set(profile["files"]), list(profile["files"])
    for path, marker in names.items():
        sources = [line["source"] for line in profile["files"][path]["lines"]]
        assert any(marker in source for source in sources), (path, sources)
        assert all("#" not in source or marker in source for source in sources), sources


def test_children_are_merged_in_the_order_they_started(tmp_path):
    """Children's profiles are named by pid, and pids wrap (pid_max): a child that started
    first may have the larger pid, whose name sorts last. They are merged in the order they
    started (the first `-c` child keeps the name <string>), whatever their names."""
    from triscope.children import merge_children
    (tmp_path / "work.py").write_text("total = sum(i * i for i in range(300_000))\n")
    run = run_triscope(["--cpu", "--json", "-o", "run.json", "work.py"], tmp_path)
    assert run.returncode == 0, describe(run)
    profile = json.loads((tmp_path / "run.json").read_text())
    child_dir = tmp_path / "children"
    child_dir.mkdir()
    for name, pid, started in (("300.json", 300, 2000.0), ("32000.json", 32000, 1000.0)):
        child = dict(profile, pid=pid, started_at=started)
        (child_dir / name).write_text(json.dumps(child))
    merged = merge_children(lambda: dict(profile, started_at=500.0), str(child_dir), False,
                            lambda _: None)
    assert [entry["pid"] for entry in merged["processes"]][1:] == [32000, 300]


def test_command_of_a_python_child_is_read_as_python_reads_it():
    from triscope.children import python_command
    python = sys.executable
    assert python_command([python, "-c", "x = 1"]) == ("-c", "x = 1")
    assert python_command([python, "-Bc", "x = 1", "a"]) == ("-c", "x = 1")
    assert python_command([python, "-cx = 1"]) == ("-c", "x = 1")
    assert python_command([python, "-X", "dev", "-W", "error", "-m", "pkg.mod", "-c"]) \
        == ("-m", "pkg.mod")
    assert python_command([python, "-Wignore", "-mpkg"]) == ("-m", "pkg")
    assert python_command([python, "--check-hash-based-pycs", "never", "-m", "m"]) \
        == ("-m", "m")
    assert python_command([python, "script.py", "-c", "x"]) == ("", None)
    assert python_command([python, "-", "-m", "x"]) == ("", None)
    assert python_command([python]) == ("", None)
    assert python_command([python, "-c"]) == ("", None)


def test_a_killed_runs_children_directory_is_removed_by_a_later_run(tmp_path):
    """A run killed by SIGKILL cannot remove its children directory, nor a Ray worker
    killed while profiled (triscope.ray) its own; the next run removes this user's that
    outlived their process by an hour, and nothing else. They are in the user's own
    directory of the temporary one (scratch.py), which the last run to leave removes."""
    import subprocess
    import time
    own = tmp_path / "tmp" / f"triscope-{os.geteuid()}"
    own.mkdir(parents=True, mode=0o700)
    gone = subprocess.Popen(["true"])
    gone.wait()
    hour_ago = time.time() - 2 * 3600
    names = {"stale": f"triscope-{gone.pid}-children-abc123",
             "recent": f"triscope-{gone.pid}-children-def456",
             "alive": f"triscope-{os.getpid()}-children-ghi789",
             "other": f"triscope-{gone.pid}-attach-jkl012",
             "stale Ray worker's": f"triscope-{gone.pid}-ray-mno345"}
    for key, name in names.items():
        (own / name / "lib").mkdir(parents=True)
        if key != "recent":
            os.utime(own / name, (hour_ago, hour_ago))
    (tmp_path / "prog.py").write_text("print('done')\n")
    proc = run_triscope(["--cli", "prog.py"], tmp_path, env={"TMPDIR": str(own.parent)})
    assert proc.returncode == 0, describe(proc)
    left = sorted(path.name for path in own.iterdir())
    assert left == sorted(name for key, name in names.items() if not key.startswith("stale")), \
        left


# A program that starts a child and prints what the temporary directory and the user's own
# directory in it hold while it runs.
SEES_ITS_TEMPORARY = (
    "import os, subprocess, sys\n"
    "subprocess.run([sys.executable, '-c', 'pass'], check=True)\n"
    "top = os.environ['TMPDIR']\n"
    "own = os.path.join(top, f'triscope-{os.geteuid()}')\n"
    "print(sorted(os.listdir(top)))\n"
    "print(sorted(os.listdir(own)) if os.path.isdir(own) else None)\n")


def test_a_runs_directory_is_in_the_users_own_which_the_last_run_removes(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    (tmp_path / "prog.py").write_text(SEES_ITS_TEMPORARY)
    proc = run_triscope(["--json", "-o", "p.json", "prog.py"], tmp_path,
                        env={"TMPDIR": str(temporary)})
    assert proc.returncode == 0, describe(proc)
    top, own = proc.stdout.splitlines()[:2]
    # While it ran: the user's directory alone in the temporary one, the run's in it
    assert top == repr([f"triscope-{os.geteuid()}"]), describe(proc)
    assert own.startswith("['triscope-") and "-children-" in own, describe(proc)
    # and its child was profiled through it; after it, nothing is left
    assert len(load_profile(tmp_path / "p.json")["processes"]) == 2
    assert list(temporary.iterdir()) == []


@pytest.mark.parametrize("held_by", ["another user", "a link", "a directory others enter"])
def test_a_name_that_is_not_the_users_own_is_left_alone(tmp_path, held_by):
    """The user's directory is made with mode 0700 or found so: a name another user took
    first in a shared /tmp, a link put there, or a directory others may enter is not used
    (the runs' directories go in the temporary one itself, as before), nor changed."""
    temporary, elsewhere = tmp_path / "tmp", tmp_path / "elsewhere"
    temporary.mkdir()
    elsewhere.mkdir()
    held = temporary / f"triscope-{os.geteuid()}"
    if held_by == "another user":
        if os.geteuid() != 0:
            pytest.skip("giving a directory to another user needs root")
        held.mkdir(mode=0o700)
        os.chown(held, 54321, 54321)
    elif held_by == "a link":
        held.symlink_to(elsewhere)
    else:
        held.mkdir()
        held.chmod(0o777)
    before = os.lstat(held)
    (tmp_path / "prog.py").write_text(SEES_ITS_TEMPORARY)
    proc = run_triscope(["--json", "-o", "p.json", "prog.py"], tmp_path,
                        env={"TMPDIR": str(temporary)})
    assert proc.returncode == 0, describe(proc)
    assert "-children-" in proc.stdout.splitlines()[0], describe(proc)  # in the top itself
    assert len(load_profile(tmp_path / "p.json")["processes"]) == 2
    after = os.lstat(held)
    assert (after.st_mode, after.st_uid, after.st_ino) == \
        (before.st_mode, before.st_uid, before.st_ino)
    assert list(elsewhere.iterdir()) == []
    assert [path.name for path in temporary.iterdir()] == [held.name]
