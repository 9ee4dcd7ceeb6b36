"""triscope.jsoncodec against the json package (issue 20, start-up): the same text from the
same values, the same values from the same text, the same errors, for anything JSON can
hold (and floats it cannot, with allow_nan either way)."""
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triscope import jsoncodec

SCALARS = (st.none() | st.booleans() | st.integers() | st.floats()
           | st.text(st.characters(), max_size=20))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=30)
SEPARATORS = st.sampled_from([(", ", ": "), (",", ":")])


def same(a, b) -> bool:
    """Equal, NaN equal to NaN (json.loads gives a new one each time)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    return type(a) is type(b) and a == b


def outcome(function, *args, **kwargs):
    try:
        return "value", function(*args, **kwargs)
    except (TypeError, ValueError) as error:
        return type(error).__name__, str(error)


@settings(max_examples=400, deadline=None)
@given(VALUES, SEPARATORS, st.booleans())
def test_values_are_written_as_json_writes_them(value, separators, allow_nan):
    expected = outcome(json.dumps, value, separators=separators, allow_nan=allow_nan)
    assert outcome(jsoncodec.dumps, value, separators=separators, allow_nan=allow_nan) \
        == expected


@settings(max_examples=400, deadline=None)
@given(VALUES, st.sampled_from(["", " ", "\n", " \t\r\n "]))
def test_text_is_read_as_json_reads_it(value, space):
    text = space + json.dumps(value) + space
    assert same(jsoncodec.loads(text), json.loads(text))
    assert same(jsoncodec.loads(text.encode("utf-8")), json.loads(text.encode("utf-8")))


@pytest.mark.parametrize("text", ["", "  ", "[1,", "{\"a\" 1}", "1 2", "[1] x", "nul",
                                  "\ufeff[]", "[1]\n\n]", "\"\\ud800\"", "[NaN, -Infinity]"])
def test_what_is_not_json_fails_as_json_fails(text):
    expected = outcome(json.loads, text)
    got = outcome(jsoncodec.loads, text)
    if expected[0] == "value":
        assert got[0] == "value" and same(got[1], expected[1])
    else:
        assert got == expected


def test_a_value_json_cannot_hold_is_refused_as_json_refuses_it():
    for value in ({1j: 1}, [object()], {"a": {1, 2}}):
        assert outcome(jsoncodec.dumps, value) == outcome(json.dumps, value)


@pytest.mark.parametrize("codec", [True, False], ids=["C codec", "json package"])
def test_both_ways_give_json_packages_results(monkeypatch, codec):
    """Where the C codec asks for more than jsoncodec gives it (a later Python's), the json
    package serves: the same text and values either way."""
    monkeypatch.setattr(jsoncodec, "CODEC", codec)
    value = {"a": [1, 2.5, None, True, "\u00e9\u6f22</script>"], "b": {"c": float("inf")}}
    for separators in ((", ", ": "), (",", ":")):
        assert jsoncodec.dumps(value, separators=separators) \
            == json.dumps(value, separators=separators)
    assert outcome(jsoncodec.dumps, value, allow_nan=False) \
        == outcome(json.dumps, value, allow_nan=False)
    text = " " + json.dumps(value) + "\n"
    assert same(jsoncodec.loads(text), json.loads(text))
    assert same(jsoncodec.loads(text.encode()), json.loads(text.encode()))
