from __future__ import annotations

from django.apps import AppConfig


class StudioConfig(AppConfig):
    name = "studio"
    verbose_name = "Studio"

    def ready(self) -> None:
        from generation.registry import register_job_type
        from studio import gallery_cache, library_cache, retention  # noqa: F401  (receivers)
        from studio.job_types import JOB_TYPES

        for job_type in JOB_TYPES:
            register_job_type(job_type)
