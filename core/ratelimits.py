"""Rate limits that hold across every server process.

One table, `settings.RATE_LIMITS`, names each expensive or abusable route with its limit per plan
and window. Counters live on the dedicated "ratelimit" cache alias (its own Redis database), so
every web process shares them and clearing the general cache never resets them. This module is
the only code that knows the limiter library (django-ratelimit); views use `limit` (a decorator),
`check` or `check_weighted`, and answer refusals with `error_response`.

Windows are fixed, `window` seconds long, each caller's offset by a stable jitter (as
django-ratelimit does). Callers are keyed by user when signed in (routes with `per: "user"`), else
by client IP (`client_ip`). With the limiter's store unreachable, routes with `fail: "closed"`
raise LimiterUnavailable (AI and credit routes: refuse, charge nothing); the others are let
through and the fault is logged (once per interval per route). The store's client has short
timeouts and a circuit breaker (core.redis_faults), so a hung Redis costs milliseconds; it
reconnects by itself, so limits resume as soon as Redis is back, with no restart.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import re
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import engines
from django.utils.html import format_html
from django.utils.module_loading import import_string
from django_ratelimit.core import get_usage

from core.redis_faults import log_throttled

logger = logging.getLogger(__name__)

RATE_PATTERN = re.compile(r"^(\d+)/(\d*)([smhd])$")
PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Counters outlive their window by this much (django-ratelimit's EXPIRATION_FUDGE), so a counter
# never expires while its window is still open.
EXPIRY_SLACK_SECONDS = 5
# What a 503 limiter_unavailable asks the client to wait: Redis faults are usually brief.
UNAVAILABLE_RETRY_AFTER_SECONDS = 5
# IPv6 callers are keyed by their /64: one host controls a whole /64 (django-ratelimit's default).
IPV6_PREFIX = 64

View = Callable[..., HttpResponse]

# The weighted limiter's clock (epoch seconds). Tests stop this one (tests/test_ratelimits.py)
# rather than the process's time.time, which every other thread also reads.
clock: Callable[[], float] = time.time
ResponseT = TypeVar("ResponseT", bound=HttpResponse)


@dataclass(frozen=True)
class Rate:
    """`limit` units per `window` seconds."""

    limit: int
    window: int


def parse_rate(text: str) -> Rate:
    """Parse "count/window": "20/m" -> Rate(20, 60), "5/10m" -> Rate(5, 600). Raises
    ImproperlyConfigured."""
    match = RATE_PATTERN.match(text)
    if match is None or int(match.group(1)) < 1:
        raise ImproperlyConfigured(f"Rate {text!r} is not of the form 'count/window'")
    count, multiple, period = match.groups()
    return Rate(int(count), int(multiple or 1) * PERIOD_SECONDS[period])


@dataclass(frozen=True)
class Policy:
    """One row of settings.RATE_LIMITS."""

    route: str
    per: str  # "user" (user when signed in, else IP) or "ip"
    fail_closed: bool
    unit: str  # "requests", or e.g. "image-units" for weighted routes
    rates: dict[str, Rate]

    def rate_for(self, plan_slug: str | None) -> Rate:
        """The plan's rate, else the "*" row's."""
        if plan_slug is not None and plan_slug in self.rates:
            return self.rates[plan_slug]
        return self.rates["*"]


def policy(route: str) -> Policy:
    """Read `route`'s row from settings.RATE_LIMITS. Raises ImproperlyConfigured if it is missing
    or malformed (every row needs a "*" rate)."""
    row = settings.RATE_LIMITS.get(route)
    if row is None:
        raise ImproperlyConfigured(f"settings.RATE_LIMITS has no {route!r} row")
    rates = {plan: parse_rate(text) for plan, text in row["rates"].items()}
    if "*" not in rates:
        raise ImproperlyConfigured(f"settings.RATE_LIMITS[{route!r}] needs a '*' rate")
    if row.get("per", "user") not in ("user", "ip") or row.get("fail") not in ("open", "closed"):
        raise ImproperlyConfigured(
            f"settings.RATE_LIMITS[{route!r}]: per is 'user' or 'ip', fail 'open' or 'closed'"
        )
    return Policy(
        route=route,
        per=row.get("per", "user"),
        fail_closed=row["fail"] == "closed",
        unit=row.get("unit", "requests"),
        rates=rates,
    )


@dataclass(frozen=True)
class Usage:
    """Where a caller stands in one quota policy after this request: `remaining` units of
    `limit` per `window` seconds, more available in `reset` seconds. Rendered as the IETF
    RateLimit / RateLimit-Policy header items (draft-ietf-httpapi-ratelimit-headers-10)."""

    name: str
    limit: int
    window: int
    remaining: int
    reset: int
    unit: str = "requests"

    def policy_item(self) -> str:
        item = f'"{self.name}";q={self.limit};w={self.window}'
        # The draft's `qu` takes only registered units; ours goes in a vendor parameter.
        return item if self.unit == "requests" else f'{item};viewbait-unit="{self.unit}"'

    def limit_item(self) -> str:
        return f'"{self.name}";r={self.remaining};t={self.reset}'


class RateLimited(Exception):
    """The caller is over a limit: answer 429 with `message`, Retry-After `retry_after` seconds
    and the RateLimit headers of `usages`."""

    def __init__(self, route: str, message: str, retry_after: int, usages: list[Usage]) -> None:
        super().__init__(message)
        self.route = route
        self.message = message
        self.retry_after = max(1, retry_after)
        self.usages = usages


class LimiterUnavailable(Exception):
    """The limiter's store failed on a fail-closed route: answer 503 `limiter_unavailable`."""

    def __init__(self, route: str) -> None:
        super().__init__(f"rate limiter unavailable for {route}")
        self.route = route
        self.message = (
            "We can't check usage limits right now, so this was not started and nothing was "
            "charged. Please try again in a few seconds."
        )


# --- who is calling ---------------------------------------------------------------------------


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _is_trusted_proxy(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(
        address in ipaddress.ip_network(entry, strict=False) for entry in settings.TRUSTED_PROXIES
    )


def client_ip(request: HttpRequest) -> str:
    """The caller's IP address. X-Forwarded-For is read only when the connection comes from one
    of settings.TRUSTED_PROXIES: walking it from the right (the hop our proxy appended), the first
    address that is not a trusted proxy is the client. Anyone else's header is ignored."""
    remote = request.META.get("REMOTE_ADDR", "")
    address = _ip(remote)
    if address is None:
        return remote
    if not _is_trusted_proxy(address):
        return str(address)
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    for hop in reversed(hops):
        hop_address = _ip(hop)
        if hop_address is None:
            break
        address = hop_address
        if not _is_trusted_proxy(hop_address):
            break
    return str(address)


def caller_key(request: HttpRequest, per: str) -> str:
    """The counter key: "user:<id>" for a signed-in caller on a per-user route, else
    "ip:<address>" (an IPv6 caller by its /64)."""
    user = getattr(request, "user", None)
    if per == "user" and user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    ip = client_ip(request)
    address = _ip(ip)
    if isinstance(address, ipaddress.IPv6Address):
        ip = str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False).network_address)
    return f"ip:{ip}"


def plan_slug_for(request: HttpRequest) -> str | None:
    """The slug of the signed-in caller's effective plan, None for anonymous callers. Asked of
    `settings.RATELIMIT_PLAN_SLUG` (a dotted path to `(user) -> str`, billing's
    `plan_slug`): this bottom layer does not import billing."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    plan_slug: Callable[[Any], str] = import_string(settings.RATELIMIT_PLAN_SLUG)
    return plan_slug(user)


# --- checks -----------------------------------------------------------------------------------


def enabled() -> bool:
    return bool(getattr(settings, "RATELIMIT_ENABLE", True))


def _store_failed(pol: Policy, exc: BaseException | None) -> list[Usage]:
    """Refuse (fail-closed route) or let through, logging once per interval per route."""
    verb = "refusing" if pol.fail_closed else "letting"
    log_throttled(
        logger,
        f"ratelimit:{pol.route}",
        f"rate limiter store failed; {verb} %s{'' if pol.fail_closed else ' through'}: %r",
        pol.route,
        exc,
        level=logging.ERROR,
    )
    if pol.fail_closed:
        raise LimiterUnavailable(pol.route) from exc
    return []


def check(request: HttpRequest, route: str, *, plan_slug: str | None) -> list[Usage]:
    """Count this request against `route` at `plan_slug`'s rate (django-ratelimit, fixed window).

    Returns the usage for the RateLimit headers ([] when limits are off, or the store failed on a
    fail-open route). Raises RateLimited past the limit (the N+1th request in a window), or
    LimiterUnavailable when the store fails on a fail-closed route.
    """
    if not enabled():
        return []
    pol = policy(route)
    rate = pol.rate_for(plan_slug)
    caller = caller_key(request, pol.per)
    try:
        usage = get_usage(
            request,
            group=route,
            key=lambda _group, _request: caller,
            rate=(rate.limit, rate.window),
            increment=True,
        )
    except Exception as exc:  # any store fault: the route's fail mode decides
        return _store_failed(pol, exc)
    if usage is None:
        return []
    if usage["limit"] == 0:  # django-ratelimit's sign that the cache neither added nor counted
        return _store_failed(pol, None)
    reset = max(0, int(usage["time_left"]))
    current = Usage(route, rate.limit, rate.window, max(0, rate.limit - usage["count"]), reset)
    if usage["should_limit"]:
        message = f"Too many requests. Try again in {max(1, reset)} s."
        raise RateLimited(route, message, reset, [current])
    return [current]


def _per(window: int) -> str:
    return {1: "second", 60: "minute", 3600: "hour", 86400: "day"}.get(window, f"{window} s")


def window_end(caller: str, window: int, now: float) -> int:
    """When (epoch seconds) `caller`'s current `window`-second window ends. Windows are
    django-ratelimit's: aligned to the epoch plus a per-caller jitter, so not every caller's
    window resets in the same second."""
    ts = int(now)
    end = ts - ts % window + zlib.crc32(caller.encode()) % window
    return end if end >= ts else end + window


def check_weighted(
    request: HttpRequest,
    route: str,
    *,
    plan_slug: str | None,
    cost: int,
    cooldown_seconds: int = 0,
) -> list[Usage]:
    """Draw `cost` units from the caller's budget for `route` (one atomic INCRBY on the shared
    store) and, when `cooldown_seconds` > 0, start a cooldown before the next request.

    A refused request takes nothing from the budget and starts no cooldown. Returns the usages
    for the RateLimit headers; raises RateLimited (over budget, or still cooling down) or
    LimiterUnavailable (store fault on a fail-closed route).
    """
    if not enabled():
        return []
    pol = policy(route)
    rate = pol.rate_for(plan_slug)
    caller = caller_key(request, pol.per)
    cache = caches[settings.RATELIMIT_USE_CACHE]
    prefix = getattr(settings, "RATELIMIT_CACHE_PREFIX", "rl:")
    now = clock()
    usages: list[Usage] = []
    cooldown_key = _cooldown_key(route, caller)
    try:
        if cooldown_seconds > 0:
            if not cache.add(cooldown_key, now + cooldown_seconds, cooldown_seconds):
                until = cache.get(cooldown_key)
                wait = math.ceil(float(until) - now) if until is not None else 1
                held = Usage(f"{route}-cooldown", 1, cooldown_seconds, 0, max(1, wait))
                raise RateLimited(
                    route,
                    f"Your plan allows one request every {cooldown_seconds} s. "
                    f"Try again in {held.reset} s.",
                    held.reset,
                    [held],
                )
            usages.append(Usage(f"{route}-cooldown", 1, cooldown_seconds, 0, cooldown_seconds))
        ends = window_end(caller, rate.window, now)
        budget_key = f"{prefix}{route}:{rate.limit}/{rate.window}s:{ends}:{caller}"
        cache.add(budget_key, 0, rate.window + EXPIRY_SLACK_SECONDS)
        used = cache.incr(budget_key, cost)
        reset = max(0, ends - int(now))
        if used > rate.limit:
            cache.decr(budget_key, cost)
            if cooldown_seconds > 0:
                cache.delete(cooldown_key)
            left = max(0, rate.limit - used + cost)
            raise RateLimited(
                route,
                f"This needs {cost} of your {rate.limit} {pol.unit.replace('-', ' ')} per "
                f"{_per(rate.window)} and {left} are left. Try again in {max(1, reset)} s.",
                reset,
                [Usage(route, rate.limit, rate.window, left, reset, pol.unit)],
            )
        usages.insert(0, Usage(route, rate.limit, rate.window, rate.limit - used, reset, pol.unit))
    except RateLimited:
        raise
    except Exception as exc:  # any store fault: the route's fail mode decides
        return _store_failed(pol, exc)
    return usages


# --- responses --------------------------------------------------------------------------------


def add_headers(
    response: ResponseT, usages: list[Usage], retry_after: int | None = None
) -> ResponseT:
    """Set RateLimit-Policy and RateLimit (when there are usages) and Retry-After (seconds)."""
    if usages:
        response["RateLimit-Policy"] = ", ".join(u.policy_item() for u in usages)
        response["RateLimit"] = ", ".join(u.limit_item() for u in usages)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


_PAGE_TEMPLATE = (
    '{% extends "base.html" %}{% block title %}{{ heading }}{% endblock %}'
    '{% block content %}<section class="panel"><h1>{{ heading }}</h1><p role="alert">'
    "{{ message }}</p></section>{% endblock %}"
)


def error_response(request: HttpRequest, exc: RateLimited | LimiterUnavailable) -> HttpResponse:
    """429 for RateLimited, 503 for LimiterUnavailable, with Retry-After (and, for 429, the
    RateLimit headers). The body is `{"error", "code": "rate_limited" | "limiter_unavailable",
    "retry_after"}` for API callers, a `<p class="error">` fragment for htmx requests, and a
    page for browsers (Accept: text/html)."""
    if isinstance(exc, RateLimited):
        status, code, retry_after, usages = 429, "rate_limited", exc.retry_after, exc.usages
        heading = "Slow down"
    else:
        status, code = 503, "limiter_unavailable"
        retry_after, usages = UNAVAILABLE_RETRY_AFTER_SECONDS, []
        heading = "Try again shortly"
    response: HttpResponse
    if request.headers.get("HX-Request") == "true":
        response = HttpResponse(
            format_html('<p class="error" role="alert">{}</p>', exc.message), status=status
        )
    elif not request.path.startswith("/api/") and "text/html" in request.headers.get("Accept", ""):
        page = engines["django"].from_string(_PAGE_TEMPLATE)
        response = HttpResponse(
            page.render({"heading": heading, "message": exc.message}, request), status=status
        )
    else:
        response = JsonResponse(
            {"error": exc.message, "code": code, "retry_after": retry_after}, status=status
        )
    return add_headers(response, usages, retry_after)


def limit(route: str, *, methods: Iterable[str] = ("POST",)) -> Callable[[View], View]:
    """Decorator: count each `methods` request to the view against `route` at the caller's plan
    rate; over the limit (or with the store down on a fail-closed route) answer with
    `error_response` instead of calling the view. The responses the view returns (not those of
    exceptions it raises) carry the RateLimit headers.
    Place it under the authentication decorator, so anonymous callers are refused first.
    The view gets a `rate_limit_routes` attribute (its routes, innermost first), which
    `functools.wraps` carries up through outer decorators, so the URL table can be audited."""
    counted = {m.upper() for m in methods}

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in counted:
                return view(request, *args, **kwargs)
            try:
                usages = check(request, route, plan_slug=plan_slug_for(request))
            except (RateLimited, LimiterUnavailable) as exc:
                return error_response(request, exc)
            return add_headers(view(request, *args, **kwargs), usages)

        wrapped.__dict__["rate_limit_routes"] = (*getattr(view, "rate_limit_routes", ()), route)
        wrapped.__dict__["rate_limited_methods"] = limited_methods(view) | counted
        return wrapped

    return decorator


def counted_within(*, methods: Iterable[str]) -> Callable[[View], View]:
    """Marks a view whose `methods` requests count against rate limits it checks itself (`check`
    or `check_weighted` on a route known only from the request, e.g. the job type's), so it may
    answer 429 `rate_limited` as a view wrapped in `limit` does. Changes nothing at run time;
    the OpenAPI schema documents the 429 of every method `limited_methods` gives."""

    def mark(view: View) -> View:
        view.__dict__["rate_limited_methods"] = limited_methods(view) | {m.upper() for m in methods}
        return view

    return mark


def limited_methods(view: Any) -> frozenset[str]:
    """The HTTP methods (upper case) whose requests to `view` count against a rate limit: those
    of its `limit` decorators and `counted_within` marks."""
    return frozenset(getattr(view, "rate_limited_methods", ()))


def _cooldown_key(route: str, caller: str) -> str:
    """The shared-store key of `caller`'s cooldown on `route` (value: when it ends, Unix s)."""
    return f"{getattr(settings, 'RATELIMIT_CACHE_PREFIX', 'rl:')}{route}:cooldown:{caller}"


def cooldown_left(request: HttpRequest, route: str) -> int:
    """Whole seconds (rounded up) until the caller's cooldown on `route` ends; 0 when none
    runs, limits are off or the store cannot be read (the next request then finds out). A page
    shows it, so a Generate button is not offered only to be refused (a reload mid-cooldown)."""
    if not enabled():
        return 0
    key = _cooldown_key(route, caller_key(request, policy(route).per))
    try:
        until = caches[settings.RATELIMIT_USE_CACHE].get(key)
    except Exception as exc:  # any store fault: say nothing (logged once per interval)
        log_throttled(
            logger, f"ratelimit:{route}:cooldown", "could not read the %s cooldown: %r", route, exc
        )
        return 0
    if until is None:
        return 0
    return max(0, math.ceil(float(until) - clock()))


def end_cooldown(request: HttpRequest, route: str) -> None:
    """End the caller's cooldown on `route` early (a request refused after `check_weighted` for
    its plan limits or credits created nothing, so it must not make the creator wait). The
    budget drawn by that request stays spent. A store fault is ignored: the cooldown then
    simply runs out on its own."""
    if not enabled():
        return
    key = _cooldown_key(route, caller_key(request, policy(route).per))
    try:
        caches[settings.RATELIMIT_USE_CACHE].delete(key)
    except Exception:  # any store fault: the cooldown expires by itself
        logger.warning("could not end the %s cooldown early", route, exc_info=True)
