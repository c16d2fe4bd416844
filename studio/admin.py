from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import model_ngettext
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm, UsernameField
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models.fields.files import FieldFile
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext

from billing.admin import CreditAccountAdmin
from billing.models import CreditAccount, CreditLedgerEntry, CreditPackPurchase, Subscription
from core.accounts import accounts_with_email, replace_email_addresses, username_for_email
from core.admin_display import breakable, short_datetime
from core.cascade import cascade_counts
from generation.admin import JobAdmin
from generation.models import Job
from generation.sizes import ASPECT_RATIOS, IMAGE_SIZES
from studio import services, style_previews
from studio.forms import parse_colors
from studio.job_types.generate import ProjectDefaults
from studio.media import media_url
from studio.models import (
    Face,
    FaceImage,
    Palette,
    Project,
    Style,
    StyleReferenceImage,
    Thumbnail,
    refused_by_owner_name_index,
)


def image_preview(file: FieldFile | None, *, height: int = 72) -> str:
    """An <img> of a stored image for admin lists and forms, or "-" when there is none."""
    if not file:
        return "-"
    return format_html(
        '<img src="{}" alt="" style="height:{}px;width:auto;border-radius:4px" loading="lazy">',
        media_url(file),
        height,
    )


class PhotoForm(forms.ModelForm):
    """An admin inline's photo (`image`) taken as the studio takes it: decoded, checked and
    re-encoded by `services.prepare_photos` (type, byte and pixel limits; EXIF such as GPS
    dropped) and stored under a private random name, with its real width and height. Django's
    own field stored the uploaded bytes as they came, under the uploader's file name, and left
    the old size on the row. `replaced` is the stored file the upload replaces, if any."""

    photo: services.PreparedPhoto | None = None
    replaced = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "image" in self.fields:
            self.fields["image"].widget.attrs["accept"] = "image/jpeg,image/png,image/webp"

    def clean_image(self) -> Any:
        upload = self.cleaned_data.get("image")
        if not isinstance(upload, UploadedFile):  # unchanged: the stored file
            return upload
        upload.seek(0)  # Django's ImageField read it to check it is an image
        try:
            [photo] = services.prepare_photos([upload])
        except services.StudioError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc
        self.photo = photo
        self.replaced = self.instance.image.name if self.instance.pk else ""
        self.instance.width, self.instance.height = photo.width, photo.height
        return ContentFile(photo.data, name=services.private_name())


class FacePhotoForm(PhotoForm):
    """A face photo is measured as the studio measures it (`services.measured_face_height`)."""

    def clean_image(self) -> Any:
        image = super().clean_image()
        if self.photo is not None:
            self.instance.face_height = services.measured_face_height(self.photo.image)
        return image


class AssetNameForm(forms.ModelForm):
    """A style's, palette's, face's or project's change form: a name another row of the same
    owner has (case and surrounding spaces aside, `services.check_asset_name`, as the studio
    refuses it) is a form error on the name, not saved. Built-in rows (no owner) are not
    checked. (Behind it, the model's unique name constraint, which `full_clean` validates,
    refuses one the check missed as an error above the form; two saves at once pass both, and
    the later one's write fails on the index: `NameTakenMeanwhile`.)"""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        owner, name = cleaned.get("owner"), cleaned.get("name")
        if owner is not None and name:
            model = type(self.instance)
            try:
                services.check_asset_name(
                    model, owner, name, row=self.instance if self.instance.pk else None
                )
            except services.StudioError:
                noun = model._meta.verbose_name
                self.add_error(
                    "name", f"{owner.email} already has a {noun} named “{name.strip()}”."
                )
        return cleaned


class PaletteAdminForm(AssetNameForm):
    """A palette's `colors` as the API takes them (`parse_colors`: 3 to 6 distinct "#RRGGBB"
    strings, stored upper-cased): the admin saved any JSON (`["red", 5]`), which the API then
    served and a generate with the palette failed on in the worker."""

    def clean_colors(self) -> list[str]:
        value = self.cleaned_data.get("colors")
        if not isinstance(value, list | str):
            raise forms.ValidationError('Give the colours as a list, e.g. ["#FF0044", ...].')
        try:
            return parse_colors(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


class ProjectAdminForm(AssetNameForm):
    """A project's `default_settings` checked as `PATCH /api/projects/<id>` checks them
    (`ProjectDefaults`, for the project's owner: a generate request's choices, the owner's own
    style, palette and faces) and stored as it stores them; `{}` or null: no defaults. The admin
    stored any JSON (`{"variations": 99, "style_id": "abc"}`), which the API then served."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        settings, owner = cleaned.get("default_settings"), cleaned.get("owner")
        if "default_settings" not in cleaned or owner is None:
            return cleaned
        if not settings:
            cleaned["default_settings"] = {}
            return cleaned
        if not isinstance(settings, dict):
            self.add_error("default_settings", 'A JSON object, e.g. {"variations": 2}, or {}.')
            return cleaned
        checked = ProjectDefaults(data=settings, context={"user": owner})
        try:
            valid = checked.is_valid()
        except Http404:
            self.add_error(
                "default_settings", f"A style, palette or face here is not usable by {owner.email}."
            )
            return cleaned
        if not valid:
            self.add_error(
                "default_settings",
                [
                    f"{field}: {' '.join(map(str, errors))}"
                    for field, errors in checked.errors.items()
                ],
            )
            return cleaned
        cleaned["default_settings"] = dict(checked.validated_data)
        return cleaned


class NameTakenMeanwhile:
    """A ModelAdmin mixin for the models of `AssetNameForm`: a save whose name another save took
    after the form was checked (two admins at once, or the studio meanwhile) fails on the
    model's unique name index and is rolled back; the admin says so on the page it came from,
    where Django answered 500."""

    def changeform_view(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().changeform_view(request, *args, **kwargs)  # type: ignore[misc]
        except IntegrityError as exc:
            model = self.model  # type: ignore[attr-defined]
            if not refused_by_owner_name_index(model, exc):
                raise
            noun = model._meta.verbose_name
            messages.error(
                request,
                f"Not saved: another of its owner's {noun}s took this name meanwhile (case and "
                "surrounding spaces aside). Choose another name.",
            )
            return redirect(request.get_full_path())


class StyleReferenceImageInline(admin.TabularInline):
    model = StyleReferenceImage
    form = PhotoForm
    extra = 0
    max_num = services.MAX_STYLE_REFERENCES
    fields = ["preview", "image", "width", "height", "position"]
    readonly_fields = ["preview", "width", "height"]  # the stored file's, set from it

    @admin.display(description="Preview")
    def preview(self, obj: StyleReferenceImage) -> str:
        return image_preview(obj.image)


# The files an admin save's inline photos (`PhotoForm`) stored, by request, for
# `DeletesStoredFiles.changeform_view` to delete when that save fails.
STORED_BY_SAVE = "_viewbait_admin_stored_files"


class DeletesStoredFiles:
    """Deleting from the admin (one row, or the "Delete selected" action) goes through the studio
    service that also removes the row's stored files after the transaction commits; Django's
    default deletes only the rows and leaves their images on disk or in the bucket. So do an
    inline's photos deleted or replaced by an upload (`PhotoForm`), but for those a queued or
    running job copied, deleted when it ends. A save that fails after an inline stored a new
    photo (a later inline, the change log) rolls its transaction back: the photos it stored are
    deleted then, as no row names them."""

    def delete_stored(self, obj: Any) -> None:
        raise NotImplementedError

    def changeform_view(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        stored: list[str] = []
        setattr(request, STORED_BY_SAVE, stored)
        try:
            return super().changeform_view(request, *args, **kwargs)  # type: ignore[misc]
        except BaseException:
            # Raised out of the admin's transaction.atomic(): rolled back.
            services.discard_files_on_commit(stored)  # at once outside a transaction
            raise

    def delete_model(self, request: Any, obj: Any) -> None:
        self.delete_stored(obj)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        for obj in queryset:
            self.delete_stored(obj)

    def save_formset(self, request: Any, form: Any, formset: Any, change: bool) -> None:
        try:
            formset.save()
        finally:  # also the photos stored before a row's INSERT failed
            getattr(request, STORED_BY_SAVE, []).extend(
                f.instance.image.name
                for f in formset.forms
                if getattr(f, "photo", None) is not None and f.instance.image._committed
            )
        gone = [
            *(getattr(f, "replaced", "") for f in formset.forms),
            *(obj.image.name for obj in formset.deleted_objects if hasattr(obj, "image")),
        ]
        # A face photo or style reference a queued or running job copied by name (generate's
        # snapshot) stays until that job ends, as when the studio deletes the face or style.
        if formset.model is FaceImage:
            services.discard_unused_face_files(gone)
        elif formset.model is StyleReferenceImage:
            services.discard_unused_style_files(gone)
        else:
            services.discard_files_on_commit(gone)


class ShortCreatedAt:
    """A sortable "Created at" list column in the admin's short form ("5 Dec 2026 01:01", as in
    the jobs, ledger and users lists): Django's own ("Dec. 5, 2026, 1:01 a.m.") read
    differently from list to list and ran the thumbnails list past its column at 1440 px."""

    @admin.display(description="Created at", ordering="created_at")
    def created(self, obj: Any) -> str:
        return short_datetime(obj.created_at)


@admin.register(Style)
class StyleAdmin(NameTakenMeanwhile, ShortCreatedAt, DeletesStoredFiles, admin.ModelAdmin):
    form = AssetNameForm
    list_display = ["preview_image", "name", "owner__email", "slug", "is_public", "created"]
    list_select_related = ["owner"]  # the email column
    list_display_links = ["preview_image", "name"]
    list_filter = ["is_public", ("owner", admin.EmptyFieldListFilter)]
    search_fields = ["name", "slug", "owner__email"]
    raw_id_fields = ["owner"]
    inlines = [StyleReferenceImageInline]
    exclude = ["preview"]  # drawn by studio.style_previews, shown read-only
    readonly_fields = ["preview_image"]

    def delete_stored(self, obj: Style) -> None:
        services.do_delete_style(style=obj)

    def save_formset(self, request: Any, form: Any, formset: Any, change: bool) -> None:
        """Saves the reference images; when any was added, replaced or deleted, the preview
        (drawn over the first one) is drawn again."""
        super().save_formset(request, form, formset, change)
        if formset.new_objects or formset.changed_objects or formset.deleted_objects:
            style_previews.redraw_preview(form.instance)

    @admin.display(description="Preview")
    def preview_image(self, style: Style) -> str:
        return image_preview(style.preview, height=54)


@admin.register(Palette)
class PaletteAdmin(NameTakenMeanwhile, ShortCreatedAt, admin.ModelAdmin):
    form = PaletteAdminForm
    list_display = ["name", "owner__email", "colors", "is_public", "created"]
    list_select_related = ["owner"]  # the email column
    list_filter = ["is_public", ("owner", admin.EmptyFieldListFilter)]
    search_fields = ["name", "owner__email"]
    raw_id_fields = ["owner"]


class FaceImageInline(admin.TabularInline):
    model = FaceImage
    form = FacePhotoForm
    extra = 0
    max_num = services.MAX_FACE_PHOTOS
    fields = ["preview", "image", "width", "height"]
    readonly_fields = ["preview", "width", "height"]

    @admin.display(description="Photo")
    def preview(self, obj: FaceImage) -> str:
        return image_preview(obj.image, height=96)


@admin.register(Face)
class FaceAdmin(NameTakenMeanwhile, ShortCreatedAt, DeletesStoredFiles, admin.ModelAdmin):
    form = AssetNameForm
    list_display = ["photo", "name", "owner__email", "created"]
    list_select_related = ["owner"]  # the email column
    list_display_links = ["photo", "name"]
    search_fields = ["name", "owner__email"]
    raw_id_fields = ["owner"]
    inlines = [FaceImageInline]

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).select_related("owner").prefetch_related("images")

    def delete_stored(self, obj: Face) -> None:
        services.do_delete_face(face=obj)

    @admin.display(description="Photo")
    def photo(self, face: Face) -> str:
        first = next(iter(face.images.all()), None)
        return image_preview(first.image if first else None, height=48)


@admin.register(Project)
class ProjectAdmin(NameTakenMeanwhile, ShortCreatedAt, admin.ModelAdmin):
    form = ProjectAdminForm
    list_display = ["name", "owner__email", "share_mode", "created"]
    list_select_related = ["owner"]  # the email column
    list_filter = ["share_mode"]
    search_fields = ["name", "owner__email"]
    raw_id_fields = ["owner"]
    readonly_fields = ["share_token"]

    def save_model(self, request: Any, obj: Project, form: Any, change: bool) -> None:
        """Sharing turned off here replaces the share token too, as in the studio
        (`services.do_update_project`): a link sent around stays dead if it is turned on again."""
        if change and "share_mode" in form.changed_data:
            mode, obj.share_mode = obj.share_mode, form.initial["share_mode"]
            services.do_update_project(project=obj, share_mode=mode)
        super().save_model(request, obj, form, change)


class FixedChoicesFilter(admin.SimpleListFilter):
    """A list filter on `parameter_name`, an exact value of that field, offering the fixed
    `values` the studio makes (generation.sizes). Django's filter for a field without choices
    offered the values found, a SELECT DISTINCT over the whole table on every load of the list
    (at ~212k thumbnails, part of its 2.4-2.8 s)."""

    values: tuple[str, ...] = ()

    def lookups(self, request: Any, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, value) for value in self.values]

    def queryset(self, request: Any, queryset: Any) -> Any:
        value = self.value()
        return queryset.filter(**{str(self.parameter_name): value}) if value else queryset


class AspectRatioFilter(FixedChoicesFilter):
    title = "aspect ratio"
    parameter_name = "aspect_ratio"
    values = ASPECT_RATIOS


class ResolutionFilter(FixedChoicesFilter):
    title = "resolution"
    parameter_name = "resolution"
    values = IMAGE_SIZES


@admin.register(Thumbnail)
class ThumbnailAdmin(ShortCreatedAt, DeletesStoredFiles, admin.ModelAdmin):
    # Six columns, so the list fits beside the filters at 1440 px (nine ran off the right edge):
    # ratio and resolution as one "Format", the three flags as one "Flags".
    list_display = ["preview", "title", "owner__email", "format", "flags", "created"]
    list_display_links = ["preview", "title"]
    # Filters that run no query of their own: fixed values, booleans and Django's date ranges
    # (Today, Past 7 days, ...). No date_hierarchy: its SELECT DISTINCT of the days over the
    # whole table ran on every load of the list (2.4-2.8 s at ~212k rows with the filters').
    list_filter = [
        AspectRatioFilter,
        ResolutionFilter,
        "has_watermark",
        "is_public",
        "created_at",
    ]
    search_fields = ["title", "owner__email"]
    raw_id_fields = ["owner", "job", "project", "style", "palette", "parent", "root"]
    list_select_related = ["owner"]
    show_full_result_count = False
    # Generated files are the renderer's output: shown, never replaced through an upload field.
    GENERATED_FILES = ("image", "image_medium", "image_small", "download")
    # What the stored picture is and whose it is: shown, not edited. Unticking "Has watermark"
    # left the watermark burned into the files, new sizes or a ratio disagreed with them, and
    # another owner got the files and the job's history. Ops change the title, the flags and
    # how long a Free thumbnail is kept (expires_at).
    DESCRIBES_THE_FILES = (
        "owner",
        "job",
        "project",
        "parent",
        "root",
        "style",
        "palette",
        "aspect_ratio",
        "resolution",
        "width",
        "height",
        "has_watermark",
        "share_clicks",
        "variation_index",
        "parameters",
        "created_at",
    )

    def delete_stored(self, obj: Thumbnail) -> None:
        services.do_delete_thumbnail(thumbnail=obj)

    def has_add_permission(self, request: Any) -> bool:
        """Thumbnails come from jobs only: one added here had no files (a blank card in the
        creator's gallery, and its downloads failed with 500)."""
        return False

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        present = {f.name for f in Thumbnail._meta.fields}
        kept = (*self.DESCRIBES_THE_FILES, *self.GENERATED_FILES)
        return ["large_preview", *(name for name in kept if name in present)]

    def get_fields(self, request: Any, obj: Any = None) -> Any:  # django-stubs' _FieldGroups
        fields = [f for f in super().get_fields(request, obj) if f != "large_preview"]
        return ["large_preview", *fields]

    @admin.display(description="Format", ordering="aspect_ratio")
    def format(self, thumbnail: Thumbnail) -> str:
        return f"{thumbnail.aspect_ratio} · {thumbnail.resolution}"

    @admin.display(description="Flags")
    def flags(self, thumbnail: Thumbnail) -> str:
        """ "watermarked · favourite · public", those that hold; "—" for none."""
        held = [
            name
            for name, on in (
                ("watermarked", thumbnail.has_watermark),
                ("favourite", thumbnail.is_favorite),
                ("public", thumbnail.is_public),
            )
            if on
        ]
        return " · ".join(held) or "—"

    @admin.display(description="Thumbnail")
    def preview(self, thumbnail: Thumbnail) -> str:
        return image_preview(getattr(thumbnail, "image_small", None), height=54)

    @admin.display(description="Image")
    def large_preview(self, thumbnail: Thumbnail) -> str:
        return image_preview(getattr(thumbnail, "image_medium", None), height=270)


# --- users: deleting one removes their files too ---------------------------------------------

User = get_user_model()


class ViewerOnObject:
    """A ModelAdmin mixin: the change page's request rides on the object it shows
    (`obj.admin_viewer`), since Django calls a read-only field with the object alone; fields
    such as the users admin's `creator` and the jobs admin's `made_and_charged` then show only
    the links the viewer's permissions open."""

    def render_change_form(
        self,
        request: Any,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> Any:
        if obj is not None:
            obj.admin_viewer = request
        return super().render_change_form(  # type: ignore[misc]
            request, context, add, change, form_url, obj
        )


def refuse_taken_email(email: str, user: Any = None) -> None:
    """ValidationError when another account than `user` has `email`, case aside
    (`core.accounts.accounts_with_email`: the user's email or an allauth address of theirs, as
    sign-up refuses it, ACCOUNT_UNIQUE_EMAIL)."""
    others = accounts_with_email(email)
    if user is not None and user.pk is not None:
        others = others.exclude(pk=user.pk)
    other = others.first()
    if other is not None:
        raise forms.ValidationError(
            f"Another account ({other.get_username()}) has this email (case aside); each "
            "account signs in with its own."
        )


class UserEmailForm(UserChangeForm):
    """A user's change form refuses an email another account has, case aside
    (`core.accounts.accounts_with_email`, as sign-up refuses it): saved, it locked one of the two
    out of signing in, and the commands that name a creator by email picked one of them."""

    def clean_email(self) -> str:
        email: str = self.cleaned_data.get("email") or ""
        refuse_taken_email(email, self.instance)
        return email


class UserAddForm(AdminUserCreationForm):
    """The admin's "Add user" form asks for the email the account signs in with (required;
    Django's asked for a username only, and that account could not sign in anywhere, both
    sign-in forms being by email). The email is lower-cased and refused when another account
    has it, case aside, as sign-up refuses it. The username may be left blank: it is then the
    email, as sign-up makes it (`AccountAdapter.populate_username`)."""

    email = forms.EmailField(
        label="Email", help_text="The address the account signs in with (studio and admin)."
    )

    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email", "username")
        field_classes = {"username": UsernameField}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        username = self.fields["username"]
        username.required = False
        username.help_text = "Leave blank to use the email. " + str(username.help_text)
        self.fields["email"].widget.attrs.update({"autofocus": True, "autocomplete": "email"})
        username.widget.attrs.pop("autofocus", None)

    def clean_email(self) -> str:
        email = (self.cleaned_data.get("email") or "").strip().lower()
        refuse_taken_email(email)
        return email

    def clean_username(self) -> str:
        if not self.cleaned_data.get("username"):
            return ""  # the email's, in clean()
        return str(super().clean_username())

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        email = cleaned.get("email")
        if email and not cleaned.get("username") and "username" not in self.errors:
            username = username_for_email(email)
            if username:
                cleaned["username"] = username
            else:
                self.add_error(
                    "username", "Enter a username: this email cannot be one (taken or too long)."
                )
        return cleaned


admin.site.unregister(User)


@admin.register(User)
class ViewBaitUserAdmin(ViewerOnObject, UserAdmin):
    """Django's user admin, deleting through `services.do_delete_account`: the creator's stored
    files go with the rows. A creator whose Stripe plan still renews is not deleted (it would go
    on charging): the admin says so, and the plan is cancelled in Stripe first."""

    form = UserEmailForm
    add_form = UserAddForm
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "username", "usable_password", "password1", "password2"),
            },
        ),
    )
    actions = ["delete_selected"]  # this class's, in place of the site's
    # Who the creator is to support: plan, balance and their records one click away (Django's
    # list showed names the studio never asks for, and the change page led nowhere).
    list_display = ["who", "plan", "credits", "joined", "last_seen", "is_staff"]
    list_select_related = ["subscription__plan", "credit_account"]
    fieldsets = [("Creator", {"fields": ["creator"]}), *(UserAdmin.fieldsets or ())]

    def get_readonly_fields(self, request: Any, obj: Any = None) -> Any:
        return [*super().get_readonly_fields(request, obj), "creator"]

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        """A changed email replaces the user's allauth addresses with the new one, primary and
        verified, with the user row in one transaction (`replace_email_addresses`): the old
        address otherwise still signed in and received password resets."""
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if change and "email" in form.changed_data:
                replace_email_addresses(obj)

    @admin.display(description="Username", ordering="username")
    def who(self, user: Any) -> str:
        return breakable(user.username)

    @admin.display(description="Joined", ordering="date_joined")
    def joined(self, user: Any) -> str:
        return short_datetime(user.date_joined)

    @admin.display(description="Last login", ordering="last_login")
    def last_seen(self, user: Any) -> str:
        return short_datetime(user.last_login)

    @admin.display(description="Plan", ordering="subscription__plan__sort_order")
    def plan(self, user: Any) -> str:
        """The subscribed plan; one not in good standing says so and that Free's limits apply
        (billing.services.effective_plan)."""
        try:
            subscription = user.subscription
        except Subscription.DoesNotExist:
            return "-"
        if subscription.status in Subscription.GOOD_STANDING:
            return str(subscription.plan.name)
        return f"{subscription.plan.name} ({subscription.get_status_display()}: Free limits)"

    @admin.display(description="Credits", ordering="credit_account__balance")
    def credits(self, user: Any) -> Any:
        try:
            return user.credit_account.balance
        except CreditAccount.DoesNotExist:
            return "-"

    @admin.display(description="Studio")
    def creator(self, user: Any) -> str:
        """The creator's plan and balance, with links to their credit account, Adjust credits,
        ledger, thumbnails, jobs and subscription in this admin: each only for a viewer whose
        permissions open it (the page's own `has_view_permission`; Adjust credits:
        `CreditAccountAdmin.may_adjust`, the `billing.adjust_credits` permission), so none leads
        to a 403. The thumbnail and job counts stay, as text, without their link."""
        if user is None or user.pk is None:
            return "-"
        request = getattr(user, "admin_viewer", None)

        def may_view(model: Any, obj: Any = None) -> bool:
            return request is not None and bool(
                self.admin_site.get_model_admin(model).has_view_permission(request, obj)
            )

        jobs = Job.objects.filter(user=user)
        total, failed = jobs.count(), jobs.filter(status=Job.Status.FAILED).count()
        count = Thumbnail.objects.filter(owner=user).count()
        links: list[tuple[str | None, str]] = []
        account = CreditAccount.objects.filter(user=user).first()
        if account is not None:
            if may_view(CreditAccount, account):
                links.append(
                    (
                        reverse("admin:billing_creditaccount_change", args=[account.pk]),
                        "Credit account",
                    )
                )
            account_admin = self.admin_site.get_model_admin(CreditAccount)
            if (
                request is not None
                and isinstance(account_admin, CreditAccountAdmin)
                and account_admin.may_adjust(request)
            ):
                links.append(
                    (
                        reverse("admin:billing_creditaccount_adjust", args=[account.pk]),
                        "Adjust credits",
                    )
                )
        if may_view(CreditLedgerEntry):
            ledger = reverse("admin:billing_creditledgerentry_changelist")
            links.append((f"{ledger}?user__id__exact={user.pk}", "Ledger"))
        thumbnails = reverse("admin:studio_thumbnail_changelist")
        links += [
            (
                f"{thumbnails}?owner__id__exact={user.pk}" if may_view(Thumbnail) else None,
                f"{count} thumbnail{'s' * (count != 1)}",
            ),
            (
                f"{reverse('admin:generation_job_changelist')}?user__id__exact={user.pk}"
                if may_view(Job)
                else None,
                f"{total} job{'s' * (total != 1)}, {failed} failed",
            ),
        ]
        subscription = Subscription.objects.filter(user=user).first()
        if subscription is not None and may_view(Subscription, subscription):
            links.append(
                (
                    reverse("admin:billing_subscription_change", args=[subscription.pk]),
                    "Subscription",
                )
            )
        return format_html(
            "Plan: {} · Balance: {} credits<br>{}",
            self.plan(user),
            account.balance if account is not None else 0,
            format_html_join(
                " · ",
                "{}",
                (
                    (format_html('<a href="{}">{}</a>', href, text) if href else text,)
                    for href, text in links
                ),
            ),
        )

    def delete_view(self, request: Any, object_id: str, extra_context: Any = None) -> Any:
        user = self.get_object(request, object_id)
        if (
            request.method == "POST"
            and user is not None
            and self.has_delete_permission(request, user)  # else Django's 403, as ever
        ):
            refused = deletion_refused(user, confirmed=True)
            if refused:
                messages.error(request, f"{user}: {refused}")
                return redirect("admin:auth_user_change", user.pk)
        return super().delete_view(request, object_id, extra_context)

    def get_deleted_objects(self, objs: Any, request: Any) -> Any:
        """What deleting `objs` (users) takes, for the confirmation page, counted per model
        (core.cascade.cascade_counts: one COUNT per relation) instead of Django's list of every
        row: a creator with 300,000 jobs took Django's page 62 s and 747 MB (ops review).

        The balance, ledger and pack purchases' admins are read-only and the jobs' admin refuses
        a job in flight (billing.admin, generation.admin): Django then refused every user with
        any (403). Those go with the account, as when the creator deletes it; every other model
        a deletion reaches still needs the staff user's delete permission."""
        users = list(objs)
        queryset = get_user_model()._base_manager.filter(pk__in=[u.pk for u in users])
        reached, protected_models = cascade_counts(queryset)
        counts: dict[str, int] = {}
        perms_needed = set()
        for model, count in reached.items():
            opts = model._meta
            counts[str(opts.verbose_name_plural)] = count
            model_admin = self.admin_site._registry.get(model)
            if model_admin is not None and not model_admin.has_delete_permission(request):
                perms_needed.add(str(opts.verbose_name))
        deleted: list[Any] = []
        summary: list[str] = []
        for user in users:
            link = reverse("admin:auth_user_change", args=[user.pk])
            deleted.append(format_html('User: <a href="{}">{}</a>', link, user))
        for model, count in reached.items():
            opts = model._meta
            if model is not get_user_model():
                name = opts.verbose_name if count == 1 else opts.verbose_name_plural
                summary.append(f"{count:,} {name}")
        deleted.append(summary)
        protected = [str(model._meta.verbose_name_plural) for model in protected_models]
        return deleted, counts, perms_needed - ACCOUNT_HISTORY, protected

    @admin.action(permissions=["delete"], description="Delete selected users")
    def delete_selected(self, request: Any, queryset: Any) -> Any:
        """Django's "Delete selected" without the users a Stripe plan still bills (said so),
        so its confirmation and its count cover only the users it deletes; once confirmed,
        also without those Stripe cannot let go yet (`deletion_refused`)."""
        confirmed = bool(request.POST.get("post"))
        refused = []
        for user in queryset:
            reason = deletion_refused(user, confirmed=confirmed)
            if reason:
                messages.warning(request, f"{user} was not deleted: {reason}")
                refused.append(user.pk)
        if refused:
            queryset = queryset.exclude(pk__in=refused)
        if not queryset.exists():
            return None
        if confirmed:
            _, _, perms_needed, protected = self.get_deleted_objects(queryset, request)
            if not perms_needed and not protected:  # else Django's 403 or its page, as ever
                # Django's own would count the users Stripe kept meanwhile as deleted.
                deleted = self._delete_accounts(request, queryset)
                if deleted:
                    self.message_user(
                        request,
                        gettext("Successfully deleted %(count)d %(items)s.")
                        % {"count": deleted, "items": model_ngettext(self.opts, deleted)},
                        messages.SUCCESS,
                    )
                return None
        return django_delete_selected(self, request, queryset)

    def log_deletions(self, request: Any, queryset: Any) -> Any:
        """Nothing yet: `_delete_account` logs a user once they are actually deleted."""
        return []

    def _delete_account(self, request: Any, user: Any) -> str:
        """Delete `user` (`services.do_delete_account`), logged in the admin's history; "" when
        done, else why not: the deletion asks Stripe again (`close_stripe_for_deletion`), and a
        payment started since the first check, or Stripe down, keeps the user (nothing logged)."""
        try:
            with transaction.atomic():
                # A list, as Django's delete_view passes it (log_actions takes any iterable).
                super().log_deletions(request, [user])  # type: ignore[arg-type]
                services.do_delete_account(user=user)
        except services.StudioError as exc:
            return REFUSALS.get(exc.code, exc.message)
        return ""

    def _delete_accounts(self, request: Any, queryset: Any) -> int:
        """Delete each user of `queryset` that Stripe lets go, saying why for the others (one
        kept does not stop the rest). Returns how many were deleted."""
        deleted = 0
        for user in queryset:
            reason = self._delete_account(request, user)
            if reason:
                messages.warning(request, f"{user} was not deleted: {reason}")
            else:
                deleted += 1
        return deleted

    def delete_model(self, request: Any, obj: Any) -> None:
        reason = self._delete_account(request, obj)
        if reason:
            messages.error(request, f"{obj}: {reason}")
            request.viewbait_user_kept = True  # `response_delete` goes back to the user

    def response_delete(self, request: Any, obj_display: str, obj_id: Any) -> Any:
        if getattr(request, "viewbait_user_kept", False):
            return redirect("admin:auth_user_change", obj_id)
        return super().response_delete(request, obj_display, obj_id)

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        self._delete_accounts(request, queryset)


REFUSED = "their paid plan still renews through Stripe; cancel it there first."
REFUSALS = {
    "subscription_active": REFUSED,
    "payment_pending": "a payment of theirs is still on its way through Stripe (a bank payment, "
    "or a past-due plan's invoice Stripe may still charge); delete the account once it has "
    "arrived or failed, or the plan has ended.",
    "payments_unavailable": "Stripe could not be reached to close their open checkouts; try again.",
}


def deletion_refused(user: Any, *, confirmed: bool) -> str:
    """Why the admin does not delete `user` ("" when it may): their Stripe plan still renews
    (`services.renews_through_stripe`) or is past due (`services.payment_due_through_stripe`);
    once the deletion is `confirmed`, also what Stripe must settle first, their open Checkouts
    being expired (`services.close_stripe_for_deletion`; not on the confirmation page, which
    changes nothing)."""
    if services.renews_through_stripe(user):
        return REFUSED
    if services.payment_due_through_stripe(user):
        return REFUSALS["payment_pending"]
    if confirmed:
        try:
            services.close_stripe_for_deletion(user)
        except services.StudioError as exc:
            return REFUSALS.get(exc.code, exc.message)
    return ""


# The account's own records whose admins are read-only (billing.admin.ReadOnlyAdmin) or refuse a
# job in flight: they go with the account.
ACCOUNT_HISTORY = {
    str(model._meta.verbose_name)
    for model in (CreditAccount, CreditLedgerEntry, CreditPackPurchase, Job)
}


admin.site.unregister(Job)


@admin.register(Job)
class StudioJobAdmin(ViewerOnObject, JobAdmin):
    """The jobs admin (generation.admin.JobAdmin) with what a job made and what it moved:
    links to its thumbnails and its credit ledger lines, which generation cannot name (the
    layers run studio -> generation -> billing)."""

    readonly_fields = [*JobAdmin.readonly_fields, "made_and_charged"]

    @admin.display(description="Made and charged")
    def made_and_charged(self, job: Job) -> str:
        """ "2 thumbnails · 3 ledger lines", each a link to that list filtered to this job for a
        viewer whose permissions open it (else the count as text): thumbnails by their `job`,
        ledger lines by their reference "job:<id>" (debits, refunds and the cache's refunds)."""
        request = getattr(job, "admin_viewer", None)

        def may_view(model: Any) -> bool:
            return request is not None and bool(
                self.admin_site.get_model_admin(model).has_view_permission(request)
            )

        made = Thumbnail.objects.filter(job=job).count()
        lines = CreditLedgerEntry.objects.filter(reference=f"job:{job.pk}").count()
        thumbnails = f"{reverse('admin:studio_thumbnail_changelist')}?job__id__exact={job.pk}"
        ledger = f"{reverse('admin:billing_creditledgerentry_changelist')}?q=job:{job.pk}"
        links = [
            (thumbnails if may_view(Thumbnail) else None, f"{made} thumbnail{'s' * (made != 1)}"),
            (
                ledger if may_view(CreditLedgerEntry) else None,
                f"{lines} ledger line{'s' * (lines != 1)}",
            ),
        ]
        return format_html_join(
            " · ",
            "{}",
            (
                (format_html('<a href="{}">{}</a>', href, text) if href else text,)
                for href, text in links
            ),
        )
