"""`manage.py purge_orphan_files`: delete stored files nothing refers to any more.

A row's files are deleted after its delete commits (`studio.services.discard_files_on_commit`), a
finished job's inputs by its type's `discard`; a storage that cannot delete then (a fault, a
permission, S3 down) or a process that dies between the commit and the delete left the file for
good, with only a WARNING in the log. This walks the whole media storage (`default_storage`,
through `listdir`, so local files and S3 alike) and deletes each file that is

- named by no FileField/ImageField of any model (thumbnails' four files, face photos, style
  references and previews, ...; every model's, read from the app registry), and
- named nowhere in the params of a job that may still read it: an unfinished (queued, running)
  job's (the face photos and style references a generate or edit job copied, an edit's
  references, an analysis' upload), a job whose type keeps its inputs (`retain_inputs`, until
  `purge_job_history` deletes it), or of a type not registered (retired: it is not known what
  it keeps), and
- named in no job's result (thumbnail_check's heatmaps, `checks/<sha256>.png`, shared by every
  check of the same image; a result from before private media named one by its `/media/` URL),
  and
- older than `--older-than-hours` (default 24): a file an upload, a job's snapshot or a worker
  is writing is stored before the row or job naming it commits.

Never touched: `seed/` (`seed_gallery`'s files, shared by thousands of rows). A heatmap deleted
here may still be named by a result in the AI result cache (outside the database): the check
takes such a cached result as a miss and computes the heatmap again
(`ThumbnailCheck.cached_result_usable`).

Rows are read before jobs: a job can only name a file some row named when the job was made, so
a file whose row goes between the two reads is still seen in the job that copied it. Dry run
unless --commit. The storage should hold only ViewBait's media (its own bucket or
`AWS_LOCATION`): any other file in it that is old enough is deleted.
"""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
import re
from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.files.storage import Storage, default_storage
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.commands import bounded
from generation.models import Job
from generation.registry import job_types
from studio.services import SHARED_SEED_FILES

logger = logging.getLogger(__name__)

# Shared by many rows, never one row's (see the module's docstring).
NEVER_TOUCHED = (SHARED_SEED_FILES,)


def stored_names(storage: Storage, path: str = "") -> Iterator[str]:
    """Every file's name in `storage` under `path`, walking its folders with `listdir`."""
    try:
        folders, files = storage.listdir(path)
    except FileNotFoundError:  # a local storage whose root was never created
        return
    for name in sorted(files):
        yield posixpath.join(path, name) if path else name
    for folder in sorted(folders):
        yield from stored_names(storage, posixpath.join(path, folder) if path else folder)


def names_in_rows() -> set[str]:
    """Every name a FileField or ImageField of any model holds."""
    names: set[str] = set()
    for model in apps.get_models():
        fields = [f.attname for f in model._meta.concrete_fields if isinstance(f, models.FileField)]
        if not fields:
            continue
        rows = model._base_manager.values_list(*fields).iterator(chunk_size=2000)
        for row in rows:
            names.update(name for name in row if name)
    return names


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def names_in_jobs() -> set[str]:
    """Every string in the params of a job that may still read a stored file: unfinished, of a
    type that keeps its inputs, or of a type not registered."""
    done_with_inputs = [name for name, kind in job_types().items() if not kind.retain_inputs]
    jobs = Job.objects.filter(
        ~Q(status__in=Job.FINISHED) | ~Q(type__in=done_with_inputs)
    ).values_list("params", flat=True)
    names: set[str] = set()
    for params in jobs.iterator(chunk_size=500):
        names.update(_strings(params))
    return names


# A stored file's name as results hold one ("checks/<sha256>.png"): a folder, no spaces. Other
# strings of results (notes, titles, analyses) are not kept, so the set stays small.
STORED_NAME = re.compile(r"[\w.-]+(?:/[\w.-]+)+")


def names_in_job_results(*, finished_since: dt.datetime | None = None) -> set[str]:
    """The stored names in job results: each string shaped as one (STORED_NAME), and the name
    in each `MEDIA_URL` one (a result from before private media kept
    `/media/checks/<sha256>.png?...`). With `finished_since`, only in the results of jobs that
    finished since then or have not finished (a result is written before its job finishes)."""
    prefix = settings.MEDIA_URL
    names: set[str] = set()
    jobs = Job.objects.filter(result__isnull=False)
    if finished_since is not None:
        jobs = jobs.filter(Q(finished_at__gte=finished_since) | Q(finished_at__isnull=True))
    for result in jobs.values_list("result", flat=True).iterator(chunk_size=500):
        for value in _strings(result):
            if value.startswith(prefix):
                value = value[len(prefix) :].split("?", 1)[0]
            if STORED_NAME.fullmatch(value):
                names.add(value)
    return names


class Command(BaseCommand):
    help = (
        "Delete files in the media storage that no row and no job that may still read it "
        "names (in its inputs or its result), older than --older-than-hours (24); seed/ is "
        "never touched. Dry run unless --commit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--commit", action="store_true")
        parser.add_argument(
            "--older-than-hours",
            type=bounded(float, 1, 100_000),
            default=24.0,
            help="only files last written longer ago than this (default 24; at least 1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        storage = default_storage
        cutoff = timezone.now() - dt.timedelta(hours=options["older_than_hours"])
        started = timezone.now()
        referenced = names_in_rows()  # rows first, then jobs: see the module's docstring
        referenced |= names_in_jobs()
        referenced |= names_in_job_results()
        scanned = kept_young = 0
        orphans: list[tuple[str, int]] = []
        for name in stored_names(storage):
            scanned += 1
            if name in referenced or name.startswith(NEVER_TOUCHED):
                continue
            try:
                modified = storage.get_modified_time(name)
                size = storage.size(name)
            except FileNotFoundError:
                continue  # deleted meanwhile
            if timezone.is_naive(modified):
                modified = timezone.make_aware(modified, dt.UTC)
            if modified > cutoff:
                kept_young += 1
                continue
            orphans.append((name, size))
        total = sum(size for _, size in orphans)
        self.stdout.write(
            f"{scanned} file(s) stored, {len(referenced)} name(s) referenced; "
            f"{kept_young} unreferenced file(s) younger than the cutoff kept"
        )
        if not options["commit"]:
            for name, size in orphans:
                self.stdout.write(f"  orphan {name} ({size} bytes)")
            self.stdout.write(
                f"{len(orphans)} orphan file(s), {total} bytes, would be deleted "
                "(dry run; pass --commit)"
            )
            return
        # A check that ran during the walk may have named a heatmap the walk found unnamed:
        # store_heatmap reuses an existing file (its time unchanged, so the cutoff does not
        # protect it). The results of jobs finished since the walk began are read again.
        named_since = names_in_job_results(finished_since=started - dt.timedelta(minutes=1))
        orphans = [(name, size) for name, size in orphans if name not in named_since]
        deleted = freed = failed = 0
        for name, size in orphans:
            try:
                storage.delete(name)
            except Exception:
                failed += 1
                logger.warning("could not delete orphan file %s", name, exc_info=True)
                continue
            deleted += 1
            freed += size
        self.stdout.write(f"{deleted} orphan file(s) deleted, {freed} bytes freed")
        if failed:  # exit 1, so cron reports it
            raise CommandError(f"{failed} orphan file(s) could not be deleted (see the log)")
