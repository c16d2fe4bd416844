"""Face upload: decoded, checked and re-encoded; anything else refused with nothing stored."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from studio.models import Face, FaceImage
from tests.conftest import set_plan

pytestmark = pytest.mark.django_db


def png(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 100, 50)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def upload(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type)


def stored_files() -> set[Path]:
    return {p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()}


def test_upload_real_face_photo(owner_client, face_photo_bytes) -> None:
    response = owner_client.post(
        "/api/faces", {"name": "Eileen", "images": [upload("face.png", face_photo_bytes)]}
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["name"] == "Eileen"
    [image] = data["images"]
    assert (image["width"], image["height"]) == (512, 512)
    # A signed URL (studio.media) of a random name, never derived from its id.
    assert re.fullmatch(r"/media/faces/[0-9a-f]{32}\.jpg\?e=\d+&s=[\w-]{22}", image["url"]), image[
        "url"
    ]
    stored = FaceImage.objects.get()
    with stored.image.open("rb") as handle:
        reencoded = Image.open(handle)
        assert reencoded.format == "JPEG"  # re-encoded, not the uploaded bytes


def test_a_face_upload_is_read_by_its_serializer(owner_client, face_photo_bytes) -> None:
    """POST /api/faces reads its body through FaceCreate: a field it does not take, a blank
    name or no photo is a 400 naming the field (a blank name: "Give the face a name."), and
    nothing is stored."""
    photo = upload("face.png", face_photo_bytes)
    cases = [
        ({"name": "Me", "images": [photo], "owner_id": "3"}, "owner_id"),
        ({"name": "  ", "images": [upload("face.png", face_photo_bytes)]}, "name"),
        ({"name": "Me"}, "images"),
    ]
    for body, field in cases:
        response = owner_client.post("/api/faces", body)
        assert response.status_code == 400, (field, response.content)
        data = response.json()
        assert data["code"] == "invalid", (field, data)
        assert field in data.get("fields", {}) or field in data["error"].lower(), (field, data)
    assert "Upload 1 to 3 photos" in str(data["fields"]["images"])
    assert not FaceImage.objects.exists()


def test_exif_orientation_is_applied(owner_client) -> None:
    image = Image.new("RGB", (80, 40), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    response = owner_client.post(
        "/api/faces",
        {"name": "Turned", "images": [upload("t.jpg", buffer.getvalue(), "image/jpeg")]},
    )
    assert response.status_code == 201
    assert (response.json()["images"][0]["width"], response.json()["images"][0]["height"]) == (
        40,
        80,
    )


@pytest.mark.parametrize(
    ("files", "status", "code"),
    [
        ([("notes.png", b"just some text, not an image")], 400, "invalid_image"),
        ([("anim.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")], 400, "invalid_image"),
        ([("a.png", png()), ("b.png", b"<html>")], 400, "invalid_image"),
        ([(f"{i}.png", png()) for i in range(4)], 400, "invalid"),
        ([], 400, "invalid"),
    ],
)
def test_bad_uploads_store_nothing(owner_client, files, status, code) -> None:
    before = stored_files()
    response = owner_client.post(
        "/api/faces", {"name": "Bad", "images": [upload(n, d) for n, d in files]}
    )
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert set(response.json()) >= {"error", "code"}
    assert Face.objects.count() == 0
    assert stored_files() == before


def test_gif_is_unsupported_type(owner_client) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buffer, "GIF")
    response = owner_client.post(
        "/api/faces", {"name": "G", "images": [upload("g.gif", buffer.getvalue(), "image/gif")]}
    )
    assert (response.status_code, response.json()["code"]) == (400, "unsupported_image_type")


def test_decompression_bomb_refused(owner_client, settings) -> None:
    settings.UPLOAD_MAX_PIXELS = 1_000_000
    response = owner_client.post(
        "/api/faces", {"name": "Bomb", "images": [upload("bomb.png", png((2000, 1000), (0, 0, 0)))]}
    )
    assert (response.status_code, response.json()["code"]) == (400, "image_too_large")
    assert Face.objects.count() == 0


def test_file_over_byte_limit_is_413(owner_client, settings) -> None:
    settings.UPLOAD_MAX_BYTES = 1000
    response = owner_client.post(
        "/api/faces",
        {"name": "Big", "images": [upload("big.png", png((400, 400), (1, 2, 3)) + b"\0" * 2000)]},
    )
    assert (response.status_code, response.json()["code"]) == (413, "file_too_large")


def test_free_plan_allows_one_face(owner, owner_client) -> None:
    assert (
        owner_client.post(
            "/api/faces", {"name": "One", "images": [upload("1.png", png())]}
        ).status_code
        == 201
    )
    second = owner_client.post("/api/faces", {"name": "Two", "images": [upload("2.png", png())]})
    assert (second.status_code, second.json()["code"]) == (403, "plan_custom_assets_limit")
    assert second.json()["error"] == "The Free plan allows 1 custom face. Upgrade for unlimited."
    set_plan(owner, "starter")
    assert (
        owner_client.post(
            "/api/faces", {"name": "Two", "images": [upload("2.png", png())]}
        ).status_code
        == 201
    )


def test_list_faces_only_mine(owner_client, other_client) -> None:
    owner_client.post("/api/faces", {"name": "Mine", "images": [upload("1.png", png())]})
    assert [f["name"] for f in owner_client.get("/api/faces").json()["results"]] == ["Mine"]
    assert other_client.get("/api/faces").json()["results"] == []


@pytest.mark.parametrize(
    ("heights", "note"),
    [
        (
            [96],
            "Small face (96 px tall): thumbnails will look soft. Use a photo where your face "
            "is at least 222 px tall (885 px for 4K).",
        ),
        (
            [96, 500],
            "Sharp up to 2K. For 4K, use a photo where your face is at least 885 px "
            "tall (this one: 500 px).",
        ),  # the best photo counts
        (
            [300],
            "Sharp up to 1K. For 4K, use a photo where your face is at least 885 px tall "
            "(this one: 300 px).",
        ),
        (
            [0],
            "No face found in these photos: thumbnails show them in a frame instead of "
            "cutting you out, and leave them out beside faces that are cut out. A clear, "
            "front-facing photo works best.",
        ),
        ([885], ""),
        ([None], ""),  # photos stored before faces were measured
    ],
)
def test_a_faces_note_says_up_to_which_resolution_it_stays_sharp(heights, note) -> None:
    from studio.face_quality import face_photo_note

    assert face_photo_note(heights) == note


def test_the_library_says_when_a_face_photo_is_too_small(owner, owner_client, face_photo_bytes):
    # The sample portrait is 512 px square; its face is about 96 px tall, and the renderer draws
    # a face 332 px tall at 1K.
    set_plan(owner, "starter")  # two faces
    response = owner_client.post(
        "/studio/library/faces",
        {"name": "Eileen", "images": [upload("face.jpg", face_photo_bytes, "image/jpeg")]},
        follow=True,
    )
    assert response.status_code == 200
    height = FaceImage.objects.get().face_height
    assert 80 <= height <= 110, height
    page = response.content.decode()
    saved = page.index(f"Face saved. Small face ({height} px tall): thumbnails will look soft.")
    # In the Faces panel, where the form's #faces lands, not at the top of the page.
    assert page.index('id="faces"') < saved < page.index('id="styles"')
    assert f'<p class="hint face-note">Small face ({height} px tall)' in page
    no_face = owner_client.post(
        "/api/faces", {"name": "Wall", "images": [upload("wall.png", png((400, 300)))]}
    )
    assert no_face.status_code == 201, no_face.content
    assert FaceImage.objects.get(face__name="Wall").face_height == 0


def test_photos_stored_before_measuring_are_measured_when_the_library_shows_them(
    owner, owner_client, face_photo_bytes
) -> None:
    created = owner_client.post(
        "/api/faces", {"name": "Eileen", "images": [upload("face.jpg", face_photo_bytes)]}
    )
    assert created.status_code == 201, created.content
    FaceImage.objects.update(face_height=None)  # as every photo stored before the change

    page = owner_client.get("/studio/library/").content.decode()

    height = FaceImage.objects.get().face_height
    assert height is not None and 80 <= height <= 110, height
    assert f'<p class="hint face-note">Small face ({height} px tall)' in page


@pytest.mark.parametrize(
    ("heights", "sharp"),
    [([96], ""), ([300], "1K"), ([96, 500], "2K"), ([885], "4K"), ([0], None), ([None], None)],
)
def test_the_largest_resolution_a_face_stays_sharp_at(heights, sharp) -> None:
    from studio.face_quality import sharp_up_to

    assert sharp_up_to(heights) == sharp


def test_project_messages_show_in_the_projects_panel(owner_client) -> None:
    response = owner_client.post("/studio/projects", {"name": "Road trip"}, follow=True)
    page = response.content.decode()
    # Where the redirect's #projects lands, not above the panel under the sticky header.
    assert page.index('id="projects-heading"') < page.index("Project created.")
    assert page.index("Project created.") < page.index('id="faces"')


def test_an_upload_refused_under_the_lock_leaves_no_files(db: None, monkeypatch) -> None:
    """Photos are stored before the quota's locked count (no row lock while the storage
    writes); refused there (a racing upload took the last place), they are deleted."""
    from django.core.files.storage import default_storage

    from studio import services
    from tests.conftest import make_user

    owner = make_user("full@example.com")  # Free: one face
    photo = (Path(__file__).parent / "fixtures" / "face-eileen-collins.jpg").read_bytes()
    services.do_create_face(
        owner=owner, name="First", files=[SimpleUploadedFile("a.jpg", photo, "image/jpeg")]
    )
    check = services.check_custom_asset_quota

    def only_the_locked_count(owner, model, *, lock: bool = False) -> None:
        if lock:  # the early, unlocked check passed before the other upload landed
            check(owner, model, lock=True)

    monkeypatch.setattr(services, "check_custom_asset_quota", only_the_locked_count)
    before = set(default_storage.listdir("faces")[1])
    with pytest.raises(services.StudioError) as refused:
        services.do_create_face(
            owner=owner, name="Second", files=[SimpleUploadedFile("b.jpg", photo, "image/jpeg")]
        )
    assert refused.value.code == "plan_custom_assets_limit"
    assert set(default_storage.listdir("faces")[1]) == before
    assert Face.objects.filter(owner=owner).count() == 1


def test_uploads_are_stored_once_re_encoded_under_private_names(db: None) -> None:
    """A face photo and a style's reference image: one stored file each (plus the style's
    preview), a re-encoded JPEG under a random name, never the upload's own bytes or name; the
    preview a WebP the renderer drew, not a copy of the reference (a published style showed
    its first reference image to every creator as its preview)."""
    from django.core.files.storage import default_storage

    from tests.conftest import make_user
    from tests.factories.studio import FACE_PHOTO, uploaded_face_and_style

    owner = make_user("stored-once@example.com")
    photo = FACE_PHOTO.read_bytes()
    listing = {
        d: set(default_storage.listdir(d)[1]) if default_storage.exists(d) else set()
        for d in ("faces", "styles/references", "styles/previews")
    }
    face, style = uploaded_face_and_style(
        owner, photo_name="my-face.jpg", reference_name="holiday.jpg"
    )
    names = [face.images.get().image.name, style.reference_images.get().image.name]
    names.append(style.preview.name)
    for directory, name in zip(listing, names, strict=True):
        added = set(default_storage.listdir(directory)[1]) - listing[directory]
        assert added == {Path(name).name}, (directory, added)
        drawn = directory == "styles/previews"
        ext, kind = ("webp", "WEBP") if drawn else ("jpg", "JPEG")
        assert re.fullmatch(rf"[0-9a-f]{{32}}\.{ext}", Path(name).name), name
        with default_storage.open(name, "rb") as handle:
            stored = handle.read()
        assert stored != photo and Image.open(io.BytesIO(stored)).format == kind


def test_at_the_free_face_limit_the_library_links_the_upgrade(owner, owner_client) -> None:
    """The styles' and palettes' notes at the Free plan's limit linked "upgrade" to the plans;
    the faces' said "or upgrade for unlimited faces" with no link (third walkthrough)."""
    Face.objects.create(owner=owner, name="Me")
    html = owner_client.get("/studio/library/").content.decode()
    assert (
        'Delete one to upload another, or <a href="/plans/">upgrade</a> for unlimited faces.'
    ) in html


def test_a_name_another_of_my_faces_has_is_refused(owner, owner_client, other_client) -> None:
    """As styles, palettes and projects: two faces of one name could not be told apart in the
    studio's face picks (nor in a prompt's names), so a name another of the creator's faces
    has, case and surrounding spaces aside, is refused; another creator's is no matter."""
    set_plan(owner, "starter")
    theirs = other_client.post("/api/faces", {"name": "Eileen", "images": [upload("0.png", png())]})
    assert theirs.status_code == 201
    first = owner_client.post("/api/faces", {"name": "Eileen", "images": [upload("1.png", png())]})
    assert first.status_code == 201, first.content
    files = stored_files()
    refused = owner_client.post(
        "/api/faces", {"name": "  eILEEN ", "images": [upload("2.png", png())]}
    )
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "You already have a face named “Eileen”.",
        "code": "name_taken",
    }
    page = owner_client.post(
        "/studio/library/faces", {"name": "EILEEN", "images": [upload("3.png", png())]}
    )
    assert page.status_code == 400
    assert "You already have a face named “Eileen”." in page.content.decode()
    assert stored_files() == files  # nothing stored for either
    assert Face.objects.filter(owner=owner).count() == 1
    second = owner_client.post(
        "/api/faces", {"name": "Eileen 2", "images": [upload("4.png", png())]}
    )
    assert second.status_code == 201


def test_a_face_name_taken_while_the_photos_were_stored_is_refused(db: None, monkeypatch) -> None:
    """The name is checked again under the owner's balance row lock: a face of that name
    created meanwhile (another tab, the API) refuses this one, and its photos are deleted."""
    from studio import services
    from tests.conftest import make_user

    owner = make_user("twice@example.com")
    set_plan(owner, "starter")
    decode = services.prepare_photos

    def meanwhile(files):
        Face.objects.create(owner=owner, name="Me")
        return decode(files)

    monkeypatch.setattr(services, "prepare_photos", meanwhile)
    before = stored_files()
    with pytest.raises(services.StudioError, match="You already have a face named “Me”"):
        services.do_create_face(owner=owner, name="me", files=[upload("a.png", png())])
    assert stored_files() == before
    assert list(Face.objects.filter(owner=owner).values_list("name", flat=True)) == ["Me"]


def test_a_deleted_faces_photos_stay_for_the_queued_jobs_made_with_it_until_they_end(
    owner, owner_client, submit, face_photo_bytes, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    """A generate job copies its faces' photo file names and reads them when it runs: deleting
    the face deleted the files at once, and the queued job was drawn without the face, charged
    in full. They now stay until the last job that copied them ends; the photos of a face no
    job copied go at once."""
    from django.core.files.storage import default_storage

    from billing.services import get_balance
    from generation.models import Job
    from generation.services import execute_job
    from studio.job_types import generate

    set_plan(owner, "pro")
    me, unused = (
        owner_client.post("/api/faces", {"name": name, "images": [upload("f.png", data)]}).json()
        for name, data in (("Me", face_photo_bytes), ("Unused", png()))
    )
    photos = {
        face["id"]: FaceImage.objects.get(face_id=face["id"]).image.name for face in (me, unused)
    }
    first, second = (
        submit(owner_client, {"title": title, "face_ids": [me["id"]]}).json()["id"]
        for title in ("First", "Second")
    )
    with django_capture_on_commit_callbacks(execute=True):
        for face in (me, unused):
            assert owner_client.delete(f"/api/faces/{face['id']}").status_code == 204
    assert not Face.objects.exists()
    assert default_storage.exists(photos[me["id"]])
    assert not default_storage.exists(photos[unused["id"]])

    drawn_with: list[list[str]] = []
    load_images = generate.load_images

    def spy(named: Any, persons: Any = None) -> Any:
        images = load_images(named, persons)
        drawn_with.append([image.role for image in images])
        return images

    monkeypatch.setattr(generate, "load_images", spy)
    with django_capture_on_commit_callbacks(execute=True):
        execute_job(first)
    assert default_storage.exists(photos[me["id"]])  # the second job still needs it
    with django_capture_on_commit_callbacks(execute=True):
        execute_job(second)
    assert drawn_with == [["face"], ["face"]]
    assert set(Job.objects.values_list("status", "cost")) == {("succeeded", 1)}
    assert get_balance(owner) == 8
    assert not default_storage.exists(photos[me["id"]])


def test_an_edit_job_deletes_the_photos_of_a_face_deleted_while_it_was_queued(
    owner, owner_client, face_photo_bytes, django_capture_on_commit_callbacks
) -> None:
    """An edit copies its faces as generate does (`params["faces"]`) and, ended, deletes the
    photos it kept of a face deleted meanwhile; those of a face that still exists stay."""
    from django.core.files.storage import default_storage

    from generation.models import Job
    from generation.services import _ended
    from studio import services

    set_plan(owner, "pro")
    gone, kept = (
        services.do_create_face(owner=owner, name=name, files=[upload("f.png", face_photo_bytes)])
        for name in ("Gone", "Kept")
    )
    names = [face.images.get().image.name for face in (gone, kept)]
    faces = [
        {"name": face.name, "images": [name]}
        for face, name in zip((gone, kept), names, strict=True)
    ]
    job = Job.objects.create(
        user=owner, type="edit_thumbnail", params={"title": "x", "faces": faces, "stored": []}
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.do_delete_face(face=gone)
    assert default_storage.exists(names[0])
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    job.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        _ended(job)
    assert not default_storage.exists(names[0])
    assert default_storage.exists(names[1])


def failing_storage_writes(monkeypatch: Any, after: int = 0) -> list[str]:
    """The local storage writes `after` files, then every write raises OSError (a full disk);
    the names it wrote."""
    from django.core.files.storage import FileSystemStorage

    real_save = FileSystemStorage._save
    written: list[str] = []

    def save(self: FileSystemStorage, name: str, content: Any) -> str:
        if len(written) >= after:
            raise OSError(28, "No space left on device")
        written.append(real_save(self, name, content))
        return written[-1]

    monkeypatch.setattr(FileSystemStorage, "_save", save)
    return written


def test_a_face_upload_the_storage_cannot_save_is_a_503_with_nothing_kept(
    owner, owner_client, monkeypatch
) -> None:
    """A full or read-only disk (or S3 refusing) during an upload was a 500. The API answers 503
    `storage_unavailable` with Retry-After; the studio's form (and its htmx post) shows the
    message; the photo stored before the fault is deleted and no face is made."""
    set_plan(owner, "starter")
    before = stored_files()
    written = failing_storage_writes(monkeypatch, after=1)
    photos = [upload("1.png", png()), upload("2.png", png(color=(1, 2, 3)))]
    response = owner_client.post("/api/faces", {"name": "Full", "images": photos})
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "storage_unavailable"
    assert set(response.json()) == {"error", "code", "retry_after"}
    assert response["Retry-After"] == str(response.json()["retry_after"])
    assert len(written) == 1  # the first photo was stored, then deleted
    assert stored_files() == before
    assert Face.objects.count() == 0

    for headers in ({}, {"HX-Request": "true"}):
        page = owner_client.post(
            "/studio/library/faces",
            {"name": "Full", "images": [upload("3.png", png())]},
            headers=headers,
        )
        assert page.status_code == 400, page.status_code
        assert "Files cannot be saved right now." in page.content.decode()
    assert stored_files() == before
    assert Face.objects.count() == 0


def test_an_s3_bucket_that_refuses_the_upload_is_storage_unavailable() -> None:
    """With django-storages' S3 backend a refused upload is botocore's ClientError (here
    NoSuchBucket, from moto's in-process S3), not an OSError: the same 503
    `storage_unavailable`."""
    import boto3
    from django.core.files.base import ContentFile
    from moto import mock_aws
    from storages.backends.s3 import S3Storage

    from studio.services import StudioError, save_upload

    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="other")
        missing = S3Storage(bucket_name="media", region_name="us-east-1")
        with pytest.raises(StudioError) as refused:
            save_upload("faces/a.jpg", ContentFile(b"x"), storage=missing)
    assert (refused.value.status, refused.value.code) == (503, "storage_unavailable")
    assert refused.value.extra == {"retry_after": 30}


def test_the_studio_face_chip_says_no_face_once_an_old_photo_is_measured(owner, owner_client):
    # An old photo (unmeasured) shows a plain chip; measured to no face, the next studio page
    # marks it (data-no-face), though its sharp_up_to is None either way.
    created = owner_client.post(
        "/api/faces", {"name": "Wall", "images": [upload("wall.png", png((400, 300)))]}
    )
    assert created.status_code == 201, created.content
    FaceImage.objects.update(face_height=None)  # as every photo stored before measuring
    assert "data-no-face" not in owner_client.get("/studio/").content.decode()

    image = FaceImage.objects.get()
    image.face_height = 0
    image.save(update_fields=["face_height"])  # as the library's measuring saves it

    assert "data-no-face" in owner_client.get("/studio/").content.decode()
