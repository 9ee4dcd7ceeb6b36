"""Reading a profile fast gives the same answers as reading it slowly, to the message.

common.parse has two shortcuts: it leaves out json.loads's number hooks when no number in the
text can be out of range (common._may_be_out_of_range), and it checks the schema with
predicates, running the raising check only when one says False (reports/validate.py). The
reference is the slow reader: the hooks always, then the check alone
(validate.check(..., fast=False)). A real profile written by the CLI is damaged at random
with a fixed seed (wrong types, booleans for numbers, 1.0 for integers, missing and extra
members, numbers out of range or written as no writer does, NaN and Infinity, duplicate
keys, deep nesting) and both readers must give the same verdict and the same error line.
"""
import contextlib
import copy
import functools
import io
import json
import random
import re
from unittest import mock

import pytest

from conftest import profile_workload
from triscope import cli
from triscope.options import UsageError
from triscope.reports import common, validate

SEED = 20
CASES = 700
SLOW_CHECK = functools.partial(validate.check, fast=False)


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    """A real profile with lines, functions, memory, leaks and stacks, as the CLI wrote it."""
    run = profile_workload(tmp_path_factory.mktemp("validate"), "mem_leak.py", "1",
                           options=["--stacks", "--cli"])
    assert run.profile["stacks"] and run.profile["files"], "the profile should be full"
    return run.profile


def verdict(content: str, fast: bool) -> str:
    """'accepted', or the error line common.parse gives; fast=False: the slow reader."""
    with contextlib.ExitStack() as stack:
        if not fast:
            stack.enter_context(mock.patch.object(common, "_may_be_out_of_range",
                                                  lambda content: True))
            stack.enter_context(mock.patch.object(validate, "check", SLOW_CHECK))
        try:
            common.parse(content, "p.json")
        except UsageError as error:
            return str(error)
    return "accepted"


# ==== The corpus ====

# Values put in place of another, or beside it under a new key.
PROBES = [
    -1, -0.5, 0, 1, 2, 0.0, 1.0, 3.0, 0.5, 1.5, 3.25, 2 ** 40, 2 ** 63, -2 ** 63, 2 ** 63 + 1,
    10 ** 30, 1e15, 1e16, -1e16, 1.5e300, float("nan"), float("inf"), float("-inf"),
    True, False, None, "", "x", "process", "0" * 64, "A" * 64, "e3e5" * 16,
    [], {}, [0.5], [[0.5]], [[0.5, 1.5]], [[0.5, -1]], [["a", "b", 1]], [["a", "b"]],
    [["a", "b", 1.0]], [["a", "b", -1]], [["a", "b", 1, 2]], {"a": 1}, {"a": 1e300},
    [1, True], [2 ** 70], ["x = [1e300, 12345678901234567890]"], {"count": 1, "reasons": []},
]
# Number literals as no writer writes them, put in place of one in the text.
LITERALS = [
    "1e5", "1E+5", "1e-5", "-0", "0.0", "1.0", "-1", "1e16", "1E400", "-1e400", "1.5e+300",
    "12345678901234567890", "9223372036854775807", "9223372036854775808",
    "-9223372036854775809", "1000000000000000.5", "999999999999999.9", "1" + "0" * 4400,
    "0.30000000000000004", "NaN", "Infinity", "-Infinity", "1e999999999999999999",
]


def paths_of(value, prefix=()):
    """Every path (keys and indexes) inside a JSON value, a few items of each list, not
    inside what an earlier damage nested."""
    yield prefix
    if len(prefix) > 12:
        return
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths_of(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value[:4]):
            yield from paths_of(child, prefix + (index,))


def nested(depth):
    value = 1
    for _ in range(depth):
        value = [value] if depth % 2 else {"a": value}
    return value


def probe(rng):
    """One of PROBES, a copy: a later damage may change what is inside it (a list or an
    object), and PROBES itself must stay as written (changed, one probe came to hold
    itself, and the corpus could not be written: 'Circular reference detected')."""
    return copy.deepcopy(rng.choice(PROBES))


def damaged(rng, profile):
    """The text of `profile` with one to three pieces of damage."""
    profile = copy.deepcopy(profile)
    text_damage = []
    for _ in range(rng.randint(1, 3)):
        paths = [path for path in paths_of(profile) if path]
        path = rng.choice(paths)
        parent = profile
        for key in path[:-1]:
            parent = parent[key]
        old, kind = parent[path[-1]], rng.randrange(8)
        if kind == 0:  # removed (a required member, a list item)
            del parent[path[-1]]
        elif kind == 1 and isinstance(parent, dict):  # a member no one listed
            parent[rng.choice(["extra", "zz", path[-1] + "_"])] = probe(rng)
        elif kind == 2 and type(old) in (int, float):  # a boolean, an integer as a float
            parent[path[-1]] = rng.choice([True, False, float(old), int(old), -old])
        elif kind == 3:
            parent[path[-1]] = nested(rng.choice([2, 40, 500]))
        elif kind == 4:
            text_damage.append(rng.choice(["literal", "literal", "duplicate", "string", "deep"]))
        else:
            parent[path[-1]] = probe(rng)
    text = json.dumps(profile, allow_nan=True)
    for damage in text_damage:
        text = damaged_text(rng, text, damage)
    return text


NUMBER = re.compile(r'(?<=[:,\[] )-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?=[,\]}])')


def damaged_text(rng, text, damage):
    numbers = list(NUMBER.finditer(text))
    if damage in ("literal", "deep") and numbers:  # a number written another way, or nested
        number = rng.choice(numbers)
        new = rng.choice(LITERALS) if damage == "literal" else "[" * 5000 + "1" + "]" * 5000
        return text[:number.start()] + new + text[number.end():]
    elif damage == "duplicate":  # a member given twice: json.loads keeps the last
        at = rng.choice([m.end() for m in re.finditer(r"\{(?=\")", text)] or [1])
        key = rng.choice(["pid", "samples", "lineno", "cpu_s", "seconds", "zz"])
        return text[:at] + f'"{key}": {rng.choice(LITERALS)}, ' + text[at:]
    elif damage == "string":  # a string that looks like numbers
        return text.replace('"source": "', '"source": "[1e300, 12345678901234567890]: 1e5 ', 1)
    return text


@pytest.fixture(scope="module")
def corpus(profile):
    rng = random.Random(SEED)
    as_written = repr(PROBES)
    cases = [damaged(rng, profile) for _ in range(CASES)]
    assert repr(PROBES) == as_written, "a damage changed a probe"
    return cases


# ==== The tests ====

def test_the_fast_reader_answers_as_the_slow_one(corpus):
    """Each damaged profile: the same verdict, the same message, with its JSON pointer."""
    outcomes = {"accepted": 0, "number": 0, "schema": 0, "other": 0}
    for content in corpus:
        fast, slow = verdict(content, fast=True), verdict(content, fast=False)
        assert fast == slow, content[:3000]
        outcomes["accepted" if fast == "accepted" else "number" if "out of range" in fast
                 else "schema" if "docs/profile.schema.json" in fast else "other"] += 1
    # The corpus reaches every kind of answer, each many times.
    assert all(count >= 20 for count in outcomes.values()), outcomes


def test_the_predicates_are_never_looser_than_the_checks(corpus):
    """Where a predicate says True the check passes (the reverse may fail: a NaN or a
    subclass goes to the check); on this corpus they agree both ways."""
    holds, _ = validate._profile_check()
    stricter = 0
    for content in corpus:
        try:
            profile = json.loads(content)
        except (ValueError, RecursionError):
            continue
        try:
            SLOW_CHECK(profile)
            valid = True
        except validate.Invalid:
            valid = False
        except RecursionError:
            continue
        if holds(profile):
            assert valid, content[:3000]
        else:
            stricter += valid
    assert stricter == 0  # else a valid profile would be checked twice: slow


def test_a_real_profile_takes_the_fast_path(profile, tmp_path):
    """Neither shortcut falls back on a profile the CLI wrote, nor on a merge of it: else
    reading stays correct but slow, and no other test would notice."""
    holds, _ = validate._profile_check()
    assert holds(profile)
    assert not common._may_be_out_of_range(json.dumps(profile))
    assert not common._may_be_out_of_range(json.dumps(profile, indent=2))
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(json.dumps({**profile, "pid": len(name) + ord(name[0])}))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        status = cli.main(["merge", "-o", str(tmp_path / "m.json"), str(tmp_path / "a.json"),
                           str(tmp_path / "b.json")])
    assert status in (0, None)
    merged = (tmp_path / "m.json").read_text()
    assert holds(json.loads(merged)) and not common._may_be_out_of_range(merged)
    assert "by_process" in merged  # what only a merge writes was tested too
    profile = copy.deepcopy(profile)
    for entry in profile["files"].values():  # digits that only look like numbers, in strings
        entry["sha256"] = "03e5" * 16
        entry["lines"][0]["source"] = "x = 1e300 * 12345678901234567890"
    assert holds(profile)
    assert not common._may_be_out_of_range(json.dumps(profile))


def test_with_no_suspicion_the_number_hooks_refuse_nothing():
    """The promise of _may_be_out_of_range: where it suspects nothing, json.loads with the
    number hooks gives what json.loads without them does (a value, or the same error), on
    random JSON-like text: numbers of every length and form, inside strings too, damaged."""
    rng = random.Random(SEED)

    def number():
        text = rng.choice(["", "-"]) + rng.choice("123456789")
        text += "".join(rng.choices("0123456789", k=rng.choice([0, 1, 14, 15, 16, 18, 19, 70])))
        if rng.random() < 0.5:
            text += "." + "".join(rng.choices("0123456789", k=rng.choice([1, 3, 17, 70])))
        if rng.random() < 0.5:
            exponent = rng.choice([0, 5, 15, 16, 400])
            text += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(exponent)
        return text

    def string():
        parts = [number(), " ", ", ", ": ", "[", "x", "3e5", "-", '\\"', "\u00e9"]
        return '"' + "".join(rng.choices(parts, k=rng.randint(0, 5))) + '"'

    def value(depth=0):
        kind = rng.random()
        if kind < 0.4 or depth > 3:
            return number()
        if kind < 0.6:
            return string()
        if kind < 0.8:
            separator = rng.choice([", ", ",", " ,\n"])
            return "[" + separator.join(value(depth + 1) for _ in range(rng.randint(0, 4))) + "]"
        return "{" + ", ".join(string() + rng.choice([": ", ":", " :\t"]) + value(depth + 1)
                               for _ in range(rng.randint(0, 4))) + "}"

    def loads(text, hooks):
        extra = dict(parse_float=common._parse_float, parse_int=common._parse_int) if hooks \
            else {}
        try:
            return json.loads(text, parse_constant=common._parse_constant, **extra)
        except (ValueError, RecursionError) as error:
            return str(error)

    suspected = trusted = 0
    for _ in range(20_000):
        text = rng.choice(["", " ", "\n"]) + value()
        if rng.random() < 0.2:
            at = rng.randrange(len(text) + 1)
            text = text[:at] + rng.choice(["", "x", ",", '"', " 1e999"]) + text[at + 1:]
        if common._may_be_out_of_range(text):
            suspected += 1
        else:
            trusted += 1
            assert loads(text, hooks=True) == loads(text, hooks=False), text[:3000]
    assert suspected > 2000 and trusted > 2000, (suspected, trusted)


SCHEMA = {
    "type": "object",
    "required": ["a"],
    "minProperties": 2,
    "additionalProperties": {"type": "integer", "minimum": 0},
    "properties": {
        "a": {"const": "k"},
        "b": {"enum": ["process", "device", None]},
        "c": {"type": ["string", "null"], "pattern": "^[0-9a-f]{4}$"},
        "d": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}],
              "items": False, "minItems": 2},
        "e": {"type": ["object", "null"], "required": ["x"],
              "properties": {"x": {"$ref": "#/$defs/fraction"}}},
        "f": {"type": "array", "items": {"$ref": "#/$defs/fraction"}},
        "g": {"$ref": "#/$defs/shape", "required": ["y"], "properties": {"y": {"type": "string"}}},
        "h": {"minimum": 1, "maximum": 2},
        "i": {"type": "array", "items": {"type": "array", "items": {"type": "number"}},
              "minItems": 1},
        "j": False,
        "k": {"required": ["x"], "properties": {"x": {"type": "integer"}}},
        "l": {"items": {"type": "integer"}},
    },
    "$defs": {
        "fraction": {"type": "number", "minimum": 0, "maximum": 1},
        "shape": {"type": "object", "required": ["z"], "properties": {"z": {"type": "boolean"},
                                                                      "y": {"minimum": 0}}},
    },
}
VALUES = [None, True, False, 0, 1, -1, 2, 0.5, 1.0, 1.5, 3, float("nan"), float("inf"), "",
          "k", "x", "abcd", "ABCD", "process", [], [0.5], [0.5, 2], ["s", 1], ["s", 1.0],
          ["s", 1, 2], ["s"], [[1, 0.5]], [[True]], [[]], {}, {"x": 0.5}, {"x": 2},
          {"z": True, "y": "s"}, {"z": 1, "y": "s"}, {"z": True}, {"y": "s"}]


class _Dict(dict):
    pass


class _List(list):
    pass


# Not what json.loads makes: the predicates may refuse them where the checks accept.
VALUES += [_Dict(x=0.5), _Dict(x=2), _Dict(), _List([0.5]), _List([2]), _List(["s", 1])]


def test_every_keyword_gives_the_check_s_verdict():
    """A small schema that uses every keyword the reader knows, in the shapes the fast path
    takes apart (a $ref merged into an object, plain items, prefixItems, a type list with
    object keywords); each of its members given every value, and two members at once."""
    check = validate._Compiler(SCHEMA).node(SCHEMA)
    holds = validate._Predicates(SCHEMA).node(SCHEMA)
    rng = random.Random(SEED)
    objects = [{"a": "k", name: value} for name in [*SCHEMA["properties"], "other"]
               for value in VALUES]
    objects += [{"a": rng.choice(["k"] * 9 + [1]), rng.choice("bcdefghikl"): rng.choice(VALUES),
                 rng.choice("bcdefghikl"): rng.choice(VALUES)} for _ in range(2000)]
    objects += [{}, {"a": "k"}, [], None, {"b": None, "c": None}]
    valid = 0
    for value in objects:
        try:
            check(value)
            expected = True
        except validate.Invalid:
            expected = False
        got = holds(value)
        assert got == expected or (_exotic(value) and not got), value
        valid += expected
    assert 100 < valid < len(objects) - 100, valid


def _exotic(value) -> bool:
    """Whether `value` holds a NaN or a subclass of dict or list."""
    if type(value) in (_Dict, _List) or isinstance(value, float) and value != value:
        return True
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) \
        else ()
    return any(_exotic(item) for item in items)


def test_a_keyword_with_no_predicate_is_tested_by_its_check():
    """A keyword added to KEYWORDS alone still takes part: through its check."""
    def max_length(compiler, count, schema):
        def check(value):
            if isinstance(value, str) and len(value) > count:
                raise validate.Invalid("too long")
        return check
    schema = {"type": "object", "properties": {"s": {"type": "string", "maxLength": 3}}}
    with mock.patch.dict(validate.KEYWORDS, {"maxLength": max_length}):
        holds = validate._Predicates(schema).node(schema)
    assert holds({"s": "abc"}) and not holds({"s": "abcd"}) and not holds({"s": 1})
