from __future__ import annotations

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing import signals  # noqa: F401
        from billing.services import account_cache_namespaces
        from core.auth import read_with_user

        read_with_user(account_cache_namespaces)
