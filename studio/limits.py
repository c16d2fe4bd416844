"""Rate limits on the generate endpoints (JSON API and the studio's htmx form).

PRODUCT.md's order of checks: authentication, rate limit, plan limits, credits. The request is
validated first (its cost and its idempotent replay depend on the parsed body), then limited here,
then `studio.services.do_generate` checks plan limits and credits.
"""

from __future__ import annotations

from typing import cast

from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest

from billing.models import RESOLUTION_COST
from billing.services import effective_plan
from studio import services
from studio.services import GenerateParams
from viewbait import ratelimits


def generate_cost(params: GenerateParams) -> int:
    """Image units the request draws from the plan's generate budget: 1K = 1, 2K = 2, 4K = 4
    per image, times the variations (the credit prices of PRODUCT.md)."""
    return RESOLUTION_COST[params.resolution] * params.variations


def check_generate_limits(
    request: HttpRequest, *, params: GenerateParams, idempotency_key: str | None
) -> list[ratelimits.Usage]:
    """Count a generate request against the caller's plan: its weighted cost from the plan's
    "generate" budget (settings.RATE_LIMITS) and the plan's cooldown between requests
    (`Plan.generate_cooldown_seconds`). An idempotent replay of an earlier request counts against
    nothing and returns []. Returns the usages for the RateLimit headers.

    Raises ratelimits.RateLimited, ratelimits.LimiterUnavailable, or
    generation.services.IdempotencyKeyReused (the key was used with another body).
    """
    user = cast(AbstractBaseUser, request.user)  # views call this after authentication
    replay = services.replay_generate(user=user, params=params, idempotency_key=idempotency_key)
    if replay is not None:
        return []
    plan = effective_plan(user)
    return ratelimits.check_weighted(
        request,
        "generate",
        plan_slug=plan.slug,
        cost=generate_cost(params),
        cooldown_seconds=plan.generate_cooldown_seconds,
    )
