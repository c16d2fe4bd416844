"""allauth's account adapter: the studio's notion of the client address, the email as the
name a creator is shown by (sign-in messages, the admin's lists), and ViewBait as the site's
name in the account emails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context
from django.contrib.auth import get_user_model
from django.http import HttpRequest

from core.accounts import username_for_email
from core.ratelimits import client_ip


def user_display(user: Any) -> str:
    """ACCOUNT_USER_DISPLAY: the email a creator signs in with (allauth's messages, the
    admin's lists), else the username."""
    return str(getattr(user, "email", "") or user.get_username())


SITE_NAME = "ViewBait"
LOGGED_IN_MESSAGE = "account/messages/logged_in.txt"


@dataclass(frozen=True)
class EmailSite:
    """What allauth's email templates read as `current_site` (`name`, `domain`)."""

    name: str
    domain: str


class AccountAdapter(DefaultAccountAdapter):
    def format_email_subject(self, subject: str) -> str:
        """ "[ViewBait] Please Confirm Your Email Address": without django.contrib.sites,
        allauth prefixed the request's host ("[127.0.0.1:8000]")."""
        return f"[{SITE_NAME}] {subject}"

    def send_mail(self, template_prefix: str, email: str, context_data: dict[str, Any]) -> None:
        """allauth's, with the site named ViewBait ("Hello from ViewBait!") at the request's
        host (or no host outside a request)."""
        request = context.request
        domain = request.get_host() if request is not None else ""
        super().send_mail(
            template_prefix, email, {"current_site": EmailSite(SITE_NAME, domain), **context_data}
        )

    def add_message(
        self,
        request: HttpRequest,
        level: int,
        message_template: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """allauth's, without "Successfully signed in as ...": a sign-in lands on the studio,
        whose header (Account, the credits) already says who is signed in, and the toast
        floated over the first job's progress card (1440 px) and the top of the form (phone)
        for 8 s; after a sign-up it named the address beside "Confirmation email sent to ..."
        a second time (creator walkthroughs)."""
        if message_template == LOGGED_IN_MESSAGE:
            return
        super().add_message(request, level, message_template, *args, **kwargs)

    def get_client_ip(self, request: HttpRequest) -> str:
        """The caller's address as core.ratelimits.client_ip decides it (X-Forwarded-For
        only from TRUSTED_PROXIES), so allauth's own per-IP limits (failed log-ins, sign-ups)
        key on the same client as the product's. allauth alone would use REMOTE_ADDR, i.e. the
        load balancer's address for every client behind it."""
        return client_ip(request)

    def populate_username(self, request: HttpRequest, user: Any) -> None:
        """The username is the email (`core.accounts.username_for_email`, as `seed_demo`, the
        admin's Add user form and `createsuperuser` make them), so the admin and `str(user)` show
        who it is; allauth would derive "eileen_4904" from it. Falls back to allauth's generated
        name when the email is not a valid username (longer than 150 characters, or characters
        Django's username validator refuses) or is taken."""
        if not user.username:
            user.username = username_for_email((user.email or "").lower())
            if user.username:
                return
        super().populate_username(request, user)


def follow_email_change(
    sender: Any,
    request: HttpRequest,
    user: Any,
    from_email_address: Any,
    to_email_address: Any,
    **kwargs: Any,
) -> None:
    """allauth's `email_changed` (a new primary email): a username that was the old email
    becomes the new one, so `str(user)` and the admin keep showing who it is. Any other
    username (a generated one, a staff name) stays, as does one another user already has."""
    old = (getattr(from_email_address, "email", "") or "").lower()
    new = (to_email_address.email or "").lower()
    if not old or user.username.lower() != old or len(new) > 150:
        return
    model = get_user_model()
    if model._default_manager.filter(username__iexact=new).exclude(pk=user.pk).exists():
        return
    user.username = new
    user.save(update_fields=["username"])  # post_save: the cached user (core.auth) goes too
