"""A creator's first session in a real Chromium, against the real stack.

The web process as the Procfile starts it (gunicorn + uvicorn: HTTP and the /ws/jobs/ websocket),
a Dramatiq worker and Redis run as separate processes, as in production, and share this test's
database (tests/stack.py: the test process's shared stack). The creator signs up, uploads a face photo,
is refused a plan-locked option with a readable error, generates a thumbnail, watches it progress
over the websocket and sees it land in the gallery without a page reload, then downloads it.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.browser import CHROMIUM, screenshot
from tests.conftest import FACE_PHOTO
from tests.stack import WAIT_MS, SharedStack, drive

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

TITLE = "I Tried 100 Coffee Shops: Only 1 Was Worth It"
SCREENSHOT = Path("/tmp/viewbait-studio.png")

# Records every state a job card shows, so the test can tell the websocket moved it along.
RECORD_CARD_STATES = """() => {
  window.__cardStates = [];
  const jobs = document.getElementById("jobs");
  const record = () => jobs.querySelectorAll(".job[data-status]").forEach((el) => {
    const stage = el.querySelector("[data-stage]");
    const state = el.dataset.status + " | " + (stage ? stage.textContent.trim() : "");
    const seen = window.__cardStates;
    if (seen[seen.length - 1] !== state) seen.push(state);
  });
  new MutationObserver(record).observe(jobs, {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
}"""


def test_creator_signs_up_uploads_a_face_and_generates_live(live_stack: SharedStack) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package); no browser to drive")
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    drive(live_stack, run_creator_session)


def run_creator_session(browser: Any, base_url: str) -> None:
    from playwright.sync_api import expect

    # Without motion: a queued or running job's card shimmers (and its entrance slides) at every
    # frame while the walkthrough waits for the worker, 0.2 Chromium CPU-s a second against 0.08
    # without; nothing here looks at motion (the studio's own tests do).
    context = browser.new_context(
        base_url=base_url, viewport={"width": 1400, "height": 1000}, reduced_motion="reduce"
    )
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))

    # Sign up with email and password; a new creator lands in the studio with the Free credits.
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("eileen@example.com")
    page.get_by_label("Password", exact=True).fill("orbit-coffee-1999")
    page.get_by_label("Password (again)").fill("orbit-coffee-1999")
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/studio/")
    credits = page.locator("#credits")
    expect(credits).to_have_text("10 credits")

    # Upload a real face photo in the library.
    page.get_by_role("link", name="Library").click()
    page.wait_for_url("**/studio/library/**")
    face_form = page.locator("#face-form")
    face_form.get_by_label("Name").fill("Eileen Collins")
    face_form.get_by_label("Photos").set_input_files(FACE_PHOTO)
    face_form.get_by_role("button", name="Upload face").click()
    expect(page.get_by_role("status").filter(has_text="Face saved.")).to_be_visible()
    face_photo = page.locator("#faces .tile img").first
    expect(face_photo).to_have_attribute("alt", "Eileen Collins, photo 1")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=face_photo.element_handle(), polling=100
    )

    # Back in the studio: pick the face, type the title; the websocket is live.
    page.get_by_role("link", name="Studio").click()
    page.wait_for_url("**/studio/")
    expect(page.locator("body")).to_have_attribute("data-live", "on")
    page.get_by_label("Eileen Collins").check()
    title = page.get_by_label("Thumbnail text")
    title.fill(TITLE)
    generate = page.get_by_role("button", name="Generate")
    errors = page.locator("#generate-errors")
    key = page.locator("#idempotency-key")
    first_key = key.input_value()
    assert re.fullmatch(r"[0-9a-f]{32}", first_key)

    # A plan-locked option forced past the disabled <option> is refused by the server: a readable
    # error in the form (a 403 fragment htmx must swap), nothing charged, nothing typed lost.
    page.eval_on_selector(
        "#resolution",
        "el => { el.querySelector('option[value=\"2K\"]').disabled = false; el.value = '2K'; }",
    )
    generate.click()
    expect(errors).to_contain_text("2K needs the Starter plan or higher")
    expect(page.locator("#jobs .job")).to_have_count(0)
    expect(credits).to_have_text("10 credits")
    expect(title).to_have_value(TITLE)
    expect(page.get_by_label("Eileen Collins")).to_be_checked()
    page.select_option("#resolution", "1K")

    # Generate for real. The marker proves the page is never reloaded.
    page.evaluate("() => { window.__sameDocument = 'still here'; }")
    page.evaluate(RECORD_CARD_STATES)
    generate.click()
    card = page.locator("#jobs .job").first
    expect(card).to_be_visible()
    expect(card.get_by_role("progressbar")).to_be_visible()
    expect(card).to_contain_text(TITLE)
    expect(credits).to_have_text("9 credits")  # out-of-band swap from the generate response
    expect(errors).to_be_empty()  # the earlier error is cleared
    expect(key).not_to_have_value(first_key)  # a fresh key for the next deliberate generate

    # Progress arrives over the websocket; the finished card brings the thumbnail with it.
    expect(card).to_have_attribute("data-status", "succeeded")
    expect(card.locator("[data-stage]")).to_have_text("Done")
    expect(card.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    states = page.evaluate("() => window.__cardStates")
    assert any(state.startswith("running") for state in states), states
    assert states[-1].startswith("succeeded"), states

    thumb = page.locator("#gallery-grid .thumb").first
    expect(thumb).to_be_visible()
    thumb_id = thumb.get_attribute("id")
    expect(thumb).to_contain_text(TITLE)
    expect(page.locator("#gallery-grid .thumb")).to_have_count(1)
    expect(page.locator("#gallery-grid .empty")).to_have_count(0)  # "will appear here" went
    image = thumb.locator("img")
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), polling=100
    )
    assert page.evaluate("() => window.__sameDocument") == "still here"
    expect(credits).to_have_text("9 credits")

    # A double click on Generate is one request, one card and one credit (the button is disabled
    # while posting, and a resent idempotency key would be replayed, not charged).
    second_key = key.input_value()
    generate.dblclick()
    expect(page.locator("#jobs .job")).to_have_count(2)
    expect(key).not_to_have_value(second_key)
    expect(credits).to_have_text("8 credits")
    expect(page.locator("#jobs .job").first).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#gallery-grid .thumb")).to_have_count(2)
    expect(page.locator("#jobs .job")).to_have_count(2)
    expect(credits).to_have_text("8 credits")

    # The Download link answers a YouTube-ready JPEG.
    download = page.locator(f"#{thumb_id}").get_by_role("link", name=re.compile(r"^Download"))
    href = download.get_attribute("href")
    assert href
    response = context.request.get(base_url + href)
    assert response.ok, response.status
    assert response.headers["content-type"] == "image/jpeg"
    body = response.body()
    assert body[:3] == b"\xff\xd8\xff"
    with Image.open(io.BytesIO(body)) as jpeg:
        assert jpeg.format == "JPEG"
        assert jpeg.size == (1280, 720)

    screenshot(page, SCREENSHOT)
    assert not page_errors, page_errors
    context.close()
