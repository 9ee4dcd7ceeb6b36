"""The HTML report: the viewer page with a profile embedded in it.

The page is the static viewer, viewer/viewer.html (HTML, CSS and JavaScript written for
triscope, no library), with the profile JSON in a `<script type="application/json">` element
that the viewer reads with JSON.parse. Nothing else goes into the page, so one file opens
offline and shows any profile, live or saved.

The profile carries the text of profiled files, which may hold anything, `</script>`
included. Escaping `<`, `>` and `&` as \\u escapes (which JSON.parse turns back) leaves no
sequence that could end the element or open markup; the viewer then puts that text on the
page through textContent only. A fresh nonce per page lets its Content-Security-Policy run
the viewer's own script and nothing else.

Two more JSON elements serve the optimize buttons (docs/ARCHITECTURE.md, "AI
optimization"): viewer/ai.json, the prompt and provider table `triscope optimize` fills too,
and the regions of the profiled files (functions, loops, blocks with the lines of each
file's syntax tree, regions.py), so that the page proposes the region the command would.
Regions are line numbers only: the page quotes no line the profile does not hold. A file is
read for them only while its SHA-256 is the profile's, and only within a byte budget taken
costliest file first, since a page is written at the end of every run.
"""

import os

from triscope import ai_spec, jsoncodec

PROFILE_PLACEHOLDER = b"__TRISCOPE_PROFILE__"
NONCE_PLACEHOLDER = b"__TRISCOPE_NONCE__"
AI_PLACEHOLDER = b"__TRISCOPE_AI__"
REGIONS_PLACEHOLDER = b"__TRISCOPE_REGIONS__"
PLACEHOLDERS = (PROFILE_PLACEHOLDER, NONCE_PLACEHOLDER, AI_PLACEHOLDER, REGIONS_PLACEHOLDER)
# What reading files for their regions may cost a page: the files read in all, one file.
REGION_BUDGET_BYTES = 16 << 20
REGION_FILE_BYTES = 4 << 20
# ensure_ascii already escapes every non-ASCII character, the line terminators U+2028 and
# U+2029 among them; these three are ASCII and need it too. Replaced one after the other
# (no replacement holds another's character): str.translate took 156 ms on a 2.2 MB profile
# of call stacks, the three replacements 7 ms.
_SCRIPT_SAFE = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"))


# Read by path, as ai_spec reads ai.json: the package is always installed as files (its C
# extension cannot be imported from an archive), and importlib.resources would cost every run
# that writes a page its imports (pathlib, urllib, zipfile: docs/PERFORMANCE.md, start-up + exit).
VIEWER_PAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "viewer", "viewer.html")
_template = None
_cut = None  # _pieces()


def template() -> bytes:
    """The viewer page (UTF-8), read once: a profiled program that drops its privileges may
    not be able to read it any more when the report is written. Kept as bytes: what goes
    into it is ASCII (a hex nonce, JSON with every other character escaped), so the page is
    made without decoding and encoding its 110 kB again at the end of every run."""
    global _template
    if _template is None:
        with open(VIEWER_PAGE, "rb") as stream:
            _template = stream.read()
    return _template


def _script_json(value) -> bytes:
    data = jsoncodec.dumps(value, separators=(",", ":"), allow_nan=False)  # ASCII only
    return _script_safe(data.encode("ascii"))


def _script_safe(data: bytes) -> bytes:
    """JSON text (UTF-8) made safe inside a script element. JSON has `<`, `>` and `&` only
    inside strings, where their \\u escapes mean the same."""
    for character, escaped in _SCRIPT_SAFE:
        data = data.replace(character, escaped)
    return data


def file_regions(profile: dict) -> dict:
    """path → the spans [first, last, kind, name] that hold a measured line, for the
    costliest files that can be read (regions.file_spans) within the byte budget."""
    found, budget = {}, REGION_BUDGET_BYTES
    costliest = sorted(profile["files"].items(),
                       key=lambda item: -max(item[1].get("cpu_pct", 0.0),
                                             sum(l.get("mem_pct", 0.0) for l in item[1]["lines"])))
    for path, entry in costliest:
        if budget <= 0:
            break
        measured = [line["lineno"] for line in entry["lines"]]
        if not measured:
            continue
        # Only for a file with measured lines: an import a run that measured nothing need
        # not pay for.
        from triscope import regions
        spans, cost = regions.file_spans(path, entry.get("sha256"), measured,
                                         min(budget, REGION_FILE_BYTES))
        budget -= cost
        if spans:
            found[path] = [list(span) for span in spans]
    return found


def page(profile: dict, profile_json: bytes = None) -> bytes:
    """The self-contained HTML page showing `profile`, in UTF-8. `profile_json`, when given,
    is the JSON text `profile` was read from (the C writer's, with its frame table and its
    stacks, which `profile` may have been read without): it goes in as it is, where writing
    it out again took longer than the rest of the page (docs/PERFORMANCE.md, start-up +
    exit)."""
    # 144 random bits in hex, whose digits are all characters a CSP nonce may hold
    # (base64's): secrets.token_urlsafe would import hmac, hashlib and random for it.
    nonce = os.urandom(18).hex().encode("ascii")
    try:
        spans = file_regions(profile)
    except (OSError, LookupError, TypeError, ValueError):  # a profile from elsewhere
        spans = {}
    # The profile's stacks go in with their frame table (a profile read by a tool has them
    # as triples): a pytest session's page is 0.36 MB so, 2.3 MB without. A run's own
    # profile has the table already (the C writer's), and needs nothing of the tools' module
    # for it.
    if profile_json is not None:
        profile_text = _script_safe(profile_json.rstrip())
    else:
        if "stack_frames" not in profile:
            from triscope.reports import common
            profile = common.compact_stacks(profile)
        profile_text = _script_json(profile)
    values = {NONCE_PLACEHOLDER: nonce,
              # ai.json as installed: its text is the JSON the viewer parses.
              AI_PLACEHOLDER: _script_safe(ai_spec.text().encode("utf-8")),
              REGIONS_PLACEHOLDER: _script_json(spans), PROFILE_PLACEHOLDER: profile_text}
    made = []
    for text, placeholder in _pieces():
        made.append(text)
        if placeholder is not None:
            made.append(values[placeholder])
    return b"".join(made)


def _pieces() -> list:
    """The viewer page cut at its placeholders, once: (text, the placeholder after it or
    None) in order. The page is the pieces joined with the values in place, made in one
    copy, where replacing each placeholder in turn copied the whole page each time; and no
    value is ever searched for a placeholder."""
    global _cut
    if _cut is None:
        pieces, rest = [], template()
        while True:
            found = [(rest.find(mark), mark) for mark in PLACEHOLDERS if mark in rest]
            if not found:
                break
            at, mark = min(found)
            pieces.append((rest[:at], mark))
            rest = rest[at + len(mark):]
        _cut = pieces + [(rest, None)]
    return _cut


def render(profile: dict) -> str:
    """The self-contained HTML page showing `profile`, as text."""
    return page(profile).decode("utf-8")


def write(profile: dict, path: str) -> None:
    with open(path, "wb") as stream:
        stream.write(page(profile))


def open_in_browser(path: str) -> bool:
    """Asks a browser to show the page at `path`; False when there is none to ask."""
    import pathlib
    return open_url(pathlib.Path(path).resolve().as_uri())


def open_url(url: str) -> bool:
    """Asks a browser to show `url`; False when there is none to ask."""
    # Text browsers (lynx, w3m) cannot run the viewer and would take over the terminal, so
    # only a graphical session, or a browser named in $BROWSER, counts as having a browser.
    if not any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")):
        return False
    import webbrowser
    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False
