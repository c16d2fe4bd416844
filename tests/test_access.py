"""Another user's objects are 404 everywhere; the JSON API honours CSRF with the session cookie."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from studio.models import Palette, Style
from tests.factories.generation import JobFactory

pytestmark = pytest.mark.django_db


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (9, 9, 9)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def owned(owner, owner_client):
    face = owner_client.post(
        "/api/faces", {"name": "Me", "images": [SimpleUploadedFile("a.png", png(), "image/png")]}
    ).json()
    made: Any = JobFactory(user=owner, title="Mine", status="succeeded", thumbnails=True)
    job = owner_client.get(f"/api/jobs/{made.pk}").json()
    thumbnail = job["thumbnails"][0]
    style = Style.objects.create(owner=owner, name="Secret sauce", prompt="SECRET PROMPT")
    palette = Palette.objects.create(
        owner=owner, name="Mine", colors=["#000000", "#FFFFFF", "#FF0000"]
    )
    return {"face": face, "job": job, "thumbnail": thumbnail, "style": style, "palette": palette}


def test_strangers_get_404(owned, other_client) -> None:
    urls = [
        f"/api/jobs/{owned['job']['id']}",
        f"/api/thumbnails/{owned['thumbnail']['id']}",
        f"/api/thumbnails/{owned['thumbnail']['id']}/download?size=youtube",
        f"/api/faces/{owned['face']['id']}",
        f"/studio/jobs/{owned['job']['id']}",
    ]
    for url in urls:
        response = other_client.get(url)
        assert response.status_code == 404, url
    assert other_client.delete(f"/api/faces/{owned['face']['id']}").status_code == 404
    assert (
        other_client.post(f"/studio/library/faces/{owned['face']['id']}/delete").status_code == 404
    )
    assert (
        other_client.post(f"/studio/library/styles/{owned['style'].pk}/delete").status_code == 404
    )


def test_strangers_cannot_generate_with_my_assets(owned, other_client) -> None:
    for field, value in (
        ("face_ids", [owned["face"]["id"]]),
        ("style_id", owned["style"].pk),
        ("palette_id", owned["palette"].pk),
    ):
        response = other_client.post_json("/api/generate", {"title": "x", field: value})
        assert response.status_code == 404, field
        assert response.json()["code"] == "not_found"


def test_private_style_hidden_and_public_style_hides_prompt(
    owned, owner_client, other_client
) -> None:
    names = [s["name"] for s in other_client.get("/api/styles").json()["results"]]
    assert "Secret sauce" not in names
    owned["style"].is_public = True
    owned["style"].save()
    [public] = [
        s for s in other_client.get("/api/styles").json()["results"] if s["name"] == "Secret sauce"
    ]
    assert "prompt" not in public
    [mine] = [
        s for s in owner_client.get("/api/styles").json()["results"] if s["name"] == "Secret sauce"
    ]
    assert mine["prompt"] == "SECRET PROMPT"
    assert len(other_client.get("/api/styles").json()["results"]) >= 7


def test_a_published_style_shows_a_drawn_preview_never_its_reference(
    owner, other_client, django_capture_on_commit_callbacks
) -> None:
    """A published custom style's preview, as another creator gets it (the API's preview_url,
    the library's preview route), is the style drawn over a blurred backdrop, not its first
    reference image: the preview was a copy of that image, handed to every creator. A style
    saved that way gets its preview drawn on its next preview request, and the copy goes."""
    from django.core.files.storage import default_storage

    from tests.factories.studio import FACE_PHOTO, uploaded_style

    reference = FACE_PHOTO.read_bytes()
    style = uploaded_style(owner, name="Holiday look", public=True, reference_name="holiday.jpg")
    stored = style.reference_images.get().image
    with stored.open("rb") as handle:
        reference_copy = handle.read()  # the reference as stored (re-encoded)

    def seen_preview() -> Image.Image:
        [public] = [
            s for s in other_client.get("/api/styles").json()["results"] if s["id"] == style.pk
        ]
        url = public["preview_url"]
        if url.startswith("/studio/"):  # the route that draws it, then the file
            with django_capture_on_commit_callbacks(execute=True):
                url = other_client.get(url)["Location"]
        with default_storage.open(url.split("?")[0].removeprefix("/media/"), "rb") as handle:
            data = handle.read()
        assert data not in (reference, reference_copy)
        return Image.open(io.BytesIO(data))

    preview = seen_preview()
    assert (preview.format, preview.size) == ("WEBP", (640, 360))

    # A style stored before: its preview a JPEG copy of the reference.
    copy = default_storage.save("styles/previews/old-copy.jpg", io.BytesIO(reference_copy))
    Style.objects.filter(pk=style.pk).update(preview=copy)
    assert seen_preview().format == "WEBP"
    assert not default_storage.exists(copy)


def test_job_not_found_for_garbage_id(owner_client) -> None:
    assert owner_client.get("/api/jobs/not-a-uuid").status_code == 404


def test_api_requires_csrf_token_with_session(owner) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    refused = client.post("/api/generate", "{}", content_type="application/json")
    assert refused.status_code == 403
    assert set(refused.json()) == {"error", "code"}
    client.get("/studio/")
    token = client.cookies["csrftoken"].value
    accepted = client.post(
        "/api/generate", '{"title": "ok"}', content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert accepted.status_code == 202
