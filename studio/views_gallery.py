"""The studio gallery's htmx endpoints: pages of cards, favourite, delete, new project."""

from __future__ import annotations

import json
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import Http404, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers
from rest_framework.exceptions import ValidationError

from billing.services import effective_plan, get_balance, plan_on_hold
from core import ratelimits
from core.api import json_error
from core.types import AuthenticatedHttpRequest
from generation import catalog
from generation.errors import form_message, refusal_for
from generation.models import Job
from studio import services
from studio.cards import prepare_cards
from studio.downloads import youtube_size, youtube_width
from studio.forms import form_fields
from studio.gallery import (
    DEFAULT_PAGE_SIZE,
    GalleryFilter,
    InvalidCursor,
    gallery_queryset,
    page_of,
    parse_filters,
)
from studio.job_types import thumbnail_tools
from studio.job_types.edit import MAX_REFERENCES
from studio.job_types.generate import ProjectDefaults
from studio.library_cache import usable_palettes, usable_styles
from studio.models import Face, FaceImage, Palette, Project, Style, Thumbnail
from studio.serializers import FavoriteInput, PublicInput, parse_id
from studio.services import StudioError
from studio.views import (
    FORM_LABELS,
    current_path,
    gallery_filters_of_page,
    out_of_credits,
    under_gallery_filters,
)

RECENT_REFERENCE_CHOICES = 8  # the creator's newest thumbnails offered as edit references


@login_required
@require_safe
def thumbnail_page(request: AuthenticatedHttpRequest, thumbnail_id: int) -> TemplateResponse:
    """The large view of a thumbnail: the image big, full-size and YouTube-ready downloads, its
    versions newest first, and every tool a job type offers for it (gated by plan, with a link
    to the plans page where the plan lacks one), and the studio's "out of credits" hint, which
    a tool's job card updates out of band."""
    thumbnail = services.access_thumbnail(request.user, thumbnail_id)
    plan = effective_plan(request.user)
    return TemplateResponse(
        request,
        "studio/thumbnail.html",
        {
            "thumbnail": thumbnail,
            "studio_url": _studio_return_url(request),
            "youtube": _youtube_download(thumbnail),
            "versions": list(thumbnail.versions().order_by("-created_at", "-id")),
            "tools": thumbnail_tools(plan),
            "plan": plan,
            "awaiting_payment": _awaiting_payment(request.user),
            **out_of_credits(request.user, get_balance(request.user)),
            "offline": catalog.is_offline(),
            **_tool_choices(request, thumbnail),
        },
    )


def _studio_return_url(request: AuthenticatedHttpRequest) -> str:
    """Where the large view's "← Studio" goes: the studio's gallery as the creator left it
    (its filters and order, from a `Referer` that is this site's studio page), else the
    unfiltered studio. A creator browsing one project's thumbnails came back to all of them."""
    return studio_address(request.headers.get("Referer", ""), host=request.get_host())


def studio_address(address: str, *, host: str) -> str:
    """The studio's path with the gallery filters of `address` (an absolute URL on `host`, or
    a path): "/studio/?order=title&project=3"; the plain studio path for any other address,
    or unreadable filters. Built from the parsed filters, never `address` itself, so it is
    safe to redirect to."""
    studio = reverse("studio")
    try:
        parts = urlsplit(address)
        if parts.netloc not in ("", host) or parts.path != studio:
            return studio
        filters = parse_filters(QueryDict(parts.query))
    except ValueError:  # a malformed address or unreadable filters: the studio as it opens
        return studio
    return studio if filters == GalleryFilter() else f"{studio}?{filters.query()}"


def _awaiting_payment(user: Any) -> Any:
    """The plan whose payment is due (billing.services.plan_on_hold), for the retention note:
    its limits come back once paid; None otherwise."""
    hold = plan_on_hold(user)
    return hold.plan if hold is not None and hold.payment_due else None


def _youtube_download(thumbnail: Thumbnail) -> dict[str, Any]:
    """The YouTube-ready download's `width` x `height` (studio.downloads.youtube_size), whether
    it is for a Short (`shorts`: 9:16), whether it is smaller than YouTube's recommended
    size (`small`: a 1K Short is 768x1365 of 1080x1920; never upscaled; `recommended_width`:
    1280 px for landscape ratios, 1080 for square and portrait ones) and whether it is of
    another shape than the 16:9 frame YouTube shows a video's thumbnail in (`off_frame`: a 4:3
    download is 1280x960 and YouTube shows it with bars; the button says so)."""
    try:
        width, height = youtube_size(thumbnail.aspect_ratio, (thumbnail.width, thumbnail.height))
        recommended = youtube_width(thumbnail.aspect_ratio)
        small = width < recommended
    except ValueError:  # a malformed stored ratio: the picture as it is
        width, height, small, recommended = thumbnail.width, thumbnail.height, False, 0
    return {
        "width": width,
        "height": height,
        "recommended_width": recommended,
        "shorts": thumbnail.aspect_ratio == "9:16",
        "small": small,
        "off_frame": thumbnail.aspect_ratio not in ("16:9", "9:16"),
    }


def _tool_choices(request: AuthenticatedHttpRequest, thumbnail: Thumbnail) -> dict[str, Any]:
    """What the tools' forms offer (the edit form's style, palette, face and reference picks):
    a fixed number of queries whatever the library's size (styles and palettes come from the
    shared cache; faces with their photos are two queries; recent thumbnails one)."""
    styles, palettes = usable_styles(request.user), usable_palettes(request.user)
    return {
        "gone": _gone_from_library(thumbnail, styles, palettes),
        "styles": styles,
        "palettes": palettes,
        "faces": list(
            Face.objects.for_owner(request.user).prefetch_related(
                Prefetch("images", queryset=FaceImage.objects.order_by("position", "id"))
            )
        ),
        "max_references": MAX_REFERENCES,
        "recent_thumbnails": list(
            Thumbnail.objects.for_owner(request.user).exclude(pk=thumbnail.pk)[
                :RECENT_REFERENCE_CHOICES
            ]
        ),
    }


def _gone_from_library(
    thumbnail: Thumbnail, styles: list[Style], palettes: list[Palette]
) -> dict[str, str]:
    """`{"style"?: name, "palette"?: name}`: the style and palette `thumbnail` was made with
    that its creator can no longer use (deleted since), which an edit draws it without (the
    edit form says so). Names from its job's snapshot ("" once the job is purged); a query
    only when one is gone."""
    params = thumbnail.parameters or {}
    gone = [
        kind
        for kind, usable in (("style", styles), ("palette", palettes))
        if params.get(f"{kind}_id") and all(item.pk != params[f"{kind}_id"] for item in usable)
    ]
    if not gone:
        return {}
    made_with = (
        Job.objects.filter(pk=thumbnail.job_id).values_list("params", flat=True).first()
        if thumbnail.job_id
        else None
    )
    return {kind: str(((made_with or {}).get(kind) or {}).get("name") or "") for kind in gone}


@login_required
@require_safe
@vary_on_headers("HX-Request")
def gallery_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """One gallery page after `cursor` for the filters in the query string: the `gallery-page`
    partial (a page section and the next sentinel), or with `part=cards` only its cards (the
    virtualized gallery restoring a page it dropped). 400 for a bad cursor or filter."""
    try:
        filters = parse_filters(request.GET)
        page = page_of(
            gallery_queryset(request.user, filters),
            request.GET.get("cursor"),
            DEFAULT_PAGE_SIZE,
            filters,
        )
    except (InvalidCursor, ValueError):
        return HttpResponse("This page of the gallery is no longer valid. Reload.", status=400)
    prepare_cards(request.user, page.items)
    partial = "gallery-cards" if request.GET.get("part") == "cards" else "gallery-page"
    response = TemplateResponse(
        request,
        f"studio/studio.html#{partial}",
        {
            "page": page,
            "filters": filters,
            "cursor": request.GET.get("cursor", ""),
            "projects": _projects(request),
        },
    )
    response["Cache-Control"] = "private, no-cache"
    first_page = partial == "gallery-page" and not request.GET.get("cursor")
    if (
        first_page
        and request.headers.get("HX-Request")
        and current_path(request) == reverse("studio")
    ):
        # The filter form's answer: the studio's address takes the filters (replaced, not
        # pushed: no history entry per keystroke), so a reload or a copied link shows the
        # same gallery.
        query = "" if filters == GalleryFilter() else f"?{filters.query()}"
        response["HX-Replace-Url"] = reverse("studio") + query
    return response


def _projects(request: AuthenticatedHttpRequest) -> list[Project]:
    """For each card's "move to project" menu: one query per response, not per card."""
    return list(Project.objects.for_owner(request.user))


def _card(request: AuthenticatedHttpRequest, thumbnail: Thumbnail) -> TemplateResponse:
    """The card after a change (favourite, move). On the studio page, a card the change takes
    out of the gallery's filters (unstarred under Favourites, moved out of the project shown)
    stays, so the change can be undone, but dimmed and saying it has left this view (`left_view`):
    it looked as if the change had not applied, and was gone on a reload."""
    prepare_cards(request.user, [thumbnail])
    left_view = current_path(request) == reverse("studio") and not under_gallery_filters(
        gallery_filters_of_page(request), [thumbnail]
    )
    return TemplateResponse(
        request,
        "studio/studio.html#thumbnail-card",
        {"thumbnail": thumbnail, "projects": _projects(request), "left_view": left_view},
    )


class _CardGone(Exception):
    """A gallery card's thumbnail is not the creator's (any more): see `_card_thumbnail`."""


# What an htmx request from a gallery card (Favourite, Delete, the project menu) gets when its
# thumbnail is gone: still a 404, but one that removes the card (HX-Retarget: studio.js swaps an
# error answer that names its target) and says why (HX-Trigger: toasts.js's "showMessage"). Its
# status, headers and body are the same for a stranger's thumbnail, a deleted one of the
# creator's own and an id never used: nothing tells them apart.
CARD_GONE_MESSAGE = "This thumbnail was deleted."


def _card_thumbnail(request: AuthenticatedHttpRequest, thumbnail_id: int) -> Thumbnail:
    """The creator's thumbnail a card action is on; for an htmx request when there is none (deleted
    in another tab), `_CardGone`, answered by `_card_action`; otherwise Django's 404 page."""
    try:
        return services.access_thumbnail(request.user, thumbnail_id)
    except Http404:
        if request.headers.get("HX-Request"):
            raise _CardGone from None
        raise


def _card_action(view: Any) -> Any:
    @wraps(view)
    def wrapped(request: AuthenticatedHttpRequest, thumbnail_id: int) -> HttpResponse:
        try:
            response: HttpResponse = view(request, thumbnail_id)
        except _CardGone:
            response = HttpResponse("", status=404)
            response["HX-Retarget"] = "closest .thumb"
            response["HX-Reswap"] = "outerHTML"
            response["HX-Trigger"] = json.dumps(
                {"showMessage": {"level": "info", "text": CARD_GONE_MESSAGE}}
            )
        return response

    return wrapped


@login_required
@require_POST
@_card_action
def toggle_favorite(request: AuthenticatedHttpRequest, thumbnail_id: int) -> HttpResponse:
    """A card's Favourite: sets `favorite` ("true" or "false", what the card's button asks for,
    so a resent request or a second tab's stale card cannot undo it); without it, flips the
    state. Any other value: 400 `{"error", "code": "invalid"}` (the card stays as it is)."""
    thumbnail = _card_thumbnail(request, thumbnail_id)
    favorite = FavoriteInput(data=request.POST)
    if not favorite.is_valid():
        return json_error(
            f"favorite: {favorite.errors['favorite'][0]}",
            "invalid",
            400,
            fields=favorite.errors,
        )
    wanted = favorite.wanted()
    is_favorite = (not thumbnail.is_favorite) if wanted is None else wanted
    if is_favorite != thumbnail.is_favorite:
        services.do_update_thumbnail(thumbnail=thumbnail, is_favorite=is_favorite)
    return _card(request, thumbnail)


@login_required
@require_POST
@_card_action
def delete_thumbnail(request: AuthenticatedHttpRequest, thumbnail_id: int) -> HttpResponse:
    """A gallery card's Delete (htmx: an empty answer, the card goes) or the large view's (a
    form: on to the newest other version of its line, or the studio, saying it was deleted:
    with the gallery filters of the form's `studio` address, the large view's "← Studio")."""
    thumbnail = _card_thumbnail(request, thumbnail_id)
    other_version = (
        thumbnail.versions()
        .exclude(pk=thumbnail.pk)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    services.do_delete_thumbnail(thumbnail=thumbnail)
    if request.headers.get("HX-Request"):
        return HttpResponse("")
    messages.success(request, "Thumbnail deleted; its files are removed too.")
    if other_version is not None:
        return redirect("thumbnail-page", other_version)
    return redirect(studio_address(request.POST.get("studio", ""), host=request.get_host()))


@login_required
@require_POST
def set_public(request: AuthenticatedHttpRequest, thumbnail_id: int) -> HttpResponse:
    """The large view's "Public link": `public` "true" gives the thumbnail a page of its own
    (`/p/<token>/`, studio.views_share.public_thumbnail), "false" makes it private (that link
    404s at once; a new one next time). Back to the large view's public link section
    (`#public-link`), saying what changed."""
    thumbnail = services.access_thumbnail(request.user, thumbnail_id)
    switch = PublicInput(data=request.POST)
    if not switch.is_valid():
        return json_error(
            f"public: {switch.errors['public'][0]}", "invalid", 400, fields=switch.errors
        )
    wanted = switch.wanted()
    if wanted != thumbnail.is_public:
        services.do_update_thumbnail(thumbnail=thumbnail, is_public=wanted)
    messages.success(
        request,
        "Public: anyone with the link below can see this thumbnail."
        if wanted
        else "Private: its public link no longer works.",
    )
    # Back at the public link's section, which the browser focuses (a fragment's target that
    # takes focus: tabindex="-1"), not the page's top: the keyboard went on from "Skip to
    # content" after making it public.
    return redirect(f"{reverse('thumbnail-page', args=[thumbnail.pk])}#public-link")


@login_required
@require_POST
@_card_action
def move_thumbnail(request: AuthenticatedHttpRequest, thumbnail_id: int) -> HttpResponse:
    thumbnail = _card_thumbnail(request, thumbnail_id)
    raw = request.POST.get("project_id") or ""
    try:  # "" or "none": out of any project ("²".isdigit() is true, so no isdigit test)
        project_id = parse_id(raw) if raw not in ("", "none") else None
    except ValueError:
        return json_error("project_id must be a project's id.", "invalid", 400)
    project = services.access_project(request.user, project_id) if project_id else None
    services.do_update_thumbnail(thumbnail=thumbnail, project=project)
    return _card(request, thumbnail)


@login_required
@require_POST
@ratelimits.limit("library_create")
def create_project(request: AuthenticatedHttpRequest) -> HttpResponse:
    """From the library (plain form: back to it) or the studio (htmx: 201 JSON `{"id", "name",
    "before_id"}`, the project it is listed before or None, that static/js/studio.js adds to
    the project menus in their order without reloading, so the generate form
    keeps what the creator typed and picked; when refused, JSON `{"error", "code"}` with the
    API's status: 409 `name_taken` for a name another of the creator's projects has, else 400
    `invalid`; studio.js shows `error` under the form)."""
    try:
        project = services.do_create_project(owner=request.user, name=request.POST.get("name", ""))
    except StudioError as exc:
        if not request.headers.get("HX-Request"):
            messages.error(
                request,
                f"The project was not created. {exc.message}",
                extra_tags="panel projects",
            )
            return redirect(f"{reverse('library')}#projects")
        return JsonResponse({"error": exc.message, "code": exc.code}, status=exc.status)
    if not request.headers.get("HX-Request"):
        messages.success(request, "Project created.", extra_tags="panel projects")
        return redirect(f"{reverse('library')}#projects")
    # The project menus list projects in the server's order (Project.Meta.ordering, by the
    # database's collation): the id of the one the new project goes before, None at the end.
    order = list(Project.objects.for_owner(request.user).values_list("pk", flat=True))
    at = order.index(project.pk)
    before = order[at + 1] if at + 1 < len(order) else None
    return JsonResponse({"id": project.pk, "name": project.name, "before_id": before}, status=201)


def _defaults_refused(message: str) -> HttpResponse:
    """A 400 line for #project-defaults-status (named by HX-Retarget: studio.js swaps such
    error answers)."""
    response = HttpResponse(f'<span class="error">{escape(message)}</span>', status=400)
    response["HX-Retarget"] = "#project-defaults-status"
    return response


@login_required
@require_POST
def save_project_defaults(request: AuthenticatedHttpRequest) -> HttpResponse:
    """htmx post of the generate form: its choices (studio.job_types.generate.ProjectDefaults)
    become the default settings of its project (`project_id`), which the form takes whenever
    that project is picked. Answers a line for #project-defaults-status and, in the
    `HX-Trigger` header, `{"projectDefaultsSaved": {"id", "defaults"}}` for studio.js to keep
    the menu's copy; a 400 line saying what is wrong (a project, style, palette or face that is
    not the creator's included)."""
    try:
        project = services.access_project(
            request.user, parse_id(request.POST.get("project_id") or "")
        )
    except (ValueError, Http404):
        return _defaults_refused("Pick one of your projects first.")
    data = form_fields(request.POST, only=ProjectDefaults().fields)
    checked = ProjectDefaults(data=data, context={"user": request.user})
    try:
        checked.is_valid(raise_exception=True)
    except (ValidationError, Http404) as exc:  # bad choices; a style or face no longer yours
        refusal = refusal_for(exc)
        assert refusal is not None
        return _defaults_refused(f"Not saved. {form_message(refusal, FORM_LABELS)}")
    defaults = dict(checked.validated_data)
    services.do_update_project(project=project, default_settings=defaults)
    response = HttpResponse(escape(f"Saved as the defaults of “{project.name}”."))
    response["HX-Trigger"] = json.dumps(
        {"projectDefaultsSaved": {"id": project.pk, "defaults": defaults}}
    )
    return response


@login_required
@require_POST
def update_project(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    project = services.access_project(request.user, project_id)
    try:
        services.do_update_project(
            project=project,
            name=request.POST.get("name", ""),
            share_mode=request.POST.get("share_mode"),
        )
    except StudioError as exc:  # in the panel, naming the project (the form shows its name)
        messages.error(
            request,
            f"The project “{project.name}” was not saved. {exc.message}",
            extra_tags="panel projects",
        )
    else:
        messages.success(request, "Project saved.", extra_tags="panel projects")
    return redirect(f"{reverse('library')}#projects")


@login_required
@require_POST
def delete_project(request: AuthenticatedHttpRequest, project_id: int) -> HttpResponse:
    services.do_delete_project(project=services.access_project(request.user, project_id))
    messages.success(
        request,
        "Project deleted; its thumbnails stay in your library.",
        extra_tags="panel projects",
    )
    return redirect(f"{reverse('library')}#projects")
