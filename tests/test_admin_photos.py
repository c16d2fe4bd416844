"""Face photos and style references added or replaced in the admin go the studio's way
(`studio.services.prepare_photos`): decoded, checked and re-encoded, so no EXIF (GPS) is kept,
under a private random name with their real size; a replaced or deleted photo's file goes."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from PIL import Image

from studio.models import Face, FaceImage, Style, StyleReferenceImage
from tests.conftest import make_user
from tests.factories.studio import uploaded_face_and_style

pytestmark = pytest.mark.django_db

PRIVATE_NAME = r"[0-9a-f]{32}\.jpg"


def gps_jpeg(size: tuple[int, int] = (96, 64)) -> bytes:
    """A JPEG whose EXIF says where it was taken (GPSInfo, tag 0x8825)."""
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 12.0), 3: "W", 4: (0.0, 7.0, 40.0)}
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 60)).save(buffer, "JPEG", exif=exif)
    data = buffer.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get(0x8825)  # the test image does carry GPS
    return data


def upload(data: bytes, name: str = "holiday.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, "image/jpeg")


def stored_exif(file: Any) -> dict[int, Any]:
    """The stored file's EXIF tags ({} when it has no EXIF block)."""
    with file.open("rb") as handle:
        image = Image.open(handle)
        assert image.format == "JPEG"
        return dict(image.getexif()) if "exif" in image.info else {}


def inline_form(prefix: str, rows: list[dict[str, Any]], parent: str, parent_pk: int) -> dict:
    """An admin inline formset's POST fields; each row's `id` (absent for a new row)."""
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(sum("id" in row for row in rows)),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        data[f"{prefix}-{i}-{parent}"] = parent_pk
        data.update({f"{prefix}-{i}-{key}": value for key, value in row.items()})
    return data


@pytest.fixture
def face(db: None) -> Face:
    face, _ = uploaded_face_and_style(make_user("pictured@example.com"))
    return face


def post_face(client: Any, face: Face, rows: list[dict[str, Any]]) -> Any:
    data = {"name": face.name, "owner": face.owner_id}
    data.update(inline_form("images", rows, "face", face.pk))
    return client.post(f"/admin/studio/face/{face.pk}/change/", data)


def test_a_face_photo_replaced_in_the_admin_is_reencoded_without_its_gps(
    admin_client: Any, face: Face, django_capture_on_commit_callbacks: Any
) -> None:
    photo = face.images.get()
    old = photo.image.name
    with django_capture_on_commit_callbacks(execute=True):
        response = post_face(admin_client, face, [{"id": photo.pk, "image": upload(gps_jpeg())}])
    assert response.status_code == 302, response.content.decode()[:2000]
    photo.refresh_from_db()
    assert re.fullmatch(rf"faces/{PRIVATE_NAME}", photo.image.name), photo.image.name
    assert stored_exif(photo.image) == {}  # no GPS, no EXIF at all
    assert (photo.width, photo.height) == (96, 64)  # the new photo's, not the old 512x512
    assert photo.face_height == 0  # measured, as the studio does (no face in a plain colour)
    assert not default_storage.exists(old)  # the replaced photo is gone from storage


def test_a_face_photo_added_in_the_admin_is_reencoded_without_its_gps(
    admin_client: Any, face: Face
) -> None:
    photo = face.images.get()
    rows = [{"id": photo.pk}, {"image": upload(gps_jpeg((40, 120)))}]
    response = post_face(admin_client, face, rows)
    assert response.status_code == 302, response.content.decode()[:2000]
    added = face.images.exclude(pk=photo.pk).get()
    assert re.fullmatch(rf"faces/{PRIVATE_NAME}", added.image.name)
    assert stored_exif(added.image) == {}
    assert (added.width, added.height) == (40, 120)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"not a picture at all", "Upload a valid image"),
        (gps_jpeg((2000, 1200)), "is larger than"),  # UPLOAD_MAX_BYTES lowered below
        (gps_jpeg((200, 8)), "needs at least 16 px"),
    ],
)
def test_what_the_studio_refuses_the_admin_refuses(
    admin_client: Any, face: Face, data: bytes, said: str
) -> None:
    photo = face.images.get()
    before = (photo.image.name, photo.width, photo.height)
    with override_settings(UPLOAD_MAX_BYTES=20_000):
        response = post_face(admin_client, face, [{"id": photo.pk, "image": upload(data)}])
    assert response.status_code == 200  # the form again, with the reason
    assert said in response.content.decode()
    photo.refresh_from_db()
    assert (photo.image.name, photo.width, photo.height) == before
    assert default_storage.exists(photo.image.name)


def test_a_face_photo_deleted_in_the_admin_leaves_no_file(
    admin_client: Any, face: Face, django_capture_on_commit_callbacks: Any
) -> None:
    photo = face.images.get()
    with django_capture_on_commit_callbacks(execute=True):
        post_face(admin_client, face, [{"id": photo.pk, "DELETE": "on"}])
    assert not FaceImage.objects.filter(pk=photo.pk).exists()
    assert not default_storage.exists(photo.image.name)


def test_a_style_reference_added_in_the_admin_is_reencoded_without_its_gps(
    admin_client: Any,
) -> None:
    """Built-in styles get their references in the admin; its width and height are the
    stored file's (they were typed in)."""
    style = Style.objects.create(name="Ops style", slug="ops-style", prompt="Neon.")
    data = {"name": style.name, "slug": style.slug, "prompt": style.prompt, "description": ""}
    rows = [{"image": upload(gps_jpeg()), "position": "0", "width": "1", "height": "1"}]
    data.update(inline_form("reference_images", rows, "style", style.pk))
    response = admin_client.post(f"/admin/studio/style/{style.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    reference = StyleReferenceImage.objects.get(style=style)
    assert re.fullmatch(rf"styles/references/{PRIVATE_NAME}", reference.image.name)
    assert stored_exif(reference.image) == {}
    assert (reference.width, reference.height) == (96, 64)


def test_a_style_reference_replaced_in_the_admin_redraws_the_preview_over_it(
    admin_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The preview is drawn over the first reference: replaced in the admin, the preview is
    drawn again over the new one and the old drawing's file goes (it showed the old image)."""
    _, style = uploaded_face_and_style(make_user("stylist@example.com"))
    reference = style.reference_images.get()
    before = style.preview.name
    with default_storage.open(before, "rb") as handle:
        drawn_before = handle.read()
    data = {"name": style.name, "slug": style.slug, "prompt": style.prompt, "description": ""}
    data["owner"] = style.owner_id
    data["is_public"] = ""
    blue = io.BytesIO()
    Image.new("RGB", (640, 360), (20, 60, 230)).save(blue, "JPEG")
    rows = [{"id": reference.pk, "image": upload(blue.getvalue()), "position": "0"}]
    data.update(inline_form("reference_images", rows, "style", style.pk))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/studio/style/{style.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    style.refresh_from_db()
    assert style.preview.name != before and style.preview.name.endswith(".webp")
    with style.preview.open("rb") as handle:
        assert handle.read() != drawn_before
    assert not default_storage.exists(before)


def test_an_admin_save_that_rolls_back_leaves_no_new_preview(
    admin_client: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    """A reference replaced in the admin redraws the style's preview; when the save fails after
    that (an inline saved after it, here its change log), the admin's transaction rolls back and
    the preview row keeps its old file: the new drawing was left in the storage with no row
    naming it. It is drawn only once the save commits now."""
    from django.db import IntegrityError

    from studio.admin import StyleAdmin

    _, style = uploaded_face_and_style(make_user("rolled@example.com"))
    reference = style.reference_images.get()
    before = style.preview.name or ""
    previews = set(default_storage.listdir("styles/previews")[1])
    references = set(default_storage.listdir("styles/references")[1])
    data: dict[str, Any] = {"name": style.name, "slug": style.slug, "prompt": style.prompt}
    data.update(description="", owner=style.owner_id, is_public="")
    blue = io.BytesIO()
    Image.new("RGB", (640, 360), (20, 60, 230)).save(blue, "JPEG")
    rows = [{"id": reference.pk, "image": upload(blue.getvalue()), "position": "0"}]
    data.update(inline_form("reference_images", rows, "style", style.pk))

    def fails(*args: Any, **kwargs: Any) -> None:
        raise IntegrityError("an inline saved after the references failed")

    monkeypatch.setattr(StyleAdmin, "log_change", fails)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(IntegrityError):
        admin_client.post(f"/admin/studio/style/{style.pk}/change/", data)

    style.refresh_from_db()
    assert style.preview.name == before and default_storage.exists(before)
    assert set(default_storage.listdir("styles/previews")[1]) == previews
    assert style.reference_images.get().image.name == reference.image.name
    # Nor is the new reference photo the inline stored before the failure.
    assert set(default_storage.listdir("styles/references")[1]) == references


def test_photos_a_queued_job_copied_stay_until_it_ends_when_the_admin_removes_them(
    admin_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A generate job reads its face photos and style references by the names it copied when
    it runs: a face photo deleted or a style reference replaced in the admin meanwhile stays
    until the job ends, as when the studio deletes the face or the style."""
    from generation.models import Job
    from generation.services import _ended

    face, style = uploaded_face_and_style(make_user("queued@example.com"))
    photo, reference = face.images.get(), style.reference_images.get()
    names = [photo.image.name, reference.image.name]
    job = Job.objects.create(
        user=face.owner,
        type="generate_thumbnails",
        params={
            "title": "x",
            "style": {"name": style.name, "references": [names[1]]},
            "faces": [{"name": face.name, "images": [names[0]]}],
        },
    )
    data = {"name": style.name, "slug": style.slug, "prompt": style.prompt, "description": ""}
    data.update(owner=style.owner_id, is_public="")
    rows = [{"id": reference.pk, "image": upload(gps_jpeg()), "position": "0"}]
    data.update(inline_form("reference_images", rows, "style", style.pk))
    with django_capture_on_commit_callbacks(execute=True):
        response = post_face(admin_client, face, [{"id": photo.pk, "DELETE": "on"}])
        assert response.status_code == 302, response.content.decode()[:2000]
        response = admin_client.post(f"/admin/studio/style/{style.pk}/change/", data)
        assert response.status_code == 302, response.content.decode()[:2000]
    assert not FaceImage.objects.filter(pk=photo.pk).exists()
    assert StyleReferenceImage.objects.get(pk=reference.pk).image.name != names[1]
    assert all(default_storage.exists(name) for name in names)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    job.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        _ended(job)
    assert not any(default_storage.exists(name) for name in names)
