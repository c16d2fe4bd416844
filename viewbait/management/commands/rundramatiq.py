"""`manage.py rundramatiq` (django_dramatiq's) that first runs the project's own system checks
(viewbait.startup_checks): the Procfile's worker skips Django's whole check framework
(`--skip-checks`, 0.6 CPU seconds a start), and without this a worker with, say, a retired Gemini
model or TLS and SSL both on for mail started anyway. An Error stops it before the Dramatiq
processes are started (exit status 1, the check's message on stderr); a Warning is logged."""

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
