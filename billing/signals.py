from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from billing.models import CreditAccount, Plan, Subscription
from billing.services import (
    invalidate_account,
    invalidate_plan_table,
    invalidate_subscription,
    open_new_account,
)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def open_account_for_new_user(
    sender: Any, instance: Any, created: bool, raw: bool, **_: Any
) -> None:
    """Every new user (sign-up, admin, createsuperuser) starts on Free with its monthly credits."""
    if created and not raw:
        open_new_account(user=instance)


@receiver([post_save, post_delete], sender=Plan)
def plan_changed(sender: Any, **_: Any) -> None:
    """A plan edited in the admin (or reseeded) reaches every process's plan table."""
    invalidate_plan_table()


@receiver([post_save, post_delete], sender=Subscription)
@receiver([post_save, post_delete], sender=CreditAccount)
def account_changed(sender: Any, instance: Subscription | CreditAccount, **_: Any) -> None:
    """Every credit movement saves the balance row (or, for `take_credits`, invalidates it
    itself) and every plan change the subscription, so the user's cached summary is invalidated
    whichever path (service, admin) made the change; the cached plan state only by the latter."""
    invalidate_account(instance.user_id)
    if isinstance(instance, Subscription):
        invalidate_subscription(instance.user_id)
