"""JSON text to and from Python values for what every run does, through the interpreter's
own C codec (`_json`, on which the json package itself runs), without the json package.

Every run reads JSON back (its profile, for the text report and the page), writes JSON into
the HTML page and hands its options to its children as JSON. The json package's decoder and
encoder modules import re for patterns the C codec never uses, and re brings its compiler
and enum: about 4 ms of each run's start and exit where nothing else needs re
(docs/PERFORMANCE.md, "triscope's own costs"). What the package adds around the codec for
the calls made here is small and is written below; the results are json.loads' and
json.dumps' for the same arguments (tests/test_jsoncodec.py compares them on arbitrary
values).

Errors are json's: a value it cannot encode is a TypeError or ValueError, text that is not
JSON a json.JSONDecodeError (a ValueError; the package is imported for it then, as the C
codec itself does to raise it).
"""

import _json

# json.loads' defaults, as the C scanner reads them from its context (array_hook from 3.15
# on; an earlier scanner does not ask for it).
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Parsing:
    strict = True
    object_hook = None
    object_pairs_hook = None
    array_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


_JSON_WHITESPACE = " \t\n\r"


def _refuse(value):
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def _encoder(separators, allow_nan):
    item_separator, key_separator = separators
    return _json.make_encoder({}, _refuse, _json.encode_basestring_ascii, None, key_separator,
                              item_separator, False, False, allow_nan)


# A codec that asks for more than this gives it (a later Python's, as 3.15's scanner came to
# read array_hook) is left alone: the json package itself serves, with the same results.
try:
    _scan = _json.make_scanner(_Parsing())
    _encoder((", ", ": "), True)
    CODEC = True
except (AttributeError, TypeError):
    CODEC = False


def loads(text):
    """json.loads(text), for text as str or as UTF-8 bytes (what the C writer writes)."""
    if not CODEC:
        import json
        return json.loads(text)
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "surrogatepass")
    elif text.startswith("\ufeff"):
        _fail("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
    start = len(text) - len(text.lstrip(_JSON_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as stop:
        _fail("Expecting value", text, stop.value)
    end = len(text) - len(text[end:].lstrip(_JSON_WHITESPACE))
    if end != len(text):
        _fail("Extra data", text, end)
    return value


def _fail(message: str, text: str, position: int):
    import json
    raise json.JSONDecodeError(message, text, position) from None


def dumps(value, separators=(", ", ": "), allow_nan=True) -> str:
    """json.dumps(value, separators=separators, allow_nan=allow_nan), ensure_ascii as its
    default: every character beyond ASCII escaped."""
    if not CODEC:
        import json
        return json.dumps(value, separators=separators, allow_nan=allow_nan)
    if isinstance(value, str):
        return _json.encode_basestring_ascii(value)
    return "".join(_encoder(separators, allow_nan)(value, 0))
