"""The creator's credit history (/studio/credits/): every ledger movement, newest first, in the
studio's words, 50 a page; the header's credits badge links to it."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from billing.models import CreditLedgerEntry
from billing.services import adjust_credits, get_balance
from generation.models import Job
from generation.services import cancel_job
from studio.credit_history import describe
from studio.models import Thumbnail
from tests.conftest import set_plan
from tests.factories.generation import JobFactory
from tests.factories.studio import ThumbnailFactory

pytestmark = pytest.mark.django_db

URL = "/studio/credits/"


def test_each_movement_is_told_in_the_studios_words(
    owner: Any, owner_client: Any, other_client: Any, submit: Any
) -> None:
    set_plan(owner, "starter")
    start = get_balance(owner)
    assert submit(owner_client, {"title": "Ledger", "variations": 2}).status_code == 202
    cancel_job(Job.objects.get(user=owner))  # nothing delivered: both images refunded
    adjust_credits(user=owner, amount=3, idempotency_key="goodwill", reason="Sorry for the wait")
    page = owner_client.get(URL).content.decode()
    rows = page[page.index("<tbody>") : page.index("</tbody>")]
    # Newest first: the adjustment, the two refunds, the charge, the plan's grants.
    order = [
        rows.index("Adjustment by the studio: Sorry for the wait"),
        rows.index("Refund: Generate thumbnails, cancelled"),
        rows.index("Generate thumbnails \u00d72"),
    ]
    assert order == sorted(order)
    # The two refunds of one cancelled job are one line, and the job's title is named.
    assert rows.count("Refund: Generate thumbnails, cancelled") == 1
    assert 'Refund: Generate thumbnails, cancelled <span class="muted">(2 images)</span>' in rows
    assert rows.count("\u201c<bdi>Ledger</bdi>\u201d") == 2  # the charge and the refund
    amounts = ('<td class="num amount">-2</td>', '<td class="num amount">+2</td>', "+3</td>")
    assert all(amount in rows for amount in amounts)
    assert f"<strong>{start + 3} credits</strong> on the Starter plan" in page
    assert 'href="/studio/credits/"' in page  # the header's badge
    assert "generate_thumbnails" not in page  # no ops wording
    # Another creator sees only their own movements.
    assert "Sorry for the wait" not in other_client.get(URL).content.decode()
    # A text-free thumbnail's charge says so, as its card does.
    assert submit(owner_client, {"title": ""}).status_code == 202
    rows = owner_client.get(URL).content.decode().split("</tr>")
    assert '<span class="ledger-title">Text-free</span>' in rows[1]  # the newest line


def test_older_movements_are_paged_50_at_a_time(owner: Any, owner_client: Any) -> None:
    for n in range(55):
        adjust_credits(user=owner, amount=1, idempotency_key=f"bulk-{n}", reason=f"Bulk {n}")
    first = owner_client.get(URL).content.decode()
    assert "Bulk 54<" in first and "Bulk 5<" in first and "Bulk 4<" not in first
    assert first.count("<tr class=") == 50
    older = first.split('href="/studio/credits/?before=')[1].split('"')[0]
    second = owner_client.get(f"{URL}?before={older}").content.decode()
    assert "Bulk 4<" in second and "Bulk 0<" in second and "Bulk 5<" not in second
    assert 'href="/studio/credits/">Newest</a>' in second
    assert second.count("<tr class=") == 55 + 1 - 50  # the rest, and the account's first grant
    # An unreadable page marker shows the first page, never a 500.
    for bad in ("x", "-1", "99999999999999999999", "\u00b2"):
        response = owner_client.get(URL, {"before": bad})
        assert response.status_code == 200 and "Bulk 54" in response.content.decode()


def test_times_carry_their_utc_instant_and_say_utc_until_the_browser_rewrites_them(
    owner: Any, owner_client: Any
) -> None:
    """The history and a thumbnail's Versions list showed the server's UTC with no zone: a
    browser in Los Angeles read "5 Dec 2026, 20:26", 8 hours off. Each time is a <time> with
    its UTC instant, which static/js/local_time.js rewrites in the browser's zone
    (test_studio_craft_browser checks it there), over a fallback labelled UTC."""
    when = dt.datetime(2026, 12, 5, 20, 26, 41, tzinfo=dt.UTC)
    CreditLedgerEntry.objects.filter(user=owner).update(created_at=when)
    page = owner_client.get(URL).content.decode()
    assert (
        '<time datetime="2026-12-05T20:26:41Z" data-local-time="datetime">'
        '<span class="day">5 Dec 2026,</span> <span class="day">20:26 UTC</span></time>'
    ) in page
    assert "js/local_time.js" in page
    # A day alone (the renewal) is its date in the browser's zone too, unlabelled.
    renews = owner.subscription.current_period_end
    assert (
        f'renew on <time datetime="{renews:%Y-%m-%dT%H:%M:%SZ}" data-local-time="date">'
        f"{renews.day} {renews:%B %Y}</time>"
    ) in page
    thumbnail = ThumbnailFactory(owner=owner)
    Thumbnail.objects.filter(pk=thumbnail.pk).update(created_at=when)
    page = owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode()
    versions = page[page.index('class="version-list"') :]
    assert (
        '<span class="small"><time datetime="2026-12-05T20:26:41Z" data-local-time="short">'
        '<span class="day">5 Dec,</span> <span class="day">20:26 UTC</span></time> · original'
    ) in versions
    assert (
        'alt="Version from 5 Dec, 20:26 UTC" data-local-alt="Version from" '
        'data-local-time="short" data-datetime="2026-12-05T20:26:41Z"'
    ) in versions


def test_signed_out_visitors_are_sent_to_log_in(anon_client: Any) -> None:
    response = anon_client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_account_pages_show_the_badge_and_link_the_history(owner: Any, owner_client: Any):
    page = owner_client.get("/accounts/email/").content.decode()
    assert f'data-credits="{get_balance(owner)}"' in page
    assert 'href="/studio/credits/">Credit history</a>' in page


@pytest.mark.parametrize(
    ("kind", "reason", "told"),
    [
        ("debit", "enhance_title x1", "Better titles"),
        ("debit", "suggest_concepts x1", "Suggest concepts"),  # as the studio's button says
        ("refund", "edit_thumbnail unit 0 failed: provider_timeout", "Refund: Edit thumbnail, "),
        ("refund", "thumbnail_check: answered from the result cache", "answered from the cache"),
        ("debit", "retired_tool x3", "Retired tool \u00d73"),
        ("grant", "Monthly credits, Free plan", "Monthly credits, Free plan"),
        ("expiry", "", "Expiry"),
    ],
)
def test_describe(kind: str, reason: str, told: str) -> None:
    from billing.models import CreditLedgerEntry

    assert told in describe(CreditLedgerEntry(kind=kind, amount=1, reason=reason))


def test_a_tool_run_on_a_thumbnail_or_a_video_names_it(owner: Any, owner_client: Any) -> None:
    """Generate and edit lines named their thumbnail text, a thumbnail check's, a palette
    analysis's or a video analysis's line nothing, so a creator could not tell which thumbnail
    or video a charge was for (walkthrough 2026-12-04)."""
    from billing.services import debit_credits
    from tests.factories.studio import ThumbnailFactory

    coffee: Any = ThumbnailFactory(owner=owner, title="Coffee: ranked")
    bare: Any = ThumbnailFactory(owner=owner, title="")
    gone: Any = ThumbnailFactory(owner=owner, title="Deleted since")
    runs = [
        ("thumbnail_check", {"thumbnail_id": coffee.pk}),
        ("analyse_style", {"thumbnail_ids": [bare.pk]}),
        ("analyse_palette", {"thumbnail_id": gone.pk}),
        ("analyse_video", {"video_url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"}),
    ]
    for job_type, params in runs:
        job = Job.objects.create(user=owner, type=job_type, params=params, units=1, cost=1)
        debit_credits(
            user=owner,
            amount=1,
            idempotency_key=f"job:{job.pk}:debit",
            reason=f"{job_type} x1",
            reference=f"job:{job.pk}",
        )
    gone.delete()
    rows = owner_client.get(URL).content.decode().split("</tr>")[1:5]  # newest first
    # A video's address is a link to the video (new tab), not quoted like a title.
    assert (
        '<a class="ledger-title" href="https://www.youtube.com/watch?v=dQw4w9WgXcQ"'
        ' target="_blank" rel="noopener"><bdi>youtube.com/watch?v=dQw4w9WgXcQ</bdi></a>'
    ) in rows[0]
    assert "“<bdi>youtube.com" not in rows[0]
    assert "Analyse palette" in rows[1] and "ledger-title" not in rows[1]
    assert '<span class="ledger-title">Text-free</span>' in rows[2]
    assert "Thumbnail check" in rows[3] and "“<bdi>Coffee: ranked</bdi>”" in rows[3]


def test_a_line_never_names_another_creators_job_or_thumbnail(
    owner: Any, other: Any, owner_client: Any
) -> None:
    """The titles come from the page's creator's own jobs and thumbnails only: a ledger line
    naming another creator's job (no path writes one today) shows no title of theirs."""
    from billing.services import debit_credits
    from tests.factories.studio import ThumbnailFactory

    theirs: Any = ThumbnailFactory(owner=other, title="Their secret launch")
    for params in ({"title": "Their private title"}, {"thumbnail_id": theirs.pk}):
        job = Job.objects.create(user=other, type="thumbnail_check", params=params, units=1)
        debit_credits(
            user=owner,
            amount=1,
            idempotency_key=f"job:{job.pk}:debit",
            reason="thumbnail_check x1",
            reference=f"job:{job.pk}",
        )
    page = owner_client.get(URL).content.decode()
    assert "Their private title" not in page and "Their secret launch" not in page


def test_a_palette_from_an_uploaded_image_says_so(owner: Any, owner_client: Any) -> None:
    """The library's "Palette from an image" charged a line reading "Analyse palette" and
    nothing more, where the same tool on a thumbnail names it (walkthrough 2026-12-05)."""
    set_plan(owner, "starter")
    png = io.BytesIO()
    Image.new("RGB", (120, 80), (200, 40, 40)).save(png, "PNG")
    image = SimpleUploadedFile("p.png", png.getvalue(), "image/png")
    uploaded = owner_client.post("/api/jobs", {"type": "analyse_palette", "image": image})
    assert uploaded.status_code == 202
    # A generate job that made the thumbnail, charged as the worker leaves it.
    JobFactory(user=owner, title="Source", status="succeeded", charged=True, thumbnails=True)
    thumbnail = Thumbnail.objects.get(owner=owner)
    on_thumbnail = owner_client.post(
        "/studio/tools/analyse_palette", {"thumbnail_id": thumbnail.pk}, HTTP_HX_REQUEST="true"
    )
    assert on_thumbnail.status_code == 202
    rows = owner_client.get(URL).content.decode().split("</tr>")
    assert "Analyse palette" in rows[1] and "\u201c<bdi>Source</bdi>\u201d" in rows[1]
    assert "Analyse palette" in rows[3]
    assert '<span class="ledger-title">An uploaded image</span>' in rows[3]
    assert "An uploaded image" not in rows[1] + rows[2]
