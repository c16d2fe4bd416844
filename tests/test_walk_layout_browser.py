"""Layout faults a creator's walkthrough in Chromium found (1440 and 390 px wide): controls that
did not look like controls, buttons sitting on the line above them, and a form split over two
rows where the studio's twin keeps one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from studio.models import Face, Palette, Project, Style
from tests.browser import screenshot, signed_in
from tests.conftest import make_user, set_plan
from tests.factories.studio import ThumbnailFactory, generate_job

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def shown_height(locator: Any) -> float:
    """The height `locator`'s element takes on the screen (its box clipped by clip-path)."""
    return float(
        locator.evaluate(
            "el => getComputedStyle(el).clipPath === 'none' ? el.getBoundingClientRect().height : 0"
        )
    )


def test_a_running_cards_cancel_looks_like_a_finished_cards_dismiss(live_server: Any) -> None:
    """Cancel was an unstyled button, 15 px plain text under the progress bar; Dismiss, the same
    kind of control on a finished card, is an underlined 13 px link. While the first
    thumbnail renders, the empty gallery's "Your thumbnails will appear here." is not shown
    under its card; it is back once the job has failed."""
    from playwright.sync_api import expect

    owner = make_user("cancel-look@example.com")
    running, done, failed = (
        generate_job(owner, status, status) for status in ("running", "succeeded", "failed")
    )
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/")
        page.locator(f"#job-{running.pk} .cancel").wait_for()
        empty = page.locator("#gallery-pages .empty")
        expect(empty).to_have_count(1)
        assert shown_height(empty) <= 1  # out of sight, still the feed's article (axe)
        page.evaluate(  # the finished card, as the websocket's refresh brings it in
            f"() => htmx.ajax('GET', '/studio/jobs/{done.pk}', {{target: '#jobs', swap: 'beforeend'}})"
        )
        page.locator("#jobs .job [data-dismiss-job]").first.wait_for()
        # Both read in one task: the page polls its running card (STUDIO_POLL_MS), and a card
        # swapped between two reads left the first one detached, with no computed style.
        looks = page.evaluate(
            """selectors => selectors.map(selector => {
                const s = getComputedStyle(document.querySelector(selector));
                return [s.textDecorationLine, s.fontSize, s.marginTop];
            })""",
            ["#jobs .job .cancel", "#jobs .job [data-dismiss-job]"],
        )
        assert shown_height(empty) <= 1  # a finished card beside the running one changes nothing
        # The running card as its refresh brings it back failed. Fetched, then put in place of
        # whichever running card is on the page at that moment: the page's own poll replaces
        # that card every STUDIO_POLL_MS, so htmx.ajax's target, looked up when the request
        # left, could be a card the poll had detached by the time the answer came (flaky).
        page.evaluate(
            """async ([url, id]) => {
                const html = await (await fetch(url)).text();
                document.getElementById(id).outerHTML = html;
            }""",
            [f"/studio/jobs/{failed.pk}", f"job-{running.pk}"],
        )
        page.locator(f"#job-{failed.pk}").wait_for()
        expect(empty).to_have_text("Your thumbnails will appear here.")
        assert shown_height(empty) > 10
    assert looks[0] == looks[1] == ["underline", "13px", "8px"]


def gap_above(page: Any, button: str) -> float:
    """Pixels between `button` and the element just before it."""
    return float(
        page.locator(button).evaluate(
            "el => el.getBoundingClientRect().top"
            " - el.previousElementSibling.getBoundingClientRect().bottom"
        )
    )


def assert_the_new_project_row_fits(page: Any, viewport: dict[str, int]) -> None:
    """The library's new-project name field and "Add project" side by side on `page` (the
    library), inside `viewport`."""
    field = page.locator("#library-new-project").bounding_box()
    button = page.locator("#projects .new-project button").bounding_box()
    assert abs((field["y"] + field["height"] / 2) - (button["y"] + button["height"] / 2)) < 2
    assert button["x"] > field["x"] + field["width"]
    assert button["x"] + button["width"] <= viewport["width"] - 12
    assert field["width"] <= 520


# A name of one long word, as long as the forms keep (80 characters): the studio's pickers wrap it.
LONG_NAME = "Me 😀 " + "x" * 70


def long_named_assets(owner: Any) -> None:
    """A project, a face, a style and a palette of `owner`, each with LONG_NAME."""
    Project.objects.create(owner=owner, name=LONG_NAME)
    Face.objects.create(owner=owner, name=LONG_NAME)
    Style.objects.create(owner=owner, name=LONG_NAME, prompt="Bold and bright")
    Palette.objects.create(owner=owner, name=LONG_NAME, colors=["#FF0044", "#111111", "#FFD400"])


def assert_the_library_tiles_hold_their_names(page: Any, viewport: dict[str, int]) -> None:
    """Every library tile (projects, faces, styles, palettes) holds what it shows: a long
    name ran out of its tile over its neighbours (1440 px) and made a phone's page 680 px wide;
    nothing is wider than the screen."""
    spills = page.evaluate(
        """() => [...document.querySelectorAll(".library .tile")].flatMap((tile) => {
            const box = tile.getBoundingClientRect();
            if (tile.scrollWidth > tile.clientWidth) return [tile.closest("section").id + " tile"];
            return [...tile.querySelectorAll("*")].filter((el) => {
                const r = el.getBoundingClientRect();
                return r.width && (r.left < box.left - 1 || r.right > box.right + 1);
            }).map((el) => tile.closest("section").id + " " + el.tagName + " " + el.className);
        })"""
    )
    assert spills == []
    names = page.locator(".library .tile strong", has_text="x" * 70)
    assert names.count() == 3  # a face's, a style's and a palette's
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


def test_the_desktop_forms_keep_their_buttons_in_place(live_server: Any) -> None:
    """Check thumbnail and Analyse palette sat on their hint's last line (0 px), the library's
    Analyse palette on its file field. The library's new-project name field ran the Projects
    panel's whole width (1,265 px on a desktop) with "Add project" under it; the studio's own
    new-project form keeps them side by side. Account's "Save channel" stood 4 px lower than
    the field beside it (the label's bottom margin lifted the field). The library's tiles hold
    their long names. One desktop context visits the three pages."""
    owner = make_user("tool-room@example.com")
    set_plan(owner, "pro")
    long_named_assets(owner)
    thumbnail: Any = ThumbnailFactory(owner=owner, stored=True)
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/thumbnails/{thumbnail.pk}")
        for form in ("#tool-thumbnail_check", "#tool-analyse_palette"):
            assert gap_above(page, f"{form} button[type=submit]") >= 10, form
        page.goto(f"{live_server.url}/studio/library/")
        assert gap_above(page, ".analyse-palette button[type=submit]") >= 10
        assert_the_new_project_row_fits(page, DESKTOP)
        assert_the_library_tiles_hold_their_names(page, DESKTOP)
        screenshot(page, Path("/tmp/viewbait-library-long-names-1440.png"), full_page=True)
        page.goto(f"{live_server.url}/accounts/email/")
        field = page.locator("#youtube-channel-input").bounding_box()
        button = page.locator("#youtube-channel form button").first.bounding_box()
    assert abs((field["y"] + field["height"]) - (button["y"] + button["height"])) < 1


def test_on_a_phone_the_librarys_new_project_keeps_its_name_and_add_on_one_line(
    live_server: Any,
) -> None:
    """As on a desktop (above), at 390 px, with the library's tiles holding their long names."""
    owner = make_user("new-project-row@example.com")
    long_named_assets(owner)
    with signed_in(live_server, owner, PHONE) as page:
        page.goto(f"{live_server.url}/studio/library/")
        assert_the_new_project_row_fits(page, PHONE)
        assert_the_library_tiles_hold_their_names(page, PHONE)
        screenshot(page, Path("/tmp/viewbait-library-long-names-390.png"), full_page=True)
