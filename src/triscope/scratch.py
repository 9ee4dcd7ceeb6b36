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

Imports only os: it runs before the program's first line.
"""

import os

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
    """A new directory, readable by this user alone, in the temporary directory; its path.
    The first candidate in which one can be made becomes the temporary directory for the
    rest of the run; OSError (FileNotFoundError) when none can."""
    global _chosen
    for directory in [_chosen] if _chosen else _candidates():
        for _ in range(_ATTEMPTS):
            path = os.path.join(directory, prefix + os.urandom(6).hex())
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            except OSError:
                break  # not usable: the next candidate
            _chosen = directory
            return path
    raise FileNotFoundError(f"no usable temporary directory found in {_candidates()}")


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
