"""The studio page's HTML, remembered per web process by the versions of what it shows.

`GET /studio/` is every creator's landing page. Its parts already come from caches (the data
from the shared cache, the pickers from studio.form_cache, the first gallery page from
studio.gallery_cache), yet rendering the page around them still cost about half of the view's
CPU (`benchmarks/studio_split.py`). Everything the page shows is read from shared-cache
namespaces (`studio_namespaces`: the plan, credits and subscription, the library lists, the
creator's faces and projects, the jobs in flight, the first gallery page) whose version tokens
change whenever what they hold does, in every process (core.shared_cache). So the rendered page
is kept in this process under a key made of those tokens, the creator's id, the expiry step and
key of the signed media URLs it holds (studio.media), and the process's catalog and payment
settings: a change to any of them is a new key, nothing needs invalidating, and an entry unused
for MEMO_SIZE newer keys is dropped.

What differs between two requests for the same page is filled in per response: the CSRF token
and the generate form's idempotency key are rendered as placeholders and replaced.

Only the plain page is remembered: not a filtered gallery, an htmx request, a page with
messages, jobs in flight (their progress is written without a new version), a running generate
cooldown or no credits (the renewal date is a query); and only when the render read no
namespace outside the key. (A payment-due banner is remembered: its query reads the
subscription row, whose every save gives "billing:subscription:<id>" a new version.)
An entry also lasts at most MEMO_SECONDS, shorter than any namespace's cache timeout, so what
changes with time alone (a plan's period ending) shows as soon as it would without the memo.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from django.contrib.messages import get_messages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token

from billing import payments
from core import shared_cache
from core.auth import user_namespace
from generation import catalog
from studio.gallery import GalleryFilter
from studio.media import MediaSigner
from studio.studio_data import studio_namespaces

MEMO_SIZE = 128  # pages of about 75 KB (the benchmark's): at most ~10 MB per process
MEMO_SECONDS = 60
# Per process, so no page sent out can hold another process's placeholder by accident.
CSRF_PLACEHOLDER = f"csrf{secrets.token_hex(16)}"
KEY_PLACEHOLDER = f"key{secrets.token_hex(16)}"

_memo: OrderedDict[Hashable, tuple[float, str]] = OrderedDict()
_lock = threading.Lock()
stats = {"hits": 0, "stores": 0}


def _namespaces(user_id: Any) -> list[str]:
    return [user_namespace(user_id), *studio_namespaces(user_id, with_gallery=True)]


def plain_request(request: HttpRequest, filters: GalleryFilter) -> bool:
    """Whether this request is for the plain page, the only one remembered: a GET of the
    unfiltered studio, not by htmx, with no message waiting to be shown."""
    return (
        request.method == "GET"
        and filters == GalleryFilter()
        and "HX-Request" not in request.headers
        and not len(get_messages(request))
    )


def page_key(user_id: Any) -> Hashable | None:
    """The memo key of the creator's plain studio page as this request has seen its data, or
    None while any of its namespaces is unread or has no version token. Reads nothing: the
    tokens are those the request's shared-cache reads saw (the studio view reads them with the
    signed-in user, so they are known before the page is built)."""
    versions = shared_cache.read_versions(_namespaces(user_id))
    if versions is None:
        return None
    signer = MediaSigner()
    return (
        user_id,
        versions,
        signer.expires,
        signer.key_id,
        catalog.is_offline(),
        payments.configured(),
    )


def lookup(key: Hashable) -> str | None:
    """The remembered page (with placeholders) for `key`, if it is there and fresh."""
    with _lock:
        entry = _memo.get(key)
        if entry is None:
            return None
        if time.monotonic() - entry[0] > MEMO_SECONDS:
            del _memo[key]
            return None
        _memo.move_to_end(key)
        stats["hits"] += 1
        return entry[1]


def placeholders() -> dict[str, str]:
    """Context values that render as placeholders for `respond` to fill in."""
    return {"csrf_token": CSRF_PLACEHOLDER, "idempotency_key": KEY_PLACEHOLDER}


def rememberable(context: dict[str, Any]) -> bool:
    """Whether the page rendered from the studio view's `context` may be remembered: not with
    jobs in flight (their progress is written without a new version), a cooldown or no credits
    (the renewal date is a query)."""
    return bool(context["credits"] and not context["jobs"] and not context["cooldown_left"])


def store(key: Hashable, html: str, user_id: Any) -> None:
    """Remember `html` (rendered with `placeholders()`) under `key`, if the render read no
    shared-cache namespace outside the key's."""
    if not shared_cache.namespaces_read() <= set(_namespaces(user_id)):
        return
    with _lock:
        stats["stores"] += 1
        if MEMO_SIZE > 0:
            _memo[key] = (time.monotonic(), html)
            _memo.move_to_end(key)
            while len(_memo) > MEMO_SIZE:
                _memo.popitem(last=False)


def respond(request: HttpRequest, html: str) -> HttpResponse:
    """The page for this request: `html` with this request's CSRF token and a new idempotency
    key in place of the placeholders."""
    html = html.replace(CSRF_PLACEHOLDER, get_token(request)).replace(
        KEY_PLACEHOLDER, uuid.uuid4().hex
    )
    return HttpResponse(html)


def clear() -> None:
    """Forget every remembered page and zero `stats`."""
    with _lock:
        _memo.clear()
        stats.update(hits=0, stores=0)


@receiver(setting_changed)
def _settings_changed(**_: Any) -> None:  # tests: a setting can change what a page shows
    clear()
