"""Where a run keeps its children's profiles: a private directory in the temporary one, and
removing it — without importing tempfile or shutil.

Every profiled run makes a directory for its children's profiles before the program starts
(launch._profile_children) and removes it at exit. tempfile imports random, shutil, bz2,
lzma and fnmatch: about 14 million instructions, 4 ms of the start of every run
(docs/PERFORMANCE.md, "triscope's own costs"). What a run needs of them is small and is
here, with the same choices: the directory is made in the one
tempfile.gettempdir() would pick (the first usable of $TMPDIR, $TEMP, $TMP, /tmp, /var/tmp,
/usr/tmp and the working directory), and a private directory is made as mkdtemp makes one
(a random name, mode 0700, never an existing path).

The runs' directories go in one of this user's own there (triscope-UID, mode 0700, removed by
the last run to leave it), so that the sweep of directories killed runs left behind
(children.remove_stale_dirs) reads a few names at each start, not a whole shared /tmp (1,400
on a machine that runs a test suite: 1.4 ms). Where that directory cannot be made or is not
this user's alone (another user made the name first), the runs' directories go in the
temporary directory itself.

Imports only os and stat: it runs before the program's first line.
"""

import os
import stat

_CANDIDATES = ("/tmp", "/var/tmp", "/usr/tmp")
_ATTEMPTS = 100  # random names tried in one directory before it is given up

_chosen = None  # the temporary directory, once one has been found usable


def _candidates() -> list:
    named = [os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP")]
    try:
        here = os.getcwd()
    except OSError:
        here = os.curdir
    return [os.path.abspath(d) for d in named if d] + list(_CANDIDATES) + [here]


def make_dir(prefix: str) -> str:
    """A new directory, readable by this user alone, in this user's directory of the
    temporary one; its path. The first candidate in which one can be made becomes the
    temporary directory for the rest of the run; OSError (FileNotFoundError) when none can."""
    global _chosen
    for directory in [_chosen] if _chosen else _candidates():
        for _ in range(_ATTEMPTS):
            home = _own_dir(directory)
            path = os.path.join(home, prefix + os.urandom(6).hex())
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            except FileNotFoundError:
                if home != directory:
                    continue  # the last run to leave it removed it just now: made again
                break
            except OSError:
                break  # not usable: the next candidate
            _chosen = directory
            return path
    raise FileNotFoundError(f"no usable temporary directory found in {_candidates()}")


def _own_name() -> str:
    return f"triscope-{os.geteuid()}"


def _own_dir(directory: str) -> str:
    """This user's directory in `directory`, made if need be; `directory` itself when it
    cannot be made or is not a directory this user alone can enter (never a link)."""
    path = os.path.join(directory, _own_name())
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return directory
    try:
        info = os.lstat(path)
    except OSError:
        return directory
    if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid()
            or info.st_mode & 0o077):
        return directory
    return path


def remove_made_dir(path: str) -> None:
    """Removes a directory make_dir made, and this user's directory it was in when no other
    run's is left there."""
    remove_tree(path)
    parent = os.path.dirname(path)
    if os.path.basename(parent) == _own_name():
        try:
            os.rmdir(parent)
        except OSError:
            pass  # another run's directory is in it: the last one out removes it


def directory() -> str:
    """The temporary directory: the one a private directory was made in, else
    tempfile.gettempdir()'s choice."""
    if _chosen is not None:
        return _chosen
    import tempfile
    return tempfile.gettempdir()


def remove_tree(path: str) -> None:
    """Removes `path` and what is under it, never following a symbolic link (a link is
    removed, not what it points to); what cannot be removed is left."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        entries = []
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            remove_tree(entry.path)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass
