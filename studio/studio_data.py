"""The studio's first paint in one go: the same data for `GET /studio/` and
`GET /api/studio/bootstrap`, in a constant number of queries whatever the library's size
(each list is one query or one query plus one prefetch; the gallery is one keyset page; the
jobs in flight a cached count, plus their query and prefetch when there are any). A warm visit
with no job in flight makes no query at all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch

from billing.models import Plan
from billing.services import account_cache_namespaces, effective_plan, get_balance
from core.shared_cache import warm
from generation.models import Job
from generation.progress import JobPayload, job_payload
from generation.services import UNFINISHED, cached_unfinished_jobs, unfinished_namespace
from studio import gallery_cache
from studio.gallery import DEFAULT_PAGE_SIZE, GalleryFilter, Page, gallery_queryset, page_of
from studio.library_cache import (
    SHARED_NAMESPACES,
    faces_and_projects,
    owner_namespace,
    usable_palettes,
    usable_styles,
)
from studio.models import Face, Palette, Project, Style, Thumbnail
from studio.outputs import ThumbnailLinks, thumbnail_payload

ACTIVE_JOBS_SHOWN = 10


@dataclass(frozen=True)
class StudioData:
    plan: Plan
    credits: int
    styles: list[Style]
    palettes: list[Palette]
    faces: list[Face]
    projects: list[Project]
    page: Page | None  # None when asked for without it (the studio's cached first page)
    jobs: list[tuple[Job, JobPayload]]


def studio_namespaces(user_id: int, *, with_gallery: bool) -> list[str]:
    """The shared-cache namespaces `load_studio` reads for this user (its first gallery page's
    too with `with_gallery`): one `warm`, or read with the user (`core.auth.prefetch_with_user`)."""
    gallery = [gallery_cache.namespace(user_id)] if with_gallery else []
    return [
        *account_cache_namespaces(user_id),
        *SHARED_NAMESPACES,
        owner_namespace(user_id),
        unfinished_namespace(user_id),
        *gallery,
    ]


def load_studio(
    user: Any, filters: GalleryFilter | None = None, *, with_page: bool = True
) -> StudioData:
    filters = filters or GalleryFilter()
    warm(*studio_namespaces(user.pk, with_gallery=not with_page))  # one Redis round trip, or none
    faces, projects = faces_and_projects(user)
    active: Iterable[Job] = ()
    # Most visits find no job in flight: the cached count of jobs in flight (no query) then stands
    # in for the jobs' query; with jobs in flight it costs that query.
    if cached_unfinished_jobs(user):
        active = (
            Job.objects.filter(user=user, status__in=UNFINISHED)
            .prefetch_related(
                Prefetch("thumbnails", queryset=Thumbnail.objects.order_by("variation_index"))
            )
            .order_by("-created_at")[:ACTIVE_JOBS_SHOWN]
        )
    return StudioData(
        plan=effective_plan(user),
        credits=get_balance(user),
        styles=usable_styles(user),
        palettes=usable_palettes(user),
        faces=faces,
        projects=projects,
        page=page_of(gallery_queryset(user, filters), None, DEFAULT_PAGE_SIZE, filters)
        if with_page
        else None,
        jobs=[(job, job_payload(job)) for job in active],
    )


def bootstrap_data(user: Any) -> dict[str, Any]:
    """`{"me", "plan", "credits_remaining", "styles", "palettes", "faces", "projects",
    "thumbnails": {"results", "next_cursor"}, "jobs"}`: no prompts of others, no internal fields."""
    from studio.api import face_payload, palette_payload, style_payload
    from studio.api_library import project_payload

    data = load_studio(user)
    assert data.page is not None
    links = ThumbnailLinks.build()
    return {
        "me": {"id": user.pk, "email": user.email},
        "plan": data.plan.summary(),
        "credits_remaining": data.credits,
        "styles": [style_payload(s, user) for s in data.styles],
        "palettes": [palette_payload(p, user) for p in data.palettes],
        "faces": [face_payload(f) for f in data.faces],
        "projects": [project_payload(p) for p in data.projects],
        "thumbnails": {
            "results": [thumbnail_payload(t, links) for t in data.page.items],
            "next_cursor": data.page.next_cursor,
        },
        "jobs": [payload for _, payload in data.jobs],
    }
