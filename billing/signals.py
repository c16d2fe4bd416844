from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from billing.services import open_account


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def open_account_for_new_user(sender: Any, instance: Any, created: bool, raw: bool, **_: Any) -> None:
    """Every new user (sign-up, admin, createsuperuser) starts on Free with its monthly credits."""
    if created and not raw:
        open_account(user=instance)
