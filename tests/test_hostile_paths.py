"""Hostile surroundings: paths with spaces, non-ASCII characters and symlinks (for the script
and for the working directory), scripts that are not UTF-8, a read-only working directory,
and an output file in a directory that does not exist.

Each profiled run is compared with the same program under plain python (exit status and
stdout byte for byte), its profile is validated against the schema, and the program's hot
line must carry the time, under the name and source text Python itself would give it.
"""
import json
import os
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from conftest import (DEFAULT_TIMEOUT, _child_env, describe, line_entry, load_profile,
                      run_python, run_triscope)

HOT_LOOP = 3_000_000
ODD_DIR = "dir with spaces/ünï cødé ☃"
ODD_NAME = "my prog ☃ é.py"


def program_text(hot_source="for i in range(N): total += i", extra=""):
    """A program whose line 4 is the hot line; it prints its argv, __file__ and result."""
    return (f"import os, sys\n"
            f"N = {HOT_LOOP}\n"
            f"total = 0\n"
            f"{hot_source}\n"
            f"{extra}\n"
            f"print(sys.argv, os.path.basename(__file__), total)\n")


def same_run(cwd, script_arg, *options, expect_profile=None):
    """Runs the program under python and triscope in `cwd`; both must agree. Returns
    (triscope's CompletedProcess as bytes, its validated profile)."""
    plain = run_python([script_arg], cwd, text=False)
    assert plain.returncode == 0, describe(plain)
    proc = run_triscope([*options, script_arg], cwd, text=False)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)
    assert b"Traceback" not in proc.stderr, describe(proc)
    path = expect_profile or Path(cwd) / "profile.json"
    with open(path, "rb") as f:
        json.loads(f.read().decode("utf-8"))  # strictly UTF-8
    return proc, load_profile(path)


def hot_line(profile, script):
    entry = line_entry(profile, script, 4)
    assert entry is not None, f"line 4 of {script} not in {sorted(profile['files'])}"
    assert entry["cpu_python_pct"] + entry["cpu_native_pct"] > 20, entry
    return entry


def python_source_line(script, lineno):
    """Line `lineno` of `script` decoded as Python decodes it (coding cookie, BOM)."""
    with tokenize.open(script) as f:
        return f.read().splitlines()[lineno - 1]


# ==== Spaces, unicode and symlinks ====

@pytest.fixture
def odd_tree(tmp_path):
    """tmp/dir with spaces/ünï cødé ☃/my prog ☃ é.py, a symlink to it, and a symlinked dir."""
    home = tmp_path / ODD_DIR
    home.mkdir(parents=True)
    script = home / ODD_NAME
    script.write_text(program_text(), encoding="utf-8")
    (home / "lien ☃.py").symlink_to(ODD_NAME)
    (tmp_path / "raccourci ☃").symlink_to(home, target_is_directory=True)
    return home, script


def test_script_and_cwd_with_spaces_and_unicode(odd_tree):
    home, script = odd_tree
    proc, profile = same_run(home, ODD_NAME)
    hot_line(profile, script)
    assert profile["args"][0] == ODD_NAME


def test_absolute_script_path_from_another_odd_cwd(odd_tree, tmp_path):
    home, script = odd_tree
    elsewhere = tmp_path / "ailleurs — ☂"
    elsewhere.mkdir()
    _, profile = same_run(elsewhere, script)
    hot_line(profile, script)


def test_script_through_a_symlink(odd_tree):
    home, script = odd_tree
    _, profile = same_run(home, "lien ☃.py")
    hot_line(profile, script)  # file_entry compares real paths


def test_cwd_through_a_symlinked_directory(odd_tree, tmp_path):
    home, script = odd_tree
    linked = tmp_path / "raccourci ☃"
    _, profile = same_run(linked, ODD_NAME)
    hot_line(profile, script)


# ==== Scripts that are not UTF-8 ====

NOT_UTF8 = {
    # Latin-1 with a coding cookie: bytes above 0x7f in a string and a comment of the hot line.
    "latin1_cookie": b"# -*- coding: latin-1 -*-\n" + b"N = %d\ntotal = 0\n" % HOT_LOOP
    + b"for c in range(N): total += len('caf\xe9 \xff')  # \xfe\xff r\xe9sum\xe9\n"
    + b"print(total, 'caf\xe9')\n",
    # The cookie on line 2, after a shebang.
    "latin1_cookie_line2": b"#!/usr/bin/env python3\n# vim: set fileencoding=iso-8859-1 :\n"
    + b"N = %d; total = 0\n" % HOT_LOOP
    + b"for c in range(N): total += 1  # \xe0 \xe9 \xff\n" + b"print(total)\n",
    # UTF-8 with a byte order mark.
    "utf8_bom": b"\xef\xbb\xbfN = %d\ntotal = 0\n\n" % HOT_LOOP
    + "for c in range(N): total += len('café ☃')  # ünï\n".encode() + b"print(total)\n",
    # cp1252: 0x80 is the euro sign, which is not Latin-1; JSON must stay valid regardless.
    "cp1252_cookie": b"# coding: cp1252\n" + b"N = %d\ntotal = 0\n" % HOT_LOOP
    + b"for c in range(N): total += len('\x80 \xe9')  # \x80\x99\n" + b"print(total)\n",
}


@pytest.mark.parametrize("name", sorted(NOT_UTF8))
def test_script_not_in_utf8(tmp_path, name):
    script = tmp_path / f"{name}.py"
    script.write_bytes(NOT_UTF8[name])
    _, profile = same_run(tmp_path, script.name)
    entry = hot_line(profile, script)
    expected = python_source_line(script, 4)
    if name == "cp1252_cookie":
        # Only UTF-8 and Latin-1 are decoded; other encodings keep their ASCII, and the
        # bytes that are not UTF-8 become U+FFFD.
        assert entry["source"].startswith("for c in range(N)"), entry["source"]
    else:
        assert entry["source"] == expected.lstrip("\ufeff"), entry["source"]


# ==== Where the outputs go ====

def _can_make_read_only_dir():
    if os.geteuid() != 0:
        return "chmod"
    if shutil.which("unshare") and subprocess.run(
            ["unshare", "-rm", "true"], capture_output=True, timeout=30).returncode == 0:
        return "unshare"
    return None


def test_read_only_working_directory(tmp_path):
    """The profile goes to a temporary directory, and stderr says where."""
    how = _can_make_read_only_dir()
    if how is None:
        pytest.skip("running as root without user namespaces: no read-only directory")
    script = tmp_path / "prog.py"
    script.write_text(program_text())
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    command = [sys.executable, "-m", "triscope", "--cli", str(script)]
    plain = run_python([script], readonly)
    if how == "chmod":
        readonly.chmod(0o555)
        proc = subprocess.run(command, cwd=readonly, env=_child_env(None), capture_output=True,
                              text=True, timeout=DEFAULT_TIMEOUT)
        readonly.chmod(0o755)
    else:
        # As root, only a read-only mount stops writes: a private one, in a user namespace.
        shell = ('mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && cd "$1" && '
                 'shift && exec "$@"')
        proc = subprocess.run(["unshare", "-rm", "sh", "-c", shell, "sh", str(readonly),
                               *command], env=_child_env(None), capture_output=True,
                              text=True, timeout=DEFAULT_TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == plain.stdout, describe(proc)
    assert list(readonly.iterdir()) == [], "wrote into the read-only directory"
    written = [line.split("profile written to ", 1)[1] for line in proc.stderr.splitlines()
               if "profile written to " in line]
    assert len(written) == 1, describe(proc)
    path = Path(written[0].strip())
    try:
        assert path.parent != readonly
        hot_line(load_profile(path), script)
    finally:
        path.unlink(missing_ok=True)
        path.with_suffix(".html").unlink(missing_ok=True)


@pytest.mark.parametrize("outfile", ["out.json", "out.html", "out.txt"])
def test_outfile_in_missing_directory(tmp_path, outfile):
    """One error line, exit 2, and the program does not run."""
    script = tmp_path / "prog.py"
    script.write_text("open('ran', 'w').close()\nprint('ran')\n")
    target = tmp_path / "no such dir" / outfile
    proc = run_triscope(["-o", target, script], tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, describe(proc)
    assert len(lines) == 1 and lines[0].startswith("triscope: error:"), describe(proc)
    assert proc.stdout == "" and not (tmp_path / "ran").exists(), "the program ran"
    assert not target.parent.exists()
