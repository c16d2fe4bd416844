"""The signed-in user from the shared cache instead of a database query per request.

Django's AuthenticationMiddleware asks the session's backend for the user (`get_user(user_id)`)
on every signed-in request: a `SELECT ... FROM auth_user WHERE id = %s` and a model instance,
about 0.5 ms of web CPU against PostgreSQL, the largest single cost of a signed-in hello-world
(benchmarks/http_ratios.py --reference-paths). These backends read the user through
core.shared_cache instead (one Redis round trip, namespace `auth:user:<id>`), and every save or
delete of a user invalidates it when its transaction commits (`connect_signals`, called by
viewbait.apps at start-up in every process), so a deactivated account, a changed password (the
session's auth hash) or a deleted user takes effect on the next request.

What the cache holds is the row as loaded (password hash included, as the session check needs it),
on the same Redis that holds the sessions. A write that skips the model's signals
(`QuerySet.update()`, raw SQL) is seen after USER_CACHE_SECONDS at most; nothing in ViewBait writes
users that way. Inside a database transaction, or when Redis fails, the user is read from the
database as Django does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from allauth.account.auth_backends import AuthenticationBackend
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models.signals import post_delete, post_save

from core.shared_cache import cached, invalidate, warm

# Bounds how long a write that bypasses the signals can go unseen; invalidation is immediate.
USER_CACHE_SECONDS = 300


# Other namespaces (`user_id -> [namespace, ...]`) read in the user's round trip: what nearly
# every signed-in request reads next (billing registers the plan and credits of the header).
_read_with_user: list[Callable[[Any], list[str]]] = []


def user_namespace(user_id: Any) -> str:
    return f"auth:user:{user_id}"


def read_with_user(namespaces: Callable[[Any], list[str]]) -> None:
    """Have `namespaces(user_id)` read in the same Redis round trip as the signed-in user
    (core.shared_cache.warm); an app registers it once, in its AppConfig.ready."""
    if namespaces not in _read_with_user:
        _read_with_user.append(namespaces)


def _load(user_id: Any) -> Any:
    """The user with this primary key from the database, or None."""
    model = get_user_model()
    try:
        return model._default_manager.get(pk=user_id)
    except (model.DoesNotExist, ValueError, TypeError):
        return None


class CachedUserMixin:
    """`get_user` through the shared cache; the rest is the backend's own."""

    def get_user(self, user_id: Any) -> Any:
        namespace = user_namespace(user_id)
        warm(namespace, *(name for names in _read_with_user for name in names(user_id)))
        user = cached(namespace, lambda: _load(user_id), timeout=USER_CACHE_SECONDS)
        return user if user is not None and self.user_can_authenticate(user) else None  # type: ignore[attr-defined]


class CachedModelBackend(CachedUserMixin, ModelBackend):
    """Django's ModelBackend (username and password: the admin's log-in)."""


class CachedAuthenticationBackend(CachedUserMixin, AuthenticationBackend):
    """django-allauth's backend (email and password: the creators' log-in)."""


def _user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.pk is not None:
        invalidate(user_namespace(instance.pk))


def connect_signals() -> None:
    """Invalidate a user's cached copy on every save and delete (idempotent)."""
    for signal in (post_save, post_delete):
        signal.connect(_user_changed, sender=settings.AUTH_USER_MODEL, dispatch_uid="core.auth")
