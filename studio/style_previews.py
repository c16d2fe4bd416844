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
from functools import partial

from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image

from billing.services import lock_existing_account
from generation.providers.base import ImageRequest, InputImage, RenderSpec
from studio.library_cache import invalidate_style_lists
from studio.models import Style, StyleReferenceImage

PREVIEW_TITLE = "Your Title Here"
PREVIEW_SUBTITLE = "in this style"
PREVIEW_SIZE = (640, 360)  # pixels: 2x the library tile's 320x180 for sharp high-DPI screens
PREVIEW_WEBP_QUALITY = 82
REDRAW_ATTEMPTS = 3  # draws of one redraw while edits keep changing what it is drawn from


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
    reference copy in its place is deleted once the new one is in. Returns the style. Draws now,
    in a caller's transaction too (a view answers with the preview; views run outside one)."""
    if not is_drawn(style):
        _redraw(style, REDRAW_ATTEMPTS)
    return style


def redraw_preview(style: Style, *, attempts: int = REDRAW_ATTEMPTS) -> None:
    """Draw `style`'s preview again from its current name and reference images (its first one
    is the backdrop) and store it; the file it replaces is deleted once the swap commits. For a
    style edited in the library or the admin, whose stored preview shows the old version.

    Inside a caller's transaction (the admin's save of a style and its reference images), all
    of it waits until that transaction commits, and happens only then: a rollback of the
    caller's transaction (an inline that failed) would undo the swap and leave the file drawn
    with no row naming it, and the drawing would hold the caller's row locks meanwhile. A
    failure then is logged (the caller's change is saved; the next view draws the preview).

    The drawing (up to about a second) holds no lock: the swap takes the owner's balance row
    (docs/architecture.md, "Lock order"), and their submits and billing would wait behind it.
    Under that row and the style's, the new preview goes in only if the name and the first
    reference it was drawn from are still the style's; else (an edit meanwhile) it is drawn
    again, at most `attempts` times, then left to that edit's own redraw or the next view
    (`ensure_preview`), and the file drawn is deleted, as it is when the swap fails."""
    if transaction.get_connection().in_atomic_block:

        def redraw_after_commit() -> None:  # named: a robust hook's failure is logged by name
            _redraw(style, attempts)

        transaction.on_commit(redraw_after_commit, robust=True)
        return
    _redraw(style, attempts)


def _redraw(style: Style, attempts: int) -> None:
    """`redraw_preview`'s drawing, storing and swap, now."""
    for _ in range(attempts):
        source = _preview_source(style.pk)
        if source is None:
            return  # deleted meanwhile
        style.name = source[0]
        field = style.preview.field
        stored = field.storage.save(
            field.generate_filename(style, f"{style.slug or 'style'}-{style.pk}.webp"),
            ContentFile(render_style_preview(style)),
            max_length=field.max_length,
        )
        try:
            current = _swap_in(style, source, stored)
        except BaseException:
            field.storage.delete(stored)  # the swap did not commit: nothing names the file
            raise
        if current == source:
            return
        field.storage.delete(stored)
        if current is None:
            return  # deleted meanwhile


def _swap_in(style: Style, source: tuple[str, str], stored: str) -> tuple[str, str] | None:
    """Store `stored` as `style`'s preview, under the owner's balance row and the style's row,
    if the style's preview source (`_preview_source`) is still `source`. Returns that source as
    it is under the locks (None: the style is deleted)."""
    with transaction.atomic():
        if style.owner_id is not None:
            lock_existing_account(user_id=style.owner_id)
        row = Style.objects.select_for_update().filter(pk=style.pk).values_list("preview").first()
        current = _preview_source(style.pk) if row is not None else None
        if row is None or current != source:
            return current
        Style.objects.filter(pk=style.pk).update(preview=stored)
        style.preview.name = stored
        invalidate_style_lists(style)  # update() sends no post_save
        if row[0] and row[0] != stored:
            transaction.on_commit(partial(style.preview.storage.delete, row[0]))
        return current


def _preview_source(style_id: int) -> tuple[str, str] | None:
    """What a style's preview is drawn from (`render_style_preview`): its name and its first
    reference image's file ("" without one); None once the style is deleted."""
    name = Style.objects.filter(pk=style_id).values_list("name", flat=True).first()
    if name is None:
        return None
    first = (
        StyleReferenceImage.objects.filter(style_id=style_id)
        .order_by("pk")
        .values_list("image", flat=True)
        .first()
    )
    return name, first or ""
