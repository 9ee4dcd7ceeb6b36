"""`triscope optimize profile.json`: optimisation proposals for the hottest code (docs/DEFINITIONS.md).

Picks a region of code: the hottest functions (--top K; hottest by the goal's measure), one
function (--function NAME), the function around a line (--line FILE:N), the region proposed
for a hot line (--region FILE:N: its loop nest, else its function, else its block, with
the lines of the file's syntax tree, regions.py), or lines the user names (--lines
FILE:A-B). It sends the region with the profile's numbers that matter for the goal (--goal
time, memory or gpu) and the file's imports (what the code can already use) to an AI
provider (--provider: OpenAI or a compatible server, Azure OpenAI, Anthropic, Gemini,
Bedrock, Ollama; providers.py), and prints the proposal.

The prompt is built from viewer/ai.json, the file the viewer page builds its prompt from
too (ai_spec.py), so the page and this command send the same text for the same region.

A profile is untrusted input: the paths in it may name any file. The code sent is the text
the profile itself holds (each measured line's `source`), or a file read from disk only when
its SHA-256 is the one the profile recorded when it was written (`sha256` of the file entry,
docs/PROFILE_FORMAT.md); any other file is not read, and one line on stderr names it. Every
field sent or printed has its control characters replaced (reports/common.py), so that
--dry-run prints exactly the user message each request would carry.

Keys come from the environment only (providers.py names the variables): never a command-line
argument, never written into a file, a report or an error message. Every failure (nothing
configured, network error, timeout, HTTP error, a reply without a proposal) is one
`triscope: error:` line and exit status 2.
"""

import ast
import functools
import os
import re
import sys

from triscope import ai_spec, providers, regions
from triscope.options import new_parser, UsageError, bounded
from triscope.reports import common

TIME_KEYS = ("cpu_python_pct", "cpu_native_pct", "cpu_system_pct")
GOALS = ("time", "memory", "gpu")
MAX_REGION_LINES = 150
CONTEXT_LINES = 3  # around a line outside any function, loop or block
IMPORT = re.compile(r"(import|from)\s")

# The time goal's system prompt (what `triscope optimize` sent before goals existed).
SYSTEM_PROMPT = ai_spec.spec()["goals"]["time"]["system"]


# ==== Choosing the code ====


class Region:
    """Lines first..last of `path`, with the profile's measurements of them."""

    def __init__(self, path, recorded, first, last, title, lines, source_lines):
        self.path, self.first, self.last, self.title = path, first, last, title
        self.recorded = recorded          # the file's sha256 in the profile, or None
        self.lines = lines                # lineno → line entry of the profile
        self.source_lines = source_lines  # the file's verified text, or None

    def measured(self) -> list:
        return [self.lines[n] for n in sorted(self.lines)]

    def seconds(self, thread_time):
        return sum(_pct(line) for line in self.measured()) / 100 * thread_time


def _pct(metrics: dict) -> float:
    python, native, system = (common.number(metrics[key]) for key in TIME_KEYS)
    return python + native + system


# The measure each goal ranks functions by (--top) and needs the profile to have.
def _goal_measure(goal: str, metrics: dict) -> float:
    if goal == "memory":
        return common.number(metrics.get("alloc_mb", 0.0))
    if goal == "gpu":
        return common.number(metrics.get("gpu_pct", 0.0))
    return _pct(metrics)


@functools.lru_cache(maxsize=64)
def _read_bytes(path: str, recorded):
    """The file's bytes, or None (said once on stderr) when it is not read."""
    data, reason = regions.verified_bytes(path, recorded)
    if data is None:
        print(common.terminal_line(f"triscope: not reading {path}: {reason}; only the lines "
                                   "the profile holds are used"), file=sys.stderr)
    return data


@functools.lru_cache(maxsize=64)
def _read_source(path: str, recorded):
    """The file's lines as a tuple, or None when it is not read."""
    data = _read_bytes(path, recorded)
    return None if data is None else regions.lines(data)


@functools.lru_cache(maxsize=64)
def _parse(path: str, recorded):
    """The file's syntax tree (for its imports), or None when it is not read or does not
    parse."""
    data = _read_bytes(path, recorded)
    if data is None:
        return None
    try:
        return ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


@functools.lru_cache(maxsize=64)
def _function_spans(path: str, recorded) -> tuple:
    """Every function, loop and block of the file (regions.spans), or () unread."""
    data = _read_bytes(path, recorded)
    found = None if data is None else regions.spans(data)
    return () if found is None else tuple(found)


def _enclosing_function(path: str, recorded, lineno: int):
    """(first, last, kind, name) of the innermost def around `lineno`, or None outside any
    function (or when the file is not read or cannot be parsed)."""
    around = [span for span in _function_spans(path, recorded)
              if span[2] == "function" and span[0] <= lineno <= span[1]]
    return max(around, default=None)


def _names(qualified: str, function: str) -> bool:
    """Whether `function` names the code `qualified` (a qualified name): the function itself,
    a method (`Class.function`), or code nested in it (`function.<locals>.<genexpr>`, whose
    time is the function's own work even when the function's self time is nil)."""
    nested = function + ".<locals>."
    return (qualified == function or qualified.endswith("." + function)
            or qualified.startswith(nested) or ("." + nested) in qualified)


def _measured_lines(entry) -> dict:
    return {common.count(line["lineno"]): line for line in entry["lines"]}


def _region(path, entry, first, last, title):
    """Lines first..last of the file, cut to the file's end when it is read."""
    recorded = entry.get("sha256")
    source_lines = _read_source(path, recorded)
    if source_lines is not None:
        last = min(last, len(source_lines))
    measured = {n: line for n, line in _measured_lines(entry).items() if first <= n <= last}
    return Region(path, recorded, first, last, title, measured, source_lines)


def _region_around(path, entry, lineno, span=None):
    """The region `span` (a regions.py span; default the function around `lineno`), or a
    few lines around the line outside any, capped in size around the line. Without the
    file's text, the few lines shrink to the measured ones among them (the viewer's rule)."""
    recorded = entry.get("sha256")
    if span is None:
        span = _enclosing_function(path, recorded, lineno)
    if span is not None:
        first, last, title = span[0], span[1], regions.title(span)
    else:
        first, last = max(1, lineno - CONTEXT_LINES), lineno + CONTEXT_LINES
        title = f"line {lineno}"
        if _read_source(path, recorded) is None:
            inside = [n for n in _measured_lines(entry) if first <= n <= last]
            first, last = min(inside, default=lineno), max(inside, default=lineno)
    if last - first + 1 > MAX_REGION_LINES:  # a huge function: the part around the line
        first = max(first, lineno - MAX_REGION_LINES // 2)
        last = first + MAX_REGION_LINES - 1
    return _region(path, entry, first, last, title)


def _same_path(a: str, b: str) -> bool:
    return a == b or os.path.realpath(a) == os.path.realpath(b) or (
        not os.path.isabs(b) and a.endswith(os.sep + b))


def _profiled_file(files: dict, path: str, option: str) -> str:
    matches = [p for p in files if _same_path(p, path)]
    if not matches:
        raise UsageError(f"{option}: no profiled file {path!r} in the profile")
    return matches[0]


def _file_and_lines(value: str, option: str):
    """FILE and (A, B) from FILE:N or FILE:A-B."""
    path, _, numbers = value.rpartition(":")
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", numbers)
    if not path or not match:
        wanted = "FILE:A-B or FILE:N" if option == "--lines" else "FILE:N"
        raise UsageError(f"{option} wants {wanted}, not {value!r}")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else first
    if option != "--lines" and match.group(2):
        raise UsageError(f"{option} wants FILE:N, not {value!r}")
    if not 1 <= first <= last:
        raise UsageError(f"{option} {value!r}: the lines must count up from 1")
    if last - first + 1 > MAX_REGION_LINES:
        raise UsageError(f"{option} {value!r}: at most {MAX_REGION_LINES} lines")
    return path, first, last


def select_regions(profile: dict, line=None, function=None, top=1, region=None, lines=None,
                   goal="time") -> list:
    """The regions to send: by --line FILE:N, --region FILE:N, --lines FILE:A-B, by
    --function NAME, else the `top` hottest functions for the goal (distinct regions)."""
    files = profile["files"]
    if lines is not None:
        path, first, last = _file_and_lines(lines, "--lines")
        path = _profiled_file(files, path, "--lines")
        title = f"line {first}" if first == last else f"lines {first}-{last}"
        return [_region(path, files[path], first, last, title)]
    if line is not None or region is not None:
        option = "--line" if line is not None else "--region"
        path, lineno, _ = _file_and_lines(line or region, option)
        path = _profiled_file(files, path, option)
        entry = files[path]
        span = None
        if region is not None:
            span = regions.propose(_function_spans(path, entry.get("sha256")), lineno)
        return [_region_around(path, entry, lineno, span)]
    candidates = []
    for path, entry in files.items():
        for item in entry["functions"]:
            name = common.text(item["name"])
            if function is None or _names(name, function):
                candidates.append((_goal_measure(goal, item), path, item))
    if function is not None and not candidates:
        raise UsageError(f"no function {function!r} in the profile")
    candidates.sort(key=lambda c: -c[0])
    found, seen = [], set()
    for _, path, item in candidates:
        entry = files[path]
        lineno = common.count(item["lineno"])
        if item["name"] == "<module>":  # no def to send: the module's hottest line instead
            own = [l for l in entry["lines"]
                   if _enclosing_function(path, entry.get("sha256"), l["lineno"]) is None]
            if not own:
                continue
            lineno = max(own, key=lambda l: _goal_measure(goal, l))["lineno"]
        chosen = _region_around(path, entry, lineno)
        if (path, chosen.first) in seen:  # a generator expression inside a function
            continue
        seen.add((path, chosen.first))
        found.append(chosen)
        if len(found) >= top:
            break
    if not found:
        raise UsageError("the profile has no measured functions to optimise")
    return found


# ==== The prompt: viewer/ai.json's templates, filled as the viewer fills them ====


def _imports(path: str, recorded) -> list:
    """The file's import statements, as written (the libraries the code may use)."""
    tree = _parse(path, recorded)
    if tree is None:
        return []
    source_lines = _read_source(path, recorded)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            text = " ".join(source_lines[node.lineno - 1:node.end_lineno or node.lineno])
            found.append(" ".join(text.split()))
    return list(dict.fromkeys(found))


def _measured_imports(entry) -> list:
    """The import lines among the measured ones: all the viewer page knows of them."""
    found = (common.terminal_line(common.text(line.get("source", ""))).strip()
             for line in entry["lines"])
    return list(dict.fromkeys(text for text in found if IMPORT.match(text)))


def _line_values(metrics: dict) -> dict:
    values = {key: common.number(value) for key, value in metrics.items()
              if isinstance(value, (int, float)) and not isinstance(value, bool)}
    values.setdefault("python_fraction", 0.0)
    values["time"] = _pct(metrics)
    values["python_alloc_pct"] = values["python_fraction"] * 100
    return values


def annotate(metrics: dict, goal: str = "time") -> str:
    """The numbers of one line that matter for the goal."""
    spec = ai_spec.spec()["goals"][goal]
    values = _line_values(metrics)
    parts = []
    for part in spec["numbers"]:
        condition = part.get("if")
        if condition is not None:
            value = values.get(condition, 0.0)
            if not (value >= part["min"] if "min" in part else value != 0):
                continue
        parts.append(ai_spec.fill(part["text"], values))
    return ", ".join(parts) or spec["none"]


def system_prompt(goal: str = "time") -> str:
    return ai_spec.spec()["goals"][goal]["system"]


def build_prompt(profile: dict, region: Region, goal: str = "time") -> str:
    """The user message: the run, the file's imports, the region annotated line by line."""
    # Every field from the profile or a file goes through terminal_line: what --dry-run
    # prints is exactly what is sent, so neither may carry a terminal escape or a line break
    # that would forge a line of the prompt.
    spec = ai_spec.spec()
    prompt, goal_spec = spec["prompt"], spec["goals"][goal]
    line_of = common.terminal_line
    thread_time = common.number(profile["thread_time_s"])
    measured = region.measured()
    totals = {"seconds": region.seconds(thread_time),
              "alloc_mb": sum(common.number(l.get("alloc_mb", 0.0)) for l in measured),
              "gpu_pct": sum(common.number(l.get("gpu_pct", 0.0)) for l in measured)}
    values = {"program": line_of(common.text(profile["program"])),
              "python": line_of(common.text(profile["python"])),
              "elapsed_s": common.number(profile["elapsed_s"]), "thread_time_s": thread_time,
              "path": line_of(region.path), "first": region.first, "last": region.last,
              "title": line_of(region.title),
              "summary": ai_spec.fill(goal_spec["summary"], totals)}
    out = [ai_spec.fill(template, values) for template in prompt["header"]]
    if region.source_lines is not None:
        imports, heading = _imports(region.path, region.recorded), prompt["imports"]
        code_heading = prompt["code"]
    else:
        imports = _measured_imports(profile["files"][region.path])
        heading, code_heading = prompt["imports_measured"], prompt["code_measured"]
    if imports:
        out += ["", heading, *map(line_of, imports)]
    out += ["", code_heading, ""]
    for lineno in range(region.first, region.last + 1):
        if region.source_lines is not None and lineno <= len(region.source_lines):
            text = region.source_lines[lineno - 1]
        elif lineno in region.lines:
            text = common.text(region.lines[lineno].get("source", ""))
        else:
            continue
        line = region.lines.get(lineno)
        note = "" if line is None else ai_spec.fill(
            prompt["note"], {"lineno": lineno, "numbers": annotate(line, goal)})
        out.append(line_of(text).rstrip() + note)
    return "\n".join(out) + "\n"


def _check_goal(profile: dict, goal: str) -> None:
    """A goal the profile has no numbers for is refused, not sent as zeros."""
    if goal == "memory" and not profile["memory"]["enabled"]:
        raise UsageError("--goal memory: the profile has no memory measurements "
                         "(profile with memory, e.g. without --cpu)")
    if goal == "gpu" and not profile["gpu"]["enabled"]:
        raise UsageError("--goal gpu: the profile has no GPU measurements (profile with "
                         "--gpu on a machine with an NVIDIA GPU)")


# ==== The command ====


def main(argv: list) -> int:
    """`triscope optimize profile.json [--line FILE:N | --region FILE:N | --lines FILE:A-B |
    --function NAME | --top K] [--goal G] [--provider P --model M]`."""
    parser = new_parser(prog="triscope optimize",
                        description="Ask an AI model for optimisations of the hottest code of a "
                                    "profile. Keys come from the environment only "
                                    "(docs/DEFINITIONS.md, AI optimization).")
    parser.add_argument("profile", nargs="?")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--line", metavar="FILE:N", help="the function around this line")
    which.add_argument("--region", metavar="FILE:N",
                       help="the region proposed for this line (Scalene's 💥): its loop nest, "
                            "else its function, else its block")
    which.add_argument("--lines", metavar="FILE:A-B",
                       help="these lines (FILE:N: one line, Scalene's ⚡)")
    which.add_argument("--function", metavar="NAME", help="this function (qualified name, "
                                                          "or its last part)")
    which.add_argument("--top", type=bounded(int, 1, 100), default=1, metavar="K",
                       help="the K hottest functions for the goal, one request each "
                            "(default 1)")
    parser.add_argument("--goal", choices=GOALS, default="time",
                        help="what to optimise for, and so which numbers the prompt carries "
                             "(default time)")
    parser.add_argument("--provider", choices=providers.NAMES,
                        help="the AI provider (default: $TRISCOPE_AI_PROVIDER, else openai)")
    parser.add_argument("--model", help="the model (Azure: the deployment; default: "
                                        "$TRISCOPE_AI_MODEL)")
    parser.add_argument("--url", help="the provider's base URL (default: the provider's "
                                      "own, or its variable)")
    parser.add_argument("--api-version", help="Azure's api-version")
    parser.add_argument("--aws-region", help="Bedrock's AWS region (default: $AWS_REGION)")
    parser.add_argument("--list-models", action="store_true",
                        help="print the models the provider's server has (Ollama) and exit")
    parser.add_argument("--api-keys-from-env", action="store_true",
                        help="accepted for Scalene's users: keys always come from the "
                             "environment only")
    parser.add_argument("--timeout", type=bounded(float, 0.001, 3600, "seconds"),
                        default=120.0,
                        help="seconds to wait for each answer (default 120)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the user message of each request exactly as it would be "
                             "sent (with the goal's fixed system prompt), send nothing")
    options = parser.parse_args(argv)
    name = providers.chosen(options.provider)
    if options.list_models:
        found = providers.settings(name, options.url, options.model, options.api_version,
                                   options.aws_region)
        for model in providers.models(name, found, options.timeout):
            print(common.terminal_line(model))
        return 0
    if options.profile is None:
        raise UsageError("triscope optimize wants a profile (or --list-models)")
    profile = common.load(options.profile)
    with common.reading(options.profile):
        _check_goal(profile, options.goal)
        chosen = select_regions(profile, options.line, options.function, options.top,
                                options.region, options.lines, options.goal)
        prompts = [build_prompt(profile, region, options.goal) for region in chosen]
    if options.dry_run:
        for prompt in prompts:
            sys.stdout.write(prompt + "\n")
        return 0
    found = providers.settings(name, options.url, options.model, options.api_version,
                               options.aws_region)
    if not found["model"]:
        raise UsageError(_no_model(name))
    thread_time = common.number(profile["thread_time_s"])
    for region, prompt in zip(chosen, prompts):
        if sys.stderr.isatty():  # something to watch while the model thinks
            print(common.terminal_line(f"triscope: asking {found['model']} about "
                                       f"{region.path}:{region.first}-{region.last} "
                                       f"({region.title})…"), file=sys.stderr)
        proposal = providers.ask(name, found, system_prompt(options.goal), prompt,
                                 options.timeout)
        share = region.seconds(thread_time) / thread_time * 100 if thread_time else 0.0
        heading = common.terminal_line(
            f"=== {region.title}, {os.path.basename(region.path)}:{region.first}-"
            f"{region.last} ({share:.1f}% of the time) ===")
        # The answer is untrusted text too (the model may repeat what the profile held).
        sys.stdout.write(f"{heading}\n{common.terminal_text(proposal.rstrip())}\n\n")
        sys.stdout.flush()
    return 0


def _no_model(name: str) -> str:
    if name == "ollama":
        return "no model: give --model (--list-models prints those the server has)"
    if name == "azure":
        return "no deployment: give --model or set AZURE_OPENAI_DEPLOYMENT"
    return "no model: give --model or set TRISCOPE_AI_MODEL"
