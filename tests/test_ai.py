"""`triscope optimize` with each AI provider, region proposals and goals (docs/DEFINITIONS.md,
"AI optimization").

GIVEN one local stand-in server per provider (http.server in a thread) that checks the
request shape the provider documents (path, method, headers, JSON body; for Bedrock the
AWS Signature Version 4, recomputed here from AWS's published steps by this file's own code,
itself checked against AWS's published example values) and answers in that provider's shape,
WHEN `triscope optimize --provider NAME` runs against it, THEN the proposal is printed and
the key is in no file. A stand-in that finds the request wrong answers HTTP 400 naming what
it found, which the command turns into its one error line: the assertion then shows it.
Also: the region proposed for a line of a loop nest, --lines, and the goal choosing the
prompt's numbers.
"""
import datetime
import hashlib
import hmac
import json
import urllib.parse

import pytest

from conftest import (JsonHandler, describe, local_server, marker_lineno, run_triscope,
                      workload)
from test_text_report import make_file, make_function, make_line, make_profile

NESTED = workload("nested_loops.py")
PROPOSAL = "```python\ntotal = sum(i * j % 7 for i in range(n) for j in range(n))\n```\nFewer lists."
KEYS = {"openai": "sk-openai-test-1a2b3c-never-on-disk",
        "azure": "azure-test-4d5e6f-never-on-disk",
        "anthropic": "sk-ant-test-7a8b9c-never-on-disk",
        "gemini": "gemini-test-0d1e2f-never-on-disk",
        "bedrock": "bedrock-secret-3a4b5c-never-on-disk"}
AWS_ACCESS_KEY = "AKIDTRISCOPETEST"
AWS_SESSION = "session-token-6d7e8f-never-on-disk"
MODELS = {"openai": "gpt-test", "azure": "my-deployment", "anthropic": "claude-test",
          "gemini": "gemini-test", "bedrock": "anthropic.claude-3-haiku-20240307-v1:0",
          "ollama": "qwen2.5-coder:7b"}


# ==== AWS Signature Version 4, written here from AWS's published steps ====
# Independent of triscope/sigv4.py: the stand-in verifies the command's signature with it.

AWS_EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def derive_key(secret, date, region, service):
    """kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
    "aws4_request")."""
    k_date = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    k_region = hmac.new(k_date, region.encode(), hashlib.sha256).digest()
    k_service = hmac.new(k_region, service.encode(), hashlib.sha256).digest()
    return hmac.new(k_service, b"aws4_request", hashlib.sha256).digest()


def expected_signature(method, raw_path, query, headers, signed, body, secret, scope):
    """The signature of a request as received: path as sent, header values by name."""
    date, region, service, _ = scope.split("/")
    encode = lambda text: urllib.parse.quote(text, safe="-_.~")
    # Not S3: each path segment is URI-encoded again, over the encoding it was sent with.
    path = "/".join(encode(segment) for segment in raw_path.split("/"))
    pairs = sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
    canonical_query = "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs)
    names = signed.split(";")
    canonical_headers = "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names)
    request = "\n".join([method, path, canonical_query, canonical_headers, signed,
                         hashlib.sha256(body).hexdigest()])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", headers["x-amz-date"], scope,
                         hashlib.sha256(request.encode()).hexdigest()])
    return hmac.new(derive_key(secret, date, region, service), to_sign.encode(),
                    hashlib.sha256).hexdigest()


def test_signing_key_matches_aws_published_example():
    # AWS's example of deriving a signing key: this secret, 20120215, us-east-1, iam.
    assert derive_key(AWS_EXAMPLE_SECRET, "20120215", "us-east-1", "iam").hex() == \
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    from triscope import sigv4
    assert sigv4.signing_key(AWS_EXAMPLE_SECRET, "20120215", "us-east-1", "iam") == \
        derive_key(AWS_EXAMPLE_SECRET, "20120215", "us-east-1", "iam")


def test_signature_matches_aws_published_example():
    # AWS's worked example: GET iam.amazonaws.com ?Action=ListUsers&Version=2010-05-08 at
    # 20150830T123600Z, whose canonical request hashes to f536975d... and is signed 5d672d79...
    from triscope import sigv4
    headers = {"content-type": "application/x-www-form-urlencoded; charset=utf-8",
               "host": "iam.amazonaws.com", "x-amz-date": "20150830T123600Z"}
    scope = "20150830/us-east-1/iam/aws4_request"
    signed = "content-type;host;x-amz-date"
    ours = expected_signature("GET", "/", "Action=ListUsers&Version=2010-05-08", headers,
                              signed, b"", AWS_EXAMPLE_SECRET, scope)
    assert ours == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    theirs = sigv4.sign(
        "GET", "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
        {"Content-Type": headers["content-type"]}, b"", access_key="AKIDEXAMPLE",
        secret=AWS_EXAMPLE_SECRET, region="us-east-1", service="iam",
        now=datetime.datetime(2015, 8, 30, 12, 36, tzinfo=datetime.timezone.utc))
    assert theirs["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        f"SignedHeaders={signed}, Signature={ours}")


# ==== The stand-ins ====


class Wrong(Exception):
    """What a stand-in found wrong in a request."""


def need(condition, what):
    if not condition:
        raise Wrong(what)


class StandIn(JsonHandler):
    """Common to the stand-ins: records each request, checks it with `check` (a Wrong is
    answered HTTP 400 with the provider's error shape), answers `answer`; sends CORS headers
    so the viewer page may call it too (tests/test_ai_viewer.py)."""
    provider = None
    requests = []

    def extra_headers(self):
        self.send_header("Access-Control-Allow-Origin", "*")
        # Named: a wildcard would not cover Authorization.
        self.send_header("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, "
                         "api-key, x-api-key, anthropic-version, "
                         "anthropic-dangerous-direct-browser-access, x-goog-api-key")
        self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        self.send_header("Access-Control-Allow-Private-Network", "true")

    def do_OPTIONS(self):
        self.send_response(204)
        self.extra_headers()
        self.end_headers()

    def handle_request(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        path, _, query = self.path.partition("?")
        record = {"method": method, "path": path, "query": query, "raw": raw,
                  "headers": {k.lower(): v for k, v in self.headers.items()}}
        try:
            record["body"] = json.loads(raw) if raw else None
        except ValueError:
            record["body"] = None
        type(self).requests.append(record)
        try:
            reply = self.check(record)
        except Wrong as wrong:
            return self.reply(400, json.dumps({"error": {"message": f"stand-in: {wrong}"}}))
        self.reply(200, json.dumps(reply))

    def do_POST(self):
        self.handle_request("POST")

    def do_GET(self):
        self.handle_request("GET")


def json_post(record, path):
    need(record["method"] == "POST", f"method {record['method']}")
    need(record["path"] == path, f"path {record['path']}, not {path}")
    need(record["headers"].get("content-type", "").startswith("application/json"),
         "Content-Type is not application/json")
    need(isinstance(record["body"], dict), "the body is not a JSON object")
    return record["body"]


def chat_messages(body):
    messages = body.get("messages")
    need(isinstance(messages, list) and len(messages) == 2, "messages: not [system, user]")
    need(messages[0].get("role") == "system" and isinstance(messages[0].get("content"), str),
         "messages[0] is not the system message")
    need(messages[1].get("role") == "user" and isinstance(messages[1].get("content"), str),
         "messages[1] is not the user message")


class OpenAI(StandIn):
    """POST /v1/chat/completions, Authorization: Bearer KEY, {model, messages, ...}."""
    provider, requests = "openai", []

    def check(self, record):
        body = json_post(record, "/v1/chat/completions")
        need(record["headers"].get("authorization") == f"Bearer {KEYS['openai']}",
             "Authorization is not Bearer KEY")
        need(body.get("model") == MODELS["openai"], "model")
        chat_messages(body)
        return {"id": "chatcmpl-1", "object": "chat.completion", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": PROPOSAL},
             "finish_reason": "stop"}]}


class Azure(StandIn):
    """POST /openai/deployments/DEPLOYMENT/chat/completions?api-version=V, api-key: KEY."""
    provider, requests = "azure", []

    def check(self, record):
        body = json_post(record, f"/openai/deployments/{MODELS['azure']}/chat/completions")
        need(urllib.parse.parse_qs(record["query"]).get("api-version") == ["2024-10-21"],
             f"query {record['query']!r} has no api-version=2024-10-21")
        need(record["headers"].get("api-key") == KEYS["azure"], "api-key header")
        need("authorization" not in record["headers"], "an Authorization header")
        chat_messages(body)
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": PROPOSAL},
                             "finish_reason": "stop"}]}


class Anthropic(StandIn):
    """POST /v1/messages, x-api-key, anthropic-version; {model, max_tokens, system,
    messages: [{role: user, content}]}; answers content blocks."""
    provider, requests = "anthropic", []

    def check(self, record):
        body = json_post(record, "/v1/messages")
        need(record["headers"].get("x-api-key") == KEYS["anthropic"], "x-api-key header")
        need(record["headers"].get("anthropic-version") == "2023-06-01",
             "anthropic-version header")
        need(body.get("model") == MODELS["anthropic"], "model")
        need(isinstance(body.get("max_tokens"), int) and body["max_tokens"] > 0, "max_tokens")
        need(isinstance(body.get("system"), str) and body["system"], "system is not a string")
        messages = body.get("messages")
        need(isinstance(messages, list) and len(messages) == 1
             and messages[0].get("role") == "user"
             and isinstance(messages[0].get("content"), str), "messages: not [user]")
        half = len(PROPOSAL) // 2
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
                "content": [{"type": "text", "text": PROPOSAL[:half]},
                            {"type": "text", "text": PROPOSAL[half:]}],
                "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}}


class Gemini(StandIn):
    """POST /v1beta/models/MODEL:generateContent, x-goog-api-key; {systemInstruction,
    contents: [{role: user, parts: [{text}]}]}; answers candidates."""
    provider, requests = "gemini", []

    def check(self, record):
        body = json_post(record, f"/v1beta/models/{MODELS['gemini']}:generateContent")
        need(record["headers"].get("x-goog-api-key") == KEYS["gemini"], "x-goog-api-key")
        parts = body.get("systemInstruction", {}).get("parts")
        need(isinstance(parts, list) and isinstance(parts[0].get("text"), str),
             "systemInstruction.parts[0].text")
        contents = body.get("contents")
        need(isinstance(contents, list) and contents[0].get("role") == "user"
             and isinstance(contents[0]["parts"][0].get("text"), str),
             "contents[0].parts[0].text")
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": PROPOSAL}]},
                                "finishReason": "STOP", "index": 0}]}


class Bedrock(StandIn):
    """POST /model/MODEL/converse signed with SigV4 (service bedrock); {system: [{text}],
    messages: [{role: user, content: [{text}]}], inferenceConfig}; answers output.message."""
    provider, requests = "bedrock", []
    region = "eu-west-3"

    def check(self, record):
        quoted = urllib.parse.quote(MODELS["bedrock"], safe="")
        body = json_post(record, f"/model/{quoted}/converse")
        headers = record["headers"]
        authorization = headers.get("authorization", "")
        need(authorization.startswith("AWS4-HMAC-SHA256 "), "no AWS4-HMAC-SHA256 signature")
        fields = dict(part.strip().split("=", 1)
                      for part in authorization[len("AWS4-HMAC-SHA256 "):].split(","))
        access_key, scope = fields["Credential"].split("/", 1)
        need(access_key == AWS_ACCESS_KEY, "the access key id")
        stamp = headers.get("x-amz-date", "")
        need(scope == f"{stamp[:8]}/{self.region}/bedrock/aws4_request", f"scope {scope}")
        signed = fields["SignedHeaders"]
        need({"host", "x-amz-date", "x-amz-security-token"} <= set(signed.split(";")),
             f"signed headers {signed}")
        need(headers.get("x-amz-security-token") == AWS_SESSION, "the session token")
        expected = expected_signature("POST", record["path"], record["query"], headers,
                                      signed, record["raw"], KEYS["bedrock"], scope)
        need(hmac.compare_digest(fields["Signature"], expected), "the signature is wrong")
        need(isinstance(body.get("system"), list) and isinstance(body["system"][0].get("text"),
                                                                 str), "system[0].text")
        messages = body.get("messages")
        need(isinstance(messages, list) and messages[0].get("role") == "user"
             and isinstance(messages[0]["content"][0].get("text"), str),
             "messages[0].content[0].text")
        need(isinstance(body.get("inferenceConfig", {}).get("maxTokens"), int), "maxTokens")
        return {"output": {"message": {"role": "assistant", "content": [{"text": PROPOSAL}]}},
                "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1}}


class Ollama(StandIn):
    """GET /api/tags lists the models; POST /api/chat {model, messages, stream: false}."""
    provider, requests = "ollama", []
    models = ["llama3.2:latest", MODELS["ollama"]]

    def check(self, record):
        if record["method"] == "GET":
            need(record["path"] == "/api/tags", f"GET {record['path']}")
            return {"models": [{"name": name, "model": name, "size": 1} for name in self.models]}
        body = json_post(record, "/api/chat")
        need(body.get("model") in self.models, "a model the server does not have")
        need(body.get("stream") is False, "stream is not false")
        chat_messages(body)
        return {"model": body["model"], "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": PROPOSAL}, "done": True}


STAND_INS = {handler.provider: handler
             for handler in (OpenAI, Azure, Anthropic, Gemini, Bedrock, Ollama)}


@pytest.fixture(scope="module")
def servers():
    """A running stand-in per provider: name → base URL."""
    import contextlib
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(local_server(handler))
               for name, handler in STAND_INS.items()}


def environment(provider):
    """The variables a user of `provider` sets (docs/DEFINITIONS.md, AI optimization), and
    none of the others: a key in the tester's own environment is never sent anywhere."""
    from triscope import providers
    env = {name: None for settings in providers.ENVIRONMENT.values()
           for variables in settings.values() for name in variables}
    env.update({name: None for name in providers.OWN.values()})
    env.update({"NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1", "TRISCOPE_AI_PROVIDER": None})
    env.update({"openai": {"OPENAI_API_KEY": KEYS["openai"]},
                "azure": {"AZURE_OPENAI_API_KEY": KEYS["azure"]},
                "anthropic": {"ANTHROPIC_API_KEY": KEYS["anthropic"]},
                "gemini": {"GEMINI_API_KEY": KEYS["gemini"]},
                "bedrock": {"AWS_ACCESS_KEY_ID": AWS_ACCESS_KEY,
                            "AWS_SECRET_ACCESS_KEY": KEYS["bedrock"],
                            "AWS_SESSION_TOKEN": AWS_SESSION, "AWS_REGION": Bedrock.region},
                "ollama": {}}[provider])
    return env


def base_url(provider, servers):
    return servers[provider] + ("/v1" if provider == "openai" else "")


@pytest.fixture(scope="module")
def nested(tmp_path_factory):
    """nested_loops.py profiled (with memory), and the lines that matter."""
    cwd = tmp_path_factory.mktemp("nested")
    proc = run_triscope(["--json", "-o", cwd / "p.json", NESTED, "1000"], cwd)
    assert proc.returncode == 0, describe(proc)
    marks = {name: marker_lineno(NESTED, name) for name in ("outer", "hot", "block")}
    marks["outside"] = marker_lineno(NESTED, "outside")
    return cwd / "p.json", marks


def optimize(args, cwd, env=None, timeout=60):
    return run_triscope(["optimize", *map(str, args)], cwd, env=env, timeout=timeout)


def assert_one_error_line(proc, *secrets):
    assert proc.returncode == 2, describe(proc)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("triscope: error: "), proc.stderr
    for secret in secrets:
        assert secret not in proc.stderr + proc.stdout


# ==== Each provider, end to end ====


@pytest.mark.parametrize("provider", list(STAND_INS))
def test_each_provider_end_to_end(provider, servers, nested, tmp_path):
    profile, marks = nested
    handler = STAND_INS[provider]
    handler.requests.clear()
    proc = optimize([profile, "--provider", provider, "--model", MODELS[provider],
                     "--url", base_url(provider, servers),
                     "--region", f"nested_loops.py:{marks['hot']}"], tmp_path,
                    env=environment(provider))
    assert proc.returncode == 0, describe(proc)
    assert PROPOSAL.rstrip() in proc.stdout
    assert f"=== for loop at line {marks['outer']}, nested_loops.py:{marks['outer']}-" \
        in proc.stdout
    posts = [r for r in handler.requests if r["method"] == "POST"]
    assert len(posts) == 1
    sent = json.dumps(posts[0]["body"])
    assert "row.append(i * j % 7)" in sent and "for i in range(n)" in sent
    from triscope import optimize as module
    assert json.dumps(module.system_prompt("time"))[1:-1] in sent
    # No key in any file the run or the command left behind.
    secrets = [KEYS.get(provider, ""), AWS_SESSION]
    for path in [*tmp_path.rglob("*"), *profile.parent.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert not any(secret.encode() in data for secret in secrets if secret), path


def test_a_wrong_shape_is_refused_by_the_stand_in(servers, nested, tmp_path):
    """The stand-ins do check: Bedrock's with a wrong secret, OpenAI's with a wrong key."""
    profile, _ = nested
    env = environment("bedrock") | {"AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    proc = optimize([profile, "--provider", "bedrock", "--model", MODELS["bedrock"],
                     "--url", servers["bedrock"]], tmp_path, env=env)
    assert_one_error_line(proc, "not-the-secret")
    assert "HTTP 400: stand-in: the signature is wrong" in proc.stderr
    env = environment("openai") | {"OPENAI_API_KEY": "sk-other"}
    proc = optimize([profile, "--provider", "openai", "--model", MODELS["openai"],
                     "--url", servers["openai"] + "/v1"], tmp_path, env=env)
    assert_one_error_line(proc, "sk-other")
    assert "Authorization is not Bearer KEY" in proc.stderr


def test_ollama_lists_its_models(servers, tmp_path):
    Ollama.requests.clear()
    proc = optimize(["--provider", "ollama", "--list-models", "--url", servers["ollama"]],
                    tmp_path, env=environment("ollama"))
    assert proc.returncode == 0, describe(proc)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.split() == Ollama.models
    assert [r["path"] for r in Ollama.requests] == ["/api/tags"]
    # OLLAMA_HOST, Ollama's own variable, as host:port
    env = environment("ollama") | {"OLLAMA_HOST": servers["ollama"].removeprefix("http://")}
    proc = optimize(["--provider", "ollama", "--list-models"], tmp_path, env=env)
    assert proc.returncode == 0 and proc.stdout.split() == Ollama.models, describe(proc)
    proc = optimize(["--provider", "anthropic", "--list-models"], tmp_path,
                    env=environment("anthropic"))
    assert_one_error_line(proc)
    assert_one_error_line(optimize(["--provider", "ollama"], tmp_path))  # no profile


def test_keys_come_from_the_provider_variables_only(servers, nested, tmp_path):
    profile, _ = nested
    # TRISCOPE_AI_KEY belongs to the provider TRISCOPE_AI_PROVIDER names (openai when
    # unset): it is not sent to Anthropic, whose own key is missing here.
    Anthropic.requests.clear()
    env = environment("openai") | {"TRISCOPE_AI_KEY": KEYS["openai"]}
    proc = optimize([profile, "--provider", "anthropic", "--model", "m", "--url",
                     servers["anthropic"], "--api-keys-from-env"], tmp_path, env=env)
    assert_one_error_line(proc, KEYS["openai"])
    assert all(KEYS["openai"] not in json.dumps(r["headers"]) for r in Anthropic.requests)
    # Gemini's key under Google's other name, GOOGLE_API_KEY
    env = environment("openai") | {"GOOGLE_API_KEY": KEYS["gemini"]}
    proc = optimize([profile, "--provider", "gemini", "--model", MODELS["gemini"], "--url",
                     servers["gemini"]], tmp_path, env=env)
    assert proc.returncode == 0, describe(proc)
    # Nothing configured: one line each, and no request to the real OpenAI without a key.
    assert_one_error_line(optimize([profile, "--model", "m"], tmp_path,
                                   env=environment("ollama")))
    env = environment("bedrock") | {"AWS_SECRET_ACCESS_KEY": ""}
    proc = optimize([profile, "--provider", "bedrock", "--model", "m", "--url",
                     servers["bedrock"]], tmp_path, env=env)
    assert_one_error_line(proc)
    assert "AWS_SECRET_ACCESS_KEY" in proc.stderr
    env = environment("bedrock") | {"AWS_REGION": None}
    assert_one_error_line(optimize([profile, "--provider", "bedrock", "--model", "m"],
                                   tmp_path, env=env))
    proc = optimize([profile, "--provider", "bedrock", "--model", "m", "--url",
                     servers["bedrock"]], tmp_path, env=env)
    assert_one_error_line(proc)
    assert "no AWS region" in proc.stderr
    assert_one_error_line(optimize([profile, "--provider", "azure", "--model", "d"], tmp_path,
                                   env=environment("azure")))
    assert_one_error_line(optimize([profile, "--provider", "nope"], tmp_path))


# ==== Regions ====


def dry_run(profile, cwd, *args):
    proc = optimize([profile, "--dry-run", *args], cwd)
    assert proc.returncode == 0, describe(proc)
    return proc.stdout


def test_region_of_a_line_in_a_loop_nest_is_the_whole_nest(nested, tmp_path):
    profile, marks = nested
    source = NESTED.read_text().splitlines()
    outer = marks["outer"]
    end = outer + 4  # the outer loop's last line: total += sum(row)
    assert source[end - 1].strip() == "total += sum(row)"
    prompt = dry_run(profile, tmp_path, "--region", f"nested_loops.py:{marks['hot']}")
    assert f"lines {outer}-{end} (for loop at line {outer})" in prompt
    assert "for j in range(n):" in prompt and "total += sum(row)" in prompt
    assert "def grid" not in prompt and "return total" not in prompt
    # A line in a function outside any loop: the function.
    prompt = dry_run(profile, tmp_path, "--region", f"nested_loops.py:{marks['outside']}")
    assert "(function small)" in prompt
    # Module level: the block around the line.
    prompt = dry_run(profile, tmp_path, "--region", f"nested_loops.py:{marks['block'] + 1}")
    assert f"lines {marks['block']}-{marks['block'] + 1} (if block at line {marks['block']})" \
        in prompt
    # --lines: exactly those; one line is ⚡.
    prompt = dry_run(profile, tmp_path, "--lines", f"nested_loops.py:{marks['hot']}")
    assert f"lines {marks['hot']}-{marks['hot']} (line {marks['hot']})" in prompt
    assert "for j in range" not in prompt
    prompt = dry_run(profile, tmp_path, "--lines", f"nested_loops.py:{outer + 1}-{outer + 2}")
    assert f"(lines {outer + 1}-{outer + 2})" in prompt and "row = []" in prompt
    for wrong in ("nested_loops.py:9-3", "nested_loops.py:x", "nested_loops.py:1-400",
                  "other.py:3"):
        assert_one_error_line(optimize([profile, "--dry-run", "--lines", wrong], tmp_path))


def test_propose_rules():
    from triscope import regions
    spans = [(1, 20, "function", "f"), (3, 15, "loop", "for"), (5, 9, "loop", "while"),
             (6, 7, "block", "if"), (16, 18, "block", "with"), (30, 40, "block", "if"),
             (32, 35, "block", "with"), (10, 12, "function", "inner"), (11, 12, "loop", "for")]
    assert regions.propose(spans, 6) == (3, 15, "loop", "for")      # the whole nest
    assert regions.propose(spans, 17) == (1, 20, "function", "f")   # no loop: the function
    assert regions.propose(spans, 11) == (11, 12, "loop", "for")    # within its own function
    assert regions.propose(spans, 33) == (32, 35, "block", "with")  # module level
    assert regions.propose(spans, 50) is None


# ==== Goals ====


def test_goal_chooses_the_numbers(nested, tmp_path):
    profile, marks = nested
    where = ["--lines", f"nested_loops.py:{marks['hot']}"]
    time_prompt = dry_run(profile, tmp_path, *where)
    memory_prompt = dry_run(profile, tmp_path, *where, "--goal", "memory")
    hot = f"# [line {marks['hot']}: "
    [time_note] = [l for l in time_prompt.splitlines() if hot in l]
    [memory_note] = [l for l in memory_prompt.splitlines() if hot in l]
    assert "time " in time_note and "(Python " in time_note and "peak" not in time_note
    assert "alloc " in memory_note and "% Python allocator" in memory_note
    assert "of all allocation" in memory_note and "(Python " not in memory_note
    assert " s in all" in time_prompt and " MB allocated in all" in memory_prompt
    # GPU: its own numbers, from a profile that has them; refused where it has none.
    assert_one_error_line(optimize([profile, "--dry-run", "--goal", "gpu"], tmp_path))
    assert_one_error_line(optimize([profile, "--dry-run", "--goal", "nope"], tmp_path))
    lines = [make_line(3, python=40.0, native=5.0, source="y = model(x)", gpu_pct=62.5,
                       gpu_mem_mb=512.0, alloc_mb=8.0, mem_pct=100.0)]
    gpu = make_profile({"/home/u/app/train.py": make_file(lines, [make_function("step", lines)])},
                       memory=True, gpu=True)
    (tmp_path / "gpu.json").write_text(json.dumps(gpu))
    prompt = dry_run(tmp_path / "gpu.json", tmp_path, "--goal", "gpu")
    assert "y = model(x)  # [line 3: GPU 62.5% of its busy time, GPU memory 512 MB, time 45.0%" \
        in prompt
    assert "62.5% of the GPU's busy time in all" in prompt and "alloc" not in prompt
    from triscope import optimize as module
    systems = {goal: module.system_prompt(goal) for goal in module.GOALS}
    assert len(set(systems.values())) == 3 and "less memory" in systems["memory"]


def test_goal_is_sent_with_its_system_prompt(servers, nested, tmp_path):
    profile, marks = nested
    OpenAI.requests.clear()
    proc = optimize([profile, "--provider", "openai", "--model", MODELS["openai"], "--url",
                     servers["openai"] + "/v1", "--goal", "memory", "--top", "1"], tmp_path,
                    env=environment("openai"))
    assert proc.returncode == 0, describe(proc)
    from triscope import optimize as module
    [request] = OpenAI.requests
    system, user = request["body"]["messages"]
    assert system["content"] == module.system_prompt("memory")
    assert "MB allocated in all" in user["content"]
