"""The frame table end to end (docs/PROFILE_FORMAT.md, "Versions"): a run writes each distinct
call-stack frame once, in `stack_frames`, and its stacks' frames as indices into it.

GIVEN tests/workloads/deep_stacks.py, whose stacks are 20 to 50 calls of one recursive
function deep and share nearly all their frames, and which notes the chains of calls above
its leaves as it sees them, WHEN it runs under triscope, THEN the table holds no frame twice,
every index names an entry, the stacks the indices spell out are the chains the program saw
(what the older form would have held), and the stacks take a fraction of the bytes the
older form takes.
"""
import json
import os

import pytest

from conftest import load_profile, marker_lineno, old_form, profile_workload, workload

SCRIPT = workload("deep_stacks.py")
LEAVES = ("leaf_a", "leaf_b")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return profile_workload(tmp_path_factory.mktemp("deep"), "deep_stacks.py", "0.5",
                            options=["--cpu", "--cli"])


def compact(value):
    return len(json.dumps(value, separators=(",", ":")))


def ours(frames):
    """The script's own frames of a stack, outermost first: [(function, line)]."""
    return [(function, line) for path, function, line in frames
            if os.path.realpath(path) == str(SCRIPT)]


def test_the_table_holds_each_frame_once_and_every_index_names_one(run):
    raw = load_profile(run.cwd / "profile.json", raw=True)
    assert raw["schema"] == "triscope/2"
    table = raw["stack_frames"]
    assert table, "no frame table"
    assert all(isinstance(frame, list) and len(frame) == 3 for frame in table)
    assert len({tuple(frame) for frame in table}) == len(table), "a frame is in the table twice"
    indices = [index for stack in raw["stacks"] for index in stack["frames"]]
    assert all(isinstance(index, int) and 0 <= index < len(table) for index in indices)
    assert set(indices) == set(range(len(table))), "a table entry no stack uses"
    # Shared frames: far fewer entries than frames in the stacks.
    assert len(indices) >= 5 * len(table), (len(indices), len(table))


def test_the_stacks_are_the_calls_the_program_made(run):
    """Above its leaf, a stack is one of the chains of calls the program saw (function and
    line of each frame, outermost first); at the bottom, the leaf's hot line, which the
    profile's lines charge too."""
    chains = {tuple(map(tuple, chain)) for chain in run.truth["chains"]}
    assert len(chains) == 4, chains  # one per depth: both leaves are called from one line
    lines = {line["lineno"]: line for line in
             run.profile["files"][next(path for path in run.profile["files"]
                                       if os.path.realpath(path) == str(SCRIPT))]["lines"]}
    seen = set()
    for stack in run.profile["stacks"]:
        frames = ours(stack["frames"])
        at_leaf = [i for i, (function, _) in enumerate(frames) if function in LEAVES]
        if not at_leaf:
            continue  # caught in the descent, or in the program's bookkeeping
        above, below = frames[:at_leaf[0]], frames[at_leaf[0]:]
        assert tuple(above) in chains, (above, sorted(chains))
        seen.add(tuple(above))
        leaf = below[0][0]
        innermost_function, innermost_line = below[-1]
        if innermost_function.startswith(leaf) and stack["samples"] > 0 and \
                innermost_line == run.truth["leaves"][leaf]:
            assert lines[innermost_line]["cpu_samples"] > 0, (stack, lines.get(innermost_line))
    assert len(seen) >= 2, f"stacks through {len(seen)} of the 4 depths only"
    # The leaves' lines as the test reads them from the source.
    assert run.truth["leaves"] == {leaf: marker_lineno(SCRIPT, leaf) for leaf in LEAVES}


def test_the_stacks_take_a_fraction_of_the_older_form(run):
    raw = load_profile(run.cwd / "profile.json", raw=True)
    older = old_form(raw)  # every frame spelled out in every stack, as triscope/1 wrote
    written = compact(raw["stacks"]) + compact(raw["stack_frames"])
    assert compact(older["stacks"]) >= 5 * written, (compact(older["stacks"]), written)
    size = (run.cwd / "profile.json").stat().st_size
    assert compact(older) >= 2 * size, (compact(older), size)
