"""A preview image for every style in the library, drawn by the offline renderer.

A style's preview is a 16:9 thumbnail of `PREVIEW_TITLE` in that style with its own default
palette (built-in styles: their design in `generation.providers.local`; custom styles: their
first reference image as the background, else the renderer's generic look), stored once in
`Style.preview` as a 640x360 WebP and reused. `seed_demo` draws the built-in ones ahead of time;
any other is drawn on its first request (about 0.3-1 s of CPU, once).
"""

from __future__ import annotations

import io

from django.core.files.base import ContentFile
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
    # Imported here: the renderer brings OpenCV and numpy, which a web process serving pages
    # that never draw a preview should not load.
    from generation.providers.local import LocalRenderer

    reference = style.reference_images.order_by("pk").first()
    images: list[InputImage] = []
    if reference is not None:
        with reference.image.open("rb") as handle:
            images.append(InputImage(data=handle.read(), mime_type="image/png", role="reference"))
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
                style_name=style.name,
                style_key=style.slug,
                seed=style.pk,
            ),
        )
    )
    small = generated.picture().resize(PREVIEW_SIZE, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, "WEBP", quality=PREVIEW_WEBP_QUALITY, method=4)
    return out.getvalue()


def ensure_preview(style: Style) -> Style:
    """Draw and store `style`'s preview unless it has one; returns the style."""
    if not style.preview:
        name = f"{style.slug or 'style'}-{style.pk}.webp"
        style.preview.save(name, ContentFile(render_style_preview(style)), save=False)
        Style.objects.filter(pk=style.pk).update(preview=style.preview.name)
        invalidate_style_lists(style)  # update() sends no post_save
    return style
