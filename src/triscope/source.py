"""A profiled file's text, decoded from its bytes as Python decodes source: in the encoding
its coding comment names (on its first or second line), else UTF-8, a UTF-8 byte order mark
dropped.

The C writer reads each reported file's bytes once, hashes them, and hands them here for
the text it quotes in each line's `source` (docs/PROFILE_FORMAT.md): the encoding rules are
Python's own (tokenize), never a copy of them. It runs inside the profile writer,
checkpoints included: it reads no file and never raises.
"""

import io
import itertools


def decode(data: bytes):
    """`data`'s text, bytes the encoding cannot decode as U+FFFD; None when Python would not
    run the file either (an unknown encoding, one that is not a text encoding, a coding
    comment contradicting a byte order mark): the writer then quotes the bytes as they are."""
    name = encoding(data)
    try:
        return None if name is None else data.decode(name, errors="replace")
    except (LookupError, ValueError):  # a codec, but not a text encoding
        return None


def encoding(data: bytes):
    """The encoding Python decodes `data` in as source; None for an unknown one or a coding
    comment contradicting a byte order mark."""
    try:
        return _encoding(data)
    except (SyntaxError, LookupError, ValueError):
        return None


# Bytes above 0x7f read as "?": enough to find a coding comment written in ASCII.
_ASCII_ONLY = bytes(range(128)) + b"?" * 128
_BOM = b"\xef\xbb\xbf"


def _encoding(data: bytes) -> str:
    # A coding comment holds the word "coding" on one of the first two lines. Without it
    # the answer below is UTF-8, unless a byte order mark comes with lines that are not
    # UTF-8 (tokenize's SyntaxError): then importing tokenize (with re and enum: 4 ms, at
    # the exit of every run that reports a file) is not needed.
    head = b"".join(itertools.islice(io.BytesIO(data), 2))
    if b"coding" not in head:
        if not data.startswith(_BOM):
            return "utf-8"
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return "utf-8-sig"
    import tokenize  # here: the launcher imports this module before the program starts
    try:
        return tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except SyntaxError:
        if data.startswith(_BOM):
            raise
    # tokenize wants the coding comment's own line in UTF-8; Python's compiler does not, so
    # a comment may go on in the encoding it names ("# coding: latin-1 (c) Frédéric").
    return tokenize.detect_encoding(io.BytesIO(head.translate(_ASCII_ONLY)).readline)[0]
