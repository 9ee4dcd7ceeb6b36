"""What the profile tools (`triscope diff`, `export`, `optimize`) share: reading profiles
they can trust and writing their output.

A profile file may hold anything (a truncated write, another program's JSON, numbers too big
for any run). The tools promise one `triscope: error:` line and exit status 2 for all of
it, never a traceback: each reads what it needs from a profile inside `reading(path)`, which
turns the errors that malformed data raises into a UsageError naming the file.
"""

import contextlib
import math
import os

from triscope.cli import UsageError, _load_profile
from triscope.reports import text as text_report

# What reading a malformed profile raises: a missing key, a string where a number belongs,
# nesting too deep, an overflow.
MALFORMED = (LookupError, TypeError, ValueError, AttributeError, ArithmeticError,
             RecursionError)


def load(path: str) -> dict:
    """The triscope/1 profile at `path`, or a UsageError saying why not."""
    return _load_profile(path)


@contextlib.contextmanager
def reading(path: str):
    """Malformed data met inside the block is reported as `path` being malformed."""
    try:
        yield
    except UsageError:
        raise
    except MALFORMED as error:
        raise UsageError(f"{path} is malformed: {_describe(error)}") from None


def _describe(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r}" if error.args else "missing field"
    text = str(error) or type(error).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def number(value) -> float:
    """`value` as a finite float; a bool, a string, inf or NaN is malformed data."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, found {type(value).__name__}")
    value = float(value)  # OverflowError (an ArithmeticError) for an int too big
    if not math.isfinite(value):
        raise ValueError("a number is out of range")
    return value


def count(value) -> int:
    """`value` as a non-negative int."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"expected a count, found {value!r:.40}")
    return value


def text(value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, found {type(value).__name__}")
    return value


def terminal_text(text: str) -> str:
    """`text` with its lines kept and nothing a terminal would act on: tabs expanded, every
    other control or separator character (ESC, CR, BEL, U+2028...) replaced as the text
    report replaces them. Profiles are untrusted (docs/ARCHITECTURE.md): every field a tool
    prints, and every answer it relays, goes through this or the report's own helper."""
    return "\n".join(terminal_line(line) for line in text.splitlines())


def terminal_line(text: str) -> str:
    """Like terminal_text, for a field that must stay on one line: a line break in it is
    replaced too (a forged file name cannot start a line of its own)."""
    return text_report._printable(text.expandtabs())


def write_output(content: str, path: str) -> None:
    """Writes `content` to `path` (atomically), or a UsageError saying why it cannot."""
    temporary = f"{path}.tmp.{os.getpid()}"
    try:
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(content)
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None


def common_dir(paths) -> str:
    """The directory all absolute `paths` share ('' when they share none or are not paths)."""
    paths = [p for p in paths if os.path.isabs(p)]
    if not paths:
        return ""
    try:
        shared = os.path.commonpath(paths)
    except ValueError:
        return ""
    if shared in paths:  # one file: its directory
        shared = os.path.dirname(shared)
    return "" if shared == os.sep else shared


def short_name(path: str, shared: str) -> str:
    """`path` relative to `shared`, the directory common to the files shown."""
    if shared and path.startswith(shared + os.sep):
        return path[len(shared) + 1:]
    return path
