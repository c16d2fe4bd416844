"""The keyboard in the studio and a thumbnail's large view, in Chromium: what the Tab key
reaches is in sight, and a button pressed with Enter keeps the keyboard while it is held."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile

from studio.models import Face, FaceImage, Project
from tests.browser import signed_in
from tests.conftest import make_user, set_plan

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
