"""Declared shapes of the JSON API: request serializers the library endpoints validate with, and
response serializers that only describe answers for the OpenAPI schema (drf-spectacular, served at
`/api/schema/`, docs at `/api/docs/`). The payload builders (studio.api, studio.outputs,
generation.progress) stay the source of the answers; tests/test_api_schema.py runs schemathesis
against the schema, so a payload that drifts from these shapes fails there."""

from __future__ import annotations

import copy
import functools
from typing import Any

from django.core.validators import RegexValidator
from django.http import QueryDict
from drf_spectacular.extensions import (
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.serializers import PolymorphicProxySerializerExtension
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.serializers import Serializer

from core import ratelimits
from core.api import SESSION_CHALLENGE
from generation.models import Job
from generation.pipeline import IDEMPOTENCY_KEY_MAX_CHARS
from generation.registry import JobType, job_types
from studio.forms import parse_colors
from studio.gallery import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from studio.job_types.generate import ProjectDefaults
from studio.models import Project
from studio.serializers import MAX_ID, IdList, KnownFieldsOnly, Text
from studio.services import MAX_FACE_PHOTOS

MOVE_MAX_IDS = 500
PROJECT_NAME_MAX_CHARS = 100  # Project.name's max_length
QUERY_MAX_CHARS = 200  # a search text longer than any title (TITLE_MAX_CHARS is 100)


# --- Requests ----------------------------------------------------------------------------------

# A name or prompt that must not be blank, as the schema says it (`minLength: 1`, `pattern: \S`):
# Text answers blank or all-space text before validators run (the view or service then refuses it
# with its own message), so these validators only describe the rule and never refuse anything.
NOT_BLANK = [RegexValidator(r"\S")]


def named(max_length: int, **kwargs: Any) -> Text:
    """A Text that must hold something besides spaces when sent (see NOT_BLANK)."""
    return Text(max_length=max_length, min_length=1, validators=NOT_BLANK, **kwargs)


class StrictBoolean(serializers.BooleanField):
    """JSON true/false only ("yes" or 1 are refused, as the API always did); a form body (a
    QueryDict: multipart or urlencoded, where every value is text) says "true" or "false"."""

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        if isinstance(self.root.initial_data, QueryDict) and data in ("true", "false"):
            return data == "true"
        raise serializers.ValidationError("Must be true or false.")


class ThumbnailPatch(KnownFieldsOnly):
    """PATCH /api/thumbnails/<id>: every field optional; `project_id` null takes it out."""

    is_favorite = StrictBoolean(required=False)
    is_public = StrictBoolean(required=False)
    project_id = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_ID
    )


class StylePatch(KnownFieldsOnly):
    """PATCH /api/styles/<id> (JSON, or multipart/form-data to add images): only the fields
    sent change. `remove_reference_ids`: ids from the style's `reference_images`;
    `reference_images`: new JPEG/PNG/WebP files (multipart only), at most 4 in all after."""

    name = named(80, required=False, default=empty)
    description = Text(required=False, default=empty, max_length=300)
    prompt = named(2000, required=False, default=empty)
    remove_reference_ids = IdList(noun="reference image", default=empty, max_length=4)
    reference_images = serializers.ListField(
        child=serializers.FileField(), required=False, max_length=4
    )

    def validate_name(self, value: str) -> str:
        if not value:
            raise serializers.ValidationError("Give the style a name.")
        return value

    def validate_prompt(self, value: str) -> str:
        if not value:
            raise serializers.ValidationError("Describe how the thumbnail should look.")
        return value

    def changes(self) -> dict[str, Any]:
        """`studio.services.do_update_style`'s keyword arguments from the validated data (call
        after `is_valid()`): None for a field not sent, lists for the references."""
        data = self.validated_data
        return {
            "name": data.get("name"),
            "description": data.get("description"),
            "prompt": data.get("prompt"),
            "add_references": data.get("reference_images") or [],
            "remove_reference_ids": data.get("remove_reference_ids") or [],
        }


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "pattern": "^#[0-9A-Fa-f]{6}$"},
        "minItems": 3,
        "maxItems": 6,
        "uniqueItems": True,
    }
)
class ColorList(serializers.ListField):
    """Colours as the schema tells them (validate_colors checks them: parse_colors)."""


class PalettePatch(KnownFieldsOnly):
    """PATCH /api/palettes/<id>: only the fields sent change. `colors`: 3 to 6 distinct
    "#RRGGBB" colours, most prominent first."""

    name = named(80, required=False, default=empty)
    # No length limits here: parse_colors names what is wrong in a creator's words (DRF's were
    # "Ensure this field has no more than 6 elements.", keyed by the item's index).
    colors = ColorList(child=serializers.CharField(), required=False)

    def validate_name(self, value: str) -> str:
        if not value:
            raise serializers.ValidationError("Give the palette a name.")
        return value

    def validate_colors(self, value: list[str]) -> list[str]:
        try:
            return parse_colors(list(value))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class MoveThumbnails(KnownFieldsOnly):
    """POST /api/thumbnails/move: all or none; any id (or the project) not the caller's is a 404
    and nothing moves. `project_id` is required (null: no project)."""

    thumbnail_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), max_length=MOVE_MAX_IDS
    )
    # Required: null takes the thumbnails out of their project, so a body that left it out
    # (a client that meant something else, a misspelt key) must not do that silently.
    project_id = serializers.IntegerField(
        allow_null=True,
        min_value=1,
        max_value=MAX_ID,
        help_text="the project to move them to; null: out of any project",
        error_messages={"required": "Give the project's id, or null for no project."},
    )


class ProjectCreate(KnownFieldsOnly):
    """POST /api/projects: a new project's name."""

    name = named(PROJECT_NAME_MAX_CHARS, required=True, default=empty)


@extend_schema_field(ProjectDefaults)
class DefaultSettings(serializers.DictField):
    """A project's `default_settings` as the schema tells them: ProjectDefaults' fields and no
    other (the view checks them with ProjectDefaults, which refuses any other key)."""


class ProjectPatch(KnownFieldsOnly):
    """Only the fields sent change: no default, so an absent name is not a rename to ""."""

    name = named(PROJECT_NAME_MAX_CHARS, required=False, default=empty)
    share_mode = serializers.ChoiceField(choices=Project.ShareMode.choices, required=False)
    default_settings = DefaultSettings(
        required=False,
        allow_null=True,
        help_text="The generate form's choices for this project: style_id, palette_id, face_ids, "
        "expression, pose, aspect_ratio, resolution, variations (checked as in a generate "
        "request; what is left out gets its default). {} or null: no defaults.",
    )


class KnownFieldsOnlyExtension(OpenApiSerializerExtension):
    """A KnownFieldsOnly request body is `additionalProperties: false` in the schema: a field it
    does not declare is a 400, not ignored."""

    target_class = KnownFieldsOnly
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        mapped = auto_schema._map_basic_serializer(self.target, direction)
        if direction == "request":
            mapped["additionalProperties"] = False
        return dict(mapped)


class JobTypeName(serializers.Field):
    """A job request's `type` as one job type's shape in the schema has it: that job type's name
    only (`JobTypeNameExtension`). Describes requests; nothing validates with it."""

    def __init__(self, *, job_type: str, **kwargs: Any) -> None:
        self.job_type = job_type
        super().__init__(**kwargs)


class JobTypeNameExtension(OpenApiSerializerFieldExtension):
    """A JobTypeName is a `$ref` to a one-value enum component `<JobType>Name` (e.g.
    `AnalysePaletteName`: `{"type": "string", "enum": ["analyse_palette"]}`), which the JSON and
    the multipart shape of the job type share. An inline enum would be moved to a component by
    drf-spectacular's enum hook, which names a choice set found in two components by its hash
    (with a warning)."""

    target_class = JobTypeName

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        name = self.target.job_type
        component = ResolvedComponent(
            name=f"{_camel(name)}Name",
            type=ResolvedComponent.SCHEMA,
            schema={"type": "string", "enum": [name]},
            object=f"job type {name}",
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


def _camel(name: str) -> str:
    """A job type's name in CamelCase: "analyse_palette" -> "AnalysePalette"."""
    return "".join(part.capitalize() for part in name.split("_"))


@functools.cache
def job_request_shapes(job_type: JobType) -> tuple[type[Serializer], type[Serializer]]:
    """The two request shapes of `POST /api/jobs` for one job type, as serializer classes for the
    schema (named `<JobType>Job` and `<JobType>JobForm`):
    JSON `{"type": <its name>, "input": <its input_serializer>}` (the view also reads the input's
    fields beside `type` when `input` is absent); multipart `type`, the input serializer's fields
    flat (a nested serializer's as `<name>.<field>` keys), and its `upload_fields` (one file, or
    a list of at most that many). Neither takes another field (KnownFieldsOnly:
    `additionalProperties: false`, as the view and the input serializer refuse one). Made once
    per job type object, so one schema's components are one class each."""
    camel = _camel(job_type.name)
    as_json = type(
        f"{camel}Job",
        (KnownFieldsOnly,),
        {
            "__doc__": f"POST /api/jobs as JSON for `{job_type.name}` ({job_type.label}).",
            "type": JobTypeName(job_type=job_type.name),
            "input": job_type.input_serializer(required=False),
        },
    )
    form_fields: dict[str, Any] = {}
    for name, field in job_type.input_serializer._declared_fields.items():
        if isinstance(field, serializers.Serializer):
            # A form cannot nest an object: its fields go flat as `<name>.<field>` keys, as the
            # studio's forms send them (e.g. edit_thumbnail's `changes.title`).
            for sub, subfield in field.fields.items():
                flat = copy.deepcopy(subfield)
                flat.required = flat.required and field.required
                form_fields[f"{name}.{sub}"] = flat
        else:
            form_fields[name] = copy.deepcopy(field)
    for name, most in job_type.upload_fields.items():
        form_fields[name] = (
            serializers.FileField(required=False)
            if most == 1
            else serializers.ListField(
                child=serializers.FileField(), required=False, max_length=most
            )
        )
    as_form = type(
        f"{camel}JobForm",
        (KnownFieldsOnly,),
        {
            "__doc__": f"POST /api/jobs as multipart for `{job_type.name}` ({job_type.label}): "
            "`type`, then the input's fields (and files) flat.",
            "type": JobTypeName(job_type=job_type.name),
            **form_fields,
        },
    )
    return as_json, as_form


class RegisteredJobRequests(PolymorphicProxySerializer):
    """`POST /api/jobs`'s body in the schema: `oneOf` the registered job types' shapes
    (`job_request_shapes`), with a discriminator on `type`. Read from the engine's registry
    (`generation.registry.job_types`) each time a schema is made, so a job type registered later
    is in the next one. `multipart`: the form shapes, else the JSON ones."""

    def __init__(self, component_name: str, *, multipart: bool) -> None:
        self.multipart = multipart
        super().__init__(
            component_name=component_name, serializers={}, resource_type_field_name="type"
        )

    @property
    def serializers(self) -> dict[str, type[Serializer]]:
        return {
            name: job_request_shapes(job_type)[self.multipart]
            for name, job_type in job_types().items()
        }

    @serializers.setter
    def serializers(self, value: Any) -> None:
        """Ignored: the shapes come from the registry."""


class RegisteredJobRequestsExtension(PolymorphicProxySerializerExtension):
    """drf-spectacular's handling of PolymorphicProxySerializer, for the subclass (extensions
    match their exact class), with `type` required at the top as in every shape (which also
    marks the request body required)."""

    target_class = "studio.api_schema.RegisteredJobRequests"

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {**super().map_serializer(auto_schema, direction), "required": ["type"]}


JOB_REQUEST = RegisteredJobRequests("JobRequest", multipart=False)
JOB_FORM = RegisteredJobRequests("JobForm", multipart=True)


class FaceCreate(KnownFieldsOnly):
    """POST /api/faces (multipart): a name and 1-3 photos, sent as `images` once per file. The
    photos are files here; `studio.services.do_create_face` decodes and checks each (one
    decode, not a second by DRF's ImageField)."""

    name = named(80, required=True, default=empty)
    images = serializers.ListField(
        child=serializers.FileField(),
        min_length=1,
        max_length=MAX_FACE_PHOTOS,
        error_messages=dict.fromkeys(
            ("min_length", "max_length", "required", "not_a_list"),
            f"Upload 1 to {MAX_FACE_PHOTOS} photos for a face.",
        ),
    )


# --- Query parameters --------------------------------------------------------------------------


class PageQuery(serializers.Serializer):
    """A paged listing's `?limit=` (other query parameters: studio.gallery.parse_filters)."""

    limit = serializers.IntegerField(
        required=False,
        default=DEFAULT_PAGE_SIZE,
        min_value=1,
        error_messages={
            "invalid": "Must be a whole number.",
            "min_value": "Must be 1 or more.",
            "max_string_length": "Must be a whole number.",
        },
    )


PAGE_PARAMETERS = [
    OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1},
        description=f"rows a page, 1 or more (default {DEFAULT_PAGE_SIZE}); at most "
        f"{MAX_PAGE_SIZE} are given (a larger limit gives {MAX_PAGE_SIZE}); 0, a negative "
        "number or anything else than a whole number is a 400",
    ),
    OpenApiParameter(
        "project",
        str,
        description="a project id, `none` (no project) or `all` (the default)",
        pattern=r"^(|all|none|[1-9][0-9]{0,17})$",
    ),
    OpenApiParameter("favorites", str, enum=["true", "false"]),
    OpenApiParameter("q", str, description="words of the title"),
    OpenApiParameter("order", str, enum=["newest", "oldest", "title", "clicks"]),
    OpenApiParameter(
        "include_parameters",
        str,
        enum=["true", "false"],
        description="staff only (ignored for anyone else): each result's `parameters` in full",
    ),
]
DOWNLOAD_PARAMETERS = [OpenApiParameter("size", str, enum=["youtube", "full"])]
JOB_ID = OpenApiParameter("job_id", str, OpenApiParameter.PATH, description="the job's UUID")

# --- Headers -----------------------------------------------------------------------------------

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {
        "type": "string",
        "minLength": 1,
        "maxLength": IDEMPOTENCY_KEY_MAX_CHARS,
        # printable ASCII, not blank, no space at either end (a header's value loses those)
        "pattern": r"^[!-~]([ -~]*[!-~])?$",
    },
    OpenApiParameter.HEADER,
    description="a key of the client's choosing, new for each request it means (a UUID): a "
    "retry with the same key and body answers 202 with the original job, charges nothing and "
    "counts against no limit (`Idempotent-Replayed: true`); the same key with another body is "
    f"409 `idempotency_key_reused`; blank, longer than {IDEMPOTENCY_KEY_MAX_CHARS} characters "
    "or not printable: 400 `invalid`",
)
IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    {"type": "string", "enum": ["true", "false"]},
    OpenApiParameter.HEADER,
    required=True,
    response=[202],
    description="`true` when the answer is the original job of an earlier request with the same "
    "Idempotency-Key and body (nothing charged), else `false`",
)
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    {"type": "integer", "minimum": 1},
    OpenApiParameter.HEADER,
    response=[503],
    description="seconds to wait before trying again (the rate limiter or the AI service is down)",
)
# What a job-submitting operation (POST /api/generate, POST /api/jobs) takes and answers in
# headers besides its body (the rate-limit headers: ViewBaitAutoSchema).
JOB_SUBMIT_HEADERS = [IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED, RETRY_AFTER]


# --- Responses ---------------------------------------------------------------------------------


# Every `code` an error answer can carry: code -> (HTTP status, meaning). The one list the
# schema's Error.code enum and README's error table are made from; tests/test_api_schema.py
# checks that every code the source passes to an error helper is here, and README against it.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "invalid": (
        400,
        "the request is not acceptable; with `fields` when fields of the body (or `?limit=`) "
        "failed validation, without when the request as a whole is refused (no body, or one "
        "that is not a JSON object, a query value such as `order`, `favorites`, `project` or "
        "`size`, the Idempotency-Key header, an unknown job `type`)",
    ),
    "parse_error": (400, "the body is not valid JSON, or a form that cannot be read"),
    "too_deep": (400, "JSON nested deeper than 20 levels"),
    "invalid_characters": (400, "text with a NUL or a lone surrogate"),
    "invalid_form": (400, "a form body that cannot be read (too many fields, broken multipart)"),
    "invalid_cursor": (400, "a `cursor` that is not one a listing gave"),
    "invalid_image": (400, "an upload that is not a readable image"),
    "unsupported_image_type": (400, "an image that is not JPEG, PNG or WebP"),
    "image_too_small": (400, "an image under 16 px on a side"),
    "image_too_large": (400, "an image with too many pixels"),
    "resolution_not_supported": (400, "the model cannot make that resolution"),
    "aspect_ratio_not_supported": (400, "the model cannot make that aspect ratio"),
    "channel_not_set": (400, "channel consistency without the creator's YouTube channel set"),
    "bad_request": (400, "a request Django refuses before any view (e.g. a Host not allowed)"),
    "not_authenticated": (401, "not signed in"),
    "insufficient_credits": (402, "not enough credits: with `balance` and `required`"),
    "permission_denied": (403, "not allowed, e.g. no valid CSRF token on a write"),
    "csrf_failed": (403, "a CSRF failure Django's middleware refused (the page is out of date)"),
    "read_only": (403, "a built-in or another creator's style or palette cannot be changed"),
    "plan_feature": (403, "the plan lacks the feature: with `required_plan` and `plans_url`"),
    "plan_model_not_allowed": (403, "the plan cannot use that model"),
    "plan_variations_limit": (403, "more variations than the plan allows"),
    "plan_resolution_not_allowed": (403, "a resolution the plan does not allow"),
    "plan_aspect_ratio_not_allowed": (403, "an aspect ratio the plan does not allow"),
    "plan_custom_assets_limit": (403, "the plan's number of own styles, palettes or faces"),
    "not_found": (404, "missing, or another creator's"),
    "method_not_allowed": (405, "a method the route does not take (see Allow)"),
    "not_acceptable": (406, "an Accept header naming no type the route answers in"),
    "idempotency_key_reused": (409, "the Idempotency-Key was used for a different request"),
    "name_taken": (409, "another of the creator's projects, styles, palettes or faces has it"),
    "job_finished": (409, "cancelling a job that already finished"),
    "images_gone": (409, "saving an analysis as a style after its images were deleted (studio)"),
    "subscription_active": (409, "deleting an account whose plan renews through Stripe (studio)"),
    "payment_pending": (
        409,
        "deleting an account while a payment of theirs is on its way through Stripe, or their "
        "plan is past due (studio)",
    ),
    "request_too_large": (413, "a body larger than the route takes: with `limit`"),
    "file_too_large": (413, "an upload larger than the limit for one file"),
    "upload_pixels_exceeded": (413, "the images of one request have too many pixels in all"),
    "url_too_long": (414, "a URL longer than the server reads"),
    "unsupported_media_type": (415, "a body in a content type the route does not take"),
    "rate_limited": (429, "over a rate limit: with `retry_after` (and Retry-After)"),
    "too_many_jobs": (429, "the plan's jobs at once are running: with `limit`"),
    "server_error": (500, "a fault on the server"),
    "limiter_unavailable": (503, "the rate limiter is down: nothing charged; with `retry_after`"),
    "database_unavailable": (503, "the database is briefly unreachable: with `retry_after`"),
    "provider_unavailable": (503, "the model's circuit breaker is open: with `retry_after`"),
    "needs_gemini_key": (503, "a tool that needs Gemini, on a studio without its key"),
    "youtube_not_configured": (503, "a tool that needs YouTube, on a studio without its key"),
    "busy": (503, "too many images are being read at once; try again"),
    "payments_unavailable": (
        503,
        "deleting an account: Stripe could not be reached to close its open checkouts (studio)",
    ),
    "storage_unavailable": (
        503,
        "the file store refused to save an upload: nothing charged or kept; with `retry_after`",
    ),
}
ERROR_CODE_NAMES = list(ERROR_CODES)


class Error(serializers.Serializer):
    """Every error: `{"error": message, "code": machine code}`, sometimes with more fields
    (`fields` for validation errors, `retry_after`, `limit`, ...). The codes: ERROR_CODES."""

    error = serializers.CharField()
    code = serializers.ChoiceField(choices=ERROR_CODE_NAMES)
    fields = serializers.JSONField(
        required=False,
        help_text="with `invalid` when fields failed validation: each field's messages by its "
        "name (a list of messages for the request as a whole)",
    )


class RateLimitedError(Error):
    """429: `rate_limited` (over a rate limit, settings.RATE_LIMITS: wait `retry_after` s), or
    on a job submit `too_many_jobs` (the plan's jobs at once are running: wait for one to end)."""

    retry_after = serializers.IntegerField(
        min_value=1, required=False, help_text="with `rate_limited`: as the Retry-After header"
    )


class MeOut(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.CharField()
    plan = serializers.CharField()
    plan_name = serializers.CharField()
    limits = serializers.DictField()
    credits_remaining = serializers.IntegerField()


class YouTubeChannelOut(serializers.Serializer):
    channel = serializers.CharField(allow_null=True, help_text='"@handle" or "UC..." channel id')
    url = serializers.CharField(allow_null=True)


class FaceImageOut(serializers.Serializer):
    url = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class FaceOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    images = FaceImageOut(many=True)


class FaceList(serializers.Serializer):
    results = FaceOut(many=True)


class StyleReferenceOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField(allow_null=True)
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class StyleOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    preview_url = serializers.CharField(allow_null=True)
    builtin = serializers.BooleanField()
    is_public = serializers.BooleanField()
    mine = serializers.BooleanField()
    prompt = serializers.CharField(required=False, help_text="only on the caller's own styles")
    reference_images = StyleReferenceOut(
        many=True, required=False, help_text="only in /api/styles/<id> of the caller's own style"
    )


class StyleList(serializers.Serializer):
    results = StyleOut(many=True)


class PaletteOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    colors = serializers.ListField(child=serializers.CharField())
    builtin = serializers.BooleanField()
    is_public = serializers.BooleanField()
    mine = serializers.BooleanField()


class PaletteList(serializers.Serializer):
    results = PaletteOut(many=True)


class ThumbnailOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField(allow_blank=True)
    image_url = serializers.CharField()
    small_url = serializers.CharField()
    full_url = serializers.CharField()
    download_url = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    aspect_ratio = serializers.CharField()
    resolution = serializers.CharField()
    has_watermark = serializers.BooleanField()
    is_favorite = serializers.BooleanField()
    is_public = serializers.BooleanField()
    public_url = serializers.CharField(
        allow_null=True, help_text="the public page (/p/<token>/) while is_public, else null"
    )
    project_id = serializers.IntegerField(allow_null=True)
    job_id = serializers.CharField(allow_null=True)
    parent_id = serializers.IntegerField(allow_null=True)
    page_url = serializers.CharField()
    created_at = serializers.DateTimeField()
    parameters = serializers.DictField()


class VersionOut(serializers.Serializer):
    id = serializers.IntegerField()
    parent_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    small_url = serializers.CharField()
    download_url = serializers.CharField()


class ThumbnailDetailOut(ThumbnailOut):
    versions = VersionOut(many=True, required=False, help_text="GET only")


class ThumbnailPage(serializers.Serializer):
    results = ThumbnailOut(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class RegisteredJobType(serializers.CharField):
    """A job's `type`: one of the registered job types' names (`RegisteredJobTypeExtension`)."""


class RegisteredJobTypeExtension(OpenApiSerializerFieldExtension):
    """A RegisteredJobType is a `$ref` to the component `JobTypeEnum`: the names of the job
    types registered when the schema is made (generation.registry.job_types), so one registered
    later is in the next schema. A job of a type a release retired since keeps its old name."""

    target_class = RegisteredJobType

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        component = ResolvedComponent(
            name="JobTypeEnum",
            type=ResolvedComponent.SCHEMA,
            schema={"type": "string", "enum": list(job_types())},
            object="registered job types",
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


class JobOut(serializers.Serializer):
    id = serializers.UUIDField()
    type = RegisteredJobType()
    status = serializers.ChoiceField(choices=Job.Status.choices)
    stage = serializers.ChoiceField(
        choices=Job.STAGES, help_text="the step it is at: its status once finished"
    )
    progress = serializers.IntegerField(min_value=0, max_value=100)
    error = serializers.CharField(allow_null=True)
    error_code = serializers.CharField(allow_null=True)
    cost = serializers.IntegerField()
    units = serializers.IntegerField()
    units_succeeded = serializers.IntegerField()
    units_failed = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    model = serializers.CharField(allow_blank=True)
    cached = serializers.BooleanField()
    result = serializers.JSONField(
        allow_null=True, help_text="JSON job types' result; null for image job types"
    )
    thumbnails = ThumbnailOut(
        many=True, help_text="image job types' thumbnails so far; [] for JSON job types"
    )
    notes = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="generate_thumbnails only: what the provider changed that the creator should "
        "know, one sentence each (e.g. a title shortened to stay readable)",
    )


class JobAccepted(JobOut):
    credits_remaining = serializers.IntegerField()


class JobList(serializers.Serializer):
    """The caller's 20 most recent jobs, newest first, each with its result as
    `GET /api/jobs/<id>` has it."""

    results = JobOut(many=True)


class ProjectOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    share_mode = serializers.ChoiceField(choices=Project.ShareMode.choices)
    share_url = serializers.CharField(allow_null=True)
    default_settings = serializers.DictField()
    created_at = serializers.DateTimeField()


class ProjectList(serializers.Serializer):
    results = ProjectOut(many=True)


class MovedOut(serializers.Serializer):
    moved = serializers.IntegerField()


class NameTaken(Error):
    """409 `name_taken`: another of the creator's projects (styles, palettes, faces) has the
    name, case and surrounding spaces aside (`studio.services.check_asset_name`)."""

    code = serializers.ChoiceField(choices=["name_taken"])


NAME_TAKEN = {
    409: OpenApiResponse(
        NameTaken,
        description="`name_taken`: another of the creator's projects (styles, palettes, faces) "
        "has this name, case and surrounding spaces aside",
    )
}

DELETED = OpenApiResponse(description="deleted")


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error answers an operation may give, besides the ones every operation may (400 for
    bad characters or nesting, 401, 413, 414). An operation that takes a request body adds 415."""
    described = {
        400: "invalid input",
        401: "not signed in",
        402: "not enough credits",
        403: "the plan does not allow it",
        404: "not found, or not yours",
        409: "conflict",
        413: "body or upload too large",
        414: "URL too long",
        415: "a request body in a content type the operation does not take",
        429: "rate limited",
        503: "a dependency is down, or busy",
    }
    codes = sorted({400, 401, 413, 414, *statuses})
    return {code: OpenApiResponse(Error, description=described[code]) for code in codes}


# --- Answers every operation of a kind may give --------------------------------------------------

RATE_LIMIT_HEADERS = {
    "RateLimit-Policy": {
        "schema": {"type": "string"},
        "description": "the quota policies this request counts against "
        '(draft-ietf-httpapi-ratelimit-headers): `"<name>";q=<quota>;w=<window s>`, '
        "comma-separated; absent when limits are off",
    },
    "RateLimit": {
        "schema": {"type": "string"},
        "description": 'where the caller stands in each policy: `"<name>";r=<remaining>;'
        "t=<seconds until it resets>`, comma-separated; absent when limits are off",
    },
}
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class ViewBaitAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema (settings.REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS), adding to
    each operation the answers its kind may give, which no view states one by one (and marks
    every request body required: none is refused):
    406 `not_acceptable` (an Accept header naming no JSON: DRF's content negotiation, every
    view), 403 `permission_denied` on a write (the session's CSRF check), and on a method that
    counts against a rate limit (`core.ratelimits.limited_methods`: its `limit` decorators and
    `counted_within` marks) the 429 `rate_limited` with Retry-After and the RateLimit headers,
    and the RateLimit headers on its successes; and the WWW-Authenticate challenge on a 401.
    (405 is no operation's: a method the path does
    not take has no operation to document it on.)"""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        if "requestBody" in operation:
            # Every operation that takes a body refuses none at all (core.api.json_object; a
            # form's required fields), a PATCH that changes nothing included: `{}`.
            operation["requestBody"]["required"] = True
        responses: dict[str, Any] = operation["responses"]
        error = self.resolve_serializer(Error, "response").ref

        def answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
            return {"description": description, "content": {"application/json": {"schema": schema}}}

        responses.setdefault(
            "406", answer("`not_acceptable`: the Accept header names no type given", error)
        )
        if self.method in UNSAFE_METHODS:
            responses.setdefault(
                "403", answer("`permission_denied`: no valid CSRF token was sent", error)
            )
        if "401" in responses:
            responses["401"]["headers"] = {
                "WWW-Authenticate": {
                    "schema": {"type": "string", "enum": [SESSION_CHALLENGE]},
                    "description": "the challenge (RFC 9110): sign in on the site's sign-in "
                    "page; the API then takes its session cookie",
                }
            }
        if self.method in ratelimits.limited_methods(type(self.view)):
            for status_code, response in responses.items():
                if status_code.startswith("2"):
                    response["headers"] = {**RATE_LIMIT_HEADERS, **response.get("headers", {})}
            too_many = answer(
                "`rate_limited`: over a rate limit, wait Retry-After seconds (a job submit also "
                "answers `too_many_jobs`: the plan's jobs at once are running)",
                self.resolve_serializer(RateLimitedError, "response").ref,
            )
            too_many["headers"] = {
                "Retry-After": {
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "seconds to wait before trying again (with every "
                    "`rate_limited`)",
                },
                **RATE_LIMIT_HEADERS,
            }
            responses["429"] = too_many
        operation["responses"] = dict(sorted(responses.items()))
        return operation
