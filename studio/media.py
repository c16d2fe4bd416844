"""Private media: every stored file is reached through a signed, expiring URL.

One function, `media_url`, turns a stored file (a `FieldFile` or a storage name) into the URL a
page or API answer shows; nothing else builds media URLs. What it returns depends on the storage:

- the embedded default (`PrivateFileSystemStorage`, files under `MEDIA_ROOT`):
  `/media/<name>?e=<expires>&s=<signature>`, where `expires` is a Unix time and `signature` an
  HMAC-SHA256 (keyed by `SECRET_KEY`) of the name and the expiry. `serve_media` answers it only
  while the signature matches and the time has not passed; anything else is a 404, the same as a
  file that does not exist, so a URL without a valid signature tells nothing.
- django-storages' S3 backend (chosen when `AWS_STORAGE_BUCKET_NAME` is set): the bucket's own
  presigned URL (`querystring_auth`, valid `MEDIA_URL_MAX_AGE` seconds); the bucket is private, so
  an unsigned URL is refused by the object store and no Python process serves media.

Expiry is rounded up to a step of a quarter of `MEDIA_URL_MAX_AGE` (default 3600 s), so the URLs
of one file stay the same for a while (browsers keep the image cached) and every URL is valid for
between `MEDIA_URL_MAX_AGE` and 1.25 times that.

A shared project's images are not signed URLs: `/share/<token>/i/<id>/<variant>` checks on every
request that the project is still shared and shows that thumbnail (`studio.views_share`), so
turning sharing off stops them at once, links handed out before included.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import mimetypes
import os
import time
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.views.decorators.http import require_safe

from core.streaming import stream_under_asgi

SIGNATURE_BYTES = 16  # 128-bit truncated HMAC-SHA256 (NIST SP 800-107: >= 64 bits suffices)
# Cache-Control max-age stays this far below a signed URL's expiry, so a browser never shows a
# cached copy past the moment the URL itself stops working.
EXPIRY_MARGIN_SECONDS = 60


@lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    return hashlib.sha256(b"viewbait.media.v1:" + secret.encode()).digest()


def _sign(key: bytes, name: str, expires: int) -> str:
    mac = hmac.new(key, f"{name}\n{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:SIGNATURE_BYTES]).rstrip(b"=").decode()


def _expiry(now: float) -> int:
    """`now + MEDIA_URL_MAX_AGE` rounded up to a step of a quarter of it (module docstring)."""
    max_age = settings.MEDIA_URL_MAX_AGE
    step = max(1, max_age // 4)
    return -(-(int(now) + max_age) // step) * step


class MediaSigner:
    """Signs names with one expiry and one derived key: made once per page, then one HMAC per
    file (no storage call, no URL reversing). For a storage that signs its own URLs (S3), each
    URL is the storage's."""

    def __init__(self, storage: Any = None, *, now: float | None = None) -> None:
        self.storage = storage if storage is not None else default_storage
        self.local = isinstance(self.storage, PrivateFileSystemStorage)
        self.expires = _expiry(time.time() if now is None else now)
        self.key = _key(settings.SECRET_KEY)
        self.prefix = settings.MEDIA_URL

    @property
    def key_id(self) -> str:
        """Names the key this signer's URLs verify with (a hash of the derived key, safe to
        store): URLs kept with it (a cached page) are good only while it is the current one.
        "storage" for a storage that signs its own URLs."""
        if not self.local:
            return "storage"
        return hashlib.sha256(b"key-id:" + self.key).hexdigest()[:16]

    def url(self, name: str) -> str:
        if not self.local:
            return str(self.storage.url(name))
        query = f"e={self.expires}&s={_sign(self.key, name, self.expires)}"
        return f"{self.prefix}{quote(name)}?{query}"


def media_url(file: Any, signer: MediaSigner | None = None) -> str | None:
    """The URL that shows a stored file (a `FieldFile` or a storage name) to whoever is allowed
    to see the page or answer it goes into; None for an empty field. Pass `signer` to share one
    expiry and key across many files (a gallery page)."""
    name = getattr(file, "name", file)
    if not name:
        return None
    return (signer or MediaSigner()).url(str(name))


def verify(name: str, expires: str | None, signature: str | None, now: float | None = None) -> int:
    """The URL's expiry (Unix seconds) when `signature` signs `name` with it and it has not
    passed; raises Http404 otherwise (tampered, expired, missing)."""
    if not expires or not signature or len(expires) > 12:
        raise Http404
    if not (expires.isascii() and expires.isdigit()):  # isdigit() alone takes "²"; int() does not
        raise Http404
    expiry = int(expires)
    if expiry <= (time.time() if now is None else now):
        raise Http404
    # compare_digest refuses str with non-ASCII characters (TypeError): such a signature is
    # simply wrong.
    if not signature.isascii() or not hmac.compare_digest(
        _sign(_key(settings.SECRET_KEY), name, expiry), signature
    ):
        raise Http404
    return expiry


class PrivateFileSystemStorage(FileSystemStorage):
    """Files under MEDIA_ROOT whose `url()` is a signed, expiring URL (the module docstring), so
    any `.url` (the admin, a template) is private too."""

    def url(self, name: str | None) -> str:  # type: ignore[override]
        if not name:
            raise ValueError("This file is not stored.")
        return MediaSigner(self).url(name)


def file_response(
    request: HttpRequest, name: str, *, cache_control: str
) -> HttpResponse | FileResponse:
    """Stream the stored file `name` with a validator (ETag from size and modification time,
    Last-Modified) and `cache_control`; 304 when the client's copy is current. 404 when the
    file is missing or the name leaves the storage. With `MEDIA_ACCEL_REDIRECT` set (e.g.
    "/protected-media/", an nginx `internal` location aliased to MEDIA_ROOT), the answer is an
    empty `X-Accel-Redirect` and the front web server sends the bytes."""
    storage = default_storage
    accel = settings.MEDIA_ACCEL_REDIRECT
    if accel:
        try:
            storage.path(name)  # refuses names that leave MEDIA_ROOT
        except (SuspiciousFileOperation, NotImplementedError):
            raise Http404 from None
        response = HttpResponse(content_type=mimetypes.guess_type(name)[0] or "")
        response["X-Accel-Redirect"] = accel.rstrip("/") + "/" + quote(name)
        response["Cache-Control"] = cache_control
        return response
    try:
        path = storage.path(name)
        handle = open(path, "rb")  # noqa: SIM115 (FileResponse closes it)
    except (SuspiciousFileOperation, NotImplementedError, FileNotFoundError, IsADirectoryError):
        raise Http404 from None
    except OSError:
        raise Http404 from None
    stat = os.fstat(handle.fileno())
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    last_modified = int(stat.st_mtime)
    conditional = get_conditional_response(request, etag=etag, last_modified=last_modified)
    if conditional is not None:
        handle.close()
        conditional["Cache-Control"] = cache_control
        return conditional
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    streamed = stream_under_asgi(request, FileResponse(handle, content_type=content_type))
    streamed["ETag"] = etag
    streamed["Last-Modified"] = http_date(last_modified)
    streamed["Cache-Control"] = cache_control
    streamed["X-Content-Type-Options"] = "nosniff"
    return streamed


@require_safe
def serve_media(request: HttpRequest, path: str) -> HttpResponse | FileResponse:
    """`GET /media/<name>?e=&s=` (the embedded default only): the file when the signature is
    valid and unexpired, with `Cache-Control: private, max-age` ending a minute before the
    expiry; 404 for anything else (no signature, tampered, expired, missing file)."""
    expiry = verify(path, request.GET.get("e"), request.GET.get("s"))
    max_age = max(0, expiry - int(time.time()) - EXPIRY_MARGIN_SECONDS)
    return file_response(request, path, cache_control=f"private, max-age={max_age}")
