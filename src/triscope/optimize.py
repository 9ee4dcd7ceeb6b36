"""`triscope optimize profile.json`: optimisation proposals for the hottest code (docs/DEFINITIONS.md).

Picks a region of code (the hottest functions with --top K, one function with --function
NAME, or the function around one line with --line FILE:N), and sends it with its profile
numbers (per line: time split Python/native/system, memory allocated, copy volume) and the
file's imports (what the code can already use: numpy, its own C extensions) to an
OpenAI-compatible chat-completions endpoint: OpenAI, Azure OpenAI, or a local server such
as Ollama or llama.cpp. The proposal is printed.

A profile is untrusted input: the paths in it may name any file. The code sent is the text
the profile itself holds (each measured line's `source`), or a file read from disk only when
its SHA-256 is the one the profile recorded when it was written (`sha256` of the file entry,
docs/PROFILE_FORMAT.md); any other file is not read, and one line on stderr names it. Every
field sent or printed has its control characters replaced (reports/common.py), so that
--dry-run prints exactly the user message each request would carry.

Configuration, from the environment (or --url/--model):
    TRISCOPE_AI_URL    the endpoint: https://api.openai.com/v1, http://localhost:11434/v1
                       (a base ending in /v1 gets /chat/completions added), or the full
                       .../chat/completions URL (Azure's, with its ?api-version=...)
    TRISCOPE_AI_MODEL  the model name
    TRISCOPE_AI_KEY    the API key, when the server wants one (sent as a Bearer token, or
                       as Azure's api-key header to *.openai.azure.com)

The key lives in the environment and in the request's header, nowhere else: it is never
written into a file, a report or an error message. Only the standard library (urllib) is
used. Every failure (no endpoint configured, network error, timeout, HTTP error, a reply
that is not the expected JSON) is one `triscope: error:` line and exit status 2.
"""

import ast
import functools
import hashlib
import json
import os
import socket
import stat
import sys
import urllib.error
import urllib.parse
import urllib.request

from triscope.options import Parser, UsageError, bounded
from triscope.reports import common

TIME_KEYS = ("cpu_python_pct", "cpu_native_pct", "cpu_system_pct")
MAX_REGION_LINES = 150
CONTEXT_LINES = 3  # around a line outside any function

SYSTEM_PROMPT = (
    "You are an expert in making Python programs faster and leaner. You receive a region "
    "of a Python program with the measurements of a sampling profiler, per line: the share "
    "of the run's time spent running Python bytecode, in native code (C extensions, "
    "libraries, long builtins), and waiting (system: sleep, I/O, locks), and the megabytes "
    "allocated and copied. Propose an optimised version of the region that keeps its "
    "behaviour. Prefer the libraries the file already imports. Reply with the rewritten "
    "code in one ```python block, then a short explanation of why it is faster, with the "
    "expected gain. If the code is already close to optimal, say so briefly.")


# ==== Choosing the code ====


class Region:
    """Lines first..last of `path`, with the profile's measurements of them."""

    def __init__(self, path, recorded, first, last, title, lines, source_lines):
        self.path, self.first, self.last, self.title = path, first, last, title
        self.recorded = recorded          # the file's sha256 in the profile, or None
        self.lines = lines                # lineno → line entry of the profile
        self.source_lines = source_lines  # the file's verified text, or None

    def seconds(self, thread_time):
        return sum(_pct(line) for line in self.lines.values()) / 100 * thread_time


def _pct(metrics: dict) -> float:
    return sum(common.number(metrics[key]) for key in TIME_KEYS)


# A source file larger than this is not read: no profiled program has one, and a forged
# profile must not make optimize read a disk image.
MAX_SOURCE_BYTES = 64 << 20


def _verified_bytes(path: str, recorded):
    """The bytes of `path` when it is a regular file whose SHA-256 is `recorded`; else the
    reason it is not read. A profile is untrusted (docs/ARCHITECTURE.md): a path in it may
    name any file, so a file is read only while it is the one that was profiled."""
    if not isinstance(recorded, str):
        return None, "the profile records no hash of it"
    try:
        # O_NONBLOCK: a fifo put at the path must not hang the open; O_NOCTTY: nor may a tty
        # become ours.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except (OSError, ValueError):
        return None, "it cannot be read"
    with open(descriptor, "rb") as stream:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            return None, "it is not a regular file"
        if status.st_size > MAX_SOURCE_BYTES:
            return None, "it is too large"
        data = stream.read(MAX_SOURCE_BYTES + 1)
    if hashlib.sha256(data).hexdigest() != recorded:
        return None, "its content is not the one the profile recorded (sha256)"
    return data, None


@functools.lru_cache(maxsize=64)
def _read_source(path: str, recorded):
    """The file's lines as a tuple, or None (said once on stderr) when it is not read."""
    data, reason = _verified_bytes(path, recorded)
    if data is None:
        print(common.terminal_line(f"triscope: not reading {path}: {reason}; only the lines "
                                   "the profile holds are used"), file=sys.stderr)
        return None
    return tuple(data.decode("utf-8", errors="replace").splitlines())


@functools.lru_cache(maxsize=64)
def _parse(path: str, recorded):
    source_lines = _read_source(path, recorded)
    if source_lines is None:
        return None
    try:
        return ast.parse("\n".join(source_lines))
    except (SyntaxError, ValueError, RecursionError):
        return None


@functools.lru_cache(maxsize=64)
def _function_spans(path: str, recorded) -> tuple:
    """(first, last, name) of every def in the file, decorators included."""
    tree = _parse(path, recorded)
    if tree is None:
        return ()
    return tuple((min([node.lineno] + [d.lineno for d in node.decorator_list]),
                  node.end_lineno or node.lineno, node.name)
                 for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))


def _enclosing_function(path: str, recorded, lineno: int):
    """(first, last, name) of the innermost def around `lineno`, or None outside any
    function (or when the file is not read or cannot be parsed)."""
    around = [span for span in _function_spans(path, recorded) if span[0] <= lineno <= span[1]]
    return max(around, default=None)


def _names(qualified: str, function: str) -> bool:
    """Whether `function` names the code `qualified` (a qualified name): the function itself,
    a method (`Class.function`), or code nested in it (`function.<locals>.<genexpr>`, whose
    time is the function's own work even when the function's self time is nil)."""
    nested = function + ".<locals>."
    return (qualified == function or qualified.endswith("." + function)
            or qualified.startswith(nested) or ("." + nested) in qualified)


def _region_around(path, entry, lineno, title=None):
    """The function around `lineno` in `path` (or a few lines around it), capped in size."""
    recorded = entry.get("sha256")
    source_lines = _read_source(path, recorded)
    lines = {common.count(line["lineno"]): line for line in entry["lines"]}
    span = _enclosing_function(path, recorded, lineno)
    if span is not None:
        first, last, name = span
        title = title or f"function {name}"
    else:
        first, last = max(1, lineno - CONTEXT_LINES), lineno + CONTEXT_LINES
        title = title or f"line {lineno}"
    if last - first + 1 > MAX_REGION_LINES:  # a huge function: the part around the line
        first = max(first, lineno - MAX_REGION_LINES // 2)
        last = first + MAX_REGION_LINES - 1
    if source_lines is not None:
        last = min(last, len(source_lines))
    measured = {n: line for n, line in lines.items() if first <= n <= last}
    return Region(path, recorded, first, last, title, measured, source_lines)


def _same_path(a: str, b: str) -> bool:
    return a == b or os.path.realpath(a) == os.path.realpath(b) or (
        not os.path.isabs(b) and a.endswith(os.sep + b))


def select_regions(profile: dict, line=None, function=None, top=1) -> list:
    """The regions to send: by --line FILE:N, by --function NAME, else the `top` hottest
    functions (distinct regions)."""
    files = profile["files"]
    if line is not None:
        path, _, number = line.rpartition(":")
        if not path or not number.isdigit():
            raise UsageError(f"--line wants FILE:N, not {line!r}")
        matches = [p for p in files if _same_path(p, path)]
        if not matches:
            raise UsageError(f"no profiled file {path!r} in the profile")
        return [_region_around(matches[0], files[matches[0]], int(number))]
    candidates = []
    for path, entry in files.items():
        for item in entry["functions"]:
            name = common.text(item["name"])
            if function is None or _names(name, function):
                candidates.append((_pct(item), path, item))
    if function is not None and not candidates:
        raise UsageError(f"no function {function!r} in the profile")
    candidates.sort(key=lambda c: -c[0])
    regions, seen = [], set()
    for _, path, item in candidates:
        entry = files[path]
        lineno = common.count(item["lineno"])
        if item["name"] == "<module>":  # no def to send: the module's hottest line instead
            own = [l for l in entry["lines"]
                   if _enclosing_function(path, entry.get("sha256"), l["lineno"]) is None]
            if not own:
                continue
            lineno = max(own, key=_pct)["lineno"]
        region = _region_around(path, entry, lineno)
        if (path, region.first) in seen:  # a generator expression inside a function
            continue
        seen.add((path, region.first))
        regions.append(region)
        if len(regions) >= top:
            break
    if not regions:
        raise UsageError("the profile has no measured functions to optimise")
    return regions


# ==== The request ====


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


def _annotate(metrics: dict) -> str:
    python, native, system = (common.number(metrics[key]) for key in TIME_KEYS)
    parts = [f"time {python + native + system:.1f}% (Python {python:.1f}, native {native:.1f},"
             f" system {system:.1f})"]
    alloc = common.number(metrics.get("alloc_mb", 0.0))
    if alloc:
        parts.append(f"alloc {alloc:.1f} MB "
                     f"({common.number(metrics.get('python_fraction', 0.0)) * 100:.0f}% "
                     "Python allocator)")
    copy = common.number(metrics.get("copy_mb_s", 0.0))
    if copy:
        parts.append(f"copy {copy:.1f} MB/s")
    if common.number(metrics.get("leak_likelihood", 0.0)) >= 0.5:
        parts.append(f"likely leaking {common.number(metrics.get('leak_mb_s', 0.0)):.2f} MB/s")
    return ", ".join(parts)


def build_prompt(profile: dict, region: Region) -> str:
    """The user message: the run, the file's imports, the region annotated line by line."""
    # Every field from the profile or a file goes through terminal_line: what --dry-run
    # prints is exactly what is sent, so neither may carry a terminal escape or a line break
    # that would forge a line of the prompt.
    line_of = common.terminal_line
    thread_time = common.number(profile["thread_time_s"])
    out = [
        f"Program: {line_of(profile['program'])} (Python {line_of(profile['python'])})",
        f"Run: {common.number(profile['elapsed_s']):.3f} s elapsed, {thread_time:.3f} s of "
        "thread time (the 100% of the percentages below)",
        f"File: {line_of(region.path)}, lines {region.first}-{region.last} "
        f"({line_of(region.title)}), {region.seconds(thread_time):.3f} s in all",
    ]
    imports = _imports(region.path, region.recorded)
    if imports:
        out += ["", "The file's imports:", *map(line_of, imports)]
    out += ["", "The code, each measured line followed by its numbers in a comment:", ""]
    for lineno in range(region.first, region.last + 1):
        if region.source_lines is not None and lineno <= len(region.source_lines):
            text = region.source_lines[lineno - 1]
        elif lineno in region.lines:
            text = common.text(region.lines[lineno].get("source", ""))
        else:
            continue
        line = region.lines.get(lineno)
        note = f"  # [line {lineno}: {_annotate(line)}]" if line is not None else ""
        out.append(line_of(text).rstrip() + note)
    return "\n".join(out) + "\n"


def endpoint(url: str) -> str:
    """The chat-completions URL from a base URL or a full one."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UsageError("TRISCOPE_AI_URL must be an http:// or https:// URL")
    if parsed.path.rstrip("/").endswith("/chat/completions"):
        return url
    path = parsed.path.rstrip("/") + "/chat/completions"
    return urllib.parse.urlunsplit(parsed._replace(path=path))


def _shown(url: str) -> str:
    """The URL for messages: no user:password, no query (Azure keys can ride there)."""
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or ""
    if parsed.port:
        host += f":{parsed.port}"
    return urllib.parse.urlunsplit((parsed.scheme, host, parsed.path, "", ""))


def ask(url: str, model: str, key, messages: list, timeout: float) -> str:
    """Sends the chat request; returns the proposal's text, or a UsageError saying why not."""
    body = json.dumps({"model": model, "messages": messages, "temperature": 0.2}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "User-Agent": "triscope-optimize"}
    if key:
        host = urllib.parse.urlsplit(url).hostname or ""
        if host.endswith(".openai.azure.com"):
            headers["api-key"] = key
        else:
            headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    shown = _shown(url)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read(16 * 1024 * 1024)
    except urllib.error.HTTPError as error:
        try:
            detail = _http_detail(error)
        finally:
            if error.fp is not None:  # it holds the open response
                error.close()
        raise UsageError(f"the AI endpoint {shown} answered HTTP {error.code}{detail}") from None
    except (socket.timeout, TimeoutError):
        raise UsageError(f"no answer from the AI endpoint {shown} within {timeout:g} s") \
            from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise UsageError(f"no answer from the AI endpoint {shown} within {timeout:g} s") \
                from None
        raise UsageError(f"cannot reach the AI endpoint {shown}: "
                         f"{getattr(reason, 'strerror', None) or reason}") from None
    except (OSError, ValueError) as error:  # a connection reset, a malformed URL
        raise UsageError(f"cannot reach the AI endpoint {shown}: {error}") from None
    try:
        reply = json.loads(raw)
        content = reply["choices"][0]["message"]["content"]
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"the AI endpoint {shown} did not answer JSON") from None
    except (LookupError, TypeError):
        raise UsageError(f"the AI endpoint {shown} answered JSON without a proposal "
                         "(choices[0].message.content)") from None
    if not isinstance(content, str) or not content.strip():
        raise UsageError(f"the AI endpoint {shown} answered an empty proposal")
    return content


def _http_detail(error) -> str:
    """The server's own error message, when it sent one in JSON (OpenAI's shape)."""
    try:
        detail = json.loads(error.read(64 * 1024))["error"]
        message = detail["message"] if isinstance(detail, dict) else detail
    except Exception:
        return f" ({error.reason})" if error.reason else ""
    message = " ".join(str(message).split())
    return f": {message[:200]}"


# ==== The command ====


def main(argv: list) -> int:
    """`triscope optimize profile.json [--line FILE:N | --function NAME | --top K]`."""
    parser = Parser(prog="triscope optimize",
                    description="Ask an OpenAI-compatible model (TRISCOPE_AI_URL, "
                                "TRISCOPE_AI_MODEL, TRISCOPE_AI_KEY) for optimisations of "
                                "the hottest code of a profile.")
    parser.add_argument("profile")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--line", metavar="FILE:N", help="the function around this line")
    which.add_argument("--function", metavar="NAME", help="this function (qualified name, "
                                                          "or its last part)")
    which.add_argument("--top", type=bounded(int, 1, 100), default=1, metavar="K",
                       help="the K hottest functions, one request each (default 1)")
    parser.add_argument("--url", help="the endpoint (default: $TRISCOPE_AI_URL)")
    parser.add_argument("--model", help="the model (default: $TRISCOPE_AI_MODEL)")
    parser.add_argument("--timeout", type=bounded(float, 0.001, 3600, "seconds"),
                        default=120.0,
                        help="seconds to wait for each answer (default 120)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the user message of each request exactly as it would be "
                             "sent (with the fixed system prompt), send nothing")
    options = parser.parse_args(argv)
    profile = common.load(options.profile)
    with common.reading(options.profile):
        regions = select_regions(profile, options.line, options.function, options.top)
        prompts = [build_prompt(profile, region) for region in regions]
    if options.dry_run:
        for prompt in prompts:
            sys.stdout.write(prompt + "\n")
        return 0
    url = options.url or os.environ.get("TRISCOPE_AI_URL")
    model = options.model or os.environ.get("TRISCOPE_AI_MODEL")
    if not url:
        raise UsageError("no AI endpoint: set TRISCOPE_AI_URL (e.g. https://api.openai.com/v1"
                         " or http://localhost:11434/v1) or give --url")
    if not model:
        raise UsageError("no model: set TRISCOPE_AI_MODEL or give --model")
    url = endpoint(url)
    key = os.environ.get("TRISCOPE_AI_KEY") or None
    thread_time = common.number(profile["thread_time_s"])
    for region, prompt in zip(regions, prompts):
        if sys.stderr.isatty():  # something to watch while the model thinks
            print(common.terminal_line(f"triscope: asking {model} about {region.path}:"
                                       f"{region.first}-{region.last} ({region.title})…"),
                  file=sys.stderr)
        proposal = ask(url, model, key, [{"role": "system", "content": SYSTEM_PROMPT},
                                         {"role": "user", "content": prompt}],
                       options.timeout)
        share = region.seconds(thread_time) / thread_time * 100 if thread_time else 0.0
        heading = common.terminal_line(
            f"=== {region.title}, {os.path.basename(region.path)}:{region.first}-"
            f"{region.last} ({share:.1f}% of the time) ===")
        # The answer is untrusted text too (the model may repeat what the profile held).
        sys.stdout.write(f"{heading}\n{common.terminal_text(proposal.rstrip())}\n\n")
        sys.stdout.flush()
    return 0
