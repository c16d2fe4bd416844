"""allauth's account adapter with the studio's notion of the client address."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest

from core.ratelimits import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        """The caller's address as core.ratelimits.client_ip decides it (X-Forwarded-For
        only from TRUSTED_PROXIES), so allauth's own per-IP limits (failed log-ins, sign-ups)
        key on the same client as the product's. allauth alone would use REMOTE_ADDR, i.e. the
        load balancer's address for every client behind it."""
        return client_ip(request)
