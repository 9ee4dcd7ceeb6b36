"""The stacks of waiting threads, walked from another thread (docs/ARCHITECTURE.md, "frames.c":
a window of the data stack read at once, code headers kept between walks).

GIVEN tests/workloads/deep_wait.py, whose second thread blocks on a pipe for a second at the
bottom of 100 recursive calls, every tenth through a generator (a frame outside the thread's
data stack), so a walk needs more than one window and leaves it for the generators' frames,
WHEN it runs under triscope, THEN the read line carries the blocked second as system time,
and the stack it was charged to is the thread's chain of calls as the program saw it, to the
depth a profile keeps (docs/PROFILE_FORMAT.md, "stacks").
"""
import os

from conftest import marker_line, marker_lineno, pcts, profile_workload, workload

SCRIPT = workload("deep_wait.py")
KEPT = 64  # frames.h: TS_MAX_DEPTH, the innermost frames a stack keeps


def ours(frames):
    return [[function, line] for path, function, line in frames
            if os.path.realpath(path) == str(SCRIPT)]


def test_a_deep_waiting_stack_is_walked_whole(tmp_path):
    run = profile_workload(tmp_path, "deep_wait.py", "1.0", options=["--cpu", "--cli"])
    prof, truth = run.profile, run.truth
    _, _, system = pcts(marker_line(prof, SCRIPT, "read"))
    blocked_s = system / 100 * prof["thread_time_s"]
    assert blocked_s >= 0.8 * truth["wait_s"], (system, prof["thread_time_s"], truth["wait_s"])

    read_line = marker_lineno(SCRIPT, "read")
    wanted = truth["chain"][:-1] + [["descend", read_line]]
    at_read = [stack for stack in prof["stacks"]
               if ours(stack["frames"])[-1:] == [["descend", read_line]]]
    assert at_read, "no stack ends at the read"
    heaviest = max(at_read, key=lambda stack: stack["seconds"])
    assert heaviest["seconds"] >= 0.8 * truth["wait_s"], (heaviest["seconds"], truth["wait_s"])
    walked = ours(heaviest["frames"])
    assert len(walked) >= KEPT - 2, len(walked)  # the chain is deeper than a stack keeps
    assert walked == wanted[-len(walked):], (walked, wanted)
    generators = sum(function == "through_generator" for function, _ in walked)
    assert generators >= 5, walked
