"""The studio's htmx generate form: the job card with its out-of-band credits, idempotency key and
cleared errors; double submits charged once; every refusal a readable fragment for
#generate-errors; and the pages' markup a creator and htmx rely on."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.services import adjust_credits, get_balance
from generation.models import Job
from studio.models import Palette, Project, Style, Thumbnail
from tests.conftest import set_plan
from tests.factories.generation import JobFactory

pytestmark = pytest.mark.django_db

TITLE = "I Tried 100 Coffee Shops: Only 1 Was Worth It"
HTMX = {"HTTP_HX_REQUEST": "true"}


def form(key: str = "a" * 32, **overrides: Any) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "title": TITLE,
        "instructions": "",
        "style_id": Style.objects.get(slug="cinematic").pk,
        "palette_id": Palette.objects.get(name="Sunset Pop").pk,
        "expression": "",
        "pose": "",
        "aspect_ratio": "16:9",
        "resolution": "1K",
        "variations": "1",
        **overrides,
    }


def oob_key(html: str) -> str:
    match = re.search(
        r'<input type="hidden" id="idempotency-key" name="idempotency_key" value="([0-9a-f]{32})"'
        r' hx-swap-oob="true">',
        html,
    )
    assert match, html
    return match.group(1)


def test_generate_answers_card_with_oob_credits_fresh_key_and_cleared_errors(
    owner_client, owner
) -> None:
    response = owner_client.post("/studio/generate", form(key="k1" * 16), **HTMX)
    assert response.status_code == 202
    html = response.content.decode()
    job = Job.objects.get(user=owner)
    assert f'id="job-{job.id}"' in html
    assert 'data-status="queued"' in html
    assert 'role="progressbar"' in html
    assert (
        '<a id="credits" class="credits" href="/studio/credits/" data-credits="9" hx-swap-oob="true"'
        in html
    )
    assert ">9 credits</a>" in html
    assert oob_key(html) != "k1" * 16
    assert '<div id="generate-errors" hx-swap-oob="innerHTML"></div>' in html
    assert "HX-Reswap" not in response.headers  # the form's hx-swap prepends the card to #jobs


def test_double_submit_resends_the_key_and_is_charged_once(owner_client, owner) -> None:
    first = owner_client.post("/studio/generate", form(key="d" * 32), **HTMX)
    again = owner_client.post("/studio/generate", form(key="d" * 32), **HTMX)
    assert (first.status_code, again.status_code) == (202, 202)
    assert Job.objects.filter(user=owner).count() == 1
    assert get_balance(owner) == 9
    # The replay adds no second card but still hands out a fresh key and the balance.
    assert again.headers["HX-Reswap"] == "none"
    assert ">9 credits</a>" in again.content.decode()

    fresh = oob_key(again.content.decode())
    assert fresh != "d" * 32
    deliberate = owner_client.post("/studio/generate", form(key=fresh), **HTMX)
    assert deliberate.status_code == 202
    assert Job.objects.filter(user=owner).count() == 2
    assert get_balance(owner) == 8


@pytest.mark.parametrize(
    ("overrides", "status", "message"),
    [
        ({"aspect_ratio": "7:5"}, 400, "Aspect ratio: Choose one of 1:1, 2:3, "),
        ({"variations": "9"}, 400, "Variations: Choose 1 to 4."),
        ({"variations": "many"}, 400, "Variations: Choose a whole number from 1 to 4."),
        ({"resolution": "8K"}, 400, "Resolution: Choose 1K, 2K or 4K."),
        ({"face_ids": "abc"}, 400, "The first face you picked was not found; reload the page"),
        ({"resolution": "2K"}, 403, "2K needs the Starter plan or higher."),
        ({"aspect_ratio": "9:16"}, 403, "The 9:16 aspect ratio needs the Starter plan or higher."),
        ({"resolution": "4K"}, 403, "4K needs the Advanced plan or higher."),
        ({"aspect_ratio": "21:9"}, 403, "The 21:9 aspect ratio needs the Advanced plan or higher."),
        ({"variations": "2"}, 403, "The Free plan allows up to 1 variation per request."),
        ({"style_id": "999999"}, 404, "Something you picked no longer exists."),
    ],
)
def test_refusals_are_fragments_for_generate_errors(
    owner_client, owner, overrides, status, message
) -> None:
    response = owner_client.post("/studio/generate", form(**overrides), **HTMX)
    assert response.status_code == status
    assert response.headers["HX-Retarget"] == "#generate-errors"
    assert response.headers["HX-Reswap"] == "innerHTML"
    html = response.content.decode().strip()
    assert html.startswith('<p class="error">')
    assert message in html
    # Developer wording the form showed: "variation(s)", a label and then the field's name
    # ("Aspect ratio: aspect_ratio must be ..."), a list item's index ("Faces: item 0: ...").
    assert not any(word in html for word in ("(s)", "_", "item 0", "valid integer")), html
    assert "<html" not in html
    assert "job-" not in html
    assert not Job.objects.filter(user=owner).exists()
    assert get_balance(owner) == 10


def test_plan_limits_and_bad_picks_read_as_a_creators_words(owner_client, owner) -> None:
    """ "up to 1 variation(s)" counted in words, plural when it is more than one; a face that
    is not one (a stale or forged pick) is named by its place, in the form and in the API."""
    set_plan(owner, "starter")
    response = owner_client.post("/studio/generate", form(variations="3"), **HTMX)
    assert "The Starter plan allows up to 2 variations per request." in response.content.decode()
    response = owner_client.post("/studio/generate", {**form(), "face_ids": ["2", "x"]}, **HTMX)
    assert "The second face you picked was not found; reload the page and pick again." in (
        response.content.decode()
    )
    api = owner_client.post_json("/api/generate", {"title": "T", "face_ids": [1, 2**64]})
    assert api.json()["error"] == (
        "face_ids: The second face you picked was not found; reload the page and pick again."
    )


def test_insufficient_credits_is_a_402_fragment(owner_client, owner) -> None:
    adjust_credits(user=owner, amount=-10, idempotency_key="drain", reason="test")
    response = owner_client.post("/studio/generate", form(), **HTMX)
    assert response.status_code == 402
    assert response.headers["HX-Retarget"] == "#generate-errors"
    html = response.content.decode()
    assert '<p class="error">This needs 1 credit; you have 0.' in html
    assert 'href="/plans/"' in html
    assert not Job.objects.filter(user=owner).exists()


def test_reused_key_with_other_values_is_a_409_with_a_fresh_key(owner_client, owner) -> None:
    owner_client.post("/studio/generate", form(key="r" * 32), **HTMX)
    response = owner_client.post(
        "/studio/generate", form(key="r" * 32, title="Something else"), **HTMX
    )
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#generate-errors"
    html = response.content.decode()
    assert "already sent with other values" in html
    assert oob_key(html) != "r" * 32
    assert Job.objects.filter(user=owner).count() == 1
    assert get_balance(owner) == 9


def finished_job(owner: Any, title: str) -> dict[str, Any]:
    """A generate job that succeeded with its one thumbnail (tests.factories: stored files)."""
    job: Any = JobFactory(user=owner, title=title, status="succeeded", thumbnails=True)
    return {"id": str(job.pk)}


def test_finished_card_adds_its_thumbnails_to_the_gallery_out_of_band(owner, owner_client) -> None:
    job = finished_job(owner, TITLE)
    from_studio = {**HTMX, "HTTP_HX_CURRENT_URL": "http://testserver/studio/?order=newest"}
    html = owner_client.get(f"/studio/jobs/{job['id']}", **from_studio).content.decode()
    assert 'data-status="succeeded"' in html
    assert '<div hx-swap-oob="afterbegin:#gallery-live">' in html
    # Refreshed from a page without the gallery (a thumbnail's large view): no gallery swap.
    elsewhere = {**HTMX, "HTTP_HX_CURRENT_URL": "http://testserver/studio/thumbnails/1"}
    card = owner_client.get(f"/studio/jobs/{job['id']}", **elsewhere).content.decode()
    assert 'data-status="succeeded"' in card and "#gallery-live" not in card
    thumbnail = owner_client.get(f"/api/jobs/{job['id']}").json()["thumbnails"][0]
    assert f'id="thumbnail-{thumbnail["id"]}"' in html
    assert f"/api/thumbnails/{thumbnail['id']}/download?size=youtube" in html


def test_a_finished_card_adds_only_thumbnails_the_gallerys_filters_show(
    owner, owner_client
) -> None:
    """With Favourites or a search on, a new thumbnail went to the top of the gallery and was
    gone on a reload (walkthrough 2026-12-04): the card adds it only when the filters in the
    studio's address show it, and otherwise says where it went."""
    job = finished_job(owner, "Coffee shop tour")
    hidden = "Made 1 thumbnail; it is not shown under this filter."
    # "Show all" drops the filters, and keeps an order other than newest first.
    for query, show_all in (
        ("favorites=true", "/studio/"),
        ("q=tea&order=newest", "/studio/"),
        ("order=title&q=tea", "/studio/?order=title"),
        ("favorites=true&order=oldest", "/studio/?order=oldest"),
    ):
        address = f"http://testserver/studio/?{query}"
        html = owner_client.get(
            f"/studio/jobs/{job['id']}", **HTMX, HTTP_HX_CURRENT_URL=address
        ).content.decode()
        assert "#gallery-live" not in html, query
        assert hidden in html and f'<a href="{show_all}">Show all</a>' in html, query
        assert "data-collapse" not in html, query  # the card stays to say so
    for query in ("q=coffee", "order=newest", "favorites=false&q=SHOP"):
        address = f"http://testserver/studio/?{query}"
        html = owner_client.get(
            f"/studio/jobs/{job['id']}", **HTMX, HTTP_HX_CURRENT_URL=address
        ).content.decode()
        assert '<div hx-swap-oob="afterbegin:#gallery-live">' in html, query
        assert hidden not in html, query


def test_a_finished_card_under_another_order_says_where_its_thumbnails_went(
    owner, owner_client
) -> None:
    """Sorted Oldest, Title A-Z or by clicks, a new thumbnail was put at the top of the gallery,
    where that order does not put it (walkthrough 2026-12-04): the card leaves the gallery as
    it is and says so, with a link to the newest-first gallery under the same filters."""
    job = finished_job(owner, "Coffee shop tour")
    thumbnail = Thumbnail.objects.get(job_id=job["id"])
    for query, label, newest in (
        ("order=oldest", "Oldest", "/studio/"),
        ("order=title&q=coffee", "Title A-Z", "/studio/?order=newest&amp;q=coffee"),
        ("order=clicks&favorites=false", "Most share clicks", "/studio/"),
    ):
        html = owner_client.get(
            f"/studio/jobs/{job['id']}",
            **HTMX,
            HTTP_HX_CURRENT_URL=f"http://testserver/studio/?{query}",
        ).content.decode()
        assert "#gallery-live" not in html, query
        # The note links the new thumbnail's large view (walkthrough 2026-12-04: no way to it).
        page = f"/studio/thumbnails/{thumbnail.pk}"
        assert (
            f"Made 1 thumbnail; the gallery's order is “{label}”, so it is not added at its"
            f' top. <a href="{page}">Open the thumbnail</a> · <a href="{newest}">Show newest'
            " first</a>"
        ) in html, query
        assert "data-collapse" not in html, query  # the card stays to say so
        assert "not shown under this filter" not in html, query


def test_a_finished_card_says_the_offline_renderer_shortened_the_title(
    owner_client, submit, run_jobs, face_photo_bytes
) -> None:
    """Beside a face, this title does not fit at reading size (tests/test_renderer_craft.py)."""
    face = owner_client.post(
        "/api/faces",
        {"name": "Eileen", "images": [SimpleUploadedFile("f.png", face_photo_bytes, "image/png")]},
    ).json()
    cinematic = Style.objects.get(slug="cinematic")
    title = "I Spent 30 Days Living Like a Medieval Peasant and This Is What Happened To My Body"
    body = {"title": title, "face_ids": [face["id"]], "style_id": cinematic.pk}
    job = submit(owner_client, body).json()
    run_jobs()
    card = owner_client.get(f"/studio/jobs/{job['id']}", **HTMX).content.decode()
    assert 'data-status="succeeded"' in card
    assert '<p class="hint job-note">The title was shortened to &quot;I Spent 30 Days' in card
    short = submit(owner_client, {"title": "Coffee"}).json()
    run_jobs()
    assert (
        "job-note" not in owner_client.get(f"/studio/jobs/{short['id']}", **HTMX).content.decode()
    )


def test_studio_form_has_every_field_and_names_the_plan_behind_locked_options(
    owner_client, owner, face_photo_bytes
) -> None:
    owner_client.post(
        "/api/faces",
        {"name": "Eileen", "images": [SimpleUploadedFile("f.png", face_photo_bytes, "image/png")]},
    )
    Project.objects.create(owner=owner, name="Coffee series")
    html = owner_client.get("/studio/").content.decode()
    for name in (
        "title",
        "instructions",
        "style_id",
        "palette_id",
        "face_ids",
        "expression",
        "pose",
        "aspect_ratio",
        "resolution",
        "variations",
        "project_id",
        "idempotency_key",
    ):
        assert f'name="{name}"' in html, name
    # Offline (no GEMINI_API_KEY) there is no model to pick, and the page says what a key adds.
    assert 'name="model"' not in html
    assert "Offline renderer." in html and "GEMINI_API_KEY" in html
    # ... and beside the fields the offline renderer does not follow, what it does with them
    assert 'id="instructions-hint">Offline, these are saved' in html
    assert 'id="expression-hint">Offline, your photo is used as it is' in html
    assert 'id="pose" name="pose" aria-describedby="expression-hint"' in html
    assert 'id="instructions" name="instructions"' in html and "instructions-hint" in html
    assert re.search(r'<option value="2K" disabled>2K · Starter</option>', html)
    assert re.search(r'<option value="4K" disabled>4K · Advanced</option>', html)
    assert re.search(r'<option value="9:16" disabled >9:16 · Starter</option>', html)
    assert '<option value="1" >1</option>' in html
    assert '<option value="2" disabled>2 · Starter</option>' in html
    assert re.search(r'<div id="gallery-grid"[^>]* role="feed"', html)
    assert 'id="generate-errors"' in html
    assert 'role="alert"' in html
    assert '<div id="jobs" aria-live="polite">' in html

    set_plan(owner, "pro")
    html = owner_client.get("/studio/").content.decode()
    assert '<option value="4K" >4K</option>' in html
    assert "disabled" not in re.search(r'<select id="aspect_ratio".*?</select>', html).group(0)


def test_library_shows_credits_and_palette_errors_keep_the_input(owner_client) -> None:
    response = owner_client.post(
        "/studio/library/palettes", {"name": "Mine", "colors": "#12345, red"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "The palette was not saved." in html
    assert 'value="#12345, red"' in html
    assert 'aria-invalid="true"' in html
    assert '<a id="credits" class="credits"' in html
    assert "10 credits" in html
    assert 'type="color"' in html


def test_a_palette_of_one_colour_three_times_is_refused(owner_client) -> None:
    response = owner_client.post(
        "/studio/library/palettes", {"name": "Same", "colors": "#FF0044, #ff0044, #FF0044"}
    )
    assert response.status_code == 400
    assert "Give each colour once: #FF0044 repeats." in response.content.decode()


def test_seven_colours_typed_with_commas_are_counted_not_cut_short(owner_client) -> None:
    """Seven colours typed "#112233, ... #FFFFFF" (61 characters) were cut by the field's
    maxlength of 60 to "#FFFFF" in the browser ('"#FFFFF" is not a colour') and refused by its length on the
    server; now neither input has a maxlength and the count says what is wrong, as it did for
    the same seven separated by spaces."""
    seven = "#112233, #ABCDEF, #ABCDEF, #FF0000, #00FF00, #0000FF, #FFFFFF"
    assert len(seven) == 61
    library = owner_client.get("/studio/library/").content.decode()
    field = re.search(r'<input[^>]* id="palette_colors"[^>]*>', library)
    assert field and "maxlength" not in field.group(0)
    response = owner_client.post("/studio/library/palettes", {"name": "Seven", "colors": seven})
    assert response.status_code == 400
    html = response.content.decode()
    assert "A palette has 3 to 6 colours; this has 7." in html
    assert "at most 60 characters" not in html
    assert f'value="{seven}"' in html  # kept whole for the creator to remove one
    # Six, one of them twice: the repeat is named.
    response = owner_client.post(
        "/studio/library/palettes", {"name": "Six", "colors": seven.rsplit(",", 1)[0]}
    )
    assert "Give each colour once: #ABCDEF repeats." in response.content.decode()


def test_at_the_free_limit_the_style_and_palette_forms_give_way_to_a_note(owner, owner_client):
    """Free keeps one custom style and one palette: the library showed both forms, which only
    refused on saving. At the limit each is a note with the way on, as the faces' form is."""
    library = owner_client.get("/studio/library/").content.decode()
    assert 'action="/studio/library/styles#styles"' in library and 'id="palette-form"' in library
    Style.objects.create(owner=owner, name="Mine", prompt="neon")
    Palette.objects.create(owner=owner, name="Mine", colors=["#111111", "#222222", "#333333"])
    library = owner_client.get("/studio/library/").content.decode()
    assert "plan's 1 custom style." in library and "plan's 1 custom palette." in library
    assert 'action="/studio/library/styles#styles"' not in library
    assert 'id="palette-form"' not in library


def test_home_lists_the_plans(anon_client) -> None:
    html = anon_client.get("/").content.decode()
    for text in ("Free", "$0", "Starter", "$19.99", "Advanced", "$49.99", "Pro", "$99.99"):
        assert text in html, text


def test_studio_shows_the_jobs_in_flight_and_none_once_they_finish(owner, owner_client) -> None:
    assert 'class="job ' not in owner_client.get("/studio/").content.decode()
    queued = Job.objects.create(
        user=owner, type="generate_thumbnails", params={"title": "In flight"}, units=1
    )
    running = Job.objects.create(user=owner, type="generate_thumbnails", status="running")
    Job.objects.create(user=owner, type="generate_thumbnails", status="succeeded")
    html = owner_client.get("/studio/").content.decode()
    assert f'id="job-{queued.pk}"' in html and "In flight" in html
    assert f'id="job-{running.pk}"' in html
    assert html.count('class="job ') == 2
    Job.objects.filter(pk__in=[queued.pk, running.pk]).update(status="failed")
    assert 'class="job ' not in owner_client.get("/studio/").content.decode()


@pytest.mark.parametrize(
    ("hx_target", "errors"),
    [
        ("results-analyse_palette", "#errors-analyse_palette"),  # the large view: under the form
        ("jobs", "#tool-errors"),  # any other form
        ("results-thumbnail_check", "#tool-errors"),  # another tool's box: not this one's
    ],
)
def test_a_tools_refusal_lands_under_its_own_form(owner_client, hx_target, errors) -> None:
    response = owner_client.post(
        "/studio/tools/analyse_palette",
        {"thumbnail_id": "1"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET=hx_target,
    )
    assert response.status_code == 404  # no such thumbnail of the creator's
    assert response.headers["HX-Retarget"] == errors
    assert response.content.decode().startswith('<p class="error">')


def test_the_offline_expression_hint_names_what_the_renderer_reacts_to() -> None:
    """The hint says Excited, Shocked or Laughing crop closer and Leaning in tilts: the offline
    renderer's word lists, and the only form choices they match."""
    from generation.providers.local import _TILT_WORDS, _ZOOM_WORDS
    from studio.views import EXPRESSIONS, POSES

    assert [e for e in EXPRESSIONS if e and any(w in e for w in _ZOOM_WORDS)] == [
        "excited",
        "shocked",
        "laughing",
    ]
    assert [p for p in POSES if p and any(w in p for w in _TILT_WORDS)] == ["leaning in"]


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("http://testserver/studio/?q=coffee", "/accounts/login/?next=%2Fstudio%2F%3Fq%3Dcoffee"),
        ("https://evil.example/studio/", "/accounts/login/"),  # not this site: no `next`
        ("//evil.example/studio/", "/accounts/login/"),
        ("", "/accounts/login/"),
    ],
)
def test_an_htmx_request_after_the_session_ended_sends_the_page_to_sign_in(
    anon_client, current, expected
) -> None:
    """htmx followed login_required's 302 and swapped the whole sign-in page into the job list.
    An htmx request gets HX-Redirect (a whole-page load, read on a 2xx) to sign-in instead, with
    `next` the page the creator was on, this site's only."""
    headers = {**HTMX, "HTTP_HX_CURRENT_URL": current} if current else HTMX
    for response in (
        anon_client.post("/studio/generate", form(), **headers),
        anon_client.get("/studio/gallery?q=coffee", **headers),
    ):
        assert response.status_code == 200, response
        assert response["HX-Redirect"] == expected
        assert response.content == b""


def test_a_page_request_after_the_session_ended_is_still_redirected(anon_client) -> None:
    response = anon_client.get("/studio/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/studio/"
    assert "HX-Redirect" not in response
