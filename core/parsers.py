"""DRF's JSON parser with the input rules of viewbait.input_guard: no NUL or lone surrogate in
any string or key, and bounded nesting. Kept apart from core.api, which imports DRF's views
(and so this module, through the DEFAULT_PARSER_CLASSES setting)."""

from __future__ import annotations

import json
import re
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class InvalidJSON(ParseError):
    """400 with a stable `code` (core.api's handler gives `{"error", "code"}`)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(detail=message, code=code)


MAX_JSON_DEPTH = 20  # our deepest real body is 3 levels ({"input": {"changes": {...}}})

# NUL, and a surrogate code point (U+D800-U+DFFF): valid UTF-8 never decodes to one, so in a
# Python str it is always a lone surrogate from JSON's "\ud800" escapes.
_BAD_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
BAD_CHARACTERS_MESSAGE = "Text must not contain NUL characters or lone surrogates."


def has_bad_characters(text: str) -> bool:
    """True if `text` holds a NUL or a lone surrogate."""
    return _BAD_CHARACTERS.search(text) is not None


def _too_deep() -> InvalidJSON:
    return InvalidJSON(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.", "too_deep")


def check_json_value(value: Any, depth: int = 0) -> None:
    """Raises InvalidJSON 400 (`too_deep`, `invalid_characters`) for a parsed JSON value nested
    deeper than MAX_JSON_DEPTH or holding a bad character in any string or key."""
    if depth > MAX_JSON_DEPTH:
        raise _too_deep()
    if isinstance(value, str):
        if has_bad_characters(value):
            raise InvalidJSON(BAD_CHARACTERS_MESSAGE, "invalid_characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json_value(key, depth + 1)
            check_json_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json_value(item, depth + 1)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON.")


def parse_json_text(text: str) -> Any:
    """`text` parsed as strict JSON (no NaN or Infinity) under `check_json_value`'s rules, for
    JSON that arrives inside a form field. Raises InvalidJSON 400: `parse_error` (not JSON),
    `too_deep` (nested deeper than MAX_JSON_DEPTH, or past Python's recursion limit),
    `invalid_characters`."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise InvalidJSON("Not valid JSON.", "parse_error") from None
    check_json_value(value)
    return value


class SafeJSONParser(JSONParser):
    """DRF's JSONParser (strict: no NaN/Infinity) plus `check_json_value`; a body nested past
    Python's recursion limit is 400 `too_deep` rather than a RecursionError."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise _too_deep() from None
        check_json_value(data)
        return data
