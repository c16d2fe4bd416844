"""DRF fields shared by the job types' input schemas; they accept both JSON bodies and the
studio's form posts (where an empty select sends "")."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

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


class IdList(serializers.ListField):
    """A list of row ids (duplicates kept as sent), at most `max_length`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", list)
        kwargs.setdefault("child", serializers.IntegerField(min_value=1, max_value=MAX_ID))
        super().__init__(**kwargs)
