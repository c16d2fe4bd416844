from __future__ import annotations

from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    verbose_name = "Generation engine"

    def ready(self) -> None:
        from generation import checks  # noqa: F401  (registers the system checks)
