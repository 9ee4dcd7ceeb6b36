"""The regions' spans (regions.py, read from the bytes by the C core's pyspans.c) are the
lines Python's own syntax tree gives each function, loop and block: on every file of this
interpreter's standard library (its tests included: f-strings, patterns, decorators and
every oddity of the grammar), on names Python normalises or decodes from a coding comment,
and with the spans that hold no measured line left out. A text that is not Python that ran
gives none."""
import ast
import os
import sysconfig
import warnings

import pytest

from triscope import regions

LOOPS = {ast.For: "for", ast.AsyncFor: "async for", ast.While: "while"}
BLOCKS = tuple(getattr(ast, name) for name in ("If", "With", "AsyncWith", "Try", "TryStar",
                                               "Match") if hasattr(ast, name))


def tree_spans(data: bytes):
    """The spans as the syntax tree gives them (what regions.py read from it before), or
    None when the bytes do not parse."""
    try:
        with warnings.catch_warnings():  # the library's invalid escapes, said as it parses
            warnings.simplefilter("ignore")
            tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    found = []
    waiting = [tree]
    while waiting:  # statements sit only in these lists, never inside an expression
        node = waiting.pop()
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None)
            waiting.extend(children if isinstance(children, list) else ())
        if not isinstance(node, ast.stmt):
            continue
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append((first, node.end_lineno, "function", node.name))
        elif type(node) in LOOPS:
            found.append((first, node.end_lineno, "loop", LOOPS[type(node)]))
        elif isinstance(node, BLOCKS):
            found.append((first, node.end_lineno, "block", type(node).__name__.lower()))
    return sorted(found)


def standard_library_files():
    top = sysconfig.get_path("stdlib")
    for folder, subfolders, names in os.walk(top):
        subfolders[:] = sorted(name for name in subfolders
                               if name not in ("site-packages", "dist-packages"))
        yield from (os.path.join(folder, name) for name in sorted(names)
                    if name.endswith(".py"))


def test_spans_are_the_syntax_trees_on_the_standard_library():
    compared, differing = 0, []
    for path in standard_library_files():
        with open(path, "rb") as stream:
            data = stream.read()
        expected = tree_spans(data)
        if expected is None:
            continue  # the test suite's files of bad syntax
        compared += 1
        if regions.spans(data) != expected:
            differing.append(path)
    assert compared > 500, compared  # the library was found
    assert differing == []


@pytest.mark.parametrize("source", [
    # Python normalises a name (NFKC): the ligature "ﬁ" is "fi".
    "def ﬁx():\n    pass\n".encode("utf-8"),
    # A name in the encoding a coding comment names.
    "# -*- coding: latin-1 -*-\ndef café():\n    for x in y:\n        pass\n".encode("latin-1"),
    # A byte order mark, \r\n and \r line ends.
    b"\xef\xbb\xbfdef f():\r\n    if a:\r        pass\r\nx = 1\r\n",
    # f-strings holding what would end or open a statement.
    b'def f(d):\n    return f"{d[\'k\']!r:>{w}} {{if x:}}" + rf"\\{d}"\nwhile 1:\n    pass\n',
], ids=["normalised", "latin-1", "line-ends", "f-strings"])
def test_spans_are_the_syntax_trees_on_names_and_line_ends(source):
    assert regions.spans(source) == tree_spans(source) != []


def test_only_spans_holding_a_measured_line_are_kept():
    source = (b"def f():\n"          # 1
              b"    for x in y:\n"   # 2
              b"        pass\n"      # 3
              b"    if z:\n"         # 4
              b"        pass\n"      # 5
              b"def g():\n"          # 6
              b"    pass\n")         # 7
    assert regions.spans(source, [3]) == [(1, 5, "function", "f"), (2, 3, "loop", "for")]
    assert regions.spans(source, [5, 7]) == [(1, 5, "function", "f"), (4, 5, "block", "if"),
                                              (6, 7, "function", "g")]
    assert regions.spans(source, [8]) == []


@pytest.mark.parametrize("source", [b"def f():\n    pass\n\0", b"x = 'open\n", b"f(1,\n",
                                    b"x = 1)\n", b"x = f'{a'\n"],
                         ids=["NUL", "open string", "open bracket", "closing bracket",
                              "open field"])
def test_text_that_is_not_python_has_no_spans(source):
    assert tree_spans(source) is None  # Python refuses it too
    assert regions.spans(source) is None


def test_spans_of_mutated_texts_never_break_the_reading():
    """A profile may name any file (docs/ARCHITECTURE.md, "Untrusted inputs"): texts cut and
    spliced where Python's tokenizer is most particular (quotes, braces, backslashes, line
    ends, indentation) are read without a fault (the sanitizer build runs this too), and
    every span found lies within the text's lines."""
    import random
    seed_text = open(__file__, "rb").read() + (
        b'@d\nasync def f(x):\n    """doc"""\n    async for a in b:\n        if f"{a!r:>{w}}":\n'
        b"            pass\n        elif x: y = {1: (2,\n 3)}\n    try:\n        pass\n"
        b"    except* E:\n        pass\nmatch p:\n    case [1, *r] if r:\n        pass\n")
    alphabet = b"'\"{}()[]\\\n\r\t\f #:@fbrtu=!*xyz"
    rng = random.Random(20261128)
    for _ in range(3000):
        text = bytearray(seed_text[:rng.randrange(len(seed_text) + 1)])
        for _ in range(rng.randint(1, 12)):
            at = rng.randrange(len(text) + 1)
            if rng.random() < 0.5:
                text[at:at] = bytes([rng.choice(alphabet)])
            elif at < len(text):
                del text[at]
        found = regions.spans(bytes(text))
        lines = text.count(b"\n") + text.count(b"\r") + 1
        assert found is None or all(1 <= first <= last <= lines
                                    for first, last, _, _ in found), bytes(text)
