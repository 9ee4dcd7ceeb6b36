"""What a program does to its process — descriptors, file limits, umask, recursion limit,
output streams — against the profile (docs/ARCHITECTURE.md, "What the program leaves
behind").

GIVEN a program that opens files while threads of its own wait, WHEN it runs under plain
python and under triscope (CPU only, the default mode, an output named with -o), THEN its
opens get the numbers plain python gives them (triscope's own descriptors are parked above
them). GIVEN a program that lowers RLIMIT_NOFILE below what it has open, or opens files until
none is left and keeps them, or sets its umask to 0o777, or does that and then execs another
Python program, or ends with a recursion limit of 25, or with sys.stdout and sys.stderr
replaced by objects of its own, or with open, os.open and their kin replaced by refusing
functions or deleted, WHEN it ends, THEN the profile and the HTML report are
written, readable, with the permissions the umask triscope began under gives, and the text
report reaches the process's stderr; the program saw the limits and the umask it set, and
its own functions are its own again after the writing.
"""
import os
import stat

import pytest

from conftest import describe, load_profile, run_python, run_triscope

MODES = [["--cpu"], [], ["-o", "out.json"]]

OPENS = """\
import os, threading, time
ready = threading.Event()
waiting = [threading.Thread(target=ready.wait) for _ in range(3)]
for thread in waiting:
    thread.start()
numbers = [os.open(os.devnull, os.O_RDONLY)]
end = time.process_time() + 0.3
while time.process_time() < end:  # samples taken while the threads wait
    sum(i * i for i in range(200))
numbers += [os.open(os.devnull, os.O_RDONLY) for _ in range(3)]
ready.set()
for thread in waiting:
    thread.join()
listed = sorted(int(n) for n in os.listdir("/proc/self/fd"))
print(numbers, [n for n in listed if n < 896])
"""


_WHERE_REPORTS_WENT = ("triscope: profile written to ", "triscope: HTML report written to ")


def _complaints(stderr):
    """triscope's own lines other than where the reports went, and any traceback. (The text
    report quotes the program's hot lines, which may hold any word, "error" among them.)"""
    return [line for line in stderr.splitlines()
            if line.startswith("Traceback")
            or (line.startswith("triscope:") and not line.startswith(_WHERE_REPORTS_WENT))]


def _output_of(mode, cwd):
    return cwd / ("out.json" if "-o" in mode else "profile.json")


@pytest.mark.parametrize("mode", MODES, ids=["cpu", "default", "outfile"])
def test_the_programs_opens_get_plain_pythons_numbers(tmp_path, mode):
    (tmp_path / "opens.py").write_text(OPENS)
    plain = run_python(["opens.py"], tmp_path)
    profiled = run_triscope([*mode, "opens.py"], tmp_path)
    assert plain.returncode == 0, describe(plain)
    assert profiled.returncode == 0, describe(profiled)
    assert profiled.stdout == plain.stdout, describe(profiled)
    load_profile(_output_of(mode, tmp_path))


LOWERED = """\
import os, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
held = [os.open(os.devnull, os.O_RDONLY) for _ in range(int(sys.argv[1]))]
limit = max(held, default=2) + 1
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard if sys.argv[2] == "soft" else limit))
print(resource.getrlimit(resource.RLIMIT_NOFILE) == (limit, hard if sys.argv[2] == "soft" else limit))
"""


def _may_raise_a_hard_limit(cwd):
    probe = ("import resource; soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE); "
             "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)); "
             "resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))")
    return run_python(["-c", probe], cwd).returncode == 0


@pytest.mark.parametrize("held,which", [(0, "soft"), (0, "both"), (2, "soft")],
                         ids=["soft-limit", "hard-limit", "soft-limit-every-number-held"])
@pytest.mark.parametrize("mode", MODES[:2], ids=["cpu", "default"])
def test_profile_written_after_the_program_lowered_its_limit(tmp_path, mode, held, which):
    if which == "both" and not _may_raise_a_hard_limit(tmp_path):
        pytest.skip("raising a lowered hard limit back takes CAP_SYS_RESOURCE, which this "
                    "user lacks (the profile is then written through a checkpoint file: "
                    "test_profile_written_through_a_checkpoint_when_no_number_is_left)")
    (tmp_path / "lowered.py").write_text(LOWERED)
    proc = run_triscope([*mode, "lowered.py", held, which], tmp_path)
    assert proc.returncode == 0 and proc.stdout == "True\n", describe(proc)
    assert _complaints(proc.stderr) == [], describe(proc)
    load_profile(tmp_path / "profile.json")
    assert (tmp_path / "profile.html").stat().st_size > 0


@pytest.mark.parametrize("mode", MODES[:2], ids=["cpu", "default"])
def test_profile_written_through_a_checkpoint_when_no_number_is_left(tmp_path, mode):
    """Unprivileged, a hard limit lowered to what the program holds cannot be raised back:
    no file can be opened at the end. The profile goes into a checkpoint file, open since
    the start, and takes the output's name as after a crash; one line says so, and that the
    reports were not written. It used to be lost."""
    if _may_raise_a_hard_limit(tmp_path):
        pytest.skip("this user may raise the hard limit back: the profile and the reports are "
                    "written as usual (test_profile_written_after_the_program_lowered_its_limit)")
    (tmp_path / "lowered.py").write_text(LOWERED)
    proc = run_triscope([*mode, "lowered.py", 0, "both"], tmp_path)
    assert proc.returncode == 0 and proc.stdout == "True\n", describe(proc)
    where = tmp_path / "profile.json"
    assert _complaints(proc.stderr) == [
        f"triscope: cannot write the profile: Too many open files; it is in {where}, written "
        f"through a checkpoint file, without the reports (`triscope view {where}` makes "
        f"them)"], describe(proc)
    assert load_profile(where)["program"] == "lowered.py"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["lowered.py", "profile.json"]


EXHAUSTS = """\
import os, resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 256), hard))
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError as error:
    print("EMFILE" if error.errno == 24 else error)
"""


@pytest.mark.parametrize("mode", MODES[:2], ids=["cpu", "default"])
def test_profile_written_after_the_program_took_every_descriptor(tmp_path, mode):
    (tmp_path / "exhausts.py").write_text(EXHAUSTS)
    proc = run_triscope([*mode, "exhausts.py"], tmp_path)
    assert proc.returncode == 0 and proc.stdout == "EMFILE\n", describe(proc)
    assert _complaints(proc.stderr) == [], describe(proc)
    load_profile(tmp_path / "profile.json")
    assert (tmp_path / "profile.html").stat().st_size > 0


UMASK = """\
import os, sys
os.umask(0o777)
if len(sys.argv) > 1:
    os.execv(sys.executable, [sys.executable, "after_exec.py"])
print(oct(os.umask(0o777)))
"""

AFTER_EXEC = """\
import os, time
end = time.process_time() + 0.2
while time.process_time() < end:
    sum(i * i for i in range(200))
print("after exec", oct(os.umask(0o777)))
"""


def _launch_umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("execs", [False, True], ids=["exits", "execs"])
@pytest.mark.parametrize("mode", MODES[:2], ids=["cpu", "default"])
def test_outputs_made_under_the_launch_umask(tmp_path, mode, execs):
    (tmp_path / "umask.py").write_text(UMASK)
    (tmp_path / "after_exec.py").write_text(AFTER_EXEC)
    args = ["umask.py", "exec"] if execs else ["umask.py"]
    plain = run_python(args, tmp_path)
    proc = run_triscope([*mode, *args], tmp_path)
    assert proc.returncode == 0 and proc.stdout == plain.stdout, describe(proc)
    wanted = 0o666 & ~_launch_umask()
    for name in ("profile.json", "profile.html"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == wanted, name
    profile = load_profile(tmp_path / "profile.json")
    if execs:
        assert any(path.endswith("after_exec.py") for path in profile["files"]), \
            sorted(profile["files"])


ENDS_LIMITED = """\
import io, sys, time
end = time.process_time() + 0.2
while time.process_time() < end:
    sum(i * i for i in range(100))
print("done")
if sys.argv[1] == "recursion":
    sys.setrecursionlimit(25)
else:
    sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
"""


@pytest.mark.parametrize("change", ["recursion", "streams"])
@pytest.mark.parametrize("mode", MODES[:2], ids=["cpu", "default"])
def test_reports_written_after_the_program_changed_its_interpreter(tmp_path, mode, change):
    (tmp_path / "ends.py").write_text(ENDS_LIMITED)
    plain = run_python(["ends.py", change], tmp_path)
    proc = run_triscope([*mode, "ends.py", change], tmp_path)
    assert proc.returncode == 0 and proc.stdout == plain.stdout == "done\n", describe(proc)
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr, describe(proc)
    assert "triscope profile of ends.py" in proc.stderr, describe(proc)  # the text report
    assert "triscope: HTML report written to" in proc.stderr, describe(proc)
    profile = load_profile(tmp_path / "profile.json")
    assert any(path.endswith("ends.py") for path in profile["files"]), describe(proc)
    assert (tmp_path / "profile.html").stat().st_size > 0


ENDS_REFUSING = """\
import builtins, io, os, time
end = time.process_time() + 0.2
while time.process_time() < end:
    sum(i * i for i in range(100))
print("done")

def refuse(*args, **kwargs):  # a mock left in place, a sandbox
    raise PermissionError("refused by the program")

builtins.open = io.open = refuse
for name in ("open", "fdopen", "rename", "unlink", "mkdir", "makedirs", "stat", "lstat"):
    setattr(os, name, refuse)
os.path.exists = os.path.isdir = refuse
del os.replace, os.fsync
"""


@pytest.mark.parametrize("mode", MODES, ids=["cpu", "default", "outfile"])
def test_reports_written_after_the_program_replaced_the_file_functions(tmp_path, mode):
    """The functions the reports are written with are the ones the run began with, while
    they are written (docs/ARCHITECTURE.md, "What the program leaves behind")."""
    (tmp_path / "refusing.py").write_text(ENDS_REFUSING)
    plain = run_python(["refusing.py"], tmp_path)
    proc = run_triscope([*mode, "refusing.py"], tmp_path)
    assert proc.returncode == 0 and proc.stdout == plain.stdout == "done\n", describe(proc)
    assert _complaints(proc.stderr) == [], describe(proc)
    assert "triscope profile of refusing.py" in proc.stderr, describe(proc)
    profile = load_profile(_output_of(mode, tmp_path))
    assert any(path.endswith("refusing.py") for path in profile["files"]), describe(proc)
    assert _output_of(mode, tmp_path).with_suffix(".html").stat().st_size > 0


def test_the_programs_functions_are_back_after_the_writing():
    """A process may go on after its profile is written (the pytest plugin, IPython's magics):
    what the program replaced or deleted is its own again, what it added was never touched."""
    from triscope.originals import Originals
    real_open, real_replace = os.open, os.replace
    originals = Originals()

    def programs_open(*args):
        raise PermissionError

    try:
        os.open = programs_open
        del os.replace
        os.programs_own = programs_open
        replaced = originals.put_back()
        assert os.open is real_open and os.replace is real_replace
        assert os.programs_own is programs_open
        Originals.take_back(replaced)
        assert os.open is programs_open and not hasattr(os, "replace")
        assert os.programs_own is programs_open
    finally:
        os.open, os.replace = real_open, real_replace
        del os.programs_own
