"""Billing pages: the plans page, Checkout and Customer Portal redirects, the return from
Checkout, and the Stripe webhook. Thin: parse, call `billing.payments`, render or redirect."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from billing import payments
from billing.models import CreditPack, Subscription
from billing.services import account_summary, effective_plan, plan_table
from core import ratelimits
from core.types import AuthenticatedHttpRequest, User

logger = logging.getLogger(__name__)

_OPERATION_ID = re.compile(r"[0-9a-f]{32}")


def _operation_id(request: HttpRequest) -> str:
    """The form's operation id (a fresh one per page render): the same id twice, a double
    submit, reaches Stripe with the same idempotency key. Anything else gets a new id."""
    value = request.POST.get("operation_id", "")
    return value if _OPERATION_ID.fullmatch(value) else uuid.uuid4().hex


@require_safe
def plans(request: HttpRequest) -> TemplateResponse:
    """The plans as a pricing table; for a signed-in creator also their plan, its status and
    period end, Upgrade / Manage billing buttons and credit packs when payments are on."""
    configured = payments.configured()
    context: dict[str, Any] = {
        "plans": plan_table(),
        "payments": configured,
        "support_email": settings.SUPPORT_EMAIL,
        "current_plan": None,
        "subscription": None,
        "operation_id": uuid.uuid4().hex,
        "checkout_cancelled": request.GET.get("checkout") == "cancelled",
        "packs": [],
    }
    user = request.user if isinstance(request.user, User) else None  # None: signed out
    subscription = (
        Subscription.objects.select_related("plan").filter(user=user).first()
        if user is not None
        else None
    )
    if user is not None and subscription is not None:
        current = effective_plan(user)
        context.update(
            # The plan whose limits apply now; `subscription.plan` the one subscribed to. They
            # differ while a payment is due (or the subscription is paused): the page names
            # both, and the pricing table marks the subscribed plan "your plan".
            current_plan=current,
            subscription=subscription,
            limited=current.slug != subscription.plan.slug,
            payment_due=subscription.status in Subscription.PAYMENT_DUE,
            balance=account_summary(user).balance,
        )
        if configured:
            context["packs"] = list(
                CreditPack.objects.filter(active=True).exclude(stripe_price_id="")
            )
    return TemplateResponse(request, "studio/plans.html", context)


def _go(request: AuthenticatedHttpRequest, start: Any, **kwargs: Any) -> HttpResponse:
    try:
        return redirect(start(user=request.user, operation_id=_operation_id(request), **kwargs))
    except payments.PaymentsNotConfigured:
        messages.error(request, "Online payments are not configured on this studio.")
    except (payments.CheckoutRefused, payments.PaymentProviderError) as exc:
        messages.error(request, str(exc))
    return redirect("plans")


@login_required
@require_POST
@ratelimits.limit("checkout")
def checkout(request: AuthenticatedHttpRequest, plan_slug: str) -> HttpResponse:
    """303 to Stripe Checkout for the plan (or to the Customer Portal for a subscriber)."""
    return _go(request, payments.start_plan_checkout, plan_slug=plan_slug)


@login_required
@require_POST
@ratelimits.limit("checkout")
def buy_pack(request: AuthenticatedHttpRequest, pack_slug: str) -> HttpResponse:
    """303 to Stripe Checkout for one credit pack."""
    return _go(request, payments.start_pack_checkout, pack_slug=pack_slug)


@login_required
@require_POST
@ratelimits.limit("checkout")
def portal(request: AuthenticatedHttpRequest) -> HttpResponse:
    """303 to the Stripe Customer Portal (card, plan change, cancel); with the form's `plan`
    (a plans-page "Switch to X" or "Cancel paid plan"), straight to that change's confirmation.
    A `plan` that cannot be chosen is a 400 `unknown_plan`, and no portal session."""
    try:
        plan = payments.portal_plan(request.POST.get("plan", ""))
    except payments.UnknownPlan as exc:
        return JsonResponse({"error": str(exc), "code": "unknown_plan"}, status=400)
    return _go(request, payments.start_portal, plan=plan)


@login_required
@require_safe
@ratelimits.limit("checkout", methods=("GET", "HEAD"))
def checkout_return(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Stripe's success URL: apply the session now (the webhook may still be on its way) and
    go back to the studio with a message. Another user's session is a 404."""
    try:
        kind = payments.finish_checkout(
            user=request.user, session_id=request.GET.get("session_id", "")[:200]
        )
    except payments.CheckoutRefused as exc:
        raise Http404("Unknown checkout") from exc
    except (payments.PaymentsNotConfigured, payments.PaymentProviderError):
        messages.info(request, "Thanks! Your payment is being confirmed; it shows here shortly.")
        return redirect("studio")
    if kind == "subscription":
        messages.success(
            request, f"Payment received: you are on the {effective_plan(request.user).name} plan."
        )
    elif kind == "payment":
        messages.success(request, "Payment received: your credits were added.")
    else:
        messages.info(request, "Thanks! Your payment is being confirmed; it shows here shortly.")
    return redirect("studio")


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    """POST /stripe/webhook/: 200 once the event is processed (or was already), 400 for a bad
    signature or body (nothing changed), 503 when Stripe could not be read back or the event
    cannot be applied yet (`event_not_applied`); nothing changed, Stripe delivers it again
    later. Stripe sends JSON: another body type is a 400 before the body is read (a multipart
    body was already parsed by the input guard, so `request.body` would no longer be
    readable)."""
    if request.content_type != "application/json":
        return JsonResponse(
            {"error": "Invalid webhook signature or payload.", "code": "bad_webhook"}, status=400
        )
    try:
        payments.handle_webhook(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
    except payments.BadWebhook as exc:
        logger.warning("stripe webhook refused: %s", exc)
        return JsonResponse(
            {"error": "Invalid webhook signature or payload.", "code": "bad_webhook"}, status=400
        )
    except payments.EventNotApplied:
        return JsonResponse(
            {"error": "Event not applied yet; send it again.", "code": "event_not_applied"},
            status=503,
        )
    except (payments.PaymentProviderError, payments.PaymentsNotConfigured):
        return JsonResponse(
            {"error": "Payment service unavailable.", "code": "stripe_unavailable"}, status=503
        )
    return JsonResponse({"received": True})
