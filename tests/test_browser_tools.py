"""The thumbnail tools in a real Chromium, against the real stack (the web process, a Dramatiq
worker and Redis as separate processes sharing this test's database; tests/stack.py).

The creator generates two thumbnails, opens the first one's large view by clicking its card,
edits it offline (new text, the other thumbnail as a reference), watches the edit's job card
finish and link the new version, which also joins the page's version list; then opens the new
version, which can be edited again; then runs the thumbnail check tool when that job type is
registered. Edits then spend the balance until Edit is disabled, live, with why.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from generation.models import Job
from generation.registry import job_types
from studio.models import Thumbnail
from tests.browser import CHROMIUM, COUNT_SUBMITS, screenshot
from tests.stack import WAIT_MS, SharedStack, drive

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

T = TypeVar("T")
SCREENSHOT = Path("/tmp/viewbait-edit-tool.png")
TITLE = "Espresso Tier List: The Winner Shocked Me"
NEW_TITLE = "Latte Tier List: 10 Cafés Ranked"


def test_edit_a_thumbnail_from_its_large_view(live_stack: SharedStack) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package); no browser to drive")
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    drive(live_stack, run_edit_session)


def orm(query: Callable[[], T]) -> T:
    """Run a database query from inside Playwright's sync API (its event loop makes Django
    refuse ORM calls on this thread)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(query).result()


def generate(page: Any, title: str, count: int) -> None:
    from playwright.sync_api import expect

    page.get_by_label("Thumbnail text").fill(title)
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#jobs .job")).to_have_count(count)
    expect(page.locator("#jobs .job").first).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#gallery-grid .thumb")).to_have_count(count)


def latest_check_sizes() -> list[dict[str, Any]]:
    return list(Job.objects.filter(type="thumbnail_check").latest("created_at").result["sizes"])


def run_edit_session(browser: Any, base_url: str) -> None:
    from playwright.sync_api import expect

    # Without motion: a running job's card shimmers at every frame while the session waits for
    # the worker (five jobs here); as in the other walkthroughs (tests/test_browser.py), nothing
    # here looks at motion (the studio's own tests do). 4.2 -> 3.4 Chromium CPU-s (this file alone).
    context = browser.new_context(
        base_url=base_url, viewport={"width": 1400, "height": 1100}, reduced_motion="reduce"
    )
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))

    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("barista@example.com")
    page.get_by_label("Password", exact=True).fill("crema-tamper-2026")
    page.get_by_label("Password (again)").fill("crema-tamper-2026")
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/studio/")
    expect(page.locator("body")).to_have_attribute("data-live", "on")
    generate(page, "Reference Shot", 1)
    generate(page, TITLE, 2)
    credits = page.locator("#credits")
    expect(credits).to_have_text("8 credits")
    source = orm(lambda: Thumbnail.objects.get(title=TITLE))
    reference = orm(lambda: Thumbnail.objects.get(title="Reference Shot"))

    # Clicking the card opens the thumbnail's large view.
    page.locator(f"#thumbnail-{source.pk} a.frame").click()
    page.wait_for_url(f"**/studio/thumbnails/{source.pk}")
    expect(page.locator("body")).to_have_attribute("data-live", "on")
    tool = page.locator("#tool-edit_thumbnail")
    expect(tool).to_contain_text("only a Gemini API key makes it change the picture")
    versions = page.locator(".version-list .version")
    expect(versions).to_have_count(1)

    # Edit offline: new text, the other thumbnail as a reference (its backdrop).
    tool.get_by_label("What should change?").fill("Make it about lattes")
    text = tool.get_by_label("Text", exact=True)
    expect(text).to_have_value(TITLE)  # starts from the source's own text
    text.fill(NEW_TITLE)
    page.evaluate(COUNT_SUBMITS, "#tool-edit_thumbnail")
    text.press("Enter")  # a paid form: Enter in a text field spends nothing
    assert page.evaluate("window.__submits") == 0
    expect(page.locator(".viewer-tools .job")).to_have_count(0)
    tool.locator(f".edit-ref[value='{reference.pk}']").check()
    tool.get_by_role("button", name=re.compile(r"Make a new version")).click()
    # One card, under the edit form where the creator pressed the button, even if the websocket
    # announced the job before the form's response arrived.
    tool_cards = page.locator(".viewer-tools .job")
    expect(tool_cards).to_have_count(1)
    card = tool.locator("xpath=..").locator("#results-edit_thumbnail .job")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Edit thumbnail")
    expect(credits).to_have_text("6 credits")
    # Answered: the next deliberate submit gets a new key.
    expect(tool.locator("input[name=idempotency_key]")).to_have_value("")
    expect(card).to_have_attribute("data-status", "succeeded")
    new_link = card.get_by_role("link", name="Open the new version")
    expect(new_link).to_be_visible()
    expect(card).to_contain_text("Instruction: “Make it about lattes”")
    expect(card).to_contain_text("with a GEMINI_API_KEY, Gemini edits the image itself")
    new = orm(lambda: Thumbnail.objects.get(parent=source))
    assert (new.root_id, new.title) == (source.pk, NEW_TITLE)
    job = orm(lambda: Job.objects.get(type="edit_thumbnail"))
    assert job.params["reference_image_ids"] == [reference.pk]
    assert re.fullmatch(r"[0-9a-f]{32}", job.idempotency_key or "")  # the form's own key
    expect(new_link).to_have_attribute("href", f"/studio/thumbnails/{new.pk}")
    # The new version joined this page's version list (out of band, newest first).
    expect(versions).to_have_count(2)
    expect(versions.first.locator("a").first).to_have_attribute(
        "href", f"/studio/thumbnails/{new.pk}"
    )
    expect(tool_cards).to_have_count(1)
    image = card.locator(".edit-result img")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), polling=100
    )
    screenshot(page, SCREENSHOT, full_page=True)

    # STEP check-tool: runs the thumbnail check (another engineer's job type) on the same page
    # once `thumbnail_check` is registered; until then this step is skipped, not failed.
    if "thumbnail_check" in job_types():
        check = page.locator("#tool-thumbnail_check")
        expect(check).to_be_visible()
        check.locator("button[type=submit]").click()
        check_card = check.locator("xpath=..").locator("#results-thumbnail_check .job")
        expect(check_card).to_have_attribute(
            "data-status", re.compile(r"^(succeeded|partially_succeeded)$")
        )
        # The finished card (taller than the screen) is scrolled to: its start shows, below the
        # sticky header, not under it or in the lower part of the screen.
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            page.wait_for_function(
                # The card looked up on every poll: the one the status wait matched can be the
                # card before its refresh replaced it, and a handle to it stays detached (two
                # loaded runs timed out with the new card in view, at 78 px under a 58 px header).
                """() => {
                  const card = document.querySelector('#results-thumbnail_check .job');
                  if (!card || !card.isConnected) return false;
                  const top = card.getBoundingClientRect().top;
                  const header = document.querySelector('.topbar').getBoundingClientRect().bottom;
                  return top >= header - 1 && top < innerHeight * 0.6;
                }""",
                # Polled on a timer: requestAnimationFrame, the default, stops firing when the
                # page draws no frames, and a CI run timed out with the card already in view.
                polling=100,
            )
        except PlaywrightTimeout as error:  # where it is, for a flake's post-mortem
            where = check_card.evaluate(
                """card => ({top: card.getBoundingClientRect().top, innerHeight,
                  header: document.querySelector('.topbar').getBoundingClientRect().bottom,
                  height: card.getBoundingClientRect().height, scrollY,
                  page: document.documentElement.scrollHeight, status: card.dataset.status})"""
            )
            raise AssertionError(f"the finished check card is not in view: {where}") from error
        screenshot(page, SCREENSHOT.with_name("viewbait-check-tool.png"), full_page=True)
        slots = check_card.locator(".check-slot")
        expect(slots.first).to_be_visible()
        # At their actual size on a desktop; on a phone each preview, badge and all, is scaled
        # down to the card's width instead of running off its edge.
        fits = """card => [...card.querySelectorAll('.check-slot')].map(slot => {
            const s = slot.getBoundingClientRect(), c = card.getBoundingClientRect();
            const b = slot.querySelector('.check-badge').getBoundingClientRect();
            return [Math.round(s.width), s.right <= c.right + 0.5, b.right <= s.right + 0.5];
        })"""
        desktop = check_card.evaluate(fits)
        assert [width for width, _, _ in desktop] == [
            size["width"] for size in orm(latest_check_sizes)
        ], desktop
        page.set_viewport_size({"width": 390, "height": 844})
        phone = check_card.evaluate(fits)
        assert all(inside and badge for _, inside, badge in phone), phone
        assert max(width for width, _, _ in phone) < 360, phone
        screenshot(check_card, SCREENSHOT.with_name("viewbait-check-tool-phone.png"))
        page.set_viewport_size({"width": 1400, "height": 1100})

    # The new version has its own large view, listing both versions, and can be edited again.
    new_link.click()
    page.wait_for_url(f"**/studio/thumbnails/{new.pk}")
    expect(page.locator(".viewer-image figcaption")).to_contain_text("edited from")
    expect(versions).to_have_count(2)
    expect(page.locator(".version.current a").first).to_have_attribute(
        "href", f"/studio/thumbnails/{new.pk}"
    )
    expect(page.locator("#tool-edit_thumbnail").get_by_label("Text", exact=True)).to_have_value(
        NEW_TITLE
    )
    assert not page_errors, page_errors

    # With no websocket (a proxy that drops it, Channels down), the studio polls its unfinished
    # cards instead: a new job still finishes on the page and joins the gallery.
    offline = context.new_page()
    offline.add_init_script(NO_WEBSOCKET)
    offline.goto("/studio/")
    expect(offline.locator("body")).to_have_attribute("data-live", "off")
    offline.get_by_label("Thumbnail text").fill("No Socket Needed")
    offline.get_by_role("button", name="Generate").click()
    expect(offline.locator("#jobs .job").first).to_have_attribute("data-status", "succeeded")
    expect(offline.locator("#gallery-grid .thumb").first).to_contain_text("No Socket Needed")
    assert offline.evaluate("() => window.__socketAttempts") >= 1

    # Back on the large view with 5 credits, edits spend 2 each: the one that leaves 1 disables
    # the button, live, with why (as Generate is at 0), instead of leaving it enabled for a 402.
    page.reload()
    expect(credits).to_have_text("5 credits")
    again = page.locator("#tool-edit_thumbnail")
    make = again.get_by_role("button", name=re.compile(r"Make a new version"))
    why = page.locator("#needs-credits-edit_thumbnail")
    for left in (3, 1):
        expect(make).to_be_enabled()
        expect(why).to_be_hidden()
        again.get_by_label("New background details").check()
        make.click()
        expect(credits).to_have_text(f"{left} credit{'s' * (left != 1)}")
    expect(make).to_be_disabled()
    expect(why).to_be_visible()
    expect(why).to_have_text("Needs 2 credits; you have 1. See plans")
    expect(page.locator("#tool-thumbnail_check button[type=submit]")).to_be_enabled()  # free
    assert not page_errors, page_errors
    context.close()


# A WebSocket that never connects: each attempt closes (code 1006, as a refused connection does)
# without opening, so only the studio's polling can move a card.
NO_WEBSOCKET = """
window.WebSocket = class extends EventTarget {
  constructor() {
    super();
    window.__socketAttempts = (window.__socketAttempts || 0) + 1;
    setTimeout(() => this.dispatchEvent(Object.assign(new Event("close"), {code: 1006})), 10);
  }
  send() {}
  close() {}
};
"""
