"""`analyse_style`: measured offline descriptions on real photos, Gemini structured output with every
image, the plan gate, the result cache, saving the result as a style with its images as
references (quota, public payloads), and strangers' objects."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone
from PIL import Image, ImageDraw, ImageEnhance

from billing.services import get_balance
from generation.models import Job
from studio.job_types import analyse_style
from studio.job_types.analyse_style import (
    GRID_NAMES,
    _lab,
    _working_copy,
    colourfulness,
    colourfulness_label,
    estimate_text_coverage,
    face_detection_available,
    measure_image,
)
from studio.models import Style, StyleReferenceImage, Thumbnail
from tests import fake_gemini as fake_gemini_module
from tests.conftest import FACE_PHOTO, REFERENCE_PHOTO, JSONClient, set_plan
from tests.factories.studio import ThumbnailFactory, stored_png
from tests.fake_gemini import FakeGemini

fake_gemini = fake_gemini_module.fake_gemini
gemini_settings = fake_gemini_module.gemini_settings

pytestmark = pytest.mark.usefixtures("clean_cache")

_READINGS: dict[tuple[str, tuple[int, int], str], analyse_style.ImageReading] = {}


@pytest.fixture(autouse=True)
def _each_image_measured_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """`measure_image` is a function of the image's pixels alone, and the jobs here measure the
    same few images (the coffee photo and its re-exposures, the face photo, the factories'
    plain thumbnails) again in test after test (0.05-0.25 s of CPU each): each distinct image
    is measured once per test process and every job gets its own copy of that reading. The
    tests of `measure_image` itself call the real one (imported above)."""
    real = analyse_style.measure_image

    def measure(image: Image.Image) -> analyse_style.ImageReading:
        key = (hashlib.sha256(image.tobytes()).hexdigest(), image.size, image.mode)
        if key not in _READINGS:
            _READINGS[key] = real(image)
        return copy.deepcopy(_READINGS[key])

    monkeypatch.setattr(analyse_style, "measure_image", measure)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


@functools.cache
def coffee(brightness: float, colour: float) -> bytes:
    """The real coffee photo, re-exposed: > 1 brighter / more saturated, < 1 darker / greyer."""
    image = Image.open(REFERENCE_PHOTO).convert("RGB")
    image = ImageEnhance.Brightness(image).enhance(brightness)
    return png(ImageEnhance.Color(image).enhance(colour))


def upload(client: Any, *blobs: bytes, run: Any = None) -> dict[str, Any]:
    files = [SimpleUploadedFile(f"r{i}.png", data, "image/png") for i, data in enumerate(blobs)]
    response = client.post("/api/jobs", {"type": "analyse_style", "images": files})
    assert response.status_code == 202, response.content
    return response.json()


def finished(client: Any, job_id: str) -> dict[str, Any]:
    data = client.get(f"/api/jobs/{job_id}").json()
    assert data["status"] == "succeeded", data
    return data


def percent_after(label: str, text: str) -> int:
    match = re.search(rf"{label} (\d+)%", text)
    assert match, (label, text)
    return int(match.group(1))


def make_thumbnails(owner: Any, *titles: str) -> list[Thumbnail]:
    """One stored thumbnail per title for `owner` (tests.factories: small real files of a colour
    each; the YouTube download smaller than the others, as it is), in order."""
    colours = [(200, 40, 40), (30, 60, 190), (240, 200, 30), (20, 150, 70)]
    thumbnails: list[Any] = [
        ThumbnailFactory(
            owner=owner,
            title=title,
            stored=True,
            image=stored_png(colour=colour),
            download=stored_png((128, 72), colour),
        )
        for title, colour in zip(titles, colours * 3, strict=False)
    ]
    return thumbnails


def render_thumbnails(client: Any, submit: Any, run_jobs: Any, *titles: str) -> list[Thumbnail]:
    """Generate one thumbnail per title (offline) for the client's user; the new ones in order."""
    before = set(Thumbnail.objects.values_list("pk", flat=True))
    for title in titles:
        response = submit(client, {"title": title})
        assert response.status_code == 202, response.content
    run_jobs()
    return list(Thumbnail.objects.exclude(pk__in=before).order_by("created_at", "id"))


# --- measurements ------------------------------------------------------------------------------


def test_colourfulness_follows_hasler_and_susstrunk() -> None:
    grey = Image.new("RGB", (64, 64), (128, 128, 128))
    assert colourfulness(np.asarray(grey)) == 0
    assert colourfulness_label(0) == "not colourful"
    assert colourfulness_label(80) == "highly colourful"
    photo = measure_image(Image.open(REFERENCE_PHOTO))
    assert photo.colourfulness > 33  # a saturated orange and red photo
    assert photo.text_coverage < 0.05  # and no lettering in it


def test_text_coverage_tells_lettering_from_a_photo() -> None:
    from generation.providers.fonts import font_chain, get_font

    canvas = Image.new("L", (480, 270), 40)
    draw = ImageDraw.Draw(canvas)
    font = get_font(font_chain()[0], 64)
    draw.text((20, 40), "BIG NEWS", fill=250, font=font, stroke_width=4, stroke_fill=0)
    draw.text((20, 140), "TODAY", fill=250, font=font, stroke_width=4, stroke_fill=0)
    lettered = estimate_text_coverage(np.asarray(canvas, dtype=np.float32))
    photo = Image.open(REFERENCE_PHOTO).convert("L").resize((480, 320))
    assert lettered > 0.08
    assert estimate_text_coverage(np.asarray(photo, dtype=np.float32)) < 0.05


def test_8_bit_colours_go_to_lab_by_table_as_by_the_formula() -> None:
    """`_lab` linearises 8-bit pixels with a 256-entry table (the saliency behind layout by
    thirds): each level's value is the sRGB formula's, so the table changes no measurement."""
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rgb = np.stack([levels, levels.T, levels[::-1]], axis=-1)  # every level in every channel
    assert np.array_equal(_lab(rgb), _lab(rgb.astype(np.float64)))
    white = _lab(np.full((1, 1, 3), 255, dtype=np.uint8))[0, 0]
    assert np.allclose(white, (100, 0, 0), atol=0.01)  # D65 white: L* 100, a* = b* = 0


@pytest.mark.parametrize("size", [(16, 2048), (2048, 16), (450, 800)])
def test_a_strip_of_an_upload_is_measured_on_a_bounded_copy(size: tuple[int, int]) -> None:
    """decode_upload takes a 16 x 2048 px upload (MIN_SIDE, MAX_STORED_SIDE): its working copy
    at 480 px wide was 480 x 61440 px, and measuring it took the worker 6.8 GB and 24 s. A copy
    is now at most 4 times as tall as wide; a 9:16 picture keeps its shape."""
    strip = Image.new("RGB", size, (250, 230, 40))
    copy = _working_copy(strip)
    assert copy.width == 480 and copy.height <= 4 * 480
    if size == (450, 800):
        assert copy.size == (480, 853)
    reading = measure_image(strip)
    assert 0 <= reading.text_coverage <= 1 and len(reading.grid) == 3


def test_offline_bright_and_dark_references_get_measured_different_styles(
    starter, owner_client, django_capture_on_commit_callbacks, run_jobs, settings
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        bright_id = upload(owner_client, coffee(1.6, 1.8))["id"]
        dark_id = upload(owner_client, coffee(0.3, 0.4))["id"]
    stored = [e["name"] for e in Job.objects.get(pk=bright_id).params["images"]]
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs()
    bright = finished(owner_client, bright_id)
    dark = finished(owner_client, dark_id)
    assert bright["model"] == dark["model"] == "local"
    for data in (bright, dark):
        result = data["result"]
        assert result["measured_by"] == "local"
        assert 2 <= len(result["name"].split()) <= 4
        assert len(result["description"]) <= 300 and result["description"].endswith(".")
        assert 100 <= len(result["prompt"].split()) <= 200
    b, d = bright["result"], dark["result"]
    assert b["description"] != d["description"] and b["prompt"] != d["prompt"]
    # The numbers in the text are the measured ones, and they tell the two apart.
    b_lum = percent_after("mean luminance", b["description"])
    d_lum = percent_after("mean luminance", d["description"])
    assert b_lum == b["measurements"]["brightness_pct"]
    assert d_lum == d["measurements"]["brightness_pct"]
    assert b_lum >= d_lum + 25
    assert percent_after("saturation", b["description"]) > percent_after(
        "saturation", d["description"]
    )
    assert "vivid" in b["description"] and "dark (" in d["description"]
    assert f"around {b_lum}% mean luminance" in b["prompt"]
    assert b["measurements"]["colors"][0]["hex"] in b["prompt"]
    assert b["measurements"]["colourfulness"] > d["measurements"]["colourfulness"]
    assert get_balance(starter) == 8  # 1 credit each
    # Uploads stay with the job (they can still be saved as the style's references) ...
    assert all(os.path.exists(os.path.join(settings.MEDIA_ROOT, name)) for name in stored)
    saved = owner_client.post(f"/studio/jobs/{bright_id}/save-style", HTTP_HX_REQUEST="true")
    assert saved.status_code == 200
    assert StyleReferenceImage.objects.filter(style__owner=starter).count() == 1
    # ... until the job's history is purged.
    two_days_ago = timezone.now() - dt.timedelta(days=2)
    Job.objects.filter(user=starter).update(created_at=two_days_ago, finished_at=two_days_ago)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_job_history", "--days", "1", "--commit", stdout=io.StringIO())
    for name in stored:
        assert not os.path.exists(os.path.join(settings.MEDIA_ROOT, name))


def test_offline_text_faces_and_layout_are_measured(
    starter, owner_client, submit, run_jobs, django_capture_on_commit_callbacks
) -> None:
    # The renderer's own lettering against its text-free layout: what the measure is tuned on.
    lettered, plain = render_thumbnails(
        owner_client, submit, run_jobs, "I SURVIVED 100 DAYS: hardcore", ""
    )
    with django_capture_on_commit_callbacks(execute=True):
        ids = [
            owner_client.post_json(
                "/api/jobs", {"type": "analyse_style", "input": {"thumbnail_ids": [t.pk]}}
            ).json()["id"]
            for t in (lettered, plain)
        ]
        face_id = upload(owner_client, FACE_PHOTO.read_bytes())["id"]
    run_jobs()
    with_text, without_text, face = (finished(owner_client, i)["result"] for i in [*ids, face_id])
    assert with_text["measurements"]["images_with_text"] == 1
    assert with_text["measurements"]["text_coverage_pct"] >= 8
    assert without_text["measurements"]["images_with_text"] == 0
    assert "Typography: set short, bold thumbnail text" in with_text["prompt"]
    assert "free of text" in without_text["prompt"]
    layout = face["measurements"]["layout"]
    assert sum(map(sum, layout["grid_pct"])) in range(97, 104)
    assert layout["focus"] in {name for row in GRID_NAMES for name in row}
    assert layout["focus_pct"] == max(max(row) for row in layout["grid_pct"])
    faces = face["measurements"]["faces"]
    if face_detection_available():
        assert faces["measured"] and faces["images_with_faces"] == 1
        assert faces["largest_face_height_pct"] >= 10
        assert "faces in 1 of 1" in face["description"]
    else:
        assert faces == {"measured": False}


def test_the_tool_on_the_large_view_and_the_result_card(
    starter, owner_client, run_jobs, django_capture_on_commit_callbacks
) -> None:
    first, second, third = make_thumbnails(starter, "One", "Two", "Three")
    page = owner_client.get(f"/studio/thumbnails/{first.pk}").content.decode()
    assert 'id="tool-analyse_style"' in page
    assert f'name="thumbnail_ids" value="{first.pk}"' in page
    assert f'name="thumbnail_ids" value="{second.pk}"' in page  # pick more of the creator's
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            "/studio/tools/analyse_style",
            {"thumbnail_ids": [first.pk, third.pk]},
            HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 202, response.content
    job = Job.objects.get(type="analyse_style")
    assert [e["thumbnail_id"] for e in job.params["images"]] == [first.pk, third.pk]
    run_jobs()
    html = owner_client.get(f"/studio/jobs/{job.pk}", HTTP_HX_REQUEST="true").content.decode()
    result = Job.objects.get(pk=job.pk).result
    assert result["image_count"] == 2
    assert result["name"] in html and "Save as my style" in html
    assert f"/studio/jobs/{job.pk}/save-style" in html
    assert "Measured on this machine" in html and "A Gemini key adds" in html


def test_the_api_takes_thumbnail_ids_as_multipart_fields_too(starter, owner_client) -> None:
    """`POST /api/jobs` multipart takes the input's fields as the studio's forms send them: two
    thumbnail_ids fields are both analysed (QueryDict.items() kept the last: one analysed, the
    other dropped without a word)."""
    first, second = make_thumbnails(starter, "Dark roast", "Light roast")
    response = owner_client.post(
        "/api/jobs", {"type": "analyse_style", "thumbnail_ids": [first.pk, second.pk]}
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert [e["thumbnail_id"] for e in job.params["images"]] == [first.pk, second.pk]


def test_eleven_images_or_none_are_refused(starter, owner_client) -> None:
    response = owner_client.post_json(
        "/api/jobs", {"type": "analyse_style", "input": {"thumbnail_ids": []}}
    )
    assert response.status_code == 400
    blobs = [SimpleUploadedFile(f"{i}.png", coffee(1, 1), "image/png") for i in range(11)]
    response = owner_client.post("/api/jobs", {"type": "analyse_style", "images": blobs})
    assert response.status_code == 400
    assert "1 to 10" in response.json()["error"]
    # Not ids: a fraction, and JSON's 1e400 (a float infinity to Python) was a 500.
    for body in (b'{"thumbnail_ids": [1.7]}', b'{"thumbnail_ids": [1e400]}'):
        raw = b'{"type": "analyse_style", "input": ' + body + b"}"
        response = owner_client.post("/api/jobs", raw, content_type="application/json")
        assert response.status_code == 400, body
        assert response.json()["code"] == "invalid"
    assert get_balance(starter) == 10


# --- saving as a style ---------------------------------------------------------------------------


def analysed(client, owner, run_jobs, capture, count: int = 2) -> tuple[Job, list[Thumbnail]]:
    thumbs = make_thumbnails(owner, *[f"T{i}" for i in range(count)])
    with capture(execute=True):
        response = client.post(
            "/studio/tools/analyse_style",
            {"thumbnail_ids": [t.pk for t in thumbs]},
            HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 202
    run_jobs()
    return Job.objects.get(type="analyse_style"), thumbs


def test_save_as_my_style_keeps_the_images_as_references(
    starter, owner_client, submit, run_jobs, django_capture_on_commit_callbacks
) -> None:
    job, thumbs = analysed(owner_client, starter, run_jobs, django_capture_on_commit_callbacks)
    response = owner_client.post(f"/studio/jobs/{job.pk}/save-style", HTTP_HX_REQUEST="true")
    assert response.status_code == 200, response.content
    style = Style.objects.get(owner=starter)
    assert "Saved as your style" in response.content.decode()
    assert (style.name, style.description, style.prompt) == (
        job.result["name"],
        job.result["description"],
        job.result["prompt"],
    )
    assert not style.is_public
    refs = list(StyleReferenceImage.objects.filter(style=style))
    assert len(refs) == 2 and style.preview
    for ref, thumb in zip(refs, thumbs, strict=True):
        stored = Image.open(ref.image.path)
        assert stored.size == Image.open(thumb.download.path).size  # the thumbnail itself
        assert re.fullmatch(r"[0-9a-f]{32}", Path(ref.image.name).stem)  # random names
    # A second click saves nothing new.
    again = owner_client.post(f"/studio/jobs/{job.pk}/save-style", HTTP_HX_REQUEST="true")
    assert again.status_code == 200
    assert Style.objects.filter(owner=starter).count() == 1
    # The saved style is usable for generating right away (with its references).
    assert submit(owner_client, {"title": "Styled", "style_id": style.pk}).status_code == 202


def test_saving_counts_against_the_free_custom_asset_limit(
    starter, owner_client, run_jobs, django_capture_on_commit_callbacks
) -> None:
    job, _ = analysed(owner_client, starter, run_jobs, django_capture_on_commit_callbacks, 1)
    set_plan(starter, "free")  # the plan lapsed after the analysis
    Style.objects.create(owner=starter, name="Already mine", prompt="p")
    response = owner_client.post(f"/studio/jobs/{job.pk}/save-style", HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert response["HX-Retarget"] == f"#save-style-{job.pk}"
    html = response.content.decode()
    assert "allows 1 custom style." in html and 'href="/plans/"' in html
    assert Style.objects.filter(owner=starter).count() == 1
    Style.objects.filter(owner=starter).delete()
    plain = owner_client.post(f"/studio/jobs/{job.pk}/save-style")  # without htmx: a redirect
    assert plain.status_code == 302 and plain["Location"].endswith("/studio/library/#styles")
    assert Style.objects.filter(owner=starter, name=job.result["name"]).count() == 1


def test_a_public_saved_style_shows_neither_prompt_nor_references(
    starter, owner_client, other_client, run_jobs, django_capture_on_commit_callbacks
) -> None:
    job, _ = analysed(owner_client, starter, run_jobs, django_capture_on_commit_callbacks, 1)
    owner_client.post(
        f"/studio/jobs/{job.pk}/save-style", {"is_public": "true"}, HTTP_HX_REQUEST="true"
    )
    style = Style.objects.get(owner=starter)
    assert style.is_public and style.reference_images.count() == 1
    [listed] = [s for s in other_client.get("/api/styles").json()["results"] if s["id"] == style.pk]
    assert listed["name"] == style.name and not listed["mine"]
    assert "prompt" not in listed
    assert not any("reference" in key for key in listed)
    body = other_client.get("/api/styles").content.decode()
    assert style.prompt not in body
    reference = style.reference_images.get()
    assert reference.image.name not in body
    library = other_client.get("/studio/library/").content.decode()
    assert style.name in library and style.prompt[:60] not in library
    assert reference.image.url not in library
    mine = [s for s in owner_client.get("/api/styles").json()["results"] if s["id"] == style.pk]
    assert mine[0]["prompt"] == style.prompt  # the owner still sees it


def test_strangers_thumbnails_and_jobs_are_404(
    starter, owner_client, other, run_jobs, django_capture_on_commit_callbacks
) -> None:
    [theirs] = make_thumbnails(other, "Not yours")
    response = owner_client.post_json(
        "/api/jobs", {"type": "analyse_style", "input": {"thumbnail_ids": [theirs.pk]}}
    )
    assert response.status_code == 404
    job, _ = analysed(owner_client, starter, run_jobs, django_capture_on_commit_callbacks, 1)
    stranger = JSONClient()
    stranger.force_login(other)
    assert stranger.post(f"/studio/jobs/{job.pk}/save-style").status_code == 404
    assert not Style.objects.filter(owner=other).exists()


def test_free_plan_is_refused_and_sees_the_gate(owner, owner_client) -> None:
    [thumbnail] = make_thumbnails(owner, "Free")
    response = owner_client.post_json(
        "/api/jobs", {"type": "analyse_style", "input": {"thumbnail_ids": [thumbnail.pk]}}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "plan_feature"
    page = owner_client.get(f"/studio/thumbnails/{thumbnail.pk}").content.decode()
    assert "Analyse style comes with the Starter plan" in page
    assert 'id="tool-analyse_style"' not in page


# --- cache ---------------------------------------------------------------------------------------


def test_same_images_in_another_order_come_from_the_cache(
    starter, owner_client, django_capture_on_commit_callbacks, run_jobs
) -> None:
    a, b = coffee(1.3, 1.2), coffee(0.7, 0.9)
    with django_capture_on_commit_callbacks(execute=True):
        first = upload(owner_client, a, b)
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs()
    with django_capture_on_commit_callbacks(execute=True):
        second = upload(owner_client, b, a)
    assert (second["status"], second["cached"], second["cost"]) == ("succeeded", True, 0)
    assert second["result"] == finished(owner_client, first["id"])["result"]
    assert get_balance(starter) == 9


def test_the_same_images_from_another_creator_are_analysed_for_them(
    starter, other, owner_client, other_client, django_capture_on_commit_callbacks, run_jobs
) -> None:
    """Keyed on the images' hashes alone, a rival's exact images were answered free with
    `cached: true` (security review): the key holds the creator too."""
    set_plan(other, "starter")
    a, b = coffee(1.3, 1.2), coffee(0.7, 0.9)
    with django_capture_on_commit_callbacks(execute=True):
        upload(owner_client, a, b)
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs()
    with django_capture_on_commit_callbacks(execute=True):
        guess = upload(other_client, a, b)
    assert (guess["cached"], guess["cost"]) == (False, 1)
    with django_capture_on_commit_callbacks(execute=True):
        own = upload(owner_client, b, a)
    assert (own["status"], own["cached"]) == ("succeeded", True)


def test_an_analysis_of_what_was_left_is_cached_for_those_images_not_for_all(
    starter, owner_client, django_capture_on_commit_callbacks, run_jobs
) -> None:
    """One of two images was deleted before the job ran: the analysis of the one left was
    cached under the key of both, so the next request with both images got it, free, as if
    it had looked at both. It is now cached under the key of the image it analysed."""
    from django.core.files.storage import default_storage

    a, b = coffee(1.3, 1.2), coffee(0.7, 0.9)
    with django_capture_on_commit_callbacks(execute=True):
        first = upload(owner_client, a, b)
    job = Job.objects.get(pk=first["id"])
    default_storage.delete(job.params["images"][1]["name"])  # b's upload
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs()
    partial = finished(owner_client, first["id"])["result"]
    assert partial["image_count"] == 1

    with django_capture_on_commit_callbacks(execute=True):
        both = upload(owner_client, a, b)
    assert both["cached"] is False and both["cost"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs()
    assert finished(owner_client, both["id"])["result"]["image_count"] == 2

    with django_capture_on_commit_callbacks(execute=True):
        alone = upload(owner_client, a)
    assert (alone["status"], alone["cached"], alone["cost"]) == ("succeeded", True, 0)
    assert alone["result"] == partial


def test_a_cached_analysis_keeps_its_uploads_to_be_saved_with(
    starter, owner_client, django_capture_on_commit_callbacks, run_jobs, settings
) -> None:
    """Answered from the cache, the job is finished when it is submitted: its uploads were
    deleted then, and "Save as my style" saved a style with no reference images. They stay
    with the job as a job that ran keeps them, until its history is purged."""
    image = coffee(1.3, 1.2)
    with django_capture_on_commit_callbacks(execute=True):
        upload(owner_client, image)
    with django_capture_on_commit_callbacks(execute=True):
        run_jobs()
    with django_capture_on_commit_callbacks(execute=True):
        cached = upload(owner_client, image)
    assert cached["cached"] is True
    [stored] = [e["name"] for e in Job.objects.get(pk=cached["id"]).params["images"]]
    assert os.path.exists(os.path.join(settings.MEDIA_ROOT, stored))
    saved = owner_client.post(f"/studio/jobs/{cached['id']}/save-style", HTTP_HX_REQUEST="true")
    assert saved.status_code == 200, saved.content
    [reference] = StyleReferenceImage.objects.filter(style__owner=starter)
    assert Image.open(reference.image.path).size == Image.open(io.BytesIO(image)).size
    two_days_ago = timezone.now() - dt.timedelta(days=2)
    Job.objects.filter(user=starter).update(created_at=two_days_ago, finished_at=two_days_ago)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_job_history", "--days", "1", "--commit", stdout=io.StringIO())
    assert not os.path.exists(os.path.join(settings.MEDIA_ROOT, stored))
    assert reference.image.storage.exists(reference.image.name)  # the style's own copy stays


def test_an_analysis_whose_images_are_gone_is_not_saved_without_them(
    starter, owner_client, run_jobs, django_capture_on_commit_callbacks
) -> None:
    job, thumbs = analysed(owner_client, starter, run_jobs, django_capture_on_commit_callbacks)
    for thumbnail in thumbs:
        thumbnail.delete()  # the creator deleted the thumbnails it looked at
    response = owner_client.post(f"/studio/jobs/{job.pk}/save-style", HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert response["HX-Retarget"] == f"#save-style-{job.pk}"
    assert "The images this analysis looked at are gone" in response.content.decode()
    assert not Style.objects.filter(owner=starter).exists()


# --- with a Gemini key ---------------------------------------------------------------------------


def test_gemini_gets_every_image_and_the_schema_and_its_answer_is_fitted(
    starter, owner_client, django_capture_on_commit_callbacks, run_jobs, gemini_settings: FakeGemini
) -> None:
    gemini_settings.json_answer = {
        "name": "Warm Espresso Glow Editorial Look",
        "description": "Cosy, warm close-ups. Second sentence to drop.",
        "prompt": "Warm amber light on rich reds with soft shadows and a shallow depth of field.",
    }
    blobs = [coffee(1.0, 1.0), coffee(1.4, 1.5), FACE_PHOTO.read_bytes()]
    with django_capture_on_commit_callbacks(execute=True):
        job_id = upload(owner_client, *blobs)["id"]
    run_jobs()
    data = finished(owner_client, job_id)
    result = data["result"]
    [request] = gemini_settings.generate_requests()
    assert data["model"] == request.model == result["measured_by"]
    config = request.generation_config
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["required"] == ["name", "description", "prompt"]
    assert sum("inlineData" in part for part in request.parts) == 3  # every image
    prompt_text = " ".join(part.get("text", "") for part in request.parts)
    assert "mean luminance" in prompt_text  # the measurements go along
    assert result["name"] == "Warm Espresso Glow Editorial"  # cut to 4 words
    assert result["description"] == "Cosy, warm close-ups."  # one sentence
    words = result["prompt"].split()
    assert 100 <= len(words) <= 200  # completed with the measured sentences
    assert result["prompt"].startswith("Warm amber light on rich reds")
    assert result["measurements"]["images_with_text"] == 0
    # The same images again: answered from the cache, no second provider call.
    with django_capture_on_commit_callbacks(execute=True):
        again = upload(owner_client, *reversed(blobs))
    assert again["cached"] is True and again["cost"] == 0
    assert len(gemini_settings.generate_requests()) == 1


def test_gemini_answer_without_a_prompt_is_retried(
    starter, owner_client, django_capture_on_commit_callbacks, run_jobs, gemini_settings: FakeGemini
) -> None:
    gemini_settings.json_answer = {"name": "X", "description": "", "prompt": ""}
    with django_capture_on_commit_callbacks(execute=True):
        job_id = upload(owner_client, coffee(1, 1))["id"]
    run_jobs()
    data = owner_client.get(f"/api/jobs/{job_id}").json()
    assert data["status"] == "failed" and data["error_code"] == "invalid_response"
    assert len(gemini_settings.generate_requests()) == 3  # GEMINI_RETRY_ATTEMPTS
    assert get_balance(starter) == 10  # refunded


def test_the_offline_name_takes_the_lead_chromatic_colour() -> None:
    """White type on magenta over a dark vignette was named "Vivid Black Headlines": the name's
    colour is now the most prominent chromatic one (with at least 12% of the pixels), and a
    neutral only when nothing else has that share."""
    from studio.job_types.analyse_style import local_name

    measured = {
        "colors": [
            {"hex": "#101014", "name": "Black", "share_pct": 44},
            {"hex": "#C8197F", "name": "Magenta", "share_pct": 31},
            {"hex": "#F5F5F5", "name": "White", "share_pct": 14},
        ],
        "saturation_pct": 58,
        "brightness_pct": 40,
        "images_with_text": 1,
        "faces": {"measured": True, "images_with_faces": 0},
    }
    assert local_name(measured, 1) == "Vivid Magenta Headlines"
    measured["colors"][1]["share_pct"] = 8  # too little to name the style
    assert local_name(measured, 1) == "Vivid Black Headlines"
