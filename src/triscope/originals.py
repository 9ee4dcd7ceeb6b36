"""The standard library's functions as the run found them (docs/ARCHITECTURE.md, "What the
program leaves behind"). A program may replace `open`, `os.open`, `os.replace` and their
kin with functions of its own — a mock left in place, a sandbox that refuses — or delete
them; the reports are written with those functions, so for the writing the ones the run
began with are put back, and the program's after it.

It never imports anything the launcher has not loaded, and never touches a name the
program added (only the ones the run began with).
"""
import builtins
import io
import os
import posixpath

# The modules whose functions the writing of the reports calls, directly or through others
# (os.fdopen calls io.open; os.makedirs calls os.mkdir and os.path.exists).
_MODULES = (builtins, io, os, posixpath)

_MISSING = object()  # a name the program deleted


class Originals:
    """The names of _MODULES as they were when made; put_back() and take_back() around a
    writing."""

    def __init__(self):
        self._found = [(module, dict(vars(module))) for module in _MODULES]

    def put_back(self) -> list:
        """Every name the program replaced or deleted set to what the run began with: what
        was there, for take_back."""
        replaced = []
        for module, found in self._found:
            names = vars(module)
            for name, value in found.items():
                now = names.get(name, _MISSING)
                if now is not value:
                    replaced.append((module, name, now))
                    setattr(module, name, value)
        return replaced

    @staticmethod
    def take_back(replaced: list) -> None:
        """The program's functions again, deleted where it had deleted them."""
        for module, name, value in replaced:
            if value is _MISSING:
                delattr(module, name)
            else:
                setattr(module, name, value)
