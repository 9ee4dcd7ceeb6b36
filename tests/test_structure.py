"""The shape of the Python layer (docs/ARCHITECTURE.md, "Python side"): imports point down.

`cli.py` parses the command line and dispatches; everything it dispatches to sits below it.
A module below that imported `triscope.cli` back would close a circle, so only the entry
points may import it: `__main__.py` and the modules pyproject.toml names as console scripts.
The sources are read with ast, not imported: an import inside a function counts too.
"""
import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "triscope"
CLI = "triscope.cli"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def entry_points() -> set:
    """__main__ and every module named by a console script of pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as stream:
        scripts = tomllib.load(stream)["project"].get("scripts", {})
    return {"triscope.__main__"} | {target.partition(":")[0] for target in scripts.values()}


def imported_modules(path: Path) -> set:
    """Every module `path` imports, relative imports resolved; `from A import b` counts as
    both A and A.b (b may be a submodule)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_only_the_entry_points_import_the_cli():
    allowed = entry_points()
    importers = sorted(module_name(path) for path in PACKAGE.rglob("*.py")
                       if module_name(path) not in allowed
                       and CLI in imported_modules(path))
    assert importers == [], f"{', '.join(importers)} import {CLI}: imports must point down"


def test_the_check_sees_every_form_of_import(tmp_path):
    """The forms a module could use to import the CLI are all recognised (else the test above
    could pass while a circle remained)."""
    global PACKAGE
    package = tmp_path / "triscope"
    (package / "reports").mkdir(parents=True)
    forms = {"a.py": "import triscope.cli\n", "b.py": "from triscope import cli\n",
             "c.py": "from triscope.cli import main\n", "d.py": "from . import cli\n",
             "e.py": "def f():\n    from .cli import UsageError\n",
             "reports/f.py": "from .. import cli\n", "reports/g.py": "from ..cli import x\n"}
    for name, source in forms.items():
        (package / name).write_text(source)
    saved, PACKAGE = PACKAGE, package
    try:
        assert [name for name in forms if CLI not in imported_modules(package / name)] == []
    finally:
        PACKAGE = saved
