"""The creator's YouTube channel, read through the YouTube Data API v3 with an API key.

Google's own client (`google-api-python-client`, its bundled static discovery document, so no
discovery request) calls two list methods, each 1 quota unit of a key's 10,000 a day
(https://developers.google.com/youtube/v3/determine_quota_cost):

1. `channels.list(part="snippet,contentDetails", forHandle=... | id=...)`: the channel's id,
   title and uploads playlist (`contentDetails.relatedPlaylists.uploads`);
2. `playlistItems.list(part="snippet", playlistId=<uploads>, maxResults=RECENT_VIDEOS)`: its
   newest public uploads, newest first, each with a `thumbnails` map
   (default 120x90, medium 320x180, high 480x360, standard 640x480, maxres 1280x720).

Each video's thumbnail is then downloaded (`best_thumbnail`: the widest 16:9 size, else the
widest one cut to its 16:9 centre, since YouTube's 4:3 sizes letterbox a 16:9 picture with
black bars), at most THUMBNAIL_MAX_BYTES, and kept as a STORED_WIDTH px JPEG. The upload list
and each thumbnail are cached (Django's default cache) for `YOUTUBE_CACHE_SECONDS` (1 hour), so
repeated checks within the hour make no YouTube call.

Failures are `generation.providers.base.ProviderError`s with a creator-safe message, so a job
that meets one fails with that message and its credit is refunded by the engine:
quotaExceeded -> `YouTubeQuotaExceeded` ("quota_exhausted"); keyInvalid, API_KEY_INVALID,
accessNotConfigured, forbidden, ipRefererBlocked -> `YouTubeKeyInvalid` ("provider_auth"); no
such channel -> `ChannelNotFound` ("channel_not_found"); no public uploads (or fewer than
MIN_COMPARED readable thumbnails) -> `ChannelHasTooFewUploads` ("channel_empty"); 429, 5xx,
timeouts, connection errors and unreadable answers -> `YouTubeUnavailable` ("provider_error").
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from PIL import Image

from generation.providers.base import ProviderError

logger = logging.getLogger(__name__)

RECENT_VIDEOS = 10  # uploads compared: about a month of a weekly channel
MIN_COMPARED = 3  # fewer readable thumbnails give no channel range worth scoring against
THUMBNAIL_MAX_BYTES = 2 * 1024 * 1024  # YouTube's own cap on an uploaded custom thumbnail
STORED_WIDTH = 640  # px: what the measurements need (they work on 480-640 px copies)
API_RETRIES = 1  # the client's own retry of 429/5xx/socket errors, with its backoff
# YouTube handles: 3-30 letters (any script), digits, underscores, hyphens and periods
# (https://support.google.com/youtube/answer/11585688).
HANDLE = re.compile(r"^@[\w.\-]{3,30}$")
CHANNEL_ID = re.compile(r"^UC[A-Za-z0-9_-]{22}$")
YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com"})
THUMBNAIL_HOST_SUFFIXES = (".ytimg.com", ".ggpht.com", ".googleusercontent.com")
CACHE_VERSION = "v1"
AUTH_REASONS = frozenset(
    {
        "keyInvalid",
        "API_KEY_INVALID",
        "keyExpired",
        "API_KEY_EXPIRED",
        "accessNotConfigured",
        "SERVICE_DISABLED",
        "forbidden",
        "ipRefererBlocked",
        "API_KEY_HTTP_REFERRER_BLOCKED",
    }
)


class ChannelReferenceInvalid(ValueError):
    """What the creator typed is not a channel address, handle or id; `str()` says why."""


class YouTubeQuotaExceeded(ProviderError):
    code = "quota_exhausted"
    message = (
        "ViewBait's YouTube Data API quota for today is used up; it resets at midnight "
        "Pacific time."
    )


class YouTubeKeyInvalid(ProviderError):
    code = "provider_auth"
    message = (
        "The YouTube Data API key is invalid or may not read YouTube; the studio's operator "
        "needs to fix it."
    )


class ChannelNotFound(ProviderError):
    code = "channel_not_found"
    message = "YouTube has no channel with that handle or id. Check it on your Account page."


class ChannelHasTooFewUploads(ProviderError):
    code = "channel_empty"
    message = (
        f"Your channel needs at least {MIN_COMPARED} public uploads with thumbnails to compare "
        "with."
    )


class YouTubeUnavailable(ProviderError):
    code = "provider_error"
    message = "YouTube did not answer properly. Please try again in a minute."


@dataclass(frozen=True)
class ChannelVideo:
    video_id: str
    title: str
    thumbnail_url: str
    crop_to_16_9: bool  # a 4:3 size: its 16:9 centre is the picture


@dataclass(frozen=True)
class ChannelUploads:
    """A channel and its newest public uploads (newest first, at most RECENT_VIDEOS)."""

    channel_id: str
    title: str
    videos: tuple[ChannelVideo, ...]

    @property
    def video_ids(self) -> list[str]:
        return [video.video_id for video in self.videos]


def is_configured() -> bool:
    """Whether a YouTube Data API key is set (`YOUTUBE_API_KEY`)."""
    return bool(settings.YOUTUBE_API_KEY)


def parse_channel_reference(text: str) -> str:
    """The channel a creator typed, normalized: "@handle" or a "UC" + 22 character channel id.
    Takes a channel URL (youtube.com/@handle, youtube.com/channel/UC..., with or without
    https://, www. or m., and any trailing /videos), an @handle or a channel id. Raises
    ChannelReferenceInvalid with a message for the creator."""
    text = text.strip()
    if not text:
        raise ChannelReferenceInvalid("Type your channel's address, @handle or channel id.")
    if "/" in text or "youtube." in text.lower():
        url = text if "://" in text else f"https://{text}"
        try:
            parts = urlsplit(url)
        except ValueError:
            raise ChannelReferenceInvalid("That is not a web address.") from None
        if (parts.hostname or "").lower() not in YOUTUBE_HOSTS:
            raise ChannelReferenceInvalid("Use your channel's address on youtube.com.")
        segments = [s for s in parts.path.split("/") if s]
        if segments and segments[0].startswith("@"):
            text = segments[0]
        elif len(segments) >= 2 and segments[0] == "channel":
            text = segments[1]
        else:
            raise ChannelReferenceInvalid(
                "Use the channel's address with /@handle or /channel/UC... in it (YouTube "
                "shows both under the channel's About: Share channel)."
            )
    if text.startswith("@"):
        if not HANDLE.match(text):
            raise ChannelReferenceInvalid(
                "A handle is @ and 3-30 letters, digits, underscores, hyphens or periods."
            )
        return text
    if CHANNEL_ID.match(text):
        return text
    raise ChannelReferenceInvalid(
        "Type your channel's address (youtube.com/@you), its @handle or its channel id (UC "
        "and 22 more characters)."
    )


def cache_identity(reference: str) -> str:
    """A normalized channel reference as caches key it: a handle case-folded (YouTube matches
    handles in any case), a channel id as it is (ids are case-sensitive: "UCab…" and "UCAB…"
    are two channels)."""
    return reference.casefold() if reference.startswith("@") else reference


def uploads_cache_key(reference: str) -> str:
    digest = hashlib.sha256(cache_identity(reference).encode()).hexdigest()[:32]
    return f"youtube:uploads:{CACHE_VERSION}:{digest}"


def _thumbnail_cache_key(video: ChannelVideo) -> str:
    digest = hashlib.sha256(video.thumbnail_url.encode()).hexdigest()[:16]
    return f"youtube:thumbnail:{CACHE_VERSION}:{video.video_id}:{digest}"


def cached_uploads(reference: str) -> ChannelUploads | None:
    """The channel's uploads if a check within `YOUTUBE_CACHE_SECONDS` read them, else None
    (no YouTube call)."""
    stored = cache.get(uploads_cache_key(reference))
    if not isinstance(stored, dict):
        return None
    try:
        videos = tuple(ChannelVideo(**video) for video in stored["videos"])
        return ChannelUploads(stored["channel_id"], stored["title"], videos)
    except (KeyError, TypeError):
        return None


def _service() -> Any:
    """The YouTube Data API client. The key goes in the `X-Goog-Api-Key` header, never in the
    URL: google-api-python-client logs a retried request's URL at WARNING and puts it in every
    HttpError's message, so a `key=` query parameter (its `developerKey`) wrote the key into the
    worker's and `check_youtube`'s logs on each 429, 5xx or socket error."""
    # Imported here: the client and its discovery documents load only where a check runs.
    import httplib2
    from googleapiclient.discovery import build

    key = settings.YOUTUBE_API_KEY

    class KeyInHeader(httplib2.Http):  # type: ignore[misc]
        def request(
            self,
            uri: str,
            method: str = "GET",
            body: Any = None,
            headers: Any = None,
            *args: Any,
            **kwargs: Any,
        ) -> Any:
            headers = {**(headers or {}), "x-goog-api-key": key}
            return super().request(uri, method, body, headers, *args, **kwargs)

    options = (
        {"api_endpoint": settings.YOUTUBE_API_BASE_URL} if settings.YOUTUBE_API_BASE_URL else None
    )
    return build(
        "youtube",
        "v3",
        http=KeyInHeader(timeout=settings.YOUTUBE_TIMEOUT_SECONDS),
        static_discovery=True,
        cache_discovery=False,
        client_options=options,
    )


def _reasons(content: bytes) -> set[str]:
    """The `reason`s of a Google API error body: `error.errors[].reason` (the YouTube API's
    own, e.g. quotaExceeded) and `error.details[].reason` (google.rpc.ErrorInfo, e.g.
    API_KEY_INVALID)."""
    try:
        error = json.loads(content.decode("utf-8"))["error"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return set()
    if not isinstance(error, dict):
        return set()
    found = set()
    for entry in [*(error.get("errors") or []), *(error.get("details") or [])]:
        if isinstance(entry, dict) and isinstance(entry.get("reason"), str):
            found.add(entry["reason"])
    return found


def _execute(request: Any, what: str) -> dict[str, Any]:
    """`request.execute()` with the API's errors as this module's ProviderErrors."""
    import httplib2
    from googleapiclient.errors import Error, HttpError

    try:
        answer = request.execute(num_retries=API_RETRIES)
    except HttpError as exc:
        status = exc.status_code
        reasons = _reasons(exc.content)
        detail = f"{what}: HTTP {status} {sorted(reasons)}"
        if "quotaExceeded" in reasons or "dailyLimitExceeded" in reasons:
            raise YouTubeQuotaExceeded(detail) from exc
        if reasons & AUTH_REASONS or status == 401:
            raise YouTubeKeyInvalid(detail) from exc
        if status == 404 and "playlistNotFound" in reasons:
            raise ChannelHasTooFewUploads(detail) from exc
        if status == 404:
            raise ChannelNotFound(detail) from exc
        raise YouTubeUnavailable(detail) from exc
    except (Error, httplib2.HttpLib2Error, OSError, ValueError) as exc:  # timeouts are OSError
        raise YouTubeUnavailable(f"{what}: {exc!r}") from exc
    if not isinstance(answer, dict):
        raise YouTubeUnavailable(f"{what}: not a JSON object")
    return answer


def best_thumbnail(thumbnails: Any) -> tuple[str, bool] | None:
    """(url, crop_to_16_9) of the best size in a `snippet.thumbnails` map: the widest 16:9 one
    (maxres 1280x720, then medium 320x180), else the widest one, to be cut to its 16:9 centre
    (the 4:3 sizes letterbox the picture). None when the map has no usable entry."""
    if not isinstance(thumbnails, dict):
        return None
    sizes = []
    for entry in thumbnails.values():
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            continue
        width, height = entry.get("width") or 0, entry.get("height") or 0
        wide = bool(width and height and abs(width / height - 16 / 9) < 0.05)
        sizes.append((wide, int(width or 0), entry["url"]))
    if not sizes:
        return None
    wide, _width, url = max(sizes)
    return url, not wide


def fetch_uploads(reference: str) -> ChannelUploads:
    """The channel's newest public uploads, from the cache or the API (then cached). Raises the
    module's ProviderErrors."""
    found = cached_uploads(reference)
    if found is not None:
        return found
    service = _service()
    lookup = {"forHandle": reference} if reference.startswith("@") else {"id": reference}
    answer = _execute(
        service.channels().list(part="snippet,contentDetails", maxResults=1, **lookup),
        "channels.list",
    )
    items = answer.get("items") or []
    if not items:
        raise ChannelNotFound(f"channels.list: no channel for {reference}")
    channel = items[0]
    try:
        uploads_id = channel["contentDetails"]["relatedPlaylists"]["uploads"]
    except (KeyError, TypeError):
        raise ChannelHasTooFewUploads(f"{reference}: no uploads playlist") from None
    answer = _execute(
        service.playlistItems().list(
            part="snippet", playlistId=uploads_id, maxResults=RECENT_VIDEOS
        ),
        "playlistItems.list",
    )
    videos = []
    for item in answer.get("items") or []:
        snippet = item.get("snippet") if isinstance(item, dict) else None
        if not isinstance(snippet, dict):
            continue
        video_id = (snippet.get("resourceId") or {}).get("videoId")
        best = best_thumbnail(snippet.get("thumbnails"))
        if isinstance(video_id, str) and best is not None:
            url, crop = best
            videos.append(ChannelVideo(video_id, str(snippet.get("title") or "")[:200], url, crop))
    uploads = ChannelUploads(
        channel_id=str(channel.get("id") or ""),
        title=str((channel.get("snippet") or {}).get("title") or reference)[:200],
        videos=tuple(videos[:RECENT_VIDEOS]),
    )
    cache.set(
        uploads_cache_key(reference),
        {
            "channel_id": uploads.channel_id,
            "title": uploads.title,
            "videos": [asdict(video) for video in uploads.videos],
        },
        settings.YOUTUBE_CACHE_SECONDS,
    )
    return uploads


def _allowed_url(url: str) -> bool:
    """Only YouTube's image hosts over https (and the configured API base's host, for a fake):
    a thumbnail URL never makes the worker fetch anything else."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    base = urlsplit(settings.YOUTUBE_API_BASE_URL) if settings.YOUTUBE_API_BASE_URL else None
    if base is not None and host == (base.hostname or "").lower() and parts.port == base.port:
        return parts.scheme in ("http", "https")
    return parts.scheme == "https" and host.endswith(THUMBNAIL_HOST_SUFFIXES)


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to where `_allowed_url` allows."""

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        if not _allowed_url(newurl):
            raise urllib.error.URLError(f"redirect off YouTube's hosts: {newurl[:100]}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_CheckedRedirects)


def _download(url: str) -> bytes:
    """At most THUMBNAIL_MAX_BYTES from `url`; raises YouTubeUnavailable."""
    if not _allowed_url(url):
        raise YouTubeUnavailable(f"thumbnail URL not on YouTube's hosts: {url[:100]}")
    try:
        # _allowed_url admitted only http(s) URLs of YouTube's image hosts (or the fake's).
        with _opener.open(url, timeout=settings.YOUTUBE_TIMEOUT_SECONDS) as response:
            data: bytes = response.read(THUMBNAIL_MAX_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise YouTubeUnavailable(f"thumbnail {url[:100]}: {exc!r}") from exc
    if len(data) > THUMBNAIL_MAX_BYTES:
        raise YouTubeUnavailable(f"thumbnail {url[:100]}: over {THUMBNAIL_MAX_BYTES} bytes")
    return data


def _normalized_jpeg(data: bytes, *, crop_to_16_9: bool) -> bytes:
    """The picture as a STORED_WIDTH px wide JPEG (cut to its 16:9 centre if asked). Raises
    YouTubeUnavailable for bytes that are not an image."""
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        if image.width * image.height > 40_000_000:
            raise YouTubeUnavailable("thumbnail: too many pixels")
        image = image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise YouTubeUnavailable(f"thumbnail: not an image ({exc!r})") from exc
    if crop_to_16_9:
        height = round(image.width * 9 / 16)
        top = max(0, (image.height - height) // 2)
        image = image.crop((0, top, image.width, min(image.height, top + height)))
    if image.width > STORED_WIDTH:
        image = image.resize(
            (STORED_WIDTH, max(1, round(image.height * STORED_WIDTH / image.width))),
            Image.Resampling.LANCZOS,
        )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def fetch_thumbnails(uploads: ChannelUploads) -> list[tuple[str, bytes]]:
    """(video id, JPEG bytes) of each upload's thumbnail that could be read, newest first, from
    the cache or downloaded (then cached). A thumbnail that fails is left out (logged); fewer
    than MIN_COMPARED raise ChannelHasTooFewUploads (a channel with fewer uploads) or
    YouTubeUnavailable (downloads that failed)."""
    found = []
    for video in uploads.videos:
        key = _thumbnail_cache_key(video)
        data = cache.get(key)
        if not isinstance(data, bytes):
            try:
                data = _normalized_jpeg(
                    _download(video.thumbnail_url), crop_to_16_9=video.crop_to_16_9
                )
            except YouTubeUnavailable as exc:
                logger.warning("youtube: skipping video %s: %s", video.video_id, exc.detail)
                continue
            cache.set(key, data, settings.YOUTUBE_CACHE_SECONDS)
        found.append((video.video_id, data))
    if len(found) < MIN_COMPARED:
        detail = f"{uploads.channel_id}: {len(found)} readable thumbnails of {len(uploads.videos)}"
        if len(uploads.videos) >= MIN_COMPARED:  # the downloads failed, not the channel
            raise YouTubeUnavailable(detail)
        raise ChannelHasTooFewUploads(detail)
    return found
