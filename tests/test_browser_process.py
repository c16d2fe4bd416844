"""tests/browser.py's shared Chromium: one per test process, a fresh context per test, and
nothing of Playwright's left behind for the tests that follow (its sync API marks its event loop
as the thread's running loop, which makes Django refuse ORM calls and asgiref refuse
async_to_sync)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync

from billing.models import Plan
from tests.browser import CHROMIUM, chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


async def _answer() -> int:
    return 42


def test_the_browser_is_shared_its_contexts_are_not_and_the_loop_is_let_go() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing; no browser to drive")
    with chromium() as first:
        context = first.new_context()
        context.add_cookies([{"name": "crumb", "value": "1", "url": "http://127.0.0.1:9"}])
        first.new_page()  # a context of its own, closed with the block too
        assert len(first.contexts) == 2
    assert asyncio._get_running_loop() is None
    assert Plan.objects.count() >= 0  # the ORM answers: no SynchronousOnlyOperation
    assert async_to_sync(_answer)() == 42

    with chromium() as second:
        assert second is first  # one Chromium for the process
        assert second.contexts == []  # the last test's contexts were closed
        assert second.new_context().cookies() == []
    assert asyncio._get_running_loop() is None


def test_a_browser_that_went_away_is_replaced() -> None:
    """A test that closes (or crashes) the shared Chromium costs the tests after it nothing."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing; no browser to drive")
    with chromium() as gone:
        gone.close()
    with chromium() as browser:
        assert browser is not gone and browser.is_connected()
        page = browser.new_page()
        page.set_content("<p>still here</p>")
        assert page.text_content("p") == "still here"
    assert asyncio._get_running_loop() is None
