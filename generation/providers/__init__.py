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


def provider_for(model_id: str) -> Provider:
    """The provider that serves `model_id`: the offline renderer for "local" (catalog.LOCAL)
    whatever IMAGE_PROVIDER says (a demo seeded offline, or a job queued before a key was set,
    would otherwise go to Gemini as model "local": a 404 that opens the breaker), else
    `get_provider()`."""
    if model_id != "local":
        return get_provider()
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
