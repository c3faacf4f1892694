"""Playwright against a system Chromium, for the browser tests.

Playwright cannot download its own browser here, so these tests drive the
Chromium that scripts/ensure_browser.sh finds or installs; without one they skip
(or fail under REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import SCREENSHOTS, need_service

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str | None:
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        need_service("no Chromium found (run scripts/ensure_browser.sh)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need_service("Playwright is not installed (pip install -e '.[dev]')")
    # Playwright's sync API runs an event loop in this thread, and Django refuses
    # ORM calls from a thread with a running loop; the tests' own DB reads are safe.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=path, headless=True, args=BROWSER_ARGS
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(page):
    """Save a full-page screenshot under test-results/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str, target=None) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        (target or page).screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(autouse=True)
def warm_live_server(request):
    """Answer one request before a browser test starts: the first request imports the
    URL modules (the `openai` client and scipy among them), which took 14 s on a loaded
    machine and ran past Playwright's timeouts on the first page of a session."""
    if "live_server" not in request.fixturenames or _WARMED:
        return
    from urllib.request import urlopen

    server = request.getfixturevalue("live_server")
    with urlopen(f"{server.url}/login/", timeout=120) as response:
        response.read()
    _WARMED.append(True)


_WARMED: list[bool] = []
