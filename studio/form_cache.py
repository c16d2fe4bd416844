"""The generate form's pickers as rendered HTML, remembered per web process by what they show.

`GET /studio/` renders the style, palette, face, output, project and model pickers on every
visit: ~140 template variables and 18 loops, the largest part of the page's own rendering once
the gallery comes from its fragment cache (studio.gallery_cache). What they show changes only
when the creator's library, plan or the catalog does, so the HTML is kept in this process under a
key made of everything it shows (`pickers_key`): the rows' ids, names and colours, the face
photos' signed URLs, the plan's limits and prices and the model list. A change to any of them
is a new key, so nothing needs invalidating; an entry unused for MEMO_SIZE newer keys is
dropped.

Kept per process, not in Redis: the key is built from data the page loads anyway (from the
shared cache), a miss costs one render of the partial, and the HTML (about 6 KB) never crosses the
network.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from studio.media import media_url

MEMO_SIZE = 512  # creators active in one process at once; ~6 KB an entry (the benchmark library)
PARTIAL = "studio/studio.html#form-pickers"

_memo: OrderedDict[Hashable, str] = OrderedDict()
_lock = threading.Lock()
stats = {"hits": 0, "renders": 0}


def face_photo_url(face: Any) -> str:
    """The signed URL of the face's first photo ("" without one), as the face chip shows it."""
    photo = next(iter(face.images.all()), None)
    return (media_url(photo.image) or "") if photo is not None else ""


def pickers_key(context: dict[str, Any]) -> tuple[Hashable, ...]:
    """Everything the `form-pickers` partial shows, from the studio page's `context`, as a
    hashable tuple (two contexts with the same key render the same HTML)."""
    user_id, plan = context["user_id"], context["plan"]
    return (
        tuple((s.pk, s.name, s.owner_id == user_id) for s in context["styles"]),
        tuple((p.pk, p.name, tuple(p.colors)) for p in context["palettes"]),
        tuple(
            (f.pk, f.name, f.photo_url, f.sharp_up_to, f.no_face_found) for f in context["faces"]
        ),
        (plan.name, plan.custom_asset_limit),
        tuple(context["expressions"]),
        tuple(context["poses"]),
        tuple(context["aspect_ratios"]),
        tuple(context["resolutions"]),
        tuple(context["variation_choices"]),
        tuple(context["resolution_prices"]),
        tuple(
            (p.pk, p.name, json.dumps(p.default_settings, sort_keys=True))
            for p in context["projects"]
        ),
        context["offline"],
        tuple((m.id, m.label) for m in context["models"]),
        context["default_model"],
    )


def pickers_html(context: dict[str, Any]) -> SafeString:
    """The `form-pickers` partial of studio/studio.html for `context` (the studio page's): the
    remembered HTML for the same key, else rendered and remembered. Sets each face's
    `photo_url`."""
    for face in context["faces"]:
        face.photo_url = face_photo_url(face)
    key = pickers_key(context)
    with _lock:
        html = _memo.get(key)
        if html is not None:
            _memo.move_to_end(key)
            stats["hits"] += 1
            return mark_safe(html)  # noqa: S308  (rendered by this project's template)
    html = render_to_string(PARTIAL, context)
    with _lock:
        stats["renders"] += 1
        if MEMO_SIZE > 0:
            _memo[key] = html
            while len(_memo) > MEMO_SIZE:
                _memo.popitem(last=False)
    return mark_safe(html)  # noqa: S308


def clear() -> None:
    """Forget every remembered form and zero `stats`."""
    with _lock:
        _memo.clear()
        stats.update(hits=0, renders=0)
