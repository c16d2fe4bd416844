"""The project's own system checks at every process start: the web process (viewbait.asgi, in each
gunicorn worker) and the Dramatiq worker (`manage.py rundramatiq`, viewbait's override). Django
runs its checks only in `manage.py check`, `migrate` and `runserver`; gunicorn never does and the
Procfile's worker skips them (`--skip-checks`: Django's whole framework costs about 0.6 CPU
seconds a start), so a web or worker process with, say, a malformed TRUSTED_PROXIES started
anyway and answered 500 on the first sign-in.

Only the checks registered by the project's packages (`PROJECT_PACKAGES`: viewbait.apps'
viewbait.E001-E005 and W001-W003, generation.checks' generation.E001-E003 and W001), the
deploy-only ones included, and none of Django's or other libraries': a fraction of a
millisecond. An Error stops the start (`ImproperlyConfigured` naming every error and its hint);
a Warning is logged. SILENCED_SYSTEM_CHECKS applies as in `manage.py check`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.checks import CheckMessage
from django.core.checks.registry import registry
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

PROJECT_PACKAGES = frozenset({"viewbait", "core", "studio", "generation", "billing"})


def project_checks() -> list[Callable[..., Any]]:
    """The registered check functions (deploy-only ones too) defined in the project's packages,
    in registration order per kind."""
    return [
        check
        for check in registry.get_checks(include_deployment_checks=True)
        if check.__module__.partition(".")[0] in PROJECT_PACKAGES
    ]


def run_project_checks(process: str) -> list[CheckMessage]:
    """Run `project_checks()` for `process` ("web", "worker"; passed to each check as the
    keyword `process`, which `manage.py check` does not pass). Returns the warnings, each logged;
    raises ImproperlyConfigured (its text every error with its id and hint, one per line) when
    any is an Error or Critical."""
    messages = [
        message
        for check in project_checks()
        for message in check(app_configs=None, databases=None, process=process)
        if not message.is_silenced()
    ]
    errors = [message for message in messages if message.is_serious()]
    warnings = [message for message in messages if not message.is_serious()]
    for warning in warnings:
        logger.warning("%s", warning)
    if errors:
        raise ImproperlyConfigured(
            f"The {process} process refuses to start: its settings fail the system checks.\n"
            + "\n".join(str(error) for error in errors)
        )
    return warnings
