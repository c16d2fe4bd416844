"""`seed_gallery --email EMAIL --count N`: bulk-create a creator's library for demos and benchmarks.

A local run only (LOCAL_DEV=1, as seed_demo; benchmarks/_django.py sets it): elsewhere it would
add up to MAX_COUNT made-up thumbnails to a real creator's library, found by email.

Renders a handful of real images once (local renderer, 16:9 1K) with their gallery variants and
YouTube JPEG, then bulk-creates N thumbnail rows that share those files, in batches, with a
progress bar. Timestamps step back one second per row, with every fifth pair sharing a timestamp
so equal-timestamp paging is exercised; about one in seven is a favourite.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import connection
from django.utils import timezone
from tqdm import tqdm

from billing.services import open_account
from core.commands import user_by_email
from generation.providers.base import ImageRequest, RenderSpec
from generation.providers.local import LocalRenderer
from studio.gallery_cache import invalidate_gallery
from studio.images import GALLERY_WIDTHS, encode_png, encode_webp, resize_to_width, youtube_jpeg
from studio.models import Palette, Style, Thumbnail, search_key, sort_key
from studio.services import SHARED_SEED_FILES

TITLES = [
    "I Tried 100 Coffee Shops: Only 1 Was Worth It",
    "This Changed Everything",
    "Don't Buy This Laptop: Watch First",
    "24 Hours Alone in the Desert",
    "The $1 vs $1000 Burger",
    "Why Nobody Talks About This",
    "I Built a Gaming PC in 10 Minutes",
    "We Found Something Weird: Part 2",
]
BATCH = 2000
# --count's cap: over twice the largest library benchmarked (~212k thumbnails); a typo of a few
# extra digits would otherwise fill the table for hours.
MAX_COUNT = 500_000
# --images' cap: each distinct image is a 1K render and four stored files (PNG, two WebP, JPEG),
# drawn one after the other before any row is made; a few make the gallery look varied.
MAX_IMAGES = 64


class Command(BaseCommand):
    help = (
        "Bulk-create N thumbnails (sharing a few real image files) for the creator with EMAIL "
        "(made if no account has it)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument(
            "--count",
            type=int,
            required=True,
            help=f"thumbnails, 1 to {MAX_COUNT:,} (over twice the largest library benchmarked)",
        )
        parser.add_argument(
            "--images",
            type=int,
            default=8,
            help=f"distinct image files, 1 to {MAX_IMAGES} (each is a render and four files)",
        )
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.LOCAL_DEV:
            raise CommandError(
                "seed_gallery adds made-up thumbnails to the library of the account with that "
                "email, so it runs only with LOCAL_DEV=1 (`make run` sets it); nothing was made."
            )
        # Checked here, not by argparse: call_command(images=...) passes an optional as it is.
        for name, cap in (("count", MAX_COUNT), ("images", MAX_IMAGES)):
            if not 1 <= options[name] <= cap:
                raise CommandError(f"--{name} must be at least 1 and at most {cap:,}.")
        email = options["email"].strip()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"--email {email!r} is not an email address.") from None
        owner = self._owner(email)
        files = [self._render(i) for i in range(options["images"])]
        now = timezone.now()
        total = options["count"]
        made = 0
        with tqdm(total=total, unit="thumb", disable=options["quiet"]) as bar:
            while made < total:
                size = min(BATCH, total - made)
                Thumbnail.objects.bulk_create(
                    [self._row(owner, files, made + i, now) for i in range(size)], batch_size=BATCH
                )
                made += size
                bar.update(size)
        invalidate_gallery(owner.pk)  # bulk_create sends no post_save
        # Fresh planner statistics after a bulk load (PostgreSQL's advice for bulk loads): until
        # autovacuum gets to the table, the planner believes the owner has a handful of rows and
        # sorts all of them for every gallery page instead of walking the composite index.
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {Thumbnail._meta.db_table}")
        self.stdout.write(f"{total} thumbnails for {owner.email}")

    def _owner(self, email: str) -> Any:
        User = get_user_model()
        user = user_by_email(email)
        if user is None:
            user = User.objects.create(username=email, email=email)
            self.stdout.write(f"New account {email} (no account had that email)")
            # A known password only in a local run; elsewhere the account cannot log in.
            if settings.LOCAL_DEV:
                user.set_password("viewbait-demo")
            else:
                user.set_unusable_password()
            user.save(update_fields=["password"])
        open_account(user=user)
        return user

    def _render(self, index: int) -> dict[str, Any]:
        styles = list(Style.objects.filter(owner=None).order_by("id"))
        palettes = list(Palette.objects.filter(owner=None).order_by("id"))
        style, palette = styles[index % len(styles)], palettes[index % len(palettes)]
        title = TITLES[index % len(TITLES)]
        main, _, sub = title.partition(":")
        request = ImageRequest(
            prompt="",
            aspect_ratio="16:9",
            image_size="1K",
            model="local",
            spec=RenderSpec(
                title=main.strip(),
                subtitle=sub.strip(),
                colors=list(palette.colors),
                style_name=style.name,
                style_key=style.slug,
                seed=index,
            ),
        )
        image = LocalRenderer().generate_image(request).picture()
        small, medium = (resize_to_width(image, width) for width in GALLERY_WIDTHS)

        # Random names (private media): no name tells another file's. Under SHARED_SEED_FILES,
        # which deleting a row leaves in place: every row of this image shares them.
        def save(extension: str, content: bytes) -> str:
            name = f"{SHARED_SEED_FILES}{uuid.uuid4().hex}.{extension}"
            return default_storage.save(name, ContentFile(content))

        names = {
            "image": save("png", encode_png(image)),
            "image_small": save("webp", encode_webp(small)),
            "image_medium": save("webp", encode_webp(medium)),
            "download": save("jpg", youtube_jpeg(image, "16:9")[0]),
        }
        return {
            "names": names,
            "title": title,
            "style": style,
            "palette": palette,
            "width": image.width,
            "height": image.height,
        }

    def _row(self, owner: Any, files: list[dict[str, Any]], n: int, now: dt.datetime) -> Thumbnail:
        f = files[n % len(files)]
        seconds = n - (n % 5 == 1)  # rows 0/1, 5/6, ... share a timestamp
        title = f"{f['title']} #{n}"
        return Thumbnail(
            owner=owner,
            title=title,
            search_title=search_key(title),  # bulk_create does not call save()
            sort_title=sort_key(title),
            style=f["style"],
            palette=f["palette"],
            aspect_ratio="16:9",
            resolution="1K",
            width=f["width"],
            height=f["height"],
            image=f["names"]["image"],
            image_small=f["names"]["image_small"],
            image_medium=f["names"]["image_medium"],
            download=f["names"]["download"],
            is_favorite=n % 7 == 0,
            share_clicks=(n * 37) % 101,
            parameters={"title": f["title"], "aspect_ratio": "16:9", "resolution": "1K"},
            created_at=now - dt.timedelta(seconds=seconds),
        )
