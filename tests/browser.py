"""The Chromium the browser tests drive through Playwright.

Debian's `chromium-headless-shell` when it is installed (scripts/system-deps.sh installs it): the
headless-only build Playwright itself runs for headless Chromium. It draws pages with the same
Blink as `chromium` for a fraction of the CPU: five 1440x900 pages with a screenshot each took 1.3
to 2.9 CPU-seconds against 5.4 to 8.5 with `chromium --headless` on a 2-core machine, and the
browser tests are a third of the suite's CPU. Without it, Debian's `chromium`; without either,
the browser tests skip. VIEWBAIT_TEST_CHROMIUM names
another executable. (Playwright's own browser download does not work on the machines here.)

Each test process starts one Playwright driver and one Chromium, on its first browser test, and
every browser test gets a fresh browser context of its own (`chromium()`): cookies, storage and
cache are per context, so nothing carries over. A driver and a browser of its own cost a test
0.57 to 0.74 machine CPU-seconds, a context 0.09 to 0.16 (`benchmarks/browser_start.py`); over
the suite's 26 browser tests that took it from 113 s to 105 s on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import atexit
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CANDIDATES = tuple(
    Path(path)
    for path in (
        os.environ.get("VIEWBAIT_TEST_CHROMIUM"),  # another build, e.g. /usr/bin/chromium
        "/usr/bin/chromium-headless-shell",
        "/usr/bin/chromium",
    )
    if path
)
CHROMIUM = next((path for path in CANDIDATES if path.exists()), CANDIDATES[-1])
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright: Any) -> Any:
    """A headless Chromium browser (Playwright `Browser`); skips the test when none is installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {' or '.join(map(str, CANDIDATES))} (make installs it)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


class _Shared:
    """This process's Playwright driver and Chromium, started on first use.

    Playwright's sync API runs its asyncio loop in a greenlet and marks that loop as the
    thread's running loop after every call (playwright/_impl/_greenlets.py, wait_for_future).
    Left marked between tests, Django would refuse ORM calls (SynchronousOnlyOperation) and
    asgiref's async_to_sync would refuse to run in every later test of the process; so the mark
    is set only while a test holds the browser (`chromium()`), and cleared when it lets go.
    """

    playwright: Any = None
    browser: Any = None
    loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> Any:
        from playwright.sync_api import sync_playwright

        if self.browser is not None and self.browser.is_connected():
            return self.browser
        self.stop()
        self.playwright = sync_playwright().start()
        self.loop = asyncio.get_running_loop()  # Playwright's loop, marked running by start()
        self.browser = launch(self.playwright)
        atexit.register(self.stop)
        return self.browser

    def stop(self) -> None:
        """Close the browser and the driver (at exit, or to replace a crashed browser)."""
        if self.playwright is None:
            return
        asyncio._set_running_loop(self.loop)
        try:
            self.playwright.stop()  # also ends the browser it launched
        finally:
            asyncio._set_running_loop(None)
            self.playwright = self.browser = self.loop = None


_SHARED = _Shared()


@contextmanager
def chromium() -> Iterator[Any]:
    """The process's headless Chromium (a Playwright `Browser`) for one test.

    Open contexts with `browser.new_context()` (or pages with `browser.new_page()`); every
    context still open when the block ends is closed. Skips the test when no Chromium is
    installed.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {' or '.join(map(str, CANDIDATES))} (make installs it)")
    if _SHARED.loop is not None:
        asyncio._set_running_loop(_SHARED.loop)
    try:
        browser = _SHARED.start()
        try:
            yield browser
        finally:
            for context in browser.contexts:
                context.close()
    finally:
        asyncio._set_running_loop(None)


# Counts, from the call on, the submissions of forms matching a selector (window.__submits): a
# click or key press that submits a form dispatches its submit event before the input call
# returns (htmx starts its request from that event), so a count read right after the input
# says whether it submitted. Listened for first (window, capture), so none is missed.
COUNT_SUBMITS = """selector => {
  window.__submits = 0;
  addEventListener("submit", (event) => {
    if (event.target.closest(selector)) window.__submits += 1;
  }, true);
}"""


# Screenshots of the walkthroughs' pages (/tmp/viewbait-*.png), for a person to look at: taken only
# when VIEWBAIT_TEST_SCREENSHOTS is set, since no test reads them and a full-page one costs
# Chromium a rendering of the whole page, several screens tall, at every run.
SCREENSHOTS = bool(os.environ.get("VIEWBAIT_TEST_SCREENSHOTS"))


def screenshot(target: Any, path: Path, **options: Any) -> None:
    """Save `target`'s screenshot (a Playwright `Page` or `Locator`) to `path`, when
    VIEWBAIT_TEST_SCREENSHOTS is set; `options` go to its `screenshot()`."""
    if SCREENSHOTS:
        target.screenshot(path=str(path), **options)


PHONE_WIDTH = 600  # narrower viewports are phones: touch input (CSS pointer: coarse)


@contextmanager
def signed_in(
    live_server: Any, user: Any, viewport: dict[str, int], **context_options: Any
) -> Iterator[Any]:
    """A Chromium page (Playwright `Page`) signed in as `user` on `live_server` (its session
    cookie from Django's test client), in a context of `viewport`; one narrower than
    PHONE_WIDTH is a phone (mobile, touch). `context_options` go to `new_context` (e.g.
    `timezone_id`, `locale`)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    with chromium() as browser:
        phone = viewport["width"] < PHONE_WIDTH
        context = browser.new_context(
            viewport=viewport, is_mobile=phone, has_touch=phone, **context_options
        )
        cookie = {"name": "sessionid", "value": client.cookies["sessionid"].value}
        context.add_cookies([{**cookie, "url": live_server.url}])
        yield context.new_page()
