"""Public, read-only pages behind a link: a project's gallery (`/share/<token>/`) with a page per
thumbnail, and a public thumbnail's own page (`/p/<token>/`, `Thumbnail.is_public`).

Their images are served here, not by signed media URLs: each request checks that the project is
still shared and that its share mode shows the thumbnail, or that the thumbnail is still public
(one query), so turning sharing off or making a thumbnail private stops every image URL at once,
those handed out before included. Nothing else of the creator's is reachable from such a link.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging

from crawlerdetect import CrawlerDetect
from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.views.decorators.http import require_safe

from core.ratelimits import client_ip
from core.redis_faults import log_throttled
from studio import media, services
from studio.cards import url_format
from studio.gallery_cache import invalidate_gallery
from studio.models import Project, Thumbnail

SHARE_PAGE_SIZE = 60
# The files a share link may show, by URL name: the gallery's two WebP sizes and the full PNG.
SHARE_VARIANTS = {"small": "image_small", "medium": "image_medium", "full": "image"}
# A visitor's click on one thumbnail counts once per UTC day (the key carries the day; the TTL
# only cleans up).
CLICK_DEDUP_SECONDS = 24 * 3600

logger = logging.getLogger(__name__)


@require_safe  # GET, and HEAD: link previewers probe with it
def shared_project(request: HttpRequest, token: str) -> TemplateResponse:
    """The project's thumbnails (all, or favourites only, per its share mode); 404 when sharing
    is off or the token is unknown."""
    project = services.access_shared_project(token)
    thumbnails = list(services.shared_thumbnails(project)[:SHARE_PAGE_SIZE])
    image = url_format("share-image", token, "{pk}", "{variant}")
    click = url_format("share-thumbnail", token, "{pk}")
    for thumbnail in thumbnails:
        thumbnail.share_small_url = image.format(pk=thumbnail.pk, variant="small")
        thumbnail.share_medium_url = image.format(pk=thumbnail.pk, variant="medium")
        thumbnail.share_click_url = click.format(pk=thumbnail.pk)
    # The link preview's image (og:image, an absolute URL): the first thumbnail shown.
    preview = request.build_absolute_uri(thumbnails[0].share_medium_url) if thumbnails else ""
    return TemplateResponse(
        request,
        "studio/share.html",
        {"project": project, "thumbnails": thumbnails, "preview_image": preview},
    )


def _shared(token: str, thumbnail_id: int) -> Thumbnail:
    """The thumbnail when `token`'s project is shared and its mode shows it; else Http404."""
    return get_object_or_404(
        Thumbnail.objects.filter(project__share_token=token)
        .exclude(project__share_mode=Project.ShareMode.OFF)
        .filter(Q(project__share_mode=Project.ShareMode.ALL) | Q(is_favorite=True)),
        pk=thumbnail_id,
    )


def _public(token: str) -> Thumbnail:
    """The thumbnail whose public page `token` names, while it is public; else Http404."""
    return get_object_or_404(Thumbnail.objects.filter(is_public=True), public_token=token)


@require_safe
def shared_image(
    request: HttpRequest, token: str, thumbnail_id: int, variant: str
) -> HttpResponse | FileResponse:
    """`GET /share/<token>/i/<id>/<small|medium|full>`: the file while the project is shared and
    shows the thumbnail (`_variant_file`); 404 otherwise."""
    if variant not in SHARE_VARIANTS:
        raise Http404
    return _variant_file(request, _shared(token, thumbnail_id), variant)


@require_safe
def public_image(request: HttpRequest, token: str, variant: str) -> HttpResponse | FileResponse:
    """`GET /p/<token>/i/<small|medium|full>`: the file while the thumbnail is public
    (`_variant_file`); 404 otherwise, at once when it is made private."""
    if variant not in SHARE_VARIANTS:
        raise Http404
    return _variant_file(request, _public(token), variant)


def _variant_file(
    request: HttpRequest, thumbnail: Thumbnail, variant: str
) -> HttpResponse | FileResponse:
    """One of `SHARE_VARIANTS`' files of a thumbnail the caller found shown by its link,
    revalidated on every use (`no-cache` with an ETag, so a 304 is cheap and a link turned off
    is seen at once); with object storage, a redirect to a presigned URL fetched straight away."""
    name = getattr(thumbnail, SHARE_VARIANTS[variant]).name
    if not name:
        raise Http404
    if not media.MediaSigner().local:
        # Object storage: a presigned URL of the storage's, fetched straight away.
        response: HttpResponse = HttpResponseRedirect(media.MediaSigner().url(name))
        response["Cache-Control"] = "private, no-store"
        return response
    return media.file_response(request, name, cache_control="private, no-cache")


def visitor_id(request: HttpRequest) -> str:
    """Who clicked, without a cookie: an HMAC (keyed by SECRET_KEY) of the client's IP (as
    `core.ratelimits.client_ip` trusts it) and User-Agent, so nothing identifying is stored
    and a visitor cannot reset it by clearing cookies."""
    raw = f"{client_ip(request)}\n{request.META.get('HTTP_USER_AGENT', '')[:512]}"
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()[:32]


def utc_day() -> str:
    """Today in UTC as "YYYYMMDD" (the unit a click is counted once in)."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d")


# Link-preview fetchers (Slackbot, Discordbot, Twitterbot, facebookexternalhit, WhatsApp, ...)
# open a shared thumbnail's page when its link is pasted (the page has Open Graph tags for them),
# and crawlers when it is found; neither is a visitor clicking. crawlerdetect carries
# JayBizzle/Crawler-Detect's patterns (1,462 in 0.4.2), so the list is kept up by others; it
# remembers its last 1,024 answers. Headless Chrome counts as a crawler too.
_CRAWLERS = CrawlerDetect()


def is_crawler(request: HttpRequest) -> bool:
    """Whether the request's User-Agent is a bot, crawler or link-preview fetcher (False
    without one)."""
    return _CRAWLERS.is_crawler(request.headers.get("User-Agent", ""))


def first_click_today(request: HttpRequest, thumbnail_id: int) -> bool:
    """Whether this is the visitor's first click on the thumbnail this UTC day: an atomic
    `SET NX` (cache.add) of a key with the day in it, kept a day. With the cache unreachable it
    answers False (the click is not counted: an outage must not let reloads inflate counts),
    and never raises."""
    key = f"share-click:{thumbnail_id}:{utc_day()}:{visitor_id(request)}"
    # The general cache's `add` answers True while Redis is down (core.redis_faults
    # .FailOpenRedisCache, for locks): every reload of an outage counted a click.
    add = getattr(cache, "add_unless_down", cache.add)
    try:
        return add(key, 1, timeout=CLICK_DEDUP_SECONDS) is True
    except Exception as exc:
        log_throttled(logger, "share-click", "share click not counted: cache failed: %r", exc)
        return False


def is_own_visit(request: HttpRequest, thumbnail: Thumbnail) -> bool:
    """Whether the signed-in visitor is the thumbnail's owner: a creator checking their own link
    is not a click. (Projects have no editors; when they do, they belong here too.)"""
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.pk == thumbnail.owner_id)


def count_click(request: HttpRequest, thumbnail: Thumbnail) -> None:
    """Count a visit to a thumbnail's page as a share click: once per visitor, thumbnail and
    UTC day (one atomic UPDATE), never the owner's own visit (`is_own_visit`), a link
    preview's or a crawler's (`is_crawler`), nor a HEAD request (a previewer's probe).

    The UPDATE sends no signal, so it invalidates the owner's cached first gallery page itself
    (its cards show the count; on commit, as every invalidation). That is one Redis SET per
    counted click, beside the SET NX and the UPDATE it already costs; the page is rendered
    again only on the owner's next visit, once however many clicks came in between."""
    if request.method != "GET" or is_own_visit(request, thumbnail) or is_crawler(request):
        return
    if first_click_today(request, thumbnail.pk):
        Thumbnail.objects.filter(pk=thumbnail.pk).update(share_clicks=F("share_clicks") + 1)
        invalidate_gallery(thumbnail.owner_id)


@require_safe  # GET, and HEAD: link previewers probe with it
def shared_thumbnail(request: HttpRequest, token: str, thumbnail_id: int) -> TemplateResponse:
    """One shared thumbnail in a page (large image, title, link back to the project), counting
    the share click (`count_click`: once per visitor, thumbnail and day, never the owner's,
    a link preview's or a crawler's); 404 when sharing is off, the token is unknown or the
    thumbnail is not shared by this project."""
    project = services.access_shared_project(token)
    thumbnail = get_object_or_404(services.shared_thumbnails(project), pk=thumbnail_id)
    count_click(request, thumbnail)
    image = url_format("share-image", token, thumbnail.pk, "{variant}")
    return _thumbnail_page(request, thumbnail, image, project=project)


@require_safe  # GET, and HEAD: link previewers probe with it
def public_thumbnail(request: HttpRequest, token: str) -> TemplateResponse:
    """`GET /p/<token>/`: a public thumbnail's own page, as a shared project's thumbnail page
    shows one (image, title, link-preview tags) without the project, counting the click as
    they do (`count_click`); 404 once it is made private."""
    thumbnail = _public(token)
    count_click(request, thumbnail)
    return _thumbnail_page(request, thumbnail, url_format("public-image", token, "{variant}"))


def _thumbnail_page(
    request: HttpRequest, thumbnail: Thumbnail, image: str, *, project: Project | None = None
) -> TemplateResponse:
    """The page of one thumbnail shown through a link; `image` formats its files' URLs (a
    `{variant}` of SHARE_VARIANTS); `project` the shared project it belongs to, if any."""
    medium = image.format(variant="medium")
    return TemplateResponse(
        request,
        "studio/share_thumbnail.html",
        {
            "project": project,
            "thumbnail": thumbnail,
            "image_url": medium,
            "full_url": image.format(variant="full"),
            "preview_image": request.build_absolute_uri(medium),
        },
    )
