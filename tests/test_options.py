"""The one options object (src/triscope/options.py): what it resolves, how it travels to a
child, that the parser, the Options fields and the option list splitting the command line
agree, and that the quick parser gives what argparse gives or leaves the tokens to it. The
options' effects are tested end to end in test_cli.py."""
import contextlib
import io
import json
import subprocess
import sys

import pytest

from triscope.cli import split_command_line
from triscope.options import (NOT_RUN_OPTIONS, OPTIONS_WITH_VALUE, RUN_OPTIONS, Options,
                              UsageError, build_parser, quick_values, run_values)

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


# ==== The quick parser against argparse ====

def argparse_outcome(tokens: list):
    """What argparse's parser makes of the run's options `tokens`, as today's command line
    does (with --config files): ("values", dict), ("error", message) or ("exit", status,
    what it printed)."""
    from triscope.options import with_config
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            return "values", vars(build_parser().parse_args(with_config(list(tokens))))
    except UsageError as error:
        return "error", str(error)
    except SystemExit as leaving:
        return "exit", leaving.code, printed.getvalue()


def quick_agrees(own: list) -> bool:
    """Whether the quick parser read the run's options `own` (else it left them to
    argparse); when it did, it gave exactly argparse's values, and so the same Options."""
    quick = quick_values(own)
    if quick is None:
        return False
    outcome = argparse_outcome(own)
    assert outcome == ("values", quick), own
    assert Options.from_values(quick) == Options.from_values(outcome[1])
    return True


# Command lines of runs, each handled by the quick parser (not left to argparse).
QUICK_COMMAND_LINES = [
    [],
    ["--cpu"],
    ["--cpu-only", "--json", "-o", "/tmp/x.json"],
    ["--html"],
    ["--cpu", "--cli", "--reduced-profile", "--cpu-percent-threshold", "5"],
    ["--memory", "--gpu", "--profile-only", "a,,b", "--profile-exclude", "c"],
    ["--gpu-sync", "--no-stacks", "--stacks", "--async", "--no-async", "--use-virtual-time"],
    ["--idle", "--profile-all", "--profile-system-libraries", "--web", "--live"],
    ["--profile-interval", "0.5", "--malloc-threshold", "0", "--cpu-sampling-rate", " 0.002 "],
    ["--memory-sampling-interval", "1024", "-v", "--verbose", "--off", "--on", "--standalone"],
    ["--program-path", ".", "-o", "", "--outfile", "a b"],
    ["-o", "first.json", "-o", "second.json", "--cpu-percent-threshold", "1e1"],
]
# Command lines only argparse reads: help, errors, abbreviations, clusters, `=` forms, a value
# starting with '-', --config, --pid.
ARGPARSE_COMMAND_LINES = [
    ["--help"], ["-h"], ["--version"], ["--cp"], ["--htm"], ["-vv"], ["--cli=1"],
    ["--outfile=x.json"], ["--"], ["--bogus"], ["-o"], ["-o", "-"], ["--outfile", "--cpu"],
    ["--cpu-percent-threshold", "-5"], ["--cpu-percent-threshold", "200"],
    ["--cpu-percent-threshold", "nan"], ["--malloc-threshold", "1.5"],
    ["--program-path", "/nonexistent"], ["-c", "triscope.toml"], ["--config=triscope.toml"],
    ["--pid", "1", "--on"], ["--cpu", "x"],
]


@pytest.mark.parametrize("tokens", QUICK_COMMAND_LINES, ids=" ".join)
def test_the_quick_parser_reads_the_command_lines_of_runs(tokens):
    own, program, is_module, program_args = split_command_line(
        [*tokens, "prog.py", "--cpu", "-o"])
    assert (own, program, is_module, program_args) == (tokens, "prog.py", False, ["--cpu", "-o"])
    assert quick_agrees(own)


@pytest.mark.parametrize("tokens", ARGPARSE_COMMAND_LINES, ids=" ".join)
def test_the_quick_parser_leaves_the_rest_to_argparse(tokens):
    assert quick_values(tokens) is None


def test_run_values_are_argparses_either_way():
    for tokens in QUICK_COMMAND_LINES:
        assert ("values", run_values(tokens)) == argparse_outcome(tokens)
    with pytest.raises(UsageError, match="ambiguous option: --cp could match"):
        run_values(["--cp"])


def test_the_table_holds_only_what_the_quick_parser_knows():
    """An option of another action (append, count) or with nargs, const or choices would be
    parsed by the quick parser as something else: it must learn it first."""
    for _, strings, settings in RUN_OPTIONS:
        assert settings.get("action", "store") in ("store", "store_true", "store_false",
                                                   "version"), strings
        assert set(settings) <= {"action", "dest", "default", "type", "metavar", "help",
                                 "version"}, strings
        assert not isinstance(settings.get("default"), str), strings  # argparse would convert


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings as run_settings, strategies as st  # noqa: E402

_STRINGS = sorted({string for _, strings, _ in RUN_OPTIONS for string in strings})
# Values for the options that take one, right and wrong, and what looks like an option.
_VALUES = ["0", "1", "5", "0.5", "100", "200", "1e-5", "0.0001", "10", "11", "-1", "-0.5",
           "nan", "inf", " 7 ", "1_0", "0x10", "1.0", "262144", "1073741825", "", ".", "/tmp",
           "/nonexistent", "a,b", ",", "out.json", "x y", "-", "--", "---", "-m", "--cpu",
           "-o", "--config=x", "prog.py"]


@st.composite
def command_lines(draw):
    """(argv, the program's part of it): the run's options in any order and number, with
    values right and wrong (or missing), abbreviated and clustered and `=` forms and stray
    tokens among them; then a program (a file, `-m module` or after `---`) and its arguments,
    which look like options too. The program's part is None where the options end before
    it (a value missing, or `-`)."""
    own, complete = [], True
    for _ in range(draw(st.integers(0, 8))):
        string = draw(st.sampled_from(_STRINGS))
        form = draw(st.sampled_from(["exact"] * 6 + ["prefix", "equals", "cluster", "stray"]))
        if form == "prefix" and string.startswith("--"):
            string = string[:draw(st.integers(3, len(string)))]
        elif form == "cluster":
            string = "-v" + draw(st.sampled_from(["v", "o", "c", "h", "vo"]))
        elif form == "stray":
            string = draw(st.sampled_from(["--", "-", "-x", "--bogus", "---x", "-1"]))
            complete = complete and string != "-"  # stdin's name: the program, as for python
        value = draw(st.sampled_from(_VALUES) | st.text(max_size=6))
        if form == "equals":
            own.append(f"{string}={value}")
            continue
        own.append(string)
        if string in OPTIONS_WITH_VALUE:
            if draw(st.integers(0, 9)):
                own.append(value)
            else:
                complete = False
    program = draw(st.sampled_from([["prog.py"], ["-m", "pkg.mod"], ["---", "-prog.py"],
                                     ["---", "-m", "mod"]]))
    program_args = draw(st.lists(st.sampled_from(_VALUES + _STRINGS), max_size=4))
    return own + program + program_args, (program + program_args if complete else None)


@run_settings(max_examples=600, deadline=None)
@given(command_lines())
def test_the_quick_parser_gives_argparses_values_or_defers(generated):
    """Whatever the command line, the options cli.main splits from it are parsed by the
    quick parser exactly as by argparse, or left to argparse; and where it reads them, the
    program and its arguments are the ones given."""
    argv, programs_part = generated
    try:
        own, program, is_module, program_args = split_command_line(argv)
    except UsageError:  # `-m` or `---` without a program: said before any options are parsed
        assert programs_part is None
        return
    hypothesis.event("quick" if quick_agrees(own) else "argparse")
    if quick_values(own) is not None and programs_part is not None:
        given_program = programs_part[1:] if programs_part[0] == "---" else programs_part
        assert [*(["-m"] if is_module else []), program, *program_args] == given_program


def test_parsing_a_run_imports_no_parser(tmp_path):
    """Importing options.py and parsing the command lines of runs imports none of argparse
    and the modules it brings (re, enum, gettext, locale, textwrap: about 8 ms of a start)
    that plain python has not imported itself."""
    listing = "import sys; print(' '.join(sys.modules))"
    plain = subprocess.run([sys.executable, "-c", listing], capture_output=True, text=True,
                           cwd=tmp_path, check=True)
    parsing = subprocess.run(
        [sys.executable, "-c", "from triscope.options import Options\n"
         f"for tokens in {QUICK_COMMAND_LINES!r}: Options.parse(tokens)\n{listing}"],
        capture_output=True, text=True, cwd=tmp_path, check=True)
    found = set(parsing.stdout.split()) - set(plain.stdout.split())
    assert "triscope.options" in found
    assert found & {"argparse", "re", "enum", "gettext", "locale", "textwrap"} == set()
