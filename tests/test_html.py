"""The HTML report: render() keeps profiled text inert, the CLI writes (and opens) the page,
and the viewer, driven in headless Chromium, shows what the JSON says.

Browser tests drive Debian's chromium through playwright's Python package, with no browser
download. `make test` installs both; where that was impossible they are skipped with a
warning that names what is missing.
"""
import json
import os
import re
import shutil
import sys
import time
import warnings
from pathlib import Path

import pytest

from conftest import (FORMS, JsonHandler, describe, expanded, load_profile, local_server,
                      new_form, profile_workload, run_triscope, workload)
from test_text_report import make_file, make_function, make_line, make_profile
from triscope import ai_spec
from triscope.reports import html

SHORT = "0.3"  # workload scale: about a second
SPLIT = workload("split.py")
SEMANTICS = workload("semantics.py")
PWNED = "window.__pwned=1"
EVIL = ["</script>", f'<img src=x onerror="{PWNED}">', f'"><script>{PWNED}</script>']


def embedded_json(page):
    """The text of the page's profile element."""
    match = re.search(r'<script type="application/json" id="profile">(.*?)</script>', page, re.S)
    assert match, "no profile element"
    return match.group(1)


def viewer_template():
    return (Path(html.__file__).parent.parent / "viewer" / "viewer.html").read_text()


def quiet(line, profile):
    """As the viewer decides: below the threshold in time and (when measured) in memory."""
    threshold = profile["options"]["cpu_percent_threshold"]
    total = line["cpu_python_pct"] + line["cpu_native_pct"] + line["cpu_system_pct"]
    return total < threshold and not (profile["memory"]["enabled"]
                                      and line["mem_pct"] >= threshold)


def shown_as(text, value, digits=1):
    """Whether a table cell's text shows `value` (blank standing for a value that rounds to 0)."""
    return abs(float(text or 0) - value) <= 0.5 * 10 ** -digits + 1e-9


def path_key(profile, path):
    """The profile's own spelling of `path` (keys are absolute, maybe not resolved)."""
    for key in profile["files"]:
        if os.path.realpath(key) == os.path.realpath(path):
            return key
    raise AssertionError(f"{path} not in {sorted(profile['files'])}")


# ==== render(): the page as text ====

def test_render_embeds_the_profile():
    profile = make_profile()
    page = html.render(profile)
    assert json.loads(embedded_json(page)) == new_form(profile)
    assert "__TRISCOPE_" not in page, "a placeholder was left in the page"


@pytest.mark.parametrize("form", sorted(FORMS))
def test_render_embeds_the_stacks_with_their_frame_table(form):
    """Whichever form the profile is in (a tool reads it with its frames as triples, a run
    writes the table), the page holds each frame once and the stacks by index: the same
    stacks."""
    profile = FORMS[form](memory_stacks_profile())
    embedded = json.loads(embedded_json(html.render(profile)))
    assert embedded["schema"] == "triscope/2"
    assert embedded["stack_frames"] == [["/home/u/app/main.py", "<module>", 1],
                                        ["/home/u/app/main.py", "work", 3],
                                        ["/home/u/app/main.py", "build", 4],
                                        ["/home/u/app/main.py", "cache", 6]]
    assert [stack["frames"] for stack in embedded["stacks"]] == [[0, 1], [0, 2], [0, 3]]
    assert expanded(embedded)["stacks"] == memory_stacks_profile()["stacks"]


def test_render_leaves_no_markup_from_profiled_text():
    sources = EVIL + ["a & b \u2028 c \u2029 d", "__TRISCOPE_NONCE__ __TRISCOPE_PROFILE__"]
    lines = [make_line(i + 1, python=10.0, source=text) for i, text in enumerate(sources)]
    profile = make_profile({"/tmp/</script><b>/evil.py": make_file(lines)})
    profile["program"] = profile["args"][0] = EVIL[2]
    page = html.render(profile)
    data = embedded_json(page)
    assert not {"<", ">", "&", "\u2028", "\u2029"} & set(data)
    assert json.loads(data) == new_form(profile), "escaping changed the profile"
    template = viewer_template()
    for tag in ("<script", "</script", "<img", "<b>"):
        assert page.count(tag) == template.count(tag), f"{tag} added to the page"


def test_page_names_no_resource_outside_itself():
    page = html.render(make_profile())
    # The SVG namespace is a name that browsers never fetch; the AI providers' addresses
    # (viewer/ai.json) are asked only when an optimize button is clicked (test_ai_viewer.py).
    address = r"https?://[^\s\"'<>)]+"
    providers = set(re.findall(address, ai_spec.text()))
    assert set(re.findall(address, page)) - providers <= {"http://www.w3.org/2000/svg"}
    addresses = re.findall(r"\b(?:src|href)\s*=\s*[\"']?([^\"'\s>]*)", page)
    assert all(address.startswith("data:") for address in addresses), addresses
    assert "@import" not in page and "url(" not in page and "@font-face" not in page
    assert "default-src 'none'" in page


def test_each_page_has_its_own_nonce():
    nonce = re.compile(r"nonce-([\w-]+)")
    first, second = (nonce.search(html.render(make_profile())).group(1) for _ in range(2))
    assert first != second and len(first) >= 16


# ==== The command line ====

def html_of(path):
    return json.loads(embedded_json(Path(path).read_text()))


def test_run_writes_html_beside_json(tmp_path):
    run = profile_workload(tmp_path, "split.py", SHORT)
    page = tmp_path / "profile.html"
    assert f"triscope: HTML report written to {page}" in run.proc.stderr
    assert html_of(page) == load_profile(tmp_path / "profile.json", raw=True)


@pytest.mark.parametrize("options,html_name,json_name", [
    (["--cli"], None, "profile.json"),
    (["--html", "-o", "out.htm"], "out.htm", "profile.json"),
    (["-o", "report.html"], "report.html", "profile.json"),
    (["--json", "-o", "out.json"], "out.html", "out.json"),
    (["--cli", "--web"], "profile.html", "profile.json"),
], ids=["cli", "html-o", "o-dot-html", "json-o", "cli-web"])
def test_html_output_options(tmp_path, options, html_name, json_name):
    proc = run_triscope([*options, SEMANTICS, "spin:0.2"], tmp_path,
                        env={"DISPLAY": None, "WAYLAND_DISPLAY": None, "BROWSER": None})
    assert proc.returncode == 0, describe(proc)
    profile = load_profile(tmp_path / json_name, raw=True)
    pages = sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".html", ".htm"))
    assert pages == ([html_name] if html_name else [])
    if html_name:
        assert html_of(tmp_path / html_name) == profile
        assert "for i in range(" in proc.stderr, "the text report is still printed"


def fake_browser(directory):
    """A $BROWSER that records the address it was asked to open."""
    script = directory / "fake-browser"
    script.write_text(f"#!{sys.executable}\nimport pathlib, sys\n"
                      "pathlib.Path(__file__).with_name('opened.txt').write_text(sys.argv[1])\n")
    script.chmod(0o755)
    return {"BROWSER": str(script), "DISPLAY": None, "WAYLAND_DISPLAY": None}


def test_web_opens_the_page_in_the_browser(tmp_path):
    proc = run_triscope(["--web", SEMANTICS, "spin:0.2"], tmp_path, env=fake_browser(tmp_path))
    assert proc.returncode == 0, describe(proc)
    assert (tmp_path / "opened.txt").read_text() == (tmp_path / "profile.html").as_uri()
    assert "no browser" not in proc.stderr


def test_web_without_a_browser_says_where_the_page_is(tmp_path):
    proc = run_triscope(["--web", SEMANTICS, "spin:0.2"], tmp_path,
                        env={"DISPLAY": None, "WAYLAND_DISPLAY": None, "BROWSER": None})
    assert proc.returncode == 0, describe(proc)
    assert f"open {tmp_path / 'profile.html'} in one" in proc.stderr, describe(proc)


@pytest.fixture
def saved_profile(tmp_path):
    (tmp_path / "runs").mkdir()
    path = tmp_path / "runs" / "first.json"
    path.write_text(json.dumps(make_profile()))
    return path


def test_view_html_writes_beside_the_profile(tmp_path, saved_profile):
    proc = run_triscope(["view", saved_profile, "--html"], tmp_path)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == "", "--html alone prints no text report"
    assert html_of(tmp_path / "runs" / "first.html") == \
        new_form(json.loads(saved_profile.read_text()))


def test_view_html_outfile_and_web(tmp_path, saved_profile):
    proc = run_triscope(["view", saved_profile, "--web", "-o", "page.html"], tmp_path,
                        env=fake_browser(tmp_path))
    assert proc.returncode == 0, describe(proc)
    assert (tmp_path / "opened.txt").read_text() == (tmp_path / "page.html").as_uri()
    assert not (tmp_path / "runs" / "first.html").exists()


@pytest.mark.parametrize("content", ["{not json", '{"schema": "other"}', "[]"])
def test_view_html_of_a_bad_profile_is_one_error_line(tmp_path, content):
    (tmp_path / "bad.json").write_text(content)
    proc = run_triscope(["view", "bad.json", "--html"], tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, describe(proc)
    assert lines[0].startswith("triscope: error:")
    assert not (tmp_path / "bad.html").exists()


# ==== The viewer in a browser ====

def _browser_missing():
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (make test installs it)"
    if not shutil.which("chromium"):
        return "no chromium on PATH (make test runs apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser():
    missing = _browser_missing()
    if missing:
        warnings.warn(f"BROWSER TESTS SKIPPED: {missing}")
        pytest.skip(f"BROWSER TESTS SKIPPED: {missing}")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=shutil.which("chromium"))
        yield chromium
        chromium.close()


class Viewer:
    """A page of the viewer, with everything it logged and every request it made."""

    def __init__(self, browser, path):
        self.url = Path(path).resolve().as_uri()
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.problems, self.requests = [], []
        self.page.on("console", lambda message: self.problems.append(
            f"console {message.type}: {message.text}"))
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("request", lambda request: self.requests.append(request.url))
        started = time.perf_counter()
        self.page.goto(self.url)
        self.load_s = time.perf_counter() - started

    def check_clean(self):
        """No error or message of any kind was logged, and nothing was fetched."""
        assert self.problems == []
        assert self.requests == [self.url]

    def file(self, path):
        """CSS selector of the file section of `path`."""
        index = self.page.evaluate(
            "path => [...document.querySelectorAll('details.file')]"
            ".findIndex(d => d.dataset.path === path)", path)
        assert index >= 0, f"no file section for {path}"
        return f"details.file#F{index}"

    def column(self, selector, cell):
        """Text of the `cell` class of each row matched by `selector`."""
        return self.page.eval_on_selector_all(
            selector, "(rows, cell) => rows.map(r => r.querySelector('.' + cell)"
                      ".textContent)", cell)

    def linenos(self, file):
        return self.page.eval_on_selector_all(
            f"{file} table.lines tbody tr[data-lineno]", "rows => rows.map(r => +r.dataset.lineno)")


@pytest.fixture(scope="module")
def split_run(tmp_path_factory):
    """split.py profiled once with --stacks, for the tests that read its page."""
    return profile_workload(tmp_path_factory.mktemp("split"), "split.py", SHORT,
                            options=["--stacks"])


@pytest.fixture
def split_page(browser, split_run):
    viewer = Viewer(browser, split_run.cwd / "profile.html")
    yield viewer
    viewer.page.close()


def test_page_shows_the_profile(split_run, split_page):
    profile, viewer = split_run.profile, split_page
    page = viewer.page
    assert page.title() == f"triscope · {profile['program']}"
    assert page.text_content("h1") == profile["program"]
    for path in profile["files"]:
        viewer.file(path)
    file = viewer.file(path_key(profile, SPLIT))
    entry = profile["files"][path_key(profile, SPLIT)]
    assert shown_as(page.text_content(f"{file} summary .share").rstrip("%"), entry["cpu_pct"])

    shown = [line for line in entry["lines"] if not quiet(line, profile)]
    assert viewer.linenos(file) == [line["lineno"] for line in shown]
    rows = f"{file} table.lines tbody tr[data-lineno]"
    for key in ("cpu_python_pct", "cpu_native_pct", "cpu_system_pct"):
        for text, line in zip(viewer.column(rows, f"c-{key}"), shown):
            assert shown_as(text, line[key]), (key, line["lineno"], text, line[key])
    assert viewer.column(rows, "c-source") == [line["source"] for line in shown]
    hot_a = re.search(r"^.*@hot_a", SPLIT.read_text(), re.M).group(0)
    hot_row = next(line for line in shown if line["source"] == hot_a)
    assert "hot" in page.get_attribute(f"{file} tr[data-lineno='{hot_row['lineno']}']", "class")
    names = viewer.page.eval_on_selector_all(f"{file} table.functions tbody tr",
                                             "rows => rows.map(r => r.dataset.name)")
    assert {"func_a", "func_b", "func_c"} <= set(names)
    viewer.check_clean()


@pytest.mark.parametrize("width", [900, 1400])
def test_the_hottest_source_is_in_view_at_any_width(browser, split_run, width):
    """At 900 px the numbers scroll sideways, but the hottest line's code stays in view,
    beside its line number, unobstructed; a long line is cut and shown whole on hover."""
    viewer = Viewer(browser, split_run.cwd / "profile.html")
    try:
        page = viewer.page
        page.set_viewport_size({"width": width, "height": 900})
        file = viewer.file(path_key(split_run.profile, SPLIT))
        hot_a = re.search(r"^.*@hot_a", SPLIT.read_text(), re.M).group(0)
        cell = page.locator(f"{file} table.lines tbody tr.hot td.c-source",
                            has_text=hot_a.strip()).first
        page.evaluate("y => window.scrollTo(0, y)", cell.bounding_box()["y"] - 300)
        # As the page opens, and scrolled sideways as far as it goes: the code is there.
        for scroll in ("0", "b.scrollWidth"):
            page.eval_on_selector_all(f"{file} .scroll", "boxes => boxes.forEach(b => "
                                                         f"b.scrollLeft = {scroll})")
            box = cell.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + 120 <= width, (scroll, box)
            on_top = page.evaluate(
                "([x, y]) => document.elementFromPoint(x, y)?.closest('td')?.className",
                [box["x"] + 40, box["y"] + box["height"] / 2])
            assert on_top and "c-source" in on_top, (scroll, on_top)
        assert cell.get_attribute("title").strip() == hot_a.strip()
        viewer.check_clean()
    finally:
        viewer.page.close()


def test_columns_sort(split_run, split_page):
    profile, viewer = split_run.profile, split_page
    file = viewer.file(path_key(profile, SPLIT))
    shown = [line for line in profile["files"][path_key(profile, SPLIT)]["lines"]
             if not quiet(line, profile)]
    by_line = [line["lineno"] for line in shown]
    header = f"{file} table.lines th.c-cpu_python_pct"

    def python_order(descending):
        # Both sorts are stable: ties stay in line order, whichever the direction.
        sign = -1 if descending else 1
        return [line["lineno"]
                for line in sorted(shown, key=lambda line: sign * line["cpu_python_pct"])]

    viewer.page.click(f"{header} button")
    assert viewer.page.get_attribute(header, "aria-sort") == "descending"
    assert viewer.linenos(file) == python_order(True)
    viewer.page.click(f"{header} button")
    assert viewer.page.get_attribute(header, "aria-sort") == "ascending"
    assert viewer.linenos(file) == python_order(False)
    assert viewer.linenos(file) != by_line, "sorting did not change the order"
    viewer.page.click(f"{file} table.lines th.c-lineno button")
    assert viewer.linenos(file) == by_line

    names = f"{file} table.functions tbody tr[data-name]"
    viewer.page.click(f"{file} table.functions th.c-name button")
    listed = viewer.page.eval_on_selector_all(names, "rows => rows.map(r => r.dataset.name)")
    assert listed == sorted(listed) and len(listed) >= 3
    viewer.check_clean()


def test_the_page_holds_the_profile_as_written(split_run):
    """The run's reports read its profile without the stacks (launch._without_stacks); the
    page still holds all of it, stacks and frame table included, as profile.json has it."""
    page = (split_run.cwd / "profile.html").read_text()
    written = json.loads((split_run.cwd / "profile.json").read_text())
    assert written["stacks"] and json.loads(embedded_json(page)) == written


def test_flame_graph_with_stacks(split_run, split_page):
    page = split_page.page
    # Drawn from the stacks as the run wrote them: frames by index into the frame table.
    embedded = json.loads(embedded_json((split_run.cwd / "profile.html").read_text()))
    assert embedded["stack_frames"] and all(
        isinstance(index, int) for stack in embedded["stacks"] for index in stack["frames"])
    frame = ".flame .frame"
    labels = page.eval_on_selector_all(frame, "frames => frames.map(f => f.textContent)")
    assert {"func_a", "func_b", "func_c"} <= set(labels)
    page.click(f"{frame}:text-is('func_a')")
    assert page.eval_on_selector(f"{frame}:text-is('func_a')", "f => f.style.width") == "100%"
    assert page.locator(f"{frame}:text-is('func_b')").count() == 0, "zoom kept other frames"
    page.click(f"{frame}.root")
    assert page.locator(f"{frame}:text-is('func_b')").count() == 1
    split_page.check_clean()


def test_flame_graph_draws_a_run_of_import_frames_as_one(browser, tmp_path):
    """An import nested in an import is ten frames of the import system: drawn one frame per
    run ("import"), the flame graph is as tall as the program's own calls."""
    boot, external = "<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>"
    importing = [[boot, "_find_and_load", 1], [boot, "_find_and_load_unlocked", 2],
                 [boot, "_load_unlocked", 3], [external, "exec_module", 4],
                 [boot, "_call_with_frames_removed", 5]]
    profile = memory_profile()
    profile["options"]["stacks"] = True
    profile["stacks"] = [
        {"frames": [["/p/main.py", "<module>", 1], *importing, ["/p/lib.py", "<module>", 1],
                    *importing, ["/p/sub.py", "<module>", 1], ["/p/sub.py", "setup", 9]],
         "samples": 20, "seconds": 0.2},
        {"frames": [["/p/main.py", "<module>", 1], ["/p/main.py", "work", 5]],
         "samples": 80, "seconds": 0.8}]
    html.write(profile, tmp_path / "stacks.html")
    viewer = Viewer(browser, tmp_path / "stacks.html")
    page = viewer.page
    labels = page.eval_on_selector_all(".flame .frame", "fs => fs.map(f => f.textContent)")
    assert labels.count("import") == 2, labels
    assert not any(name.startswith("_") or name == "exec_module" for name in labels), labels
    assert "setup" in labels and "work" in labels
    height = page.eval_on_selector(".flame", "f => f.getBoundingClientRect().height")
    assert height == 7 * 21, height  # all, <module>, import, <module>, import, <module>, setup
    viewer.check_clean()


EVIL_PROGRAM = f'''\
"""Each hot line below would script the viewer, were its text ever taken as markup."""
import time

deadline = time.perf_counter() + 0.6
while time.perf_counter() < deadline:
    a = [len("{EVIL[0]}") for _ in range(400)]  # {EVIL[0]}
    b = [len('{EVIL[1]}') for _ in range(400)]  # {EVIL[1]}
    c = [len('{EVIL[2]}') for _ in range(400)]  # {EVIL[2]}
'''


def test_profiled_source_never_runs_as_script(browser, tmp_path):
    # The directory name and an argument are shown too, so they carry markup as well.
    directory = tmp_path / EVIL[1]
    directory.mkdir()
    (directory / "evil.py").write_text(EVIL_PROGRAM)
    proc = run_triscope([directory / "evil.py", EVIL[2]], tmp_path)
    assert proc.returncode == 0, describe(proc)
    profile = load_profile(tmp_path / "profile.json")
    viewer = Viewer(browser, tmp_path / "profile.html")
    page = viewer.page
    assert page.evaluate("window.__pwned") is None
    # the viewer's own script and its three JSON elements: profile, AI table, regions
    assert page.evaluate("document.querySelectorAll('script').length") == 4
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.text_content("h1") == profile["program"]
    assert page.text_content(".args") == EVIL[2]
    file = viewer.file(path_key(profile, directory / "evil.py"))
    sources = viewer.column(f"{file} table.lines tbody tr[data-lineno]", "c-source")
    for text in EVIL:
        assert any(source.rstrip().endswith(f"# {text}") for source in sources), text
    viewer.check_clean()


def memory_profile():
    """A profile with memory, GPU, a leak and a quiet line, in numbers easy to find."""
    lines = [
        make_line(3, python=40.0, native=5.0, system=5.0, source="for i in range(n):",
                  alloc_mb=64.0, python_fraction=0.75, peak_mb=48.5, live_mb=32.0,
                  mem_pct=80.0, alloc_samples=640, copy_mb=9.0, copy_mb_s=3.6, gpu_pct=12.5,
                  gpu_mem_mb=256.0, timeline=[[0.0, 0.0], [1.0, 16.0], [2.0, 32.0]],
                  leak_likelihood=0.9, leak_mb_s=16.0),
        make_line(4, native=10.0, source="    total += i", alloc_mb=16.0, mem_pct=20.0),
        make_line(9, python=0.5, source="print(total)"),
    ]
    profile = make_profile({"/home/u/app/main.py": make_file(lines, [
        make_function("main", lines)])}, memory=True, gpu=True)
    profile["leaks"] = [{"file": "/home/u/app/main.py", "lineno": 3, "likelihood": 0.9,
                         "mb_s": 16.0}]
    return profile


def test_footprint_axis_starts_at_zero_seconds(browser, tmp_path):
    """The footprint chart's first point, taken 98 microseconds into the run, is the axis's
    start: "0 s", not "0.0000980 s" (as a demo run showed it)."""
    profile = memory_profile()
    profile["memory"]["timeline"] = [[0.000098, 1.0], [1.0, 8.0], [2.74, 12.5]]
    html.write(profile, tmp_path / "axis.html")
    viewer = Viewer(browser, tmp_path / "axis.html")
    ends = viewer.page.eval_on_selector_all("#summary .axis span", "s => s.map(e => e.textContent)")
    assert ends[:2] == ["0 s", "2.74 s"], ends
    viewer.check_clean()


def test_footprint_axis_ends_where_the_run_did(browser, tmp_path):
    """A program that allocates early and then waits: the chart runs to the run's end, the
    last sampled footprint held, not to the last sample (a demo of 1.19 s read "0.410 s"
    at the axis's end, as if the run had ended there)."""
    profile = memory_profile()
    profile["memory"]["timeline"] = [[0.0, 1.0], [0.41, 8.0]]
    assert profile["elapsed_s"] == 2.5
    html.write(profile, tmp_path / "axis.html")
    viewer = Viewer(browser, tmp_path / "axis.html")
    ends = viewer.page.eval_on_selector_all("#summary .axis span", "s => s.map(e => e.textContent)")
    assert ends[:2] == ["0 s", "2.50 s"], ends
    viewer.check_clean()


def test_memory_and_gpu_columns(browser, tmp_path):
    html.write(memory_profile(), tmp_path / "memory.html")
    viewer = Viewer(browser, tmp_path / "memory.html")
    page = viewer.page
    row = "details.file#F0 table.lines tr[data-lineno='3']"
    cells = {"c-alloc_mb": "64.0", "c-python_fraction": "75", "c-peak_mb": "48.5",
             "c-copy_mb_s": "3.6", "c-gpu_pct": "12.5", "c-gpu_mem_mb": "256",
             "c-leak_likelihood": "● 90%", "c-time": "50.0"}
    for cell, text in cells.items():
        assert page.text_content(f"{row} .{cell}").strip() == text, cell
    assert page.locator(f"{row} .c-timeline svg path.line").count() == 1
    header = page.text_content("#summary")
    assert "12.5 MB" in header and "NVIDIA H100" in header
    assert page.text_content("#leaks").count("main.py:3") == 1
    assert page.inner_html("#stacks") == "", "a flame graph without stacks"
    # no PyTorch allocator view in this profile: no column, no fact
    assert page.locator(".c-gpu_allocated_mb").count() == 0 and "PyTorch" not in header
    viewer.check_clean()


def test_pytorch_allocator_column(browser, tmp_path):
    """A program that used PyTorch's CUDA: its allocator's figure per line beside NVML's,
    and the run's peaks in the header (docs/DEFINITIONS.md, GPU)."""
    profile = memory_profile()
    profile["gpu"]["allocator"] = {"source": "torch.cuda.memory_allocated", "reads": 30,
                                   "peak_allocated_mb": 1088.0, "peak_reserved_mb": 1536.0}
    for entry in profile["files"].values():
        for metrics in entry["lines"] + entry["functions"]:
            metrics["gpu_allocated_mb"] = 1088.0 if metrics["lineno"] == 3 else 64.0
    html.write(profile, tmp_path / "torch.html")
    viewer = Viewer(browser, tmp_path / "torch.html")
    page = viewer.page
    rows = "details.file#F0 table.lines tr[data-lineno='{}'] .c-gpu_allocated_mb"
    assert page.text_content(rows.format(3)).strip() == "1088"
    assert page.text_content(rows.format(4)).strip() == "64.0"
    header = page.text_content("#summary")
    assert "PyTorch allocator" in header and "1088 MB" in header and "1536 MB" in header
    viewer.check_clean()


def test_hover_and_focus_give_the_breakdown(browser, tmp_path):
    html.write(memory_profile(), tmp_path / "memory.html")
    viewer = Viewer(browser, tmp_path / "memory.html")
    page = viewer.page
    row = "details.file#F0 table.lines tr[data-lineno='3']"
    page.hover(f"{row} .c-time .bar")
    assert page.is_visible("#tip")
    tip = page.text_content("#tip")
    assert "Python40.00 %" in tip and "native5.00 %" in tip and "system5.00 %" in tip
    page.mouse.move(0, 0)
    assert page.is_hidden("#tip")
    page.focus(f"{row} .c-alloc_mb .bar")
    assert "Python allocator75.00 %" in page.text_content("#tip")
    viewer.check_clean()


def test_a_lines_cpu_samples_over_time_in_its_tooltip(browser, tmp_path):
    """cpu_timeline: the line's samples per bucket as block characters, the fullest the
    tallest, an empty bucket a dot, and the span they cover."""
    profile = memory_profile()
    line = profile["files"]["/home/u/app/main.py"]["lines"][0]
    line["cpu_timeline"] = {"start_s": 0.5, "bucket_s": 0.25, "samples": [8, 4, 0, 1]}
    html.write(profile, tmp_path / "spark.html")
    viewer = Viewer(browser, tmp_path / "spark.html")
    page = viewer.page
    page.hover("details.file#F0 table.lines tr[data-lineno='3'] .c-time .bar")
    assert "CPU samples over time█▅·▂ 0.500 s–1.50 s" in page.text_content("#tip")
    page.hover("details.file#F0 table.lines tr[data-lineno='4'] .c-time .bar")
    assert "CPU samples over time" not in page.text_content("#tip")  # a line without one
    viewer.check_clean()


def test_quiet_lines_fold_and_leaks_lead_to_their_line(browser, tmp_path):
    html.write(memory_profile(), tmp_path / "memory.html")
    viewer = Viewer(browser, tmp_path / "memory.html")
    page = viewer.page
    file = "details.file#F0"
    assert viewer.linenos(file) == [3, 4], "the 0.5% line is not folded"
    page.click(f"{file} tr.fold button")
    assert viewer.linenos(file) == [3, 4, 9]
    page.click(f"{file} .table-tools button")  # hide quiet lines again
    assert viewer.linenos(file) == [3, 4]
    page.click(f"{file} > summary")  # close the file, then follow the leak to its line
    page.click("#leaks button")
    assert page.evaluate("document.querySelector('details.file').open")
    assert "flash" in page.get_attribute(f"{file} tr[data-lineno='3']", "class")
    viewer.check_clean()


def big_profile(files=300, lines=40):
    """A run that touched hundreds of files, each with a few dozen measured lines, all of
    them above the threshold so that every row is drawn (shares need not add up here)."""
    share = 1.5
    entries = {}
    for f in range(files):
        rows = [make_line(n * 3 + 1, python=share * 0.6, native=share * 0.3, system=share * 0.1,
                          source=f"    value_{n} = compute(data[{n}], key='{f}-{n}')  # note",
                          alloc_mb=0.5, python_fraction=0.5, mem_pct=0.1,
                          timeline=[[t / 10, t * 0.1] for t in range(20)])
                for n in range(lines)]
        functions = [make_function(f"function_{k}", rows[k * 10:(k + 1) * 10]) for k in range(4)]
        entries[f"/srv/app/package_{f // 20}/module_{f}.py"] = make_file(rows, functions)
    return make_profile(entries, memory=True)


def test_big_profile_loads_in_seconds(browser, tmp_path):
    html.write(big_profile(), tmp_path / "big.html")
    size_mb = (tmp_path / "big.html").stat().st_size / 1e6
    viewer = Viewer(browser, tmp_path / "big.html")
    assert viewer.page.locator("details.file").count() == 300
    started = time.perf_counter()
    viewer.page.click("button:text-is('expand all')")
    expand_s = time.perf_counter() - started
    assert viewer.page.locator("table.lines tbody tr[data-lineno]").count() == 300 * 40
    print(f"\n300-file profile: {size_mb:.1f} MB, loaded in {viewer.load_s:.2f} s, "
          f"all files expanded in {expand_s:.2f} s")
    assert viewer.load_s < 10, f"the page took {viewer.load_s:.1f} s to load"
    viewer.check_clean()


# ==== AI optimization proposals from the viewer ====

AI_KEY = "sk-viewer-5e4d3c2b1a-never-on-disk"
AI_PROPOSAL = "```python\ntotal = n * (n - 1) // 2\n```\nClosed form: no loop. <b>bold?</b>"


class ChatHandler(JsonHandler):
    """A chat-completions server that a file:// page may call (CORS): /v1/chat/completions
    answers a proposal, /error/... HTTP 500, /broken/... a reply that is not JSON."""
    requests = []

    def extra_headers(self):  # CORS
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "Authorization, Content-Type, api-key")
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Private-Network", "true")

    def do_OPTIONS(self):
        self.send_response(204)
        self.extra_headers()
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ChatHandler.requests.append({"path": self.path, "headers": dict(self.headers),
                                     "body": json.loads(body)})
        if self.path.startswith("/error/"):
            return self.reply(500, json.dumps({"error": {"message": "model overloaded"}}))
        if self.path.startswith("/broken/"):
            return self.reply(200, "<html>gateway</html>")
        self.reply(200, json.dumps({"choices": [{"index": 0, "message": {
            "role": "assistant", "content": AI_PROPOSAL}}]}))



@pytest.fixture(scope="module")
def chat_server():
    with local_server(ChatHandler) as url:
        yield url


def ask_ai(viewer, url, selector):
    """Sets the AI settings through the dialog, clicks the optimize button of `selector`, and
    returns the panel's status once the answer (or the error) is in."""
    page = viewer.page
    page.click("#ai-settings-open")
    page.select_option("#ai-settings select[name=provider]", "openai")
    page.fill("#ai-settings input[name=base]", url)
    page.fill("#ai-settings input[name=model]", "test-model")
    page.fill("#ai-settings input[name=key]", AI_KEY)
    page.click("#ai-settings button[type=submit]")
    page.hover(selector)
    page.click(f"{selector} button.opt >> nth=-1")  # 💥: the region (a function's only one)
    page.wait_for_function("() => !document.querySelector('#ai-panel .ai-status')"
                           ".textContent.startsWith('Asking')")
    return page.text_content("#ai-panel .ai-status")


def test_optimize_button_asks_the_endpoint(browser, tmp_path, chat_server):
    ChatHandler.requests.clear()
    html.write(memory_profile(), tmp_path / "memory.html")
    viewer = Viewer(browser, tmp_path / "memory.html")
    assert viewer.requests == [viewer.url], "the page fetched something before any click"
    row = "details.file#F0 table.lines tr[data-lineno='4']"
    status = ask_ai(viewer, f"{chat_server}/v1/", row)
    assert status == "Proposal from test-model:"
    assert viewer.page.text_content("#ai-panel .ai-answer") == AI_PROPOSAL
    assert viewer.page.locator("#ai-panel b").count() == 0, "the answer became markup"
    [request] = ChatHandler.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {AI_KEY}"
    assert request["body"]["model"] == "test-model"
    system, user = request["body"]["messages"]
    assert system["role"] == "system" and "optimised version" in system["content"]
    # Around line 4 (no syntax tree of a file not on this machine: the measured lines
    # within 3 of it): both lines, with their numbers.
    assert "for i in range(n):  # [line 3: time 50.0% (Python 40.0, native 5.0, system 5.0)," \
           in user["content"]
    assert "    total += i  # [line 4: time 10.0% (Python 0.0, native 10.0, system 0.0), " \
           "alloc 16.0 MB" in user["content"]
    assert "File: /home/u/app/main.py, lines 3-4 (line 4)" in user["content"]

    # A function row asks too; a server error is one clear message.
    ChatHandler.requests.clear()
    status = ask_ai(viewer, f"{chat_server}/error/v1", "details.file#F0 table.functions tr")
    assert status == (f"Error: the AI endpoint {chat_server}/error/v1/chat/completions "
                      "answered HTTP 500: model overloaded")
    assert ChatHandler.requests[0]["path"] == "/error/v1/chat/completions"
    status = ask_ai(viewer, f"{chat_server}/broken/v1/chat/completions", row)
    assert status.endswith("did not answer JSON")
    status = ask_ai(viewer, "http://127.0.0.1:9/v1", row)  # nothing listens on port 9
    assert status.startswith("Error: cannot reach the AI endpoint http://127.0.0.1:9/v1/")
    assert viewer.problems == [] or all("Failed to load resource" in p or "net::" in p
                                        for p in viewer.problems), viewer.problems

    # The key is in the browser's storage only: not in the page, nor in any file written here.
    assert viewer.page.evaluate(
        "JSON.parse(localStorage.getItem('triscope.ai')).providers.openai.key") == AI_KEY
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert AI_KEY.encode() not in path.read_bytes(), path
    assert AI_KEY not in viewer.page.content()
    viewer.page.evaluate("localStorage.removeItem('triscope.ai')")
    viewer.page.close()


def test_optimize_without_settings_says_so(browser, tmp_path):
    html.write(memory_profile(), tmp_path / "memory.html")
    viewer = Viewer(browser, tmp_path / "memory.html")
    viewer.page.evaluate("localStorage.removeItem('triscope.ai')")
    viewer.page.focus("details.file#F0 table.lines tr[data-lineno='3'] button.opt")
    viewer.page.keyboard.press("Enter")
    assert "No model set for OpenAI" in viewer.page.text_content("#ai-panel .ai-status")
    viewer.check_clean()


# ==== The memory flame graph ====

def memory_stacks_profile():
    """memory_profile() with stacks: `work` has most of the time, `build` allocates and
    holds some, `cache` (no time at all) allocates the most and holds it at the peak."""
    profile = memory_profile()
    profile["options"]["stacks"] = True
    main = ["/home/u/app/main.py", "<module>", 1]
    profile["stacks"] = [
        {"frames": [main, ["/home/u/app/main.py", "work", 3]], "samples": 80, "seconds": 0.8,
         "alloc_mb": 10.0, "peak_mb": 0.0},
        {"frames": [main, ["/home/u/app/main.py", "build", 4]], "samples": 20,
         "seconds": 0.2, "alloc_mb": 30.0, "peak_mb": 20.0},
        {"frames": [main, ["/home/u/app/main.py", "cache", 6]], "samples": 0, "seconds": 0.0,
         "alloc_mb": 60.0, "peak_mb": 60.0}]
    return profile


def flame_widths(page):
    """{label: width in % of the graph} of the frames drawn."""
    return page.eval_on_selector_all(
        ".flame .frame", "fs => Object.fromEntries(fs.map(f => [f.textContent, "
                         "parseFloat(f.style.width)]))")


def test_memory_flame_graph_toggle(browser, tmp_path):
    html.write(memory_stacks_profile(), tmp_path / "stacks.html")
    viewer = Viewer(browser, tmp_path / "stacks.html")
    page = viewer.page
    pressed = "() => [...document.querySelectorAll('.flame-tools button')]" \
              ".filter(b => b.getAttribute('aria-pressed') === 'true').map(b => b.textContent)"
    assert page.evaluate(pressed) == ["time"]
    widths = flame_widths(page)
    assert "cache" not in widths, "a stack without time is drawn by time"
    assert widths["work"] == pytest.approx(80) and widths["build"] == pytest.approx(20)
    assert page.text_content(".flame .frame.root") == "all (1.00 s)"

    page.click(".flame-tools button:text-is('allocated')")
    assert page.evaluate(pressed) == ["allocated"]
    widths = flame_widths(page)
    assert widths["cache"] == pytest.approx(60) and widths["build"] == pytest.approx(30)
    assert widths["work"] == pytest.approx(10)
    assert page.text_content(".flame .frame.root") == "all (100.00 MB)"
    assert "memory allocated there" in page.text_content("#stacks .legend")
    page.hover(".flame .frame:text-is('cache')")
    tip = page.text_content("#tip")
    assert "total60.00 MB (60.0%)" in tip and "CPU samples" not in tip

    page.click(".flame-tools button:text-is('peak')")
    widths = flame_widths(page)
    assert "work" not in widths, "a stack holding nothing at the peak is drawn"
    assert widths["cache"] == pytest.approx(75) and widths["build"] == pytest.approx(25)
    assert page.text_content(".flame .frame.root") == "all (80.00 MB)"
    page.click(".flame .frame:text-is('build')")  # zooming works in memory too
    assert flame_widths(page)["build"] == pytest.approx(100)

    page.click(".flame-tools button:text-is('time')")
    assert flame_widths(page)["work"] == pytest.approx(80)
    viewer.check_clean()


def test_memory_flame_graph_says_when_no_stack_held_memory(browser, tmp_path):
    profile = memory_stacks_profile()
    for stack in profile["stacks"]:
        stack["peak_mb"] = 0.0
    html.write(profile, tmp_path / "stacks.html")
    viewer = Viewer(browser, tmp_path / "stacks.html")
    viewer.page.click(".flame-tools button:text-is('peak')")
    assert viewer.page.locator(".flame .frame").count() == 0
    assert viewer.page.text_content(".flame") == \
        "No call stack held memory at the run's maximum footprint."
    viewer.page.click(".flame-tools button:text-is('allocated')")
    assert viewer.page.locator(".flame .frame").count() > 0
    viewer.check_clean()


def test_no_memory_toggle_without_memory_stacks(browser, tmp_path):
    """Stacks of a profile without memory by stack (--cpu, or an older profile): time only."""
    profile = memory_stacks_profile()
    for stack in profile["stacks"]:
        del stack["alloc_mb"], stack["peak_mb"]
    html.write(profile, tmp_path / "stacks.html")
    viewer = Viewer(browser, tmp_path / "stacks.html")
    assert viewer.page.locator(".flame-tools button").count() == 0
    assert set(flame_widths(viewer.page)) == {"all (1.00 s)", "<module>", "work", "build"}
    viewer.check_clean()


def test_memory_flame_graph_of_a_run(browser, tmp_path):
    """The page of a real run: by peak, the callers that held memory at the maximum
    footprint (tests/workloads/mem_stacks.py: keep_big twice keep_small), not the others."""
    run = profile_workload(tmp_path, "mem_stacks.py", "0.5",
                           options=["--stacks", "--memory-sampling-interval", "65536"])
    viewer = Viewer(browser, tmp_path / "profile.html")
    viewer.page.click(".flame-tools button:text-is('peak')")
    widths = flame_widths(viewer.page)
    assert "late" not in widths and "churn" not in widths, widths
    assert widths["keep_big"] / widths["keep_small"] == pytest.approx(2, rel=0.25), widths
    viewer.check_clean()


# ==== The summary charts ====

def many_files_profile():
    """Twelve files of known time and memory, file k (0-based) the k-th costliest."""
    files = {}
    for k in range(12):
        share = 12.0 - k * 0.75
        line = make_line(1, python=share * 0.5, native=share * 0.3, system=share * 0.2,
                         alloc_mb=100.0 - 5 * k, python_fraction=0.25, mem_pct=5.0)
        files[f"/srv/app/pkg{k % 2}/module_{k}.py"] = make_file([line])
    # Two files of one name in different directories: their labels must tell them apart.
    files["/srv/app/pkg0/util.py"] = make_file([make_line(1, python=11.0, alloc_mb=1.0,
                                                          python_fraction=1.0)])
    files["/srv/app/pkg1/util.py"] = make_file([make_line(1, python=0.5)])
    profile = make_profile(files, memory=True)
    profile["unattributed_pct"] = 4.0
    profile["memory"]["alloc_mb"] = sum(100.0 - 5 * k for k in range(12)) + 1.0 + 20.0
    return profile


def chart_rows(page, index):
    """[(label, bar width in px, value text)] of the index-th chart."""
    return page.evaluate("""index => {
        const chart = document.querySelectorAll('.chart')[index];
        const cells = [...chart.children];
        const rows = [];
        for (let i = 0; i < cells.length; i += 3) {
            const rects = [...cells[i + 1].querySelectorAll('rect:not(.track)')];
            const width = rects.reduce((w, r) => w + r.getBoundingClientRect().width, 0);
            rows.push([cells[i].textContent, width, cells[i + 2].textContent]);
        }
        return rows;
    }""", index)


@pytest.mark.parametrize("width", [900, 1400])
def test_summary_charts(browser, tmp_path, width):
    profile = many_files_profile()
    html.write(profile, tmp_path / "charts.html")
    viewer = Viewer(browser, tmp_path / "charts.html")
    page = viewer.page
    page.set_viewport_size({"width": width, "height": 900})
    assert page.locator("#charts figcaption").all_text_contents() == [
        "Time by file% of the run's time", "Memory by fileMB allocated"]

    time_rows = chart_rows(page, 0)
    labels = [label for label, _, _ in time_rows]
    assert labels[:3] == ["module_0.py", "module_1.py", "pkg0/util.py"], labels
    assert labels[8:] == ["6 other files", "outside these files"], labels
    assert time_rows[0][2] == "12.0%" and time_rows[-1][2] == "4.0%"
    longest = time_rows[0][1]
    for label, bar, text in time_rows[:8]:  # bars are shares of the longest
        assert bar == pytest.approx(longest * float(text.rstrip("%")) / 12.0, abs=1.5), label
    rest = sum(12.0 - k * 0.75 for k in range(7, 12)) + 0.5
    assert time_rows[8][2] == f"{rest:.1f}%"

    memory_rows = chart_rows(page, 1)
    assert [row[0] for row in memory_rows] == [f"module_{k}.py" for k in range(8)] + [
        "5 other files", "on no line shown"]  # the util.py that allocates nothing is left out
    assert memory_rows[0][2] == "100.0 MB" and memory_rows[-1][2] == "20.0 MB"
    assert memory_rows[8][2] == f"{sum(100.0 - 5 * k for k in range(8, 12)) + 1.0:.1f} MB"
    python, native = page.evaluate("""() => {
        const bar = document.querySelectorAll('.chart')[1].children[1];
        return ['python', 'native'].map(c => bar.querySelector('rect.' + c)
                                                .getBoundingClientRect().width);
    }""")
    assert native == pytest.approx(3 * python, abs=1.5)  # a quarter through Python's allocator

    # Readable at this width: nothing wider than the window, labels beside their bars.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    overlaps = page.evaluate("""() => [...document.querySelectorAll('.chart')].flatMap(chart => {
        const cells = [...chart.children], out = [];
        for (let i = 0; i < cells.length; i += 3) {
            const [label, bar, value] = cells.slice(i, i + 3).map(c => c.getBoundingClientRect());
            if (label.right > bar.left || bar.right > value.left || bar.width < 60) out.push(i);
        }
        return out;
    })""")
    assert overlaps == []
    page.screenshot(path=str(tmp_path / f"charts-{width}.png"), full_page=True)

    # A file's name leads to its section, open.
    page.click(".chart button.chart-label:text-is('module_5.py')")
    section = viewer.file("/srv/app/pkg1/module_5.py")
    assert page.evaluate(f"document.querySelector('{section}').open")
    page.focus(".chart .chart-bar")
    assert "Python6.00 %" in page.text_content("#tip")
    viewer.check_clean()


def test_no_memory_chart_without_memory(browser, tmp_path):
    html.write(make_profile(), tmp_path / "time.html")
    viewer = Viewer(browser, tmp_path / "time.html")
    assert viewer.page.locator("#charts .chart").count() == 1
    assert chart_rows(viewer.page, 0)[0][0] == "main.py"
    viewer.check_clean()


# ==== Opening a profile in the page ====

def open_file(page, path):
    """Picks `path` with the page's "open a profile…" file input, as a user would."""
    page.set_input_files("#open-profile", str(path))
    page.wait_for_function("() => document.getElementById('load-status').textContent")
    return page.text_content("#load-status")


@pytest.mark.parametrize("form", sorted(FORMS))
def test_open_a_profile_with_the_file_picker(browser, tmp_path, form):
    """A profile of either form (docs/PROFILE_FORMAT.md, "Versions"): an older one with its
    stacks' frames spelled out, or one with the frame table."""
    html.write(make_profile(), tmp_path / "first.html")
    other = FORMS[form](memory_stacks_profile())
    other["program"] = "other_program.py"
    (tmp_path / "other.json").write_text(json.dumps(other))
    viewer = Viewer(browser, tmp_path / "first.html")
    page = viewer.page
    assert page.text_content("h1") == "main.py"
    assert page.locator(".flame").count() == 0
    assert open_file(page, tmp_path / "other.json") == "showing other.json"
    assert page.text_content("h1") == "other_program.py"
    assert page.title() == "triscope · other_program.py"
    assert page.locator("h1").count() == 1 and page.locator("#charts .chart").count() == 2
    assert page.locator(".flame-tools button").count() == 3, "the new profile's flame graph"
    widths = flame_widths(page)
    assert widths["work"] == pytest.approx(80) and widths["build"] == pytest.approx(20)
    assert widths["<module>"] == pytest.approx(100)
    assert page.locator("details.file").count() == 1
    assert "12.5 MB" in page.text_content("#summary")
    # Everything works in the profile opened: the file's table, the tooltips.
    page.hover("details.file#F0 table.lines tr[data-lineno='3'] .c-time .bar")
    assert "Python40.00 %" in page.text_content("#tip")
    viewer.check_clean()


def _stacks_with_frame(frame):
    """The memory stacks profile, with its frame table, whose last frame is `frame`."""
    profile = new_form(memory_stacks_profile())
    profile["stacks"][-1]["frames"][-1] = frame
    return json.dumps(profile)


@pytest.mark.parametrize("content,reason", [
    ("{not json", "it is not JSON"),
    ('{"schema": "other"}', 'its "schema" is not "triscope/1" or "triscope/2"'),
    ('{"schema": "triscope/3"}',
     "it is a triscope/3 profile (a newer triscope's; this page shows triscope/1 and "
     "triscope/2)"),
    ("[1, 2]", "it holds no JSON object"),
    ('{"schema": "triscope/1", "program": "x"}', 'its "python" is missing'),
    (_stacks_with_frame(4),
     "a stack in it names frame 4, which its stack_frames (4 frames) does not hold"),
    (_stacks_with_frame(-1),
     "a stack in it names frame -1, which its stack_frames (4 frames) does not hold"),
    (_stacks_with_frame("1"),
     'a stack in it names frame "1", which its stack_frames (4 frames) does not hold'),
    (_stacks_with_frame(["/home/u/app/main.py", "cache", 6]),
     'a stack in it names frame ["/home/u/app/main.py","cache",6], which its stack_frames'),
], ids=["not json", "other schema", "newer schema", "not an object", "missing field",
        "frame past the table", "negative frame", "string frame", "triple beside the table"])
def test_opening_what_is_not_a_profile_is_one_message(browser, tmp_path, content, reason):
    html.write(make_profile(), tmp_path / "first.html")
    (tmp_path / "bad.json").write_text(content)
    viewer = Viewer(browser, tmp_path / "first.html")
    page = viewer.page
    status = open_file(page, tmp_path / "bad.json")
    assert status.startswith(f"bad.json is not a triscope profile: {reason}"), status
    assert status.endswith("The profile shown is unchanged.")
    assert "error" in page.get_attribute("#load-status", "class")
    assert page.text_content("h1") == "main.py"
    assert page.locator("details.file").count() == 1
    viewer.check_clean()


def test_a_profile_opened_never_runs_as_script(browser, tmp_path):
    """Text from the opened file reaches the page as text, whatever it holds."""
    lines = [make_line(i + 1, python=10.0, source=text) for i, text in enumerate(EVIL)]
    profile = make_profile({f"/tmp/{EVIL[1]}/evil.py": make_file(lines)})
    profile["program"] = profile["args"][0] = EVIL[2]
    name = EVIL[1].replace("/", "_") + ".json"
    (tmp_path / name).write_text(json.dumps(profile))
    html.write(make_profile(), tmp_path / "first.html")
    viewer = Viewer(browser, tmp_path / "first.html")
    page = viewer.page
    scripts = page.evaluate("document.querySelectorAll('script').length")
    assert open_file(page, tmp_path / name) == f"showing {name}"
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("document.querySelectorAll('script').length") == scripts
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert page.text_content("h1") == EVIL[2]
    sources = viewer.column("details.file#F0 table.lines tbody tr[data-lineno]", "c-source")
    assert sources == EVIL
    viewer.check_clean()


def test_drop_a_profile_on_the_page(browser, tmp_path):
    """A file dropped anywhere on the page is opened: the drop event a browser sends, with
    a DataTransfer holding the file, built in the page."""
    html.write(make_profile(), tmp_path / "first.html")
    viewer = Viewer(browser, tmp_path / "first.html")
    page = viewer.page
    other = memory_stacks_profile()
    other["program"] = "dropped.py"

    def drop(name, text):
        page.evaluate("""([name, text]) => {
            const data = new DataTransfer();
            data.items.add(new File([text], name, {type: 'application/json'}));
            const target = document.querySelector('main');
            target.dispatchEvent(new DragEvent('dragover', {dataTransfer: data, bubbles: true,
                                                            cancelable: true}));
            window.__dragging = document.body.classList.contains('dragging');
            target.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true,
                                                        cancelable: true}));
        }""", [name, text])
        page.wait_for_function("name => document.getElementById('load-status').textContent"
                               ".includes(name)", arg=name)
        return page.text_content("#load-status")

    assert drop("dropped.json", json.dumps(other)) == "showing dropped.json"
    assert page.evaluate("window.__dragging"), "no sign that a drop is welcome"
    assert not page.evaluate("document.body.classList.contains('dragging')")
    assert page.text_content("h1") == "dropped.py"
    assert drop("notes.txt", "hello").startswith("notes.txt is not a triscope profile")
    assert page.text_content("h1") == "dropped.py"
    viewer.check_clean()


def workers_profile():
    """Two workers' profiles merged: on line 3, gw0 spent 1.5 s and gw1 0.5 s (60 % and
    20 % of 2.5 s each); gw1 ran longest, on host b."""
    from triscope.reports import merge
    parts = []
    for index, (name, host, line_pct, elapsed) in enumerate(
            (("gw0", "a", 60.0, 2.5), ("gw1", "b", 20.0, 4.0))):
        lines = [make_line(3, python=line_pct, source="for i in range(n):"),
                 make_line(4, python=10.0, source="    total += i")]
        part = make_profile({"/home/u/app/main.py": make_file(lines, [])})
        part.update(pid=100 + index, elapsed_s=elapsed, unattributed_pct=90.0 - line_pct)
        part["processes"] = [dict(merge._processes(part)[0], name=name, host=host)]
        parts.append(part)
    return merge.merge(parts)


@pytest.mark.parametrize("width", [900, 1400])
def test_time_by_process_toggle(browser, tmp_path, width):
    """A merged profile's header gives its processes, hosts and the slowest one; "time by
    process" shows each line's seconds in each worker, in every lines table at once."""
    html.write(workers_profile(), tmp_path / "workers.html")
    viewer = Viewer(browser, tmp_path / "workers.html")
    page = viewer.page
    page.set_viewport_size({"width": width, "height": 900})
    assert "2 on 2 hosts" in page.text_content("#summary .fact.processes")
    assert "the slowest: gw1 (pid 101), 4.00 s" in page.text_content("#summary")
    cell = "details.file#F0 table.lines tr[data-lineno='3'] .c-by_process"
    assert not page.is_visible(cell), "the column waits for the toggle"
    page.click("details.file#F0 .by-process-toggle")
    assert page.is_visible(cell)
    assert page.text_content(cell) == "gw01.50 sgw1500 ms"
    page.hover(f"{cell} span")
    tip = page.text_content("#tip")
    assert "gw0 on a1.50 s" in tip and "gw1 on b500 ms" in tip
    # Readable: the breakdown lies in the window once scrolled to, not cut or overlapping.
    page.locator(cell).scroll_into_view_if_needed()
    box = page.locator(cell).bounding_box()
    assert box["width"] > 60 and box["x"] + box["width"] <= width
    page.screenshot(path=str(tmp_path / f"by-process-{width}.png"))
    page.click("details.file#F0 .by-process-toggle")
    assert not page.is_visible(cell)
    viewer.check_clean()


def test_no_time_by_process_in_an_unmerged_profile(browser, tmp_path):
    html.write(make_profile(), tmp_path / "one.html")
    viewer = Viewer(browser, tmp_path / "one.html")
    assert viewer.page.locator(".by-process-toggle").count() == 0
    assert viewer.page.locator(".fact.processes").count() == 0
    viewer.check_clean()
