"""`triscope optimize` (docs/DEFINITIONS.md, Outputs): AI proposals for the hottest code.

GIVEN a profile of tests/workloads/diff_work.py and a local http.server in the test speaking
/v1/chat/completions, WHEN `triscope optimize` runs against it, THEN the request carries the
hot code, its numbers, the file's imports and the Authorization header; the answer is printed;
the key is in no file written; and every failure (unreachable, timeout, HTTP error, non-JSON,
JSON without a proposal, nothing configured) is one `triscope: error:` line, exit status 2.
"""
import json
import time

import pytest

from conftest import WORKLOADS, JsonHandler, describe, local_server, marker_lineno, run_triscope

WORK = WORKLOADS / "diff_work.py"
KEY = "sk-test-9f8e7d6c5b4a-never-on-disk"
PROPOSAL = "```python\ndef changing(factor):\n    return 3 * sum(range(UNIT * factor))\n```\n" \
           "Closed form: no generator."


class Handler(JsonHandler):
    """Answers by path: /v1/chat/completions (a proposal), /slow/... (too late),
    /broken/... (not JSON), /error/... (HTTP 500), /empty/... (JSON, no choices)."""
    requests = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Handler.requests.append({"path": self.path, "headers": dict(self.headers),
                                 "body": json.loads(body)})
        if self.path.startswith("/slow/"):
            time.sleep(3)
        if self.path.startswith("/error/"):
            return self.reply(500, json.dumps({"error": {"message": "model overloaded"}}))
        if self.path.startswith("/broken/"):
            return self.reply(200, "<html>gateway</html>")
        if self.path.startswith("/empty/"):
            return self.reply(200, json.dumps({"choices": []}))
        self.reply(200, json.dumps({"choices": [{"index": 0, "message": {
            "role": "assistant", "content": PROPOSAL}}]}))



@pytest.fixture(scope="module")
def server():
    with local_server(Handler) as url:
        yield url


@pytest.fixture(scope="module")
def profile_path(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("optimize")
    proc = run_triscope(["--use-virtual-time", "--cpu-sampling-rate", "0.002", "--json", "-o",
                         cwd / "p.json", WORK, "4"], cwd)
    assert proc.returncode == 0, describe(proc)
    return cwd / "p.json"


def optimize(args, cwd, url, key=KEY, model="test-model"):
    env = {"TRISCOPE_AI_URL": url, "TRISCOPE_AI_MODEL": model, "TRISCOPE_AI_KEY": key,
           "TRISCOPE_AI_PROVIDER": None, "OPENAI_API_KEY": None, "OPENAI_BASE_URL": None,
           "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}  # the test server is local
    return run_triscope(["optimize", *map(str, args)], cwd, env=env, timeout=60)


def assert_one_error_line(proc):
    assert proc.returncode == 2, describe(proc)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("triscope: error: "), proc.stderr
    assert KEY not in proc.stderr + proc.stdout


def test_request_carries_the_hot_code_and_the_answer_is_shown(server, profile_path, tmp_path):
    Handler.requests.clear()
    proc = optimize([profile_path], tmp_path, server + "/v1")
    assert proc.returncode == 0, describe(proc)
    assert PROPOSAL.rstrip() in proc.stdout
    assert "function changing" in proc.stdout
    (request,) = Handler.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    body = request["body"]
    assert body["model"] == "test-model"
    prompt = body["messages"][-1]["content"]
    changed = marker_lineno(WORK, "changed")
    assert "return sum([i * 3 for i in range(UNIT * factor)])" in prompt
    assert f"[line {changed}: time " in prompt and "Python" in prompt
    assert "import sys" in prompt  # the file's imports
    assert "thread time" in prompt
    assert KEY not in json.dumps(body)
    # the key is in no file this run or the profile run left behind
    for path in [*tmp_path.rglob("*"), *profile_path.parent.rglob("*")]:
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_line_function_and_top(server, profile_path, tmp_path):
    Handler.requests.clear()
    steady = marker_lineno(WORK, "steady")
    proc = optimize([profile_path, "--line", f"diff_work.py:{steady}"], tmp_path,
                    server + "/v1/chat/completions")
    assert proc.returncode == 0, describe(proc)
    proc = optimize([profile_path, "--function", "steady"], tmp_path, server + "/v1/")
    assert proc.returncode == 0, describe(proc)
    proc = optimize([profile_path, "--top", "2"], tmp_path, server + "/v1")
    assert proc.returncode == 0, describe(proc)
    prompts = [r["body"]["messages"][-1]["content"] for r in Handler.requests]
    assert len(prompts) == 4
    assert "def steady():" in prompts[0] and "def changing" not in prompts[0]
    assert "def steady():" in prompts[1]
    assert "def changing" in prompts[2] and "def steady():" in prompts[3]
    assert proc.stdout.count("=== function") == 2


def test_no_key_means_no_authorization_header(server, profile_path, tmp_path):
    Handler.requests.clear()
    proc = optimize([profile_path], tmp_path, server + "/v1", key="")
    assert proc.returncode == 0, describe(proc)
    assert "Authorization" not in Handler.requests[0]["headers"]


def test_dry_run_sends_nothing(server, profile_path, tmp_path):
    Handler.requests.clear()
    proc = optimize([profile_path, "--dry-run"], tmp_path, server + "/v1")
    assert proc.returncode == 0, describe(proc)
    assert "def changing" in proc.stdout and not Handler.requests


@pytest.mark.parametrize("path, args, expected", [
    ("/slow/v1", ["--timeout", "0.5"], "within 0.5 s"),
    ("/broken/v1", [], "did not answer JSON"),
    ("/error/v1", [], "HTTP 500: model overloaded"),
    ("/empty/v1", [], "without a proposal"),
])
def test_server_failures_are_one_line(server, profile_path, tmp_path, path, args, expected):
    proc = optimize([profile_path, *args], tmp_path, server + path)
    assert_one_error_line(proc)
    assert expected in proc.stderr


def test_unreachable_and_unconfigured(profile_path, tmp_path):
    import socket
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = optimize([profile_path], tmp_path, f"http://127.0.0.1:{port}/v1")
    assert_one_error_line(proc)
    assert "cannot reach" in proc.stderr
    # No URL and no key: not the real OpenAI without a key (the key here is only OpenAI's).
    proc = optimize([profile_path], tmp_path, "", key="")
    assert_one_error_line(proc)
    assert "no OpenAI key" in proc.stderr
    assert_one_error_line(optimize([profile_path], tmp_path, "ftp://x/v1"))
    assert_one_error_line(optimize([profile_path], tmp_path, "http://x/v1", model=""))
    assert_one_error_line(optimize([profile_path, "--function", "nope"], tmp_path, "http://x"))
    assert_one_error_line(optimize([profile_path, "--line", "nofile.py:3"], tmp_path,
                                   "http://x"))
    (tmp_path / "bad.json").write_text("{")
    assert_one_error_line(optimize([tmp_path / "bad.json"], tmp_path, "http://x"))


def test_function_names_its_nested_code(profile_path, tmp_path):
    # GIVEN a profile in which all of steady()'s time is in its generator expression (its
    # own self time was not sampled)
    profile = json.loads(profile_path.read_text())
    for entry in profile["files"].values():
        entry["functions"] = [f for f in entry["functions"] if f["name"] != "steady"]
    assert any(f["name"] == "steady.<locals>.<genexpr>"
               for entry in profile["files"].values() for f in entry["functions"])
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps(profile))
    # WHEN asked for that function
    proc = run_triscope(["optimize", "--dry-run", "--function", "steady", nested], tmp_path)
    # THEN its code is what would be sent
    assert proc.returncode == 0, describe(proc)
    assert "def steady():" in proc.stdout and "def changing" not in proc.stdout
