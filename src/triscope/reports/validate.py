"""Checking a profile against docs/profile.schema.json, with the standard library only.

The schema file itself is the rule: it is installed beside this module and read here, so the
readers (view, diff, merge, export, optimize) and the writers (merge) reject exactly what
the schema rejects, and an edit of the schema changes both at once. Only the keywords the
schema uses are understood: a schema that uses another one fails loudly on first use
(and in tests/test_hostile_inputs.py), rather than being half-checked.

Two choices are stricter than JSON Schema, and are what triscope writes: an "integer" is a
JSON number without fraction or exponent (1.0 is not one), and a boolean is never a number.
One rule is beyond what a schema can say, and check() adds it: every frame index of a stack
names an entry of the profile's `stack_frames` (docs/PROFILE_FORMAT.md).
"""

import functools
import importlib.resources
import json
import math
import re

SCHEMA_NAME = "profile.schema.json"
# Words that only describe: they constrain nothing.
ANNOTATIONS = {"$schema", "$id", "title", "description", "$defs", "$comment"}
TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class Invalid(ValueError):
    """What a profile breaks, and where: `where` is its JSON pointer, built on the way up."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message, self.where = message, []

    def __str__(self):
        pointer = "".join("/" + str(step) for step in reversed(self.where))
        return f"at {pointer or '/'}: {self.message}"


def _is_number(value) -> bool:
    return TYPES["number"](value)


def _same(a, b) -> bool:
    # JSON equality: true is not 1, and 1 is 1.0.
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def _shown(value) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        return "an array"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _descend(check, value, step):
    try:
        check(value)
    except Invalid as error:
        error.where.append(step)
        raise


class _Compiler:
    """Turns schema nodes into checking functions (value → None, or Invalid raised)."""

    def __init__(self, schema: dict):
        self.defs = schema.get("$defs", {})
        self.compiled = {}  # $ref → its check, filled lazily so references may recurse

    def ref(self, target: str):
        prefix = "#/$defs/"
        if not target.startswith(prefix) or target[len(prefix):] not in self.defs:
            raise ValueError(f"the profile schema has an unknown $ref {target!r}")
        name = target[len(prefix):]
        if name not in self.compiled:
            self.compiled[name] = None  # being compiled: a recursive use looks it up later
            self.compiled[name] = self.node(self.defs[name])
        return lambda value: self.compiled[name](value)

    def node(self, schema):
        if schema is False:
            def never(value):
                raise Invalid("no value is allowed here")
            return never
        if schema is True:
            return lambda value: None
        unknown = set(schema) - ANNOTATIONS - set(KEYWORDS)
        if unknown:
            raise ValueError(f"the profile schema uses keywords this reader does not "
                             f"check: {sorted(unknown)}")
        checks = [KEYWORDS[word](self, schema[word], schema)
                  for word in KEYWORDS if word in schema]
        checks = [check for check in checks if check is not None]
        if len(checks) == 1:  # the common case, one call less per value
            return checks[0]

        def all_of(value):
            for check in checks:
                check(value)
        return all_of


def _type(compiler, names, schema):
    names = [names] if isinstance(names, str) else names
    tests = [TYPES[name] for name in names]
    first = tests[0]

    def check(value):
        if not first(value) and not any(test(value) for test in tests[1:]):
            raise Invalid(f"{_shown(value)} is not of type {' or '.join(names)}")
    return check


def _const(compiler, expected, schema):
    def check(value):
        if not _same(value, expected):
            raise Invalid(f"{_shown(value)} is not {_shown(expected)}")
    return check


def _enum(compiler, allowed, schema):
    def check(value):
        if not any(_same(value, option) for option in allowed):
            raise Invalid(f"{_shown(value)} is not one of {_shown(allowed)}")
    return check


def _minimum(compiler, bound, schema):
    def check(value):
        if _is_number(value) and not value >= bound:
            raise Invalid(f"{_shown(value)} is below the minimum {bound}")
    return check


def _maximum(compiler, bound, schema):
    def check(value):
        if _is_number(value) and not value <= bound:
            raise Invalid(f"{_shown(value)} is above the maximum {bound}")
    return check


def _required(compiler, names, schema):
    def check(value):
        if isinstance(value, dict):
            for name in names:
                if name not in value:
                    raise Invalid(f"{name!r} is missing")
    return check


def _properties(compiler, properties, schema):
    checks = {name: compiler.node(sub) for name, sub in properties.items()}

    def check(value):
        if isinstance(value, dict):
            for name, sub in checks.items():
                if name in value:
                    _descend(sub, value[name], name)
    return check


def _additional_properties(compiler, sub, schema):
    known = set(schema.get("properties", {}))
    sub = compiler.node(sub)

    def check(value):
        if isinstance(value, dict):
            for name, item in value.items():
                if name not in known:
                    _descend(sub, item, name)
    return check


def _prefix_items(compiler, subs, schema):
    subs = [compiler.node(sub) for sub in subs]

    def check(value):
        if isinstance(value, list):
            for index, (sub, item) in enumerate(zip(subs, value)):
                try:
                    sub(item)
                except Invalid as error:
                    error.where.append(index)
                    raise
    return check


def _items(compiler, sub, schema):
    skip = len(schema.get("prefixItems", ()))
    sub = compiler.node(sub)

    def check(value):
        if isinstance(value, list) and len(value) > skip:
            for index in range(skip, len(value)):
                try:
                    sub(value[index])
                except Invalid as error:
                    error.where.append(index)
                    raise
    return check


def _min_items(compiler, count, schema):
    def check(value):
        if isinstance(value, list) and len(value) < count:
            raise Invalid(f"{len(value)} item(s) where at least {count} are needed")
    return check


def _min_properties(compiler, count, schema):
    def check(value):
        if isinstance(value, dict) and len(value) < count:
            raise Invalid(f"{len(value)} member(s) where at least {count} are needed")
    return check


def _pattern(compiler, expression, schema):
    search = re.compile(expression).search

    def check(value):
        if isinstance(value, str) and not search(value):
            raise Invalid(f"{_shown(value)} does not match {expression}")
    return check


def _ref(compiler, target, schema):
    return compiler.ref(target)


def _if(compiler, condition, schema):
    """`then` for a value that passes `condition`, `else` for one that does not (either
    absent: anything)."""
    condition = compiler.node(condition)
    then, otherwise = (compiler.node(schema.get(word, True)) for word in ("then", "else"))

    def check(value):
        try:
            condition(value)
        except Invalid:
            otherwise(value)
        else:
            then(value)
    return check


def _branch(compiler, sub, schema):
    return None  # checked by its `if`; without one, JSON Schema ignores it


# Checked in this order: the type first, so a later check meets the kind of value it expects.
KEYWORDS = {
    "type": _type, "const": _const, "enum": _enum, "minimum": _minimum, "maximum": _maximum,
    "required": _required, "properties": _properties,
    "additionalProperties": _additional_properties, "prefixItems": _prefix_items,
    "items": _items, "minItems": _min_items, "minProperties": _min_properties,
    "pattern": _pattern, "$ref": _ref, "if": _if, "then": _branch, "else": _branch,
}


@functools.lru_cache(maxsize=1)
def _profile_check():
    text = importlib.resources.files(__package__).joinpath(SCHEMA_NAME).read_text("utf-8")
    schema = json.loads(text)
    return _Compiler(schema).node(schema)


def check(profile) -> None:
    """Raises Invalid (a ValueError) when `profile` breaks docs/profile.schema.json, or a
    stack names a frame its `stack_frames` lacks."""
    _profile_check()(profile)
    _check_frame_indices(profile)


def _check_frame_indices(profile: dict) -> None:
    """Every stack's frames, where they are indices (the schema has checked that they are
    non-negative integers when the table is there), name entries of `stack_frames`."""
    table = profile.get("stack_frames")
    if table is None:
        return
    size = len(table)
    for number, stack in enumerate(profile["stacks"]):
        for depth, index in enumerate(stack["frames"]):
            if index >= size:
                error = Invalid(f"frame index {index} is not in stack_frames, which has {size} "
                                f"frame{'s' if size != 1 else ''}")
                error.where += [depth, "frames", number, "stacks"]
                raise error
