"""The creator's credit history page: every credit movement of the ledger
(`billing.CreditLedgerEntry`), newest first, in the creator's words.

Ledger reasons of AI jobs are written for ops ("generate_thumbnails x4", "edit_thumbnail unit 0
failed: provider_timeout"); `describe` turns them into the studio's names ("Generate thumbnails
\u00d74", "Refund: Edit thumbnail, not delivered"). Other reasons (monthly grants, packs, expiry,
adjustments) are already written for the creator and are shown as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from billing.models import CreditLedgerEntry
from generation.models import Job
from generation.registry import get_job_type
from studio.models import Thumbnail

TIMES = "\u00d7"  # the multiplication sign: "Generate thumbnails \u00d74"
_DEBIT = re.compile(r"^(?P<type>[a-z_]+) x(?P<units>\d+)$")
_FAILED = re.compile(r"^(?P<type>[a-z_]+) unit \d+ failed: (?P<code>[a-z_]+)$")
_CACHED = re.compile(r"^(?P<type>[a-z_]+): answered from the result cache$")
_PARTIAL = re.compile(r"^(?P<type>[a-z_]+): [a-z_]+, the rest delivered$")


@dataclass(frozen=True)
class HistoryRow:
    """One line of the page: `entry` is the newest movement it stands for, `amount` the sum of
    its movements (a cancelled 4-image job's four refunds are one line), `title` what the job
    it belongs to was about (`_job_titles`: a thumbnail text or a video's address; "" when
    none), `text_free` whether that was a thumbnail with no text (said so, as on its card,
    rather than left blank), `uploaded` whether it was an image the creator uploaded (the
    library's "Palette from an image"), said so too."""

    entry: CreditLedgerEntry
    description: str
    amount: int
    count: int = 1
    title: str = ""
    text_free: bool = False
    video_link: str = ""  # the video's address as a link, when `title` is a video's address
    uploaded: bool = False


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


def _video_link(value: str) -> str:
    """A video address the creator gave as an https link to it ("" when it names no YouTube
    video): its own address, or a watch page for a bare video id."""
    from studio.job_types.analyse_video import video_id

    value = value.strip()
    found = video_id(value)
    if found is None:
        return ""
    if found == value:
        return f"https://www.youtube.com/watch?v={found}"
    return "https://" + value.split("://", 1)[-1]


def _job_titles(entries: list[CreditLedgerEntry]) -> dict[str, tuple[str, bool, str, bool]]:
    """(what the job was about, whether it is a text-free thumbnail, the video's link when it
    was a video, whether it was run on an image the creator uploaded) of each job the entries
    name (`reference` "job:<id>"): its thumbnail text; else, for a tool run on one thumbnail
    (check, palette, channel consistency, a one-thumbnail style analysis), that thumbnail's
    text ("" once it is deleted); else the video's address without its scheme and "www."
    (analyse video, concepts). Two queries at most."""
    ids = {e.reference[4:] for e in entries if e.reference.startswith("job:")}
    if not ids:
        return {}
    owners = {e.user_id for e in entries}  # the page's creator: never another's job or title
    rows = Job.objects.filter(pk__in=ids, user_id__in=owners).values_list("pk", "type", "params")
    on_thumbnail: dict[str, int] = {}
    titles = {}
    for pk, job_type, params in rows:
        params = params if isinstance(params, dict) else {}
        title = str(params.get("title") or "")
        uploaded = params.get("uploaded") is True  # analyse_palette's "Palette from an image"
        titles[str(pk)] = (title, not title and job_type == "generate_thumbnails", "", uploaded)
        if title:
            continue
        one = params.get("thumbnail_id")
        many = params.get("thumbnail_ids")
        if one is None and isinstance(many, list) and len(many) == 1:
            one = many[0]
        if isinstance(one, int):
            on_thumbnail[str(pk)] = one
        elif params.get("video_url"):
            address = str(params["video_url"]).split("://", 1)[-1]
            link = _video_link(str(params["video_url"]))
            titles[str(pk)] = (address.removeprefix("www."), False, link, False)
    if on_thumbnail:
        thumbnail_titles = dict(
            Thumbnail.objects.filter(
                pk__in=set(on_thumbnail.values()), owner_id__in=owners
            ).values_list("pk", "title")
        )
        for job_id, thumbnail_id in on_thumbnail.items():
            if thumbnail_id in thumbnail_titles:
                title = thumbnail_titles[thumbnail_id]
                titles[job_id] = (title, not title, "", False)
    return titles


def history_rows(entries: list[CreditLedgerEntry]) -> list[HistoryRow]:
    """The page's lines, newest first: movements next to each other with the same job, kind
    and description become one line (their amounts summed, the newest's balance)."""
    titles = _job_titles(entries)
    rows: list[HistoryRow] = []
    for entry in entries:
        description = describe(entry)
        last = rows[-1] if rows else None
        if (
            last is not None
            and entry.reference.startswith("job:")
            and (last.entry.reference, last.entry.kind, last.description)
            == (entry.reference, entry.kind, description)
        ):
            rows[-1] = replace(last, amount=last.amount + entry.amount, count=last.count + 1)
            continue
        title, text_free, video_link, uploaded = (
            titles.get(entry.reference[4:], ("", False, "", False))
            if entry.reference.startswith("job:")
            else ("", False, "", False)
        )
        rows.append(
            HistoryRow(
                entry,
                description,
                entry.amount,
                title=title,
                text_free=text_free,
                video_link=video_link,
                uploaded=uploaded,
            )
        )
    return rows
