"""Hostile input for every reader of profiles: `triscope view` (text and HTML), `merge`, `diff`
and `export` (speedscope and collapsed stacks). Whatever the file holds, the answer is a report
(exit 0) or one `triscope: error:` line (exit 2), never a traceback. A profile that merge
accepted must then be viewable the same way.

Hypothesis generates the files: random bytes, random JSON, a real profile truncated anywhere,
and a real profile (from a short run with --stacks, so every section is filled), as written
or in the older triscope/1 form (docs/PROFILE_FORMAT.md, "Versions"), with parts replaced by
values of the wrong type, huge or non-finite numbers, deep nesting, odd strings, or removed;
and schema-shaped damage, on which the readers' own schema check must agree with jsonschema
(and the check of frame indices beyond it). Most examples call `triscope.cli.main(["view", ...])` in-process (streams
redirected), which is what the command runs, so a few hundred examples take seconds; a few
fixed cases go through the real command in a subprocess as well. Examples are bounded and the
example database is off, so the run is the same size every time.
"""
import contextlib
import copy
import io
import json
import os

import pytest

from conftest import (FORMS, describe, frames_outside_the_table, load_profile,
                      profile_workload, run_triscope)

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from triscope import cli  # noqa: E402
from triscope.options import UsageError  # noqa: E402
from triscope.reports import common  # noqa: E402

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("TRISCOPE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck), print_blob=True)
MODES = (["--cli"], ["--html"], ["merge"], ["diff"], ["speedscope"], ["collapsed"])
MODE_IDS = ["cli", "html", "merge", "diff", "speedscope", "collapsed"]


@pytest.fixture(scope="module")
def base_profile(tmp_path_factory):
    """A real profile with lines, functions, memory, leaks and stacks, as written (its
    stacks' frames indices into stack_frames)."""
    run = profile_workload(tmp_path_factory.mktemp("fuzzbase"), "mem_leak.py", "0.3",
                           options=["--stacks", "--cli"])
    assert run.profile["stacks"], "the base profile should have stacks"
    return load_profile(run.cwd / "profile.json", raw=True)


@pytest.fixture(scope="module")
def base_profiles(base_profile):
    """The base profile in each form: schema → profile."""
    return {form: write(base_profile) for form, write in FORMS.items()}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, base_profile):
    """Where the examples are written; base.json is the good profile merge combines with."""
    path = tmp_path_factory.mktemp("fuzz")
    (path / "base.json").write_text(json.dumps(base_profile))
    return path


def command(path, mode, outdir):
    """The arguments of `triscope` that read `path` in `mode` (writing under `outdir`)."""
    if mode == ["merge"]:
        return ["merge", "-o", str(outdir / "merged.json"), str(outdir / "base.json"), str(path)]
    if mode == ["diff"]:  # both sides go through the same loader: the hostile one is after
        return ["diff", str(outdir / "base.json"), str(path)]
    if mode in (["speedscope"], ["collapsed"]):
        return ["export", "--format", mode[0], str(path), "-o", str(outdir / "exported")]
    if mode == ["--html"]:
        return ["view", str(path), "--html", "-o", str(outdir / "out.html")]
    return ["view", str(path), *mode]


def view_in_process(path, mode, outdir):
    """Runs `triscope *command(...)` as the command would: (status, stdout, stderr)."""
    argv = command(path, mode, outdir)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(argv)
        except SystemExit as exit_:  # argparse's own --help and the like
            status = exit_.code
    return status, out.getvalue(), err.getvalue()


def check_answer(status, stdout, stderr, mode):
    """A report (exit 0) or exactly one error line (exit 2)."""
    detail = f"status {status}\n--- stdout ---\n{stdout[-2000:]}\n--- stderr ---\n{stderr[-2000:]}"
    assert status in (0, 2), detail
    if status == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("triscope: error:"), detail
    elif mode == ["--cli"]:
        assert stdout.strip(), detail
    elif mode == ["merge"]:  # the hostile input skipped (one line) or merged
        lines = stderr.splitlines()
        assert "merged into" in lines[-1], detail
        assert all(" skipped, " in line for line in lines[:-1]) and len(lines) <= 2, detail
    elif mode == ["diff"]:
        assert stdout.strip() and not stderr, detail
    elif mode in (["speedscope"], ["collapsed"]):
        assert stderr.count("\n") == 1 and "export written" in stderr, detail
    assert "Traceback" not in stderr, detail


def refused(status, stderr, mode):
    """Whether the file was refused: one error line, or merge's skipping it (merged with a
    good profile, a file it cannot read is skipped and said)."""
    return status == 2 or (mode == ["merge"] and " skipped, " in stderr)


def view_bytes(data, mode, workdir):
    """Whether the command refused `data` (2, see refused) or read it (its status)."""
    path = workdir / "profile.json"
    path.write_bytes(data)
    status, stdout, stderr = view_in_process(path, mode, workdir)
    check_answer(status, stdout, stderr, mode)
    if mode == ["merge"] and status == 0:  # what merge wrote must be viewable too
        merged = workdir / "merged.json"
        check_answer(*view_in_process(merged, ["--cli"], workdir), ["--cli"])
        merged.unlink()
    return 2 if refused(status, stderr, mode) else status


# ==== Strategies ====

HUGE_NUMBERS = st.sampled_from([10 ** 400, -(10 ** 400), 1e308, -1e308, 2 ** 63, -(2 ** 63) - 1,
                                float("inf"), float("-inf"), float("nan"), 0, -0.0, 5e-324])
ODD_STRINGS = st.sampled_from(["", "\x00", "\ud800", "</script><script>alert(1)</script>",
                               "x" * 10_000, "\u202e\u2028\u2029", "%s%n{0}", "\x1b[31m"])
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) |
           st.text(max_size=30) | HUGE_NUMBERS | ODD_STRINGS)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) |
    st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)


def deep(depth, leaf):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def paths_of(value, prefix=()):
    """Every path (tuple of keys and indexes) inside a JSON value, the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths_of(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value[:6]):  # a few items of long lists suffice
            yield from paths_of(child, prefix + (index,))


def replaced(value, path, new, delete=False):
    """A copy of `value` with the item at `path` replaced by `new` (or removed)."""
    if not path:
        return new
    result = copy.deepcopy(value)
    parent = result
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return result


def dumps(value):
    # allow_nan: Python's json reader accepts NaN and Infinity, so a file may hold them.
    return json.dumps(value, allow_nan=True).encode()


# ==== The fuzz tests ====

@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(workdir, mode, data):
    view_bytes(data, mode, workdir)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@FUZZ
@given(value=JSON_VALUES)
def test_random_json(workdir, mode, value):
    view_bytes(dumps(value), mode, workdir)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@FUZZ
@given(cut=st.floats(min_value=0, max_value=1, exclude_max=True))
def test_truncated_profile(workdir, base_profile, mode, cut):
    data = dumps(base_profile)
    assert view_bytes(data[:int(len(data) * cut)], mode, workdir) == 2


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@FUZZ
@given(data=st.data())
def test_profile_with_wrong_parts(workdir, base_profiles, mode, data):
    profile = base_profiles[data.draw(st.sampled_from(sorted(base_profiles)), label="form")]
    paths = [p for p in paths_of(profile) if p]
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(paths), label="path")
        try:
            profile = replaced(
                profile, path,
                data.draw(JSON_VALUES | HUGE_NUMBERS | st.just(deep(50, 1)), label="new"),
                delete=data.draw(st.booleans(), label="delete"))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed or replaced this path's parent
    view_bytes(dumps(profile), mode, workdir)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
@FUZZ
@given(data=st.data())
def test_schema_shaped_with_wrong_types(workdir, base_profile, mode, data):
    """Every top-level key, and every key of a line entry, with a value of any type."""
    line_keys = sorted(next(iter(base_profile["files"].values()))["lines"][0])
    top_keys = sorted(base_profile)
    line = {key: data.draw(SCALARS, label=key) for key in line_keys}
    profile = copy.deepcopy(base_profile)
    path = next(iter(profile["files"]))
    profile["files"][path]["lines"].append(line)
    profile["files"][path]["functions"].append(dict(line, name=data.draw(SCALARS)))
    for key in data.draw(st.lists(st.sampled_from(top_keys), max_size=3, unique=True)):
        profile[key] = data.draw(SCALARS | JSON_VALUES, label=key)
    profile["schema"] = base_profile["schema"]
    view_bytes(dumps(profile), mode, workdir)


# Values that matter to the schema: wrong types, below a minimum, above a maximum, short
# pairs. No whole floats (1.0 is an integer to JSON Schema but not to triscope's reader, which
# is stricter there on purpose) and nothing the JSON reader refuses before the schema.
SCHEMA_PROBES = st.sampled_from([-1, -0.5, 0, 2, 1.5, 3.25, "x", "", None, True, False, [],
                                 [0.5], [[0.5]], [[0.5, 1.5]], {}, {"a": 1}, [["a", "b", 1]],
                                 [["a", "b"]], "process", "0" * 64, 2 ** 40])


@settings(FUZZ, max_examples=2 * EXAMPLES)
@given(data=st.data())
def test_the_reader_rejects_exactly_what_the_schema_rejects(base_profiles, data):
    """The readers check a profile against docs/profile.schema.json with a small validator of
    their own (reports/validate.py): on a real profile with schema-shaped damage, in either
    form, it must agree with jsonschema, both ways, and with the frame indices' rule beyond
    the schema."""
    from conftest import _validator
    profile = base_profiles[data.draw(st.sampled_from(sorted(base_profiles)), label="form")]
    paths = [p for p in paths_of(profile) if p and p != ("schema",)]
    # Half the damage to the stacks and their frame table, a small part of all the paths.
    stack_paths = [p for p in paths if p[0] in ("stacks", "stack_frames")]
    for _ in range(data.draw(st.integers(1, 2), label="mutations")):
        path = data.draw(st.sampled_from(paths) | st.sampled_from(stack_paths), label="path")
        try:
            profile = replaced(profile, path, data.draw(SCHEMA_PROBES, label="value"),
                               delete=data.draw(st.booleans(), label="delete"))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed or replaced this path's parent
    schema_ok = not any(True for _ in _validator().iter_errors(profile)) and \
        not frames_outside_the_table(profile)
    try:
        common.parse(json.dumps(profile), "p.json")
        reader_ok = True
    except UsageError as error:
        reader_ok = False
        assert "\n" not in str(error)
    assert reader_ok == schema_ok, json.dumps(profile)[:3000]


# ==== Fixed cases, through the real command ====

FIXED = {
    "empty": b"",
    "not_json": b"{not json",
    "nan_everywhere": b'{"schema": "triscope/1", "elapsed_s": NaN, "samples": Infinity}',
    "deep_nesting": b"[" * 100_000 + b"]" * 100_000,
    "latin1": '{"schema": "triscope/1", "program": "caf\xe9"}'.encode("latin-1"),
    "huge_int": b'{"schema": "triscope/1", "samples": ' + b"9" * 5000 + b"}",
}


@pytest.mark.parametrize("name", sorted(FIXED))
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_fixed_hostile_files_through_the_command(workdir, tmp_path, name, mode):
    path = tmp_path / "profile.json"
    path.write_bytes(FIXED[name])
    proc = run_triscope(command(path, mode, workdir), tmp_path)
    check_answer(proc.returncode, proc.stdout, proc.stderr, mode)
    assert refused(proc.returncode, proc.stderr, mode), describe(proc)


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_real_profile_still_renders(workdir, tmp_path, base_profiles, mode, form):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(base_profiles[form]))
    proc = run_triscope(command(path, mode, workdir), tmp_path)
    assert proc.returncode == 0, describe(proc)
    check_answer(proc.returncode, proc.stdout, proc.stderr, mode)
