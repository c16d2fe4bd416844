"""The `<id:...>` path converter: a row id in a URL is a whole number 1..MAX_ID.

Django's `<int:...>` matches any run of digits, so `/api/projects/66664231497950367318016/...`
reached the database with a number no primary key can hold: PostgreSQL answered "out of range",
SQLite's driver raised OverflowError (a 500; schemathesis found it). With this converter such a
URL matches no route and is an ordinary 404, like an id that does not exist.
"""

from __future__ import annotations

from django.urls import register_converter

from studio.serializers import parse_id


class RowIdConverter:
    regex = "[0-9]{1,19}"  # MAX_ID (2**63 - 1) has 19 digits

    def to_python(self, value: str) -> int:
        return parse_id(value)  # ValueError (0 or above MAX_ID): no match, so a 404

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(RowIdConverter, "id")
