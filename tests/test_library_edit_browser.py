"""The library's Edit forms in Chromium: the keyboard stays on the tile its form swapped."""

from __future__ import annotations

from typing import Any

import pytest

from studio.models import Palette, Style
from tests.browser import signed_in
from tests.conftest import make_user, set_plan

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def focused(page: Any, condition: str) -> None:
    """Waits (2 s at most) for the focus htmx's settle step gives."""
    page.wait_for_function(f"() => {condition}", timeout=2000)


def test_on_a_desktop_an_open_edit_form_takes_the_whole_row_and_keeps_the_focus(
    live_server: Any,
) -> None:
    """An open edit form takes its tile's whole row, and the other tiles keep their height.
    Saving or refusing an edit keeps the keyboard on the tile its form swapped. One page
    serves both: the form the layout opened is the one then saved."""
    owner = make_user("edit-focus@example.com")
    set_plan(owner, "pro")
    style = Style.objects.create(owner=owner, name="Orange pop", prompt="Bright orange.")
    neighbour = Style.objects.create(owner=owner, name="Night drive", prompt="Dark.")
    palette = Palette.objects.create(
        owner=owner, name="Sunset", colors=["#FF0044", "#111111", "#FFD400"]
    )
    with signed_in(live_server, owner, {"width": 1440, "height": 900}) as page:
        page.goto(f"{live_server.url}/studio/library/")
        tile = page.locator(f"#style-{style.pk}")
        other = page.locator(f"#style-{neighbour.pk}")
        row = tile.locator("xpath=..").bounding_box()
        closed_height = other.bounding_box()["height"]
        tile.locator("summary").click()
        assert tile.bounding_box()["width"] > row["width"] * 0.95
        # The other tiles keep their height (no long empty tiles beside the form).
        assert other.bounding_box()["height"] < closed_height + 2
        assert tile.bounding_box()["height"] > closed_height * 2
        picker = tile.locator("input[type=file]").bounding_box()
        assert picker["width"] > 250  # the file picker's button and file name both show

        # The open form: a name another style has is refused, then a new one saved.
        tile.locator("input[name=name]").fill("night DRIVE")
        tile.locator("button", has_text="Save style").click()
        page.locator(f"#style-{style.pk} [role=alert]").wait_for()
        focused(page, f"document.activeElement.id === 'style-{style.pk}-name'")

        tile.locator("input[name=name]").fill("Orange glow")
        tile.locator("button", has_text="Save style").click()
        page.locator(f"#style-{style.pk} [role=status]").wait_for()
        focused(page, f"document.activeElement.matches('#style-{style.pk} summary')")

        tile = page.locator(f"#palette-{palette.pk}")
        tile.locator("summary").click()
        tile.locator("input[name=colors]").fill("#000000, #FFFFFF, #00FF00")
        tile.locator("button", has_text="Save palette").click()
        page.locator(f"#palette-{palette.pk} [role=status]").wait_for()
        focused(page, f"document.activeElement.matches('#palette-{palette.pk} summary')")

        # New palette's "Add to palette" refuses a colour the field has and a seventh, saying
        # why (it added both, and Save then failed on the field's length).
        field, picker = page.locator("#palette_colors"), page.locator("#palette-picker")
        add, note = page.locator("[data-add-color]"), page.locator("[data-color-note]")
        field.fill("#112233, #ABCDEF, #FF0000")
        picker.fill("#abcdef")
        add.click()
        assert note.inner_text() == "#ABCDEF is already in this palette."
        assert field.input_value() == "#112233, #ABCDEF, #FF0000"
        six = "#112233, #ABCDEF, #FF0000, #00FF00, #0000FF, #FFFFFF"
        field.fill(six)
        picker.fill("#123456")
        add.click()
        assert "this one has 6. Remove one to add #123456." in note.inner_text()
        assert field.input_value() == six
        field.fill("#112233, #ABCDEF")
        add.click()
        assert field.input_value() == "#112233, #ABCDEF, #123456" and not note.inner_text()


def test_an_open_edit_form_takes_the_whole_row_on_a_phone(live_server: Any) -> None:
    owner = make_user("edit-phone@example.com")
    set_plan(owner, "pro")
    style = Style.objects.create(owner=owner, name="Orange pop", prompt="Bright orange.")
    with signed_in(live_server, owner, {"width": 390, "height": 844}) as page:
        page.goto(f"{live_server.url}/studio/library/")
        tile = page.locator(f"#style-{style.pk}")
        row = tile.locator("xpath=..").bounding_box()
        assert tile.bounding_box()["width"] < row["width"] / 2  # two tiles a row
        tile.locator("summary").click()
        assert tile.bounding_box()["width"] > row["width"] * 0.95
        picker = tile.locator("input[type=file]").bounding_box()
        assert picker["width"] > 250  # the file picker's button and file name both show
