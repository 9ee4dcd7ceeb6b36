"""Where a run's outputs go (docs/ARCHITECTURE.md, "Output, exec, crashes and
privileges"): each output named before the program runs is checked then (Target), and
written at the end atomically or in place; one that cannot be written where asked goes
beside, in the temporary directory, and says so. Imports only what the launcher has loaded.
"""
import errno
import os
import stat
import sys

from triscope import _native
from triscope.options import UsageError


class Target:
    """Where one output goes, decided before the program runs (docs/ARCHITECTURE.md, "Output,
    exec, crashes and privileges"). A regular file (or a name not taken yet) is replaced
    atomically, through its symlinks: `path` is the file at their end. Anything else a user
    may name (a character device, a fifo, /dev/fd/N) is written `in_place` at the end, and is
    never opened before: opening a fifo without a reader blocks."""

    def __init__(self, asked: str):
        self.asked = asked
        self.in_place = False
        self.held_fd = None  # a dup of /dev/fd/N, which the program may close meanwhile
        try:
            info = os.stat(asked)
        except FileNotFoundError:
            self.path = os.path.realpath(asked)  # a new file, or a dangling link's target
            parent = os.path.dirname(self.path)
            if not os.path.isdir(parent):
                raise UsageError(f"cannot write {asked}: {os.strerror(errno.ENOENT)}") from None
            if not os.access(parent, os.W_OK):
                raise UsageError(f"cannot write {asked}: {os.strerror(errno.EACCES)}") from None
            return
        except OSError as error:
            raise UsageError(f"cannot write {asked}: {error.strerror}") from None
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(f"cannot write {asked}: {os.strerror(errno.EISDIR)}")
        if stat.S_ISBLK(info.st_mode):
            raise UsageError(f"will not write over the block device {asked}")
        if stat.S_ISREG(info.st_mode):
            self.path = os.path.realpath(asked)
            try:
                with open(self.path, "a"):
                    pass
            except OSError as error:
                raise UsageError(f"cannot write {asked}: {error.strerror}") from None
            return
        self.path = asked
        self.in_place = True
        if not os.access(asked, os.W_OK):
            raise UsageError(f"cannot write {asked}: {os.strerror(errno.EACCES)}")
        descriptor = _fd_named_by(asked)
        if descriptor is not None:
            try:
                self.held_fd = _native.park_fd(os.dup(descriptor))
                self.held_identity = identity(self.held_fd)
            except OSError as error:
                raise UsageError(f"cannot write {asked}: {error.strerror}") from None

    def write(self, data: bytes) -> None:
        """Puts `data` there (OSError when it cannot)."""
        if not self.in_place:
            replace_file(self.path, data)
            return
        sys.stdout.flush()  # /dev/stdout: after what the program printed, not before
        if self.held_fd is not None and identity(self.held_fd) == self.held_identity:
            descriptor = os.dup(self.held_fd)
        else:  # O_NONBLOCK: a fifo nobody reads fails at once (ENXIO) instead of hanging
            descriptor = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY |
                                 os.O_CLOEXEC)
            os.set_blocking(descriptor, True)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view):]
        finally:
            os.close(descriptor)


def _fd_named_by(path: str):
    """N when `path` names this process's descriptor N (/dev/fd/N, /proc/self/fd/N)."""
    for prefix in ("/dev/fd/", "/proc/self/fd/", f"/proc/{os.getpid()}/fd/"):
        if path.startswith(prefix) and path[len(prefix):].isdigit():
            return int(path[len(prefix):])
    return {"/dev/stdout": 1, "/dev/stderr": 2}.get(path)


def identity(descriptor: int):
    """Which file a descriptor is open on: a number the program reused is another file (the
    device too: every terminal of devpts is another device of one file system)."""
    try:
        info = os.fstat(descriptor)
    except OSError:
        return None
    return info.st_dev, info.st_ino, info.st_rdev


def replace_file(path: str, data: bytes) -> None:
    """Writes `path` atomically: a reader never sees half a file, a failure leaves it as it
    was."""
    temporary = f"{path}.tmp.{os.getpid()}"
    try:
        with open(temporary, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def write_beside(data: bytes, suffix: str) -> str:
    """Where an output that could not go where asked goes instead: the temporary directory."""
    import tempfile
    descriptor, path = tempfile.mkstemp(prefix=f"triscope-{os.getpid()}-", suffix=suffix)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)
    return path


def deliver(target: "Target", data: bytes, what: str, suffix: str) -> str:
    """Writes `data` to `target`, or beside it saying why; returns where it went."""
    try:
        target.write(data)
        return target.asked
    except OSError as error:
        beside = write_beside(data, suffix)
        print(f"triscope: cannot write {target.asked}: {error.strerror}; the {what} is in "
              f"{beside}", file=sys.stderr)
        return beside
