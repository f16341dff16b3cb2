"""The web page of ``rnnkit serve`` in a real browser: headless Chromium (Debian's package at
/usr/bin/chromium) driven by Playwright, against ``python -m rnnkit serve`` on 127.0.0.1.

The server has a token and serves the shared tiny language model and forecaster, so the page
starts by asking for the token, then shows the Generate, Score and Forecast tabs only. A
screenshot of the Generate tab goes under the test's tmp folder, and also to the path in
$RNNKIT_SCREENSHOT when it is set; the README's picture is made with

    RNNKIT_SCREENSHOT=docs/serve.png make test-browser

For that picture the language model is trained longer (a few seconds), so that it writes
readable sentences: the shared run writes letters at random.

Skipped when Playwright or Chromium is missing, unless $RNNKIT_REQUIRE_BROWSER is set (as CI
does), where a missing browser fails instead. Playwright's own browser download is not used.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import cli_env, run_cli, stop_process

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium tries to reach Google's services at start,
# which a closed network refuses; --no-sandbox because tests may run as root.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "page-token"
PROMPT = "The cat"
SCREENSHOT = os.environ.get("RNNKIT_SCREENSHOT")


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    """A fresh Chromium profile with Playwright; skipped (or failed, in CI) without them."""
    missing = _missing()
    if missing:
        if os.environ.get("RNNKIT_REQUIRE_BROWSER"):
            pytest.fail(f"the browser test must run here, but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1100, "height": 700},
        )
        context.set_default_timeout(15_000)
        yield context
        context.close()


@pytest.fixture(scope="module")
def lm_dir(trained_run, tmp_path_factory) -> Path:
    """The shared tiny run; a longer-trained one when the README's picture is being made."""
    if not SCREENSHOT:
        return trained_run.dir
    out = tmp_path_factory.mktemp("readable") / "char-lm"
    args = ["train", "--data", trained_run.text, "--out", out, "--hidden-size", "128"]
    args += ["--num-layers", "1", "--seq-len", "64", "--batch-size", "16", "--max-steps", "150"]
    code, _, stderr = run_cli([*args, "--eval-every", "50", "--quiet"])
    assert code == 0, stderr
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(lm_dir, forecast_run, tmp_path_factory):
    """``python -m rnnkit serve`` with a token on a free loopback port; yields its base URL."""
    port = free_port()
    root = tmp_path_factory.mktemp("server")
    log = root / "server.log"
    sales = shutil.copytree(forecast_run[1], root / "sales")  # served under its folder name
    cmd = [sys.executable, "-m", "rnnkit", "serve", str(lm_dir), str(sales)]
    cmd += ["--port", str(port), "--token", TOKEN]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=cli_env())
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                with urllib.request.urlopen(base + "health", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not come up in 30 s"
                time.sleep(0.1)
        yield base
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def page(browser_context, server):
    """The page, connected with the token typed in as a user would."""
    from playwright.sync_api import expect

    page = browser_context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(server)
    expect(page.locator("#no-models")).to_contain_text("needs a token")
    expect(page.locator('[role="tab"]:visible')).to_have_count(0)
    page.fill("#token", TOKEN)
    page.click("#token-form button")
    expect(page.locator("#server-status")).to_contain_text("2 models served")
    yield page
    assert problems == [], problems  # no script error over the whole session


def api(server: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        server + path.lstrip("/"),
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.load(r)


def test_only_the_tabs_of_served_models_show(page):
    from playwright.sync_api import expect

    expect(page.locator('[role="tab"]:visible')).to_have_text(["Generate", "Score", "Forecast"])
    expect(page.locator("#tab-generate")).to_have_attribute("aria-selected", "true")


def test_generated_text_streams_into_the_page(page, server, tmp_path_factory):
    from playwright.sync_api import expect

    page.fill("#generate-prompt", PROMPT)
    page.fill("#generate-length", "200")
    page.fill("#generate-seed", "3")
    expect(page.locator("#generate-stream")).to_be_checked()
    with page.expect_response(lambda r: r.url.endswith("/generate")) as answer:
        page.click("#generate-form button[type=submit]")
    assert answer.value.headers["content-type"].startswith("text/event-stream")
    meta = page.locator("#panel-generate .meta")
    expect(meta).to_contain_text("200 tokens in")
    expect(meta).to_contain_text("seed 3")
    expect(page.locator("#generate-output .prompt")).to_have_text(PROMPT)
    shown = page.locator("#generate-output .generated").text_content()
    # What the page put together from the events is the server's text for that seed.
    whole = api(
        server, "/generate", {"prompt": PROMPT, "length": 200, "seed": 3, "temperature": 0.8}
    )
    assert shown == whole["text"] and shown.strip()
    path = tmp_path_factory.mktemp("screenshots") / "serve.png"
    page.screenshot(path=path, full_page=True)
    if SCREENSHOT:
        Path(SCREENSHOT).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOT)
    assert path.stat().st_size > 10_000


def test_an_api_error_shows_in_the_page(page):
    from playwright.sync_api import expect

    page.fill("#generate-temperature", "50")
    page.click("#generate-form button[type=submit]")
    error = page.locator("#panel-generate .error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Temperature: Input should be less than or equal to 10")
    expect(page.locator("#generate-temperature")).to_have_attribute("aria-invalid", "true")
    page.fill("#generate-temperature", "0.8")
    page.fill("#generate-length", "20")
    page.click("#generate-form button[type=submit]")
    expect(page.locator("#panel-generate .meta")).to_contain_text("20 tokens in")
    expect(error).to_be_hidden()


def test_the_forecast_tab_plots_history_and_forecast(page):
    from playwright.sync_api import expect

    page.click("#tab-forecast")
    expect(page.locator("#panel-forecast")).to_be_visible()
    expect(page.locator("#panel-generate")).to_be_hidden()
    page.click("#forecast-form button[type=submit]")
    plot = page.locator("#panel-forecast .plot svg")
    expect(plot.locator("polyline.line-history")).to_have_count(1)
    expect(plot.locator("circle.dot-forecast")).to_have_count(7)  # the run's horizon
    expect(page.locator("#panel-forecast tbody tr")).to_have_count(7)
    expect(page.locator("#panel-forecast tbody tr").first).to_contain_text("2020-10-27")
    # A history that is not numbers is refused in the page, naming the field.
    page.fill("#forecast-history", "1 2 three")
    page.click("#forecast-form button[type=submit]")
    expect(page.locator("#panel-forecast .error")).to_contain_text('History: "three"')


def test_the_page_fits_a_phone_screen(page):
    page.set_viewport_size({"width": 360, "height": 740})
    try:
        overflow = page.locator("html").evaluate("html => html.scrollWidth - window.innerWidth")
        assert overflow <= 0
    finally:
        page.set_viewport_size({"width": 1100, "height": 700})
