"""Odd input is a 4xx `{"error", "code"}`, never a server error: the cases a QA pass found."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

HUGE = 10**30


@pytest.fixture
def thumbnail_id(owner) -> int:
    """One of the owner's thumbnails (a factory row: these requests never read its image)."""
    from tests.factories.studio import ThumbnailFactory

    return int(ThumbnailFactory(owner=owner).pk)


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "generate_thumbnails", "input": {"face_ids": [HUGE]}},
        {"type": "generate_thumbnails", "input": {"face_ids": ["abc"]}},
        {"type": "edit_thumbnail", "input": {"thumbnail_id": 1, "reference_image_ids": [HUGE]}},
        {"type": "edit_thumbnail", "input": {"thumbnail_id": 1, "changes": {"face_ids": "abc"}}},
        [1, 2],
        None,
        "text",
    ],
)
def test_jobs_api_refuses_odd_bodies_with_json_400(owner_client, payload: Any) -> None:
    response = owner_client.post_json("/api/jobs", payload)
    assert response.status_code in (400, 404), response.content
    assert response.json()["code"] in ("invalid", "not_found")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "/api/thumbnails/{id}", {"project_id": "x"}),
        ("patch", "/api/thumbnails/{id}", {"project_id": HUGE}),
        ("post", "/api/thumbnails/move", {"thumbnail_ids": [HUGE]}),
        ("post", "/api/thumbnails/move", {"thumbnail_ids": ["a"], "project_id": None}),
        ("get", "/api/thumbnails?project=" + str(HUGE), None),
        ("post", "/api/projects", {"name": {"a": 1}}),
    ],
)
def test_library_api_refuses_odd_ids(owner_client, thumbnail_id, method, path, body) -> None:
    url = path.format(id=thumbnail_id)
    if method == "get":
        response = owner_client.get(url)
    else:
        response = getattr(owner_client, method)(
            url, json.dumps(body), content_type="application/json"
        )
    assert response.status_code == 400, response.content
    assert response.json()["code"] in ("invalid", "invalid_filter", "invalid_cursor")


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/studio/generate", {"face_ids": "abc", "title": "x"}),
        ("/studio/generate", {"face_ids": str(HUGE), "title": "x"}),
        ("/studio/tools/edit_thumbnail", {"thumbnail_id": "1", "reference_image_ids": str(HUGE)}),
    ],
)
def test_studio_forms_answer_odd_values_with_a_fragment(owner_client, path, data) -> None:
    response = owner_client.post(path, data, HTTP_HX_REQUEST="true")
    assert response.status_code in (400, 404)
    assert 'class="error"' in response.content.decode()


@pytest.mark.parametrize("path", ["/studio/?project=" + str(HUGE), "/studio/gallery?project=abc"])
def test_studio_pages_survive_odd_filters(owner_client, path) -> None:
    assert owner_client.get(path).status_code in (200, 400)


# One shared guard (viewbait.input_guard, core.parsers) for what no single schema can catch.


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "a\\u0000b"}',  # NUL: PostgreSQL text cannot hold it
        '{"name": "a\\ud800b"}',  # a lone surrogate: UTF-8 cannot encode it
        '{"name": "ok", "\\udfff": 1}',  # in a key too
    ],
)
def test_json_with_nul_or_lone_surrogate_is_400(owner_client, body) -> None:
    response = owner_client.post("/api/projects", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_characters"
    assert owner_client.get("/api/projects").json()["results"] == []


def test_deeply_nested_json_is_400(owner_client) -> None:
    body = "[" * 100_000 + "]" * 100_000  # past Python's recursion limit
    response = owner_client.post("/api/jobs", body, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (400, "too_deep")
    nested: Any = {"a": 1}
    for _ in range(30):
        nested = {"x": nested}
    response = owner_client.post_json("/api/jobs", {"type": "generate_thumbnails", "input": nested})
    assert (response.status_code, response.json()["code"]) == (400, "too_deep")


def test_form_fields_with_nul_are_400_in_the_views_own_error_shape(owner_client) -> None:
    """The guard refuses a NUL before any view runs; it answered raw JSON where the studio's
    forms show every other refusal as a `<p class="error">` fragment for their error box
    (HX-Retarget), so the creator saw nothing. A form whose errors are JSON (the studio's
    new-project form) and the API keep JSON."""
    too_long = owner_client.post("/studio/generate", {"title": "x" * 500}, HTTP_HX_REQUEST="true")
    assert too_long.status_code == 400
    for data in ({"title": "a\x00bad"}, {"title\x00": "x"}):
        response = owner_client.post("/studio/generate", data, HTTP_HX_REQUEST="true")
        assert response.status_code == 400, response.content
        assert response["Content-Type"].startswith("text/html")
        assert response["HX-Retarget"] == too_long["HX-Retarget"] == "#generate-errors"
        assert response["HX-Reswap"] == too_long["HX-Reswap"]
        html = response.content.decode()
        assert html.startswith('<p class="error">') and "NUL" in html, html
        assert too_long.content.decode().startswith('<p class="error">')
    under_own_form = owner_client.post(
        "/studio/tools/enhance_title",
        {"title": "a\x00b"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="results-enhance_title",
    )
    assert (under_own_form.status_code, under_own_form["HX-Retarget"]) == (
        400,
        "#errors-enhance_title",
    )
    elsewhere = owner_client.post("/studio/tools/enhance_title", {"title": "a\x00b"})
    assert (elsewhere.status_code, elsewhere["HX-Retarget"]) == (400, "#tool-errors")
    for path, data in (
        ("/studio/projects", {"name": "a\x00b"}),
        ("/api/projects", {"name": "\x00"}),
    ):
        response = owner_client.post(path, data, HTTP_HX_REQUEST="true")
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "invalid_characters"


def test_an_oversized_upload_to_a_studio_form_is_its_error_fragment(owner_client, settings) -> None:
    settings.UPLOAD_MAX_REQUEST_BYTES = 10_000
    photo = SimpleUploadedFile("a.png", b"\x89PNG" + b"\0" * 20_000, "image/png")
    response = owner_client.post(
        "/studio/tools/analyse_palette", {"image": photo}, HTTP_HX_REQUEST="true"
    )
    assert (response.status_code, response["HX-Retarget"]) == (413, "#tool-errors")
    assert response.content.decode().startswith('<p class="error">The images are too large')


@pytest.mark.parametrize("path", ["/studio/?q=a%00b", "/api/thumbnails?q=%00", "/api/jobs/a%00b"])
def test_query_and_path_with_nul_are_400(owner_client, path) -> None:
    response = owner_client.get(path)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_characters"


def test_oversized_json_body_is_json_413(owner_client, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = owner_client.post_json("/api/projects", {"name": "x" * 2000})
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_oversized_multipart_body_is_json_413(owner_client, settings) -> None:
    settings.UPLOAD_MAX_REQUEST_BYTES = 10_000
    photo = SimpleUploadedFile("a.png", b"\x89PNG" + b"\0" * 20_000, "image/png")
    response = owner_client.post("/api/faces", {"name": "Big", "images": [photo]})
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_oversized_form_without_content_length_check_is_json_413(owner_client, settings) -> None:
    """A urlencoded body over the limit: refused whichever check sees it first."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = owner_client.post("/studio/projects", {"name": "x" * 5000}, HTTP_HX_REQUEST="true")
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_overlong_url_is_414(owner_client, settings) -> None:
    response = owner_client.get("/api/thumbnails?q=" + "a" * settings.MAX_URL_LENGTH)
    assert response.status_code == 414
    assert response.json()["code"] == "url_too_long"
    assert owner_client.get("/api/thumbnails?q=" + "a" * 100).status_code == 200


def test_move_form_refuses_a_unicode_digit(owner_client, thumbnail_id) -> None:
    """ "²".isdigit() is true but int("²") fails: the form parses ids with parse_id."""
    response = owner_client.post(f"/studio/thumbnails/{thumbnail_id}/move", {"project_id": "²"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        f"/api/projects/{HUGE}/thumbnails",
        f"/api/projects/{HUGE}",
        f"/api/thumbnails/{HUGE}",
        f"/api/faces/{HUGE}",
        "/api/thumbnails/0",
        f"/studio/thumbnails/{HUGE}",
        f"/share/some-token/t/{HUGE}",
    ],
)
def test_ids_no_primary_key_can_hold_are_404(owner_client, path: str) -> None:
    """studio.converters' `<id:>`: an id above 2**63 - 1 (or 0) matches no route. With Django's
    `<int:>` it reached the database: an OverflowError (500) on SQLite."""
    response = owner_client.get(path)
    assert response.status_code == 404
    if path.startswith("/api/"):
        assert response.json()["code"] == "not_found"


# --- cases a fuzzing pass found (each was a 500) -------------------------------------------------


def test_a_multipart_stripe_webhook_is_400(anon_client) -> None:
    """The input guard parses a multipart body before the view, which then could not read
    `request.body`: Stripe sends JSON, so anything else is refused before the body is read."""
    response = anon_client.post("/stripe/webhook/", {"x": "y"})
    assert response.status_code == 400
    assert response.json()["code"] == "bad_webhook"


def test_a_non_ascii_digit_in_a_media_expiry_is_404(anon_client) -> None:
    assert anon_client.get("/media/thumbnails/a.png?e=%C2%B2&s=x").status_code == 404


@pytest.mark.parametrize("size", [(1300, 1), (1, 1300)])
def test_a_photo_one_pixel_thin_is_refused_as_too_small(owner_client, size) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 60, 40)).save(buffer, "PNG")
    photo = SimpleUploadedFile("strip.png", buffer.getvalue(), "image/png")
    response = owner_client.post("/api/faces", {"name": "Strip", "images": [photo]})
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "image_too_small"
    assert "at least 16 px" in response.json()["error"]


def test_a_download_whose_file_is_gone_is_a_json_404(owner, owner_client) -> None:
    from tests.test_private_media import store_thumbnail

    thumbnail = store_thumbnail(owner)
    assert owner_client.get(f"/api/thumbnails/{thumbnail.pk}/download").status_code == 200
    thumbnail.download.storage.delete(thumbnail.download.name)
    thumbnail.image.storage.delete(thumbnail.image.name)
    for size in ("youtube", "full"):
        response = owner_client.get(f"/api/thumbnails/{thumbnail.pk}/download?size={size}")
        assert response.status_code == 404, size
        assert response.json()["code"] == "not_found"


def test_a_download_meets_an_image_accept_header(owner, owner_client, other_client) -> None:
    """`Accept: image/jpeg` on the JPEG download (as an image client sends) was a 406: the view
    lists only JSON for DRF's negotiation. The file goes out whatever is accepted, with its own
    type, and an error is still the API's JSON (core.api.FileNegotiation)."""
    from tests.test_private_media import store_thumbnail

    thumbnail = store_thumbnail(owner)
    url = f"/api/thumbnails/{thumbnail.pk}/download"
    for accept, size, content_type in (
        ("image/jpeg", "youtube", "image/jpeg"),
        ("image/png,image/*;q=0.8", "full", "image/png"),
        ("application/octet-stream", "youtube", "image/jpeg"),
    ):
        response = owner_client.get(f"{url}?size={size}", HTTP_ACCEPT=accept)
        assert (response.status_code, response["Content-Type"]) == (200, content_type), accept
    refused = other_client.get(url, HTTP_ACCEPT="image/jpeg")  # a stranger's: JSON 404
    assert (refused.status_code, refused.json()["code"]) == (404, "not_found")


def test_a_download_of_a_thumbnail_without_files_is_a_json_404(owner, owner_client) -> None:
    """A row with no file names (one the admin's Add thumbnail made, before it was removed):
    the downloads failed with 500."""
    from studio.models import Thumbnail
    from tests.test_private_media import store_thumbnail

    thumbnail = store_thumbnail(owner)
    Thumbnail.objects.filter(pk=thumbnail.pk).update(download="", image="")
    for size in ("youtube", "full"):
        response = owner_client.get(f"/api/thumbnails/{thumbnail.pk}/download?size={size}")
        assert response.status_code == 404, size
        assert response.json()["code"] == "not_found"


def test_an_unexpected_error_under_api_is_json(owner_client, thumbnail_id, monkeypatch) -> None:
    from studio import services

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(services, "access_thumbnail", broken)
    owner_client.raise_request_exception = False
    response = owner_client.get(f"/api/thumbnails/{thumbnail_id}/download")
    assert response.status_code == 500
    assert response.json() == {
        "error": "Something went wrong on our side; try again.",
        "code": "server_error",
    }
    page = owner_client.get(f"/studio/thumbnails/{thumbnail_id}")
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_a_refused_csrf_check_says_so_where_htmx_shows_it(owner) -> None:
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post("/studio/projects", {"name": "Vlogs"}, headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response["HX-Retarget"] == "#main"
    assert "out of date" in response.content.decode()
    page = client.post("/studio/projects", {"name": "Vlogs"})  # a plain form post
    assert page.status_code == 403 and "HX-Retarget" not in page
    api = client.post("/api/projects", {"name": "Vlogs"}, content_type="application/json")
    assert api.status_code == 403 and api.json()["code"] == "permission_denied"


def test_a_project_update_with_one_bad_field_changes_nothing(owner, owner_client) -> None:
    from studio.models import Project

    project = Project.objects.create(owner=owner, name="Vlogs")
    owner_client.post(f"/studio/projects/{project.pk}", {"name": "Trips", "share_mode": "bogus"})
    project.refresh_from_db()
    assert (project.name, project.share_mode) == ("Vlogs", "off")


@pytest.mark.parametrize("key", ["a\x00b", "tab\there", "line\nbreak"])
def test_an_idempotency_key_with_control_characters_is_a_json_400(
    starter, owner_client, key
) -> None:
    """A NUL in the Idempotency-Key header reached PostgreSQL's text column: a 500."""
    response = owner_client.post_json(
        "/api/jobs",
        {"type": "enhance_title", "input": {"title": "My trip"}},
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize("path", ["/api/projects", "/studio/projects"])
def test_a_form_in_a_charset_other_than_utf8_is_a_json_400(owner_client, path) -> None:
    """Django refuses to read a urlencoded body declared in another charset (BadRequest): it
    was Django's bare HTML "Bad Request (400)" page, under /api/ too."""
    response = owner_client.post(
        path,
        "name=Trips",  # the test client encodes it in the declared charset
        content_type="application/x-www-form-urlencoded; charset=utf-16",
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_form"


@pytest.mark.parametrize("path", ["/api/faces", "/studio/library/faces"])
def test_more_files_than_django_reads_is_a_json_400(owner_client, settings, path) -> None:
    """Past DATA_UPLOAD_MAX_NUMBER_FILES Django raises TooManyFilesSent: Django's bare HTML
    "Bad Request (400)" page, under /api/ too, where TooManyFieldsSent was the guard's JSON."""
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    files = [SimpleUploadedFile(f"{i}.png", b"x", "image/png") for i in range(4)]
    response = owner_client.post(path, {"name": "Me", "images": files}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_form"


def test_a_request_django_refuses_is_json_under_the_api_and_the_sites_page_elsewhere(
    owner_client,
) -> None:
    """handler400 (here a Host not in ALLOWED_HOSTS) was Django's bare HTML page everywhere."""
    api = owner_client.get("/api/me", HTTP_HOST="evil.example")
    assert api.status_code == 400
    assert api.json() == {"error": "The request could not be understood.", "code": "bad_request"}
    page = owner_client.get("/studio/", HTTP_HOST="evil.example")
    assert page.status_code == 400
    assert 'class="topbar"' in page.content.decode()


@pytest.mark.parametrize(
    ("method", "path", "body", "unknown"),
    [
        ("patch", "/api/thumbnails/{thumbnail}", {"title": "New"}, ["title"]),
        (
            "patch",
            "/api/thumbnails/{thumbnail}",
            {"is_favorite": True, "owner_id": 3},
            ["owner_id"],
        ),
        ("patch", "/api/styles/{style}", {"name": "S", "owner": 3, "is_public": True}, None),
        ("patch", "/api/palettes/{palette}", {"colours": ["#000000"] * 3}, ["colours"]),
        ("patch", "/api/projects/{project}", {"share": "all"}, ["share"]),
        ("post", "/api/projects", {"name": "P", "share_mode": "all"}, ["share_mode"]),
        ("post", "/api/thumbnails/move", {"thumbnail_ids": [], "project": None}, ["project"]),
        ("put", "/api/me/youtube-channel", {"channel": "", "url": "x"}, ["url"]),
    ],
)
def test_unknown_fields_are_a_400_naming_them_and_change_nothing(
    owner, owner_client, method, path, body, unknown
) -> None:
    """A field the request does not take (misspelt, read-only, another model's) answered 200
    with nothing changed; now 400 `invalid` naming each (in the message and in `fields`), and
    the fields it does take are not applied either."""
    from studio.models import Palette, Style, Thumbnail
    from tests.factories.studio import ProjectFactory, ThumbnailFactory

    unknown = unknown or ["is_public", "owner"]
    ids = {
        "thumbnail": ThumbnailFactory(owner=owner).pk,
        "style": Style.objects.create(owner=owner, name="Mine", prompt="Bold.").pk,
        "palette": Palette.objects.create(
            owner=owner, name="Mine", colors=["#112233", "#445566", "#778899"]
        ).pk,
        "project": ProjectFactory(owner=owner).pk,
    }
    response = getattr(owner_client, method)(
        path.format(**ids), json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["code"] == "invalid"
    assert sorted(name for name in data["fields"] if name != "non_field_errors") == unknown
    for name in unknown:
        assert f'"{name}"' in data["error"]
    assert data["error"].startswith("Unknown field")
    assert not Thumbnail.objects.filter(is_favorite=True).exists()
    assert not Style.objects.filter(name="S").exists()
    assert not owner.projects.filter(share_mode="all").exists()


def test_a_forms_csrf_token_is_no_unknown_field(owner, owner_client, face_photo_bytes) -> None:
    """A page's form posted as FormData carries Django's `csrfmiddlewaretoken`: the bodies that
    refuse fields they do not take accept it (a face upload and a thumbnail's PATCH were 400
    "Unknown field \"csrfmiddlewaretoken\"")."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test.client import encode_multipart

    from tests.factories.studio import ThumbnailFactory

    token = "x" * 32  # the test client checks no CSRF token; the field is what matters
    photo = SimpleUploadedFile("face.png", face_photo_bytes, "image/png")
    face = owner_client.post(
        "/api/faces", {"name": "Me", "images": [photo], "csrfmiddlewaretoken": token}
    )
    assert face.status_code == 201, face.content
    thumbnail = ThumbnailFactory(owner=owner)
    body = encode_multipart("BoUnDaRy", {"is_favorite": "true", "csrfmiddlewaretoken": token})
    patched = owner_client.patch(
        f"/api/thumbnails/{thumbnail.pk}",
        body,
        content_type="multipart/form-data; boundary=BoUnDaRy",
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["is_favorite"] is True


@pytest.mark.parametrize("path", ["/api/thumbnails", "/api/projects/{project}/thumbnails"])
def test_a_page_limit_below_one_is_a_400_like_a_word(owner, owner_client, path) -> None:
    """`?limit=0` and `?limit=-1` answered 200 with a page of one while `?limit=abc` was a 400:
    every limit that is not a whole number 1 or more is a 400 `invalid` naming `limit`, on
    every paged listing; an empty one is the default and a large one gives 100 at most."""
    from tests.factories.studio import ProjectFactory, ThumbnailFactory

    project = ProjectFactory(owner=owner)
    ThumbnailFactory.create_batch(2, owner=owner, project=project)
    url = path.format(project=project.pk)
    for bad in ("0", "-1", "-100", "abc", "1.5", "9" * 1001):
        response = owner_client.get(f"{url}?limit={bad}")
        assert response.status_code == 400, (bad, response.content)
        data = response.json()
        assert (data["code"], list(data["fields"])) == ("invalid", ["limit"]), bad
        assert data["error"].startswith("limit: "), data
    for good, rows in (("", 2), ("1", 1), ("1000", 2)):
        response = owner_client.get(f"{url}?limit={good}")
        assert (response.status_code, len(response.json()["results"])) == (200, rows), good


@pytest.mark.parametrize(
    ("path", "body", "unknown"),
    [
        ("/api/generate", {"title": "x", "bogus": 1}, ["bogus"]),
        (
            "/api/jobs",
            {"type": "enhance_title", "input": {"title": "hello", "bogus": 1}},
            ["bogus"],
        ),
        (
            "/api/jobs",
            {"type": "enhance_title", "input": {"title": "hello"}, "extra": 1},
            ["extra"],
        ),
        ("/api/jobs", {"type": "enhance_title", "title": "hello", "bogus": 1}, ["bogus"]),
        ("/api/jobs", "type=enhance_title&title=hello&bogus=1", ["bogus"]),
        ("/api/jobs", "type=thumbnail_check&thumbnail_id={thumbnail}&bogus=1", ["bogus"]),
        (
            "/api/jobs",
            {"type": "edit_thumbnail", "thumbnail_id": "{thumbnail}", "changes": {"titel": "x"}},
            ["titel"],
        ),
    ],
)
def test_a_job_request_with_an_unknown_field_is_a_400_before_any_charge(
    owner, owner_client, path, body, unknown
) -> None:
    """A field a job type's input does not take (or a top-level key beside `type` and `input`)
    was ignored: 202 and the credits charged. Now 400 `invalid` naming it, in validation, so no
    job is made and nothing is charged; JSON, a form post and multipart alike."""
    from django.test.client import encode_multipart

    from billing.services import get_balance
    from generation.models import Job
    from tests.conftest import set_plan
    from tests.factories.studio import ThumbnailFactory

    set_plan(owner, "pro")
    balance = get_balance(owner)
    thumbnail = ThumbnailFactory(owner=owner).pk
    if isinstance(body, str):
        fields = dict(pair.split("=") for pair in body.format(thumbnail=thumbnail).split("&"))
        response = owner_client.post(
            path,
            encode_multipart("BoUnDaRy", fields),
            content_type="multipart/form-data; boundary=BoUnDaRy",
        )
    else:
        text = json.dumps(body).replace('"{thumbnail}"', str(thumbnail))
        response = owner_client.post(path, text, content_type="application/json")
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["code"] == "invalid"
    for name in unknown:
        assert f'"{name}"' in data["error"], data
    assert "Unknown field" in data["error"], data
    assert Job.objects.count() == 0
    assert get_balance(owner) == balance


def test_unknown_project_default_settings_are_a_400_not_dropped(owner, owner_client) -> None:
    """`default_settings` are checked as a generate request is: a key it does not take was
    dropped (200, the key gone); now 400 `invalid` naming it, and nothing saved."""
    from tests.factories.studio import ProjectFactory

    project = ProjectFactory(owner=owner, default_settings={"variations": 2})
    response = owner_client.patch(
        f"/api/projects/{project.pk}",
        json.dumps({"default_settings": {"variations": 3, "bogus": 1}}),
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    data = response.json()
    assert data["code"] == "invalid"
    assert '"bogus"' in data["error"] and "default_settings" in data["fields"], data
    project.refresh_from_db()
    assert project.default_settings == {"variations": 2}
    ok = owner_client.patch(
        f"/api/projects/{project.pk}",
        json.dumps({"default_settings": {"variations": 3}}),
        content_type="application/json",
    )
    assert ok.status_code == 200, ok.content


def test_a_keyed_replay_of_the_same_body_answers_the_job_before_unknown_fields_are_checked(
    owner, owner_client, submit
) -> None:
    """The Idempotency-Key replay of exactly what was sent answers the original job before
    validation (generation.pipeline.sent_fingerprint): a job kept from before unknown fields
    were refused, whose body had one, still replays instead of answering 400."""
    from generation.models import Job
    from generation.pipeline import sent_fingerprint
    from generation.registry import get_job_type

    first = submit(owner_client, {"title": "Hello"}, key="old-key")
    assert first.status_code == 202, first.content
    sent = {"title": "Hello", "bogus": 1}
    Job.objects.filter(pk=first.json()["id"]).update(
        body_fingerprint=sent_fingerprint(get_job_type("generate_thumbnails"), sent, {})
    )
    again = submit(owner_client, sent, key="old-key")
    assert again.status_code == 202, again.content
    assert (again.json()["id"], again["Idempotent-Replayed"]) == (first.json()["id"], "true")
    assert submit(owner_client, sent, key="new-key").status_code == 400


def json_body_operations() -> list[tuple[str, str]]:
    """(method, path) of every API operation that takes a JSON body, from the OpenAPI schema."""
    from django.test import Client

    spec = Client().get("/api/schema/?format=json").json()
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                assert operation["requestBody"]["required"] is True, (method, path)  # as said
                found.append((method, path))
    return sorted(found)


@pytest.mark.django_db
def test_an_empty_json_body_is_refused_everywhere_uncharged(owner, owner_client) -> None:
    """An empty body (0 bytes, Content-Type: application/json) on POST /api/generate was read
    as `{}`: 202, an untitled thumbnail, 1 credit charged, while `[]` was 400 "Send a JSON
    object.". Every operation that takes a JSON body now refuses it the same way, and nothing
    is charged or changed."""
    from billing.services import get_balance
    from generation.models import Job
    from studio.models import Palette, Project, Style
    from tests.factories.studio import ProjectFactory, ThumbnailFactory

    project = ProjectFactory(owner=owner, name="Kept")
    ThumbnailFactory(owner=owner, project=project)
    ids = {
        "thumbnail_id": ThumbnailFactory(owner=owner).pk,
        "style_id": Style.objects.create(owner=owner, name="Mine", prompt="Bold.").pk,
        "palette_id": Palette.objects.create(
            owner=owner, name="Mine", colors=["#112233", "#445566", "#778899"]
        ).pk,
        "project_id": project.pk,
    }
    operations = json_body_operations()
    assert ("post", "/api/generate") in operations and ("post", "/api/jobs") in operations
    assert len(operations) >= 8, operations
    balance = get_balance(owner)
    for method, path in operations:
        url = path.format(**ids)
        response = getattr(owner_client, method)(url, b"", content_type="application/json")
        assert response.status_code == 400, (method, path, response.content)
        assert response.json()["code"] == "invalid", (method, path)
        assert response.json()["error"].startswith("Send a JSON object"), (method, path)
    assert get_balance(owner) == balance and not Job.objects.exists()
    assert list(Project.objects.filter(owner=owner).values_list("name", flat=True)) == ["Kept"]
    assert project.thumbnails.count() == 1
