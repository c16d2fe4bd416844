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

import functools
from collections.abc import Callable, Iterable
from typing import Any

from allauth.account.auth_backends import AuthenticationBackend
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.db.models.signals import post_delete, post_save
from django.http import HttpRequest

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


def _user_namespaces(user_id: Any) -> list[str]:
    """The signed-in user's namespace and those registered with `read_with_user`."""
    return [
        user_namespace(user_id),
        *(name for names in _read_with_user for name in names(user_id)),
    ]


def prefetch_with_user(
    namespaces: Callable[[HttpRequest, Any], Iterable[str]],
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """View decorator (outside `login_required`): reads `namespaces(request, user_id)` in the
    signed-in user's own Redis round trip (core.shared_cache.warm), for a page that reads them
    right after the user. The studio page then costs two round trips (the session, then one
    MGET), not three. The user id comes from the session; an anonymous request, or a session
    whose user is gone, reads nothing more (the prefetch only fills the request's memo: the
    user is still checked as Django does)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            raw = request.session.get(SESSION_KEY)
            if raw is not None:
                try:
                    user_id = get_user_model()._meta.pk.to_python(raw)  # type: ignore[union-attr]
                except ValidationError:
                    user_id = None
                if user_id is not None:
                    warm(*_user_namespaces(user_id), *namespaces(request, user_id))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


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
        warm(*_user_namespaces(user_id))
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
