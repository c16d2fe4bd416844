"""Helpers for the admin's list columns, so the lists fit a laptop screen (1440 px) beside the
navigation sidebar and the filters: long unbroken values (emails, ids, job references) get
line-break opportunities, and dates a short form."""

from __future__ import annotations

import re
from datetime import datetime

from django.utils.formats import date_format
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime


def breakable(text: str) -> SafeString:
    """`text` (escaped) with line-break opportunities after "_", ".", ":" and "-" and before
    "@", so a narrow column wraps "generate_thumbnails", "demo@viewbait.local" or
    "job:85132160-6a86-...:debit" between their parts rather than running past the column."""
    parts = re.split(r"(?<=[_.:-])|(?=@)", text)
    return format_html_join(mark_safe("<wbr>"), "{}", ((part,) for part in parts))


def short_datetime(value: datetime | None) -> str:
    """ "4 Dec 2026 17:22" (DATETIME_FORMAT, viewbait/formats/en) in the current time zone; "-"
    for none."""
    return date_format(localtime(value), "DATETIME_FORMAT") if value is not None else "-"
