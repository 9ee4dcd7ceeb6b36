"""The source text a profile quotes: each line's `source` is the line as Python decodes the
file (its coding comment, a UTF-8 byte order mark), whatever the encoding, while the file's
`sha256` stays that of its bytes; decoding it inside a checkpoint is never seen by the
program's own profile function. Plus the decoding itself (triscope.source) on the cookies
Python accepts and the ones it does not.
"""
import hashlib
import subprocess
import sys
import tokenize

import pytest

from conftest import describe, line_entry, load_profile, require_file, run_triscope
from triscope import source

HOT_LOOP = 3_000_000

# Line 4 is hot and holds text no Latin-1 reading can give back.
LEGACY = {
    "cp1251": "# -*- coding: cp1251 -*-\nN = {n}\ntotal = 0\n"
              "for i in range(N): total += len('привет, мир')  # горячая строка\n"
              "print(total)\n",
    "euc_jp": "# coding: euc_jp\nN = {n}\ntotal = 0\n"
              "for i in range(N): total += len('こんにちは')  # 熱い行\n"
              "print(total)\n",
}


def python_line(script, lineno):
    with tokenize.open(script) as f:
        return f.read().splitlines()[lineno - 1]


@pytest.mark.parametrize("encoding", sorted(LEGACY))
def test_line_of_a_file_in_a_legacy_encoding(tmp_path, encoding):
    # GIVEN a program whose hot line holds non-ASCII text in a legacy encoding
    script = tmp_path / f"{encoding}.py"
    script.write_bytes(LEGACY[encoding].format(n=HOT_LOOP).encode(encoding))
    # WHEN it is profiled
    proc = run_triscope(["--cpu", script], tmp_path)
    assert proc.returncode == 0, describe(proc)
    profile = load_profile(tmp_path / "profile.json")
    # THEN the hot line's source is its text as Python reads it, and the hash is the bytes'
    line = line_entry(profile, script, 4)
    assert line is not None, sorted(profile["files"])
    assert line["source"] == python_line(script, 4), line["source"]
    assert require_file(profile, script)["sha256"] == hashlib.sha256(
        script.read_bytes()).hexdigest()


# Busy past the first checkpoint (launch.FIRST_CHECKPOINT_SECONDS), every call it sees
# recorded.
WATCHED = """\
# -*- coding: cp1251 -*-
import sys, time
seen = set()
def watch(frame, event, arg):
    if event == "call":
        seen.add(frame.f_code.co_filename)
sys.setprofile(watch)
end = time.monotonic() + 2.5
spins = 0
while time.monotonic() < end: spins += 1  # крутится
sys.setprofile(None)
print(sorted(seen - {__file__}))
"""


def test_checkpoint_decodes_unseen_by_the_program(tmp_path):
    script = tmp_path / "watched.py"
    script.write_bytes(WATCHED.encode("cp1251"))
    proc = run_triscope(["--cpu", script], tmp_path, timeout=120)
    assert proc.returncode == 0, describe(proc)
    # The checkpoint's decoding ran Python code between two of the program's bytecodes.
    assert proc.stdout.strip() == "[]", proc.stdout
    profile = load_profile(tmp_path / "profile.json")
    assert line_entry(profile, script, 10)["source"] == python_line(script, 10)


# ==== triscope.source.decode ====

@pytest.mark.parametrize("data", [
    b"# -*- coding: latin-1 -*-\nx = 'caf\xe9 \xff'\n",
    b"#!/usr/bin/env python\n# coding=iso-8859-1 x = 'caf\xe9 \xff'\n",
    b"# vim: set fileencoding=ISO_8859_1 :\nx = 'caf\xe9 \xff'\n",
    b"# coding: latin1\nx = 'caf\xe9 \xff'\n",
    b"# coding: iso-8859-15\nx = 'caf\xe9 \xff'\n",
], ids=["emacs", "line2", "vim", "alias", "latin9"])
def test_decode_follows_the_coding_comment(data):
    assert source.decode(data).splitlines()[1].endswith("'café ÿ'")


@pytest.mark.parametrize("data", [
    b"import os\n# coding: latin-1\nx = 'caf\xe9'\n",  # after code: not a coding comment
    b"x = 1\nx = 'caf\xe9'  # coding: latin-1\n",
    b"# -*- coding: utf-8 -*-\nx = 'caf\xe9'\n",
], ids=["after-code", "trailing", "utf8"])
def test_decode_is_utf8_otherwise(data):
    assert source.decode(data).splitlines()[-1].startswith("x = 'caf\ufffd'")


def test_decode_drops_the_byte_order_mark_and_keeps_line_ends():
    assert source.decode(b"\xef\xbb\xbfx = 1\r\ny = 2\n") == "x = 1\r\ny = 2\n"


@pytest.mark.parametrize("data", [
    b"# coding: no-such-codec\nx = 1\n",
    b"# coding: hex\nx = 1\n",
    b"\xef\xbb\xbf# coding: latin-1\nx = 1\n",
], ids=["unknown", "not-text", "bom-mismatch"])
def test_decode_gives_up_where_python_would(data):
    assert source.decode(data) is None
    with pytest.raises((SyntaxError, LookupError, ValueError)):
        compile(data, "<test>", "exec")


# The texts decode() is asked about most: no coding comment. Each must decode as tokenize's
# rule says, and without importing tokenize (4 ms at the exit of a run).
PLAIN_HEADS = [
    b"x = 1\ny = 'caf\xc3\xa9'\n",
    b"\xef\xbb\xbfx = 1\n",
    b"#!/usr/bin/env python\n\"\"\"Doc.\"\"\"\n",
    b"",
    b"x = 'caf\xe9'\n",  # not UTF-8: tokenize's default, each bad byte U+FFFD
    b"# -*- mode: python -*-\nx = 1\n",
    b"\n\nx = 1  # coding: latin-1 on the third line\n",
    b"\xef\xbb\xbf# caf\xe9\nx = 1\n",  # a byte order mark, then not UTF-8: given up
]


def _tokenize_rule(data):
    import io
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except SyntaxError:
        if data.startswith(b"\xef\xbb\xbf"):
            return None
        encoding = "utf-8"
    return data.decode(encoding, errors="replace")


@pytest.mark.parametrize("data", PLAIN_HEADS)
def test_decode_without_a_coding_comment_is_tokenizes_default(data):
    assert source.decode(data) == _tokenize_rule(data)


def test_decode_without_a_coding_comment_imports_nothing(tmp_path):
    probe = ("import sys\nfrom triscope import source\n"
             f"texts = [source.decode(data) for data in {PLAIN_HEADS[:-1]!r}]\n"
             "print(sorted(name for name in ('tokenize', 're', 'enum') if name in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "[]\n", proc.stderr
