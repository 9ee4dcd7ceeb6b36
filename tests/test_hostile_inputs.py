"""Hostile input that is not a program (issue 13): option values, profile files, the files a
profile names, and the text the tools print or send.

- Item 13: every numeric option of every subcommand is range-checked before anything starts:
  too large, negative, nan, inf and non-numeric values are one `triscope: error:` line and
  exit status 2 (the program never runs, no profile is read).
- Item 14: the readers reject what docs/profile.schema.json rejects (and hypothesis compares
  them with jsonschema in tests/test_fuzz_view.py), and merge writes only profiles the
  schema accepts.
- Item 2: the profile records the sha256 of each file; `optimize` reads a file only while it
  still has that hash, so a forged path (/etc/passwd) is refused with one line.
- Item 3: no control character from a profile (or from the model's answer) reaches a
  terminal through `optimize` or `export --format collapsed`, and a frame name never breaks
  the one-stack-per-line structure of folded stacks.
"""
import contextlib
import hashlib
import io
import json
import os

import pytest

from conftest import (JsonHandler, describe, load_profile, local_server, new_form, run_triscope,
                      workload)

from triscope import cli


def in_process(argv):
    """`triscope *argv` run in this process: (status, stdout, stderr)."""
    if argv[0] == "optimize":  # a fresh command reads each file afresh (and says so)
        from triscope import optimize
        for cached in (optimize._read_bytes, optimize._read_source, optimize._parse,
                       optimize._function_spans):
            cached.cache_clear()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main([str(arg) for arg in argv])
        except SystemExit as exit_:
            status = exit_.code
    return status, out.getvalue(), err.getvalue()


def assert_one_error_line(status, stdout, stderr):
    detail = f"status {status}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    assert status == 2, detail
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("triscope: error: "), detail
    assert "Traceback" not in stderr, detail


@pytest.fixture(scope="module")
def stacks_profile(tmp_path_factory):
    """A real profile with stacks, memory and lines: what the tools accept."""
    cwd = tmp_path_factory.mktemp("hostile")
    proc = run_triscope(["--stacks", "--cpu-sampling-rate", "0.002", "--json", "-o",
                         cwd / "p.json", workload("diff_work.py"), "1"], cwd)
    assert proc.returncode == 0, describe(proc)
    load_profile(cwd / "p.json")
    return cwd / "p.json"


# ==== Item 13: numeric options ====

# Every numeric option: (subcommand argv before the option, option, a value too large).
# The run options need a program after them; the tools a profile.
RUN_OPTIONS = [
    ("--cpu-percent-threshold", "101"),
    ("--cpu-sampling-rate", "11"),
    ("--profile-interval", "1e9"),
    ("--malloc-threshold", "99999999999999999999999"),
    ("--memory-sampling-interval", "18446744073709551616"),
    ("--memory-sampling-interval", "9999999999999999999999"),
    ("--pid", "18446744073709551616"),
]
TOOL_OPTIONS = [
    ("view", "--cpu-percent-threshold", "1e300"),
    ("diff", "--top", "10" + "0" * 30),
    ("optimize", "--top", "10" + "0" * 30),
    ("optimize", "--timeout", "1e9"),
]
BAD_VALUES = {"negative": "-5", "nan": "nan", "inf": "inf", "minus_inf": "-inf",
              "non_numeric": "abc", "empty": "", "huge_exponent": "1e400"}


def tool_argv(tool, option, value, profile):
    if tool == "diff":
        return ["diff", profile, profile, option, value]
    if tool == "optimize":
        return ["optimize", profile, "--dry-run", option, value]
    return [tool, profile, option, value]


@pytest.fixture
def no_launch(monkeypatch):
    """Fails the test if a program would be started (in this process, or in the one cli.main
    re-executes it as under the allocator library, which would replace pytest) or a process
    signalled."""
    from triscope import launch, preload

    def started(*args, **kwargs):
        raise AssertionError("the program was started despite a bad option value")
    monkeypatch.setattr(launch, "run", started)
    monkeypatch.setattr(preload, "reexec", started)
    monkeypatch.setattr(cli, "control", started)


@pytest.mark.parametrize("option,value",
                         RUN_OPTIONS + [(option, bad) for option in
                                        dict.fromkeys(o for o, _ in RUN_OPTIONS)
                                        for bad in BAD_VALUES.values()])
def test_bad_run_option_value_is_one_line_before_the_program_starts(no_launch, option, value):
    argv = [option, value] + (["--on"] if option == "--pid" else ["prog.py"])
    assert_one_error_line(*in_process(argv))


@pytest.mark.parametrize("tool,option,value",
                         TOOL_OPTIONS + [(tool, option, bad) for tool, option, _ in TOOL_OPTIONS
                                         for bad in BAD_VALUES.values()])
def test_bad_tool_option_value_is_one_line(stacks_profile, tool, option, value):
    status, stdout, stderr = in_process(tool_argv(tool, option, value, stacks_profile))
    assert_one_error_line(status, stdout, stderr)
    assert option in stderr


def test_good_option_values_still_reach_the_program(monkeypatch):
    """The checks above would pass for a parser that refuses everything: this one fails then."""
    from triscope import launch, preload
    seen = []
    monkeypatch.setattr(launch, "run", lambda options, *rest: seen.append(options) or 0)
    # Memory is profiled: cli.main would re-execute this process under the allocator library
    # first. Left here instead, as when the library is missing.
    monkeypatch.setattr(preload, "reexec", lambda argv: None)
    status, _, stderr = in_process(["--cpu-percent-threshold", "100", "--cpu-sampling-rate",
                                    "0.0001", "--profile-interval", "10", "--malloc-threshold",
                                    "0", "--memory-sampling-interval", str(2 ** 30), "prog.py"])
    assert status == 0 and len(seen) == 1, stderr
    assert seen[0].memory_sampling_interval == 2 ** 30 and seen[0].malloc_threshold == 0


@pytest.mark.parametrize("args", [
    ["--malloc-threshold", "99999999999999999999999"],
    ["--memory-sampling-interval", "18446744073709551616"],
    ["--memory-sampling-interval", "9999999999999999999999"],
], ids=["malloc_threshold", "interval_2_64", "interval_1e22"])
def test_issue_option_values_through_the_command(tmp_path, args):
    """The issue's commands: the program must not run, and nothing is written."""
    program = tmp_path / "prog.py"
    program.write_text("open('ran', 'w').close()\n")
    proc = run_triscope([*args, program], tmp_path)
    assert_one_error_line(proc.returncode, proc.stdout, proc.stderr)
    assert not (tmp_path / "ran").exists() and not (tmp_path / "profile.json").exists()


def test_optimize_timeout_inf_through_the_command(stacks_profile, tmp_path):
    proc = run_triscope(["optimize", stacks_profile, "--timeout", "inf"], tmp_path,
                        env={"TRISCOPE_AI_URL": "http://127.0.0.1:9/v1",
                             "TRISCOPE_AI_MODEL": "m"})
    assert_one_error_line(proc.returncode, proc.stdout, proc.stderr)
    assert "--timeout" in proc.stderr


# ==== Item 14: profiles the schema rejects ====

def _first_file(profile):
    return next(iter(profile["files"]))


def _with(profile, change):
    profile = json.loads(json.dumps(profile))
    change(profile)
    return profile


def _leak(profile, mb_s):
    profile["leaks"].append({"file": _first_file(profile), "lineno": 1, "likelihood": 0.95,
                             "mb_s": mb_s})


INVALID_FOR_MERGE = {
    "samples_negative": lambda p: p.update(samples=-1),
    "line_samples_negative":
        lambda p: p["files"][_first_file(p)]["lines"][0].update(cpu_samples=-1),
    "memory_timeline_one_number": lambda p: p["memory"].update(timeline=[[0.5]]),
    "line_timeline_one_number":
        lambda p: p["files"][_first_file(p)]["lines"][0].update(timeline=[[0.5]]),
    "leak_mb_s_list": lambda p: _leak(p, []),
    "fraction_above_one":
        lambda p: p["files"][_first_file(p)]["functions"][0].update(python_fraction=1.5),
    "processes_not_a_list": lambda p: p.update(processes=5),
    # A stack's frame that names no entry of the frame table (docs/PROFILE_FORMAT.md).
    "frame_past_the_table":
        lambda p: p["stacks"][0]["frames"].append(len(p["stack_frames"])),
    "frame_not_an_index": lambda p: p["stacks"][0]["frames"].append(0.5),
}
VALID_FOR_MERGE = {
    "timeline_one_point": lambda p: p["memory"].update(timeline=[[0.5, 3.0]]),
    "leak_shrinking": lambda p: _leak(p, -0.5),
}


@pytest.mark.parametrize("name", sorted(INVALID_FOR_MERGE) + sorted(VALID_FOR_MERGE))
def test_merge_writes_only_profiles_the_schema_accepts(stacks_profile, tmp_path, name):
    """Each input is skipped, said in one line, or merged; either way what merge writes
    validates and every reader then accepts it (export included)."""
    change = {**INVALID_FOR_MERGE, **VALID_FOR_MERGE}[name]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_with(json.loads(stacks_profile.read_text()), change)))
    out = tmp_path / "merged.json"
    status, stdout, stderr = in_process(["merge", "-o", out, stacks_profile, bad])
    assert status == 0, stderr
    merged = load_profile(out)  # jsonschema, against docs/profile.schema.json
    if name in INVALID_FOR_MERGE:  # skipped, said in one line, and recorded
        skipped, merged_line = stderr.splitlines()
        assert skipped.startswith("triscope: 1 input skipped, ") and "bad.json" in skipped
        assert "merged into" in merged_line
        assert merged["skipped"]["reasons"][0]["examples"] == [str(bad)]
        assert len(merged["processes"]) == 1
    status, _, stderr = in_process(["export", "--format", "collapsed", out, "-o",
                                    tmp_path / "c.txt"])
    assert status == 0, stderr


def test_merge_never_writes_what_it_cannot_read_back(stacks_profile, tmp_path):
    """Sums of valid values can leave the readers' range: merge refuses instead of writing
    a file every reader rejects."""
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps(_with(json.loads(stacks_profile.read_text()),
                                     lambda p: p.update(elapsed_s=9e14, thread_time_s=9e14,
                                                        samples=2 ** 62))))
    out = tmp_path / "merged.json"
    status, stdout, stderr = in_process(["merge", "-o", out, huge, huge])
    assert_one_error_line(status, stdout, stderr)
    assert not out.exists()


@pytest.mark.parametrize("tool", ["view", "diff", "export", "optimize", "merge"])
def test_every_reader_rejects_a_negative_sample_count(stacks_profile, tmp_path, tool):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_with(json.loads(stacks_profile.read_text()),
                                    INVALID_FOR_MERGE["samples_negative"])))
    argv = {"view": ["view", bad, "--cli"], "diff": ["diff", stacks_profile, bad],
            "export": ["export", "--format", "speedscope", bad, "-o", tmp_path / "s.json"],
            "optimize": ["optimize", bad, "--dry-run"],
            "merge": ["merge", "-o", tmp_path / "m.json", bad]}[tool]
    status, stdout, stderr = in_process(argv)
    assert_one_error_line(status, stdout, stderr)
    assert "bad.json" in stderr and "/samples" in stderr


def test_merge_cases_through_the_command(stacks_profile, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_with(json.loads(stacks_profile.read_text()),
                                    INVALID_FOR_MERGE["leak_mb_s_list"])))
    proc = run_triscope(["merge", "-o", tmp_path / "m.json", bad], tmp_path)
    assert_one_error_line(proc.returncode, proc.stdout, proc.stderr)
    assert "/leaks/" in proc.stderr and "mb_s" in proc.stderr


def test_the_reader_understands_every_keyword_of_the_schema():
    """The reader interprets docs/profile.schema.json itself; a keyword it does not know would
    be half-checked, so it refuses to compile such a schema. The installed copy is the docs'."""
    from conftest import SCHEMA_PATH
    from triscope.reports import validate
    import importlib.resources
    schema = json.loads(SCHEMA_PATH.read_text())
    validate._Compiler(schema).node(schema)
    installed = importlib.resources.files("triscope.reports").joinpath(validate.SCHEMA_NAME)
    assert json.loads(installed.read_text()) == schema
    with pytest.raises(ValueError, match="maxLength"):
        validate._Compiler({}).node({"type": "string", "maxLength": 3})


# ==== Item 3: terminal escapes from a profile ====

ESCAPES = "\x1b]0;pwned\x07\x1b[2J\r\x9b31m"
CONTROL = set("\x1b\x07\r\x9b")


class _TTY(io.StringIO):
    def isatty(self):
        return True


def _hostile_text_profile(stacks_profile, tmp_path, key=None):
    """The real profile with escapes in the program, a file key, function names, sources."""
    profile = load_profile(stacks_profile)
    old = _first_file(profile)
    key = key or f"/nonexistent/ev{ESCAPES}il.py"
    entry = profile["files"].pop(old)
    profile["files"][key] = entry
    profile["program"] = f"prog{ESCAPES}.py"
    for function in entry["functions"]:
        function["name"] = f"{function['name']}{ESCAPES}"
    for line in entry["lines"]:
        line["source"] = f"{line['source']}{ESCAPES}"
    for stack in profile["stacks"]:
        stack["frames"] = [[key if f == old else f, n + ESCAPES, ln] for f, n, ln in
                           stack["frames"]]
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(new_form(profile)))
    return path


def test_optimize_dry_run_prints_no_terminal_escape(stacks_profile, tmp_path):
    path = _hostile_text_profile(stacks_profile, tmp_path)
    status, stdout, stderr = in_process(["optimize", path, "--dry-run"])
    assert status == 0, stderr
    assert "Program: prog" in stdout and "File: /nonexistent/ev" in stdout
    assert not CONTROL & set(stdout + stderr), repr(stdout)


def test_export_collapsed_keeps_one_stack_per_line(stacks_profile, tmp_path):
    profile = load_profile(stacks_profile)
    for index, stack in enumerate(profile["stacks"]):
        stack["frames"] = [[f, f"{n}\n{index}\u2028x\x1c;y\r", ln] for f, n, ln in
                           stack["frames"]]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(new_form(profile)))
    out = tmp_path / "c.txt"
    status, _, stderr = in_process(["export", "--format", "collapsed", path, "-o", out])
    assert status == 0, stderr
    text = out.read_text()
    stacks_with_time = sum(1 for s in profile["stacks"] if round(s["seconds"] * 1e6) > 0)
    assert len(text.splitlines()) == len(text.split("\n")) - 1 == stacks_with_time, repr(text)
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        assert count.isdigit() and stack, line


def test_export_collapsed_to_a_terminal_is_escaped_and_to_a_file_exact(stacks_profile,
                                                                      tmp_path, monkeypatch):
    path = _hostile_text_profile(stacks_profile, tmp_path)
    out = tmp_path / "c.txt"
    status, _, stderr = in_process(["export", "--format", "collapsed", path, "-o", out])
    assert status == 0, stderr
    assert "\x1b]0:pwned\x07" in out.read_text()  # a file keeps the names exact (; is :)
    terminal = _TTY()
    monkeypatch.setattr("sys.stdout", terminal)
    from triscope.reports import export
    assert export.main(["--format", "collapsed", str(path)]) == 0
    shown = terminal.getvalue()
    assert shown.count("\n") == out.read_text().count("\n") and "pwned" in shown
    assert not CONTROL & set(shown), repr(shown)


# ==== Item 2: optimize sends only the profiled files ====

ANSWER = "```python\nx = 1\n```\n\x1b]0;pwned\x07\x1b[2JFaster.\r\n"


class _Model(JsonHandler):
    """A chat-completions endpoint that records each request and answers with escapes."""
    requests = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Model.requests.append(json.loads(body))
        self.reply(200, json.dumps({"choices": [{"message": {"role": "assistant",
                                                              "content": ANSWER}}]}))


@pytest.fixture(scope="module")
def model_url():
    with local_server(_Model) as url:
        yield url + "/v1"


@pytest.fixture(scope="module")
def own_copy(tmp_path_factory):
    """(profile, program): tests/workloads/diff_work.py copied to a directory of its own and
    profiled there, so a test may edit or replace the program."""
    cwd = tmp_path_factory.mktemp("own")
    program = cwd / "work.py"
    program.write_bytes(workload("diff_work.py").read_bytes())
    proc = run_triscope(["--use-virtual-time", "--cpu-sampling-rate", "0.002", "--json", "-o",
                         cwd / "p.json", program, "2"], cwd)
    assert proc.returncode == 0, describe(proc)
    return cwd / "p.json", program


@pytest.mark.parametrize("data", [b"", b"abc", bytearray(b"x" * 64), memoryview(b"y" * 55),
                                  os.urandom(1 << 20)], ids=["empty", "abc", "bytearray",
                                                             "memoryview", "1MiB"])
def test_the_check_hashes_as_hashlib_does(data):
    """regions.py checks a file with the C core's SHA-256 (no hashlib loaded at exit): the
    same digest as hashlib's, for each bytes-like object."""
    from triscope import _native
    assert _native.sha256_hex(data) == hashlib.sha256(data).hexdigest()


def _retargeted(profile_path, tmp_path, target, sha256="keep"):
    """The profile with its program's file entry renamed to `target` (as an attacker would)."""
    profile = json.loads(profile_path.read_text())
    key = next(k for k in profile["files"] if k.endswith("work.py"))
    entry = profile["files"].pop(key)
    if sha256 == "absent":
        del entry["sha256"]
    elif sha256 != "keep":
        entry["sha256"] = sha256
    profile["files"][str(target)] = entry
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(profile))
    return path


def test_profile_records_the_sha256_of_every_file(own_copy):
    profile_path, program = own_copy
    profile = load_profile(profile_path)
    entry = profile["files"][str(program)]
    assert entry["sha256"] == hashlib.sha256(program.read_bytes()).hexdigest()
    for path, entry in profile["files"].items():
        if os.path.isfile(path):
            with open(path, "rb") as stream:
                assert entry["sha256"] == hashlib.sha256(stream.read()).hexdigest(), path


def test_optimize_reads_the_profiled_file_while_it_is_unchanged(own_copy, tmp_path):
    profile_path, _ = own_copy
    status, stdout, stderr = in_process(["optimize", profile_path, "--dry-run",
                                         "--function", "changing"])
    assert status == 0 and stderr == "", stderr
    assert "The file's imports:\nimport sys" in stdout and "def changing(factor):" in stdout


@pytest.mark.parametrize("recorded", ["keep", None, "absent"])
def test_optimize_never_sends_a_file_the_profile_renamed(own_copy, tmp_path, recorded):
    """The issue's attack, on a secret of our own and on /etc/passwd: the file is refused
    with one line naming it, and nothing of it is in what would be sent."""
    profile_path, _ = own_copy
    secret = tmp_path / "secret.py"
    secret.write_text("import os\nTOKEN = 'TOP-SECRET-5bd1'\n" * 40)
    for target, leak in ((secret, "TOP-SECRET"), ("/etc/passwd", "root:")):
        forged = _retargeted(profile_path, tmp_path, target, sha256=recorded)
        status, stdout, stderr = in_process(["optimize", forged, "--dry-run", "--line",
                                             f"{target}:19"])
        assert status == 0, stderr
        assert leak not in stdout and "The file's imports" not in stdout, stdout
        lines = stderr.splitlines()
        assert len(lines) == 1 and str(target) in lines[0] and "not reading" in lines[0], stderr
        assert "return sum([i * 3" in stdout  # the line the profile itself holds


def test_optimize_refuses_an_edited_file_and_a_fifo(own_copy, tmp_path):
    profile_path, program = own_copy
    edited = tmp_path / "work.py"
    edited.write_text(program.read_text() + "# edited\n")
    forged = _retargeted(profile_path, tmp_path, edited)
    status, stdout, stderr = in_process(["optimize", forged, "--dry-run"])
    assert status == 0 and "not reading" in stderr and "# edited" not in stdout, stderr
    fifo = tmp_path / "fifo.py"
    os.mkfifo(fifo)
    forged = _retargeted(profile_path, tmp_path, fifo)
    proc = run_triscope(["optimize", forged, "--dry-run"], tmp_path, timeout=30)
    assert proc.returncode == 0 and "not a regular file" in proc.stderr, describe(proc)


def test_what_is_sent_is_what_dry_run_prints(own_copy, tmp_path, model_url):
    """A forged profile with escapes, sent for real: the request carries exactly the dry-run
    text, and the model's answer reaches stdout without its control characters."""
    forged = _hostile_text_profile(own_copy[0], tmp_path, key=f"/nonexistent/x{ESCAPES}.py")
    env = {"TRISCOPE_AI_URL": model_url, "TRISCOPE_AI_MODEL": "m", "NO_PROXY": "127.0.0.1",
           "no_proxy": "127.0.0.1"}
    dry = run_triscope(["optimize", forged, "--dry-run"], tmp_path, env=env)
    assert dry.returncode == 0, describe(dry)
    _Model.requests.clear()
    real = run_triscope(["optimize", forged], tmp_path, env=env)
    assert real.returncode == 0, describe(real)
    assert len(_Model.requests) == 1
    messages = _Model.requests[0]["messages"]
    from triscope import optimize
    assert messages[0] == {"role": "system", "content": optimize.SYSTEM_PROMPT}
    assert messages[1]["content"] + "\n" == dry.stdout
    assert "Faster." in real.stdout and "pwned" in real.stdout
    assert not CONTROL & set(real.stdout + real.stderr + dry.stdout + dry.stderr), real.stdout
