"""Studio craft on the server side: refusals that start no cooldown, out-of-credits guidance,
share pages, download names, projects created without a reload, style previews, the admin."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client
from django.utils.html import escape

from billing.models import RESOLUTION_COST, Plan
from billing.services import adjust_credits, get_balance
from core import ratelimits
from generation.models import Job
from generation.sizes import pixel_size
from studio.downloads import youtube_size
from studio.models import Project, Style, Thumbnail
from tests.conftest import set_plan
from tests.factories.generation import JobFactory
from tests.factories.studio import ThumbnailFactory, stored_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits_on(settings: Any, clean_cache: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Limits on, with the weighted limiter's clock (core.ratelimits.clock) stopped, as
    tests/test_ratelimits.py's `limits`: generate's budget counts in fixed one-minute windows,
    and one that ended between a test's requests reset the count it checks (the refused 4K's
    units were gone from the accepted request's RateLimit); a stopped clock also keeps a
    cooldown's seconds left whole however slowly the requests run."""
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_CACHE_PREFIX = f"rl:{uuid.uuid4().hex}:"
    stopped = time.time()
    monkeypatch.setattr(ratelimits, "clock", lambda: stopped)
    return settings


def generate(client: Any, **body: Any) -> Any:
    return client.post_json(
        "/api/generate", {"title": "Cool down", **body}, HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
    )


def remaining(response: Any) -> int:
    """The generate budget left, from the RateLimit header ("generate";r=N;t=S, ...)."""
    first = response["RateLimit"].split(", ")[0]
    return int(dict(p.split("=") for p in first.split(";")[1:])["r"])


def test_a_plan_refusal_starts_no_cooldown_but_counts(limits_on: Any, owner_client: Any) -> None:
    assert Plan.objects.get(slug="free").generate_cooldown_seconds == 12
    refused = generate(owner_client, resolution="4K")  # Free has 1K only
    assert refused.status_code == 403
    accepted = generate(owner_client, resolution="1K")
    assert accepted.status_code == 202, accepted.content  # at once: no 12 s wait
    # The refused request still counted: 4 units (4K) + 1 unit drawn from the budget.
    budget = limits_on.RATE_LIMITS["generate"]["rates"]
    free = int((budget.get("free") or budget["*"]).split("/")[0])
    assert remaining(accepted) == free - 4 - 1
    assert generate(owner_client).status_code == 429  # the accepted one does start it


def test_the_studio_page_says_how_long_a_running_cooldown_has_left(
    limits_on: Any, owner_client: Any
) -> None:
    assert 'id="generate-form" hx-post' in owner_client.get("/studio/").content.decode()
    assert generate(owner_client).status_code == 202  # Free: 12 s until the next one
    page = owner_client.get("/studio/").content.decode()
    assert re.search(r'id="generate-form" data-cooldown="1[12]" data-cooldown-every="12"', page)


def test_an_insufficient_credits_refusal_starts_no_cooldown(
    limits_on: Any, owner: Any, owner_client: Any
) -> None:
    adjust_credits(user=owner, amount=-get_balance(owner), idempotency_key="zero", reason="t")
    refused = generate(owner_client)
    assert refused.status_code == 402
    adjust_credits(user=owner, amount=5, idempotency_key="five", reason="t")
    assert generate(owner_client).status_code == 202


def test_out_of_credits_disables_generate_and_says_when_credits_renew(
    owner: Any, owner_client: Any
) -> None:
    adjust_credits(user=owner, amount=-get_balance(owner), idempotency_key="zero", reason="t")
    page = owner_client.get("/studio/").content.decode()
    renews = owner.subscription.current_period_end
    assert 'class="button big" disabled' in page
    assert "You are out of credits; your plan's credits renew on" in page
    assert f"{renews.day} {renews.strftime('%B')}" in page
    # Payments are off here: no credit packs to buy, so the link does not promise them.
    assert 'href="/plans/">See plans</a>' in page and "credit packs" not in page
    form = owner_client.post(
        "/studio/generate", {"title": "No credits"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "This needs 1 credit; you have 0. Your plan&#x27;s credits renew on" in form
    assert 'href="/plans/"' in form


def test_pages_have_exactly_one_h1(owner: Any, owner_client: Any) -> None:
    for path in ("/studio/", "/studio/library/", "/plans/", "/accounts/delete/"):
        assert owner_client.get(path).content.decode().count("<h1") == 1, path


@pytest.fixture
def shared(owner: Any) -> tuple[Project, Thumbnail]:
    """A finished generate job's thumbnail (tests.factories: stored files), in a shared project."""
    JobFactory(
        user=owner, title="Coffee Shops Ranked: All 100", status="succeeded", thumbnails=True
    )
    thumbnail = Thumbnail.objects.get(owner=owner)
    project = Project.objects.create(owner=owner, name="Coffee", share_mode="all")
    thumbnail.project = project
    thumbnail.save(update_fields=["project"])
    return project, thumbnail


def test_a_shared_thumbnail_opens_in_a_page(shared: Any) -> None:
    project, thumbnail = shared
    response = Client().get(f"{project.share_path}t/{thumbnail.pk}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert '<h1 dir="auto">Coffee Shops Ranked: All 100</h1>' in body
    assert f'href="{project.share_path}"' in body
    other = Project.objects.create(owner=project.owner, name="Other", share_mode="all")
    assert Client().get(f"{other.share_path}t/{thumbnail.pk}").status_code == 404
    assert Client().get(f"/share/{'x' * 22}/t/{thumbnail.pk}").status_code == 404
    Thumbnail.objects.filter(pk=thumbnail.pk).update(project=None)
    assert Client().get(f"{project.share_path}t/{thumbnail.pk}").status_code == 404


def test_download_names_carry_the_title(shared: Any, owner_client: Any) -> None:
    _, thumbnail = shared
    youtube = owner_client.get(f"/api/thumbnails/{thumbnail.pk}/download?size=youtube")
    assert 'filename="coffee-shops-ranked-all-100-youtube.jpg"' in youtube["Content-Disposition"]
    full = owner_client.get(f"/api/thumbnails/{thumbnail.pk}/download?size=full")
    assert 'filename="coffee-shops-ranked-all-100-full.png"' in full["Content-Disposition"]
    Thumbnail.objects.filter(pk=thumbnail.pk).update(title="東京の朝")
    japanese = owner_client.get(f"/api/thumbnails/{thumbnail.pk}/download?size=youtube")
    assert (
        "filename*=utf-8''%E6%9D%B1%E4%BA%AC%E3%81%AE%E6%9C%9D-youtube.jpg"
        in (japanese["Content-Disposition"])
    )
    # With digits in it, a title in another script lost its words: "100-youtube.jpg" (third
    # walkthrough). Accented Latin still reads as ASCII.
    for title, name in (
        ("مقهى 100", "%D9%85%D9%82%D9%87%D9%89-100-youtube.jpg"),
        ("東京の朝 2", "%E6%9D%B1%E4%BA%AC%E3%81%AE%E6%9C%9D-2-youtube.jpg"),
    ):
        Thumbnail.objects.filter(pk=thumbnail.pk).update(title=title)
        answer = owner_client.get(f"/api/thumbnails/{thumbnail.pk}/download?size=youtube")
        assert f"filename*=utf-8''{name}" in answer["Content-Disposition"], title
    Thumbnail.objects.filter(pk=thumbnail.pk).update(title="Café crème: 10 cups")
    french = owner_client.get(f"/api/thumbnails/{thumbnail.pk}/download?size=youtube")
    assert 'filename="cafe-creme-10-cups-youtube.jpg"' in french["Content-Disposition"]


def test_a_project_made_in_the_studio_answers_json_without_a_reload(
    owner: Any, owner_client: Any
) -> None:
    made = owner_client.post("/studio/projects", {"name": "Morning"}, HTTP_HX_REQUEST="true")
    assert made.status_code == 201
    assert "HX-Refresh" not in made
    project = Project.objects.get(owner=owner, name="Morning")
    assert made.json() == {"id": project.pk, "name": "Morning", "before_id": None}
    refused = owner_client.post("/studio/projects", {"name": " "}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 400
    assert set(refused.json()) == {"error", "code"}


def test_every_style_has_a_preview(owner: Any, owner_client: Any, other: Any) -> None:
    caches["default"].clear()
    library = owner_client.get("/studio/library/").content.decode()
    styles = list(Style.objects.filter(owner=None))
    assert styles
    for style in styles:
        assert f'src="/studio/library/styles/{style.pk}/preview"' in library
    style = styles[0]
    response = owner_client.get(f"/studio/library/styles/{style.pk}/preview")
    assert response.status_code == 302
    style.refresh_from_db()
    assert style.preview and style.preview.name.endswith(".webp")
    from PIL import Image

    with Image.open(style.preview.open("rb")) as image:
        assert image.size == (640, 360)
    private = Style.objects.create(owner=other, name="Secret", prompt="x")
    assert owner_client.get(f"/studio/library/styles/{private.pk}/preview").status_code == 404


def test_admin_previews_images_and_offers_no_upload_for_generated_files(
    shared: Any, staff: Any
) -> None:
    _, thumbnail = shared
    client = Client()
    client.force_login(staff)
    listing = client.get("/admin/studio/thumbnail/").content.decode()
    assert f'<img src="{escape(thumbnail.image_small.url)}"' in listing
    # Six columns (and the checkbox), so the list fits beside the filters at 1440 px.
    results = listing[listing.index('id="result_list"') :]
    assert results[: results.index("</thead>")].count('<th scope="col"') == 7
    assert f"{thumbnail.aspect_ratio} · {thumbnail.resolution}" in listing
    change = client.get(f"/admin/studio/thumbnail/{thumbnail.pk}/change/").content.decode()
    assert 'type="file"' not in change
    assert f'<img src="{escape(thumbnail.image_medium.url)}"' in change
    jobs = client.get("/admin/generation/job/").content.decode()
    job = Job.objects.get(user=thumbnail.owner)
    summary = f"{job.units_succeeded}/{job.units_failed} of {job.units}"
    assert str(job.pk).split("-")[0] in jobs and summary in jobs


def test_the_admin_offers_no_always_empty_dramatiq_tasks_page(staff: Any) -> None:
    """django_dramatiq's "Tasks" admin lists what its AdminMiddleware records, which this broker
    does not run: the page stayed empty however many jobs ran. Jobs are the record."""
    client = Client()
    client.force_login(staff)
    index = client.get("/admin/").content.decode()
    assert "/admin/generation/job/" in index and "/admin/django_dramatiq/" not in index
    assert client.get("/admin/django_dramatiq/task/").status_code == 404


def test_the_admin_adds_no_thumbnail_and_keeps_what_describes_its_files(
    shared: Any, staff: Any
) -> None:
    """An ops walkthrough: "Add thumbnail" made a row with no files (a blank card in the
    creator's gallery, its downloads a 500), and the change form let staff untick "Has
    watermark" (the watermark stays burned into the files), change the size, or hand the files
    to another owner. Those are shown, not edited; the title, flags and retention still are."""
    _, thumbnail = shared
    Thumbnail.objects.filter(pk=thumbnail.pk).update(has_watermark=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/studio/thumbnail/add/").status_code == 403
    assert (
        "/admin/studio/thumbnail/add/"
        not in client.get("/admin/studio/thumbnail/").content.decode()
    )
    url = f"/admin/studio/thumbnail/{thumbnail.pk}/change/"
    response = client.post(
        url,
        {
            "title": "Renamed by ops",
            "owner": staff.pk,
            "width": "1",
            "height": "1",
            "aspect_ratio": "1:1",
            "parameters": "{}",
            "is_public": "on",
            "expires_at_0": "2031-01-02",
            "expires_at_1": "03:04:05",
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    after = Thumbnail.objects.get(pk=thumbnail.pk)
    assert (after.title, after.is_public, after.expires_at.year) == ("Renamed by ops", True, 2031)
    kept = ("owner_id", "width", "height", "aspect_ratio", "parameters", "created_at")
    assert all(getattr(after, name) == getattr(thumbnail, name) for name in kept)
    assert after.has_watermark  # the checkbox left unticked in the post changed nothing


def test_the_youtube_download_says_its_size_and_when_a_short_is_small(
    owner: Any, owner_client: Any
) -> None:
    for ratio in ("16:9", "9:16"):
        width, height = pixel_size(ratio, "1K")
        ThumbnailFactory(owner=owner, aspect_ratio=ratio, width=width, height=height)
    wide = Thumbnail.objects.get(owner=owner, aspect_ratio="16:9")
    page = owner_client.get(f"/studio/thumbnails/{wide.pk}").content.decode()
    assert "Download for YouTube (JPEG, 1280\u00d7720)" in page
    assert "YouTube recommends" not in page
    short = Thumbnail.objects.get(owner=owner, aspect_ratio="9:16")
    page = owner_client.get(f"/studio/thumbnails/{short.pk}").content.decode()
    width, height = youtube_size("9:16", (short.width, short.height))
    assert width < 1080  # a 1K Short is smaller than YouTube's 1080x1920, and not enlarged
    assert f"Download for Shorts (JPEG, {width}\u00d7{height})" in page
    assert "YouTube recommends 1080\u00d71920 for Shorts" in page
    # A portrait picture of another ratio is sized to 1080 wide too, and the hint says so (it
    # said "1280 px wide").
    tall: Any = ThumbnailFactory(owner=owner, aspect_ratio="2:3", width=640, height=960)
    page = owner_client.get(f"/studio/thumbnails/{tall.pk}").content.decode()
    assert "YouTube recommends 1080 px wide" in page and "1280 px wide" not in page


def test_the_youtube_download_of_another_shape_than_16_9_says_youtube_shows_16_9(
    owner: Any, owner_client: Any
) -> None:
    """A 4:3 or 1:1 thumbnail's YouTube download is 1280x960 or 1080x1080: its button says the
    size and shape, and that YouTube shows video thumbnails at 16:9 (no word of it before)."""
    for ratio, size in (("4:3", (1200, 896)), ("1:1", (1024, 1024))):
        thumb: Any = ThumbnailFactory(
            owner=owner, aspect_ratio=ratio, width=size[0], height=size[1]
        )
        width, height = youtube_size(ratio, size)
        page = owner_client.get(f"/studio/thumbnails/{thumb.pk}").content.decode()
        label = f"Download for YouTube (JPEG, {width}\u00d7{height}, {ratio})"
        assert label in page, ratio
        button = page[page.rindex("<a ", 0, page.index(label)) : page.index(label)]
        assert "YouTube shows video thumbnails at 16:9" in button, ratio
        assert f"this {ratio} one gets bars where it does not fill that frame" in page
    wide: Any = ThumbnailFactory(owner=owner)
    page = owner_client.get(f"/studio/thumbnails/{wide.pk}").content.decode()
    assert "Download for YouTube (JPEG, 1280\u00d7720)" in page
    assert "YouTube shows video thumbnails at 16:9" not in page


def test_a_past_due_plans_page_says_pro_past_due_with_frees_limits(
    owner: Any, owner_client: Any
) -> None:
    """The status box said "Your plan: Pro" while the pricing table's "your plan" badge sat on
    Free (the limits that apply): both now say it is Pro, past due, with Free's limits."""
    set_plan(owner, "pro", status="past_due")
    html = owner_client.get("/plans/").content.decode()
    assert re.search(r'<dd id="current-plan">\s*Pro, past due\s*</dd>', html)
    assert "Past due: Free's limits until it is paid" in escape_free(html)
    cards = dict(re.findall(r'<li class="plan[^"]*" data-plan="(\w+)">\s*<h3>(.*?)</h3>', html))
    assert "your plan \u00b7 past due" in cards["pro"]
    assert "your limits until paid" in cards["free"] and "your plan" not in cards["free"]
    assert '<li class="plan current" data-plan="pro">' in html
    # The studio's plan pill names the plan paid for too (it said "Free plan").
    studio = owner_client.get("/studio/").content.decode()
    assert ">Pro plan \u00b7 past due</span>" in studio and ">Free plan</span>" not in studio
    assert "Past due: Free's limits until it is paid" in escape_free(studio)
    set_plan(owner, "pro", status="paused")  # a Stripe status too: the plans page names it
    studio = owner_client.get("/studio/").content.decode()
    assert ">Pro plan \u00b7 paused</span>" in studio
    assert "Paused: Free's limits meanwhile" in escape_free(studio)
    set_plan(owner, "pro", status="canceled")  # ended: not "meanwhile", as if it came back
    studio = owner_client.get("/studio/").content.decode()
    plans = escape_free(owner_client.get("/plans/").content.decode())
    assert "Canceled: Free's limits from now on" in escape_free(studio)
    assert "Canceled: Free's limits from now on" in plans and "your limits now" in plans
    set_plan(owner, "pro")
    studio = owner_client.get("/studio/").content.decode()
    assert ">Pro plan</span>" in studio and "past due" not in studio
    html = owner_client.get("/plans/").content.decode()
    assert re.search(r'<dd id="current-plan">\s*Pro\s*</dd>', html)
    assert "your limits" not in html
    assert '<span class="plan-pill">your plan</span>' in html


def escape_free(html: str) -> str:
    return html.replace("&#x27;", "'").replace("&#39;", "'")


def test_retention_follows_the_creators_plan_once_paid_again(
    owner: Any, owner_client: Any, run_jobs: Any, submit: Any
) -> None:
    """A thumbnail made while Pro was past due is made on Free's limits (kept 30 days). Paid
    again, the large view still said "Your plan keeps this thumbnail until ... move to a paid
    plan", and the purge would have deleted it: on a plan that keeps thumbnails for good, the
    creator's thumbnails are kept for good (studio.retention)."""
    set_plan(owner, "pro", status="past_due")
    assert submit(owner_client, {"title": "Made while past due"}).status_code == 202
    run_jobs()
    thumbnail = Thumbnail.objects.get(owner=owner)
    assert thumbnail.expires_at is not None
    page = escape_free(owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode())
    assert "Your Pro plan's payment is due, so Free's limits apply" in page
    assert "move to a paid plan" not in page

    set_plan(owner, "pro")  # the payment went through (Stripe's webhook saves the same row)
    thumbnail.refresh_from_db()
    assert thumbnail.expires_at is None  # purge_expired_thumbnails leaves it
    page = owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode()
    assert "keeps this thumbnail until" not in page and "kept until" not in page
    # An expiry left by a path that sends no signal (a bulk update): the page follows the plan.
    Thumbnail.objects.filter(pk=thumbnail.pk).update(expires_at=thumbnail.created_at)
    page = owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode()
    assert "keeps this thumbnail until" not in page and "kept until" not in page
    Thumbnail.objects.filter(pk=thumbnail.pk).update(expires_at=None)

    set_plan(owner, "free")  # made on a paid plan: no expiry added on the way down
    thumbnail.refresh_from_db()
    assert thumbnail.expires_at is None


def test_on_free_the_large_view_says_how_long_a_thumbnail_is_kept(
    owner: Any, owner_client: Any, run_jobs: Any, submit: Any
) -> None:
    assert submit(owner_client, {"title": "Free one"}).status_code == 202
    run_jobs()
    thumbnail = Thumbnail.objects.get(owner=owner)
    page = owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode()
    assert "Your plan keeps this thumbnail until" in page
    assert "to keep it and all your thumbnails for good" in page


def test_deleting_thumbnails_in_the_admin_removes_their_files(
    owner: Any,
    staff: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django.core.files.storage import default_storage

    made: list[Any] = [ThumbnailFactory(owner=owner, **stored_files()) for _ in range(2)]
    first, second = made
    files = {
        t.pk: [f.name for f in (t.image, t.image_small, t.image_medium, t.download) if f]
        for t in (first, second)
    }
    assert all(default_storage.exists(n) for names in files.values() for n in names)
    client = Client()
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        deleted = client.post(f"/admin/studio/thumbnail/{first.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert not any(default_storage.exists(n) for n in files[first.pk])
    assert all(default_storage.exists(n) for n in files[second.pk])
    action = {"action": "delete_selected", "_selected_action": [second.pk], "post": "yes"}
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/admin/studio/thumbnail/", action).status_code == 302
    assert not Thumbnail.objects.filter(owner=owner).exists()
    assert not any(default_storage.exists(n) for n in files[second.pk])


def test_a_failed_card_says_the_credits_were_refunded(owner: Any, owner_client: Any) -> None:
    set_plan(owner, "free")
    job = Job.objects.create(
        user=owner,
        type="generate_thumbnails",
        params={"title": "Broken", "aspect_ratio": "16:9", "resolution": "1K"},
        status="failed",
        progress=100,
        units=2,
        units_failed=2,
        cost=2,
        error="The image service failed. Your credits were refunded.",
    )
    card = owner_client.get(f"/studio/jobs/{job.pk}").content.decode()
    assert "Your 2 credits were refunded." in card
    assert card.count("refunded") == 1  # the job's error and its details line said it too
    assert "data-percent" not in card  # "Failed 100%" read as done
    assert "The image service failed.</p>" in card
    assert "data-dismiss-job" in card


def test_the_generate_that_spends_the_last_credit_says_when_credits_renew(
    owner: Any, owner_client: Any, settings: Any
) -> None:
    """The hint shown live when the balance reaches 0 (sent with the new job's card) has the
    renewal date, as the page has after a reload; with payments on it offers credit packs."""
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    adjust_credits(user=owner, amount=1 - get_balance(owner), idempotency_key="one", reason="t")
    response = owner_client.post("/studio/generate", {"title": "Last"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 202
    card = response.content.decode()
    renews = owner.subscription.current_period_end
    hint = card[card.index('id="out-of-credits"') :]
    assert 'hx-swap-oob="true"' in card[card.index('<p class="hint out-of-credits"') :][:120]
    # The day, in the browser's time zone (static/js/local_time.js) from its UTC instant.
    assert f"renew on {renews.day} {renews.strftime('%B')}" in re.sub(r"<[^>]+>", "", hint)
    assert f'renew on <time datetime="{renews:%Y-%m-%dT%H:%M:%SZ}" data-local-time="day">' in hint
    assert "See plans and credit packs" in hint


def test_the_thumbnail_page_has_the_out_of_credits_hint_its_tools_update(
    owner: Any, owner_client: Any
) -> None:
    """A tool's job card sends the "out of credits" hint out of band when it spends the last
    credit; the thumbnail page had no element for it (htmx:oobErrorNoTarget in the console).
    The page now carries it, hidden while credits remain and shown at 0 with the renewal."""
    from tests.factories.studio import ThumbnailFactory

    thumbnail = ThumbnailFactory(owner=owner)
    page = owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode()
    hint = page[page.index('<p class="hint out-of-credits" id="out-of-credits"') :]
    assert hint[: hint.index(">")].endswith("hidden")
    adjust_credits(user=owner, amount=-get_balance(owner), idempotency_key="zero", reason="t")
    page = owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode()
    hint = page[page.index('<p class="hint out-of-credits" id="out-of-credits"') :]
    assert "hidden" not in hint[: hint.index(">")]
    assert "You are out of credits; your plan's credits renew on" in hint


def tool_button(page: str, name: str) -> str:
    """The opening tag of the submit button of the large view's `name` tool."""
    form = page[page.index(f'id="tool-{name}"') :]
    found = re.search(r'<button type="submit"[^>]*>', form[: form.index("</form>")])
    assert found, form[:300]
    return found.group(0)


def needs_credits(page: str, name: str) -> str:
    """The text of the tool's "Needs n credits" reason; "" while it is hidden."""
    found = re.search(
        rf'<p class="hint needs-credits" id="needs-credits-{name}"([^>]*)>(.*?)</p>', page
    )
    assert found, name
    return "" if "hidden" in found.group(1) else re.sub(r"<[^>]+>", "", found.group(2))


def test_the_large_views_tools_that_cost_more_than_the_balance_are_disabled_with_why(
    owner: Any, owner_client: Any, settings: Any
) -> None:
    """Generate was disabled with its reason at 0 credits while Edit and the analyses stayed
    enabled (and were refused with a 402). A tool costing more than the balance is now
    disabled with "Needs n credits; you have m" and a link to the plans; the price comes from
    the job type (a thumbnail check is free offline, 1 credit with Gemini). The server still
    refuses it."""
    from tests.factories.studio import ThumbnailFactory

    set_plan(owner, "starter")  # the analyses come with Starter
    thumbnail = ThumbnailFactory(owner=owner)
    url = f"/studio/thumbnails/{thumbnail.pk}"
    adjust_credits(user=owner, amount=1 - get_balance(owner), idempotency_key="one", reason="t")
    page = owner_client.get(url).content.decode()
    edit = tool_button(page, "edit_thumbnail")
    assert " disabled" in edit and 'data-cost="2"' in edit and "2 credits</button>" in page
    assert 'aria-describedby="needs-credits-edit_thumbnail"' in edit
    assert needs_credits(page, "edit_thumbnail") == "Needs 2 credits; you have 1. See plans"
    reason = page[page.index('id="needs-credits-edit_thumbnail"') :]
    assert 'href="/plans/"' in reason[: reason.index("</p>")]
    for affordable in ("analyse_palette", "analyse_style", "thumbnail_check"):
        assert " disabled" not in tool_button(page, affordable), affordable
        assert needs_credits(page, affordable) == "", affordable
    refused = owner_client.post(
        "/studio/tools/edit_thumbnail",
        {"thumbnail_id": thumbnail.pk, "instruction": "Bluer", "changes.new_seed": "true"},
        HTTP_HX_REQUEST="true",
    )
    assert refused.status_code == 402  # the server-side refusal stays
    assert get_balance(owner) == 1

    adjust_credits(user=owner, amount=-1, idempotency_key="zero", reason="t")
    page = owner_client.get(url).content.decode()
    for name, cost in (("edit_thumbnail", 2), ("analyse_palette", 1), ("analyse_style", 1)):
        assert " disabled" in tool_button(page, name), name
        word = "credit" if cost == 1 else "credits"
        assert needs_credits(page, name) == f"Needs {cost} {word}; you have 0. See plans"
    assert " disabled" not in tool_button(page, "thumbnail_check")  # free offline
    assert "Check thumbnail · free" in page
    settings.IMAGE_PROVIDER = "gemini"
    page = owner_client.get(url).content.decode()
    assert " disabled" in tool_button(page, "thumbnail_check")
    assert needs_credits(page, "thumbnail_check") == "Needs 1 credit; you have 0. See plans"

    # The same holds for the other paid buttons: Better titles and the library's palette.
    studio = owner_client.get("/studio/").content.decode()
    better = re.search(r'<button type="button" class="[^"]*better-titles"[^>]*>', studio)
    assert better and " disabled" in better.group(0)
    library = owner_client.get("/studio/library/").content.decode()
    assert needs_credits(library, "analyse-palette") == "Needs 1 credit; you have 0. See plans"
    palette = re.search(
        r'<button[^>]*data-needs-credits="needs-credits-analyse-palette"[^>]*>', library
    )
    assert palette and " disabled" in palette.group(0)


def generate_button(page: str) -> str:
    """The studio's Generate button, opening tag to closing tag."""
    form = page[page.index('id="generate-form"') :]
    found = re.search(r'<button type="submit" class="button big"[^>]*>.*?</button>', form, re.S)
    assert found, form[:300]
    return found.group(0)


def generate_prices(page: str) -> dict[str, Any]:
    """The generate price table the studio page hands studio.js (a json_script)."""
    found = re.search(r'<script id="generate-prices" type="application/json">(.*?)</script>', page)
    assert found, "no #generate-prices"
    return json.loads(found.group(1))


def test_generate_shows_its_price_and_is_disabled_with_why_when_the_balance_cannot_pay(
    owner: Any, owner_client: Any, monkeypatch: Any
) -> None:
    """Generate was disabled with its reason only at 0 credits: choices costing more than the
    balance (2K with 1 credit left) left it enabled, for a 402. Its label now says what the
    form's choices cost ("Generate · 1 credit"), the page carries the generate job type's own
    prices for every choice (studio.js keeps the label and the button in step with them), and
    Generate is disabled with "Needs n credits; you have m. See plans" when the balance is
    short. The 0-credit reason and the server's 402 stay."""
    from studio.job_types.generate import GenerateThumbnails

    set_plan(owner, "starter")  # 1K and 2K, up to 2 variations
    adjust_credits(user=owner, amount=1 - get_balance(owner), idempotency_key="one", reason="t")
    page = owner_client.get("/studio/").content.decode()
    button = generate_button(page)
    assert " disabled" not in button.split(">")[0]
    assert re.sub(r"<[^>]+>", "", button) == "Generate · 1 credit"
    assert 'aria-describedby="out-of-credits needs-credits-generate"' in button
    assert needs_credits(page, "generate") == ""  # 1K x 1 costs 1: the balance pays
    table = generate_prices(page)
    assert table["default"] == "local"  # offline: the local renderer
    prices = table["prices"]["local"]
    assert (prices["1K"]["1"], prices["2K"]["1"], prices["2K"]["2"], prices["4K"]["3"]) == (
        1,
        2,
        4,
        12,
    )
    local = GenerateThumbnails().model({}, owner.subscription.plan)
    for resolution, by_count in prices.items():  # the job type's own price, every choice
        for count, credits in by_count.items():
            job = {"resolution": resolution, "variations": int(count)}
            assert credits == GenerateThumbnails().price(job, local), (resolution, count)
    assert "data-cost" not in page[page.index('id="resolution"') :].split("</select>")[0]

    # 2K x 2 with 1 credit: the server still refuses it (402), charging nothing.
    refused = owner_client.post(
        "/studio/generate",
        {"title": "Too dear", "resolution": "2K", "variations": "2"},
        HTTP_HX_REQUEST="true",
    )
    assert refused.status_code == 402
    assert get_balance(owner) == 1

    # The price is the job type's: were 1K to cost 3 credits, the page would open with
    # Generate disabled and why, before any script runs.
    monkeypatch.setitem(RESOLUTION_COST, "1K", 3)
    page = owner_client.get("/studio/").content.decode()
    button = generate_button(page)
    assert " disabled" in button.split(">")[0]
    assert re.sub(r"<[^>]+>", "", button) == "Generate · 3 credits"
    assert needs_credits(page, "generate") == "Needs 3 credits; you have 1. See plans"
    reason = page[page.index('id="needs-credits-generate"') :]
    assert 'href="/plans/"' in reason[: reason.index("</p>")]
    assert generate_prices(page)["prices"]["local"]["1K"]["2"] == 6
    assert "1K costs 3 credits per image, 2K 2, 4K 4." in page  # the output settings' hint
    monkeypatch.undo()
    assert (
        "1K costs 1 credit per image, 2K 2, 4K 4." in owner_client.get("/studio/").content.decode()
    )

    # At 0 credits the out-of-credits reason (when credits renew) says it, alone.
    adjust_credits(user=owner, amount=-1, idempotency_key="zero", reason="t")
    page = owner_client.get("/studio/").content.decode()
    assert " disabled" in generate_button(page).split(">")[0]
    assert "You are out of credits; your plan's credits renew on" in page
    assert needs_credits(page, "generate") == ""


def test_the_style_form_says_what_a_style_does_offline(owner_client: Any, settings: Any) -> None:
    """A creator's custom style seemed to do nothing offline: the form now says the renderer
    uses its first reference image as the backdrop and that the prompt needs a Gemini key."""
    notice = "Offline, the renderer draws a style's first reference image as a soft, blurred"
    assert notice in owner_client.get("/studio/library/").content.decode()
    settings.IMAGE_PROVIDER = "gemini"  # what a GEMINI_API_KEY selects
    assert "first reference image" not in owner_client.get("/studio/library/").content.decode()


def test_the_plans_say_how_long_thumbnails_are_kept_and_the_custom_asset_limit(
    owner, owner_client
) -> None:
    """A Free creator's thumbnails are deleted after 30 days and they may keep one custom style,
    palette and face: the plans page says so, and a thumbnail that will be deleted says when."""
    import datetime as dt

    from django.utils import timezone

    from tests.factories.studio import ThumbnailFactory

    plans = owner_client.get("/plans/").content.decode()
    free = plans.split('data-plan="free"', 1)[1].split("</li>\n    \n", 1)[0]
    assert "Thumbnails kept 30 days" in free
    assert "1 custom style, palette and face" in free
    assert plans.count("Thumbnails kept until you delete them") == Plan.objects.count() - 1
    assert "Unlimited custom styles, palettes and faces" in plans
    expiring = ThumbnailFactory(owner=owner, expires_at=timezone.now() + dt.timedelta(days=30))
    kept = ThumbnailFactory(owner=owner)
    page = owner_client.get(f"/studio/thumbnails/{expiring.pk}").content.decode()
    assert "keeps this thumbnail until" in page
    assert (
        "keeps this thumbnail until"
        not in owner_client.get(f"/studio/thumbnails/{kept.pk}").content.decode()
    )


def test_signed_in_pages_are_never_shown_from_the_browsers_cache(
    owner: Any, owner_client: Any
) -> None:
    """Back after a delete showed the studio from the browser's cache, deleted card and all."""
    for path in ("/studio/", "/studio/library/", "/studio/credits/", "/plans/"):
        response = owner_client.get(path)
        assert response.status_code == 200, path
        assert response["Cache-Control"] == "private, no-store", path
    assert "no-store" not in Client().get("/plans/").get("Cache-Control", "")  # signed out
    api = owner_client.get("/api/thumbnails")
    assert "no-store" not in api.get("Cache-Control", "")  # JSON keeps its own policy
    # allauth's JSON variant of a page (the whole page's HTML in it) was stored like any answer.
    as_json = owner_client.get("/accounts/email/", HTTP_X_REQUESTED_WITH="XMLHttpRequest")
    assert as_json["Content-Type"] == "application/json"
    assert owner.email in as_json.json()["html"]
    assert as_json["Cache-Control"] == "private, no-store"


def test_the_output_hint_speaks_of_greyed_out_options_only_when_there_are_some(
    owner: Any, owner_client: Any
) -> None:
    """On Pro nothing in Aspect ratio, Resolution or Variations is greyed out, yet the hint
    under them still opened with "Greyed-out options come with the plan named next to them."
    (creator walkthrough, 2026-12-05)."""

    def output_hint() -> str:
        page = owner_client.get("/studio/").content.decode()
        fieldset = page[page.index('id="output-options"') :]
        hint = re.search(r'<p class="hint">(.*?)</p>', fieldset, re.S)
        assert hint
        return re.sub(r"<[^>]+>", "", hint[1])

    assert output_hint() == (
        "Greyed-out options come with the plan named next to them. "
        "1K costs 1 credit per image, 2K 2, 4K 4."
    )
    set_plan(owner, "pro")
    assert output_hint() == "1K costs 1 credit per image, 2K 2, 4K 4."


def test_the_sign_up_page_has_one_name_in_its_tab_and_heading() -> None:
    html = Client().get("/accounts/signup/").content.decode()
    assert re.search(r"<title>\s*Sign up\s*· ViewBait</title>", html)
    assert re.search(r"<h1>\s*Sign up\s*</h1>", html)


def test_the_plan_the_signed_out_page_marks_says_why(owner_client: Any) -> None:
    html = Client().get("/plans/").content.decode()
    featured = re.search(
        r'<li class="plan featured" data-plan="(\w+)">\s*<h3>([^<]+)(.*?)</h3>', html
    )
    assert featured and featured[1] == "free"
    assert "start here" in featured[3]
    assert "start here" not in owner_client.get("/plans/").content.decode()  # "your plan" instead


def test_a_not_found_page_keeps_the_signed_in_header(owner: Any, owner_client: Any) -> None:
    response = owner_client.get("/studio/thumbnails/999999")
    assert response.status_code == 404
    html = response.content.decode()
    assert 'id="credits"' in html and f">{get_balance(owner)} credits</a>" in html
    assert 'id="credits"' not in Client().get("/no-such-page/").content.decode()


def test_library_projects_say_how_many_thumbnails_and_open_them_in_the_studio(
    owner: Any, owner_client: Any
) -> None:
    from tests.factories.studio import ThumbnailFactory

    series = Project.objects.create(owner=owner, name="Series")
    Project.objects.create(owner=owner, name="Empty")
    ThumbnailFactory.create_batch(3, owner=owner, project=series)
    ThumbnailFactory.create(owner=owner)  # in no project
    html = owner_client.get("/studio/library/").content.decode()
    assert f'<a href="/studio/?project={series.pk}">3 thumbnails · open in the studio</a>' in html
    # An empty project's tile says how to fill it, not "0 thumbnails · open in the studio"
    # (a link to an empty gallery; walkthrough 2026-12-05).
    assert "0 thumbnails" not in html
    assert "No thumbnails yet: pick this project in the studio's form or a card's menu." in html
    gallery = owner_client.get(f"/studio/?project={series.pk}").content.decode()
    assert gallery.count('class="thumb"') + gallery.count('class="thumb ') == 3


def test_the_plans_price_line_names_what_edits_and_tools_cost(db: None, settings: Any) -> None:
    """The line named edits, Better titles and the analyses of style and palette only: the
    thumbnail check and the Pro tools a creator pays Pro for had no price on the plans page
    (walkthrough 2026-12-04). Each tool's price comes from its job type, offline and with a
    key (the check costs 1 credit with Gemini, nothing offline)."""
    from billing.models import EDIT_COST

    rest = "Channel consistency, Analyse palette, Analyse style and Better titles 1 credit each"
    settings.IMAGE_PROVIDER = "local"
    html = Client().get("/plans/").content.decode()
    assert (
        "A thumbnail costs 1 credit at 1K, 2 at 2K, 4 at 4K; Edit thumbnail, Analyse video and"
        f" Suggest concepts {EDIT_COST} credits each; {rest}; Thumbnail check free."
    ) in html
    settings.IMAGE_PROVIDER = "gemini"
    html = Client().get("/plans/").content.decode()
    assert f"; Thumbnail check, {rest}." in html


def test_a_new_form_starts_on_the_styles_own_colours(owner: Any, owner_client: Any) -> None:
    """Each style's own palette by default: with the first palette (Candy) ticked, every new
    creator's thumbnails came out the same pink whatever the style."""
    html = owner_client.get("/studio/").content.decode()
    checked = re.findall(r'<input type="radio" name="palette_id" value="(\d*)"( checked)?', html)
    assert [value for value, tick in checked if tick] == [""], checked
    assert "Style&#x27;s colours" in html or "Style's colours" in html


def test_no_page_gives_two_elements_one_id(owner: Any, owner_client: Any) -> None:
    """The library holds the face, style and palette forms at once: Django's default ids
    ("id_name" three times) sent each label's click, and a screen reader, to another form."""
    from tests.factories.studio import ThumbnailFactory

    set_plan(owner, "pro")
    thumbnail = ThumbnailFactory(owner=owner)
    Project.objects.create(owner=owner, name="Series")
    for path in (
        "/studio/",
        "/studio/library/",
        "/plans/",
        "/studio/credits/",
        f"/studio/thumbnails/{thumbnail.pk}",
        "/accounts/delete/",
    ):
        html = owner_client.get(path).content.decode()
        ids = re.findall(r'\sid="([^"]+)"', html)
        assert not {i for i in ids if ids.count(i) > 1}, path


def test_pages_with_live_job_cards_give_studio_js_the_polling_interval(
    owner: Any, owner_client: Any, settings: Any
) -> None:
    """studio.js polls a page's unfinished cards every settings.STUDIO_POLL_MS while it has no
    websocket; each page that loads studio.js carries the figure (#live-updates)."""
    settings.STUDIO_POLL_MS = 1234
    thumbnail: Any = ThumbnailFactory(owner=owner, title="Polled")
    for path in ("/studio/", "/studio/library/", f"/studio/thumbnails/{thumbnail.pk}"):
        page = owner_client.get(path).content.decode()
        assert "js/studio.js" in page, path
        found = re.search(r'<script id="live-updates" type="application/json">(.*?)</script>', page)
        assert found and json.loads(found.group(1)) == {"poll_ms": 1234}, path
