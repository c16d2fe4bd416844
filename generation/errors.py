"""The one table from a refused job request to its HTTP answer.

Both the JSON API and the studio's htmx views turn any exception the submit pipeline raises into
a `Refusal` with `refusal_for`, and render it their way (`{"error", "code", ...}` JSON, or the
form's error fragment). Anything not in the table is a bug and propagates (a 500 and a log line).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.http import Http404
from rest_framework.exceptions import ValidationError

from billing.services import InsufficientCredits
from core import ratelimits


class JobRefused(Exception):
    """A request refused before anything was charged: `message` for the creator, `code` for
    clients, HTTP `status`, and extra JSON fields."""

    def __init__(self, message: str, code: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.extra = extra


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was already used for a request with a different body."""


class ProviderCircuitOpen(Exception):
    """The model's circuit breaker is open: its recent calls kept failing."""

    def __init__(self, model: str, retry_after: int) -> None:
        super().__init__(model)
        self.model = model
        self.retry_after = retry_after


@dataclass
class Refusal:
    status: int
    code: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict)
    retry_after: int | None = None
    usages: list[ratelimits.Usage] = field(default_factory=list)


def _first_error(detail: Any) -> str:
    if isinstance(detail, dict):
        for name, value in detail.items():
            message = _first_error(value)
            if name == "non_field_errors" or message.startswith(str(name)):
                return message
            # A list field's errors are keyed by the item's index.
            return f"item {name}: {message}" if isinstance(name, int) else f"{name}: {message}"
        return "Invalid request."
    if isinstance(detail, list):
        return _first_error(detail[0]) if detail else "Invalid request."
    return str(detail)


def form_message(refusal: Refusal, labels: Mapping[str, str]) -> str:
    """`refusal.message` as a form shows it, in one error box for the whole form: the field's
    label before the message ("Variations: Ensure this value is less than or equal to 4.")
    unless the message already names it ("Type the thumbnail text to improve.", not "title: Type
    ..."). `labels` maps field names to the labels the form shows; others are spelled out
    ("aspect_ratio" -> "Aspect ratio"). Other refusals as they are."""
    fields = refusal.extra.get("fields") if refusal.code == "invalid" else None
    if not isinstance(fields, dict) or not fields:
        return refusal.message
    name, detail = next(iter(fields.items()))
    text = _first_error(detail)
    if name == "non_field_errors":
        return text
    label = labels.get(str(name)) or str(name).removesuffix("_ids").removesuffix("_id")
    label = label.replace("_", " ").capitalize()
    # "Faces" is named by "The second face you picked ...", as "Faces" itself would be.
    named = label.casefold().removesuffix("s")
    return text if named in text.casefold() else f"{label}: {text}"


def refusal_for(exc: Exception) -> Refusal | None:
    """The answer for a refused request, or None if `exc` is not a refusal (re-raise it)."""
    if isinstance(exc, JobRefused):
        retry_after = exc.extra.get("retry_after")  # e.g. 503 storage_unavailable
        return Refusal(
            exc.status,
            exc.code,
            exc.message,
            dict(exc.extra),
            retry_after=retry_after if isinstance(retry_after, int) else None,
        )
    if isinstance(exc, ValidationError):
        return Refusal(400, "invalid", _first_error(exc.detail), {"fields": exc.detail})
    if isinstance(exc, Http404):
        return Refusal(
            404, "not_found", "Something you picked no longer exists. Reload and try again."
        )
    if isinstance(exc, ratelimits.RateLimited):
        return Refusal(
            429,
            "rate_limited",
            exc.message,
            {"retry_after": exc.retry_after},
            retry_after=exc.retry_after,
            usages=exc.usages,
        )
    if isinstance(exc, ratelimits.LimiterUnavailable):
        retry = ratelimits.UNAVAILABLE_RETRY_AFTER_SECONDS
        return Refusal(
            503, "limiter_unavailable", exc.message, {"retry_after": retry}, retry_after=retry
        )
    if isinstance(exc, InsufficientCredits):
        needed = f"{exc.required} credit{'' if exc.required == 1 else 's'}"
        return Refusal(
            402,
            "insufficient_credits",
            f"This needs {needed}; you have {exc.balance}.",
            {"balance": exc.balance, "required": exc.required},
        )
    if isinstance(exc, IdempotencyKeyReused):
        return Refusal(
            409,
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different request.",
        )
    if isinstance(exc, ProviderCircuitOpen):
        return Refusal(
            503,
            "provider_unavailable",
            "The AI service for this model is failing right now; nothing was charged. "
            "Try again in a minute or pick another model.",
            {"retry_after": exc.retry_after},
            retry_after=exc.retry_after,
        )
    return None
