"""A preview image for every style in the library, drawn by the offline renderer.

A style's preview is a 16:9 thumbnail of `PREVIEW_TITLE` in that style with its own default
palette (built-in styles: their design in `generation.providers.local`; custom styles: their
first reference image as the background, else the renderer's generic look), stored once in
`Style.preview` as a 640x360 WebP and reused. `seed_demo` draws the built-in ones ahead of time,
a custom style with reference images gets its own when it is made (studio.services), any other
is drawn on its first request (about 0.3-1 s of CPU, once).
"""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from generation.providers.base import ImageRequest, InputImage, RenderSpec
from studio.library_cache import invalidate_style_lists
from studio.models import Style

PREVIEW_TITLE = "Your Title Here"
PREVIEW_SUBTITLE = "in this style"
PREVIEW_SIZE = (640, 360)  # pixels: 2x the library tile's 320x180 for sharp high-DPI screens
PREVIEW_WEBP_QUALITY = 82


def render_style_preview(style: Style) -> bytes:
    """The preview of `style` as WebP bytes (PREVIEW_SIZE)."""
    reference = style.reference_images.order_by("pk").first()
    data = None
    if reference is not None:
        with reference.image.open("rb") as handle:
            data = handle.read()
    return render_preview(name=style.name, slug=style.slug, seed=style.pk, reference=data)


def render_preview(*, name: str, slug: str, seed: int, reference: bytes | None) -> bytes:
    """A preview of the style `name` (`slug`: a built-in design, "" for a custom style) over its
    first reference image (`reference`, JPEG or PNG bytes, drawn as the renderer's backdrop), as
    WebP bytes (PREVIEW_SIZE)."""
    # Imported here: the renderer brings OpenCV and numpy, which a web process serving pages
    # that never draw a preview should not load.
    from generation.providers.local import LocalRenderer

    images: list[InputImage] = []
    if reference is not None:
        images.append(InputImage(data=reference, mime_type="image/png", role="reference"))
    generated = LocalRenderer().generate_image(
        ImageRequest(
            prompt="",
            aspect_ratio="16:9",
            image_size="1K",
            model="local",
            images=images,
            spec=RenderSpec(
                title=PREVIEW_TITLE,
                subtitle=PREVIEW_SUBTITLE,
                style_name=name,
                style_key=slug,
                seed=seed,
            ),
        )
    )
    small = generated.picture().resize(PREVIEW_SIZE, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, "WEBP", quality=PREVIEW_WEBP_QUALITY, method=4)
    return out.getvalue()


def is_drawn(style: Style) -> bool:
    """Whether `style` has a preview the renderer drew (a WebP). A custom style's preview was
    once a JPEG copy of its first reference image, which a published style showed every creator
    (the API's preview_url): never its reference images, PRODUCT.md says."""
    return bool(style.preview) and (style.preview.name or "").endswith(".webp")


def ensure_preview(style: Style) -> Style:
    """Draw and store `style`'s preview unless it has one the renderer drew (`is_drawn`); a
    reference copy in its place is deleted once the new one is in. Returns the style."""
    if not is_drawn(style):
        redraw_preview(style)
    return style


def redraw_preview(style: Style) -> None:
    """Draw `style`'s preview again from its current reference images (its first one is the
    backdrop) and store it; the file it replaces is deleted once the transaction commits. For
    references changed in the admin, which leave the stored preview showing the old one."""
    old = style.preview.name if style.preview else ""
    name = f"{style.slug or 'style'}-{style.pk}.webp"
    style.preview.save(name, ContentFile(render_style_preview(style)), save=False)
    Style.objects.filter(pk=style.pk).update(preview=style.preview.name)
    invalidate_style_lists(style)  # update() sends no post_save
    if old and old != style.preview.name:
        storage = style.preview.storage
        transaction.on_commit(lambda: storage.delete(old))
