"""Providers behind one interface (`generation.providers.base.Provider`); `get_provider()` picks
the configured one."""

from __future__ import annotations

import threading

from django.conf import settings

from generation.providers.base import Provider

_cache: dict[tuple[object, ...], Provider] = {}
_lock = threading.Lock()


def get_provider() -> Provider:
    """Gemini when `IMAGE_PROVIDER` is "gemini" (the default when GEMINI_API_KEY is set), else the
    offline local renderer. One instance per configuration (IMAGE_PROVIDER, GEMINI_API_KEY,
    GEMINI_BASE_URL, GEMINI_TIMEOUT_SECONDS), so the Gemini client's connection pool is reused
    across jobs and a settings change (tests) gets a fresh provider."""
    key = (
        settings.IMAGE_PROVIDER,
        settings.GEMINI_API_KEY,
        settings.GEMINI_BASE_URL,
        settings.GEMINI_TIMEOUT_SECONDS,
    )
    with _lock:
        provider = _cache.get(key)
        if provider is None:
            provider = _build()
            _cache[key] = provider
        return provider


def local_renderer() -> Provider:
    """The offline renderer, one instance per process, whatever IMAGE_PROVIDER says: for jobs
    made for it (model "local") where a Gemini key is set."""
    with _lock:
        provider = _cache.get(("local",))
        if provider is None:
            from generation.providers.local import LocalRenderer

            provider = _cache[("local",)] = LocalRenderer()
        return provider


# Old name, still imported by studio.jobs; remove once every caller uses get_provider.
get_image_provider = get_provider


def _build() -> Provider:
    if settings.IMAGE_PROVIDER == "gemini":
        from generation.providers.gemini import GeminiProvider

        return GeminiProvider.from_settings()
    from generation.providers.local import LocalRenderer

    return LocalRenderer()
