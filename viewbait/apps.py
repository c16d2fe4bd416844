"""The project package as an app: its start-up guard."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def refuse_repository_key() -> None:
    """Raise ImproperlyConfigured when DEBUG is off and SECRET_KEY is the one this repository
    ships (settings.REPOSITORY_SECRET_KEY): anyone could sign sessions, password-reset links and
    share tokens with it. Runs in every process at django.setup() (web, worker, manage.py)."""
    if not settings.DEBUG and settings.SECRET_KEY == settings.REPOSITORY_SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is the repository's default, which is public. Set SECRET_KEY to a "
            "random value of your own (python -c 'from django.core.management.utils import "
            "get_random_secret_key as k; print(k())'), or run locally with LOCAL_DEV=1 "
            "(`make run` does), which keeps a random key in var/secret_key."
        )


class ViewBaitConfig(AppConfig):
    name = "viewbait"
    verbose_name = "ViewBait"

    def ready(self) -> None:
        from allauth.account.signals import email_changed

        from core.auth import connect_signals
        from viewbait.account_adapter import follow_email_change

        refuse_repository_key()
        connect_signals()
        email_changed.connect(follow_email_change, dispatch_uid="viewbait-follow-email-change")
