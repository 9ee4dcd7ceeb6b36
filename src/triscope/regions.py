"""The code regions an optimisation proposal can cover, from a profiled file's syntax tree.

Shared by `triscope optimize` and the HTML report (reports/html.py puts the spans of each
verified file into the page, so the viewer proposes the same region the command does). A
profile is untrusted input (docs/ARCHITECTURE.md, "Untrusted inputs"): a path in it may name
any file, so a file is read only while it is a regular file whose SHA-256 is the one the
profile recorded, and never more than MAX_SOURCE_BYTES of it.

A span is (first, last, kind, name): a `function` (decorators included), a `loop` (for,
async for, while) or a `block` (if, with, try, match). For a line, `propose` picks the
region Scalene users know as 💥: the whole loop nest around the line inside its function,
else the function, else the innermost block around it at module level.
"""

# The syntax tree's classes from the interpreter's own _ast: the ast module around them
# imports enum and more (2.3 ms at the end of every run whose page has regions) for helpers
# of which this needs only a walk.
import _ast
import bisect
import os
import stat

# The C core's SHA-256, the one that recorded the hash: hashlib would load OpenSSL for it at
# the end of every run whose page has regions (docs/PERFORMANCE.md, start-up + exit).
from triscope import _native, source

# A source file larger than this is not read: no profiled program has one, and a forged
# profile must not make a tool read a disk image.
MAX_SOURCE_BYTES = 64 << 20

LOOPS = (_ast.For, _ast.AsyncFor, _ast.While)
BLOCKS = tuple(getattr(_ast, name) for name in ("If", "With", "AsyncWith", "Try", "TryStar",
                                                "Match") if hasattr(_ast, name))
FUNCTIONS = (_ast.FunctionDef, _ast.AsyncFunctionDef)


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


def parse(data: bytes):
    """The module's syntax tree from the file's bytes (Python's own decoding and line
    numbers, which are the profile's), or None when it does not parse."""
    try:
        return compile(data, "<unknown>", "exec", _ast.PyCF_ONLY_AST)  # as ast.parse does
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


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
    when the file is not read (see verified_bytes) or does not parse."""
    data, _ = verified_bytes(path, recorded, limit)
    tree = None if data is None else parse(data)
    if tree is None:
        return None, 0 if data is None else len(data)
    return spans(tree, sorted(measured)), len(data)


def spans(tree, measured=None) -> list:
    """Every function, loop and block of the tree as (first, last, kind, name); given the
    sorted line numbers `measured`, only those that hold one of them."""
    found = []
    for node, first, last in _statements(tree, measured):
        if isinstance(node, FUNCTIONS):
            found.append((first, last, "function", node.name))
        elif isinstance(node, LOOPS):
            word = {_ast.For: "for", _ast.AsyncFor: "async for", _ast.While: "while"}
            found.append((first, last, "loop", word[type(node)]))
        elif isinstance(node, BLOCKS):
            found.append((first, last, "block", type(node).__name__.lower()))
    found.sort()
    return found


# The fields holding statements. Every span is a statement, and a statement sits only in
# these lists (of statements, except handlers, cases), never inside an expression: walking
# them alone finds every span without visiting the expressions, most of a tree's nodes
# (1,849 nodes against 152 statements in a 9.5 KB benchmark, 3.1 ms against 0.3).
STATEMENT_LISTS = ("body", "orelse", "finalbody", "handlers", "cases")


def _statements(tree, measured=None):
    """(node, first line, last line) of the tree's statements (and handlers and cases) below
    the module, a function's first line its first decorator's. Given the sorted line numbers
    `measured`, a statement holding none of them is left out with all it holds: what it
    holds lies within its lines."""
    waiting = [tree]
    while waiting:
        node = waiting.pop()
        for field in STATEMENT_LISTS:
            children = getattr(node, field, None)
            if not isinstance(children, list):
                continue  # a lambda's or conditional expression's body: no statement
            for child in children:
                if not hasattr(child, "lineno"):  # a match's case: its lines are its body's
                    waiting.append(child)
                    continue
                first = last = child.lineno
                last = getattr(child, "end_lineno", None) or last
                for decorator in getattr(child, "decorator_list", ()):
                    first = min(first, decorator.lineno)
                if measured is not None:
                    at = bisect.bisect_left(measured, first)
                    if at == len(measured) or measured[at] > last:
                        continue
                yield child, first, last
                waiting.append(child)


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
