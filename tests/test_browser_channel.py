"""Channel consistency in a real Chromium, against the real stack (the web process, a Dramatiq
worker and Redis as separate processes sharing this test's database; tests/stack.py), with the
worker reading the in-repo fake YouTube Data API (tests/fake_youtube.py), the stack's.

A Pro creator whose channel is set opens a thumbnail's large view, runs Channel consistency,
watches its card finish with the score, the cues and how many thumbnails it compared, and
finds the channel on the Account page with a way to change it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from studio.models import YouTubeChannel
from tests.browser import CHROMIUM, screenshot
from tests.factories.accounts import PASSWORD, UserFactory
from tests.fake_youtube import FakeChannel, solid
from tests.stack import WAIT_MS, SharedStack, drive
from tests.test_channel_consistency import BRIGHT_YELLOW, DARK_SHADES, stored_thumbnail

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SCREENSHOT = Path("/tmp/viewbait-channel-consistency.png")
EMAIL = "tuber@example.com"


def test_a_pro_creator_checks_a_thumbnail_against_their_channel(
    live_stack: SharedStack, settings: Any
) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package); no browser to drive")
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    fake = live_stack.youtube
    fake.add_channel(
        FakeChannel("@DarkChannel", "Dark Channel", [solid(c, text=True) for c in DARK_SHADES])
    )
    settings.MEDIA_ROOT = str(live_stack.media)  # the stack's, where it reads files
    user = UserFactory(email=EMAIL, plan="pro")
    YouTubeChannel.objects.create(user=user, reference="@DarkChannel")
    thumbnail = stored_thumbnail(user, solid(BRIGHT_YELLOW, size=(800, 450)))
    drive(live_stack, run_check, thumbnail.pk)
    assert [c.path for c in fake.api_calls()] == [
        "/youtube/v3/channels",
        "/youtube/v3/playlistItems",
    ]


def run_check(browser: Any, base_url: str, thumbnail_id: int) -> None:
    from playwright.sync_api import expect

    # Without motion: a queued or running job's card shimmers (and its entrance slides) at every
    # frame while the walkthrough waits for the worker, 0.2 Chromium CPU-s a second against 0.08
    # without; nothing here looks at motion (the studio's own tests do).
    context = browser.new_context(
        base_url=base_url, viewport={"width": 1440, "height": 900}, reduced_motion="reduce"
    )
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.goto("/accounts/login/")
    page.fill("input[name=login]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url("**/studio/")

    page.goto(f"/studio/thumbnails/{thumbnail_id}")
    expect(page.locator("body")).to_have_attribute("data-live", "on")
    credits = page.locator("#credits")
    before = int(re.sub(r"\D", "", credits.inner_text()))
    tool = page.locator("#tool-channel_consistency")
    expect(tool).to_contain_text("@DarkChannel")
    tool.get_by_role("button", name=re.compile(r"Check consistency · 1 credit")).click()
    card = page.locator("#results-channel_consistency .job")
    expect(card).to_have_count(1)
    expect(card).to_have_attribute("data-status", "succeeded")
    result = card.locator(".consistency-result")
    expect(result.locator("[data-score]")).to_have_text(re.compile(r"^[12]/5$"))
    expect(result).to_contain_text("consistent with Dark Channel")
    expect(result.locator(".consistency-cues li")).to_have_count(2)
    expect(result).to_contain_text("Your recent thumbnails are dark (median brightness")
    expect(result).to_contain_text(f"Compared with {len(DARK_SHADES)} recent thumbnails")
    expect(credits).to_have_text(f"{before - 1} credits")
    result.locator("summary").click()
    rows = result.locator(".consistency-measures tbody th")
    expect(rows).to_have_text(
        [
            "Brightness",
            "Contrast",
            "Saturation",
            "Text coverage",
            "Face size",
            "Layout (weight left to right)",
            "Channel colours",
        ]
    )
    screenshot(page, SCREENSHOT, full_page=True)

    # The Account page shows the channel, with a way to change it.
    page.get_by_role("link", name="change").click()
    page.wait_for_url("**/accounts/email/#youtube-channel")
    section = page.locator("#youtube-channel")
    expect(section).to_contain_text("Your channel: @DarkChannel")
    section.get_by_label("Change to").fill("youtube.com/@OtherChannel")
    section.get_by_role("button", name="Change channel").click()
    expect(page.locator("#youtube-channel")).to_contain_text("Your channel: @OtherChannel")
    assert page_errors == []
    context.close()
