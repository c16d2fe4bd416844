"""Thumbnails and projects. `ThumbnailFactory` rows point at placeholder file names unless
`stored=True` saves a small real PNG (for job inputs that read the image) for all four of its
files; `ThumbnailFactory(**stored_files())` stores them apart, each in its own format."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from pathlib import Path
from typing import Any

import factory
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from studio.models import Face, Project, Style, Thumbnail, search_key, sort_key
from tests.factories.accounts import UserFactory

BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
FACE_PHOTO = Path(__file__).resolve().parent.parent / "fixtures" / "face-eileen-collins.jpg"


def uploaded_style(
    owner: Any,
    *,
    name: str = "Mine",
    public: bool = False,
    reference: bytes | None = None,
    reference_name: str = "ref.jpg",
) -> Style:
    """A custom style of `owner` made through the studio's services from one uploaded reference
    image (`reference`, JPEG bytes; the test face photo by default), stored files included."""
    from studio import services

    data = FACE_PHOTO.read_bytes() if reference is None else reference
    return services.do_create_style(
        owner=owner,
        name=name,
        description="",
        prompt="Teal and orange.",
        is_public=public,
        references=[SimpleUploadedFile(reference_name, data, "image/jpeg")],
    )


def uploaded_face_and_style(
    owner: Any, *, photo_name: str = "me.jpg", reference_name: str = "ref.jpg"
) -> tuple[Face, Style]:
    """A face "Me" and a private style "Mine" of `owner`, made through the studio's services
    from one upload each of the test face photo (stored files included)."""
    from studio import services

    photo = FACE_PHOTO.read_bytes()
    face = services.do_create_face(
        owner=owner, name="Me", files=[SimpleUploadedFile(photo_name, photo, "image/jpeg")]
    )
    return face, uploaded_style(owner, reference_name=reference_name)


def stored_png(
    size: tuple[int, int] = (160, 90), colour: tuple[int, int, int] = (200, 40, 40)
) -> str:
    """Save a `size` PNG of one `colour` to default storage; its name."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return default_storage.save(
        f"thumbnails/full/test-{uuid.uuid4().hex}.png", ContentFile(buffer.getvalue())
    )


def stored_files(
    size: tuple[int, int] = (160, 90), colour: tuple[int, int, int] = (200, 40, 40)
) -> dict[str, Any]:
    """A thumbnail's four files, each stored on its own as a worker stores them (a `size` PNG,
    WebP previews a half and a quarter as wide, a JPEG download four fifths as wide), with
    `width` and `height`: `ThumbnailFactory(**stored_files(), ...)`."""

    def save(folder: str, image_format: str, ext: str, scale: float) -> str:
        buffer = io.BytesIO()
        scaled = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
        Image.new("RGB", scaled, colour).save(buffer, image_format)
        name = f"thumbnails/{folder}/test-{uuid.uuid4().hex}.{ext}"
        return default_storage.save(name, ContentFile(buffer.getvalue()))

    return {
        "image": save("full", "PNG", "png", 1),
        "image_small": save("400", "WEBP", "webp", 0.25),
        "image_medium": save("800", "WEBP", "webp", 0.5),
        "download": save("download", "JPEG", "jpg", 0.8),
        "width": size[0],
        "height": size[1],
    }


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Project {n}")


class ThumbnailFactory(factory.django.DjangoModelFactory):
    """`ThumbnailFactory(owner=u)`; `ThumbnailFactory.build_batch(n, ...)` +
    `Thumbnail.objects.bulk_create` for libraries of hundreds."""

    class Meta:
        model = Thumbnail

    class Params:
        stored = factory.Trait(
            image=factory.LazyFunction(stored_png),
            image_small=factory.SelfAttribute("image"),
            image_medium=factory.SelfAttribute("image"),
            download=factory.SelfAttribute("image"),
            width=160,
            height=90,
        )

    owner = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Thumbnail {n}")
    # save() sets it; built rows that go through bulk_create need it too.
    search_title = factory.LazyAttribute(lambda thumbnail: search_key(thumbnail.title))
    sort_title = factory.LazyAttribute(lambda thumbnail: sort_key(thumbnail.title))
    aspect_ratio = "16:9"
    resolution = "1K"
    width = 1376
    height = 768
    image = "x.png"
    image_small = "x.webp"
    image_medium = "x.webp"
    download = "x.jpg"
    created_at = factory.Sequence(lambda n: BASE_TIME + dt.timedelta(seconds=n))


def generate_job(owner: Any, title: str, status: str, **fields: Any) -> Any:
    """A one-image 1K generate job of `owner` with `status` (queued, running or finished), made
    directly: nothing is charged or run."""
    from generation.models import Job

    return Job.objects.create(
        user=owner,
        type="generate_thumbnails",
        params={"title": title, "aspect_ratio": "16:9", "resolution": "1K"},
        status=status,
        units=1,
        cost=1,
        **fields,
    )
