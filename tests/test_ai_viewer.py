"""The viewer's AI workflow in headless Chromium (docs/DEFINITIONS.md, "AI optimization"):
the provider picker, the ⚡/💥 buttons and a picked range of lines build the request each
provider documents, checked by tests/test_ai.py's stand-ins; the page sends nothing before a
click; Bedrock is left to the command line, which the page shows; and for the same lines
and goal the page sends exactly the prompt `triscope optimize --dry-run` prints (one
prompt builder, viewer/ai.json).
"""
import json

import pytest

from conftest import _child_env, describe, run_triscope
from test_ai import (KEYS, MODELS, NESTED, PROPOSAL, STAND_INS, Anthropic, Ollama, OpenAI,
                     environment, nested, servers)  # noqa: F401 (fixtures)
from test_html import Viewer, browser, memory_profile  # noqa: F401 (fixture)
from triscope import optimize as optimize_module
from triscope.reports import html


@pytest.fixture(scope="module")
def nested_page(nested):
    """The page the profiling run wrote beside its JSON (with the file's regions)."""
    profile_path, marks = nested
    run_triscope(["view", "--html", profile_path], profile_path.parent)
    page = profile_path.with_suffix(".html")
    assert page.exists()
    return page, marks


def configure(page, provider, remember=True, **fields):
    page.click("#ai-settings-open")
    page.select_option("#ai-settings select[name=provider]", provider)
    for name, value in fields.items():
        page.fill(f"#ai-settings input[name={name}]", value)
    if not remember:
        page.uncheck("#ai-settings input[name=remember]")
    page.click("#ai-settings button[type=submit]")


def wait_for_answer(page):
    page.wait_for_function("() => !document.querySelector('#ai-panel .ai-status')"
                           ".textContent.startsWith('Asking')")
    return page.text_content("#ai-panel .ai-status")


def hot_row(viewer, marks):
    return f"{viewer.file(str(NESTED))} table.lines tr[data-lineno='{marks['hot']}']"


PAGE_FIELDS = {
    "openai": lambda base: {"base": base + "/v1", "key": KEYS["openai"], "model": MODELS["openai"]},
    "azure": lambda base: {"base": base, "key": KEYS["azure"], "model": MODELS["azure"]},
    "anthropic": lambda base: {"base": base, "key": KEYS["anthropic"],
                               "model": MODELS["anthropic"]},
    "gemini": lambda base: {"base": base, "key": KEYS["gemini"], "model": MODELS["gemini"]},
    "ollama": lambda base: {"base": base, "model": MODELS["ollama"]},
}


@pytest.mark.parametrize("provider", list(PAGE_FIELDS))
def test_page_asks_each_provider(browser, servers, nested_page, provider, tmp_path):
    path, marks = nested_page
    viewer = Viewer(browser, path)
    page = viewer.page
    assert viewer.requests == [viewer.url], "the page fetched something before any click"
    handler = STAND_INS[provider]
    handler.requests.clear()
    configure(page, provider, remember=False, **PAGE_FIELDS[provider](servers[provider]))
    assert handler.requests == [], "saving the settings sent something"
    row = hot_row(viewer, marks)
    outer = marks["outer"]
    # 💥's own label names the region it proposes: the loop nest, as `--region` does.
    label = page.get_attribute(f"{row} button.opt[data-how=region]", "aria-label")
    assert label.endswith(f"for loop at line {outer}, lines {outer}-{outer + 4}"), label
    page.hover(row)
    page.click(f"{row} button.opt[data-how=region]")
    status = wait_for_answer(page)
    assert status == f"Proposal from {MODELS[provider]}:", status
    assert page.text_content("#ai-panel .ai-answer") == PROPOSAL
    [request] = [r for r in handler.requests if r["method"] == "POST"]
    sent = json.dumps(request["body"])
    assert "row.append(i * j % 7)" in sent  # the page holds only the measured lines
    assert f"lines {outer}-{outer + 4} (for loop at line {outer})" in sent
    if provider == "anthropic":  # what Anthropic wants from a page
        assert request["headers"]["anthropic-dangerous-direct-browser-access"] == "true"
    # Unticked "remember": the key stayed in the page's memory, not in localStorage.
    stored = page.evaluate("localStorage.getItem('triscope.ai')")
    assert MODELS[provider] in stored
    if provider in KEYS:
        assert KEYS[provider] not in stored and KEYS[provider] not in page.content()
        for written in tmp_path.parent.rglob("*"):
            if written.is_file():
                assert KEYS[provider].encode() not in written.read_bytes(), written
    page.evaluate("localStorage.removeItem('triscope.ai')")
    page.close()


def test_ollama_models_and_bedrock_command(browser, servers, nested_page):
    path, marks = nested_page
    viewer = Viewer(browser, path)
    page = viewer.page
    Ollama.requests.clear()
    page.click("#ai-settings-open")
    page.select_option("#ai-settings select[name=provider]", "ollama")
    assert "OLLAMA_ORIGINS" in page.text_content("#ai-settings .ai-note")
    assert not page.is_visible("#ai-settings input[name=key]")  # Ollama wants no key
    page.fill("#ai-settings input[name=base]", servers["ollama"])
    assert Ollama.requests == []
    page.click("#ai-list-models")
    page.wait_for_function("() => document.querySelector('.ai-list-status')"
                           ".textContent.includes('models')")
    assert page.eval_on_selector_all("#ai-models option", "o => o.map(x => x.value)") == \
        Ollama.models
    assert [r["path"] for r in Ollama.requests] == ["/api/tags"]
    # Bedrock: said to be command-line only, and clicking shows the command, sending nothing.
    page.select_option("#ai-settings select[name=provider]", "bedrock")
    assert "Command line only" in page.text_content("#ai-settings .ai-note")
    page.fill("#ai-settings input[name=model]", MODELS["bedrock"])
    page.fill("#ai-settings input[name=region]", "eu-west-3")
    page.click("#ai-settings button[type=submit]")
    before = list(viewer.requests)
    row = hot_row(viewer, marks)
    page.hover(row)
    page.click(f"{row} button.opt[data-how=line]")
    assert "Command line only" in page.text_content("#ai-panel .ai-status")
    command = page.text_content("#ai-panel .ai-command")
    assert command == (f"triscope optimize PROFILE.json --provider bedrock --model "
                       f"{MODELS['bedrock']} --aws-region eu-west-3 --lines "
                       f"{NESTED}:{marks['hot']}-{marks['hot']} --goal time")
    assert viewer.requests == before
    page.evaluate("localStorage.removeItem('triscope.ai')")
    page.close()


def test_picked_lines_and_goal_send_what_the_command_line_sends(browser, servers, tmp_path):
    # GIVEN a profile of a file not on this machine (so the command line, too, has only the
    # profile's lines), with memory measured
    profile = memory_profile()
    (tmp_path / "p.json").write_text(json.dumps(profile))
    html.write(profile, tmp_path / "p.html")
    viewer = Viewer(browser, tmp_path / "p.html")
    page = viewer.page
    configure(page, "openai", base=servers["openai"] + "/v1", key=KEYS["openai"],
              model=MODELS["openai"])
    # WHEN lines 3-4 are picked (click, shift-click) and asked about for memory
    page.select_option("#ai-goal", "memory")
    file = "details.file#F0 table.lines"
    page.click(f"{file} tr[data-lineno='3'] td.c-lineno")
    page.click(f"{file} tr[data-lineno='4'] td.c-lineno", modifiers=["Shift"])
    assert page.locator(f"{file} tr.picked").count() == 2
    assert page.text_content("#ai-range-ask") == "💥 optimize lines 3-4"
    OpenAI.requests.clear()
    page.click("#ai-range-ask")
    assert wait_for_answer(page) == f"Proposal from {MODELS['openai']}:"
    [request] = OpenAI.requests
    system, user = request["body"]["messages"]
    # THEN the page sent the memory goal's system prompt and exactly the user message that
    # `triscope optimize --dry-run` prints for the same lines and goal
    proc = run_triscope(["optimize", tmp_path / "p.json", "--dry-run", "--goal", "memory",
                         "--lines", "/home/u/app/main.py:3-4"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert user["content"] + "\n" == proc.stdout
    assert system["content"] == optimize_module.system_prompt("memory")
    assert "alloc 64.0 MB (75% Python allocator), 80.0% of all allocation, peak 48.5 MB" \
        in user["content"]
    assert "(lines 3-4)" in user["content"]
    assert page.text_content("#ai-panel .ai-sent pre") == user["content"]
    # GPU was profiled here, so it is a goal too; its numbers replace memory's.
    OpenAI.requests.clear()
    page.select_option("#ai-goal", "gpu")
    page.click("#ai-range-ask")
    wait_for_answer(page)
    user = OpenAI.requests[0]["body"]["messages"][1]["content"]
    assert "GPU 12.5% of its busy time, GPU memory 256 MB" in user and "alloc" not in user
    page.evaluate("localStorage.removeItem('triscope.ai')")
    page.close()


def test_region_button_matches_the_command_lines_region(browser, nested_page, nested):
    path, marks = nested_page
    profile_path, _ = nested
    viewer = Viewer(browser, path)
    for line in ("hot", "outside", "block"):
        lineno = marks[line] + (line == "block")
        row = f"{viewer.file(str(NESTED))} table.lines tr[data-lineno='{lineno}']"
        if viewer.page.locator(row).count() == 0:
            continue  # a line the run did not measure has no button
        label = viewer.page.get_attribute(f"{row} button.opt[data-how=region]", "aria-label")
        proc = run_triscope(["optimize", profile_path, "--dry-run", "--region",
                             f"nested_loops.py:{lineno}"], profile_path.parent)
        header = [l for l in proc.stdout.splitlines() if l.startswith("File: ")][0]
        title = header.split(" (", 1)[1].split(")")[0]
        lines = header.split(", lines ", 1)[1].split(" (")[0]
        assert label.endswith(f"{title}, lines {lines}"), (label, header)
    viewer.check_clean()
    viewer.page.close()


def test_view_serves_the_page_with_the_environments_keys(browser, servers, nested, tmp_path):
    """`triscope view --api-keys-from-env`: the page, served from 127.0.0.1, gets the
    environment's key on a click and sends it; it is in no file, nor in localStorage."""
    import subprocess
    import sys
    import urllib.error
    import urllib.request
    profile_path, marks = nested
    env = _child_env(environment("anthropic") |
                     {"AWS_SECRET_ACCESS_KEY": "aws-secret-never-to-the-page"})
    server = subprocess.Popen([sys.executable, "-m", "triscope", "view", str(profile_path),
                               "--api-keys-from-env"], cwd=tmp_path, env=env,
                              stderr=subprocess.PIPE, text=True)
    try:
        line = server.stderr.readline()  # the address, once the server listens
        assert line.startswith("triscope: serving the report at http://127.0.0.1:"), line
        url = line.split(" at ", 1)[1].split()[0]
        keys = json.load(urllib.request.urlopen(url + "keys.json", timeout=30))
        assert keys["anthropic"] == {"key": KEYS["anthropic"]}
        assert "aws-secret-never-to-the-page" not in json.dumps(keys)
        for wrong, headers in ((url.rsplit("/", 2)[0] + "/keys.json", {}),
                               (url + "keys.json", {"Sec-Fetch-Site": "cross-site"})):
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(urllib.request.Request(wrong, headers=headers),
                                       timeout=30)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        requested = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(url)
        assert requested == [url], "the page asked for something before a click"
        configure(page, "anthropic", base=servers["anthropic"], model=MODELS["anthropic"])
        assert url + "keys.json" in requested
        Anthropic.requests.clear()
        row = f"table.lines tr[data-lineno='{marks['hot']}']"
        page.hover(row)
        page.click(f"{row} button.opt[data-how=line]")
        assert wait_for_answer(page) == f"Proposal from {MODELS['anthropic']}:"
        assert Anthropic.requests[0]["headers"]["x-api-key"] == KEYS["anthropic"]
        stored = page.evaluate("localStorage.getItem('triscope.ai')")
        assert KEYS["anthropic"] not in stored
        page.evaluate("localStorage.removeItem('triscope.ai')")
        page.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    for written in [*tmp_path.rglob("*"), *profile_path.parent.rglob("*")]:
        if written.is_file():
            assert KEYS["anthropic"].encode() not in written.read_bytes(), written
