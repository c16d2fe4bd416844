"""Types for annotating views and services (checked by mypy with django-stubs).

- `User`: the user model (`settings.AUTH_USER_MODEL`, Django's `auth.User`). Services take
  `user: User`, so the ORM's typed lookups (`Job.objects.filter(user=user)`) check.
- `AuthenticatedHttpRequest`: a request whose `user` is signed in. Annotate a view's `request`
  with it when the view is behind `login_required` (or an API view that answers 401 first);
  django-stubs types `HttpRequest.user` as `User | AnonymousUser`. Where a view serves both, keep
  `HttpRequest` and narrow with `authenticated_user(request)`.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest

__all__ = ["AuthenticatedHttpRequest", "User", "authenticated_user"]


class AuthenticatedHttpRequest(HttpRequest):
    """An `HttpRequest` whose `user` is signed in (django-stubs' documented pattern)."""

    user: User


def authenticated_user(request: HttpRequest) -> User:
    """`request.user`, which the caller has already required to be signed in. Raises
    PermissionError if it is not (a wiring mistake, never a client's)."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise PermissionError("this view needs a signed-in user")
    return user
