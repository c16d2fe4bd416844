"""Users (auth) and their plan and credits (billing.services, so the ledger stays exact)."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth import get_user_model

from billing.models import Plan
from billing.services import adjust_credits, change_plan

PASSWORD = "correct horse battery"


class UserFactory(factory.django.DjangoModelFactory):
    """A creator: `UserFactory(email=..., plan="starter", credits=200)`. `plan` subscribes them
    (active) through billing.services.change_plan; `credits` adds that many on top of the
    sign-up grant through adjust_credits."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"creator{n}@example.com")
    username = factory.SelfAttribute("email")
    password = PASSWORD

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        return model_class._default_manager.create_user(*args, **kwargs)

    @factory.post_generation
    def plan(user: Any, create: bool, slug: str | None, **_: Any) -> None:
        if create and slug:
            change_plan(user=user, plan=Plan.objects.get(slug=slug), status="active")

    @factory.post_generation
    def credits(user: Any, create: bool, amount: int | None, **_: Any) -> None:
        if create and amount:
            adjust_credits(
                user=user, amount=amount, idempotency_key=f"topup:{user.pk}", reason="test"
            )
