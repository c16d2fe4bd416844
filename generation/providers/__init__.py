"""Image providers behind one interface; `get_image_provider()` picks one from settings."""

from __future__ import annotations

from django.conf import settings

from generation.providers.base import ImageProvider


def get_image_provider() -> ImageProvider:
    """Gemini when `IMAGE_PROVIDER` is "gemini" (the default when GEMINI_API_KEY is set), else the
    offline local renderer."""
    if settings.IMAGE_PROVIDER == "gemini":
        from generation.providers.gemini import GeminiImageProvider

        return GeminiImageProvider.from_settings()
    from generation.providers.local import LocalRenderer

    return LocalRenderer()
