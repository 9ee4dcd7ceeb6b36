"""The AI providers `triscope optimize` talks to, and how a request to each is made.

The request shapes (URL, headers, JSON body, where the answer is in the reply) are the
provider table of viewer/ai.json, shared with the viewer page (ai_spec.py); this module adds
what only the command line does: the settings from the environment (docs/DEFINITIONS.md,
"AI optimization", names every variable), Bedrock's signature (sigv4.py), Ollama's model
list, and sending with urllib. Keys come from the environment only: never from the command
line (it would be in the shell's history and /proc/PID/cmdline), never written anywhere,
never in a message (a URL is shown without its query or user part).
"""

import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request

from triscope import ai_spec, sigv4
from triscope.options import UsageError

NAMES = ("openai", "azure", "anthropic", "gemini", "bedrock", "ollama")
MAX_REPLY = 16 * 1024 * 1024

# Each setting from the first of these variables that is set. The TRISCOPE_AI_* variables
# describe the one provider named by TRISCOPE_AI_PROVIDER (openai when unset): a key set
# there for one provider is never sent to another that --provider chose.
ENVIRONMENT = {
    "openai": {"base": ("OPENAI_BASE_URL",), "key": ("OPENAI_API_KEY",)},
    "azure": {"base": ("AZURE_OPENAI_ENDPOINT",), "key": ("AZURE_OPENAI_API_KEY",),
              "api_version": ("AZURE_OPENAI_API_VERSION", "OPENAI_API_VERSION"),
              "model": ("AZURE_OPENAI_DEPLOYMENT",)},
    "anthropic": {"base": ("ANTHROPIC_BASE_URL",), "key": ("ANTHROPIC_API_KEY",)},
    "gemini": {"key": ("GEMINI_API_KEY", "GOOGLE_API_KEY")},
    "bedrock": {"region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
                "access_key": ("AWS_ACCESS_KEY_ID",), "secret": ("AWS_SECRET_ACCESS_KEY",),
                "session_token": ("AWS_SESSION_TOKEN",)},
    "ollama": {"base": ("OLLAMA_HOST",)},
}
OWN = {"base": "TRISCOPE_AI_URL", "model": "TRISCOPE_AI_MODEL", "key": "TRISCOPE_AI_KEY"}


def chosen(name) -> str:
    """The provider: --provider, else $TRISCOPE_AI_PROVIDER, else openai."""
    name = name or os.environ.get("TRISCOPE_AI_PROVIDER") or "openai"
    if name not in NAMES:
        raise UsageError(f"unknown AI provider {name!r}: one of {', '.join(NAMES)}")
    return name


def settings(name: str, url=None, model=None, api_version=None, region=None) -> dict:
    """Everything a request to provider `name` needs: the command line's values first, then
    the environment's, then the table's defaults."""
    found = {setting: _from_environment(name, setting)
             for setting in ("base", "model", "key", "api_version", "region", "access_key",
                             "secret", "session_token")}
    for setting, value in (("base", url), ("model", model), ("api_version", api_version),
                           ("region", region)):
        if value:
            found[setting] = value
    table = ai_spec.spec()["providers"][name]
    found["api_version"] = found["api_version"] or table.get("api_version", "")
    if not found["base"]:
        if "{region}" in table["base"] and not found["region"]:
            raise UsageError("no AWS region: set AWS_REGION or give --aws-region")
        found["base"] = ai_spec.fill(table["base"], found)
    if name == "ollama" and "://" not in found["base"]:  # OLLAMA_HOST may be host:port
        found["base"] = "http://" + found["base"]
    if name == "openai" and not found["key"] and found["base"] == table["base"]:
        raise UsageError("no OpenAI key: set OPENAI_API_KEY (or TRISCOPE_AI_URL for a "
                         "compatible server, e.g. http://localhost:8000/v1)")
    parsed = urllib.parse.urlsplit(found["base"])
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise UsageError(f"the {name} endpoint must be an http:// or https:// URL"
                         f"{' (AZURE_OPENAI_ENDPOINT or --url)' if name == 'azure' else ''}")
    return found


def _from_environment(name: str, setting: str) -> str:
    own = (os.environ.get("TRISCOPE_AI_PROVIDER") or "openai") == name
    variables = ((OWN[setting],) if own and setting in OWN else ()) + \
        ENVIRONMENT[name].get(setting, ())
    return next((os.environ[v] for v in variables if os.environ.get(v)), "")


def page_settings() -> dict:
    """What `triscope view --api-keys-from-env` hands its page: for each provider the page
    can ask, the fields its settings show (base URL, key, model, api-version) that the
    environment sets. AWS credentials are never among them: the page does not ask Bedrock."""
    found = {}
    for name, table in ai_spec.spec()["providers"].items():
        if table.get("sign"):
            continue
        fields = {field: _from_environment(name, field) for field in table["fields"]}
        if name == "ollama" and fields.get("base") and "://" not in fields["base"]:
            fields["base"] = "http://" + fields["base"]
        fields = {field: value for field, value in fields.items() if value}
        if fields:
            found[name] = fields
    return found


def _full_url(name: str, base: str) -> bool:
    """Whether an openai base is already the whole chat-completions URL (Azure's, with its
    ?api-version, as TRISCOPE_AI_URL has always accepted)."""
    return name == "openai" and urllib.parse.urlsplit(base).path.rstrip("/").endswith(
        "/chat/completions")


def request(name: str, found: dict, system: str, user: str):
    """(url, headers, body bytes) of the request asking provider `name`."""
    spec = ai_spec.spec()
    table = spec["providers"][name]
    values = dict(found, system=system, user=user, temperature=spec["temperature"],
                  max_tokens=spec["max_tokens"], base=found["base"].rstrip("/"))
    url = found["base"] if _full_url(name, found["base"]) else ai_spec.fill(table["url"], values)
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "User-Agent": "triscope-optimize"}
    for header, template in table["headers"].items():
        if all(values.get(used) for used in ai_spec.names(template)):  # no key: no header
            headers[header] = ai_spec.fill(template, values)
    if name == "openai" and "Authorization" in headers and (
            urllib.parse.urlsplit(url).hostname or "").endswith(".openai.azure.com"):
        headers["api-key"] = headers.pop("Authorization").removeprefix("Bearer ")
    body = json.dumps(ai_spec.fill(table["body"], values)).encode("utf-8")
    if table.get("sign") == "aws4":
        if not found["region"]:
            raise UsageError("no AWS region: set AWS_REGION or give --aws-region")
        if not found["access_key"] or not found["secret"]:
            raise UsageError("no AWS credentials: set AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones)")
        headers = sigv4.sign("POST", url, headers, body, access_key=found["access_key"],
                             secret=found["secret"], region=found["region"],
                             service="bedrock", session_token=found["session_token"] or None)
    return url, headers, body


def shown(url: str) -> str:
    """The URL for messages: no user:password, no query (Azure keys can ride there)."""
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or ""
    if parsed.port:
        host += f":{parsed.port}"
    return urllib.parse.urlunsplit((parsed.scheme, host, parsed.path, "", ""))


def fetch_json(url: str, headers: dict, body, timeout: float):
    """The JSON reply of a POST (with a body) or a GET, or a UsageError saying why not."""
    where = shown(url)
    method = "POST" if body is not None else "GET"
    outgoing = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(outgoing, timeout=timeout) as response:
            raw = response.read(MAX_REPLY)
    except urllib.error.HTTPError as error:
        try:
            detail = _http_detail(error)
        finally:
            if error.fp is not None:  # it holds the open response
                error.close()
        raise UsageError(f"the AI endpoint {where} answered HTTP {error.code}{detail}") \
            from None
    except (socket.timeout, TimeoutError):
        raise UsageError(f"no answer from the AI endpoint {where} within {timeout:g} s") \
            from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise UsageError(f"no answer from the AI endpoint {where} within {timeout:g} s") \
                from None
        raise UsageError(f"cannot reach the AI endpoint {where}: "
                         f"{getattr(reason, 'strerror', None) or reason}") from None
    except (OSError, ValueError) as error:  # a connection reset, a malformed URL
        raise UsageError(f"cannot reach the AI endpoint {where}: {error}") from None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"the AI endpoint {where} did not answer JSON") from None


def _http_detail(error) -> str:
    """The server's own error message, when it sent one in JSON: {"error": {"message"}}
    (OpenAI, Azure, Anthropic, Gemini), {"error": "..."} (Ollama), {"message"} (Bedrock)."""
    try:
        reply = json.loads(error.read(64 * 1024))
        detail = reply["error"] if "error" in reply else reply["message"]
        message = detail["message"] if isinstance(detail, dict) else detail
    except Exception:
        return f" ({error.reason})" if error.reason else ""
    message = " ".join(str(message).split())
    return f": {message[:200]}"


def _walk(value, path):
    """The values at `path` in a reply ("*" stands for every element of a list)."""
    if not path:
        return [value]
    step, rest = path[0], path[1:]
    if step == "*":
        if not isinstance(value, list):
            raise TypeError("not a list")
        return [found for item in value for found in _walk(item, rest)]
    return _walk(value[step], rest)


def answer(name: str, reply, url: str) -> str:
    """The proposal's text in a provider's reply, or a UsageError."""
    path = ai_spec.spec()["providers"][name]["reply"]
    try:
        parts = _walk(reply, path)
    except (LookupError, TypeError):
        where = ".".join(str(step) for step in path).replace(".*", "[*]")
        raise UsageError(f"the AI endpoint {shown(url)} answered JSON without a proposal "
                         f"({where})") from None
    content = "".join(part for part in parts if isinstance(part, str))
    if not content.strip():
        raise UsageError(f"the AI endpoint {shown(url)} answered an empty proposal")
    return content


def ask(name: str, found: dict, system: str, user: str, timeout: float) -> str:
    """The provider's proposal for the prompt."""
    url, headers, body = request(name, found, system, user)
    return answer(name, fetch_json(url, headers, body, timeout), url)


def models(name: str, found: dict, timeout: float) -> list:
    """The models the provider's server lists (Ollama's /api/tags), or a UsageError."""
    listing = ai_spec.spec()["providers"][name].get("models")
    if listing is None:
        raise UsageError(f"the {name} provider has no model list to read: give --model")
    url = ai_spec.fill(listing["url"], dict(found, base=found["base"].rstrip("/")))
    reply = fetch_json(url, {"Accept": "application/json", "User-Agent": "triscope-optimize"},
                       None, timeout)
    try:
        return [item for item in _walk(reply, listing["list"]) if isinstance(item, str)]
    except (LookupError, TypeError):
        raise UsageError(f"the model list at {shown(url)} is not Ollama's /api/tags") from None
