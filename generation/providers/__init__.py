"""Image providers behind one interface; `get_image_provider()` picks one from settings."""

from __future__ import annotations

import threading

from django.conf import settings

from generation.providers.base import ImageProvider

_cache: dict[tuple[object, ...], ImageProvider] = {}
_lock = threading.Lock()


def get_image_provider() -> ImageProvider:
    """Gemini when `IMAGE_PROVIDER` is "gemini" (the default when GEMINI_API_KEY is set), else the
    offline local renderer. One instance per configuration, so the Gemini client's connection
    pool is reused across jobs."""
    key = (
        settings.IMAGE_PROVIDER,
        settings.GEMINI_API_KEY,
        settings.GEMINI_BASE_URL,
        settings.GEMINI_TIMEOUT_SECONDS,
        settings.GEMINI_RETRY_ATTEMPTS,
        settings.GEMINI_RETRY_INITIAL_DELAY,
    )
    with _lock:
        provider = _cache.get(key)
        if provider is None:
            provider = _build()
            _cache[key] = provider
        return provider


def _build() -> ImageProvider:
    if settings.IMAGE_PROVIDER == "gemini":
        from generation.providers.gemini import GeminiImageProvider

        return GeminiImageProvider.from_settings()
    from generation.providers.local import LocalRenderer

    return LocalRenderer()
