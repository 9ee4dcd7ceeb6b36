"""The code regions an optimisation proposal can cover, from a profiled file's statements.

Shared by `triscope optimize` and the HTML report (reports/html.py puts the spans of each
verified file into the page, so the viewer proposes the same region the command does). A
profile is untrusted input (docs/ARCHITECTURE.md, "Untrusted inputs"): a path in it may name
any file, so a file is read only while it is a regular file whose SHA-256 is the one the
profile recorded, and never more than MAX_SOURCE_BYTES of it.

A span is (first, last, kind, name): a `function` (decorators included), a `loop` (for,
async for, while) or a `block` (if, with, try, match), with the lines Python's syntax tree
gives the statement. The C core reads them from the file's bytes (pyspans.c), where parsing
the file took about 0.2 ms a KB and loading the syntax tree's module 1.4 ms at the end of
every run with a page (docs/ARCHITECTURE.md, "AI optimization"). For a line, `propose` picks the
region Scalene users know as 💥: the whole loop nest around the line inside its function,
else the function, else the innermost block around it at module level.
"""

import bisect
import os
import stat

# The C core's SHA-256, the one that recorded the hash: hashlib would load OpenSSL for it at
# the end of every run whose page has regions (docs/PERFORMANCE.md, start-up + exit).
from triscope import _native, source

# A source file larger than this is not read: no profiled program has one, and a forged
# profile must not make a tool read a disk image.
MAX_SOURCE_BYTES = 64 << 20


def verified_bytes(path: str, recorded, limit: int = MAX_SOURCE_BYTES):
    """The bytes of `path` when it is a regular file of at most `limit` bytes whose SHA-256
    is `recorded`; else (None, the reason it is not read)."""
    if not isinstance(recorded, str):
        return None, "the profile records no hash of it"
    try:
        # O_NONBLOCK: a fifo put at the path must not hang the open; O_NOCTTY: nor may a tty
        # become ours.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except (OSError, ValueError):
        return None, "it cannot be read"
    with open(descriptor, "rb") as stream:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            return None, "it is not a regular file"
        if status.st_size > limit:
            return None, "it is too large"
        data = stream.read(limit + 1)
    if _native.sha256_hex(data) != recorded:
        return None, "its content is not the one the profile recorded (sha256)"
    return data, None


def lines(data: bytes) -> tuple:
    """The file's lines, numbered as Python numbers them (only \n, \r\n and \r end one)."""
    text = source.decode(data)
    if text is None:
        text = data.decode("utf-8", errors="replace")
    found = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if found[-1] == "":  # the last line's own end
        found.pop()
    return tuple(found)


def file_spans(path: str, recorded, measured, limit: int = MAX_SOURCE_BYTES):
    """(the spans of the file that hold a measured line, the bytes read); the spans are None
    when the file is not read (see verified_bytes) or is not Python that ran."""
    data, _ = verified_bytes(path, recorded, limit)
    if data is None:
        return None, 0
    return spans(data, sorted(measured)), len(data)


def spans(data: bytes, measured=None):
    """Every function, loop and block of the file's bytes as (first, last, kind, name), in
    order; given the sorted line numbers `measured`, only those that hold one of them. None
    when the bytes are not Python that ran (the C core's reading refuses them)."""
    found = _native.python_spans(data)
    if found is None:
        return None
    kept = []
    for first, last, kind, name in found:
        if measured is not None:
            at = bisect.bisect_left(measured, first)
            if at == len(measured) or measured[at] > last:
                continue
        if kind == "function":
            name = _identifier(name, data)
        kept.append((first, last, kind, name))
    kept.sort()
    return kept


def _identifier(written: bytes, data: bytes) -> str:
    """A function's name as the syntax tree has it, from the bytes it is written in: the
    file's text, normalised (NFKC) as Python normalises a name that is not ASCII."""
    if written.isascii():
        return written.decode("ascii")
    import unicodedata
    text = written.decode(source.encoding(data) or "utf-8", errors="replace")
    return unicodedata.normalize("NFKC", text)


def propose(file_spans, lineno: int):
    """The region for a hot line (first, last, kind, name), or None when no span holds it:
    the outermost loop around the line within its innermost function (the whole nest, which
    an optimisation usually rewrites at once), else that function, else the innermost block
    around the line."""
    around = [span for span in file_spans if span[0] <= lineno <= span[1]]
    functions = [span for span in around if span[2] == "function"]
    inside = max(functions, key=lambda span: (span[0], -span[1]), default=None)
    loops = [span for span in around if span[2] == "loop"
             and (inside is None or inside[0] <= span[0] <= span[1] <= inside[1])]
    if loops:
        return min(loops, key=lambda span: (span[0], -span[1]))
    if inside is not None:
        return inside
    blocks = [span for span in around if span[2] == "block"]
    return max(blocks, key=lambda span: (span[0], -span[1]), default=None)


def title(span) -> str:
    """How a region is named in a prompt and a heading."""
    first, _, kind, name = span
    if kind == "function":
        return f"function {name}"
    if kind == "loop":
        return f"{name} loop at line {first}"
    return f"{name} block at line {first}"
