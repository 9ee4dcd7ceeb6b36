"""The profiled program's children (docs/ARCHITECTURE.md, "The launcher and child
processes"): how a child finds the run — the variables in its environment, put back by a
hook on subprocess and os.posix_spawn when the program gives it an environment without
them, and the interpreter flags that turn the child's hook off — and what children leave in
the run's directory: their profiles, merged into the run's, notes of the ones that could not
profile themselves, and directories of runs that ended without removing theirs.

It never starts, stops or writes a profile (launch.py does, for a child too) and never
imports launch. Imports only what the launcher has loaded; tempfile and merge when used.
"""
import os
import sys

from triscope import _compat, jsoncodec, scratch

OWN_DIR = os.path.dirname(os.path.abspath(__file__))

# Children find here where to leave their profiles and with which options to profile.
CHILD_DIR = "TRISCOPE_CHILD_DIR"
CHILD_OPTIONS = "TRISCOPE_CHILD_OPTIONS"
CHILD_BOOTSTRAP_DIR = os.path.join(OWN_DIR, "_child")
# What a profiled process hands to the image it execs (execs._exec_handing_over).
EXEC_HANDOVER = "TRISCOPE_EXEC"


def merge_children(load_profile, child_dir: str, via_exec: bool, rewrite):
    """Folds the profiles children left in `child_dir` into ours (`load_profile()`, read only
    then), with the count of those that could not profile themselves, and rewrites our JSON
    (`rewrite(merged)`): the merged profile, or None when ours stands as it was written.
    What images this process exec'd before handed over (exec-*.json) comes first: the run's
    program leads the merged profile, its children follow in the order they started. The
    directory itself is launch.remove_child_dir's."""
    children, handed_over = [], []
    try:
        names = sorted(os.listdir(child_dir))
    except OSError:  # the program dropped the privileges it had made the directory with
        return None
    for name in names:
        if not name.endswith(".json"):
            continue  # a child still writing (its .tmp file), one that crashed, lib/
        try:
            with open(os.path.join(child_dir, name), "rb") as stream:
                loaded = jsoncodec.loads(stream.read())
        except (OSError, ValueError):
            continue  # a child killed mid-write does not cost the parent its report
        (handed_over if name.startswith("exec-") else children).append(loaded)
    # Children in the order they started, not of their pids, which wrap (pid_max): the first
    # child's `-c` code keeps the name <string>, a later one's gets its pid (merge.py).
    children.sort(key=lambda child: (child.get("started_at", 0), child.get("pid", 0)))
    unprofiled = _unprofiled_children(child_dir)
    if not children and not handed_over and not unprofiled and not via_exec:
        return None  # the common case: merge (0.7 ms to import) has nothing to do
    from triscope.reports import merge
    profile = load_profile()
    if via_exec:
        profile = merge.mark_exec(profile)
    if not children and not handed_over and not unprofiled:
        return profile
    merged = merge.merge([*handed_over, profile, *children]) if children or handed_over \
        else dict(profile)
    if unprofiled:
        merged["unprofiled_children"] = merge.add_unprofiled(
            merged.get("unprofiled_children"), unprofiled)
    try:
        rewrite(merged)
    except merge.MergeError as error:  # ours stays as written: a child must not cost it
        print(f"triscope: children's profiles not merged: {error}", file=sys.stderr)
        return None
    return merged


# A profiled child marks itself running in the run's directory as it begins (PID.running)
# and takes the mark away once its profile (PID.json) is written: a mark without its profile
# at the parent's merge is a child that had not ended with the program (a daemon), or died
# without writing (SIGKILL, the out-of-memory killer). Without the mark its absence from the
# profile would go unsaid. multiprocessing's resource tracker and fork server make no mark:
# they serve the program until it has exited, so they always outlive its merge.
RUNNING_SUFFIX = ".running"
STILL_RUNNING = "still running when the program ended, it left no profile"
KILLED = "killed before it could write its profile"
_SERVING_UNTIL_EXIT = ("from multiprocessing.resource_tracker import main",
                       "from multiprocessing.forkserver import main")


def mark_running(directory: str, command: tuple) -> str:
    """This child's running mark, made in `directory`: its path, or None where it cannot be
    made (the run is over) or is not made (`command`, children.python_command's, is one of
    multiprocessing's helpers). An image that an exec continues finds it made already."""
    if command[0] == "-c" and any(helper in command[1] for helper in _SERVING_UNTIL_EXIT):
        return None  # 3.15's fork server begins with "import sys; "
    path = os.path.join(directory, f"{os.getpid()}{RUNNING_SUFFIX}")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    except OSError:
        return None
    return path


def _is_running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (ended, not yet waited for)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            return stream.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _unprofiled_children(child_dir: str) -> dict:
    """{reason: how many}: the notes left by children that ran unprofiled (written by
    _child/sitecustomize.py in the child, or by note_unprofiled_child here), and the running
    marks of children that left no profile (mark_running)."""
    reasons = {}
    names = os.listdir(child_dir)
    for name in names:
        pid = name[:-len(RUNNING_SUFFIX)]
        if name.endswith(RUNNING_SUFFIX) and pid.isdecimal() and pid + ".json" not in names:
            reason = STILL_RUNNING if _is_running(int(pid)) else KILLED
            reasons[reason] = reasons.get(reason, 0) + 1
    for name in names:
        if not (name.startswith("unprofiled-") and name.endswith(".txt")):
            continue
        try:
            with open(os.path.join(child_dir, name), encoding="utf-8",
                      errors="replace") as stream:
                reason = stream.readline().strip()[:200] or "unknown"
        except OSError:
            continue
        reasons[reason] = reasons.get(reason, 0) + 1
    return reasons


# A children directory whose run ended without removing it (killed by SIGKILL, the machine
# stopped) is removed by a later run once its process is gone and it is this old: a run in
# another PID namespace sharing /tmp may have the number of a process dead here, and its
# directory changes whenever a child of it writes.
STALE_CHILD_DIR_S = 3600


def remove_stale_dirs(temporary: str) -> None:
    """Removes this user's children directories (triscope-PID-children-*) and Ray workers'
    (triscope-PID-ray-*: triscope.ray) in `temporary` (where scratch.make_dir makes them)
    that outlived their run: the process PID is gone and nothing changed in them for
    STALE_CHILD_DIR_S."""
    import time
    try:
        names = os.listdir(temporary)
    except OSError:
        return
    for name in names:
        if not name.startswith("triscope-"):
            continue  # most of a shared /tmp
        # triscope-PID-children-WORD or triscope-PID-ray-WORD, as the regular expression
        # r"triscope-(\d+)-(?:children|ray)-\w+" matches (\d: str.isdecimal; \w: isalnum or
        # "_"), without importing re (2.5 ms) in a run that may need it nowhere else.
        parts = name.split("-", 3)
        if (len(parts) != 4 or not parts[1].isdecimal() or parts[2] not in ("children", "ray")
                or not parts[3] or not all(c.isalnum() or c == "_" for c in parts[3])):
            continue
        path = os.path.join(temporary, name)
        try:
            os.kill(int(parts[1]), 0)
            continue  # its process (or one with its number) is alive
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if info.st_uid == os.geteuid() and time.time() - info.st_mtime > STALE_CHILD_DIR_S:
            scratch.remove_tree(path)


# ==== Children started with an environment of their own ====
# docs/ARCHITECTURE.md, "The launcher and child processes". A child given an environment
# without triscope's variables (`subprocess.run(env={})`, pyperf's workers) would run
# unprofiled and unseen. When the executable is a Python, the variables are put back into
# the environment passed to it, with CHILD_RESTORE saying what the child's sitecustomize
# must take out again before the child's own code runs: the child sees the environment it
# was given. A Python started so that it ignores PYTHONPATH or skips site (-I, -E, -S)
# cannot be reached: it is counted, with why, in the report.

CHILD_RESTORE = "TRISCOPE_CHILD_RESTORE"
# (directory for children, their options as JSON) once children are profiled.
_child_variables = None


def watch_environments(child_dir: str, child_options: str) -> None:
    """Sees every child started through subprocess, multiprocessing or os.posix_spawn[p]
    (os.exec* hand their environments to child_environment too).

    subprocess starts each child through one of two functions: _posixsubprocess.fork_exec,
    which it binds as it is imported, or os.posix_spawn, looked up at each call; either sees
    the child once. The hook goes on the first, not on subprocess.Popen: then the launcher
    need not import subprocess (2.3 ms, with selectors and signal) for a program that may
    never start a child. A subprocess imported before (profiling begun from a child's
    start-up, where a site hook may have imported it) has its binding replaced too."""
    global _child_variables
    first = _child_variables is None
    _child_variables = (child_dir, child_options)
    if not first:
        return
    import _posixsubprocess
    fork_exec = _posixsubprocess.fork_exec

    def fork_exec_seen(*call):
        call = list(call)
        executables = call[_compat.FORK_EXEC_EXECUTABLES]
        argv = list(call[_compat.FORK_EXEC_ARGS])
        call[_compat.FORK_EXEC_ENV] = _environment_list(
            executables[0] if executables else argv[0], argv, call[_compat.FORK_EXEC_ENV])
        return fork_exec(*call)

    fork_exec_seen.__name__ = fork_exec_seen.__qualname__ = fork_exec.__name__
    fork_exec_seen.__doc__ = fork_exec.__doc__
    _posixsubprocess.fork_exec = fork_exec_seen
    subprocess = sys.modules.get("subprocess")
    if getattr(subprocess, "_fork_exec", None) is fork_exec:
        subprocess._fork_exec = fork_exec_seen
    for name in ("posix_spawn", "posix_spawnp"):
        original = getattr(os, name, None)
        if original is not None:
            setattr(os, name, _spawn_wrapper(original))


def _environment_list(executable, argv: list, env_list):
    """child_environment for fork_exec, which takes the environment as b"NAME=value" entries
    (None: this process's, as subprocess passes it for `env=None`)."""
    try:
        given = None if env_list is None else dict(
            os.fsencode(entry).split(b"=", 1) for entry in env_list)
    except (TypeError, ValueError):
        return env_list  # not what subprocess passes: left as it is
    chosen = child_environment(executable, argv, given)
    if chosen is given:
        return env_list
    return [os.fsencode(name) + b"=" + os.fsencode(value) for name, value in chosen.items()]


def _spawn_wrapper(spawn):
    def posix_spawn(path, argv, env, *rest, **options):
        env = child_environment(path, list(argv), env)
        return spawn(path, argv, env, *rest, **options)
    posix_spawn.__name__ = posix_spawn.__qualname__ = spawn.__name__
    posix_spawn.__doc__ = spawn.__doc__
    return posix_spawn


def child_environment(executable, argv: list, env):
    """The environment to start `argv` with when the program gives `env` (None: its own):
    `env` itself, or for a Python child that would not be profiled with it, a copy with
    triscope's variables put back (which the child takes out again)."""
    if _child_variables is None:
        return env
    try:
        executable = os.fsdecode(executable)
        if not _is_python(executable):
            return env
        ignoring = flags_skipping_the_hook(argv)
        if ignoring:
            note_unprofiled_child(f"a Python started with {ignoring} ignores triscope's hook")
            return env
        given = os.environ if env is None else env
        keys_are_bytes = any(isinstance(key, bytes) for key in given)
        wanted = os.fsencode(CHILD_DIR) if keys_are_bytes else CHILD_DIR
        if wanted in given:
            return env  # it inherits the hook
        return _with_child_variables(given, keys_are_bytes)
    except (TypeError, ValueError, AttributeError):
        return env  # what the program passed is the program's business: left as it is


def _is_python(executable: str) -> bool:
    name = os.path.basename(executable)
    # python[0-9.]*[a-z]* (python3, python3.12, python3.13t), without importing re for it.
    if name.startswith("python"):
        suffix = name[len("python"):].lstrip("0123456789.")
        if all("a" <= c <= "z" for c in suffix):
            return True
    return os.path.realpath(executable) == os.path.realpath(sys.executable)


def flags_skipping_the_hook(argv: list) -> str:
    """The interpreter options in `argv` (a Python's command line) by which it would not
    import the hook (-I, -E: PYTHONPATH ignored; -S: no sitecustomize), or '', read as
    _read_options reads a command line (-W ignore -E: the -E counts)."""
    return " ".join(f"-{letter}" for letter in _read_options(argv)[3] if letter in "IES")


def _hook_path(child_dir: str) -> list:
    """The PYTHONPATH entries through which a Python child imports the hook: the bootstrap
    directory and the run's link to this triscope package."""
    return [CHILD_BOOTSTRAP_DIR, os.path.join(child_dir, "lib")]


def keep_in_c_environment(programs_pythonpath) -> None:
    """The variables through which Python children profile themselves, put in this process's
    C environment only (os.putenv), never in os.environ: the program reads os.environ as
    plain python would give it, and subprocess and multiprocessing pass os.environ on, with
    the variables added by child_environment (and taken out again by the child). What C
    starts without os.environ — os.system, a shell, a C library's own spawn — inherits the
    C environment, and a Python among those children finds the hook there.
    `programs_pythonpath`: the PYTHONPATH the program has (os.environ's), or None."""
    child_dir, child_options = _child_variables
    os.putenv(CHILD_DIR, child_dir)
    os.putenv(CHILD_OPTIONS, child_options)
    os.putenv("PYTHONPATH", os.pathsep.join(
        _hook_path(child_dir) + ([programs_pythonpath] if programs_pythonpath else [])))


def hide_from_the_child() -> None:
    """In a profiled child, once its profiling has begun and the environment it was given is
    back (_child/sitecustomize.py: CHILD_RESTORE, where its parent added the variables to
    that environment): its os.environ and sys.path without triscope's variables and hook
    entries that it inherited from a C environment (docs/ARCHITECTURE.md, "The launcher and
    child processes"), which stay in its C environment for its own children
    (keep_in_c_environment)."""
    path = os.environ.get("PYTHONPATH", "")
    ours = _hook_entries(path)
    os.environ.pop(CHILD_DIR, None)
    os.environ.pop(CHILD_OPTIONS, None)
    kept = without_hook(path)
    if kept is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = kept
    sys.path[:] = [entry for entry in sys.path if entry not in ours]
    keep_in_c_environment(kept)


def _hook_entries(pythonpath: str) -> list:
    """The hook's entries as `pythonpath` may name them: the run's two, and the bootstrap
    directory by any path (a child imports triscope through the run's link, lib/triscope,
    so its own bootstrap path names the directory its parent named by another)."""
    return _hook_path(child_dir()) + [
        entry for entry in pythonpath.split(os.pathsep)
        if entry and os.path.realpath(entry) == os.path.realpath(CHILD_BOOTSTRAP_DIR)]


def without_hook(pythonpath: str):
    """`pythonpath` without the hook's entries (an empty entry, the working directory,
    stays), or None where nothing is left."""
    ours = _hook_entries(pythonpath)
    return os.pathsep.join(entry for entry in pythonpath.split(os.pathsep)
                           if entry not in ours) or None


def _with_child_variables(given, keys_are_bytes: bool):
    child_dir, child_options = _child_variables
    added_path = _hook_path(child_dir)
    encode = os.fsencode if keys_are_bytes else str
    decode = os.fsdecode if keys_are_bytes else str
    previous_path = given.get(encode("PYTHONPATH"))
    restore = {"environ": {CHILD_DIR: None, CHILD_OPTIONS: None, CHILD_RESTORE: None,
                           "PYTHONPATH": None if previous_path is None
                           else decode(previous_path)},
               "sys_path": added_path}
    env = dict(given)
    additions = {CHILD_DIR: child_dir, CHILD_OPTIONS: child_options,
                 CHILD_RESTORE: jsoncodec.dumps(restore),
                 "PYTHONPATH": os.pathsep.join(
                     added_path + ([decode(previous_path)] if previous_path else []))}
    for name, value in additions.items():
        env[encode(name)] = encode(value)
    return env


def child_dir():
    """The directory children leave their profiles in, once children are profiled; else None."""
    return None if _child_variables is None else _child_variables[0]


def note_unprofiled_child(reason: str) -> None:
    """Counts a child that could not be profiled, with why, for the report."""
    if _child_variables is None:
        return
    import tempfile
    try:
        with tempfile.NamedTemporaryFile("w", dir=_child_variables[0], prefix="unprofiled-",
                                         suffix=".txt", delete=False) as note:
            note.write(reason + "\n")
    except OSError:
        pass  # the run is over (its directory gone): nobody would read it


def interpreter_options_end(argv: list) -> tuple:
    """Where a Python command line's interpreter options end: (index, letter, value), the
    word at `index` being a -c or -m option (`letter` "c" or "m", and its `value`, from the
    rest of its word or the next one, or None) or the first word that is not an option
    (letter "", value None; index len(argv) when none follows)."""
    return _read_options(argv)[:3]


def _read_options(argv: list) -> tuple:
    """A Python command line's interpreter options, read as the interpreter reads them:
    (index, letter, value) as interpreter_options_end gives them, and the letters of the
    options that take no value, in order ("sE" for -sE). Options may share a word; -W and -X
    take the rest of their word or else the next word, as -c and -m do, which end them, as
    `-`, `--` and the script do; --check-hash-based-pycs takes the next word. Words may be
    bytes (an exec's argv)."""
    flags = []
    index = 1
    while index < len(argv):
        arg = os.fsdecode(argv[index])
        if not arg.startswith("-") or arg == "-" or arg == "--":
            break
        if arg.startswith("--"):  # --check-hash-based-pycs takes the next word
            index += 2 if arg == "--check-hash-based-pycs" else 1
            continue
        start = index
        for position, letter in enumerate(arg[1:], start=2):
            if letter not in "cmWX":
                flags.append(letter)
                continue
            value = arg[position:]
            if not value:
                index += 1
                value = os.fsdecode(argv[index]) if index < len(argv) else None
            if letter in "cm":
                return start, letter, value, flags
            break
        index += 1
    return index, "", None, flags


def python_command(argv: list) -> tuple:
    """What a Python command line runs: ("-c", code), ("-m", module), or ("", None) for a
    script, stdin or the interactive prompt. `argv` is sys.orig_argv."""
    _, letter, value = interpreter_options_end(argv)
    return (f"-{letter}", value) if letter and value is not None else ("", None)


def exec_environment(env) -> dict:
    """The variables through which a Python child profiles itself, as the program's own
    environment lacks them (an exec with a fresh environment)."""
    child_dir, child_options = _child_variables
    wanted = {name: value for name, value in ((CHILD_DIR, child_dir),
                                              (CHILD_OPTIONS, child_options))
              if env.get(name) != value}
    path = env.get("PYTHONPATH", "")
    if CHILD_BOOTSTRAP_DIR not in path.split(os.pathsep):
        wanted["PYTHONPATH"] = os.pathsep.join(_hook_path(child_dir) + ([path] if path else []))
    return wanted
