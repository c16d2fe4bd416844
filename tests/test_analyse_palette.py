"""`analyse_palette`: measured colours offline and with Gemini, the result cache and its single
flight, the plan gate, and saving the result as a palette from the studio."""

from __future__ import annotations

import io
import os
import re
import threading
import uuid
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils.html import escape
from PIL import Image

from billing.models import Plan
from billing.services import get_balance, invalidate_plan_table
from generation import result_cache
from generation.colours import measure_colors
from generation.models import Job
from generation.services import execute_job
from studio.job_types.analyse_palette import color_name, describe_offline
from studio.models import Palette, Thumbnail
from tests import fake_gemini as fake_gemini_module
from tests.conftest import make_user, set_plan
from tests.factories.studio import ThumbnailFactory
from tests.fake_gemini import FakeGemini
from tests.servers import ForkingDjango

fake_gemini = fake_gemini_module.fake_gemini
gemini_settings = fake_gemini_module.gemini_settings

RED, NAVY = (224, 32, 32), (16, 32, 96)


def two_colour_png() -> bytes:
    image = Image.new("RGB", (300, 200), RED)
    image.paste(NAVY, (0, 120, 300, 200))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def near(hex_color: str, rgb: tuple[int, int, int], tolerance: int = 12) -> bool:
    value = tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return all(abs(a - b) <= tolerance for a, b in zip(value, rgb, strict=True))


def thumbnail_of(owner: Any, title: str) -> Any:
    """A thumbnail of `owner` (tests.factories) whose stored files are one picture in four
    colours: red, navy, a warm yellow and white bands."""
    image = Image.new("RGB", (160, 90), RED)
    image.paste(NAVY, (0, 40, 160, 65))
    image.paste((240, 200, 40), (0, 65, 160, 80))
    image.paste((245, 245, 245), (0, 80, 160, 90))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    name = default_storage.save(
        f"thumbnails/full/test-{uuid.uuid4().hex}.png", ContentFile(buffer.getvalue())
    )
    return ThumbnailFactory(owner=owner, title=title, stored=True, image=name)


def upload(client: Any, data: bytes, key: str | None = None) -> Any:
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        "/api/jobs",
        {"type": "analyse_palette", "image": SimpleUploadedFile("p.png", data, "image/png")},
        **extra,
    )


def test_measure_colors_finds_both_colours_of_a_two_colour_image() -> None:
    colors = measure_colors(Image.open(io.BytesIO(two_colour_png())))
    assert len(colors) == 2
    (first, first_share), (second, second_share) = colors
    assert near(first, RED) and near(second, NAVY)
    assert round(first_share, 2) == 0.6 and round(second_share, 2) == 0.4
    assert color_name("#E02020") == "Red" and color_name("#102060") == "Dark Blue"


def test_a_dark_frame_is_named_for_its_accent_and_described_by_its_coverage() -> None:
    # A night-time gaming render: near-black on 65%, navy on 25%, a neon orange accent on 10%.
    image = Image.new("RGB", (300, 200), (12, 12, 16))
    image.paste((16, 32, 96), (0, 130, 300, 180))
    image.paste((255, 110, 0), (0, 180, 300, 200))
    colors = measure_colors(image)
    assert color_name(colors[0][0]) == "Black"  # most covering
    described = describe_offline(colors)
    assert described["name"] == "Neon Orange & Black", described
    assert described["description"].startswith("Black covers 65%")
    # Four words at most, cut as a name: the second colour's shade goes, not half its name.
    assert describe_offline([("#FF6E00", 0.5), ("#102060", 0.5)])["name"] == "Neon Orange & Blue"


def test_offline_upload_is_measured_named_and_the_upload_removed(
    starter, owner_client, django_capture_on_commit_callbacks, run_jobs, settings
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(owner_client, two_colour_png())
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    stored = Job.objects.get(pk=job_id).params["image_name"]
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs()
    data = owner_client.get(f"/api/jobs/{job_id}").json()
    assert (data["status"], data["cached"], data["model"]) == ("succeeded", False, "local")
    result = data["result"]
    assert 3 <= len(result["colors"]) <= 6
    assert near(result["colors"][0], RED) and near(result["colors"][1], NAVY)
    assert 2 <= len(result["name"].split()) <= 4
    assert result["name"] == "Red & Dark Blue"
    assert "60%" in result["description"]
    assert result["measured_by"] == "local"
    assert get_balance(starter) == 9
    assert not os.path.exists(os.path.join(settings.MEDIA_ROOT, stored))


def test_same_image_again_is_answered_from_the_cache_for_free(
    starter, owner_client, django_capture_on_commit_callbacks, run_jobs
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = upload(owner_client, two_colour_png()).json()
    run_jobs()
    with django_capture_on_commit_callbacks(execute=True):
        second = upload(owner_client, two_colour_png())
    assert second.status_code == 202
    data = second.json()
    assert (data["status"], data["cached"], data["cost"]) == ("succeeded", True, 0)
    assert data["result"] == owner_client.get(f"/api/jobs/{first['id']}").json()["result"]
    assert get_balance(starter) == 9  # charged once, for the first


def test_the_same_image_from_another_creator_is_analysed_for_them(
    starter, other, owner_client, other_client, django_capture_on_commit_callbacks, run_jobs
) -> None:
    """Keyed on the image's sha256 alone, a creator who uploaded a rival's exact image got a
    free `cached: true` answer: proof the rival had analysed it (security review)."""
    set_plan(other, "starter")
    with django_capture_on_commit_callbacks(execute=True):
        upload(owner_client, two_colour_png())
    run_jobs()
    with django_capture_on_commit_callbacks(execute=True):
        guess = upload(other_client, two_colour_png()).json()
    assert (guess["cached"], guess["cost"]) == (False, 1)
    with django_capture_on_commit_callbacks(execute=True):
        own = upload(owner_client, two_colour_png()).json()
    assert (own["status"], own["cached"]) == ("succeeded", True)


def test_a_thumbnail_as_input_and_the_studio_card_saves_the_palette(
    starter, owner_client, other_client, run_jobs, django_capture_on_commit_callbacks
) -> None:
    thumbnail = thumbnail_of(starter, "Palette source")
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/studio/tools/analyse_palette",
            {"thumbnail_id": thumbnail.pk},
            HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 202
    job = Job.objects.get(type="analyse_palette")
    run_jobs()
    html = owner_client.get(f"/studio/jobs/{job.pk}", HTTP_HX_REQUEST="true").content.decode()
    result = Job.objects.get(pk=job.pk).result
    assert "Save as my palette" in html
    assert f'hx-post="/studio/jobs/{job.pk}/save-palette"' in html
    assert "median-cut" in html  # says how it was measured offline, and what a key adds
    saved = owner_client.post(f"/studio/jobs/{job.pk}/save-palette", HTTP_HX_REQUEST="true")
    assert saved.status_code == 200  # answered in place, in the result's save box
    assert f"Saved as your palette “{escape(result['name'])}”" in saved.content.decode()
    assert list(Palette.objects.get(owner=starter, name=result["name"]).colors) == result["colors"]
    # A second click finds the palette saved first: no copy.
    again = owner_client.post(f"/studio/jobs/{job.pk}/save-palette", HTTP_HX_REQUEST="true")
    assert again.status_code == 200
    # (counted by colours: a copy would be named "<name> 2")
    assert Palette.objects.filter(owner=starter, colors=result["colors"]).count() == 1
    # Without htmx: to the library's palettes; a stranger's job is a 404.
    plain = owner_client.post(f"/studio/jobs/{job.pk}/save-palette")
    assert plain["Location"] == "/studio/library/#palettes"
    assert other_client.post(f"/studio/jobs/{job.pk}/save-palette").status_code == 404


def job_title(html: str) -> str:
    """A job card's title line, as read (tags dropped)."""
    title = re.search(r'<strong class="job-title"[^>]*>(.*?)</strong>', html, re.S)
    assert title, html[:300]
    return re.sub(r"<[^>]+>", "", title[1])


def test_a_palette_card_in_the_studio_names_the_thumbnail_it_measured(
    starter, owner_client, run_jobs, django_capture_on_commit_callbacks
) -> None:
    """Analyse palette from a gallery card put a card titled "Analyse palette" over the gallery,
    not saying which thumbnail it measured; with variations of one title side by side, a creator
    could not tell (walkthrough 2026-12-05). On the studio the card names it; on the
    thumbnail's own page, where the card sits under its picture, it does not."""
    titled, text_free = thumbnail_of(starter, "Coffee: the winner"), thumbnail_of(starter, "")
    studio = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/studio/"}
    for thumbnail, expected in (
        (titled, "Analyse palette · “Coffee: the winner”"),
        (text_free, "Analyse palette · text-free thumbnail"),
    ):
        with django_capture_on_commit_callbacks(execute=True):
            accepted = owner_client.post(
                "/studio/tools/analyse_palette", {"thumbnail_id": thumbnail.pk}, **studio
            )
        assert accepted.status_code == 202
        assert job_title(accepted.content.decode()) == expected
        job = Job.objects.filter(type="analyse_palette").latest("created_at")
        run_jobs()
        done = owner_client.get(f"/studio/jobs/{job.pk}", **studio).content.decode()
        assert job_title(done) == expected
    own_page = owner_client.get(
        f"/studio/jobs/{job.pk}",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver/studio/thumbnails/{text_free.pk}",
    ).content.decode()
    assert job_title(own_page) == "Analyse palette"
    text_free.delete()  # gone: the card is the tool's alone again
    done = owner_client.get(f"/studio/jobs/{job.pk}", **studio).content.decode()
    assert job_title(done) == "Analyse palette"


def test_a_palette_card_still_running_names_its_thumbnail_after_a_reload(
    starter, owner_client, django_capture_on_commit_callbacks
) -> None:
    """The studio page draws the cards of jobs in flight itself: they named the thumbnail only
    when they came through htmx, and lost it on a reload."""
    thumbnail = thumbnail_of(starter, "Coffee: the winner")
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(
            "/studio/tools/analyse_palette", {"thumbnail_id": thumbnail.pk}, HTTP_HX_REQUEST="true"
        )
    page = owner_client.get("/studio/").content.decode()
    cards = page[page.index('<div id="jobs"') :]
    assert job_title(cards) == "Analyse palette · “Coffee: the winner”"


def test_a_palette_saved_on_the_library_page_appears_in_its_list(
    starter, owner_client, run_jobs, django_capture_on_commit_callbacks, clean_cache
) -> None:
    """Saved from the library's "Palette from an image", the message said "Open your library"
    on the library itself and the new palette showed only after a reload (walkthrough
    2026-12-04): the answer now sends the page's palette list again, new palette included (out
    of band), with the plan's limit note in place of the New palette form once it is reached,
    and the message points to the list. Saved from the studio it still links to the library."""
    Plan.objects.filter(slug="starter").update(custom_asset_limit=1)
    invalidate_plan_table()  # clean_cache drops the changed plan table after the test
    with django_capture_on_commit_callbacks(execute=True):
        job_id = upload(owner_client, two_colour_png()).json()["id"]
    run_jobs()
    name = Job.objects.get(pk=job_id).result["name"]
    library = owner_client.get("/studio/library/").content.decode()
    assert 'id="palette-list"' in library and 'id="palette-form"' in library
    saved = owner_client.post(
        f"/studio/jobs/{job_id}/save-palette",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/studio/library/",
    ).content.decode()
    assert f"Saved as your palette “{escape(name)}”: it is in the list above" in saved
    assert "Open your library" not in saved
    oob_list = saved.split('<ul class="tiles pairs" id="palette-list" hx-swap-oob="true">')[1]
    assert f"<strong>{escape(name)}</strong>" in oob_list.split("</ul>")[0]
    mine = Palette.objects.get(owner=starter)
    assert f'action="/studio/library/palettes/{mine.pk}/delete"' in oob_list
    assert 'id="palette-limit" hx-swap-oob="outerHTML:#palette-form"' in saved
    from_studio = owner_client.post(
        f"/studio/jobs/{job_id}/save-palette",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/studio/",
    ).content.decode()
    assert "Open your library" in from_studio and "palette-list" not in from_studio


def test_free_plan_sees_the_gate_not_a_dead_button(owner, owner_client) -> None:
    thumbnail_of(owner, "Free")
    html = owner_client.get("/studio/").content.decode()
    assert 'aria-label="Analyse palette: Starter plan and up"' in html
    response = owner_client.post(
        "/studio/tools/analyse_palette",
        {"thumbnail_id": Thumbnail.objects.get(owner=owner).pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 403
    assert 'href="/plans/"' in response.content.decode()


def test_a_strangers_thumbnail_is_404(starter, owner_client, other) -> None:
    theirs = thumbnail_of(other, "Not yours")
    response = owner_client.post_json(
        "/api/jobs", {"type": "analyse_palette", "input": {"thumbnail_id": theirs.pk}}
    )
    assert response.status_code == 404


def test_with_a_key_gemini_names_the_measured_colours(
    starter, owner_client, django_capture_on_commit_callbacks, run_jobs, gemini_settings: FakeGemini
) -> None:
    gemini_settings.json_answer = {
        "name": "Fire and Midnight",
        "description": "Hot red over deep navy.",
    }
    with django_capture_on_commit_callbacks(execute=True):
        job_id = upload(owner_client, two_colour_png()).json()["id"]
    run_jobs()
    data = owner_client.get(f"/api/jobs/{job_id}").json()
    assert data["status"] == "succeeded", data
    assert data["result"]["name"] == "Fire and Midnight"
    assert near(data["result"]["colors"][0], RED)  # colours are measured, never invented
    [request] = gemini_settings.generate_requests()
    config = request.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["required"] == ["name", "description"]
    assert any("inlineData" in part for part in request.parts)
    assert data["model"] == request.model


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_identical_jobs_make_one_provider_call_per_creator(
    gemini_settings: FakeGemini,
) -> None:
    """A creator's identical jobs running at once share one call (single flight); another
    creator's same image is theirs to pay for (the cache is per creator)."""
    from tests.conftest import JSONClient

    users = [make_user(f"u{i}@example.com") for i in range(2)]
    job_ids = []
    for user in users:
        set_plan(user, "starter")
        client = JSONClient()
        client.force_login(user)
        for _ in range(2):
            job_ids.append(upload(client, two_colour_png()).json()["id"])

    def run(job_id: str) -> None:
        try:
            execute_job(job_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job_id,)) for job_id in job_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    jobs = list(Job.objects.filter(pk__in=job_ids))
    assert {job.status for job in jobs} == {"succeeded"}
    assert len(gemini_settings.generate_requests()) == 2
    assert sum(not job.cached for job in jobs) == 2
    # A job answered by its creator's other job's call was refunded: each creator paid once.
    assert sorted(get_balance(user) for user in users) == [9, 9]


def test_single_flight_computes_once_across_threads() -> None:
    calls = []
    barrier = threading.Barrier(10)

    def compute() -> dict[str, Any]:
        calls.append(1)
        threading.Event().wait(0.3)
        return {"n": len(calls)}

    results = []

    def worker() -> None:
        barrier.wait()
        results.append(result_cache.single_flight("ai:test:k", compute, ttl_seconds=60))

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert {value["n"] for value, _ in results} == {1}
    assert sorted(from_cache for _, from_cache in results) == [False] + [True] * 9


SINGLE_FLIGHT_PROCESS = """
import sys, threading
from django.core.cache import cache
from generation import result_cache
from django_redis import get_redis_connection
def compute():
    get_redis_connection("default").incr(sys.argv[1] + ":calls")
    threading.Event().wait(0.5)
    return {"ok": True}
barrier = threading.Barrier(10)
def run():
    barrier.wait()
    result_cache.single_flight(sys.argv[1], compute, ttl_seconds=60)
threads = [threading.Thread(target=run) for _ in range(10)]
[t.start() for t in threads]
[t.join() for t in threads]
"""

pytestmark = pytest.mark.usefixtures("clean_cache")


@pytest.mark.redis
def test_single_flight_holds_across_processes(settings, request: pytest.FixtureRequest) -> None:
    """20 identical computations from two processes sharing Redis: exactly one runs."""
    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        pytest.skip("needs REDIS_URL (the shared cache)")
    from django_redis import get_redis_connection

    key = f"ai:test:{os.getpid()}"
    forking: ForkingDjango = request.getfixturevalue("forking_django")
    codes, output = forking.run(SINGLE_FLIGHT_PROCESS, key, processes=2)
    assert codes == [0, 0], output
    assert int(get_redis_connection("default").get(f"{key}:calls")) == 1


def test_specks_under_one_percent_of_the_image_are_not_palette_colours() -> None:
    image = Image.open(io.BytesIO(two_colour_png()))
    image.paste((0, 200, 0), (0, 0, 15, 8))  # 120 px of 60,000: 0.2% of the image
    colors = [color for color, _ in measure_colors(image)]
    assert len(colors) == 2
    assert not any(near(color, (0, 200, 0), 40) for color in colors)


def test_an_analysis_of_fewer_than_3_colours_is_refused_as_a_palette(starter, owner_client) -> None:
    """A near-solid image measures 1-2 colours; a palette has 3 to 6 (the library form's rule)."""
    job = Job.objects.create(
        user=starter,
        type="analyse_palette",
        params={},
        status="succeeded",
        result={"colors": ["#111111", "#EEEEEE"], "name": "Ink", "description": "x"},
    )
    response = owner_client.post(f"/studio/jobs/{job.pk}/save-palette", HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "A palette has 3 to 6 colours; this has 2." in response.content.decode()
    assert response["HX-Retarget"] == f"#save-palette-{job.pk}"
    assert not Palette.objects.filter(owner=starter).exists()
