"""`edit_thumbnail`: offline redraws from the source's parameters with the changes applied, Gemini
edits of the source image itself, versions (parent, root), refunds, access and input limits, and
the tool form on the large view."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape
from PIL import Image, ImageChops

from billing.services import get_balance
from generation.catalog import default_image_model
from generation.models import Job
from generation.providers.local import LocalRenderer
from studio.job_types.edit import offline_request
from studio.models import Face, FaceImage, Palette, Project, Style, Thumbnail
from tests import fake_gemini as fake_gemini_module
from tests.conftest import JSONClient, set_plan
from tests.factories.generation import JobFactory
from tests.fake_gemini import FakeGemini
from tests.test_gemini_provider import sent_image

fake_gemini = fake_gemini_module.fake_gemini
gemini_settings = fake_gemini_module.gemini_settings

TITLE = "Coffee Shops: Only 1 Was Worth It"

pytestmark = pytest.mark.usefixtures("clean_cache")


@pytest.fixture
def make_thumbnail(
    submit: Callable[..., Any], run_jobs: Callable[[], int]
) -> Callable[..., Thumbnail]:
    """Generate one thumbnail through POST /api/generate and the worker."""

    def _make(client: JSONClient, **body: Any) -> Thumbnail:
        response = submit(client, {"title": TITLE, **body})
        assert response.status_code == 202, response.content
        run_jobs()
        return Thumbnail.objects.get(job_id=response.json()["id"])

    return _make


def made(owner: Any, title: str = TITLE, **fields: Any) -> Thumbnail:
    """A generate job's thumbnail as the worker leaves it, its credits charged (JobFactory:
    `fields` such as aspect_ratio, resolution, unit_cost; small stored files, no render): a
    source or reference for tests whose subject is the edit, not how its source was drawn. The
    offline redraw starts from the source's parameters, which are as the worker stores them;
    tests that compare an edit's pixels with its source's generate the source."""
    job: Any = JobFactory(
        user=owner, title=title, status="succeeded", charged=True, thumbnails=True, **fields
    )
    return Thumbnail.objects.get(job=job)


@pytest.fixture
def finished(
    run_jobs: Callable[[], int], django_capture_on_commit_callbacks: Any
) -> Callable[[JSONClient, str], dict[str, Any]]:
    """Run the queued jobs (their on-commit `discard` included); the job's API payload."""

    def _finished(client: JSONClient, job_id: str) -> dict[str, Any]:
        with django_capture_on_commit_callbacks(execute=True):
            run_jobs()
        return client.get(f"/api/jobs/{job_id}").json()

    return _finished


@pytest.fixture
def edit(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """POST /api/jobs with type edit_thumbnail (JSON, or multipart with `files`), the Dramatiq
    send executed on commit."""

    def _edit(client: JSONClient, data: dict[str, Any], files: list[Any] | None = None) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            if files is None:
                return client.post_json("/api/jobs", {"type": "edit_thumbnail", "input": data})
            return client.post("/api/jobs", {"type": "edit_thumbnail", **data, "references": files})

    return _edit


def pixels(name: str) -> Image.Image:
    with default_storage.open(name, "rb") as handle:
        return Image.open(io.BytesIO(handle.read())).convert("RGB")


def stored_edits() -> set[str]:
    return set(default_storage.listdir("edits")[1]) if default_storage.exists("edits") else set()


def png_upload(colour: tuple[int, int, int], name: str = "ref.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 180), colour).save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), "image/png")


@pytest.mark.parametrize("plan", ["free", "starter"])
def test_offline_edit_redraws_a_new_linked_version_with_the_changes(
    plan, owner, owner_client, make_thumbnail, edit, finished
) -> None:
    set_plan(owner, plan)
    project = Project.objects.create(owner=owner, name="Coffee")
    source = make_thumbnail(owner_client, project_id=project.pk)
    assert get_balance(owner) == 9

    response = edit(
        owner_client,
        {
            "thumbnail_id": source.pk,
            "instruction": "Make it about tea",
            "changes": {"title": "Tea Shops: All 3 Were Great"},
        },
    )
    assert response.status_code == 202, response.content
    assert response.json()["cost"] == 2
    assert get_balance(owner) == 7

    data = finished(owner_client, response.json()["id"])
    assert (data["status"], data["model"], data["cost"]) == ("succeeded", "local", 2)
    [payload] = data["thumbnails"]
    assert payload["parent_id"] == source.pk
    new = Thumbnail.objects.get(pk=payload["id"])
    assert (new.parent_id, new.root_id, new.lineage_id) == (source.pk, source.pk, source.pk)
    assert new.title == "Tea Shops: All 3 Were Great"
    assert new.project_id == project.pk  # keeps the source's project
    assert (new.aspect_ratio, new.resolution) == (source.aspect_ratio, source.resolution)
    assert new.has_watermark is (plan == "free")
    assert new.parameters["instruction"] == "Make it about tea"  # kept for the record
    assert "instruction" not in payload["parameters"]  # but never in the public payload
    before, after = pixels(source.image.name), pixels(new.image.name)
    assert before.size == after.size
    assert ImageChops.difference(before, after).getbbox() is not None
    source.refresh_from_db()
    assert source.parent_id is None and source.title == TITLE  # the source is untouched
    assert get_balance(owner) == 7


def test_unchanged_parameters_redraw_the_source_pixel_for_pixel(
    starter, owner_client, make_thumbnail, edit, finished
) -> None:
    """The offline redraw really starts from the source's own parameters and seed: with the
    change taken back out, the request renders exactly the source."""
    style = Style.objects.filter(owner__isnull=True).exclude(slug="").order_by("pk").last()
    palette = Palette.objects.filter(owner__isnull=True).order_by("pk").last()
    source = make_thumbnail(owner_client, style_id=style.pk, palette_id=palette.pk)
    response = edit(owner_client, {"thumbnail_id": source.pk, "changes": {"title": "Other"}})
    job = Job.objects.get(pk=response.json()["id"])
    assert job.params["style"]["slug"] == style.slug
    assert job.params["palette"]["colors"] == list(palette.colors)
    # The source's own layout (generate offsets each job's layouts), not its variation index.
    assert job.params["layout"] == source.parameters["layout"]
    same = offline_request({**job.params, "title": source.title}, [])
    redrawn = LocalRenderer().generate_image(same)
    original = pixels(source.image.name)
    assert (
        ImageChops.difference(
            Image.open(io.BytesIO(redrawn.data)).convert("RGB"), original
        ).getbbox()
        is None
    )


def test_edit_of_an_edit_lists_every_version_newest_first(
    starter, owner_client, edit, finished
) -> None:
    source = made(starter)
    first = edit(owner_client, {"thumbnail_id": source.pk, "changes": {"title": "Second"}})
    v2 = Thumbnail.objects.get(pk=finished(owner_client, first.json()["id"])["thumbnails"][0]["id"])
    second = edit(
        owner_client,
        {"thumbnail_id": v2.pk, "instruction": "", "changes": {"new_seed": True}},
    )
    data = finished(owner_client, second.json()["id"])
    v3 = Thumbnail.objects.get(pk=data["thumbnails"][0]["id"])
    assert (v3.parent_id, v3.root_id) == (v2.pk, source.pk)
    assert v3.title == "Second"  # the edit's own parameters carry on
    assert v3.parameters["seed"] != v2.parameters["seed"]  # a new seed was asked for
    assert ImageChops.difference(pixels(v2.image.name), pixels(v3.image.name)).getbbox()

    api = owner_client.get(f"/api/thumbnails/{v3.pk}").json()
    assert api["parent_id"] == v2.pk
    assert [v["id"] for v in api["versions"]] == [v3.pk, v2.pk, source.pk]
    assert [v["parent_id"] for v in api["versions"]] == [v2.pk, source.pk, None]
    assert all(v["download_url"].endswith("?size=youtube") for v in api["versions"])
    assert owner_client.get(f"/api/thumbnails/{source.pk}").json()["parent_id"] is None

    html = owner_client.get(f"/studio/thumbnails/{source.pk}").content.decode()
    versions = html[html.index('class="version-list"') :]
    positions = [versions.index(f'href="/studio/thumbnails/{t.pk}"') for t in (v3, v2, source)]
    assert positions == sorted(positions)
    assert get_balance(starter) == 10 - 1 - 2 - 2

    # Deleting the original leaves the edits one line, the oldest first of it.
    assert owner_client.delete(f"/api/thumbnails/{source.pk}").status_code == 204
    api = owner_client.get(f"/api/thumbnails/{v3.pk}").json()
    assert [v["id"] for v in api["versions"]] == [v3.pk, v2.pk]
    assert Thumbnail.objects.get(pk=v2.pk).root_id is None


def test_an_edit_whose_source_was_deleted_is_not_called_the_original(
    starter, owner_client, edit, finished
) -> None:
    """Deleting A from its large view left its edit B labelled "· original" in B's own version
    list, under B's edit instruction (creator review 2026-12-05): B was made by an edit, and says
    so, from a thumbnail that is gone; the original of a line is still called that."""
    source = made(starter)
    job = edit(owner_client, {"thumbnail_id": source.pk, "changes": {"title": "Second"}})
    v2 = Thumbnail.objects.get(pk=finished(owner_client, job.json()["id"])["thumbnails"][0]["id"])
    before = owner_client.get(f"/studio/thumbnails/{v2.pk}").content.decode()
    originals = before[before.index('class="version-list"') :].count(" · original")
    deleted = owner_client.post(f"/studio/thumbnails/{source.pk}/delete", {"studio": "/studio/"})
    assert deleted.status_code == 302
    html = owner_client.get(f"/studio/thumbnails/{v2.pk}").content.decode()
    versions = html[html.index('class="version-list"') :]
    assert originals == 1  # the source, before it went
    assert " · original" not in versions
    assert " · edit of a deleted thumbnail" in versions
    assert "edited from a deleted thumbnail" in html[: html.index("</figcaption>")]


def test_with_gemini_the_source_image_goes_first_then_the_references(
    starter, owner_client, edit, finished, gemini_settings: FakeGemini
) -> None:
    source = made(starter, aspect_ratio="1:1", resolution="2K", unit_cost=2)
    reference = made(starter, title="Reference")
    gemini_settings.requests.clear()
    response = edit(
        owner_client,
        {
            "thumbnail_id": source.pk,
            "instruction": "Put a steaming cup in the middle",
            "reference_image_ids": str(reference.pk),
            "changes": '{"title": "Tea Time: Brewed Right"}',
        },
        files=[png_upload((10, 200, 30))],
    )
    assert response.status_code == 202, response.content
    data = finished(owner_client, response.json()["id"])
    assert data["status"] == "succeeded", data
    assert data["model"] == default_image_model("starter").id

    [request] = gemini_settings.generate_requests()
    assert request.model == data["model"]
    text, *images = request.parts
    assert "Put a steaming cup in the middle" in text["text"]
    assert "Images 2 to 3 are references" in text["text"]
    assert 'headline text to "Tea Time" and the sub-line to "Brewed Right"' in text["text"]
    sent = [sent_image(part) for part in images]
    blobs = [blob for blob, _ in sent]
    assert len(blobs) == 3
    with default_storage.open(source.image.name, "rb") as handle:
        assert blobs[0] == handle.read()  # the SOURCE first, as stored
    with default_storage.open(reference.image_medium.name, "rb") as handle:
        assert blobs[1] == handle.read()
    assert [mime for _, mime in sent] == ["image/png", "image/webp", "image/png"]
    assert Image.open(io.BytesIO(blobs[2])).getpixel((5, 5)) == (10, 200, 30)  # the upload
    config = request.generation_config["imageConfig"]
    assert (config["aspectRatio"], config["imageSize"]) == ("1:1", "2K")

    new = Thumbnail.objects.get(pk=data["thumbnails"][0]["id"])
    assert (new.parent_id, new.root_id, new.width, new.height) == (source.pk, source.pk, 2048, 2048)
    job = Job.objects.get(pk=data["id"])
    assert not any(default_storage.exists(name) for name in job.params["stored"])
    assert get_balance(starter) == 10 - 2 - 1 - 2


def test_a_safety_refusal_is_refunded(
    starter, owner_client, edit, finished, gemini_settings: FakeGemini
) -> None:
    source = made(starter)
    balance = get_balance(starter)
    gemini_settings.script("image_safety")
    response = edit(owner_client, {"thumbnail_id": source.pk, "instruction": "Add flames"})
    assert response.status_code == 202
    assert get_balance(starter) == balance - 2
    data = finished(owner_client, response.json()["id"])
    assert data["status"] == "failed"
    assert data["error_code"] == "safety_blocked"
    assert "refunded" in data["error"]
    assert data["thumbnails"] == []
    assert get_balance(starter) == balance
    assert Thumbnail.objects.filter(parent=source).count() == 0


def test_strangers_thumbnails_styles_and_faces_are_404(starter, owner_client, other, edit) -> None:
    mine = made(starter)
    theirs = made(other, title="Not yours")
    their_palette = Palette.objects.create(owner=other, name="Theirs", colors=["#000000"] * 3)
    their_face = Face.objects.create(owner=other, name="Them")
    for body in (
        {"thumbnail_id": theirs.pk, "changes": {"title": "Mine now"}},
        {"thumbnail_id": mine.pk, "reference_image_ids": [theirs.pk], "instruction": "x"},
        {"thumbnail_id": mine.pk, "changes": {"palette_id": their_palette.pk}},
        {"thumbnail_id": mine.pk, "changes": {"face_ids": [their_face.pk]}},
    ):
        response = edit(owner_client, body)
        assert response.status_code == 404, body
        assert response.json()["code"] == "not_found"
    assert not Job.objects.filter(type="edit_thumbnail").exists()
    assert get_balance(starter) == 9


def test_instruction_and_reference_limits(starter, owner_client, edit) -> None:
    source = made(starter)
    others = [made(starter, title=f"Ref {i}") for i in range(5)]
    stored_before = stored_edits()
    too_long = edit(
        owner_client,
        {"thumbnail_id": source.pk, "instruction": "x" * 501, "changes": {"title": "New"}},
    )
    assert too_long.status_code == 400
    assert too_long.json()["code"] == "invalid"
    assert "instruction" in too_long.json()["fields"]

    five = edit(
        owner_client,
        {"thumbnail_id": source.pk, "reference_image_ids": [t.pk for t in others]},
    )
    assert five.status_code == 400
    assert five.json()["code"] == "invalid"
    mixed = edit(
        owner_client,
        {"thumbnail_id": source.pk, "reference_image_ids": ",".join(str(t.pk) for t in others[:3])},
        files=[png_upload((1, 2, 3), "a.png"), png_upload((4, 5, 6), "b.png")],
    )
    assert mixed.status_code == 400
    assert "at most 4" in mixed.json()["error"]
    assert not Job.objects.filter(type="edit_thumbnail").exists()
    assert stored_edits() == stored_before  # nothing stored for refused requests

    exactly = edit(
        owner_client,
        {"thumbnail_id": source.pk, "instruction": "x" * 500, "changes": {"title": "New"}},
    )
    assert exactly.status_code == 202


def test_offline_an_instruction_alone_is_refused_with_the_reason(
    starter, owner_client, edit
) -> None:
    source = made(starter)
    response = edit(
        owner_client,
        {"thumbnail_id": source.pk, "instruction": "Make it pop", "changes": {"title": TITLE}},
    )
    assert response.status_code == 400
    assert "Offline, ViewBait redraws the thumbnail from its settings" in response.json()["error"]
    assert "\u201cNew background details\u201d" in response.json()["error"]  # the form's checkbox
    assert get_balance(starter) == 9


def test_a_new_face_and_an_uploaded_backdrop_offline(
    starter, owner_client, make_thumbnail, edit, finished, face_photo_bytes
) -> None:
    source = make_thumbnail(owner_client)
    face = owner_client.post(
        "/api/faces",
        {"name": "Eileen", "images": [SimpleUploadedFile("f.jpg", face_photo_bytes, "image/jpeg")]},
    ).json()
    response = edit(
        owner_client,
        {"thumbnail_id": source.pk, "changes.face_ids": str(face["id"])},
        files=[png_upload((250, 120, 0))],
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    [stored] = job.params["stored"]
    assert default_storage.exists(stored)
    data = finished(owner_client, str(job.pk))
    new = Thumbnail.objects.get(pk=data["thumbnails"][0]["id"])
    assert new.parameters["face_ids"] == [face["id"]]
    assert ImageChops.difference(pixels(source.image.name), pixels(new.image.name)).getbbox()
    assert not default_storage.exists(stored)  # the upload is deleted once the job ended


def test_the_large_view_form_posts_an_edit_and_the_card_links_the_new_version(
    starter,
    owner_client,
    finished,
    django_capture_on_commit_callbacks,
) -> None:
    source = made(starter)
    references = [made(starter, title=f"Ref {i}") for i in range(2)]
    first_face = Face.objects.create(owner=starter, name="Only face")
    FaceImage.objects.create(face=first_face, image="faces/only.jpg", width=8, height=8)
    with CaptureQueriesContext(connection) as small_library:
        html = owner_client.get(f"/studio/thumbnails/{source.pk}").content.decode()
    assert 'id="tool-edit_thumbnail"' in html
    assert 'maxlength="500"' in html
    assert f'value="{TITLE}"' in html  # the text field starts from the source's
    assert "only a Gemini API key makes it change the picture" in html
    for reference in references:
        assert f'class="edit-ref" name="reference_image_ids" value="{reference.pk}"' in html
    # More faces (with photos) and palettes, same number of queries (Django skips the photos'
    # prefetch query when there is no face at all, hence one face above).
    for i in range(3):
        face = Face.objects.create(owner=starter, name=f"F{i}")
        FaceImage.objects.create(face=face, image=f"faces/f{i}.jpg", width=8, height=8)
        Palette.objects.create(owner=starter, name=f"P{i}", colors=["#112233"] * 3)
    with CaptureQueriesContext(connection) as larger_library:
        owner_client.get(f"/studio/thumbnails/{source.pk}")
    assert len(larger_library) == len(small_library) <= 20

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/studio/tools/edit_thumbnail",
            {
                "thumbnail_id": source.pk,
                "instruction": "Brighter",
                "changes.title": "Brighter: Still Coffee",
                "changes.style_id": "",
                "changes.palette_id": "",
                "changes.face_ids": "",
                "reference_image_ids": [r.pk for r in references],
            },
            HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 202, response.content
    job = Job.objects.get(type="edit_thumbnail")
    assert job.params["reference_image_ids"] == [r.pk for r in references]
    assert len(job.params["references"]) == 2
    assert job.params["changed"] == ["title", "references"]
    finished(owner_client, str(job.pk))
    card = owner_client.get(
        f"/studio/jobs/{job.pk}",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver/studio/thumbnails/{source.pk}",
    ).content.decode()
    new = Thumbnail.objects.get(parent=source)
    assert f'<a href="/studio/thumbnails/{new.pk}">Open the new version</a>' in card
    assert f"/api/thumbnails/{new.pk}/download?size=youtube" in card
    assert "with a <code>GEMINI_API_KEY</code>, Gemini edits the image itself" in card
    # Out of band, the new version joins the list of the line it belongs to.
    oob = f"afterbegin:.version-list:has(a[href='/studio/thumbnails/{source.pk}'])"
    assert oob in card
    studio_card = owner_client.get(
        f"/studio/jobs/{job.pk}",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/studio/",
    ).content.decode()
    assert "Open the new version" in studio_card and oob not in studio_card
    # The new version's own page shows the instruction the edit form said was saved with it
    # (it was shown nowhere; third walkthrough).
    page = owner_client.get(f"/studio/thumbnails/{new.pk}").content.decode()
    assert "Edit instruction: “<bdi>Brighter</bdi>” (kept for the record" in page
    assert (
        "Edit instruction"
        not in owner_client.get(f"/studio/thumbnails/{source.pk}").content.decode()
    )


def test_an_edit_leaves_out_a_style_its_owner_has_made_private_since(
    owner, owner_client, other, make_thumbnail, edit
) -> None:
    """Made with another creator's public style, then the style went private: the edit's
    snapshot no longer copies its prompt and reference images, as if it were deleted."""
    from studio.models import Style

    set_plan(owner, "pro")
    shared = Style.objects.create(owner=other, name="Theirs", prompt="Secret look.", is_public=True)
    source = make_thumbnail(owner_client, style_id=shared.pk)
    Style.objects.filter(pk=shared.pk).update(is_public=False)
    response = edit(owner_client, {"thumbnail_id": source.pk, "changes": {"new_seed": True}})
    assert response.status_code == 202, response.content
    params = Job.objects.get(pk=response.json()["id"]).params
    assert params["style_id"] == shared.pk and "style" not in params
    # While it is still shared, the edit keeps it.
    Style.objects.filter(pk=shared.pk).update(is_public=True)
    again = edit(owner_client, {"thumbnail_id": source.pk, "changes": {"new_seed": True}})
    assert Job.objects.get(pk=again.json()["id"]).params["style"]["prompt"] == "Secret look."


def test_an_edit_in_flight_when_the_original_goes_joins_the_line(
    starter, owner_client, edit, finished
) -> None:
    """The line's edits move under its oldest edit when the original is deleted; an edit of
    the original still queued then joins them, not a line of its own."""
    source = made(starter)
    first = edit(owner_client, {"thumbnail_id": source.pk, "changes": {"title": "Second"}})
    v2 = Thumbnail.objects.get(pk=finished(owner_client, first.json()["id"])["thumbnails"][0]["id"])
    pending = edit(owner_client, {"thumbnail_id": source.pk, "changes": {"title": "Third"}})
    assert owner_client.delete(f"/api/thumbnails/{source.pk}").status_code == 204
    data = finished(owner_client, pending.json()["id"])
    v3 = Thumbnail.objects.get(pk=data["thumbnails"][0]["id"])
    versions = [v["id"] for v in owner_client.get(f"/api/thumbnails/{v2.pk}").json()["versions"]]
    assert versions == [v3.pk, v2.pk]
    assert (v3.parent_id, v3.root_id) == (None, v2.pk)  # its parent is gone


def test_the_edit_form_says_when_the_style_or_palette_it_was_made_with_is_gone(
    owner, owner_client, make_thumbnail
) -> None:
    """Made with a custom style and palette the creator deleted since, a thumbnail's edit form
    showed "No style" and "Style's colours" as if they were its own, and a redraw for a new
    title came back without the look (third walkthrough): the form says they are gone."""
    style = Style.objects.create(owner=owner, name="Dark Red Headlines", prompt="Dark red.")
    palette = Palette.objects.create(owner=owner, name="Embers", colors=["#3A150B", "#BC4A2F"])
    source = make_thumbnail(owner_client, style_id=style.pk, palette_id=palette.pk)
    page = owner_client.get(f"/studio/thumbnails/{source.pk}").content.decode()
    assert "is no longer in your library" not in page
    style.delete()
    palette.delete()
    page = owner_client.get(f"/studio/thumbnails/{source.pk}").content.decode()
    assert (
        "Its style, “Dark Red Headlines”, is no longer in your library: the new version is "
        "drawn with the style picked here."
    ) in page
    assert "Its palette, “Embers”, is no longer in your library" in page
    # Its job purged (job history retention), the form still says so, without the name.
    Job.objects.filter(pk=source.job_id).delete()
    page = owner_client.get(f"/studio/thumbnails/{source.pk}").content.decode()
    assert "The style it was made with is no longer in your library" in page


def test_the_renderers_notes_stay_on_the_thumbnails_large_view(
    owner, owner_client, make_thumbnail, edit, finished, monkeypatch
) -> None:
    """A sub-line the offline renderer left out was said only on the job card, which goes: the
    large view showed the full text with no reason. Its notes are kept with the thumbnail (an
    offline edit's redraw too) and shown on its page."""
    real = LocalRenderer.generate_image

    def with_note(self: LocalRenderer, request: Any) -> Any:
        generated = real(self, request)
        sub = request.spec.subtitle
        generated.notes = (f'The sub-line "{sub}" was left out: it would not be readable.',)
        return generated

    monkeypatch.setattr(LocalRenderer, "generate_image", with_note)
    source = make_thumbnail(owner_client)
    note = 'The sub-line "Only 1 Was Worth It" was left out: it would not be readable.'
    page = owner_client.get(f"/studio/thumbnails/{source.pk}").content.decode()
    assert escape(note) in page

    response = edit(owner_client, {"thumbnail_id": source.pk, "changes": {"title": "Tea: All 3"}})
    assert response.status_code == 202, response.content
    [payload] = finished(owner_client, response.json()["id"])["thumbnails"]
    page = owner_client.get(f"/studio/thumbnails/{payload['id']}").content.decode()
    assert escape('The sub-line "All 3" was left out') in page
    assert escape(note) not in page  # the source's notes are the source's
    assert "notes" not in payload["parameters"]  # the API payload's parameters stay allowlisted


def test_an_edit_whose_references_the_storage_cannot_save_is_a_503_charging_nothing(
    starter, owner_client, edit, monkeypatch
) -> None:
    """POST /api/jobs edit_thumbnail with `references` on a full disk (or S3 refusing) was a 500:
    it is 503 `storage_unavailable` with Retry-After, no job, nothing charged, and the reference
    stored before the fault deleted."""
    from django.core.files.storage import FileSystemStorage

    source = made(starter)
    balance = get_balance(starter)
    before = stored_edits()
    real_save = FileSystemStorage._save
    written: list[str] = []

    def save(self: FileSystemStorage, name: str, content: Any) -> str:
        if written:
            raise OSError(30, "Read-only file system")
        written.append(real_save(self, name, content))
        return written[-1]

    monkeypatch.setattr(FileSystemStorage, "_save", save)
    jobs = Job.objects.count()
    response = edit(
        owner_client,
        {"thumbnail_id": source.pk, "changes.title": "Other"},
        files=[png_upload((250, 120, 0)), png_upload((0, 120, 250), "b.png")],
    )
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "storage_unavailable"
    assert response["Retry-After"] == str(response.json()["retry_after"])
    assert len(written) == 1
    assert stored_edits() == before
    assert Job.objects.count() == jobs
    assert get_balance(starter) == balance
