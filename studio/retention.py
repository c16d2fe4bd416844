"""How long a creator's thumbnails are kept follows their plan (PRODUCT.md: Free 30 days, paid
plans forever).

A thumbnail made on a plan with a retention gets `expires_at` (studio.outputs.store_thumbnail),
and `purge_expired_thumbnails` deletes it then. Once the creator is in good standing on a plan
that keeps thumbnails for good (an upgrade from Free, or a past-due subscription paid again), the
thumbnails they already have are kept for good too: a Pro creator whose card failed for a week
paid for Pro's retention all along, and a creator who upgrades expects their library to stay.
The other way, nothing is shortened: a thumbnail made on a paid plan keeps no expiry when its
owner moves to Free.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from billing.models import Subscription
from studio.models import Thumbnail


def do_keep_thumbnails_for_good(*, owner_id: int) -> int:
    """Clear the expiry of every thumbnail of the owner with this id; how many had one. One
    UPDATE, in the caller's transaction (the subscription change that earned it)."""
    return Thumbnail.objects.filter(owner_id=owner_id, expires_at__isnull=False).update(
        expires_at=None
    )


@receiver(post_save, sender=Subscription)
def keep_thumbnails_on_a_plan_that_keeps_them(
    sender: Any, instance: Subscription, raw: bool = False, **_: Any
) -> None:
    """Whatever saved the subscription (Stripe's webhook, `change_plan`, the admin): in good
    standing on a plan without a retention, the owner's thumbnails are kept for good."""
    if raw or instance.status not in Subscription.GOOD_STANDING:
        return
    if instance.plan.retention_days is None:
        do_keep_thumbnails_for_good(owner_id=instance.user_id)
