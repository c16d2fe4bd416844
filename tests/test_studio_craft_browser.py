"""What a new creator sees in Chromium: accessible pages (axe-core), one continuous gallery grid,
card footers that fit at desktop and phone widths, and forms that never spend credits or lose
what was typed by accident."""

from __future__ import annotations

import datetime
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from billing.models import Plan
from billing.services import adjust_credits, get_balance
from generation.models import Job
from studio.models import Project, Style, Thumbnail
from tests import fake_gemini as fake_gemini_module
from tests.browser import COUNT_SUBMITS, chromium, screenshot, signed_in
from tests.conftest import JSONClient, make_user, set_plan
from tests.factories.studio import ThumbnailFactory, generate_job
from tests.fake_gemini import FakeGemini

fake_gemini = fake_gemini_module.fake_gemini
gemini_settings = fake_gemini_module.gemini_settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(autouse=True)
def local_run(settings: Any) -> None:
    """seed_gallery runs only in a local run (LOCAL_DEV; tests/test_safe_defaults.py)."""
    settings.LOCAL_DEV = True


DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
RTL_TITLE = "أفضل عشر وجبات في المدينة: تجربتي الكاملة"


def library(email: str, count: int) -> Any:
    call_command("seed_gallery", email=email, count=count, images=2, quiet=True)
    owner = Thumbnail.objects.filter(owner__email=email).first().owner
    set_plan(owner, "pro")
    return owner


# axe-core (the copy axe_playwright_python ships) put in the page and run there, in one call:
# its result comes back as the serious and critical violations alone (rule, impact, help and
# the first three nodes' selectors), where `Axe().run` took two calls (the 570 KB script, then
# the run) and brought back the whole result (every rule's description, tags and a sample node).
RUN_AXE = """;
axe.run({resultTypes: ["violations"]}).then((results) => results.violations
  .filter((v) => v.impact === "serious" || v.impact === "critical")
  .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.map((n) => n.target).slice(0, 3)})))"""


def in_thread(work: Any) -> None:
    """`work()` on a thread of its own: Playwright's may not use the ORM (an event loop runs)."""

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on `page`, one line each: rule id, impact,
    help and where (the first three nodes)."""
    from axe_playwright_python.base import AXE_SCRIPT

    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {v['targets']}"
        for v in page.evaluate(AXE_SCRIPT + RUN_AXE)
    ]


# A page is settled for axe once it has loaded (`goto` waits for that), no htmx request is in
# flight (htmx marks its element .htmx-request meanwhile), every image on the screen is in and
# no animation is under way but endless ones (a card's .3 s fade-in measured as low contrast on
# the share page; a toast waiting out its 8 s delay is not under way): what waiting for the
# network to go quiet gave, without 500 ms of quiet per page (the lazy images below the screen,
# never asked for, change nothing axe checks).
SETTLED = """() => document.readyState === "complete"
  && !document.querySelector(".htmx-request")
  && [...document.images].every((img) => {
    const box = img.getBoundingClientRect();
    return img.complete || box.bottom < 0 || box.top > innerHeight;
  })
  && document.getAnimations().every((animation) => {
    const timing = animation.effect.getComputedTiming();
    return animation.playState !== "running" || timing.progress === null
      || timing.iterations === Infinity;
  })"""


# A fragment as the local_time tag renders one, swapped in by htmx.
SWAP_IN_A_TIME = """() => htmx.swap(".credit-history", '<p id="swapped-time"><time'
  + ' datetime="2026-12-06T03:13:00Z" data-local-time="datetime"><span class="day">6 Dec 2026,'
  + '</span> <span class="day">03:13 UTC</span></time></p>', {swapStyle: "beforeend"})"""


def test_every_page_passes_axe_and_has_one_h1(live_server: Any) -> None:
    owner = library("axe@example.com", 3)
    project = Project.objects.create(owner=owner, name="Series", share_mode="all")
    thumbnail = Thumbnail.objects.filter(owner=owner).first()
    Thumbnail.objects.filter(owner=owner).update(project=project)
    pages = [
        "/studio/",
        "/studio/library/",
        "/plans/",
        "/studio/credits/",
        "/accounts/email/",
        "/accounts/delete/",
        f"/studio/thumbnails/{thumbnail.pk}",
        project.share_path,
        f"{project.share_path}t/{thumbnail.pk}",
    ]
    # The pages' times are in the browser's zone (they showed the server's UTC, 8 hours off in
    # Los Angeles): a ledger line at 20:26 UTC, a version made at 03:13 UTC the next day.
    owner.credit_entries.update(
        created_at=datetime.datetime(2026, 12, 5, 20, 26, tzinfo=datetime.UTC)
    )
    Thumbnail.objects.filter(pk=thumbnail.pk).update(
        created_at=datetime.datetime(2026, 12, 6, 3, 13, tzinfo=datetime.UTC)
    )
    # A day alone too: the plan's period ends at 03:00 UTC on 5 January, the 4th there.
    owner.subscription.current_period_end = datetime.datetime(2027, 1, 5, 3, tzinfo=datetime.UTC)
    owner.subscription.save(update_fields=["current_period_end"])
    local_times = {
        "/plans/": ("#period-end time", "4 Jan 2027"),
        "/studio/credits/": (".ledger time", "5 Dec 2026, 12:26"),
        f"/studio/thumbnails/{thumbnail.pk}": (".version-list time", "5 Dec, 19:13"),
    }
    with signed_in(live_server, owner, DESKTOP, timezone_id="America/Los_Angeles") as page:
        for path in pages:
            page.goto(live_server.url + path)
            page.wait_for_function(SETTLED)
            assert page.locator("h1").count() == 1, path
            assert serious_violations(page) == [], path
            assert template_syntax_shown(page) == [], path
            if path in local_times:
                selector, shown = local_times[path]
                assert page.locator(selector).first.inner_text() == shown, path
            if path == "/studio/credits/":  # a time htmx swaps in is rewritten too
                page.evaluate(SWAP_IN_A_TIME)
                page.wait_for_function(
                    "() => document.querySelector('#swapped-time time')?.innerText"
                    " === '5 Dec 2026, 19:13'",
                    timeout=2000,
                )
        page.context.clear_cookies()
        for path in ("/", "/accounts/login/", "/accounts/signup/"):
            page.goto(live_server.url + path)
            assert page.locator("h1").count() == 1, path
            assert serious_violations(page) == [], path
            assert template_syntax_shown(page) == [], path
        # drf-spectacular's Swagger UI, drawn: its <html> had no lang, its "OAS 3.0" badge 2.2:1
        # contrast, its method badges and Authorize 1.6-3.6:1, each operation's path a link
        # inside its button (nested-interactive).
        page.goto(live_server.url + "/api/docs/")
        page.locator(".swagger-ui .opblock-summary-method").first.wait_for()
        page.wait_for_function(SETTLED)
        assert page.evaluate("document.documentElement.lang") == "en"
        assert serious_violations(page) == [], "/api/docs/"


def test_an_empty_gallery_passes_axe(live_server: Any) -> None:
    """A new creator's first studio ("Your thumbnails will appear here.") and a search that
    matches nothing put a paragraph alone in the gallery's feed, which must hold articles: axe
    called it critical (aria-required-children), and the suite's axe pages all had thumbnails
    (third walkthrough). The note is the feed's one article."""
    owner = make_user("empty-axe@example.com")
    with signed_in(live_server, owner, DESKTOP) as page:
        for path in ("/studio/", "/studio/?q=nothing"):
            page.goto(live_server.url + path)
            page.wait_for_function(SETTLED)
            assert page.locator("#gallery-pages .empty").count() == 1, path
            assert serious_violations(page) == [], path
    # The note gallery.js writes when the last card goes.
    other = make_user("last-card-axe@example.com")
    ThumbnailFactory(owner=other, title="Only one")
    with signed_in(live_server, other, DESKTOP) as page:
        page.goto(live_server.url + "/studio/")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Delete").click()
        page.locator("#gallery-pages .empty").wait_for()
        assert serious_violations(page) == []


def template_syntax_shown(page: Any) -> list[str]:
    """Django template syntax a creator can read (a `{# #}` comment over two lines renders as
    text: Django's one-line comments end at the line)."""
    text = page.locator("body").inner_text()
    return [mark for mark in ("{#", "#}", "{%", "%}", "{{", "}}") if mark in text]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_gallery_is_one_grid_and_card_footers_fit(live_server: Any, viewport: Any) -> None:
    """Two pages (20 + 7 cards) and the grid's rows: every row but the last is full, and each
    card's footer (title, project menu, actions, Download) stays inside its card; a
    right-to-left title starts at the right. A job card with a long title (cut with an
    ellipsis) leaves the page as wide as the screen. On a phone the card's icon buttons are
    finger-sized."""
    owner = library("grid@example.com", 27)
    for name in ("Coffee series", "Tech reviews with a long name, every one of this year"):
        Project.objects.create(owner=owner, name=name)
    Thumbnail.objects.filter(pk=Thumbnail.objects.filter(owner=owner).latest("pk").pk).update(
        title=RTL_TITLE
    )
    job = generate_job(owner, "A job title far too long for a phone screen", "failed")
    from playwright.sync_api import expect

    with signed_in(live_server, owner, viewport) as page:
        page.goto(f"{live_server.url}/studio/")
        page.wait_for_selector("#gallery-grid .thumb")
        jump = page.locator(".jump-gallery")
        if viewport == PHONE:  # the form comes first on a phone: its head links to the gallery
            jump.click()
            page.wait_for_function(
                "() => Math.abs(document.getElementById('gallery-heading')"
                ".getBoundingClientRect().top) < 150"
            )
            page.evaluate("() => scrollTo(0, 0)")
            # The search field takes the phone's width (it was 220 px of 338).
            search, row = page.evaluate(
                "() => ['#gallery-q', 'form.gallery-filters'].map("
                "(s) => document.querySelector(s).getBoundingClientRect().width)"
            )
            assert search >= row - 1, (search, row)
        else:  # beside the gallery already
            assert not jump.is_visible()
        page.evaluate(  # the card as the websocket's refresh brings it in
            f"() => htmx.ajax('GET', '/studio/jobs/{job.pk}', {{target: '#jobs', swap: 'afterbegin'}})"
        )
        page.locator(f"#job-{job.pk}").wait_for()
        # Scroll until the second page is asked for (its sentinel's request started, or it is
        # in), then wait for it: counting the scroll steps until its cards were in left the
        # server's answer the steps the scrolling did not use (a phone's scroll took 12 of 30).
        asked = page.locator("#gallery-grid .more:not(.htmx-request)")
        for _ in range(30):
            if asked.count() == 0:
                break
            page.mouse.wheel(0, 900)
            page.wait_for_timeout(150)
        expect(page.locator("#gallery-grid .thumb")).to_have_count(27)
        layout = page.evaluate(
            """() => {
              const cards = Array.from(document.querySelectorAll('#gallery-grid .thumb'));
              const rows = {};
              cards.forEach((c) => {
                const top = c.offsetTop;  // layout position: the cards' entry animation moves them
                rows[top] = (rows[top] || 0) + 1;
              });
              const columns = getComputedStyle(document.getElementById('gallery-grid'))
                .gridTemplateColumns.split(' ').length;
              const overflow = cards.flatMap((c) => {
                const box = c.getBoundingClientRect();
                return Array.from(c.querySelectorAll('footer > *, footer .actions > *')).filter((el) => {
                  const r = el.getBoundingClientRect();
                  return r.width > 0 && (r.right > box.right + 0.5 || r.left < box.left - 0.5);
                }).map((el) => c.id + ' ' + el.className);
              });
              const rtl = Array.from(document.querySelectorAll('.thumb .title'))
                .find((t) => /[\u0600-\u06ff]/.test(t.textContent));
              return {
                cards: cards.length, columns, rows: Object.keys(rows).sort((a, b) => a - b)
                  .map((k) => rows[k]), overflow,
                rtl: [rtl.textContent.trim().slice(0, 4), getComputedStyle(rtl).direction],
                download: cards.map((c) => c.querySelector('.download').getBoundingClientRect().width),
                icons: Array.from(document.querySelectorAll('#gallery-grid .thumb .icon'))
                  .map((i) => Math.min(i.getBoundingClientRect().width, i.getBoundingClientRect().height)),
                pageOverflow: document.documentElement.scrollWidth - innerWidth,
                filter: document.getElementById('gallery-project').getBoundingClientRect().width,
              };
            }"""
        )
    assert layout["cards"] == 27
    assert all(count == layout["columns"] for count in layout["rows"][:-1]), str(layout["rows"])
    assert layout["overflow"] == []
    assert layout["pageOverflow"] <= 0
    assert min(layout["download"]) > 60  # the Download button is whole, not a sliver
    assert layout["filter"] <= 200  # a long project name made the filter 320 px wide
    if viewport == PHONE:  # card actions big enough for a finger (WCAG 2.5.8 asks 24 px)
        assert min(layout["icons"]) >= 36, min(layout["icons"])
    assert layout["rtl"] == [RTL_TITLE[:4], "rtl"]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_title_palettes_share_links_and_header_show_whole(
    live_server: Any, viewport: Any
) -> None:
    """The thumbnail text field spans the form (it was 190 px beside Better titles at 1440 px),
    no palette name is cut short (phones wrap them), a project's share link has a line of
    its own in its tile (it showed only "http://127.0.0.1"), and the header keeps the credits
    and Sign out on the brand's row (on a phone "Sign out" wrapped onto a line of its own)."""
    owner = library("fields@example.com", 1)
    Project.objects.create(owner=owner, name="Series", share_mode="all")
    with signed_in(live_server, owner, viewport) as page:
        page.goto(f"{live_server.url}/studio/")
        # On a desktop the form scrolls in its own column: "More settings below" says that
        # Faces, Output and Project are out of sight, and scrolls to them. A phone's page
        # scrolls as a whole: no such line.
        more = page.locator("#more-settings")
        more_shown = more.is_visible()
        if more_shown:
            more.click()
            page.wait_for_function(
                "() => document.querySelector('.generate').scrollTop > 100", polling=100
            )
        sizes = page.evaluate(
            """() => ({
              title: document.getElementById('title').getBoundingClientRect().width,
              field: document.getElementById('title').closest('.field').getBoundingClientRect().width,
              cut: Array.from(document.querySelectorAll('.chip .name'))
                .filter((n) => n.scrollWidth > n.clientWidth + 1).map((n) => n.textContent),
              header: ['.brand', '#credits', '.topbar button[type=submit]'].map((selector) => {
                const box = document.querySelector(selector).getBoundingClientRect();
                return [box.top, box.bottom];
              }),
            })"""
        )
        page.goto(f"{live_server.url}/studio/library/")
        links = page.evaluate(
            """() => Array.from(document.querySelectorAll('.share-link')).map((row) => [
              row.querySelector('.share-url').getBoundingClientRect().width,
              row.getBoundingClientRect().width])"""
        )
    assert sizes["title"] >= sizes["field"] - 1, sizes
    assert sizes["cut"] == [], sizes["cut"]
    (brand_top, brand_bottom), *account = sizes["header"]
    assert all(brand_top <= (top + bottom) / 2 <= brand_bottom for top, bottom in account), sizes
    assert links and all(url >= row - 1 for url, row in links), links
    assert more_shown == (viewport == DESKTOP)


def test_a_double_clicks_second_click_is_not_a_second_job(live_server: Any) -> None:
    """A double click's second click that came after the first request was answered (a fast
    accept, or a slow browser) found Generate enabled with a fresh idempotency key and charged a
    second job (a fresh-clone `make test` under load showed 7 credits where 8 were expected).
    The second click of a multi-click is ignored; single clicks each generate."""
    owner = make_user("double@example.com")
    set_plan(owner, "pro")
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/")
        page.fill("#title", "Double click")
        credits = page.locator("#credits")
        start = int(credits.get_attribute("data-credits") or 0)
        box = page.locator("#generate-form button[type=submit]").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.evaluate(COUNT_SUBMITS, "#generate-form")
        page.mouse.down(click_count=1)
        page.mouse.up(click_count=1)
        page.wait_for_function(
            f"() => document.getElementById('credits').dataset.credits === '{start - 1}' && "
            "!document.querySelector('#generate-form button[type=submit]').disabled",
            polling=100,
        )
        page.mouse.down(click_count=2)  # the same double click's second click, after the answer
        page.mouse.up(click_count=2)
        after_double = page.evaluate("window.__submits")  # the first click's only
        page.mouse.down(click_count=1)  # a new, single click
        page.mouse.up(click_count=1)
        page.wait_for_function(
            f"() => document.getElementById('credits').dataset.credits === '{start - 2}'",
            polling=100,
        )
    assert after_double == 1
    assert Job.objects.filter(user=owner).count() == 2


def test_a_new_project_joins_the_project_menus_in_their_order(live_server: Any) -> None:
    """A project added in the studio went to the end of every project menu ("Alpha" after
    "Delta") until a reload put it in its place (walkthrough 2026-12-04): it goes where the
    server lists it, in the gallery's filter, the generate form's pick and each card's menu.
    A card whose thumbnail was deleted in another tab (walkthrough 2026-12-05, 93-stale-move):
    moving it got a 404 and the page showed nothing, the menu left on the new project; the
    card goes, saying why. A move into a project deleted meanwhile: the menu goes back."""
    from playwright.sync_api import expect

    owner = make_user("order@example.com")
    for name in ("Beta", "Delta"):
        Project.objects.create(owner=owner, name=name)
    card: Any = ThumbnailFactory(owner=owner, title="Already made")
    stale: Any = ThumbnailFactory(owner=owner, title="Deleted in another tab")
    starred: Any = ThumbnailFactory(owner=owner, title="Also deleted there")
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/")
        for name in ("Charlie", "Alpha", "Echo"):
            page.fill("#new-project-name", name)
            page.click("form.new-project button[type=submit]")
            page.locator("#new-project-status").get_by_text(f"“{name}” created").wait_for()
        menus = {
            selector: page.locator(f"{selector} option").all_inner_texts()
            for selector in ("#gallery-project", "#project", f"#move-{card.pk}")
        }
        in_thread(Thumbnail.objects.filter(pk__in=[stale.pk, starred.pk]).delete)
        page.select_option(f"#move-{stale.pk}", label="Beta")
        expect(page.locator(f"#thumbnail-{stale.pk}")).to_have_count(0)
        toast = page.locator(".messages.toasts[role=status] li")
        expect(toast).to_have_count(1)
        expect(toast).to_contain_text("This thumbnail was deleted.")
        # In sight on a phone scrolled down to the cards too (the page's own messages are in
        # its flow there, at the top).
        page.set_viewport_size({"width": 390, "height": 844})
        page.locator(f"#thumbnail-{card.pk}").scroll_into_view_if_needed()
        box = toast.bounding_box()
        assert box and box["y"] >= 0 and box["y"] + box["height"] <= 844, box
        page.set_viewport_size(DESKTOP)
        # Favourite by keyboard: the card goes, the focus to the card taking its place, and
        # the same words again make no second message.
        page.locator(f"#fav-{starred.pk}").focus()
        page.keyboard.press("Enter")
        expect(page.locator(f"#thumbnail-{starred.pk}")).to_have_count(0)
        expect(page.locator(f"#thumbnail-{card.pk}")).to_be_focused()
        expect(toast).to_have_count(1)
        in_thread(Project.objects.filter(owner=owner, name="Delta").delete)
        with page.expect_response(lambda r: r.url.endswith(f"/{card.pk}/move")) as moved:
            page.select_option(f"#move-{card.pk}", label="Delta")
        assert moved.value.status == 404
        expect(page.locator(f"#move-{card.pk}")).to_have_value("")
        expect(page.locator(f"#thumbnail-{card.pk}")).to_have_count(1)
    projects = ["Alpha", "Beta", "Charlie", "Delta", "Echo"]
    assert menus == {
        "#gallery-project": ["All projects", "No project", *projects],
        "#project": ["No project", *projects],
        f"#move-{card.pk}": ["No project", *projects],
    }


def test_a_project_name_already_taken_is_refused_by_name_without_a_console_error(
    live_server: Any,
) -> None:
    """Adding "vlogs " beside "Vlogs" said 'You already have a project named “vlogs”.', what was
    typed, and htmx logged "Response Status Error Code 409 from /studio/projects" to the
    console (creator review 2026-12-05): the message names the project there is, and the
    refusal, answered under the form, is no error of htmx's. (Chromium's own line for the 409,
    "Failed to load resource", stays, as for every refusal; this live server has no
    websocket.)"""
    owner = make_user("taken@example.com")
    with signed_in(live_server, owner, DESKTOP) as page:
        errors: list[str] = []
        page.on(
            "console",
            lambda message: (
                message.type == "error"
                and not message.text.startswith(("Failed to load resource", "WebSocket connection"))
                and errors.append(message.text)
            ),
        )
        page.goto(f"{live_server.url}/studio/")
        page.fill("#new-project-name", "Vlogs")
        page.click("form.new-project button[type=submit]")
        status = page.locator("#new-project-status")
        status.get_by_text("“Vlogs” created").wait_for()
        page.fill("#new-project-name", "vlogs ")
        with page.expect_response(lambda response: response.url.endswith("/studio/projects")):
            page.click("form.new-project button[type=submit]")
        status.get_by_text("already have").wait_for()
        message = status.text_content()
    assert message == "You already have a project named “Vlogs”."
    assert errors == []
    assert Project.objects.filter(owner=owner).count() == 1


def test_enter_does_not_generate_and_a_new_project_keeps_the_form(live_server: Any) -> None:
    owner = make_user("enter@example.com")
    set_plan(owner, "pro")
    card = ThumbnailFactory(owner=owner, title="Already made", has_watermark=True)
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/")
        no_menu_before = page.locator(f"#thumbnail-{card.pk} select.move").count() == 0
        page.evaluate("() => { window.__noReload = 1; }")
        out_of_credits_shown = page.is_visible("#out-of-credits")  # the creator has credits
        page.fill("#title", "My 5:00 AM Routine")
        page.evaluate(COUNT_SUBMITS, "#generate-form")
        page.locator("#title").press("Enter")
        submitted_by_enter = page.evaluate("window.__submits")
        cards_after_enter = page.locator("#jobs .job").count()
        page.check("input[name=palette_id] >> nth=3")
        page.fill("#new-project-name", "Morning series")
        page.click("form.new-project button[type=submit]")
        page.wait_for_selector("#project-field:not([hidden])")
        state = {
            "no_reload": page.evaluate("() => window.__noReload") == 1,
            "title": page.input_value("#title"),
            "palette": page.locator("input[name=palette_id] >> nth=3").is_checked(),
            "project": page.input_value("#project"),
            "status": page.text_content("#new-project-status"),
        }
        # The first project: every card gets its "Move to project" menu, which works at once,
        # and the card's details beside it are whole.
        with page.expect_response(lambda response: response.url.endswith("/move")) as moved:
            page.select_option(f"#move-{card.pk}", label="Morning series")
        assert moved.value.status == 200
        page.wait_for_function(  # the card the answer swapped in, still without a reload
            f"() => !document.querySelector('#thumbnail-{card.pk}').dataset.moveUrl"
            f" && document.querySelector('#move-{card.pk}').selectedOptions[0].text"
            " === 'Morning series' && window.__noReload === 1"
        )
        meta_cut = page.evaluate(
            f"() => {{ const m = document.querySelector('#thumbnail-{card.pk} .meta');"
            " return m.scrollWidth > m.clientWidth; }"
        )
    assert no_menu_before and not meta_cut
    assert not out_of_credits_shown
    assert submitted_by_enter == 0
    assert cards_after_enter == 0
    assert not Job.objects.filter(user=owner).exists()
    project = Project.objects.get(owner=owner, name="Morning series")
    assert Thumbnail.objects.get(pk=card.pk).project == project
    assert state == {
        "no_reload": True,
        "title": "My 5:00 AM Routine",
        "palette": True,
        "project": str(project.pk),
        "status": "Project “Morning series” created and picked in the New thumbnail form.",
    }


def test_thumbnail_text_counts_near_its_limit_and_says_what_a_paste_lost(
    live_server: Any,
) -> None:
    """The thumbnail text field (maxlength 100) cut a pasted title mid-word, its sub-line gone,
    without a word. Near the limit it counts; a paste the limit cut keeps its whole words and
    says what it left out."""
    from playwright.sync_api import expect

    owner = make_user("paste@example.com")
    headline = "This Is An Extremely Long Thumbnail Title That Nobody Should Ever Write"
    pasted = headline + ": It Goes On And On Forever"  # 98 characters, as the field has it
    copied = headline + ":\nIt Goes On And On Forever"  # the sub-line on a line of its own
    with signed_in(live_server, owner, DESKTOP) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        page.goto(f"{live_server.url}/studio/")
        title, count = page.locator("#title"), page.locator("#title-count")
        cut = page.locator("#title-cut")
        title.fill("Day 30 ")
        expect(count).to_be_hidden()  # far from the limit: no count
        page.evaluate("text => navigator.clipboard.writeText(text)", copied)
        title.press("End")
        title.press("ControlOrMeta+v")
        # The limit fell inside "Forever": the paste keeps its whole words (creator review).
        expect(title).to_have_value("Day 30 " + headline + ": It Goes On And On")
        expect(count).to_have_text("97/100 characters")
        expect(cut).to_have_text(
            "The text takes up to 100 characters: the end of your paste, “Forever”, was left out."
        )
        screenshot(page, Path("/tmp/viewbait-paste-cut.png"))
        title.press("Backspace")
        expect(cut).to_be_empty()  # the text changed since: the note goes
        expect(count).to_have_text("96/100 characters")
        title.fill("")
        title.press("ControlOrMeta+v")  # fits whole: counted, nothing said
        expect(title).to_have_value(pasted)
        expect(count).to_have_text("98/100 characters")
        expect(cut).to_be_empty()


def test_a_cooldown_message_counts_down_and_clears_itself(live_server: Any, settings: Any) -> None:
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_CACHE_PREFIX = f"rl:{uuid.uuid4().hex}:"
    owner = make_user("cool@example.com")
    Plan.objects.filter(slug="free").update(generate_cooldown_seconds=3)
    with signed_in(live_server, owner, DESKTOP) as page:
        page.clock.install()  # time flows as usual, until the test jumps it forward
        page.goto(f"{live_server.url}/studio/")
        page.fill("#title", "Cooling down")
        button = page.locator("#generate-form button[type=submit]")
        button.click()
        page.wait_for_selector("#jobs .job")
        # Generate waits out the plan's cooldown, counting down on the button.
        from playwright.sync_api import expect

        expect(button).to_be_disabled(timeout=2000)
        assert re.search(r"Generate \([1-3] s\)", button.inner_text()), button.inner_text()
        # A request sent anyway (another tab, a script) gets the 429 message, which counts down.
        page.evaluate("document.getElementById('generate-form').requestSubmit()")
        message = page.locator("#generate-errors .error")
        message.wait_for()
        assert "Try again in" in message.text_content()
        page.clock.fast_forward(3000)  # the plan's 3 s pass (their timers fire), not waited for
        page.wait_for_selector("#generate-errors .error", state="detached", timeout=6000)
        assert page.locator("#generate-errors").inner_text().strip() == ""
        assert button.is_enabled() and button.inner_text().strip() == "Generate · 1 credit"


def test_out_of_credits_generate_shows_no_cooldown_countdown(
    live_server: Any, settings: Any
) -> None:
    """The last credit spent, Generate counted down "Generate (10 s) · 1 credit" as if it would
    work in 10 s. Out of credits, the reason shows and no countdown; a reload keeps it so."""
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_CACHE_PREFIX = f"rl:{uuid.uuid4().hex}:"
    owner = make_user("lastcredit@example.com")
    adjust_credits(user=owner, amount=1 - get_balance(owner), idempotency_key="one", reason="test")
    Plan.objects.filter(slug="free").update(generate_cooldown_seconds=30)
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/")
        page.fill("#title", "My last credit")
        button = page.locator("#generate-form button[type=submit]")
        button.click()
        page.wait_for_selector("#jobs .job")
        page.wait_for_function("() => document.getElementById('credits').dataset.credits === '0'")
        page.wait_for_timeout(600)  # a countdown ticks every 250 ms
        labels = [button.inner_text()]
        reason_shown = page.locator("#out-of-credits").is_visible()
        page.reload()
        page.wait_for_timeout(600)
        labels.append(button.inner_text())
        held = button.is_disabled()
        screenshot(page, Path("/tmp/viewbait-out-of-credits.png"))
    assert reason_shown and held
    assert all(label.strip() == "Generate · 1 credit" for label in labels), labels


def test_a_cooldown_running_when_the_page_loads_holds_generate(
    live_server: Any, settings: Any
) -> None:
    """A reload right after a generate: Generate waits out the rest of the plan's cooldown
    instead of being offered and refused with "Try again in N s"."""
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_CACHE_PREFIX = f"rl:{uuid.uuid4().hex}:"
    owner = make_user("reload@example.com")
    Plan.objects.filter(slug="free").update(generate_cooldown_seconds=30)
    api = JSONClient()
    api.force_login(owner)
    body = {"title": "Before the reload"}
    assert api.post_json("/api/generate", body, HTTP_IDEMPOTENCY_KEY="r1").status_code == 202
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/")
        button = page.locator("#generate-form button[type=submit]")
        disabled = button.is_disabled()
        label = button.inner_text()
    assert disabled
    assert re.search(r"Generate \((2\d|30) s\)", label), label


def test_a_finished_card_can_be_dismissed_and_the_keyboard_keeps_its_place(
    live_server: Any,
) -> None:
    """A failed card says its credit was refunded and goes with its Dismiss. Enter on a finished
    card's Dismiss removed the card and the focus fell to the top of the page (third
    walkthrough): it goes to the next card's Dismiss, then the gallery's heading. One page
    serves both: the clicked card is gone before the keyboard's two arrive."""
    from playwright.sync_api import expect

    owner = make_user("dismiss@example.com")
    broken = generate_job(
        owner, "Broken", "failed", units_failed=1, error="The image service failed."
    )
    first, second = (
        generate_job(owner, title, "failed", units_failed=1, error="It failed.")
        for title in ("First", "Second")
    )
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/")
        add_card(page, broken)  # the card as the websocket's refresh brings it in
        card = page.locator(f"#job-{broken.pk}")
        refund = card.locator(".refund-note").text_content()
        card.locator("[data-dismiss-job]").click()
        card.wait_for(state="detached", timeout=3000)
        for job in (second, first):
            add_card(page, job)
        page.locator(f"#job-{first.pk} [data-dismiss-job]").focus()
        page.keyboard.press("Enter")
        expect(page.locator(f"#job-{second.pk} [data-dismiss-job]")).to_be_focused()
        expect(page.locator(f"#job-{first.pk}")).to_have_count(0)
        page.keyboard.press("Enter")
        expect(page.locator("#gallery-heading")).to_be_focused()
    assert refund == "Your 1 credit was refunded."


def test_a_delivered_generate_card_collapses_into_the_gallery(live_server: Any) -> None:
    """studio.js: the refresh of a finished generate card brings its thumbnails into the
    gallery once (a second refresh, or a page that already shows them, adds no copy), and the
    card leaves by itself after 6 s (the page's clock is driven, not waited for)."""
    owner = make_user("collapse@example.com")
    job = generate_job(
        owner, "Delivered", "succeeded", stage="succeeded", progress=100, units_succeeded=1
    )
    early = ThumbnailFactory(owner=owner, job=job, title="On the first page", variation_index=0)
    made: list[Any] = []

    def deliver() -> None:  # the job's second image, finished after the page loaded
        try:
            made.append(ThumbnailFactory(owner=owner, job=job, title="Late", variation_index=1))
        finally:
            connection.close()

    # What studio.js does for a job event: a holder card, then the card refreshed over it.
    holder = (
        f"() => {{ const d = document.createElement('div'); d.id = 'job-{job.pk}';"
        " document.getElementById('jobs').prepend(d); }"
    )
    refresh = (
        f"() => htmx.ajax('GET', '/studio/jobs/{job.pk}', "
        f"{{target: '#job-{job.pk}', swap: 'outerHTML'}})"
    )
    with signed_in(live_server, owner, DESKTOP) as page:
        page.clock.install()
        page.goto(f"{live_server.url}/studio/")
        worker = threading.Thread(target=deliver)  # Playwright's thread may not use the ORM
        worker.start()
        worker.join()
        late = made[0]
        page.evaluate(holder)
        # The card as the websocket's "finished" refresh brings it in, then again (a repeated
        # event); evaluate waits for each request, and the clock runs htmx's 20 ms settle.
        page.evaluate(refresh)
        page.clock.run_for(100)
        page.locator(f"#gallery-live #thumbnail-{late.pk}").wait_for()
        page.evaluate(refresh)
        page.clock.run_for(100)
        copies = {t.pk: page.locator(f"#thumbnail-{t.pk}").count() for t in (early, late)}
        page.clock.run_for(5000)
        cards_at_5_s = page.locator(f"article#job-{job.pk}").count()
        page.clock.run_for(1500)  # past 6 s, and the 250 ms leaving transition
        page.wait_for_function(f"document.querySelectorAll('#job-{job.pk}').length === 0")
        in_gallery = page.locator(f"#thumbnail-{late.pk}").count()
    assert copies == {early.pk: 1, late.pk: 1}
    assert cards_at_5_s == 1
    assert in_gallery == 1


def test_a_face_too_small_for_the_resolution_is_called_out_before_generating(
    live_server: Any,
) -> None:
    """The chip of a face whose best photo is too small for the chosen resolution brings a
    hint; nothing shows for a face sharp at that size. A face with no face found in its photos
    says it is framed, or left out beside faces that are cut out (creator review)."""
    from django.core.files.base import ContentFile

    from studio.models import Face, FaceImage

    owner = make_user("soft@example.com")
    set_plan(owner, "pro")
    # sharp below 1K / up to 2K / no face found (a photo of a cup)
    for name, height in (("Small", 96), ("Medium", 500), ("Cup", 0)):
        face = Face.objects.create(owner=owner, name=name)
        image = FaceImage(face=face, width=512, height=512, face_height=height)
        image.image.save(f"{name}.jpg", ContentFile(b"\xff\xd8\xff"), save=True)
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/")
        hint = page.locator("#soft-face")
        summary = page.locator("#output-summary")
        first_summary = summary.inner_text()
        page.get_by_label("Medium").check()
        at_1k = hint.is_visible()
        page.select_option("#resolution", "4K")
        at_4k = hint.inner_text()
        shown_at_4k = hint.is_visible()
        page.select_option("#aspect_ratio", "9:16")
        page.select_option("#variations", "2")
        # What Generate makes, beside its price (the Output choices are below the fold).
        made = (summary.inner_text(), page.locator("#cost").inner_text())
        summary.click()
        output_in_view = page.locator("#output-options").evaluate(
            "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight; }"
        )
        page.select_option("#variations", "1")
        page.get_by_label("Medium").uncheck()
        page.select_option("#resolution", "1K")
        page.get_by_label("Small").check()
        small = hint.inner_text()
        page.get_by_label("Small").uncheck()
        unchecked = hint.is_visible()
        page.get_by_label("Cup").check()
        cup_alone = hint.inner_text()
        page.get_by_label("Medium").check()
        cup_beside = hint.inner_text()
    assert (
        cup_alone
        == "Cup: no face was found in its photo, so it is shown in a frame rather than cut out."
    )
    assert cup_beside.endswith(
        "Cup: no face was found in its photo, so beside the other faces it is left out of the"
        " thumbnail."
    )
    assert first_summary == "16:9 · 1K · 1 image"
    assert made == ("9:16 · 4K · 2 images", "8 credits")
    assert output_in_view
    assert not at_1k
    assert shown_at_4k
    assert at_4k.startswith("Medium: the photo stays sharp up to 2K; at 4K the face will look soft")
    assert small.startswith("Small: the photo is small, so the face will look soft.")
    assert not unchecked


# Counts, from the call on, the form submissions no listener held back (window.__posted): heard
# last (window, bubbling), after studio.js's confirm on the document. The click that submits
# dispatches the event before Playwright's click returns (its dialog answered meanwhile).
COUNT_POSTED = """() => {
  window.__posted = 0;
  addEventListener("submit", (event) => { if (!event.defaultPrevented) window.__posted += 1; });
}"""


def test_deletes_on_a_phone_ask_first(live_server: Any) -> None:
    """One tap on Delete removed a face and its photos, or a project and its share link. The
    large view's Delete (new in the third walkthrough) asks before it removes anything. One
    phone context deletes in the library, then in a large view."""
    from playwright.sync_api import expect

    from studio.models import Face

    owner = make_user("deletes@example.com")
    face = Face.objects.create(owner=owner, name="Keep me")
    thumbnail = ThumbnailFactory(owner=owner, title="Bad variation")
    with signed_in(live_server, owner, PHONE) as page:
        page.goto(f"{live_server.url}/studio/library/")
        asked: list[str] = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
        page.evaluate(COUNT_POSTED)
        page.get_by_role("button", name="Delete face Keep me").click()
        posted = page.evaluate("window.__posted")
        kept = page.get_by_role("button", name="Delete face Keep me").count()
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Delete face Keep me").click()
        page.wait_for_url("**/studio/library/")
        page.get_by_text("Face deleted.").wait_for()

        page.goto(f"{live_server.url}/studio/thumbnails/{thumbnail.pk}")
        large_asked: list[str] = []
        page.once("dialog", lambda dialog: (large_asked.append(dialog.message), dialog.dismiss()))
        page.evaluate(COUNT_POSTED)
        page.get_by_role("button", name="Delete this thumbnail").click()
        large_posted = page.evaluate("window.__posted")
        large_kept = page.url
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Delete this thumbnail").click()
        page.wait_for_url(f"{live_server.url}/studio/")
        expect(page.locator(".messages")).to_contain_text("Thumbnail deleted")
    assert asked == ["Delete the face “Keep me” and its photos?"]
    assert posted == 0
    assert kept == 1
    assert not Face.objects.filter(pk=face.pk).exists()
    assert large_asked == ["Delete this thumbnail? Its files are removed too."]
    assert large_posted == 0
    assert large_kept == f"{live_server.url}/studio/thumbnails/{thumbnail.pk}"
    assert not Thumbnail.objects.filter(pk=thumbnail.pk).exists()


def test_a_tall_thumbnails_large_view_keeps_its_downloads_and_delete_in_view(
    live_server: Any,
) -> None:
    """A 9:16 picture drawn 100% wide at 1440x900 ran 720 px down the page and took the
    downloads and Delete below the fold; it is now drawn at a height that leaves them in view,
    in its own shape, even under a heading of two lines. A 16:9 picture still (nearly) fills its
    column."""
    from tests.factories.studio import stored_png

    owner = make_user("tall-view@example.com")
    tall = stored_png((432, 768))
    portrait = ThumbnailFactory(
        owner=owner,
        title="A title long enough to take two lines in the heading beside the tools: a vertical Short",
        aspect_ratio="9:16",
        width=768,
        height=1376,
        image=tall,
        image_medium=tall,
        image_small=tall,
        download=tall,
    )
    wide = ThumbnailFactory(owner=owner, title="Wide one", stored=True, width=1376, height=768)
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/thumbnails/{portrait.pk}")
        picture = page.locator(".viewer-image img").bounding_box()
        stage = page.locator(".viewer-image").bounding_box()
        downloads = page.locator(".viewer .downloads").bounding_box()
        delete = page.get_by_role("button", name="Delete this thumbnail").bounding_box()
        page.goto(f"{live_server.url}/studio/thumbnails/{wide.pk}")
        wide_picture = page.locator(".viewer-image img").bounding_box()
        column = page.locator(".viewer-image").bounding_box()
    assert downloads["y"] + downloads["height"] <= DESKTOP["height"], downloads
    assert delete["y"] + delete["height"] <= DESKTOP["height"], delete
    assert picture["height"] >= 400, picture  # not shrunk to a stamp
    # Centred in its column, not against its left edge with the right half empty.
    centre = picture["x"] + picture["width"] / 2
    assert abs(centre - (stage["x"] + stage["width"] / 2)) < 2, (picture, stage)
    assert abs(picture["width"] / picture["height"] - 768 / 1376) < 0.02, picture
    assert wide_picture["width"] >= 0.95 * column["width"], (wide_picture, column)
    assert abs(wide_picture["width"] / wide_picture["height"] - 1376 / 768) < 0.02


def test_the_edit_form_takes_at_most_four_references(live_server: Any) -> None:
    """The edit form let a creator tick all eight recent thumbnails as references, which the
    server then refused; at four (ticked and uploaded together) the other boxes are disabled
    with a note, and uploads past four are refused before anything is sent."""
    import io

    from PIL import Image
    from playwright.sync_api import expect

    png = io.BytesIO()
    Image.new("RGB", (64, 36), (20, 120, 200)).save(png, "PNG")
    owner = make_user("four-refs@example.com")
    source = ThumbnailFactory(owner=owner, title="Source", stored=True)
    for n in range(6):
        ThumbnailFactory(owner=owner, title=f"Other {n}", stored=True)
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/thumbnails/{source.pk}")
        # Nothing changed: the server's refusal, which a later submit stopped by the browser
        # (too many references, below) left standing (walkthrough 2, 61).
        make = page.get_by_role("button", name=re.compile("Make a new version"))
        make.click()
        errors = page.locator("#errors-edit_thumbnail")
        expect(errors).to_contain_text("change the text, style, palette or faces")
        boxes = page.locator("input.edit-ref")
        tiles = page.locator(".edit-ref-pick")
        note = page.locator("#edit-ref-full")
        expect(boxes).to_have_count(6)
        expect(note).to_be_hidden()
        for n in range(4):
            tiles.nth(n).click()
        expect(boxes.nth(4)).to_be_disabled()
        expect(boxes.nth(5)).to_be_disabled()
        expect(boxes.nth(3)).to_be_enabled()
        expect(note).to_have_text(
            "4 references picked, the most an edit takes: untick one to pick another."
        )
        tiles.nth(0).click()
        expect(boxes.nth(4)).to_be_enabled()
        expect(note).to_be_hidden()
        page.locator("#edit-uploads").set_input_files(
            [
                {"name": f"ref{n}.png", "mimeType": "image/png", "buffer": png.getvalue()}
                for n in range(2)
            ]
        )
        expect(note).to_have_text(
            "That makes 5 references; an edit takes at most 4. Untick some or choose fewer files."
        )
        page.locator("#edit-instruction").fill("Add the logo")
        page.evaluate(COUNT_SUBMITS, "#tool-edit_thumbnail")
        make.click()
        assert page.evaluate("window.__submits") == 0
        assert not page.locator("#tool-edit_thumbnail").evaluate("form => form.checkValidity()")
        expect(errors).to_be_empty()
    assert not Job.objects.filter(user=owner).exists()


def test_deleting_the_last_card_under_a_filter_says_nothing_matches(live_server: Any) -> None:
    """With the gallery filtered to favourites, deleting its one card left a blank grid; the
    page now says what the server's page would: nothing matches."""
    from playwright.sync_api import expect

    owner = make_user("last-card@example.com")
    favourite = ThumbnailFactory(owner=owner, title="The only favourite", is_favorite=True)
    ThumbnailFactory(owner=owner, title="Not a favourite")
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/?favorites=true")
        card = page.locator(f"#thumbnail-{favourite.pk}")
        card.wait_for()
        page.once("dialog", lambda dialog: dialog.accept())
        card.get_by_role("button", name="Delete").click()
        expect(card).to_have_count(0)
        expect(page.locator("#gallery-pages .empty")).to_have_text("No thumbnails match.")


def test_the_keyboard_keeps_its_place_in_the_gallery(live_server: Any) -> None:
    """Enter on a card's Favourite button swapped the card and dropped the focus to the top of
    the page, and so did deleting a card: a keyboard user started over from the header (third
    walkthrough). The Favourite button stays focused, and a deleted card's focus goes to the
    card that takes its place, or the one before it, or the gallery's heading."""
    from playwright.sync_api import expect

    owner = make_user("keyboard@example.com")
    newest, middle, oldest = reversed(ThumbnailFactory.create_batch(3, owner=owner))
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/")
        page.on("dialog", lambda dialog: dialog.accept())
        favourite = page.locator(f"#thumbnail-{middle.pk} button.fav")
        favourite.focus()
        page.keyboard.press("Enter")
        expect(favourite).to_have_attribute("aria-pressed", "true")
        expect(favourite).to_be_focused()
        # htmx wires a swapped-in card's buttons when it settles (20 ms after the swap, when it
        # takes the card's htmx-added class off): a key pressed before that does nothing.
        expect(page.locator(f"#thumbnail-{middle.pk}")).not_to_have_class(re.compile("htmx-added"))
        for gone, then in ((middle, oldest), (oldest, newest), (newest, None)):
            page.locator(f"#thumbnail-{gone.pk} button.delete").focus()
            page.keyboard.press("Enter")
            expect(page.locator(f"#thumbnail-{gone.pk}")).to_have_count(0)
            landing = f"#thumbnail-{then.pk}" if then else "#gallery-heading"
            expect(page.locator(landing)).to_be_focused()


def test_picking_a_project_puts_its_default_settings_in_the_form(live_server: Any) -> None:
    """A project's defaults are saved from the form and come back when it is picked again."""
    from playwright.sync_api import expect

    owner = make_user("defaults@example.com")
    set_plan(owner, "starter")
    shorts = Project.objects.create(owner=owner, name="Shorts")
    Project.objects.create(owner=owner, name="Long form")
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/")
        expect(page.locator("#save-project-defaults")).to_be_hidden()
        page.select_option("#project", label="Shorts")
        page.select_option("#aspect_ratio", "9:16")
        page.select_option("#resolution", "2K")
        page.select_option("#variations", "2")
        page.click("#save-project-defaults")
        expect(page.locator("#project-defaults-status")).to_have_text(
            "Saved as the defaults of “Shorts”."
        )
        page.select_option("#project", label="Long form")
        page.select_option("#aspect_ratio", "16:9")
        page.select_option("#resolution", "1K")
        page.select_option("#variations", "1")
        page.select_option("#project", label="Shorts")
        picked = [
            page.input_value(f"#{name}") for name in ("aspect_ratio", "resolution", "variations")
        ]
        summary = page.text_content("#output-summary")
        # Out of the project again: the settings from before its defaults come back.
        page.select_option("#project", label="Long form")
        restored = [
            page.input_value(f"#{name}") for name in ("aspect_ratio", "resolution", "variations")
        ]
        restored_note = page.text_content("#project-defaults-status")
    shorts.refresh_from_db()
    assert (shorts.default_settings["aspect_ratio"], shorts.default_settings["variations"]) == (
        "9:16",
        2,
    )
    assert picked == ["9:16", "2K", "2"]
    assert summary == "9:16 · 2K · 2 images"
    assert restored == ["16:9", "1K", "1"]
    assert restored_note == "Your settings from before the project's defaults are back."


def test_a_title_or_project_name_of_one_long_word_stays_on_a_phones_screen(
    live_server: Any,
) -> None:
    """A 100-character title with no space (a pasted URL, a word run together) pushed the large
    view's heading 1,000 px past a phone's screen, and the studio's "Project … created" line
    did the same: the whole page scrolled sideways (third walkthrough). Such text wraps."""
    word = ("Supercalifragilisticexpialidocious" * 3)[:100]
    owner = make_user("long-word@example.com")
    project = Project.objects.create(owner=owner, name=word, share_mode="all")
    thumbnail = ThumbnailFactory(owner=owner, title=word, project=project, stored=True)
    widths = {}
    with signed_in(live_server, owner, PHONE) as page:
        for path in (
            f"/studio/thumbnails/{thumbnail.pk}",
            "/studio/library/",
            "/studio/credits/",
            project.share_path,
            f"{project.share_path}t/{thumbnail.pk}",
            "/studio/",
        ):
            page.goto(f"{live_server.url}{path}")
            widths[path] = page.evaluate("() => document.documentElement.scrollWidth")
        page.fill("#new-project-name", word[::-1])
        page.click("form.new-project button[type=submit]")
        page.locator("#new-project-status").get_by_text("created").wait_for()
        widths["studio, project made"] = page.evaluate("() => document.documentElement.scrollWidth")
    assert widths == dict.fromkeys(widths, PHONE["width"])


def test_the_tab_keeps_no_copy_of_the_gallery_after_signing_out(live_server: Any) -> None:
    """Each filter change made htmx save a copy of the studio page (titles, signed image URLs)
    in the tab's sessionStorage, and it stayed there after signing out (third walkthrough)."""
    owner = make_user("history@example.com")
    ThumbnailFactory(owner=owner, title="Private draft title")
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/")
        page.fill("#gallery-q", "private")
        page.wait_for_url("**/studio/?*q=private*")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{live_server.url}/")
        stored = page.evaluate("() => JSON.stringify(Object.entries(sessionStorage))")
    assert "Private draft title" not in stored


def test_the_studio_opened_on_a_project_makes_new_thumbnails_in_it(live_server: Any) -> None:
    """Opened from the library's "open in the studio" (the gallery on one project), the form
    still made new thumbnails in no project: they showed at the top of that project's gallery
    and were gone from it on a reload (third walkthrough). The form now picks the project the
    studio opened on, with its default settings; without a project in the address it picks
    none."""
    from playwright.sync_api import expect

    owner = make_user("opened-on@example.com")
    set_plan(owner, "starter")
    shorts = Project.objects.create(
        owner=owner, name="Shorts", default_settings={"aspect_ratio": "9:16"}
    )
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/?project={shorts.pk}")
        expect(page.locator("#project")).to_have_value(str(shorts.pk))
        expect(page.locator("#aspect_ratio")).to_have_value("9:16")
        expect(page.locator("#save-project-defaults")).to_be_visible()
        page.goto(f"{live_server.url}/studio/?project=none")
        expect(page.locator("#project")).to_have_value("")
        expect(page.locator("#aspect_ratio")).to_have_value("16:9")


ADMIN_LISTS = (
    "billing/creditledgerentry",
    "billing/subscription",
    "auth/user",
    "studio/style",
    "studio/thumbnail",
)


def test_the_admins_lists_fit_beside_the_sidebar_and_filters(live_server: Any) -> None:
    """At 1440 px with the admin's navigation sidebar open, every column of each list is in
    view. The jobs list was 1053 px of table in a 791 px column (model, error code and date
    were off to the right); it shows the creator's email and a short date. A job's ledger
    reference ("job:<uuid>:debit"), the Stripe ids, the users' long dates, the styles' and the
    thumbnails' ran under the filters too (ops walkthroughs: 937, 982, 808, 799 and 811 px of
    table in a 791 px column). One browser context visits the six lists (the same rows serve
    them all; a context and a sign-in each cost more than a list's page)."""
    from billing.models import Subscription
    from billing.services import debit_credits
    from studio.models import Style

    admin_user = make_user("ops@example.com", is_staff=True, is_superuser=True)
    creator = make_user("a.rather.long.creator.address@example.com")
    for status in ("succeeded", "running", "failed"):
        Job.objects.create(
            user=creator,
            type="generate_thumbnails",
            model="gemini-3-pro-image-preview",
            status=status,
            progress=40,
            units=4,
            units_succeeded=2,
            units_failed=1,
            cost=16,
            error_code="provider_unavailable" if status == "failed" else "",
        )
    debit_credits(
        user=creator,
        amount=1,
        idempotency_key="job:85132160-6a86-498d-8f66-7e400083900a:debit",
        reason="generate_thumbnails x1",
        reference="job:85132160-6a86-498d-8f66-7e400083900a",
    )
    Subscription.objects.filter(user=creator).update(
        stripe_customer_id="cus_QwErTyUiOpAsDf12", stripe_subscription_id="sub_1QwErTyUiOpAsDfGh"
    )
    Style.objects.create(owner=creator, name="My Coffee Look", prompt="Warm cafe light")
    # Its date ran 20 px under the filters in Django's "Dec. 5, 2026, 1:01 a.m." (2026-12-05).
    made: Any = ThumbnailFactory(owner=creator, title="Free run 9: testing credits", stored=True)
    Thumbnail.objects.filter(pk=made.pk).update(
        created_at=datetime.datetime(2026, 12, 5, 12, 58, tzinfo=datetime.UTC),
        has_watermark=True,
        is_favorite=True,
    )
    sizes: dict[str, list[int]] = {}
    with signed_in(live_server, admin_user, DESKTOP) as page:
        page.goto(f"{live_server.url}/admin/generation/job/")
        results = page.locator("#changelist .results")
        sizes["generation/job"] = results.evaluate("el => [el.scrollWidth, el.clientWidth]")
        jobs = page.locator("#result_list").inner_text()
        for listing in ADMIN_LISTS:
            page.goto(f"{live_server.url}/admin/{listing}/")
            sizes[listing] = results.evaluate("el => [el.scrollWidth, el.clientWidth]")
    # (table width, column width) of each list whose table runs past its column
    wider = {listing: widths for listing, widths in sizes.items() if widths[0] > widths[1] + 1}
    assert wider == {}, sizes
    assert "a.rather.long.creator.address@example.com" in jobs
    assert "Running 40%" in jobs and "2/1 of 4" in jobs and "provider_unavailable" in jobs


def test_page_messages_float_and_go_away(live_server: Any) -> None:
    """A page message ("That project no longer exists ...") floats over the studio (in the
    flow it pushed the Generate button below the fold at 1440x900), lets clicks through around
    it, and goes with its close button."""
    from playwright.sync_api import expect

    owner = make_user("toast@example.com")
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/?project=999999")
        page.wait_for_url(f"{live_server.url}/studio/")
        toast = page.locator(".messages.toasts li")
        expect(toast).to_contain_text("That project no longer exists")
        generate = page.locator("#generate-form button[type=submit]").bounding_box()
        assert generate["y"] + generate["height"] <= DESKTOP["height"], generate
        assert (
            page.locator(".messages.toasts").evaluate("el => getComputedStyle(el).position")
            == "fixed"
        )
        toast.locator(".toast-close").click()
        expect(toast).to_have_count(0)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_sign_in_lands_with_no_toast_over_the_studio(
    live_server: Any, viewport: dict[str, int]
) -> None:
    """ "Successfully signed in as ..." floated over the first job's progress card (1440 px)
    and the top of the form (phone) for 8 s after a sign-in. The studio's header already says
    who is signed in: the studio shows no toast, its job list and form uncovered."""
    from tests.factories.accounts import PASSWORD

    owner = make_user(f"signin-{viewport['width']}@example.com")
    generate_job(owner, "Still rendering", "running", progress=20)
    with chromium() as browser:
        phone = viewport == PHONE
        page = browser.new_page(viewport=viewport, is_mobile=phone, has_touch=phone)
        page.goto(f"{live_server.url}/accounts/login/?next=/studio/")
        page.fill("input[name=login]", owner.email)
        page.fill("input[name=password]", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url("**/studio/")
        page.wait_for_selector("#jobs .job")
        screenshot(page, Path(f"/tmp/viewbait-after-sign-in-{viewport['width']}.png"))
        toasts = page.locator(".messages.toasts li").count()
    assert toasts == 0


def test_on_a_phone_the_style_menu_shows_the_picked_look_and_the_library_two_to_a_row(
    live_server: Any,
) -> None:
    """Beside the style menu, the picked style's preview (the palettes show their colours; a
    style was picked by its name alone: creator walkthrough); none for "No style". One a row,
    the built-in styles and palettes alone took some 3,000 px of a phone's library (creator
    walkthrough at 390 px): two a row, each whole, nothing wider than the screen. One phone
    context visits the studio, then the library."""
    from playwright.sync_api import expect

    from studio.models import Style

    creator = make_user("looks@example.com")
    first, other = Style.objects.filter(owner=None).order_by("name")[:2]
    with signed_in(live_server, creator, PHONE) as page:
        page.goto(f"{live_server.url}/studio/")
        preview = page.locator("#style-preview")
        expect(preview).to_be_visible()
        expect(preview).to_have_attribute("src", f"/studio/library/styles/{first.pk}/preview")
        page.select_option("#style", str(other.pk))
        expect(preview).to_have_attribute("src", f"/studio/library/styles/{other.pk}/preview")
        page.wait_for_function(
            "() => { const i = document.getElementById('style-preview');"
            " return i.complete && i.naturalWidth > 0; }"
        )
        menu, picture = page.locator("#style").bounding_box(), preview.bounding_box()
        assert picture["x"] >= menu["x"] + menu["width"], (menu, picture)  # beside, not over
        assert picture["x"] + picture["width"] <= PHONE["width"], picture
        page.select_option("#style", "")
        expect(preview).to_be_hidden()

        page.goto(f"{live_server.url}/studio/library/")
        for section in ("#styles", "#palettes"):
            tiles = page.locator(f"{section} .tiles > li")
            first_tile, second_tile = tiles.nth(0).bounding_box(), tiles.nth(1).bounding_box()
            assert abs(first_tile["y"] - second_tile["y"]) < 1, (section, first_tile, second_tile)
            assert second_tile["x"] >= first_tile["x"] + first_tile["width"], (
                section,
                first_tile,
                second_tile,
            )
            clipped = tiles.evaluate_all("els => els.filter(e => e.scrollWidth > e.clientWidth)")
            assert clipped == [], section
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_new_creator_lands_with_the_studio_uncovered(
    live_server: Any, viewport: dict[str, int]
) -> None:
    """Signed up, the studio shows one toast (the confirmation email's) and it covers neither
    the gallery's filters (1440 px: "Successfully signed in" under it covered the project menu
    and Favourites) nor the thumbnail text field (phone) while it lasts (creator walkthrough).
    On a phone it covered the "New thumbnail" heading and the "Your thumbnails ↓" link for 8 s
    (as it covered "Password changed" and the deleted account's "Sign up"): there the message
    is in the page's flow, above the content, and stays until its close button dismisses it."""
    from playwright.sync_api import expect

    with chromium() as browser:
        phone = viewport == PHONE
        page = browser.new_page(viewport=viewport, is_mobile=phone, has_touch=phone)
        page.goto(f"{live_server.url}/accounts/signup/")
        email = f"fresh-{viewport['width']}@example.com"  # allauth sends one per address a while
        page.fill("input[name=email]", email)
        page.fill("input[name=password1]", "a-Strong-pass-123")
        page.fill("input[name=password2]", "a-Strong-pass-123")
        page.click("form button[type=submit]")
        page.wait_for_url("**/studio/")
        toasts = page.locator(".messages.toasts li")
        expect(toasts).to_have_count(1)
        expect(toasts).to_contain_text(f"Confirmation email sent to {email}.")
        stack = page.locator(".messages.toasts").bounding_box()
        covered = ["#title", "#gallery-q", "#gallery-order", "#gallery-project"]
        covered += [".gallery-filters label.check", "#generate-heading", ".jump-gallery"]
        for selector in covered:
            box = page.locator(selector).bounding_box()
            if box and box["y"] < viewport["height"]:  # on screen with the toast
                assert not overlaps(stack, box), (selector, stack, box)
        assert page.locator(".messages.toasts").get_attribute("role") == "status"
        screenshot(page, Path(f"/tmp/viewbait-signed-up-{viewport['width']}.png"))
        if phone:  # in the flow: no fading out from under a finger, a close button to dismiss it
            assert toasts.evaluate("el => getComputedStyle(el).animationName") == "none"
            toasts.locator(".toast-close").click()
            expect(toasts).to_have_count(0)
            heading = page.locator("#generate-heading").bounding_box()
            assert heading and heading["y"] < stack["y"] + stack["height"]  # the page closed up


# A stand-in for the browser's WebSocket (the live server speaks no websocket): studio.js
# connects to it as usual, and the test fires its "open" and "message" events.
FAKE_SOCKET = """
window.__sockets = [];
window.WebSocket = class extends EventTarget {
  constructor(url) { super(); this.url = url; window.__sockets.push(this); }
  send() {}
  close() {}
};
window.__jobEvent = (job) => window.__sockets[0].dispatchEvent(
  new MessageEvent("message", { data: JSON.stringify({ type: "job.updated", job: job }) }));
"""


def test_a_job_that_finishes_while_its_card_loads_ends_shown_finished(live_server: Any) -> None:
    """studio.js: a card refresh asked for while another is in flight runs after it. The
    first refresh (a running job's event) is answered with the running card only after the
    "finished" event arrived; the card must still end finished, not "running" for good (the
    race behind a CI flake of test_edit_a_thumbnail_from_its_large_view)."""
    from playwright.sync_api import expect

    owner = make_user("race@example.com")
    job = generate_job(owner, "Racing", "running", stage="rendering", progress=40)
    held: list[tuple[Any, Any]] = []
    requests: list[str] = []

    def card_request(route: Any) -> None:
        requests.append(route.request.url)
        if len(requests) == 1:  # the running card, answered later
            held.append((route, route.fetch()))
        else:
            route.continue_()

    def finish() -> None:  # Playwright's thread may not use the ORM
        try:
            Job.objects.filter(pk=job.pk).update(
                status="succeeded", stage="succeeded", progress=100
            )
        finally:
            connection.close()

    with signed_in(live_server, owner, DESKTOP) as page:
        page.add_init_script(FAKE_SOCKET)
        page.route(f"**/studio/jobs/{job.pk}", card_request)
        page.goto(f"{live_server.url}/studio/")
        page.evaluate("() => window.__sockets[0].dispatchEvent(new Event('open'))")
        event = {"id": str(job.pk), "stage": "rendering", "progress": 40}
        page.evaluate("job => window.__jobEvent(job)", {**event, "status": "running"})
        while not held:
            page.wait_for_timeout(20)
        worker = threading.Thread(target=finish)
        worker.start()
        worker.join()
        page.evaluate(
            "job => window.__jobEvent(job)",
            {**event, "status": "succeeded", "stage": "succeeded", "progress": 100},
        )
        route, running_card = held[0]
        # The "succeeded" event has already marked the card; the held running card then
        # replaces it, and only the refresh queued behind it brings it back finished: wait for
        # that request before looking at the card (the mark alone passed too early).
        with page.expect_request(f"**/studio/jobs/{job.pk}", timeout=5000):
            route.fulfill(response=running_card)
        expect(page.locator(f"article#job-{job.pk}")).to_have_attribute(
            "data-status", "succeeded", timeout=5000
        )
    assert len(requests) == 2, requests


def test_a_late_running_event_does_not_reopen_a_cancelled_card(live_server: Any) -> None:
    """Events come from two processes: the web process publishes "cancelled" while the worker's
    last "running" event is still on its way. A card shown cancelled stayed "Rendering" at 40%
    for good when that event came second."""
    from playwright.sync_api import expect

    owner = make_user("late@example.com")
    job = generate_job(owner, "Cancelled", "cancelled", stage="cancelled")
    with signed_in(live_server, owner, DESKTOP) as page:
        page.add_init_script(FAKE_SOCKET)
        page.goto(f"{live_server.url}/studio/")
        page.evaluate(  # the cancelled card, as the cancel's answer brings it in
            f"() => htmx.ajax('GET', '/studio/jobs/{job.pk}', "
            "{target: '#jobs', swap: 'afterbegin'})"
        )
        card = page.locator(f"article#job-{job.pk}")
        expect(card).to_have_attribute("data-status", "cancelled")
        page.evaluate(
            "job => window.__jobEvent(job)",
            {"id": str(job.pk), "status": "running", "stage": "rendering", "progress": 40},
        )  # studio.js applies an event as it is dispatched, before evaluate returns
        expect(card).to_have_attribute("data-status", "cancelled")
        expect(card.locator("[data-stage]")).not_to_contain_text("Render")


def test_cards_that_finish_together_are_all_refreshed(live_server: Any) -> None:
    """studio.js: each card's refresh is its own request. htmx queues requests per source
    element, keeping only the newest waiting one and resolving the others' promises at once;
    with one shared source (the page's body), three jobs finishing while a refresh was in flight
    left the middle card showing "running" for good, under a finished status."""
    from playwright.sync_api import expect

    owner = make_user("together@example.com")
    jobs = [
        generate_job(owner, f"Together {n}", "running", stage="rendering", progress=40)
        for n in range(3)
    ]
    held: list[Any] = []

    def hold_first(route: Any) -> None:
        if not held:
            held.append(route)  # the first refresh stays in flight until all events are in
        else:
            route.continue_()

    def fail_all() -> None:  # Playwright's thread may not use the ORM
        try:
            Job.objects.filter(pk__in=[job.pk for job in jobs]).update(
                status="failed", units_failed=1, error="The image service failed."
            )
        finally:
            connection.close()

    with signed_in(live_server, owner, DESKTOP) as page:
        page.add_init_script(FAKE_SOCKET)
        page.goto(f"{live_server.url}/studio/")
        for job in jobs:
            page.locator(f"#job-{job.pk}").wait_for()
        worker = threading.Thread(target=fail_all)
        worker.start()
        worker.join()
        page.route("**/studio/jobs/*", hold_first)
        for job in jobs:
            page.evaluate(
                "job => window.__jobEvent(job)",
                {"id": str(job.pk), "status": "failed", "stage": "failed", "progress": 100},
            )
        while not held:
            page.wait_for_timeout(20)
        page.wait_for_timeout(200)  # the other events' refreshes asked for meanwhile
        held[0].continue_()
        for job in jobs:
            expect(page.locator(f"#job-{job.pk} .refund-note")).to_have_text(
                "Your 1 credit was refunded.", timeout=5000
            )


def failed_jobs(owner: Any, count: int) -> list[Job]:
    """`count` failed one-image generate jobs of `owner`, oldest first."""
    return [
        generate_job(owner, f"Broken {n}", "failed", units_failed=1, error="Failed.")
        for n in range(count)
    ]


def add_card(page: Any, job: Job) -> None:
    """`job`'s card on top of #jobs, as the websocket's refresh brings it in."""
    page.evaluate(
        f"() => htmx.ajax('GET', '/studio/jobs/{job.pk}', {{target: '#jobs', swap: 'afterbegin'}})"
    )
    page.locator(f"#job-{job.pk}").wait_for()


def test_finished_cards_beyond_the_newest_three_leave_but_not_the_keyboards(
    live_server: Any,
) -> None:
    """Pressing Better titles again and again (or several failures) does not push the gallery
    screens down: of the finished cards that stay, the newest 3 remain (studio.js). A creator
    tabbing through the oldest card's buttons keeps it when a 4th result arrives. One page
    serves both: the three cards left by the first part are the second's."""
    from playwright.sync_api import expect

    owner = make_user("pile@example.com")
    jobs = failed_jobs(owner, 5)
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/")
        for job in jobs[:4]:  # oldest first, each on top, as results arrive
            add_card(page, job)
        expect(page.locator("#jobs > article.job")).to_have_count(3)
        expect(page.locator(f"#job-{jobs[0].pk}")).to_have_count(0)
        for job in jobs[1:4]:
            expect(page.locator(f"#job-{job.pk}")).to_have_count(1)
        # The keyboard on the oldest card's Dismiss when the next result arrives.
        page.locator(f"#job-{jobs[1].pk} [data-dismiss-job]").focus()
        add_card(page, jobs[4])
        # Pruning runs once the new card has settled (htmx:afterSettle, in the task that takes
        # its .htmx-added away) and marks a card it dismisses .leaving at once; 250 ms later the
        # card is gone, which the count below would see.
        expect(page.locator(f"#job-{jobs[4].pk}")).not_to_have_class(re.compile("htmx-added"))
        assert page.locator("#jobs > .job.leaving").count() == 0
        expect(page.locator(f"#job-{jobs[1].pk}")).to_have_count(1)
        expect(page.locator("#jobs > article.job")).to_have_count(4)


def test_a_job_that_finishes_last_stays_though_it_started_first(live_server: Any) -> None:
    """The pruning goes by when cards finished: a generate started before three Better-titles
    presses that fails after them keeps its "refunded" card; the oldest finished card goes."""
    from playwright.sync_api import expect

    owner = make_user("order@example.com")
    slow = generate_job(owner, "Slow", "running", stage="rendering", progress=40)
    quick = failed_jobs(owner, 3)

    def fail_slow() -> None:  # Playwright's thread may not use the ORM
        try:
            Job.objects.filter(pk=slow.pk).update(status="failed", units_failed=1, error="Failed.")
        finally:
            connection.close()

    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/")
        page.locator(f"#job-{slow.pk}").wait_for()  # a job in flight: on the page from the start
        for job in quick:  # each on top as it finishes
            add_card(page, job)
        worker = threading.Thread(target=fail_slow)
        worker.start()
        worker.join()
        page.evaluate(  # its "failed" event's refresh
            f"() => htmx.ajax('GET', '/studio/jobs/{slow.pk}', "
            f"{{target: '#job-{slow.pk}', swap: 'outerHTML'}})"
        )
        expect(page.locator(f"#job-{quick[0].pk}")).to_have_count(0)
        expect(page.locator(f"#job-{slow.pk}")).to_have_attribute("data-status", "failed")
        expect(page.locator("#jobs > article.job")).to_have_count(3)


def test_a_card_brought_into_view_gets_there_though_its_scroll_was_cut_short(
    live_server: Any,
) -> None:
    """studio.js brings a new card into view with a smooth scroll, which the page changing
    under it or a busy machine can cut short (a CI flake left a finished check card in the
    lower part of the screen). Once the scroll should have ended the card is put in view at
    once; not when the creator scrolled meanwhile."""
    from playwright.sync_api import expect

    owner = library("cut@example.com", 30)
    first, second = failed_jobs(owner, 2)
    to_bottom = "() => window.scrollTo({top: document.body.scrollHeight, behavior: 'instant'})"
    with signed_in(live_server, owner, DESKTOP) as page:
        # The page's clock flows as usual; the test jumps it past studio.js's 1 s check instead
        # of waiting it out (the timer then has run, so the check below is no race).
        page.clock.install()
        page.goto(f"{live_server.url}/studio/")
        page.evaluate(to_bottom)
        add_card(page, first)  # revealed: a smooth scroll up starts...
        page.evaluate(to_bottom)  # ...and is cut short, far from the card
        card = page.locator(f"#job-{first.pk}")
        page.clock.fast_forward(1000)
        expect(card).to_be_in_viewport(timeout=3000)

        page.evaluate(to_bottom)
        add_card(page, second)
        # The wheel event reaches the page's script after the input call returns: seen (by a
        # listener added after studio.js's own) before the clock jumps.
        page.evaluate(
            "() => { window.__wheeled = new Promise((seen) =>"
            " addEventListener('wheel', seen, {once: true, passive: true})); }"
        )
        page.mouse.wheel(0, 400)  # the creator scrolls on: left where they are
        page.evaluate("() => window.__wheeled.then(() => true)")
        page.evaluate(to_bottom)
        page.clock.fast_forward(1500)
        expect(page.locator(f"#job-{second.pk}")).not_to_be_in_viewport()


@pytest.fixture
def inline_worker() -> Iterator[None]:
    """The in-process Dramatiq worker (generation.actors, JOBS_RUN_INLINE) for one test: messages
    other tests left on the stub broker are dropped first, and the worker is stopped after the
    test, once its work in progress is done. Left running, it wrote after the job's card showed
    it finished (its last commit deadlocked the teardown's flush once) and went on running
    later tests' jobs behind their backs."""
    import dramatiq

    from generation import actors

    broker = dramatiq.get_broker()
    for queue in broker.queues.values():
        while not queue.empty():
            queue.get_nowait()
    yield
    if actors._inline_worker is not None:
        actors._inline_worker.stop()
        actors._inline_worker = None


def test_better_titles_answers_under_the_title_field(
    live_server: Any, settings: Any, inline_worker: None
) -> None:
    """Better titles' card lands under the field it fills (on a phone the jobs list is a screen
    below), its refreshes inside the generate form take none of the form's hx- settings, and a
    suggestion fills the field."""
    from playwright.sync_api import expect

    settings.JOBS_RUN_INLINE = True  # an in-process worker runs the job (`inline_worker`)
    owner = make_user("titles@example.com")
    set_plan(owner, "starter")
    with signed_in(live_server, owner, PHONE) as page:
        errors: list[str] = []
        page.on(  # the test server has no websockets: the studio polls instead
            "console",
            lambda m: (
                errors.append(m.text) if m.type == "error" and "WebSocket" not in m.text else None
            ),
        )
        page.goto(f"{live_server.url}/studio/")
        page.fill("#title", "I Tried Every Single Coffee Shop In My City And Ranked Them All")
        page.click("button.better-titles")
        card = page.locator("#results-enhance_title .job")
        expect(card).to_have_attribute("data-status", "succeeded", timeout=20000)
        pick = card.locator(".title-pick").first
        suggestion = pick.get_attribute("data-fill-title")
        pick.click()
        filled = page.input_value("#title")
        in_jobs = page.locator("#jobs .job").count()
    assert suggestion and filled == suggestion
    assert in_jobs == 0
    assert errors == [], errors


def test_without_a_websocket_the_page_polls_at_the_servers_interval(
    live_server: Any, settings: Any
) -> None:
    """The test server has no websockets, so the studio falls back to fetching its unfinished
    cards every settings.STUDIO_POLL_MS (the page's #live-updates), not a fixed 4 s."""
    settings.STUDIO_POLL_MS = 2000
    owner = make_user("poll@example.com")
    job = generate_job(owner, "Polled", "running", stage="rendering", progress=40)
    with signed_in(live_server, owner, DESKTOP) as page:
        page.clock.install()
        page.goto(f"{live_server.url}/studio/")
        page.wait_for_function("() => document.body.dataset.live === 'off'")  # socket refused
        # From here the page's time moves only as the test moves it.
        page.clock.pause_at(page.evaluate("Date.now()") + 10)
        with page.expect_request(lambda r: f"/studio/jobs/{job.pk}" in r.url, timeout=5000):
            page.clock.run_for(2100)  # one interval of 2 s; the old fixed 4 s had none


def test_a_reload_does_not_move_a_running_jobs_bar_back(live_server: Any) -> None:
    """The database has a running job's progress as of its last lease renewal, seconds behind
    the live events: a reload put a bar at 50% back to 32%. The tab remembers the furthest."""
    from playwright.sync_api import expect

    owner = make_user("reload@example.com")
    job = generate_job(owner, "Reloaded", "running", stage="rendering", progress=32)
    with signed_in(live_server, owner, DESKTOP) as page:
        page.add_init_script(FAKE_SOCKET)
        page.goto(f"{live_server.url}/studio/")
        card = page.locator(f"article#job-{job.pk}")
        expect(card.locator("[data-percent]")).to_have_text("32%")
        event = {"id": str(job.pk), "status": "running", "stage": "rendering", "progress": 50}
        page.evaluate("job => window.__jobEvent(job)", event)
        expect(card.locator("[data-percent]")).to_have_text("50%")
        page.reload()  # the server still says 32%
        expect(card.locator("[data-percent]")).to_have_text("50%")
        # The card fetched again, as the socket's catch-up and the polling do (htmx settles a
        # replaced card's style after the swap): the bar itself stays at 50% too.
        page.evaluate(  # until it has settled: studio.js's own afterSettle listener ran first
            "() => new Promise((settled) => {"
            " document.addEventListener('htmx:afterSettle', settled, {once: true});"
            f" htmx.ajax('GET', '/studio/jobs/{job.pk}', "
            f"{{source: '#job-{job.pk}', target: '#job-{job.pk}', swap: 'outerHTML'}}); }})"
        )
        bar = "el => getComputedStyle(el).getPropertyValue('--progress').trim()"
        assert card.evaluate(bar) == "50%"
        expect(card.locator("[data-percent]")).to_have_text("50%")
        # A late one (applied as it is dispatched, before evaluate returns).
        page.evaluate("job => window.__jobEvent(job)", {**event, "progress": 45})
        expect(card.locator("[data-percent]")).to_have_text("50%")
        assert card.locator("[role=progressbar]").get_attribute("aria-valuenow") == "50"
        # Put back in the queue: the new status and stage show, with the figure they bring.
        page.evaluate(
            "job => window.__jobEvent(job)",
            {**event, "status": "queued", "stage": "waiting", "progress": 40},
        )
        expect(card).to_have_attribute("data-status", "queued")
        expect(card.locator("[data-percent]")).to_have_text("40%")
        assert page.evaluate(f"sessionStorage.getItem('vb-progress-{job.pk}')")
        page.evaluate(
            "job => window.__jobEvent(job)",
            {**event, "status": "succeeded", "stage": "succeeded", "progress": 100},
        )
        page.wait_for_function(f"() => sessionStorage.getItem('vb-progress-{job.pk}') === null")


def test_the_credit_history_on_a_phone_keeps_quotes_in_place_and_gives_titles_the_room(
    live_server: Any,
) -> None:
    """The history names a job by its title in quotes: an Arabic title turned its own quote
    marks round (the title's direction took the quotes with it), on a phone most visibly. And
    the date and time on one unbreakable line took a third of a phone's row, and the
    thumbnail's title (or the video's address) beside it wrapped over four lines: the time now
    goes under the date there. One page at 390 px, with a row of each, serves both."""
    from billing.services import debit_credits

    owner = make_user("phone-history@example.com")
    for key, title in (
        ("rtl-1", RTL_TITLE),
        ("narrow-1", "I Tried 100 Coffee Shops: Only 1 Was Worth It"),
    ):
        job = generate_job(owner, title, "succeeded")
        debit_credits(
            user=owner, amount=1, idempotency_key=key, reason="x", reference=f"job:{job.pk}"
        )
    with signed_in(live_server, owner, PHONE) as page:
        page.goto(f"{live_server.url}/studio/credits/")
        places = page.evaluate(
            """() => {
              const span = [...document.querySelectorAll('.ledger-title')]
                .find((title) => /[\u0600-\u06ff]/.test(title.textContent));
              const text = document.createTreeWalker(span, NodeFilter.SHOW_TEXT);
              const nodes = [];
              while (text.nextNode()) nodes.push(text.currentNode);
              const box = (node, at) => {
                const range = document.createRange();
                range.setStart(node, at);
                range.setEnd(node, at + 1);
                return range.getBoundingClientRect();
              };
              const first = nodes[0], last = nodes[nodes.length - 1];
              return {open: [first.data[0], box(first, 0).left],
                      close: [last.data[last.data.length - 1], box(last, last.data.length - 1).left],
                      top: [box(first, 0).top, box(last, last.data.length - 1).top],
                      left: span.getBoundingClientRect().left};
            }"""
        )
        row = page.locator(".ledger tbody tr", has_text="I Tried 100 Coffee Shops")
        when = row.locator("td").nth(0).bounding_box()
        what = row.locator("td").nth(1).bounding_box()
        time_lines = (
            row.locator("td")
            .nth(0)
            .evaluate(
                "td => [...td.querySelectorAll('.day')].map(s => Math.round(s.getBoundingClientRect().top))"
            )
        )
    assert places["open"][0] == "\u201c" and places["close"][0] == "\u201d", places
    assert places["open"][1] - places["left"] < 4, places  # it starts the line, on the left
    if places["top"][0] == places["top"][1]:  # on one line: the closing quote ends it
        assert places["open"][1] < places["close"][1], places
    else:  # wrapped: the opening quote's line is above the closing one's
        assert places["top"][0] < places["top"][1], places
    assert when["width"] < 100, when
    assert what["width"] > 120, what
    assert len(time_lines) == 2 and time_lines[0] < time_lines[1]  # the time under the date


def test_generate_follows_the_price_of_the_choices_and_the_balance_live(live_server: Any) -> None:
    """Generate says what the form's choices cost and is disabled, with why and a link to the
    plans, while they cost more than the balance: live as the resolution and variations change,
    and as the credits badge changes after a generate (2K with 1 credit left), instead of
    staying enabled for a 402."""
    from playwright.sync_api import expect

    from billing.services import adjust_credits, get_balance

    Plan.objects.filter(slug="pro").update(generate_cooldown_seconds=0)
    owner = make_user("price@example.com")
    set_plan(owner, "pro")
    adjust_credits(user=owner, amount=3 - get_balance(owner), idempotency_key="3", reason="t")
    errors: list[str] = []
    for viewport in (PHONE, DESKTOP):  # the phone only changes the choices
        with signed_in(live_server, owner, viewport) as page:
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{live_server.url}/studio/")
            generate = page.locator("#generate-form button[type=submit]")
            why = page.locator("#needs-credits-generate")
            expect(generate).to_have_text("Generate · 1 credit")
            expect(generate).to_be_enabled()
            expect(why).to_be_hidden()
            page.select_option("#resolution", "2K")
            expect(generate).to_have_text("Generate · 2 credits")
            expect(generate).to_be_enabled()
            page.select_option("#variations", "2")  # 4 credits, 3 in the balance
            expect(generate).to_have_text("Generate · 4 credits")
            expect(generate).to_be_disabled()
            expect(why).to_be_visible()
            expect(why).to_have_text("Needs 4 credits; you have 3. See plans")
            expect(why.get_by_role("link", name="See plans")).to_have_attribute("href", "/plans/")
            page.select_option("#variations", "1")
            expect(generate).to_have_text("Generate · 2 credits")
            expect(generate).to_be_enabled()
            expect(why).to_be_hidden()
            if viewport == PHONE:
                assert not errors, errors
                continue
            # A 2K generate leaves 1 credit: the badge's change disables Generate, with why.
            page.fill("#title", "Priced right")
            generate.click()
            expect(page.locator("#credits")).to_have_text("1 credit")
            expect(generate).to_be_disabled()
            expect(why).to_have_text("Needs 2 credits; you have 1. See plans")
            expect(page.locator("#out-of-credits")).to_be_hidden()
            page.select_option("#resolution", "1K")
            expect(generate).to_have_text("Generate · 1 credit")
            expect(generate).to_be_enabled()
            expect(why).to_be_hidden()
            assert not errors, errors
    assert get_balance(owner) == 1


def test_a_concept_clicked_in_the_studio_fills_the_text_and_picks_its_style(
    live_server: Any, settings: Any, inline_worker: None, gemini_settings: FakeGemini
) -> None:
    """In Chromium at phone width: From a YouTube video -> Suggest concepts -> the card under
    the field -> a click puts the concept's text in the title field and picks its style."""
    from playwright.sync_api import expect

    settings.JOBS_RUN_INLINE = True  # an in-process worker runs the job (`inline_worker`)
    owner = make_user("concepts@example.com")
    set_plan(owner, "pro")
    style = Style.objects.get(slug="minimal")
    gemini_settings.json_answer = {
        "concepts": [
            {"text": "ONLY 1 WAS WORTH IT", "style": style.name, "scene": "Cups", "why": "Gap"},
            {"text": "100 SHOPS", "style": "Bold Gaming", "scene": "A wall of cups", "why": "#"},
        ]
    }
    with signed_in(live_server, owner, PHONE) as page:
        page.goto(f"{live_server.url}/studio/")
        page.click("#video-analysis > summary")
        page.fill("#video-url", "https://youtu.be/dQw4w9WgXcQ")
        page.click("#suggest-concepts-button")
        card = page.locator("#results-suggest_concepts .job")
        expect(card).to_have_attribute("data-status", "succeeded", timeout=20000)
        card.locator(".title-pick").first.click()
        title, picked = page.input_value("#title"), page.input_value("#style")
        in_jobs = page.locator("#jobs .job").count()
    assert (title, picked) == ("ONLY 1 WAS WORTH IT", str(style.pk))
    assert in_jobs == 0  # nothing was generated


# What moves of a gallery card, a job card, the spinner, a progress bar and its shimmer (each
# put in the page for the look, then taken out): animation names, the bar's transition.
REDUCED_MOTION_CHECK = """() => {
  const made = [];
  const add = (html) => {
    const holder = document.createElement("div");
    holder.innerHTML = html;
    document.getElementById("main").append(holder);
    made.push(holder);
    return holder.firstElementChild;
  };
  const thumb = add('<article class="thumb"></article>');
  const job = add('<div class="job"></div>');
  const spinner = add('<span class="spinner"></span>');
  const bar = add('<div class="progress"><span></span></div>').firstElementChild;
  const look = {
    thumb: getComputedStyle(thumb).animationName,
    job: getComputedStyle(job).animationName,
    spinner: getComputedStyle(spinner).animationName,
    bar: getComputedStyle(bar).transitionDuration,
    shimmer: getComputedStyle(bar, "::after").animationName,
  };
  made.forEach((el) => el.remove());
  return look;
}"""


def test_the_model_section_opens_above_the_generate_bar(
    live_server: Any, gemini_settings: FakeGemini
) -> None:
    """The Model section is the form's last, right above the Generate bar pinned to the bottom
    of the form's column (a desktop's; on a phone the page scrolls as a whole and the bar is
    not pinned): opening it put its options under the bar until the creator scrolled the form.
    Once open it is scrolled into view above the bar."""
    owner = make_user("model@example.com")
    set_plan(owner, "pro")
    with signed_in(live_server, owner, DESKTOP) as page:
        page.emulate_media(reduced_motion="reduce")
        page.goto(f"{live_server.url}/studio/")
        # Reduced motion, while here: nothing moves by itself (walkthrough 2, 96: gallery cards
        # slid in, the spinner turned for ever, the bar's width slid).
        motion = page.evaluate(REDUCED_MOTION_CHECK)
        assert motion == {
            "thumb": "none",
            "job": "none",
            "spinner": "none",
            "bar": "0s",
            "shimmer": "none",
        }, motion
        summary = page.locator(".generate details.advanced summary")
        summary.scroll_into_view_if_needed()
        # The summary just above the bar, as a creator scrolling down to it finds it.
        page.evaluate(
            """() => {
              const summary = document.querySelector('.generate details.advanced summary');
              const bar = document.querySelector('.generate .submit-row');
              const gap = bar.getBoundingClientRect().top - summary.getBoundingClientRect().bottom;
              const panel = document.querySelector('.generate');
              const scroller = panel.scrollHeight > panel.clientHeight + 1 ? panel : null;
              (scroller || window).scrollBy(0, -(gap - 4));
            }"""
        )
        summary.click()
        page.wait_for_function(
            """() => document.getElementById('model').getBoundingClientRect().bottom
                 <= document.querySelector('.generate .submit-row').getBoundingClientRect().top""",
            polling=50,
            timeout=3000,
        )


# The placeholder's text width against the room the input gives it (its content box), in the
# font the placeholder is drawn in.
PLACEHOLDER_FIT = """el => {
  const style = getComputedStyle(el, "::placeholder");
  const box = getComputedStyle(el);
  const context = document.createElement("canvas").getContext("2d");
  context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const room = el.clientWidth - parseFloat(box.paddingLeft) - parseFloat(box.paddingRight);
  return {text: el.placeholder, width: context.measureText(el.placeholder).width, room};
}"""


def test_the_title_fields_example_fits_a_phone_and_stays_whole_on_a_desktop(
    live_server: Any,
) -> None:
    """On a phone the title field's example was cut off ("I Tried 100 Coffee Shops: Only 1
    W"): a shorter one there, the whole one on a desktop."""
    creator = make_user("placeholder@example.com")
    seen = {}
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        with signed_in(live_server, creator, viewport) as page:
            page.goto(f"{live_server.url}/studio/")
            fit = page.locator("#title").evaluate(PLACEHOLDER_FIT)
            assert fit["width"] <= fit["room"], (name, fit)
            seen[name] = fit["text"]
    assert seen["desktop"] == "I Tried 100 Coffee Shops: Only 1 Was Worth It"
    assert ":" in seen["phone"]  # still shows the headline: sub-line form


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_thumbnail_made_public_on_its_large_view_opens_as_a_page_for_anyone(
    live_server: Any, viewport: dict[str, int], tmp_path: Any
) -> None:
    """ "Make public", "Copy" (the link on the clipboard), then the link in a signed-out
    browser: the thumbnail's own page with its image; "Make private" and the link is gone."""
    from playwright.sync_api import expect

    from tests.browser import screenshot
    from tests.test_private_media import store_thumbnail

    creator = make_user(f"public-{viewport['width']}@example.com")
    thumbnail = store_thumbnail(creator)
    with signed_in(live_server, creator, viewport) as page:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        page.goto(f"{live_server.url}/studio/thumbnails/{thumbnail.pk}")
        # By keyboard: a secondary button shows the focus ring (its own box-shadow hid it), and
        # after the page comes back the keyboard is at the public link, not the page's top
        # (walkthrough 2: 30, 31, 09).
        make_public = page.get_by_role("button", name="Make public")
        ring = "el => { const s = getComputedStyle(el); return [s.boxShadow, s.outlineStyle]; }"
        unfocused = make_public.evaluate(ring)
        make_public.focus()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")
        expect(make_public).to_be_focused()
        assert make_public.evaluate("el => el.matches(':focus-visible')")
        assert make_public.evaluate(ring) != unfocused, unfocused
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"#public-link$"))
        expect(page.locator("#public-link")).to_be_focused()
        page.keyboard.press("Tab")
        link = page.locator("#public-url")
        expect(link).to_be_focused()
        expect(link).to_be_visible()
        url = link.input_value()
        assert url.startswith(f"{live_server.url}/p/")
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == url
        screenshot(page, tmp_path / f"public-large-view-{viewport['width']}.png", full_page=True)

        visitor = page.context.browser.new_page(viewport=viewport)
        visitor.goto(url)
        expect(visitor.get_by_role("heading", name="Private")).to_be_visible()
        visitor.wait_for_function(
            "() => { const i = document.querySelector('.viewer-image img');"
            " return i && i.complete && i.naturalWidth > 0; }"
        )
        assert visitor.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        screenshot(visitor, tmp_path / f"public-page-{viewport['width']}.png", full_page=True)

        page.get_by_role("button", name="Make private").click()
        expect(page.get_by_role("button", name="Make public")).to_be_visible()
        assert visitor.goto(url).status == 404


def test_a_generate_after_signing_out_in_another_tab_goes_to_sign_in_and_back(
    live_server: Any,
) -> None:
    """Signed out in another tab, Generate in the studio's tab swapped the whole sign-in page,
    site header and all, into the job list while the top bar still showed the credits. The tab
    goes to the sign-in page instead, and signing in brings the creator back to the studio with
    the text they had typed."""
    from tests.factories.accounts import PASSWORD

    def sign_out_elsewhere_then_generate(page: Any) -> None:
        other = page.context.new_page()  # the same session, in another tab
        other.goto(f"{live_server.url}/studio/")
        with other.expect_navigation():
            other.locator("header form button", has_text="Sign out").click()
        other.close()
        page.locator("#generate-form button[type=submit]").click()

    def sign_in_as(page: Any, email: str) -> None:
        page.fill("input[name=login]", email)
        page.fill("input[name=password]", PASSWORD)
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_url(f"{live_server.url}/studio/")

    owner = make_user("signedout@example.com")
    make_user("someone-else@example.com")
    with signed_in(live_server, owner, DESKTOP) as page:
        page.goto(f"{live_server.url}/studio/")
        page.fill("#title", "After signing out")
        sign_out_elsewhere_then_generate(page)
        page.wait_for_url(re.compile(r"/accounts/login/\?next=%2Fstudio%2F$"))
        headers = page.locator("header").count()
        in_jobs = page.locator("#jobs").count()
        screenshot(page, Path("/tmp/viewbait-signed-out-sign-in.png"))
        sign_in_as(page, "signedout@example.com")
        kept = page.input_value("#title")  # what was typed comes back with the creator
        page.reload()
        after_reload = page.input_value("#title")  # once: a later visit starts afresh
        # Signed out again with a draft, and someone else signs in on this tab: not theirs.
        page.fill("#title", "Not for the next person")
        sign_out_elsewhere_then_generate(page)
        page.wait_for_url(re.compile(r"/accounts/login/"))
        sign_in_as(page, "someone-else@example.com")
        someone_else_sees = page.input_value("#title")
    assert headers == 1 and in_jobs == 0
    assert not Job.objects.filter(user=owner).exists()
    assert kept == "After signing out"
    assert after_reload == ""
    assert someone_else_sees == ""
