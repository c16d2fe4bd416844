"""`manage.py rundramatiq` (django_dramatiq's) that first runs the project's own system checks
(viewbait.startup_checks): the Procfile's worker skips Django's whole check framework
(`--skip-checks`, 0.6 CPU seconds a start), and without this a worker with, say, a retired Gemini
model or TLS and SSL both on for mail started anyway. An Error stops it before the Dramatiq
processes are started (exit status 1, the check's message on stderr); a Warning is logged.

Each Dramatiq worker process sets Django up through viewbait.dramatiq_setup (the collector paused:
viewbait.startup) instead of django_dramatiq.setup."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django_dramatiq.management.commands.rundramatiq import Command as DramatiqCommand

from viewbait.startup_checks import run_project_checks


class Command(DramatiqCommand):
    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run_project_checks("worker")
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        super().handle(*args, **options)

    def discover_tasks_modules(self) -> list[str]:
        modules: list[str] = super().discover_tasks_modules()
        return ["viewbait.dramatiq_setup" if m == "django_dramatiq.setup" else m for m in modules]
