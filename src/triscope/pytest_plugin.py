"""pytest plugin (docs/DEFINITIONS.md): `pytest --triscope[=PATH]` profiles the test session.

Registered through the `pytest11` entry point, so pytest imports this module in every
session of an environment where triscope is installed: it must stay cheap and inert until
--triscope is given (it imports nothing of triscope's until then, and pytest only where
pytest loads it).

With --triscope, profiling begins in-process when pytest is configured (collection, fixtures
and tests are all profiled), over the files under pytest's rootdir (the project's own code
and tests; the standard library and installed packages excluded, as for `triscope run`).
It stops when the session finishes; the JSON profile goes to PATH (default
triscope-profile.json, relative to where pytest was started), and the text report with the
profile's path is shown in pytest's terminal summary. Memory is what Python's allocator shows,
as for any in-process start; under the triscope command (`triscope -m pytest`) the plugin
leaves the profiling to it.

With pytest-xdist (`pytest -n N --triscope=PATH`), each worker profiles itself the same way
and sends its profile back over xdist's own channel when it finishes (no shared filesystem is
assumed); the controlling process, which runs no test, merges them into PATH, one entry of
`processes` per worker (named gw0, gw1, ... with its host). A worker that crashed sends
nothing: the merge says which were lost.

PATH must be attached with '=' when it is given: `--triscope tests/` would read tests/ as
the path, so a PATH that looks like a test directory or file is refused with a hint.

PYTEST_DONT_REWRITE: no asserts of tests here, for pytest to rewrite (see triscope/__init__.py).
"""

import os

DEFAULT_PATH = "triscope-profile.json"
PLUGIN_NAME = "triscope-profiler"


def pytest_addoption(parser):
    group = parser.getgroup("triscope", "profiling with triscope")
    group.addoption(
        "--triscope", nargs="?", const=DEFAULT_PATH, default=None, metavar="PATH",
        dest="triscope_path",
        help=f"profile the test session with triscope; the JSON profile goes to PATH "
             f"(default {DEFAULT_PATH}; give it as --triscope=PATH)")


def pytest_configure(config):
    path = config.getoption("triscope_path", None)
    if path is None:
        return
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: profiled, sent back
        config.pluginmanager.register(_WorkerProfiler(config), PLUGIN_NAME)
        return
    import pytest
    base = config.invocation_params.dir
    target = os.path.join(str(base), path)
    if path.endswith((".py", os.sep)) or "::" in path or os.path.isdir(target):
        raise pytest.UsageError(
            f"--triscope took {path!r} as the profile's path: write --triscope=PATH, or put "
            f"--triscope after the tests to run")
    if getattr(config.option, "numprocesses", None) and config.option.dist != "no":
        config.pluginmanager.register(_WorkersMerger(config, target), PLUGIN_NAME)
        return
    config.pluginmanager.register(_Profiler(config, target), PLUGIN_NAME)


class _Profiler:
    """The profiled session: begins on registration, ends when the session finishes."""

    def __init__(self, config, path: str):
        from triscope import _native, launch
        self.path = path
        self.session = None
        self.message = None
        if _native.is_running():
            self.message = "triscope: this pytest run is already profiled by the triscope " \
                           "command: --triscope has nothing to add"
            return
        self.session = launch.begin_in_process(
            [str(config.rootpath)], "-m pytest", json_path=path, quiet=True)

    def pytest_sessionfinish(self, session):
        if self.session is None or self.session.finished:
            return
        self.session.finish()
        if not os.path.exists(self.path):
            self.message = f"triscope: error: the profile could not be written to {self.path}"
            self.session = None

    def pytest_terminal_summary(self, terminalreporter):
        if self.session is None:
            if self.message:
                terminalreporter.write_line(self.message)
            return
        _show(terminalreporter, self.path, self.session.options)


def _show(terminalreporter, path: str, options) -> None:
    """The text report of the profile at `path` in pytest's terminal summary."""
    import json
    from triscope.reports import text
    with open(path, encoding="utf-8") as stream:
        profile = json.load(stream)
    width = max(80, min(getattr(terminalreporter, "_tw").fullwidth, 120))
    terminalreporter.section("triscope profile")
    terminalreporter.write(text.render(
        profile, color=terminalreporter.isatty and "NO_COLOR" not in os.environ,
        cpu_percent_threshold=options.cpu_percent_threshold,
        malloc_threshold=options.malloc_threshold, width=width))
    terminalreporter.write_line(f"triscope: profile written to {path}")


OUTPUT_KEY = "triscope_profile"  # the worker's profile in xdist's workeroutput


class _WorkerProfiler:
    """An xdist worker's session: profiled from configuration to the session's end, like a
    plain one, into a private temporary file whose text goes back in `workeroutput` (xdist
    sends that to the controller after every pytest_sessionfinish has run)."""

    def __init__(self, config):
        import tempfile
        from triscope import launch
        self.config = config
        self.dir = tempfile.mkdtemp(prefix="triscope-xdist-")
        self.path = os.path.join(self.dir, "profile.json")
        self.session = launch.begin_in_process(
            [str(config.rootpath)], "-m pytest", json_path=self.path, quiet=True)

    def pytest_sessionfinish(self, session):
        import shutil
        import socket
        if self.session.finished:
            return
        self.session.finish()
        try:
            with open(self.path, encoding="utf-8") as stream:
                self.config.workeroutput[OUTPUT_KEY] = {
                    "profile": stream.read(), "name": self.config.workerinput["workerid"],
                    "host": socket.gethostname()}
        except OSError:
            pass  # the controller says which worker sent nothing
        shutil.rmtree(self.dir, ignore_errors=True)


class _WorkersMerger:
    """The xdist controller: runs no test, so it profiles nothing itself; it merges what each
    worker sends back when it goes down."""

    def __init__(self, config, path: str):
        from triscope.options import Options
        self.path = path
        self.options = Options.parse([])
        self.received, self.lost = [], []
        self.message = None

    def pytest_testnodedown(self, node, error):  # xdist's hook: registered only under xdist
        import json
        from triscope.reports import merge
        sent = getattr(node, "workeroutput", {}).get(OUTPUT_KEY)
        if not sent:
            self.lost.append(node.gateway.id)
            return
        self.received.append(merge.with_process_facts(
            json.loads(sent["profile"]), name=sent["name"], host=sent["host"]))

    def pytest_sessionfinish(self, session):
        from triscope.reports import merge
        lost = f" (no profile from {', '.join(sorted(self.lost))}: it ended without " \
               "sending one)" if self.lost else ""
        if not self.received:
            self.message = f"triscope: error: no xdist worker sent a profile{lost}"
            return
        self.received.sort(key=lambda p: p["processes"][0]["name"])
        try:
            merge.write(merge.merge(self.received), self.path)
        except (merge.MergeError, OSError) as error:
            self.message = f"triscope: error: the profile could not be written to " \
                           f"{self.path}: {error}"
            return
        self.message = f"triscope: {len(self.received)} xdist workers' profiles merged{lost}"

    def pytest_terminal_summary(self, terminalreporter):
        if self.message and not self.message.startswith("triscope: error"):
            _show(terminalreporter, self.path, self.options)
        if self.message:
            terminalreporter.write_line(self.message)
