"""What the profile tools (`triscope view`, `diff`, `merge`, `export`, `optimize`) share:
reading profiles they can trust and writing their output.

A profile file may hold anything (a truncated write, another program's JSON, numbers too big
for any run). The tools promise one `triscope: error:` line and exit status 2 for all of
it, never a traceback: every profile is read through `load` (or `parse`, for text in hand),
which refuses what no run could write and gives the stacks' frames as triples, whichever
form the file holds (triscope/1 or /2), and each tool reads what it needs from a profile
inside `reading(path)`, which turns the errors that malformed data raises into a UsageError
naming the file.
"""

import contextlib
import json
import math
import os
import re

from triscope.options import UsageError
from triscope.reports import text as text_report

# The profile formats this triscope reads, and the one it writes (docs/PROFILE_FORMAT.md,
# "Versions"): triscope/2 names a stack's frames by index into the profile's `stack_frames`,
# triscope/1 (older profiles) spells them out as [file, function, lineno] in every stack.
SCHEMA = "triscope/2"
SCHEMAS = ("triscope/1", SCHEMA)

# What reading a malformed profile raises: a missing key, a string where a number belongs,
# nesting too deep, an overflow.
MALFORMED = (LookupError, TypeError, ValueError, AttributeError, ArithmeticError,
             RecursionError)

# No measurement of a real run comes near these: a number beyond them is a damaged or forged
# file, and refusing it here keeps every sum and ratio the tools compute finite.
LARGEST_FLOAT = 1e15
LARGEST_INT = 2 ** 63


def load(path: str) -> dict:
    """A profile from `path`, its stacks' frames as triples (expand_stacks), or a UsageError
    saying why not (not JSON, not a triscope profile, numbers no run could produce, anything
    docs/profile.schema.json rejects)."""
    try:
        with open(path, encoding="utf-8") as stream:
            content = stream.read()
    except IsADirectoryError:
        raise UsageError(f"cannot read {path}: it is a directory") from None
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{path} is not a JSON profile: {str(error)[:200]}") from None
    return parse(content, path)


def parse(content: str, name: str) -> dict:
    """The profile in `content` (from `name`), either format (SCHEMAS), its stacks' frames as
    triples (expand_stacks), or a UsageError saying why not. The writers run what they write
    through this too, so a reader never meets a profile a triscope tool wrote and cannot
    read."""
    try:
        if _may_be_out_of_range(content):
            profile = json.loads(content, parse_float=_parse_float, parse_int=_parse_int,
                                 parse_constant=_parse_constant)
        else:  # the same value: no number hook would refuse one
            profile = json.loads(content, parse_constant=_parse_constant)
    except (ValueError, RecursionError) as error:
        raise UsageError(f"{name} is not a JSON profile: {str(error)[:200]}") from None
    schema = profile.get("schema") if isinstance(profile, dict) else None
    if schema not in SCHEMAS:
        if isinstance(schema, str) and re.fullmatch(r"triscope/[0-9]{1,6}", schema):
            raise UsageError(f"{name} is a {schema} profile (a newer triscope's; this one "
                             f"reads {' and '.join(SCHEMAS)})")
        raise UsageError(f"{name} is not a triscope profile")
    from triscope.reports import validate
    try:
        validate.check(profile)
    except validate.Invalid as error:
        raise UsageError(f"{name} is not a valid {schema} profile "
                         f"(docs/profile.schema.json): {_one_line(str(error))}") from None
    except RecursionError:
        raise UsageError(f"{name} is not a triscope profile: nested too deeply") from None
    return expand_stacks(profile)


def expand_stacks(profile: dict) -> dict:
    """`profile` with every stack's frames as [file, function, lineno] triples, the form the
    Python readers work with: a triscope/2 profile's indices into `stack_frames` looked up
    (the table left out), a profile without the table (triscope/1) as it is. The one place
    Python turns the written form into that; the viewer has its own (expandFrames in
    viewer.html). The indices must have been checked (validate.check, or written by this
    triscope)."""
    table = profile.get("stack_frames")
    if table is None:
        return profile
    expanded = {key: value for key, value in profile.items() if key != "stack_frames"}
    expanded["stacks"] = [dict(stack, frames=[list(table[index]) for index in stack["frames"]])
                          for stack in profile["stacks"]]
    return expanded


def compact_stacks(profile: dict) -> dict:
    """`profile` as triscope/2 writes it: each distinct frame once in `stack_frames`, in the
    order the stacks first use it, and a stack's frames indices into that table (what
    `merge` writes, and what an HTML page embeds). A profile that has the table already is
    returned as it is."""
    if "stack_frames" in profile:
        return profile
    table, positions, stacks = [], {}, []
    for stack in profile["stacks"]:
        frames = []
        for frame in stack["frames"]:
            key = tuple(frame)
            position = positions.get(key)
            if position is None:
                position = positions[key] = len(table)
                table.append(list(frame))
            frames.append(position)
        stacks.append(dict(stack, frames=frames))
    compact = {}
    for key, value in profile.items():
        if key == "stacks":  # the table just before the stacks, where the C writer puts it
            compact["stack_frames"] = table
        compact[key] = value
    compact.update(schema=SCHEMA, stack_frames=table, stacks=stacks)
    return compact


# What a character is, for _may_be_out_of_range: "0" a digit (or the "+" of an exponent), "e"
# an exponent's letter, " " white space, "," what a number may follow ("[", ",", ":"), "-"
# and "." themselves, "x" anything else (a quote, a letter, a character beyond ASCII).
_MARKS = bytes(
    ord("0") if c in b"0123456789+" else ord("e") if c in b"eE"
    else ord(" ") if c in b" \t\n\r" else ord(",") if c in b"[,:"
    else c if c in b"-." else ord("x")
    for c in range(256))
_SIXTEEN_DIGITS = b"0" * 16


def _may_be_out_of_range(content: str) -> bool:
    """Whether `content` may hold a number the hooks below refuse: False is a promise, True
    only a suspicion (then the hooks decide). They cost a Python call per number, nearly as
    much as json.loads itself; this, a fraction of it.

    Only a number with 16 digits or more before its "." or exponent (an integer beyond 2**63
    has 19) or with an exponent that is not negative ("1e5", "1.5E+5") can be beyond 1e15 or
    2**63. Such digits found anywhere are a number only where they start one: at the start
    of the text, or after white space, "[", "," or ":" (a "-" between), as JSON has it. So
    the digits of a string (a sha256 with "3e5" in it, "x = 1e300" in a source line) are
    not suspected; a string that looks like a number after ", " or ": " is, for nothing
    (it costs time, never a verdict). Moving the range check into the schema walk instead
    would change answers: a member given twice keeps its last value, the schema does not
    reach every number (open objects), and the message quotes the literal as written."""
    marks = content.encode("ascii", "replace").translate(_MARKS)
    at = marks.find(_SIXTEEN_DIGITS)
    while at >= 0:
        if marks[at - 1:at] not in (b"0", b".") and _starts_number(marks, at):
            return True
        at = marks.find(_SIXTEEN_DIGITS, at + 16)
    at = marks.find(b"0e0")
    while at >= 0:
        mantissa = marks[max(0, at - 64):at + 1]
        head = mantissa.rstrip(b"0.")  # what is before the digits ending at `at`
        if not head and at >= 64 or _starts_number(marks, at + 1 - len(mantissa) + len(head)):
            return True  # (or digits too many to tell)
        at = marks.find(b"0e0", at + 1)
    return False


def _starts_number(marks: bytes, at: int) -> bool:
    """Whether the digits at `at` may start a number (see _may_be_out_of_range)."""
    before = marks[max(0, at - 64):at].removesuffix(b"-").rstrip(b" ")
    return not before or before.endswith(b",")  # nothing before, or too long to tell


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not abs(value) <= LARGEST_FLOAT:  # also NaN
        raise ValueError(f"number out of range: {literal[:40]}")
    return value


def _parse_int(literal: str) -> int:
    value = int(literal)
    if abs(value) > LARGEST_INT:
        raise ValueError(f"number out of range: {literal[:40]}")
    return value


def _parse_constant(name: str):
    raise ValueError(f"{name} is not a number in a profile")


def _one_line(message: str, limit: int = 200) -> str:
    """`message` with no control character (a forged key may hold any) and at most `limit`
    characters, for an error line."""
    message = "".join(c if c.isprintable() else "\ufffd" for c in message)
    return message if len(message) <= limit else message[:limit - 1] + "…"


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


def write_output(content, path: str) -> None:
    """Writes `content` (text, or bytes as they are) to `path` (atomically), or a UsageError
    saying why it cannot."""
    temporary = f"{path}.tmp.{os.getpid()}"
    try:
        if isinstance(content, bytes):
            with open(temporary, "wb") as stream:
                stream.write(content)
        else:
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
