"""The creator's credit history page: every credit movement of the ledger
(`billing.CreditLedgerEntry`), newest first, in the creator's words.

Ledger reasons of AI jobs are written for ops ("generate_thumbnails x4", "edit_thumbnail unit 0
failed: provider_timeout"); `describe` turns them into the studio's names ("Generate thumbnails
\u00d74", "Refund: Edit thumbnail, not delivered"). Other reasons (monthly grants, packs, expiry,
adjustments) are already written for the creator and are shown as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from billing.models import CreditLedgerEntry
from generation.registry import get_job_type

TIMES = "\u00d7"  # the multiplication sign: "Generate thumbnails \u00d74"
_DEBIT = re.compile(r"^(?P<type>[a-z_]+) x(?P<units>\d+)$")
_FAILED = re.compile(r"^(?P<type>[a-z_]+) unit \d+ failed: (?P<code>[a-z_]+)$")
_CACHED = re.compile(r"^(?P<type>[a-z_]+): answered from the result cache$")
_PARTIAL = re.compile(r"^(?P<type>[a-z_]+): [a-z_]+, the rest delivered$")


@dataclass(frozen=True)
class HistoryRow:
    entry: CreditLedgerEntry
    description: str


def _label(type_name: str) -> str:
    try:
        return get_job_type(type_name).label
    except KeyError:  # a job type since removed
        return type_name.replace("_", " ").capitalize()


def describe(entry: CreditLedgerEntry) -> str:
    """What the movement was, for the creator: the job type's studio name for AI jobs, else
    the ledger's own reason (or the kind's name when there is none)."""
    reason = entry.reason
    if match := _DEBIT.match(reason):
        units = int(match["units"])
        return _label(match["type"]) + (f" {TIMES}{units}" if units > 1 else "")
    if match := _FAILED.match(reason):
        why = "cancelled" if match["code"] == "cancelled" else "not delivered"
        return f"Refund: {_label(match['type'])}, {why}"
    if match := _CACHED.match(reason):
        return f"Refund: {_label(match['type'])}, answered from the cache"
    if match := _PARTIAL.match(reason):
        return f"Refund: {_label(match['type'])}, its AI part failed"
    if entry.kind == CreditLedgerEntry.Kind.ADJUSTMENT:
        return f"Adjustment by the studio: {reason}" if reason else "Adjustment by the studio"
    return reason or entry.get_kind_display()


def history_rows(entries: list[CreditLedgerEntry]) -> list[HistoryRow]:
    return [HistoryRow(entry, describe(entry)) for entry in entries]
