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
"""

import importlib.resources
import json
import os
import pathlib
import secrets

PROFILE_PLACEHOLDER = "__TRISCOPE_PROFILE__"
NONCE_PLACEHOLDER = "__TRISCOPE_NONCE__"
# ensure_ascii already escapes every non-ASCII character, the line terminators U+2028 and
# U+2029 among them; these three are ASCII and need it too.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


_template = None


def template() -> str:
    """The viewer page, read once: a profiled program that drops its privileges may not be
    able to read it any more when the report is written."""
    global _template
    if _template is None:
        _template = (importlib.resources.files("triscope") / "viewer" /
                     "viewer.html").read_text(encoding="utf-8")
    return _template


def render(profile: dict) -> str:
    """The self-contained HTML page showing `profile`."""
    data = json.dumps(profile, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    page = template().replace(NONCE_PLACEHOLDER, secrets.token_urlsafe(18))
    # The profile goes in last, so no placeholder-like text inside it is ever replaced.
    before, _, after = page.partition(PROFILE_PLACEHOLDER)
    return before + data.translate(_SCRIPT_SAFE) + after


def write(profile: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(render(profile))


def open_in_browser(path: str) -> bool:
    """Asks a browser to show the page at `path`; False when there is none to ask."""
    # Text browsers (lynx, w3m) cannot run the viewer and would take over the terminal, so
    # only a graphical session, or a browser named in $BROWSER, counts as having a browser.
    if not any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")):
        return False
    import webbrowser
    try:
        return webbrowser.open(pathlib.Path(path).resolve().as_uri())
    except webbrowser.Error:
        return False
