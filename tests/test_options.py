"""The one options object (src/triscope/options.py): what it resolves, how it travels to a
child, and that the parser, the Options fields and the option list splitting the command line
agree. The options' effects are tested end to end in test_cli.py."""
import json

import pytest

from triscope.options import NOT_RUN_OPTIONS, OPTIONS_WITH_VALUE, Options, build_parser

# --pid and --on control another process: they are no option of a profiling run.
CONTROL_ONLY = {"pid", "on"}
# Fields resolved from the options given rather than given themselves.
RESOLVED_ONLY = {"gpu_asked"}


@pytest.mark.parametrize("flags,cpu,memory,gpu", [
    ([], True, True, True),  # everything (the GPU when the C core finds one)
    (["--cpu"], True, False, False),
    (["--memory"], False, True, False),
    (["--cpu", "--memory"], True, True, False),
    (["--gpu"], True, False, True),  # GPU time is charged through CPU samples
    (["--gpu-sync"], True, False, True),
    (["--gpu", "--memory"], True, True, True),
    (["--gpu", "--cpu"], True, False, True),
])
def test_what_is_profiled_is_resolved_once(flags, cpu, memory, gpu):
    options = Options.parse(flags)
    assert (options.cpu, options.memory, options.gpu) == (cpu, memory, gpu)
    assert options.gpu_sync == ("--gpu-sync" in flags)
    # Only a GPU asked for is worth a line when none can be profiled (the default looks).
    assert options.gpu_asked == ("--gpu" in flags or "--gpu-sync" in flags)


def test_a_child_gets_the_same_options_through_json():
    options = Options.parse(["--profile-only", "a,b", "--stacks", "-o", "out.json",
                             "--cpu-sampling-rate", "0.005", "--memory"])
    assert Options.from_dict(json.loads(json.dumps(options.to_dict()))) == options


def test_options_cannot_be_changed_in_place():
    options = Options.parse([])
    with pytest.raises(AttributeError):
        options.outfile = "elsewhere.json"
    changed = options.replace(outfile="elsewhere.json")
    assert (changed.outfile, options.outfile) == ("elsewhere.json", None)


def test_parser_and_options_fields_agree():
    """Every option of a run is a field (none is dropped on the way), and the options that
    take a value are exactly those that split_command_line skips the value of."""
    actions = [action for action in build_parser()._actions if action.option_strings]
    dests = ({action.dest for action in actions} - {"help", "version"} - CONTROL_ONLY
             - NOT_RUN_OPTIONS)
    assert dests | RESOLVED_ONLY == set(Options._fields)
    assert OPTIONS_WITH_VALUE == {string for action in actions if action.nargs != 0
                                  for string in action.option_strings}
