"""The creator's library: styles, palettes, faces, projects and thumbnails.

Built-in styles and palettes have no owner (seeded by migration 0002). Every other row belongs to
one user and is reached through `for_owner` querysets, so a stranger's id is a 404.
"""

from __future__ import annotations

import secrets
import unicodedata
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q, UniqueConstraint
from django.db.models.functions import Lower, Trim
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property


def _upload_path(prefix: str, instance: Any, ext: str) -> str:
    owner = getattr(instance, "owner_id", None) or "builtin"
    return f"{prefix}/{owner}/{uuid.uuid4().hex}.{ext}"


def new_share_token() -> str:
    """32 URL-safe characters (192 random bits) for a project's share link or a public
    thumbnail's page."""
    return secrets.token_urlsafe(24)


# The code of a refused name another of the creator's projects, styles, palettes or faces has
# (409 in the API and the studio's forms; the code of the constraints below in a model form).
NAME_TAKEN = "name_taken"


def folded_name(name: Any = "name") -> Lower:
    """`name` (a field name or an expression) as the library's per-owner name rule compares it:
    surrounding spaces trimmed and lower-cased, by the database (SQL TRIM and LOWER), so a check
    in a query and the unique index agree on every database."""
    return Lower(Trim(name))


def owner_name_index(model_name: str) -> str:
    """The name of `owner_name_unique`'s constraint (and index) for a model, e.g.
    "style_owner_name_unique"."""
    return f"{model_name}_owner_name_unique"


def refused_by_owner_name_index(model: type[models.Model], error: Exception) -> bool:
    """Whether `error` (an IntegrityError) is the refusal of `model`'s per-owner name index:
    PostgreSQL's message names the constraint, SQLite's its index (the same name)."""
    return owner_name_index(model._meta.model_name or "") in str(error)


def owner_name_unique(model_name: str, *, owner_nullable: bool) -> UniqueConstraint:
    """A unique index on (owner, `folded_name`): "Travel" and " travel " are one name in a
    creator's menus. The services check first (`studio.services.check_asset_name`, 409
    `name_taken`, under the owner's balance row); the index refuses whatever skips them (a
    script, a shell, a bulk write, two admin saves at once), and `full_clean` reports it with
    this message and code (the admin's forms). Trimmed in the index rather than on save: the
    app's writers store names stripped already (the services; the forms' fields), and an index
    sees the writes a save() override would not (bulk_create, update(), raw SQL). SQL TRIM
    removes spaces only; a direct write may keep a tab. Built-in rows (no owner; migration 0002
    names them) are left out: the admin's business, not a creator's."""
    return UniqueConstraint(
        F("owner"),
        folded_name(),
        name=owner_name_index(model_name),
        condition=Q(owner__isnull=False) if owner_nullable else None,
        violation_error_code=NAME_TAKEN,
        violation_error_message=(
            f"Its owner already has a {model_name} of this name"
            " (case and surrounding spaces aside)."
        ),
    )


class LibraryQuerySet(models.QuerySet):
    def for_owner(self, user: Any) -> LibraryQuerySet:
        return self.filter(owner=user)

    def usable_by(self, user: Any) -> LibraryQuerySet:
        """Built-in rows, public rows, and the user's own."""
        return self.filter(Q(owner__isnull=True) | Q(is_public=True) | Q(owner=user))


class Style(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="styles",
    )
    slug = models.SlugField(blank=True, help_text="Built-in styles only")
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=300, blank=True)
    prompt = models.TextField(help_text="Style instructions for the model; never shown publicly")
    preview = models.ImageField(upload_to="styles/previews", blank=True)
    is_public = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LibraryQuerySet.as_manager()

    class Meta:
        ordering = ["owner_id", "name"]
        constraints = [owner_name_unique("style", owner_nullable=True)]

    def __str__(self) -> str:
        return self.name

    @property
    def is_builtin(self) -> bool:
        return self.owner_id is None


class StyleReferenceImage(models.Model):
    style = models.ForeignKey(Style, on_delete=models.CASCADE, related_name="reference_images")
    image = models.ImageField(upload_to="styles/references")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.image.name or ""


class Palette(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="palettes",
    )
    name = models.CharField(max_length=80)
    colors = models.JSONField(help_text='3-6 "#RRGGBB" colours, most prominent first')
    is_public = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LibraryQuerySet.as_manager()

    class Meta:
        ordering = ["owner_id", "name"]
        constraints = [owner_name_unique("palette", owner_nullable=True)]

    def __str__(self) -> str:
        return self.name


class Face(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="faces"
    )
    name = models.CharField(max_length=80)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LibraryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [owner_name_unique("face", owner_nullable=False)]

    def __str__(self) -> str:
        return self.name

    @property
    def photo_note(self) -> str:
        """What its photos allow (studio.face_quality.face_photo_note); uses `images`."""
        from studio.face_quality import face_photo_note

        return face_photo_note(image.face_height for image in self.images.all())

    @property
    def sharp_up_to(self) -> str | None:
        """studio.face_quality.sharp_up_to of its photos; uses `images`."""
        from studio.face_quality import sharp_up_to

        return sharp_up_to(image.face_height for image in self.images.all())

    @property
    def no_face_found(self) -> bool:
        """Its photos were measured and none has a face (studio.face_quality.no_face_found):
        the offline renderer leaves it out beside faces it cuts out; uses `images`."""
        from studio.face_quality import no_face_found

        return no_face_found(image.face_height for image in self.images.all())


class FaceImage(models.Model):
    face = models.ForeignKey(Face, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to="faces")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    face_height = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Height of the face found in the photo, px (0: none found; empty: not measured)",
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.image.name or ""


class Project(models.Model):
    class ShareMode(models.TextChoices):
        OFF = "off"
        ALL = "all"
        FAVORITES = "favorites"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects"
    )
    name = models.CharField(max_length=100)
    default_settings = models.JSONField(default=dict, blank=True)
    share_mode = models.CharField(max_length=10, choices=ShareMode.choices, default=ShareMode.OFF)
    share_token = models.CharField(max_length=43, unique=True, default=new_share_token)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LibraryQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [owner_name_unique("project", owner_nullable=False)]

    def __str__(self) -> str:
        return self.name

    @property
    def share_path(self) -> str:
        """The share page's path ("/share/<token>/"), whether or not sharing is on."""
        return reverse("share-project", args=[self.share_token])


def search_key(text: str) -> str:
    """`text` folded for search: case-folded (Unicode's full case folding: "Straße" -> "strasse")
    and decomposed (NFKD) with the combining marks dropped ("Café" -> "cafe", "Ｃａｆé" ->
    "cafe"). The gallery stores each title's key and compares the query's key with it, so a
    search ignores case and accents in every script and on every database (SQLite's LIKE folds
    ASCII letters only, PostgreSQL's UPPER() keeps accents)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


# "Title A-Z" keys start with a class character: TITLED, then the key, for a thumbnail with a
# title; TEXT_FREE alone for one without. Every collation orders the digits ("1" < "2") and
# compares strings from their first character, so titled thumbnails come first and text-free
# ones after them, on SQLite, PostgreSQL's C, ICU and glibc collations alike (a U+10FFFF key
# sorted last on C and ICU but near the top on glibc's en_US.UTF-8, review). The text-free key
# was "", which put every text-free thumbnail at the top.
TITLED_SORT_PREFIX = "1"
TEXT_FREE_SORT_KEY = "2"


def sort_key(text: str) -> str:
    """`text`'s place in the gallery's "Title A-Z" order: TITLED_SORT_PREFIX and its search key
    from its first letter or digit on, so "🔥🔥 I ate only rice" sorts among the I titles and
    "“Quoted”" among the Q ones, not after "Zoo" by the emoji's or quote mark's code point. A
    title with no letter or digit keeps its whole key; a text-free one ("") is
    TEXT_FREE_SORT_KEY: after all of them."""
    key = search_key(text)
    if not key:
        return TEXT_FREE_SORT_KEY
    for at, char in enumerate(key):
        if char.isalnum():
            return TITLED_SORT_PREFIX + key[at:]
    return TITLED_SORT_PREFIX + key


class Thumbnail(models.Model):
    # No single-column FK indexes on owner/project: the composite indexes below start with them.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="thumbnails",
        db_index=False,
    )
    job = models.ForeignKey(
        "generation.Job",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="thumbnails",
    )
    project = models.ForeignKey(
        Project,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="thumbnails",
        db_index=False,
    )
    # Versions: an edit's `parent` is the thumbnail it was made from; `root` is the first of the
    # line (NULL for originals), so a thumbnail's versions are one indexed query.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    root = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="descendants"
    )
    title = models.CharField(max_length=200, blank=True)
    # search_key(title), set by save() (and by bulk loads, which skip it): the gallery's search.
    search_title = models.TextField(blank=True, default="", editable=False)
    # sort_key(title), set by save() (and by bulk loads): the gallery's "Title A-Z" order.
    sort_title = models.TextField(blank=True, default="", editable=False)
    style = models.ForeignKey(Style, null=True, blank=True, on_delete=models.SET_NULL)
    palette = models.ForeignKey(Palette, null=True, blank=True, on_delete=models.SET_NULL)
    aspect_ratio = models.CharField(max_length=8)
    resolution = models.CharField(max_length=4)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    image = models.ImageField(upload_to="thumbnails/full", help_text="Provider output, PNG")
    image_small = models.ImageField(upload_to="thumbnails/400", help_text="~400 px wide WebP")
    image_medium = models.ImageField(upload_to="thumbnails/800", help_text="~800 px wide WebP")
    download = models.FileField(
        upload_to="thumbnails/download", help_text="YouTube-ready JPEG (1280x720 for 16:9)"
    )
    has_watermark = models.BooleanField(default=False)
    is_favorite = models.BooleanField(default=False)
    is_public = models.BooleanField(default=False)
    # The unguessable part of a public thumbnail's own page (/p/<token>/): set when it is made
    # public, cleared when it is made private (save()), so a link handed out stops at once and
    # making it public again gives a new one.
    public_token = models.CharField(
        max_length=43, unique=True, null=True, blank=True, editable=False
    )
    share_clicks = models.PositiveIntegerField(default=0)
    variation_index = models.PositiveSmallIntegerField(default=0)
    parameters = models.JSONField(default=dict, help_text="Allowlisted generation parameters")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = LibraryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        # One composite index per gallery order (studio.gallery.ORDERS); a B-tree serves its
        # order in both directions, so "newest" and "oldest" share one.
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"], name="thumb_owner_newest"),
            models.Index(fields=["owner", "sort_title", "id"], name="thumb_owner_title"),
            models.Index(fields=["owner", "-share_clicks", "-id"], name="thumb_owner_clicks"),
            models.Index(fields=["project", "-created_at", "-id"], name="thumb_project_newest"),
            # Everyone's, newest first: the admin's thumbnail list (ops), which otherwise sorted
            # the whole table for its first page (0.38 s at 212,000 rows).
            models.Index(fields=["-created_at", "-id"], name="thumb_newest"),
            models.Index(
                fields=["owner", "-created_at", "-id"],
                name="thumb_owner_favorites",
                condition=Q(is_favorite=True),
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"Thumbnail {self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.search_title = search_key(self.title)
        self.sort_title = sort_key(self.title)
        if not self.is_public:
            self.public_token = None
        elif not self.public_token:
            self.public_token = new_share_token()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "title" in update_fields:
            kwargs["update_fields"] = {*update_fields, "search_title", "sort_title"}
        if update_fields is not None and "is_public" in update_fields:
            kwargs["update_fields"] = {*kwargs["update_fields"], "public_token"}
        super().save(*args, **kwargs)

    @property
    def public_path(self) -> str | None:
        """The public page's path ("/p/<token>/") while the thumbnail is public, else None."""
        if not (self.is_public and self.public_token):
            return None
        return reverse("public-thumbnail", args=[self.public_token])

    @cached_property
    def card(self) -> Any:
        """The gallery card's URLs (`studio.cards.Card`). Views set it for a whole page at once
        with `studio.cards.prepare_cards`; this fallback builds a one-card page for the owner."""
        from studio.cards import CardPage

        return CardPage.for_user(self.owner).card(self)

    @property
    def is_edit(self) -> bool:
        """Whether an edit made this thumbnail (studio.job_types.edit stores its instruction in
        `parameters`, "" when none was given), though its `parent` may be deleted since: then
        it is no original, though the first of its line (`root` None)."""
        return "instruction" in (self.parameters or {})

    @property
    def lineage_id(self) -> int:
        """The id of the first thumbnail of this one's line of versions."""
        return self.root_id or self.pk

    def versions(self) -> models.QuerySet[Thumbnail]:
        """Every version of this thumbnail (the original and all edits), newest first."""
        root = self.lineage_id
        return Thumbnail.objects.filter(Q(pk=root) | Q(root_id=root), owner_id=self.owner_id)


class YouTubeChannel(models.Model):
    """The creator's own YouTube channel, which channel consistency compares thumbnails with
    (Pro). `reference` is normalized by `studio.youtube.parse_channel_reference`: an "@handle"
    or a "UC..." channel id, resolved through the YouTube Data API when a check runs."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="youtube_channel"
    )
    reference = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.reference

    @property
    def url(self) -> str:
        """The channel's page on youtube.com."""
        if self.reference.startswith("@"):
            return f"https://www.youtube.com/{self.reference}"
        return f"https://www.youtube.com/channel/{self.reference}"
