"""The keyboard in the studio and a thumbnail's large view, in Chromium: what the Tab key
reaches is in sight, and a button pressed with Enter keeps the keyboard while it is held."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.core.files.base import ContentFile

from billing.models import Plan
from studio.models import Face, FaceImage, Project
from tests.browser import signed_in
from tests.conftest import make_user, set_plan
from tests.factories.studio import ThumbnailFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

DESKTOP = {"width": 1440, "height": 900}

# The focused element and the pinned Generate bar of the form's column, where they overlap:
# the element's id or tag, and the height of its box under the bar (0 when clear of it).
COVERED = """() => {
  const el = document.activeElement;
  const bar = document.querySelector(".generate .submit-row");
  if (!el || !bar || !el.closest(".generate") || bar.contains(el)) return null;
  const box = el.getBoundingClientRect();
  const under = Math.min(box.bottom, bar.getBoundingClientRect().bottom)
    - Math.max(box.top, bar.getBoundingClientRect().top);
  return {name: el.id || el.name || el.tagName, under: Math.max(0, under)};
}"""


def test_what_the_tab_key_reaches_in_the_generate_form_is_not_under_its_bar(
    live_server: Any,
) -> None:
    """At 1440x900 the face checkboxes and the Project menu took the focus hidden under the
    Generate bar pinned to the bottom of the form's column (creator review 2026-12-05): the
    column did not scroll them above it."""
    owner = make_user("tabbing@example.com")
    set_plan(owner, "pro")
    Project.objects.create(owner=owner, name="Vlogs")
    for name in ("Ana", "Ben", "Cleo"):
        face = Face.objects.create(owner=owner, name=name)
        image = FaceImage(face=face, width=512, height=512, face_height=300)
        image.image.save(f"{name}.jpg", ContentFile(b"\xff\xd8\xff"), save=True)
    covered = []
    reached = set()
    with signed_in(live_server, owner, DESKTOP) as page:
        page.emulate_media(reduced_motion="reduce")
        page.goto(f"{live_server.url}/studio/")
        page.locator("#title").focus()
        for _ in range(60):
            page.keyboard.press("Tab")
            where = page.evaluate(COVERED)
            if where is None:
                if page.evaluate("() => !!document.activeElement.closest('.generate .submit-row')"):
                    break
                continue
            reached.add(where["name"])
            if where["under"] > 0:
                covered.append(where)
    assert {"face_ids", "project"} <= reached
    assert covered == []


# Where the keyboard is, beside the button's state: whether the focus is on the button, whether
# the button is held (disabled, or aria-disabled) and whether a job card has come in.
KEYBOARD_AT = """([button, cards]) => {
  const el = document.querySelector(button);
  return {
    focused: document.activeElement === el,
    at: document.activeElement && (document.activeElement.id || document.activeElement.tagName),
    held: el.disabled || el.getAttribute("aria-disabled") === "true",
    card: !!document.querySelector(cards),
  };
}"""


def keyboard_while_held(page: Any, button: str, cards: str, seconds: float) -> list[Any]:
    """Press Enter on `button` and sample, every 25 ms, where the keyboard is until a job card
    (`cards`) is in and `button` is no longer held (`seconds` at most): the samples. (Polled from here: the page's CSP allows no eval, which
    `wait_for_function`'s string bodies need.)"""
    page.locator(button).focus()
    page.keyboard.press("Enter")
    samples, ends = [], time.monotonic() + seconds
    while True:
        samples.append(page.evaluate(KEYBOARD_AT, [button, cards]))
        if (samples[-1]["card"] and not samples[-1]["held"]) or time.monotonic() > ends:
            return samples
        page.wait_for_timeout(25)


def test_enter_on_generate_keeps_the_keyboard_on_it_through_the_request_and_cooldown(
    live_server: Any, settings: Any
) -> None:
    """Generate is held while its request runs and through the plan's cooldown; held with the
    disabled attribute, it threw the focus to the page's body (creator review 2026-12-05), so a
    screen reader lost its place. It keeps the focus, and a second Enter meanwhile generates
    nothing."""
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_CACHE_PREFIX = f"rl:{uuid.uuid4().hex}:"
    Plan.objects.filter(slug="free").update(generate_cooldown_seconds=2)
    owner = make_user("enter-generate@example.com")
    button = "#generate-form button[type=submit]"
    with signed_in(live_server, owner, DESKTOP) as page:
        # Without motion: the jobs' cards shimmer at every frame while the cooldown is sampled,
        # and what is checked is the focus (1.05 -> 0.83 Chromium CPU-s).
        page.emulate_media(reduced_motion="reduce")
        page.goto(f"{live_server.url}/studio/")
        page.fill("#title", "Keyboard only")
        samples = keyboard_while_held(page, button, "#jobs .job", 8)
        page.keyboard.press("Enter")  # free again: a second job
        page.locator("#jobs .job").nth(1).wait_for()
        page.keyboard.press("Enter")  # held by the cooldown again: nothing
        page.wait_for_timeout(300)
        cards = page.locator("#jobs .job").count()
        still = page.evaluate(KEYBOARD_AT, [button, "#jobs .job"])
    assert samples[-1]["held"] is False and samples[-1]["card"], samples
    assert [s for s in samples if not s["focused"]] == [], samples
    assert any(s["held"] for s in samples)  # the cooldown held it: the plan's 2 s
    assert cards == 2
    assert still["focused"] and still["held"], still


def test_enter_on_a_tool_button_keeps_the_keyboard_on_it(live_server: Any) -> None:
    """ "Analyse palette" on a thumbnail's large view is held while its request runs; it threw
    the focus to the page's body."""
    owner = make_user("enter-tool@example.com")
    set_plan(owner, "pro")
    thumbnail: Any = ThumbnailFactory(owner=owner, stored=True)
    button = "#tool-analyse_palette button[type=submit]"
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/thumbnails/{thumbnail.pk}")
        samples = keyboard_while_held(page, button, "#results-analyse_palette .job", 8)
    assert samples[-1]["held"] is False and samples[-1]["card"], samples
    assert [s for s in samples if not s["focused"]] == [], samples
