"""viewer/ai.json, the one description of the AI prompt and providers, and its templates.

`triscope optimize` and the viewer page build their prompts and requests from that one file
(reports/html.py puts it into the page), each with a filler of the same few rules, so the
command line and the page send the same text (tests/test_ai.py compares them):

- `{name}` in a string is the value's text; `{name:.Nf}` a number with N decimals, a half
  rounded away from zero (what JavaScript's toFixed does, not Python's half-to-even);
  `{name|path}` the value percent-encoded as one URL path segment;
- a string that is exactly `{name}` is replaced by the value itself, so a number stays one
  in a JSON body.
"""

import os

from triscope import jsoncodec

# The package is always installed as files (see reports/html.py, VIEWER_PAGE). decimal and
# urllib.parse are imported where used, and the patterns are compiled (by re's own cache) at
# their first use: the page every run writes needs the spec alone.
AI_SPEC_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "viewer", "ai.json")
PLACEHOLDER = r"\{(\w+)(?::\.(\d)f|\|(path))?\}"
WHOLE = r"\{(\w+)\}"

_text = _spec = None  # read and parsed once


def text() -> str:
    """The file as it is installed beside the viewer."""
    global _text
    if _text is None:
        with open(AI_SPEC_FILE, encoding="utf-8") as stream:
            _text = stream.read()
    return _text


def spec() -> dict:
    global _spec
    if _spec is None:
        _spec = jsoncodec.loads(text())
    return _spec


def fixed(value: float, digits: int) -> str:
    """`value` with `digits` decimals as JavaScript's Number.prototype.toFixed writes it: the
    exact binary value rounded, a tie away from zero, no minus sign on a zero."""
    import decimal
    quantum = decimal.Decimal(1).scaleb(-digits)
    rounded = decimal.Decimal(value).quantize(quantum, rounding=decimal.ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)
    return f"{rounded:f}"


def _one(match, values) -> str:
    value = values[match.group(1)]
    if match.group(2) is not None:
        return fixed(value, int(match.group(2)))
    if match.group(3):
        import urllib.parse
        return urllib.parse.quote(str(value), safe="")
    return str(value)


def fill(template, values: dict):
    """`template` (a string, or JSON made of them) with its placeholders filled."""
    if isinstance(template, dict):
        return {name: fill(item, values) for name, item in template.items()}
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    if not isinstance(template, str):
        return template
    import re
    whole = re.fullmatch(WHOLE, template)
    if whole:
        return values[whole.group(1)]
    return re.sub(PLACEHOLDER, lambda match: _one(match, values), template)


def names(template: str) -> set:
    """The names a template string uses."""
    import re
    return {match.group(1) for match in re.finditer(PLACEHOLDER, template)}
