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

Each schema node is compiled twice. The check (value → None, or Invalid raised with the JSON
pointer of the first thing broken) is the reference: what it accepts is valid and its
message is the one a reader shows. The predicate (value → bool) is the fast path: a profile
holds some 10^5 values, and a merge reads thousands of profiles, so `check` runs the
predicate and runs the check only where the predicate says False, to find the message (and
accepts the value when the check then passes). A predicate may therefore be stricter than
its check, never looser: it tests exact types (what json.loads makes), where a subclass or a
NaN it only hands to the check. tests/test_validate.py holds the two to the same verdicts.
"""

import functools
import importlib.resources
import itertools
import json
import math
import operator
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


# ==== The fast path: predicates ====

# A type's values as json.loads makes them: exact types, so True is no integer.
EXACT_TYPES = {
    "object": frozenset({dict}), "array": frozenset({list}), "string": frozenset({str}),
    "integer": frozenset({int}), "number": frozenset({int, float}),
    "boolean": frozenset({bool}), "null": frozenset({type(None)}),
}
NUMBERS = EXACT_TYPES["number"]
OBJECT_WORDS = {"type", "required", "properties", "additionalProperties", "minProperties"}
ARRAY_WORDS = {"type", "prefixItems", "items", "minItems"}


def _always(value):
    return True


def _never(value):
    return False


def _exact_types(names):
    names = [names] if isinstance(names, str) else names
    return frozenset().union(*(EXACT_TYPES[name] for name in names))


def _other_type(value, types, kind):
    """The verdict on a value that is not of the exact type `kind` (dict, list) a shape's
    keywords are about: they do not apply to it, so its type decides (a subclass of `kind`
    goes to the check)."""
    return not isinstance(value, kind) and (types is None or type(value) in types)


def _fits(plain, value) -> bool:
    """Whether `value` fits a plain node (see _Predicates.plain)."""
    types, low, high = plain
    return type(value) in types and (low is None or low <= value <= high)


def _all_fit(plain, values: list) -> bool:
    """_fits of every one of `values`, by map() with no Python call per value: the types of
    all, then the bounds of all (float(bound).__le__ and __ge__: exact against an int too,
    and False for NaN)."""
    types, low, high = plain
    return (set(map(type, values)) <= types
            and (low in (None, -math.inf) or all(map(float(low).__le__, values)))
            and (high in (None, math.inf) or all(map(float(high).__ge__, values))))


class _Predicates:
    """Turns schema nodes into predicates (value → bool, True only where the check passes).

    Two shapes are specialised, because a profile is mostly made of them. An object is
    tested by one loop over its members, in which a plain member (a type, and bounds if a
    number: a line's 30 numbers, its source) is tested in place by its exact type and
    bounds, with no call; an array of plain items, by map() over it. The keywords of a node
    that neither shape takes are tested one by one, as the check does."""

    def __init__(self, schema: dict):
        self.defs = schema.get("$defs", {})
        self.compiled = {}  # $ref → its predicate; None while being compiled (a recursion)
        self.checks = _Compiler(schema)  # for a keyword with no predicate of its own

    def ref(self, target: str):
        name = target[len("#/$defs/"):]  # known to exist: the check was compiled first
        if name not in self.compiled:
            self.compiled[name] = None
            self.compiled[name] = self.node(self.defs[name])
        if self.compiled[name] is None:  # a recursive use: looked up when it runs
            return lambda value: self.compiled[name](value)
        return self.compiled[name]

    def resolve(self, schema):
        """`schema` with any node that is only a $ref (and annotations) replaced by its
        target."""
        seen = set()
        while (isinstance(schema, dict) and "$ref" in schema
               and not set(schema) - ANNOTATIONS - {"$ref"} and schema["$ref"] not in seen):
            seen.add(schema["$ref"])
            schema = self.defs[schema["$ref"][len("#/$defs/"):]]
        return schema

    def plain(self, schema):
        """(exact types, minimum, maximum) where `schema` is a type and at most bounds on a
        number, else None. Bounds are None when there are none, else both are set (±inf)
        and are exact as floats (map() compares them as floats)."""
        schema = self.resolve(schema)
        if (not isinstance(schema, dict) or "type" not in schema
                or set(schema) - ANNOTATIONS - {"type", "minimum", "maximum"}):
            return None
        types = _exact_types(schema["type"])
        if "minimum" not in schema and "maximum" not in schema:
            return types, None, None
        low, high = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
        if not types <= NUMBERS or not all(type(bound) in NUMBERS and float(bound) == bound
                                           for bound in (low, high)):
            return None
        return types, low, high

    def node(self, schema):
        if schema is True:
            return _always
        if schema is False:
            return _never
        words = set(schema) - ANNOTATIONS
        if words == {"$ref"}:
            return self.ref(schema["$ref"])
        plain = self.plain(schema)
        if plain is not None:
            types, low, high = plain
            if low is None:
                return lambda value: type(value) in types
            return lambda value: type(value) in types and low <= value <= high
        tests, done = [], set()
        if words & (OBJECT_WORDS - {"type"}) or schema.get("type") == "object":
            tests.append(self.object(schema, done))
        if words & (ARRAY_WORDS - {"type"}) or schema.get("type") == "array":
            tests.append(self.array(schema, done))
        for word in KEYWORDS:
            if word in schema and word not in done:
                make = PREDICATES.get(word)
                if make is not None:
                    tests.append(make(self, schema[word], schema))
                    continue
                check = KEYWORDS[word](self.checks, schema[word], schema)
                if check is not None:  # None: checked by another word (`then` by its `if`)
                    tests.append(_holds(check))
        if len(tests) == 1:
            return tests[0]
        return lambda value: all(test(value) for test in tests)

    def object(self, schema, done: set):
        """The object shape of `schema`, with the object shape of its $ref merged in where
        that is the same test (neither has additionalProperties, the target has nothing
        else): a line's own members and its metrics then take one loop, not two."""
        parts = [schema]
        target = self.resolve({"$ref": schema["$ref"]}) if "$ref" in schema else None
        if (isinstance(target, dict) and "additionalProperties" not in schema
                and not set(target) - ANNOTATIONS - (OBJECT_WORDS - {"additionalProperties"})):
            parts.append(target)
            done.add("$ref")
        done.update(OBJECT_WORDS)
        types = None
        required, properties = set(), {}
        min_properties = 0
        for part in parts:
            if "type" in part:
                part_types = _exact_types(part["type"])
                types = part_types if types is None else types & part_types
            required.update(part.get("required", ()))
            for name, sub in part.get("properties", {}).items():
                properties.setdefault(name, []).append(sub)
            min_properties = max(min_properties, part.get("minProperties", 0))
        plains, others = {}, {}
        for name, subs in properties.items():
            plain = self.plain(subs[0]) if len(subs) == 1 else None
            if plain is not None:
                plains[name] = plain
            else:
                tests = [self.node(sub) for sub in subs]
                others[name] = tests[0] if len(tests) == 1 else (
                    lambda value, tests=tests: all(test(value) for test in tests))
        additional = None
        if schema.get("additionalProperties", True) is not True:
            additional = self.node(schema["additionalProperties"])
        required = frozenset(required)
        if types is not None and dict not in types:
            return _never  # no object passes, and any other value fails the type
        plain_of, other_of = plains.get, others.get

        def test(value):
            if type(value) is not dict:
                return _other_type(value, types, dict)
            if len(value) < min_properties or not value.keys() >= required:
                return False
            for name, item in value.items():
                plain = plain_of(name)
                if plain is None:
                    other = other_of(name, additional)  # a member not listed: additional's
                    if other is not None and not other(item):
                        return False
                else:
                    kinds, low, high = plain
                    if type(item) not in kinds or low is not None and not low <= item <= high:
                        return False
            return True

        def many(values: list) -> bool:
            """test() of every one of `values`, a member at a time rather than an object at
            a time: a profile's lines are thousands of objects of the same members, and a
            member's values are tested by map() over them, with no Python call per value
            (a merge of 100 profiles of 4,000 lines spent 44 % of its time in test())."""
            if set(map(type, values)) != {dict}:
                return all(map(test, values))
            if min_properties and min(map(len, values)) < min_properties:
                return False
            if required and not all(map(required.issubset, values)):
                return False
            for name in set().union(*values):
                try:
                    column = list(map(operator.itemgetter(name), values))
                except KeyError:  # a member some of them lack
                    column = [value[name] for value in values if name in value]
                plain = plain_of(name)
                if plain is None:
                    other = other_of(name, additional)
                    if other is None:
                        continue
                    if not (other.many(column) if hasattr(other, "many")
                            else all(map(other, column))):
                        return False
                    continue
                if not _all_fit(plain, column):
                    return False
            return True
        test.many = many
        return test

    def array(self, schema, done: set):
        """The array shape of `schema`: its length, its first items, the rest; plain items
        (a timeline's numbers) by map(), with no Python call per item."""
        done.update(ARRAY_WORDS)
        types = _exact_types(schema["type"]) if "type" in schema else None
        if types is not None and list not in types:
            return _never
        prefix = [self.plain(sub) or self.node(sub) for sub in schema.get("prefixItems", ())]
        skip, min_items = len(prefix), schema.get("minItems", 0)
        items = schema.get("items", True)
        longest = skip if items is False else math.inf
        plain = self.plain(items) if items not in (True, False) else None
        each = self.node(items) if plain is None and items not in (True, False) else None
        each_many = getattr(each, "many", None)

        def rest_holds(rest: list) -> bool:
            """Whether the items after the first ones all hold: plain ones (a timeline's
            numbers) by map(), with no Python call per item."""
            if plain is not None:
                return _all_fit(plain, rest)
            if each is None:
                return True
            return each_many(rest) if each_many is not None else all(map(each, rest))

        def test(value):
            if type(value) is not list:
                return _other_type(value, types, list)
            if not min_items <= len(value) <= longest:
                return False
            if skip:
                for sub, item in zip(prefix, value):
                    if not (_fits(sub, item) if isinstance(sub, tuple) else sub(item)):
                        return False
                value = value[skip:]
            return rest_holds(value)

        def many(values: list) -> bool:
            """test() of every one of `values`, their items tested together (a profile's
            lines each hold a timeline and a CPU-samples row)."""
            if skip or set(map(type, values)) != {list}:
                return all(map(test, values))
            if values and (min(map(len, values)) < min_items or max(map(len, values)) > longest):
                return False
            return rest_holds(list(itertools.chain.from_iterable(values)))
        test.many = many
        return test


def _holds(check):
    """A check as a predicate: for a keyword no shape takes and PREDICATES does not list."""
    def test(value):
        try:
            check(value)
        except Invalid:
            return False
        return True
    return test


def _type_holds(predicates, names, schema):
    types = _exact_types(names)
    return lambda value: type(value) in types


def _const_holds(predicates, expected, schema):
    return lambda value: _same(value, expected)


def _enum_holds(predicates, allowed, schema):
    return lambda value: any(_same(value, option) for option in allowed)


def _minimum_holds(predicates, bound, schema):
    return lambda value: not _is_number(value) or value >= bound


def _maximum_holds(predicates, bound, schema):
    return lambda value: not _is_number(value) or value <= bound


def _pattern_holds(predicates, expression, schema):
    search = re.compile(expression).search
    return lambda value: not isinstance(value, str) or bool(search(value))


def _ref_holds(predicates, target, schema):
    return predicates.ref(target)


# The keywords the two shapes leave to a test of their own (the shapes take the rest; a
# keyword missing here is tested by its check, through _holds).
PREDICATES = {
    "type": _type_holds, "const": _const_holds, "enum": _enum_holds,
    "minimum": _minimum_holds, "maximum": _maximum_holds, "pattern": _pattern_holds,
    "$ref": _ref_holds,
}


@functools.lru_cache(maxsize=1)
def _profile_check():
    """(the predicate, the check) of the installed schema."""
    text = importlib.resources.files(__package__).joinpath(SCHEMA_NAME).read_text("utf-8")
    schema = json.loads(text)
    check = _Compiler(schema).node(schema)  # first: it refuses an unknown keyword or $ref
    return _Predicates(schema).node(schema), check


def check(profile, fast: bool = True) -> None:
    """Raises Invalid (a ValueError) when `profile` breaks docs/profile.schema.json, or a
    stack names a frame its `stack_frames` lacks. fast=False runs the check alone, without
    the predicate (tests compare the two)."""
    holds, check_ = _profile_check()
    if not fast or not holds(profile):
        check_(profile)
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
