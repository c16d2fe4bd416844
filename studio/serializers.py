"""DRF fields shared by the job types' input schemas; they accept both JSON bodies and the
studio's form posts (where an empty select sends "")."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.fields import Field
from rest_framework.settings import api_settings

from studio.youtube import ChannelReferenceInvalid, parse_channel_reference

MAX_ID = 2**63 - 1  # the largest value of a 64-bit signed primary key (PostgreSQL bigint)


def parse_id(value: Any) -> int:
    """A row id from JSON or a query string: a whole number 1..MAX_ID (bools are not).
    Raises ValueError otherwise, so a huge or odd id is a 400, never a database overflow."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("an id must be a whole number")
    number = int(value)
    if not 1 <= number <= MAX_ID:
        raise ValueError("no such id")
    return number


class Text(serializers.CharField):
    """Optional stripped text, "" when absent; `max_length` characters at most."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("default", "")
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if data is None:
            return ""
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be text.")
        return super().to_internal_value(data)


class OptionalId(serializers.IntegerField):
    """A row id or None ("", "none" and null mean none)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("default", None)
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data in ("", "none"):
            return True, None
        return super().validate_empty_values(data)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool):
            raise serializers.ValidationError("Must be a whole number.")
        return super().to_internal_value(data)


ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


def ordinal(position: int) -> str:
    """1 -> "first", ... 8 -> "eighth", then "9th", "10th", ... (1-based)."""
    if position <= len(ORDINALS):
        return ORDINALS[position - 1]
    suffix = (
        "th" if 10 <= position % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(position % 10, "th")
    )
    return f"{position}{suffix}"


class IdList(serializers.ListField):
    """A list of row ids (duplicates kept as sent), at most `max_length`. An item that is not an
    id is refused in a creator's words, naming it by its place and `noun`: "The second face you
    picked was not found; reload the page and pick again." (DRF keyed it by index: "item 1: A
    valid integer is required.")."""

    def __init__(self, *, noun: str = "item", **kwargs: Any) -> None:
        self.noun = noun
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", list)
        kwargs.setdefault("child", serializers.IntegerField(min_value=1, max_value=MAX_ID))
        super().__init__(**kwargs)

    def run_child_validation(self, data: list[Any]) -> list[Any]:
        try:
            return super().run_child_validation(data)
        except serializers.ValidationError as exc:
            detail = exc.detail
            first = min(detail) if isinstance(detail, dict) and detail else 0
            raise serializers.ValidationError(
                f"The {ordinal(int(first) + 1)} {self.noun} you picked was not found; reload "
                "the page and pick again."
            ) from exc


def _instance_copy(field: Field) -> Field:
    """A copy of a declared (never bound) field for one serializer instance to bind: shallow,
    sharing the field's read-only state (validators, error messages, choices) with the
    declaration. A list or dict field gets its own copy of its child (which its `__init__`
    bound already), re-parented to the copy, so `child.root` and `child.context` are this
    instance's; a nested serializer (whose fields are per instance) gets DRF's deep copy."""
    if isinstance(field, serializers.BaseSerializer):
        return copy.deepcopy(field)
    clone = object.__new__(type(field))  # as copy.copy, without its reduce protocol's cost
    clone.__dict__.update(field.__dict__)
    child = getattr(field, "child", None)
    if isinstance(field, serializers.ListField | serializers.DictField) and child is not None:
        clone.child = _instance_copy(child)
        clone.child.parent = clone
    return clone


# Fields a browser's form sends that are no input of the request: Django's CSRF token (a form
# with {% csrf_token %} posted as FormData), read by the CSRF middleware.
IGNORED_FORM_FIELDS = frozenset({"csrfmiddlewaretoken"})


class KnownFieldsOnly(serializers.Serializer):
    """A request body that refuses fields it does not declare: 400 `invalid` naming them, with
    each in `fields` (`{"title": ["Unknown field."]}`). DRF ignores them, so a misspelt or
    read-only field (`title`, `owner_id`) answered 200 with nothing changed. The schema says
    `additionalProperties: false` (studio.api_schema.KnownFieldsOnlyExtension). A form's
    `csrfmiddlewaretoken` is not refused (IGNORED_FORM_FIELDS)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = {*self.writable_names(), *IGNORED_FORM_FIELDS}
            unknown = sorted(str(name) for name in data if name not in known)
            if unknown:
                raise unknown_fields_error(unknown, self.writable_names())
        return super().to_internal_value(data)

    def writable_names(self) -> list[str]:
        return [name for name, field in self.fields.items() if not field.read_only]


def unknown_fields_error(unknown: list[str], known: list[str]) -> serializers.ValidationError:
    """The 400 `invalid` for fields a request does not take: the message naming them and
    what it takes, and each in `fields` as "Unknown field."."""
    return serializers.ValidationError(
        {
            api_settings.NON_FIELD_ERRORS_KEY: [unknown_fields_message(unknown, known)],
            **{name: ["Unknown field."] for name in unknown},
        }
    )


def unknown_fields_message(unknown: list[str], known: list[str]) -> str:
    """'Unknown field "title" (this request takes "is_favorite", "is_public").', or "Unknown
    fields ..." for more than one."""

    def quoted(names: list[str]) -> str:
        return ", ".join(f'"{name}"' for name in names)

    plural = "s" if len(unknown) > 1 else ""
    return f"Unknown field{plural} {quoted(unknown)} (this request takes {quoted(known)})."


class InputSerializer(KnownFieldsOnly):
    """The base of the job types' input schemas: refuses a field it does not declare
    (KnownFieldsOnly: a 400 in validation, before `generation.pipeline.submit` charges anything),
    and otherwise validates like `serializers.Serializer`, but each instance gets shallow copies
    of the declared fields instead of DRF's deep copies (a deep copy re-runs every field's
    `__init__`: 0.2-0.4 ms of CPU per generate request).

    Safe because nothing mutates a field after its `__init__` but `bind` (field name, parent,
    label, source), which sets attributes on the instance's own copy; the declarations are
    never bound or validated with, so instances in concurrent threads share only read-only
    state. Subclasses must keep it so: no in-place edits of a field's validators or error
    messages, and mutable defaults only as callables (`default=list`)."""

    def get_fields(self) -> dict[str, Field]:
        return {name: _instance_copy(field) for name, field in self._declared_fields.items()}


class YouTubeChannelInput(KnownFieldsOnly):
    """`{"channel"}`: the creator's YouTube channel as its address, @handle or channel id
    (`studio.youtube.parse_channel_reference` normalizes it to "@handle" or "UC..."); blank
    forgets it. At most 200 characters."""

    channel = serializers.CharField(max_length=200, allow_blank=True, trim_whitespace=True)

    def validate_channel(self, value: str) -> str:
        if not value:
            return ""
        try:
            return parse_channel_reference(value)
        except ChannelReferenceInvalid as exc:
            raise serializers.ValidationError(str(exc)) from exc


def true_or_false(**kwargs: Any) -> serializers.ChoiceField:
    """A form's switch: "true" or "false" as text (a studio button's value); anything else is
    refused with 'Must be "true" or "false".'"""
    message = 'Must be "true" or "false".'
    return serializers.ChoiceField(
        choices=["true", "false"],
        error_messages={"invalid_choice": message, "required": message},
        **kwargs,
    )


class FavoriteInput(serializers.Serializer):
    """A card's Favourite (`POST /studio/thumbnails/<id>/favorite`): `favorite` "true" or
    "false", what the card's button asks for; absent (or empty) flips the star. Anything else
    is refused: "maybe" was read as false."""

    favorite = true_or_false(required=False)

    def wanted(self) -> bool | None:
        """True or False as asked, None to flip (call after `is_valid()`)."""
        value = self.validated_data.get("favorite")
        return None if value is None else value == "true"


class PublicInput(serializers.Serializer):
    """The large view's "Public link" (`POST /studio/thumbnails/<id>/public`): `public` "true"
    or "false"."""

    public = true_or_false()

    def wanted(self) -> bool:
        """True to make the thumbnail public, False private (call after `is_valid()`)."""
        return bool(self.validated_data["public"] == "true")
