"""Shared helpers for triscope's end-to-end tests.

The tests drive the real CLI (`python -m triscope ...`) in a subprocess, with the test's
tmp_path as the working directory, on the self-checking programs in tests/workloads/: each of
those measures its own truth and writes it as JSON to the file named by $GT_OUT. Every profile
a test reads goes through load_profile(), which validates it against docs/profile.schema.json
and gives its stacks' frames as triples, whichever form it was written in.
"""
import contextlib
import dataclasses
import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ROOT / "tests" / "workloads"
SCHEMA_PATH = ROOT / "docs" / "profile.schema.json"

# Every subprocess a test starts is bounded by this unless it says otherwise.
DEFAULT_TIMEOUT = 120


# ==== Running programs ====

def _child_env(env):
    """os.environ plus `env`; a value of None removes that variable."""
    merged = dict(os.environ)
    # A profile request inherited from an outer run must not leak into the child.
    merged.pop("GT_OUT", None)
    for key, value in (env or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged


def run_triscope(args, cwd, env=None, timeout=DEFAULT_TIMEOUT, input=None, text=True):
    """Run `python -m triscope *args` in `cwd`; return the CompletedProcess (output captured).

    `text=False` gives stdout/stderr as bytes (for byte-exact comparisons).
    """
    return subprocess.run(
        [sys.executable, "-m", "triscope", *map(str, args)],
        cwd=str(cwd), env=_child_env(env), input=input, capture_output=True,
        text=text, timeout=timeout,
    )


def descendants(pid):
    """The processes below `pid` (children, their children...), by /proc's parent links."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                parents[int(entry)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent:
                found.append(child)
                frontier.append(child)
    return found


def describe_hung_processes(pids):
    """What each process and each of its threads is doing, for a hang's failure message:
    state, kernel wait channel and stack, pending/blocked/caught signals (/proc(5))."""
    report = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
            tasks = sorted(os.listdir(f"/proc/{pid}/task"), key=int)
        except OSError:
            continue
        report.append(f"process {pid}: {command}")
        for tid in tasks:
            base = f"/proc/{pid}/task/{tid}"
            facts = []
            for name in ("comm", "wchan", "stack"):
                try:
                    with open(f"{base}/{name}") as source:
                        facts.append(f"{name}: " + " | ".join(source.read().split("\n")).strip(" |"))
                except OSError:
                    pass
            try:
                with open(f"{base}/status") as status:
                    facts += [line.strip() for line in status if line.startswith(
                        ("State", "SigPnd", "ShdPnd", "SigBlk", "SigCgt"))]
            except OSError:
                pass
            report.append(f"  thread {tid}: " + "; ".join(facts))
    return "\n".join(report)


def run_python(args, cwd, env=None, timeout=DEFAULT_TIMEOUT, input=None, text=True):
    """Run plain `python *args` the same way, as the reference for run_triscope."""
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=str(cwd), env=_child_env(env), input=input, capture_output=True,
        text=text, timeout=timeout,
    )


class JsonHandler(http.server.BaseHTTPRequestHandler):
    """Base of the stand-ins for AI providers' APIs: `reply` sends a JSON body (after
    `extra_headers`, which a subclass may fill); the server logs nothing."""

    def extra_headers(self):
        pass

    def reply(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.extra_headers()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (a timeout test)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def local_server(handler_class):
    """A local HTTP server answering with `handler_class` (the stand-ins for AI providers'
    APIs); yields its base URL, "http://127.0.0.1:PORT"."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def workload(name):
    """Absolute path of tests/workloads/<name>."""
    path = WORKLOADS / name
    assert path.exists(), path
    return path


def read_truth(path):
    with open(path) as f:
        return json.load(f)


@dataclasses.dataclass
class Run:
    """A workload run under triscope: the process, its validated profile and its truth."""
    proc: subprocess.CompletedProcess
    profile: dict
    truth: dict
    script: Path
    cwd: Path


def profile_workload(cwd, name, *prog_args, options=(), profile_name="profile.json",
                     timeout=DEFAULT_TIMEOUT, env=None):
    """Run tests/workloads/<name> under `triscope *options` in `cwd`, expecting success.

    The profile is read from cwd/<profile_name> (./profile.json unless options redirect it)
    and validated; the truth comes from the workload's $GT_OUT.
    """
    cwd = Path(cwd)
    script = workload(name)
    truth_path = cwd / "truth.json"
    proc = run_triscope([*options, script, *prog_args], cwd,
                        env={**(env or {}), "GT_OUT": truth_path}, timeout=timeout)
    assert proc.returncode == 0, describe(proc)
    profile = load_profile(cwd / profile_name)
    return Run(proc, profile, read_truth(truth_path), script, cwd)


def program_stderr(stderr):
    """The program's own stderr: stderr without triscope's lines (those start 'triscope:')."""
    if isinstance(stderr, bytes):
        return b"".join(l for l in stderr.splitlines(keepends=True)
                        if not l.startswith(b"triscope:"))
    return "".join(l for l in stderr.splitlines(keepends=True)
                   if not l.startswith("triscope:"))


def describe(proc):
    """Text for assertion messages: status and both streams."""
    return f"rc={proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"


# ==== Profiles ====

@functools.lru_cache(maxsize=1)
def _validator():
    import jsonschema
    if not SCHEMA_PATH.exists():
        pytest.fail(f"profile schema missing: {SCHEMA_PATH}")
    with open(SCHEMA_PATH) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def load_profile(path, raw=False):
    """Load a JSON profile, validate it against docs/profile.schema.json (and its stacks'
    frame indices against its frame table, which no schema can say), and give it with its
    stacks' frames as [file, function, lineno] triples (expanded()); `raw`: as written."""
    path = Path(path)
    assert path.exists(), f"no profile written at {path}"
    with open(path) as f:
        profile = json.load(f)
    errors = sorted(_validator().iter_errors(profile), key=lambda e: list(e.absolute_path))
    if errors:
        shown = "\n".join(f"  at /{'/'.join(map(str, e.absolute_path))}: {e.message}"
                          for e in errors[:10])
        pytest.fail(f"{path} does not validate against {SCHEMA_PATH.name}:\n{shown}")
    outside = frames_outside_the_table(profile)
    if outside:
        pytest.fail(f"{path}: stack frame indices past stack_frames "
                    f"({len(profile['stack_frames'])} frames), (stack, index): {outside[:10]}")
    return profile if raw else expanded(profile)


def frames_outside_the_table(profile):
    """[(stack number, index)] of the frame indices that name no entry of the profile's
    stack_frames: the rule beyond the schema. For a profile the schema accepts."""
    table = profile.get("stack_frames")
    if table is None:
        return []
    return [(number, index) for number, stack in enumerate(profile["stacks"])
            for index in stack["frames"] if index >= len(table)]


# The stacks' two forms (docs/PROFILE_FORMAT.md, "Versions"), written here apart from
# triscope's own reading and writing of them, so that a test of the format does not take
# the code under test's word for it.

def expanded(profile):
    """`profile` with each stack's frames as [file, function, lineno] triples: a frame
    table's indices looked up, the table left out (the form the tests read)."""
    table = profile.get("stack_frames")
    if table is None:
        return profile
    result = {key: value for key, value in profile.items() if key != "stack_frames"}
    result["stacks"] = [dict(stack, frames=[list(table[index]) for index in stack["frames"]])
                        for stack in profile["stacks"]]
    return result


def old_form(profile):
    """`profile` as an earlier triscope wrote it: triscope/1, the triples in the stacks."""
    return dict(expanded(profile), schema="triscope/1")


def new_form(profile):
    """`profile` as this triscope writes it: triscope/2, each distinct frame once in
    stack_frames, the stacks' frames indices into it."""
    plain = expanded(profile)
    table, positions = [], {}
    stacks = []
    for stack in plain["stacks"]:
        indices = []
        for frame in stack["frames"]:
            indices.append(positions.setdefault(tuple(frame), len(table)))
            if indices[-1] == len(table):
                table.append(list(frame))
        stacks.append(dict(stack, frames=indices))
    return dict(plain, schema="triscope/2", stack_frames=table, stacks=stacks)


# Both forms, for a test that reads a profile it wrote: pytest.mark.parametrize("form", FORMS).
FORMS = {"triscope/1": old_form, "triscope/2": new_form}


def _same_file(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def file_entry(profile, path):
    """The `files` entry of `path` (compared after resolving symlinks), or None."""
    for key, entry in profile["files"].items():
        if _same_file(key, path):
            return entry
    return None


def require_file(profile, path):
    entry = file_entry(profile, path)
    assert entry is not None, f"{path} not in profile files: {sorted(profile['files'])}"
    return entry


def line_entry(profile, path, lineno):
    """The line entry of (path, lineno), or None when that line has no measurement."""
    entry = file_entry(profile, path)
    if entry is None:
        return None
    for line in entry["lines"]:
        if line["lineno"] == lineno:
            return line
    return None


def marker_lineno(path, marker):
    """1-based number of the line of `path` carrying the comment `# @marker`."""
    pattern = re.compile(r"#\s*@" + re.escape(marker) + r"(?![\w-])")
    found = [i for i, text in enumerate(Path(path).read_text().splitlines(), 1)
             if pattern.search(text)]
    assert len(found) == 1, f"marker @{marker} found {len(found)} times in {path}"
    return found[0]


def marker_source(path, marker):
    """The text of the line carrying `# @marker` (no newline)."""
    return Path(path).read_text().splitlines()[marker_lineno(path, marker) - 1]


def marker_line(profile, path, marker):
    """Line entry of the line marked `# @marker` in `path`, or None."""
    return line_entry(profile, path, marker_lineno(path, marker))


def pcts(line):
    """(python, native, system) percentages of a line/function/file entry; zeros for None."""
    if line is None:
        return 0.0, 0.0, 0.0
    return line["cpu_python_pct"], line["cpu_native_pct"], line["cpu_system_pct"]


def total_pct(line):
    """Python + native + system percentage of a line entry (0 for None)."""
    return sum(pcts(line))


def cpu_pct(line):
    """Python + native percentage of a line entry (0 for None)."""
    py, nat, _ = pcts(line)
    return py + nat


def all_lines(profile):
    """Every (path, line entry) in the profile."""
    for path, entry in profile["files"].items():
        for line in entry["lines"]:
            yield path, line


def pytest_configure(config):
    config.addinivalue_line("markers", "stress: hard-on-the-profiler programs "
                            "(tests/test_stress.py; longer with TRISCOPE_STRESS=10)")
    config.addinivalue_line("markers", "fuzz: hostile input for the profile readers "
                            "(tests/test_fuzz_view.py)")
    config.addinivalue_line("markers", "slow: skipped by the fast subset CI runs on the "
                            "other Python versions (-m 'not slow')")
