"""Browser tests: the real template on a LocalCloud, driven through Debian's chromium with Playwright."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, BrowserContext, expect, sync_playwright
from web_page import LIVE_TIMEOUT_MS, ROOT, NotifyxPage, unique

from infra.cloud import LocalCloud

CHROMIUM = "/usr/bin/chromium"
# every assertion may wait on a round trip through the local cloud, which shares 2 cores with other work
expect.set_options(timeout=LIVE_TIMEOUT_MS)
# no sandbox (containers), and nothing that phones home or updates itself during a test
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def cloud() -> Iterator[LocalCloud]:
    # passwords hash at the template's lowest cost, as in tests/e2e (every test signs users up)
    with LocalCloud(ROOT / "template.yaml", static_dir=ROOT / "client" / "web",
                    parameters={"PasswordHashCost": "10"}) as running:
        yield running


def page_url(cloud: LocalCloud) -> str:
    """The client's address, told where the APIs are (the WebSocket API is on a port of its own)."""
    endpoints = cloud.endpoints
    return endpoints["client"] + "?" + urlencode({"http": endpoints["http_api"], "ws": endpoints["websocket_api"]})


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def open_user(cloud: LocalCloud, browser: Browser) -> Iterator[Callable[..., NotifyxPage]]:
    """Opens the page in a fresh browser context (its own storage: another person) and registers a user."""
    contexts: list[BrowserContext] = []
    script_errors: list[str] = []

    def open_(prefix: str = "user", viewport: dict | None = None, register: bool = True) -> NotifyxPage:
        context = browser.new_context(viewport=viewport or {"width": 1280, "height": 820})
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: script_errors.append(f"{prefix}: {error}"))
        page.set_default_timeout(LIVE_TIMEOUT_MS)
        page.goto(page_url(cloud))
        user = NotifyxPage(page, f"{unique(prefix)}@example.com")
        if register:
            user.register()
        return user

    yield open_
    for context in contexts:
        context.close()
    # an exception in the page's own code is a bug even when the screen happened to look right
    assert not script_errors, script_errors
