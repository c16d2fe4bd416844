from __future__ import annotations

from django.apps import AppConfig


class StudioConfig(AppConfig):
    name = "studio"
    verbose_name = "Studio"

    def ready(self) -> None:
        from generation.registry import register_job_type
        from studio import library_cache  # noqa: F401  (connects its invalidation receivers)
        from studio.jobs import GenerateThumbnails

        register_job_type(GenerateThumbnails())
