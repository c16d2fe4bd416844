"""Rate limits on the generate endpoints (JSON API and the studio's htmx form).

PRODUCT.md's order of checks: authentication, rate limit, plan limits, credits. The request is
validated first (its cost and its idempotent replay depend on the parsed body), then `generate`
here limits it and hands it to `studio.services.do_generate` for plan limits and credits.
"""

from __future__ import annotations

from typing import cast

from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest

from billing.models import RESOLUTION_COST
from billing.services import effective_plan
from generation.models import Job
from studio import services
from studio.services import GenerateParams
from viewbait import ratelimits


def generate_cost(params: GenerateParams) -> int:
    """Image units the request draws from the plan's generate budget: 1K = 1, 2K = 2, 4K = 4
    per image, times the variations (the credit prices of PRODUCT.md)."""
    return RESOLUTION_COST[params.resolution] * params.variations


def generate(
    request: HttpRequest, *, params: GenerateParams, idempotency_key: str | None
) -> tuple[Job, bool, list[ratelimits.Usage]]:
    """Generate for the signed-in caller in PRODUCT.md's order: an idempotent replay of an earlier
    request returns its job at once (charged nothing, counted against no limit); otherwise the
    request's weighted cost is drawn from the plan's "generate" budget (settings.RATE_LIMITS) and
    its cooldown (`Plan.generate_cooldown_seconds`) applied, then `studio.services.do_generate`
    checks plan limits and credits. Returns (job, created, usages for the RateLimit headers).

    Raises ratelimits.RateLimited, ratelimits.LimiterUnavailable, and what `do_generate` raises
    (StudioError, InsufficientCredits, IdempotencyKeyReused).
    """
    user = cast(AbstractBaseUser, request.user)  # views call this after authentication
    replay = services.replay_generate(user=user, params=params, idempotency_key=idempotency_key)
    if replay is not None:
        return replay, False, []
    plan = effective_plan(user)
    usages = ratelimits.check_weighted(
        request,
        "generate",
        plan_slug=plan.slug,
        cost=generate_cost(params),
        cooldown_seconds=plan.generate_cooldown_seconds,
    )
    job, created = services.do_generate(user=user, params=params, idempotency_key=idempotency_key)
    return job, created, usages
