"""A stateful fake of the Stripe API, for tests and for `STRIPE_FAKE=1` development.

It speaks what ViewBait's billing code calls through stripe-python (16.x, API version
`2026-10-28.endive`): form-encoded requests with nested `a[b][0]=c` keys, `Bearer` keys,
`Idempotency-Key` replay (the same key with other parameters is an `idempotency_error`), Stripe's
JSON objects and its error shape `{"error": {"type", "code", "message", "param"}}`.

Resources: customers, products, prices, checkout sessions (subscription and payment mode),
billing portal sessions (their `flow_data` deep links checked as Stripe does; the portal page
opens on a plan switch's confirmation or on the cancellation), payment intents and charges (one
per paid payment-mode Checkout and per paid invoice), refunds (`POST /v1/refunds` too) and
disputes, subscriptions (cancelled at once by `DELETE /v1/subscriptions/{id}`; the billing
period lives on the subscription item, as since API version 2025-03-31.basil), invoices (their
subscription under `parent.subscription_details`, same change; an invoice embeds the first 10 of
its lines, with `has_more`, and `GET /v1/invoices/{id}/lines` pages the rest by `limit` and
`starting_after`, as Stripe does; listed by `subscription` and `status`), invoice payments
(`GET /v1/invoice_payments?invoice=`: an invoice's payment intent, as since API version
2025-03-31.basil an invoice names none itself) and events.

What Stripe's hosted pages and clock would do is done by methods a test (or the fake's own HTML
pages) calls: `complete_checkout` (`delayed=True`: a pack paid by bank debit, still processing),
`settle_delayed_payment`, `renew`, `pay_invoice`, `switch_price`, `set_cancel_at_period_end`,
`cancel_now`, and what the dashboard or a bank does: `refund`, `dispute`. Each returns the
events it emitted. The events of an API call (a refund, a cancellation) are recorded, not posted. Events are signed
like Stripe's (`stripe.WebhookSignature`: `t=<unix>,v1=<HMAC-SHA256 of "t.payload">`) by `sign`,
and, when `webhook_url` is set, posted there at once (after the state lock is released, so the
app can call back in while it handles them).

    python tests/fake_stripe.py --port 12111 --webhook-url http://127.0.0.1:8000/stripe/webhook/
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import hashlib
import html
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

API_VERSION = "2026-10-28.endive"
DEFAULT_API_KEY = "sk_test_viewbait_fake"
DEFAULT_WEBHOOK_SECRET = "whsec_viewbait_fake"

Obj = dict[str, Any]


# `flow_data[type]` and `flow_data[after_completion][type]` values Stripe accepts (stripe-python
# 16's SessionCreateParamsFlowData; https://docs.stripe.com/customer-management/portal-deep-links).
FLOW_TYPES = (
    "customer_update",
    "payment_method_update",
    "subscription_cancel",
    "subscription_pause",
    "subscription_update",
    "subscription_update_confirm",
)
AFTER_COMPLETION = ("hosted_confirmation", "portal_homepage", "redirect")
# The flows whose step the fake's portal page opens on (the others show its home).
PAGE_FLOWS = ("subscription_update_confirm", "subscription_cancel")


class StripeError(Exception):
    """An API error answered as Stripe does: HTTP `status` and the `error` object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type, "message": message}}
        if code:
            self.body["error"]["code"] = code
        if param:
            self.body["error"]["param"] = param


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def required(value: Any, param: str) -> Any:
    """`value`, or Stripe's 400 for a missing required parameter `param`."""
    if value is None or value == "" or value == {} or value == []:
        raise StripeError(400, f"Missing required param: {param}.", param=param)
    return value


def _hash(value: Any, param: str) -> Obj:
    """`value` when it is a hash (`a[b]=...`), or Stripe's 400 for a string in its place."""
    if not isinstance(value, dict):
        raise StripeError(400, f"Invalid object: {param} must be a hash.", param=param)
    return value


def parse_form(pairs: list[tuple[str, str]]) -> Obj:
    """Stripe's form encoding back into nested values: `line_items[0][price]=x` ->
    `{"line_items": [{"price": "x"}]}`; `expand[]=a` -> `{"expand": ["a"]}`."""
    root: Obj = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "[]":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        if value and all(k.isdigit() for k in value):
            return [_lists(value[k]) for k in sorted(value, key=int)]
        return {k: _lists(v) for k, v in value.items()}
    return value


def add_month(timestamp: int) -> int:
    """One calendar month later (Jan 31 -> Feb 28/29), as Stripe bills monthly."""
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    month_index = moment.month
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


class FakeStripe:
    """The fake's state and its HTTP server (`start()` / `stop()`, `base_url`)."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
        webhook_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        state_file: Path | None = None,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.state_file = state_file
        self.lock = threading.RLock()
        self.reset()
        if state_file is not None and state_file.exists():
            self._load()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self.base_url = f"http://{host}:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    def reset(self) -> None:
        """Forget every object, event, delivery and recorded request, as a new fake would (the
        server, keys and webhook URL stay): for a fake shared by several tests."""
        with self.lock:
            self.clock_offset = 0
            self.objects: dict[str, dict[str, Obj]] = {
                name: {}
                for name in (
                    "customer",
                    "product",
                    "price",
                    "checkout.session",
                    "billing_portal.session",
                    "subscription",
                    "invoice",
                    "invoice_payment",
                    "payment_intent",
                    "charge",
                    "refund",
                    "dispute",
                    "event",
                )
            }
            self.idempotency: dict[str, tuple[str, int, bytes]] = {}
            self.events: list[Obj] = []  # every event emitted, in order
            self.deliveries: list[tuple[str, int]] = []  # (event id, HTTP status) posted
            # method, path, headers, params
            self.requests: list[tuple[str, str, dict[str, str], Obj]] = []
            self.fail_next: list[StripeError] = []  # answered to the next API requests instead
            # Proration lines of a mid-period price change, by subscription id, waiting for
            # the next renewal invoice (not kept in the state file).
            self.pending_lines: dict[str, list[Obj]] = {}

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> FakeStripe:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # stop()'s shutdown() waits up to one poll interval
            name="fake-stripe",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    # --- helpers ----------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    def _get(self, kind: str, object_id: str, param: str = "id") -> Obj:
        found = self.objects[kind].get(object_id)
        if found is None:
            raise missing(kind.replace("_", " ").split(".")[-1], object_id, param)
        return found

    def _save(self, kind: str, obj: Obj) -> Obj:
        self.objects[kind][obj["id"]] = obj
        return obj

    def _persist(self) -> None:
        if self.state_file is None:
            return
        state = {"objects": self.objects, "events": [e["id"] for e in self.events]}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_file)

    def _load(self) -> None:
        assert self.state_file is not None
        state = json.loads(self.state_file.read_text())
        for kind, objects in state["objects"].items():
            self.objects.setdefault(kind, {}).update(objects)
        self.events = [self.objects["event"][i] for i in state["events"]]

    def _event(self, type: str, obj: Obj, previous: Obj | None = None) -> Obj:
        data: Obj = {"object": json.loads(json.dumps(self._public(obj)))}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {
            "id": self._id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1 if self.webhook_url else 0,
            "request": {"id": None, "idempotency_key": None},
            "type": type,
        }
        self._save("event", event)
        self.events.append(event)
        return event

    def events_of(self, type: str) -> list[Obj]:
        return [e for e in self.events if e["type"] == type]

    # --- webhooks ---------------------------------------------------------------------------
    def sign(self, event: Obj, *, secret: str | None = None) -> tuple[bytes, str]:
        """The webhook body and its `Stripe-Signature` header, as Stripe sends them."""
        payload = json.dumps(event, indent=2)
        header = stripe.WebhookSignature.generate_signature_header(
            payload, secret or self.webhook_secret
        )
        return payload.encode(), header

    def deliver(self, events: list[Obj]) -> list[int]:
        """POST each event to `webhook_url` (signed); the HTTP statuses, in order."""
        statuses = []
        for event in events:
            if not self.webhook_url:
                break
            payload, header = self.sign(event)
            request = urllib.request.Request(
                self.webhook_url,
                data=payload,
                method="POST",
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": header,
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (urllib.error.URLError, TimeoutError):
                status = 0
            self.deliveries.append((event["id"], status))
            statuses.append(status)
        return statuses

    # --- objects ----------------------------------------------------------------------------
    def create_customer(self, params: Obj) -> Obj:
        return self._save(
            "customer",
            {
                "id": self._id("cus"),
                "object": "customer",
                "created": self.now(),
                "email": params.get("email"),
                "name": params.get("name"),
                "metadata": params.get("metadata") or {},
                "livemode": False,
                "deleted": None,
            },
        )

    def create_product(self, params: Obj) -> Obj:
        if not params.get("name"):
            raise StripeError(400, "Missing required param: name.", param="name")
        return self._save(
            "product",
            {
                "id": params.get("id") or self._id("prod"),
                "object": "product",
                "active": True,
                "created": self.now(),
                "name": params["name"],
                "metadata": params.get("metadata") or {},
                "livemode": False,
            },
        )

    def create_price(self, params: Obj) -> Obj:
        product = params.get("product")
        if product is None and "product_data" in params:
            product = self.create_product(params["product_data"])["id"]
        if product is None:
            raise StripeError(400, "Missing required param: product.", param="product")
        self._get("product", product, "product")
        if "unit_amount" not in params:
            raise StripeError(400, "Missing required param: unit_amount.", param="unit_amount")
        recurring = params.get("recurring")
        price = {
            "id": self._id("price"),
            "object": "price",
            "active": True,
            "created": self.now(),
            "currency": params.get("currency", "usd"),
            "lookup_key": params.get("lookup_key"),
            "metadata": params.get("metadata") or {},
            "product": product,
            "recurring": (
                {"interval": recurring.get("interval", "month"), "interval_count": 1}
                if recurring
                else None
            ),
            "type": "recurring" if recurring else "one_time",
            "unit_amount": int(params["unit_amount"]),
            "livemode": False,
        }
        return self._save("price", price)

    def create_checkout_session(self, params: Obj) -> Obj:
        mode = params.get("mode")
        if mode not in ("subscription", "payment"):
            raise StripeError(
                400, "Invalid mode: must be one of payment, subscription", param="mode"
            )
        for required in ("success_url", "line_items"):
            if not params.get(required):
                raise StripeError(400, f"Missing required param: {required}.", param=required)
        customer = params.get("customer")
        if customer:
            self._get("customer", customer, "customer")
        total = 0
        items = []
        for i, item in enumerate(params["line_items"]):
            price = self._get("price", item.get("price", ""), f"line_items[{i}][price]")
            if mode == "subscription" and price["type"] != "recurring":
                raise StripeError(
                    400,
                    "You must provide at least one recurring price in `subscription` mode "
                    "when using prices.",
                    param=f"line_items[{i}][price]",
                )
            if mode == "payment" and price["type"] == "recurring":
                raise StripeError(
                    400,
                    "You specified `payment` mode but passed a recurring price. Either switch "
                    "to `subscription` mode or use only one-time prices.",
                    param=f"line_items[{i}][price]",
                )
            quantity = int(item.get("quantity", 1))
            total += price["unit_amount"] * quantity
            items.append({"price": price["id"], "quantity": quantity})
        session_id = self._id("cs_test")
        return self._save(
            "checkout.session",
            {
                "id": session_id,
                "object": "checkout.session",
                "amount_subtotal": total,
                "amount_total": total,
                "cancel_url": params.get("cancel_url"),
                "client_reference_id": params.get("client_reference_id"),
                "created": self.now(),
                "currency": "usd",
                "customer": customer,
                "customer_email": params.get("customer_email"),
                "expires_at": self.now() + 24 * 3600,
                "invoice": None,
                "livemode": False,
                "metadata": params.get("metadata") or {},
                "mode": mode,
                "payment_intent": None,
                "payment_status": "unpaid",
                "status": "open",
                "subscription": None,
                "success_url": params["success_url"],
                "url": f"{self.base_url}/checkout/{session_id}",
                # Not part of Stripe's object: what the session sells, for complete_checkout.
                "_line_items": items,
                "_subscription_metadata": (params.get("subscription_data") or {}).get("metadata")
                or {},
            },
        )

    def expire_checkout(self, session_id: str) -> Obj:
        """POST /v1/checkout/sessions/{id}/expire: only an open session can be expired."""
        session = self._get("checkout.session", session_id, "session")
        if session["status"] != "open":
            raise StripeError(
                400,
                f'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f'Checkout Session has a status of "{session["status"]}".',
            )
        session["status"] = "expired"
        return session

    def create_portal_session(self, params: Obj) -> Obj:
        customer = params.get("customer")
        if not customer:
            raise StripeError(400, "Missing required param: customer.", param="customer")
        self._get("customer", customer, "customer")
        flow = None
        if "flow_data" in params:
            flow = self._portal_flow(customer, params["flow_data"])
        session_id = self._id("bps")
        return self._save(
            "billing_portal.session",
            {
                "id": session_id,
                "object": "billing_portal.session",
                "created": self.now(),
                "customer": customer,
                "flow": flow,
                "livemode": False,
                "return_url": params.get("return_url"),
                "url": f"{self.base_url}/portal/{session_id}",
                # Not part of Stripe's object: the flow was completed (its page is then the
                # portal's home).
                "_flow_done": False,
            },
        )

    def _portal_flow(self, customer: str, data: Any) -> Obj:
        """`flow_data` checked as Stripe checks it (a 400 `invalid_request_error` naming the
        param), returned as the session's `flow`: `type` one of FLOW_TYPES; a subscription
        flow's own hash with its `subscription` (the customer's, not canceled), and for
        `subscription_update_confirm` exactly one item (`items[0][id]`, an item of that
        subscription; an optional `price`, a recurring one); `after_completion[type]` one of
        AFTER_COMPLETION, `redirect` with its `redirect[return_url]`. The portal page opens on
        the step of a `subscription_update_confirm` or `subscription_cancel` flow."""
        kind = required(_hash(data, "flow_data").get("type"), "flow_data[type]")
        if kind not in FLOW_TYPES:
            raise StripeError(
                400,
                f"Invalid flow_data[type]: must be one of {', '.join(FLOW_TYPES)}",
                param="flow_data[type]",
            )
        flow: Obj = {
            "type": kind,
            "after_completion": {
                "type": "portal_homepage",
                "hosted_confirmation": None,
                "redirect": None,
            },
            **{name: None for name in FLOW_TYPES if name != "payment_method_update"},
        }
        if data.get("after_completion") is not None:
            after = _hash(data["after_completion"], "flow_data[after_completion]")
            param = "flow_data[after_completion][type]"
            done = required(after.get("type"), param)
            if done not in AFTER_COMPLETION:
                raise StripeError(
                    400,
                    f"Invalid {param}: must be one of {', '.join(AFTER_COMPLETION)}",
                    param=param,
                )
            flow["after_completion"]["type"] = done
            if done == "redirect":
                param = "flow_data[after_completion][redirect]"
                redirect = _hash(required(after.get("redirect"), param), param)
                url = required(redirect.get("return_url"), f"{param}[return_url]")
                flow["after_completion"]["redirect"] = {"return_url": url}
        if kind.startswith("subscription_"):
            part = _hash(required(data.get(kind), f"flow_data[{kind}]"), f"flow_data[{kind}]")
            param = f"flow_data[{kind}][subscription]"
            sub = self._ref("subscription", required(part.get("subscription"), param), param)
            if sub["customer"] != customer or sub["status"] == "canceled":
                raise StripeError(
                    400,
                    f"The subscription '{sub['id']}' cannot be managed in this customer's portal.",
                    param=param,
                )
            flow[kind] = {"subscription": sub["id"]}
            if kind == "subscription_cancel":
                flow[kind]["retention"] = None
            if kind == "subscription_update_confirm":
                flow[kind].update(discounts=None, items=self._flow_items(sub, part))
        return flow

    def _flow_items(self, sub: Obj, part: Obj) -> list[Obj]:
        """`subscription_update_confirm[items]`: exactly one, an item of `sub`, its optional
        price a recurring one."""
        param = "flow_data[subscription_update_confirm][items]"
        items = required(part.get("items"), param)
        if not isinstance(items, list) or len(items) != 1:
            raise StripeError(400, "Currently, only up to one item may be specified.", param=param)
        item = _hash(items[0], f"{param}[0]")
        item_id = required(item.get("id"), f"{param}[0][id]")
        if item_id not in [i["id"] for i in sub["items"]["data"]]:
            raise StripeError(
                400,
                f"No such subscription item: '{item_id}'",
                code="resource_missing",
                param=f"{param}[0][id]",
            )
        price_id = item.get("price")
        if price_id is not None:
            price = self._ref("price", price_id, f"{param}[0][price]")
            if not price["recurring"]:
                raise StripeError(
                    400, "The price must be a recurring price.", param=f"{param}[0][price]"
                )
        quantity = item.get("quantity")
        return [
            {
                "id": item_id,
                "price": price_id,
                "quantity": None if quantity is None else int(quantity),
            }
        ]

    def _ref(self, kind: str, object_id: str, param: str) -> Obj:
        """The object a parameter names; Stripe answers 400 `resource_missing` for none."""
        found = self.objects[kind].get(object_id)
        if found is None:
            raise StripeError(
                400, f"No such {kind}: '{object_id}'", code="resource_missing", param=param
            )
        return found

    def _subscription(self, customer: str, price: Obj, metadata: Obj) -> Obj:
        start = self.now()
        sub_id = self._id("sub")
        return self._save(
            "subscription",
            {
                "id": sub_id,
                "object": "subscription",
                "billing_cycle_anchor": start,
                "cancel_at": None,
                "cancel_at_period_end": False,
                "canceled_at": None,
                "created": start,
                "currency": "usd",
                "customer": customer,
                "ended_at": None,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": self._id("si"),
                            "object": "subscription_item",
                            "created": start,
                            "current_period_start": start,
                            "current_period_end": add_month(start),
                            "metadata": {},
                            "price": dict(price),
                            "quantity": 1,
                            "subscription": sub_id,
                        }
                    ],
                    "has_more": False,
                    "total_count": 1,
                    "url": f"/v1/subscription_items?subscription={sub_id}",
                },
                "latest_invoice": None,
                "livemode": False,
                "metadata": dict(metadata),
                "start_date": start,
                "status": "active",
            },
        )

    def _invoice(self, sub: Obj, billing_reason: str, *, paid: bool) -> Obj:
        item = sub["items"]["data"][0]
        amount = item["price"]["unit_amount"] * item["quantity"]
        now = self.now()
        # Stripe lists the pending invoice items (a price change's prorations) before the
        # subscription's line for the new period.
        pending = (
            self.pending_lines.pop(sub["id"], []) if billing_reason == "subscription_cycle" else []
        )
        amount += sum(line["amount"] for line in pending)
        invoice_id = self._id("in")
        lines = [
            *pending,
            {
                "id": self._id("il"),
                "object": "line_item",
                "amount": amount,
                "currency": "usd",
                "description": f"1 x {item['price']['id']}",
                "invoice": invoice_id,
                "period": {
                    "start": item["current_period_start"],
                    "end": item["current_period_end"],
                },
                "pricing": {
                    "type": "price_details",
                    "price_details": {
                        "price": item["price"]["id"],
                        "product": item["price"]["product"],
                    },
                },
                "quantity": item["quantity"],
            },
        ]
        for line in pending:
            line["invoice"] = invoice_id
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "amount_due": amount,
            "amount_paid": amount if paid else 0,
            "amount_remaining": 0 if paid else amount,
            "attempt_count": 1,
            "attempted": True,
            "billing_reason": billing_reason,
            "collection_method": "charge_automatically",
            "created": now,
            "currency": "usd",
            "customer": sub["customer"],
            # Stripe embeds the first page of the lines (10); the rest is listed by the API.
            "lines": self._lines_page(invoice_id, lines, {}),
            "livemode": False,
            "next_payment_attempt": None if paid else now + 3 * 24 * 3600,
            "parent": {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {
                    "metadata": dict(sub["metadata"]),
                    "subscription": sub["id"],
                },
            },
            "period_start": item["current_period_start"],
            "period_end": item["current_period_end"],
            "status": "paid" if paid else "open",
            "status_transitions": {"finalized_at": now, "paid_at": now if paid else None},
        }
        invoice["_lines"] = lines  # not part of Stripe's object: every line, for the API
        # Finalizing makes the invoice's default payment: a payment intent, paid at once or
        # waiting for a retry (`pay_invoice`).
        intent = self._payment_intent(
            sub["customer"], amount, "succeeded" if paid else "requires_payment_method"
        )
        self._invoice_payment(invoice, intent)
        if paid:
            charge = self._charge(sub["customer"], amount, invoice_id, payment_intent=intent)
            invoice["_charge"] = charge["id"]
        sub["latest_invoice"] = invoice["id"]
        return self._save("invoice", invoice)

    def _invoice_payment(self, invoice: Obj, intent: Obj) -> Obj:
        """The invoice's default InvoicePayment (`GET /v1/invoice_payments?invoice=`; since API
        version 2025-03-31.basil an invoice names no payment intent or charge itself): `open`
        until the invoice is paid, then `paid` with `amount_paid`."""
        paid = invoice["status"] == "paid"
        return self._save(
            "invoice_payment",
            {
                "id": self._id("inpay"),
                "object": "invoice_payment",
                "amount_paid": invoice["amount_paid"] if paid else None,
                "amount_requested": invoice["amount_due"],
                "created": self.now(),
                "currency": invoice["currency"],
                "invoice": invoice["id"],
                "is_default": True,
                "livemode": False,
                "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
                "status": "paid" if paid else "open",
                "status_transitions": {
                    "canceled_at": None,
                    "paid_at": invoice["status_transitions"]["paid_at"],
                },
            },
        )

    def _payment_intent(self, customer: str | None, amount: int, status: str) -> Obj:
        return self._save(
            "payment_intent",
            {
                "id": self._id("pi"),
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount if status == "succeeded" else 0,
                "created": self.now(),
                "currency": "usd",
                "customer": customer,
                "last_payment_error": None,
                "latest_charge": None,
                "livemode": False,
                "metadata": {},
                "status": status,
            },
        )

    def _charge(
        self,
        customer: str | None,
        amount: int,
        invoice_id: str | None = None,
        payment_intent: Obj | None = None,
    ) -> Obj:
        """A succeeded card charge of `amount` cents, of `payment_intent` (a new one by default),
        which it marks succeeded (since API version 2025-03-31.basil a charge names no invoice:
        the fake keeps it as `_invoice`)."""
        if payment_intent is None:
            payment_intent = self._payment_intent(customer, amount, "succeeded")
        charge_id = self._id("ch")
        payment_intent.update(status="succeeded", amount_received=amount, latest_charge=charge_id)
        return self._save(
            "charge",
            {
                "id": charge_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": 0,
                "captured": True,
                "created": self.now(),
                "currency": "usd",
                "customer": customer,
                "disputed": False,
                "livemode": False,
                "paid": True,
                "payment_intent": payment_intent["id"],
                "refunded": False,
                "status": "succeeded",
                "_invoice": invoice_id,
            },
        )

    def charge_of(self, *, payment_intent: str | None = None, invoice: str | None = None) -> Obj:
        """The charge of a payment intent (a pack's Checkout) or of a paid invoice."""
        with self.lock:
            for charge in self.objects["charge"].values():
                if (payment_intent and charge["payment_intent"] == payment_intent) or (
                    invoice and charge["_invoice"] == invoice
                ):
                    return charge
        raise missing("charge", payment_intent or invoice or "")

    def refund(
        self, charge_id: str, amount: int | None = None, *, deliver: bool = True
    ) -> list[Obj]:
        """Refund `amount` cents of a charge (default: what is left), as the dashboard does:
        refund.created, then charge.refunded with the charge's new `amount_refunded` (the
        charge's `refunds` list is not included, as since API version 2022-11-15)."""

        def action() -> list[Obj]:
            return self._refund(self._get("charge", charge_id, "charge"), amount)[1]

        return self._run(action, deliver)

    def _refund(
        self, charge: Obj, amount: int | None, reason: str = "requested_by_customer", **extra: Any
    ) -> tuple[Obj, list[Obj]]:
        """Refund `amount` cents of `charge` (default: what is left): the refund and its
        events, refund.created then charge.refunded."""
        left = charge["amount"] - charge["amount_refunded"]
        if left == 0:
            raise StripeError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        value = left if amount is None else amount
        if not 0 < value <= left:
            raise StripeError(
                400,
                f"Refund amount ({value}) is greater than unrefunded amount on charge ({left})",
                param="amount",
            )
        refund = self._save(
            "refund",
            {
                "id": self._id("re"),
                "object": "refund",
                "amount": value,
                "charge": charge["id"],
                "created": self.now(),
                "currency": "usd",
                "metadata": extra.get("metadata") or {},
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "status": "succeeded",
            },
        )
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": False}
        charge["amount_refunded"] += value
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        events = [
            self._event("refund.created", refund),
            self._event("charge.refunded", charge, previous),
        ]
        return refund, events

    def create_refund(self, params: Obj) -> Obj:
        """POST /v1/refunds: a refund of a `charge`, or of a `payment_intent`'s charge (one of
        the two; the payment must have succeeded), `amount` cents (default: what is left)."""
        if params.get("charge") and params.get("payment_intent"):
            raise StripeError(
                400, "You cannot specify both `charge` and `payment_intent`.", param="charge"
            )
        if params.get("payment_intent"):
            intent = self._ref("payment_intent", params["payment_intent"], "payment_intent")
            if intent["status"] != "succeeded" or not intent["latest_charge"]:
                raise StripeError(
                    400,
                    f"This PaymentIntent ({intent['id']}) does not have a successful charge to "
                    "refund.",
                    code="charge_not_refundable",
                    param="payment_intent",
                )
            charge = self._get("charge", intent["latest_charge"], "payment_intent")
        else:
            charge = self._ref("charge", required(params.get("charge"), "charge"), "charge")
        reason = params.get("reason") or "requested_by_customer"
        if reason not in ("duplicate", "fraudulent", "requested_by_customer"):
            raise StripeError(400, f"Invalid reason: {reason}", param="reason")
        amount = int(params["amount"]) if "amount" in params else None
        refund, _ = self._refund(charge, amount, reason, metadata=params.get("metadata"))
        return refund

    def cancel_subscription(self, subscription_id: str) -> Obj:
        """DELETE /v1/subscriptions/{id}: the subscription ends at once (status `canceled`,
        customer.subscription.deleted). An ended one is no longer found, as Stripe answers."""
        sub = self.objects["subscription"].get(subscription_id)
        if sub is None or sub["status"] in ("canceled", "incomplete_expired"):
            raise missing("subscription", subscription_id)
        self._end(sub, at=self.now())
        return sub

    def fail_refund(
        self,
        refund_id: str,
        reason: str = "expired_or_canceled_card",
        *,
        deliver: bool = True,
        canceled: bool = False,
    ) -> list[Obj]:
        """A refund the card network turned down after it was made (a closed or lost card):
        its status becomes `failed` with `failure_reason`, the money goes back to the merchant
        (the charge's `amount_refunded` less it), and Stripe sends refund.updated,
        charge.refund.updated and refund.failed. With `canceled`, a refund cancelled before it
        went out: status `canceled`, and no refund.failed."""

        def action() -> list[Obj]:
            refund = self._get("refund", refund_id, "refund")
            if refund["status"] not in ("pending", "succeeded", "requires_action"):
                raise StripeError(400, f"Refund {refund_id} is {refund['status']}", param="refund")
            previous = {"status": refund["status"]}
            refund["status"] = "canceled" if canceled else "failed"
            if not canceled:
                refund["failure_reason"] = reason
            charge = self._get("charge", refund["charge"], "charge")
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = False
            events = [
                self._event("refund.updated", refund, previous),
                self._event("charge.refund.updated", refund, previous),
            ]
            return events if canceled else [*events, self._event("refund.failed", refund)]

        return self._run(action, deliver)

    def dispute(
        self, charge_id: str, *, won: bool = False, amount: int | None = None, deliver: bool = True
    ) -> list[Obj]:
        """The cardholder disputes a charge (`amount` cents, default what is not refunded) and the
        bank decides: charge.dispute.created, then charge.dispute.closed with status `won` or
        `lost`."""

        def action() -> list[Obj]:
            charge = self._get("charge", charge_id, "charge")
            charge["disputed"] = True
            dispute = self._save(
                "dispute",
                {
                    "id": self._id("dp"),
                    "object": "dispute",
                    "amount": (
                        charge["amount"] - charge["amount_refunded"] if amount is None else amount
                    ),
                    "charge": charge["id"],
                    "created": self.now(),
                    "currency": "usd",
                    "livemode": False,
                    "metadata": {},
                    "payment_intent": charge["payment_intent"],
                    "reason": "fraudulent",
                    "status": "needs_response",
                },
            )
            events = [self._event("charge.dispute.created", dispute)]
            previous = {"status": dispute["status"]}
            dispute["status"] = "won" if won else "lost"
            events.append(self._event("charge.dispute.closed", dispute, previous))
            return events

        return self._run(action, deliver)

    def _lines_page(self, invoice_id: str, lines: list[Obj], params: Obj) -> Obj:
        """One page of an invoice's lines, as GET /v1/invoices/{id}/lines answers: `limit`
        lines (default 10, 1-100) after the line `starting_after` names."""
        try:
            limit = int(params.get("limit", 10))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise StripeError(
                400,
                "This value must be greater than or equal to 1 and less than or equal to 100.",
                param="limit",
            )
        start = 0
        after = params.get("starting_after")
        if after is not None:
            ids = [line["id"] for line in lines]
            if after not in ids:
                raise missing("invoice line item", after, "starting_after")
            start = ids.index(after) + 1
        return {
            "object": "list",
            "data": lines[start : start + limit],
            "has_more": start + limit < len(lines),
            "total_count": len(lines),
            "url": f"/v1/invoices/{invoice_id}/lines",
        }

    # --- what Stripe's pages and clock do -----------------------------------------------------
    def _run(self, action: Callable[[], list[Obj]], deliver: bool) -> list[Obj]:
        with self.lock:
            events = action()
            self._persist()
        if deliver:
            self.deliver(events)
        return events

    def complete_checkout(
        self, session_id: str, *, deliver: bool = True, delayed: bool = False
    ) -> list[Obj]:
        """The customer pays on the hosted page. Subscription mode: a subscription and its first
        invoice (paid); events in Stripe's usual order: customer.subscription.created,
        invoice.paid, checkout.session.completed. Payment mode: checkout.session.completed;
        with `delayed` (a bank debit) the session completes `unpaid`, its payment intent
        `processing` with no charge yet, until `settle_delayed_payment`."""

        def action() -> list[Obj]:
            session = self._get("checkout.session", session_id)
            if session["status"] != "open":
                raise StripeError(400, "This Checkout Session is no longer active.")
            if delayed and session["mode"] == "payment":
                intent = self._payment_intent(
                    session["customer"], session["amount_total"], "processing"
                )
                session.update(
                    status="complete", payment_status="unpaid", payment_intent=intent["id"]
                )
                return [self._event("checkout.session.completed", self._public(session))]
            session.update(status="complete", payment_status="paid")
            events = []
            if session["mode"] == "subscription":
                customer = session["customer"] or self.create_customer({})["id"]
                price = self._get("price", session["_line_items"][0]["price"])
                sub = self._subscription(customer, price, session["_subscription_metadata"])
                invoice = self._invoice(sub, "subscription_create", paid=True)
                session.update(customer=customer, subscription=sub["id"], invoice=invoice["id"])
                events.append(self._event("customer.subscription.created", sub))
                events.append(self._event("invoice.paid", invoice))
            else:
                charge = self._charge(session["customer"], session["amount_total"])
                session["payment_intent"] = charge["payment_intent"]
            events.append(self._event("checkout.session.completed", self._public(session)))
            return events

        return self._run(action, deliver)

    def settle_delayed_payment(
        self, session_id: str, *, succeed: bool = True, deliver: bool = True
    ) -> list[Obj]:
        """The bank debit of a `delayed` Checkout lands (the payment intent succeeds with a
        charge, the session is `paid`: checkout.session.async_payment_succeeded) or fails (the
        payment intent wants another payment method: checkout.session.async_payment_failed)."""

        def action() -> list[Obj]:
            session = self._get("checkout.session", session_id)
            intent = self._get("payment_intent", session["payment_intent"] or "")
            if intent["status"] != "processing":
                raise StripeError(400, f"PaymentIntent {intent['id']} is {intent['status']}")
            if not succeed:
                intent.update(
                    status="requires_payment_method",
                    last_payment_error={"code": "payment_method_provider_decline"},
                )
                return [self._event("checkout.session.async_payment_failed", self._public(session))]
            self._charge(session["customer"], session["amount_total"], payment_intent=intent)
            session["payment_status"] = "paid"
            return [self._event("checkout.session.async_payment_succeeded", self._public(session))]

        return self._run(action, deliver)

    def renew(self, subscription_id: str, *, pay: bool = True, deliver: bool = True) -> list[Obj]:
        """The period ends. Cancelling at period end: the subscription ends
        (customer.subscription.deleted). Otherwise the next period starts with a
        subscription_cycle invoice, paid (invoice.paid) or failed (status past_due,
        invoice.payment_failed)."""

        def action() -> list[Obj]:
            sub = self._get("subscription", subscription_id)
            item = sub["items"]["data"][0]
            if sub["cancel_at_period_end"]:
                return self._end(sub, at=item["current_period_end"])
            previous = {
                "items": {
                    "data": [
                        {
                            "current_period_start": item["current_period_start"],
                            "current_period_end": item["current_period_end"],
                        }
                    ]
                }
            }
            item["current_period_start"] = item["current_period_end"]
            item["current_period_end"] = add_month(item["current_period_start"])
            invoice = self._invoice(sub, "subscription_cycle", paid=pay)
            if not pay:
                previous["status"] = sub["status"]
                sub["status"] = "past_due"
            events = [self._event("customer.subscription.updated", sub, previous)]
            events.append(self._event("invoice.paid" if pay else "invoice.payment_failed", invoice))
            return events

        return self._run(action, deliver)

    def pay_invoice(self, invoice_id: str, *, deliver: bool = True) -> list[Obj]:
        """A retry (or a new card) pays an open invoice; a past-due subscription is active again."""

        def action() -> list[Obj]:
            invoice = self._get("invoice", invoice_id)
            now = self.now()
            invoice.update(
                status="paid",
                amount_paid=invoice["amount_due"],
                amount_remaining=0,
                next_payment_attempt=None,
            )
            invoice["status_transitions"]["paid_at"] = now
            for payment in self.objects["invoice_payment"].values():
                if payment["invoice"] == invoice["id"] and payment["status"] == "open":
                    payment.update(status="paid", amount_paid=invoice["amount_paid"])
                    payment["status_transitions"]["paid_at"] = now
                    intent = self._get("payment_intent", payment["payment"]["payment_intent"])
                    charge = self._charge(
                        invoice["customer"], invoice["amount_paid"], invoice["id"], intent
                    )
                    invoice["_charge"] = charge["id"]
            events = [self._event("invoice.paid", invoice)]
            sub_id = invoice["parent"]["subscription_details"]["subscription"]
            sub = self._get("subscription", sub_id)
            if sub["status"] in ("past_due", "unpaid"):
                previous = {"status": sub["status"]}
                sub["status"] = "active"
                events.append(self._event("customer.subscription.updated", sub, previous))
            return events

        return self._run(action, deliver)

    def switch_price(
        self, subscription_id: str, price_id: str, *, deliver: bool = True
    ) -> list[Obj]:
        """A plan change in the portal: same period, new price (prorations go on the next
        invoice, Stripe's default)."""

        def action() -> list[Obj]:
            sub = self._get("subscription", subscription_id)
            price = self._get("price", price_id)
            item = sub["items"]["data"][0]
            previous = {"items": {"data": [{"price": dict(item["price"])}]}}
            now, end = self.now(), item["current_period_end"]
            share = (end - now) / max(1, end - item["current_period_start"])
            self.pending_lines.setdefault(sub["id"], []).extend(
                [
                    self._proration_line(sub, item, item["price"], share, now, "Unused time on"),
                    self._proration_line(sub, item, price, share, now, "Remaining time on"),
                ]
            )
            item["price"] = dict(price)
            return [self._event("customer.subscription.updated", sub, previous)]

        return self._run(action, deliver)

    def _proration_line(
        self, sub: Obj, item: Obj, price: Obj, share: float, start: int, words: str
    ) -> Obj:
        """A proration line of a price change at `start`: credit for the unused time of the
        old price ("Unused time on"), charge for the remaining time of the new one."""
        sign = -1 if words.startswith("Unused") else 1
        return {
            "id": self._id("il"),
            "object": "line_item",
            "amount": sign * round(price["unit_amount"] * item["quantity"] * share),
            "currency": "usd",
            "description": f"{words} {price['id']}",
            "parent": {
                "type": "subscription_item_details",
                "subscription_item_details": {
                    "proration": True,
                    "subscription": sub["id"],
                    "subscription_item": item["id"],
                },
            },
            "period": {"start": start, "end": item["current_period_end"]},
            "quantity": item["quantity"],
        }

    def set_cancel_at_period_end(
        self, subscription_id: str, cancel: bool = True, *, deliver: bool = True
    ) -> list[Obj]:
        """Cancel (or resume) in the portal: the subscription stays active to the period end."""

        def action() -> list[Obj]:
            sub = self._get("subscription", subscription_id)
            previous = {"cancel_at_period_end": sub["cancel_at_period_end"]}
            item = sub["items"]["data"][0]
            sub.update(
                cancel_at_period_end=cancel,
                cancel_at=item["current_period_end"] if cancel else None,
                canceled_at=self.now() if cancel else None,
            )
            return [self._event("customer.subscription.updated", sub, previous)]

        return self._run(action, deliver)

    def cancel_now(self, subscription_id: str, *, deliver: bool = True) -> list[Obj]:
        """Cancel at once (e.g. after the last failed retry): customer.subscription.deleted."""

        def action() -> list[Obj]:
            return self._end(self._get("subscription", subscription_id), at=self.now())

        return self._run(action, deliver)

    def _end(self, sub: Obj, *, at: int) -> list[Obj]:
        sub.update(status="canceled", ended_at=at, canceled_at=sub["canceled_at"] or at)
        return [self._event("customer.subscription.deleted", sub)]

    @staticmethod
    def _public(obj: Obj) -> Obj:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    # --- HTTP API -----------------------------------------------------------------------------
    def api(self, method: str, path: str, params: Obj) -> Obj:
        """One `/v1` request against the state (under the lock); raises StripeError."""
        if self.fail_next:
            raise self.fail_next.pop(0)
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        if method == "POST":
            creators = {
                ("customers",): self.create_customer,
                ("products",): self.create_product,
                ("prices",): self.create_price,
                ("checkout", "sessions"): self.create_checkout_session,
                ("billing_portal", "sessions"): self.create_portal_session,
                ("refunds",): self.create_refund,
            }
            create = creators.get(tuple(parts))
            if create is not None:
                return self._public(create(params))
            if len(parts) == 4 and parts[:2] == ["checkout", "sessions"] and parts[3] == "expire":
                return self._public(self.expire_checkout(parts[2]))
        if method == "DELETE" and len(parts) == 2 and parts[0] == "subscriptions":
            return self._public(self.cancel_subscription(parts[1]))
        if method == "GET":
            kinds = {
                "customers": "customer",
                "products": "product",
                "prices": "price",
                "subscriptions": "subscription",
                "invoices": "invoice",
                "invoice_payments": "invoice_payment",
                "payment_intents": "payment_intent",
                "charges": "charge",
                "refunds": "refund",
                "disputes": "dispute",
                "events": "event",
            }
            if len(parts) == 2 and parts[0] in kinds:
                return self._public(self._get(kinds[parts[0]], parts[1]))
            if len(parts) == 3 and parts[0] == "invoices" and parts[2] == "lines":
                invoice = self._get("invoice", parts[1], "invoice")
                lines = invoice.get("_lines", invoice["lines"]["data"])  # an older state file
                return self._lines_page(invoice["id"], lines, params)
            if parts == ["checkout", "sessions", parts[-1]] and len(parts) == 3:
                return self._public(self._get("checkout.session", parts[2]))
            if len(parts) == 1 and parts[0] in kinds:
                return self._list(parts[0], kinds[parts[0]], params)
            if parts == ["checkout", "sessions"]:
                return self._list("checkout/sessions", "checkout.session", params)
        raise StripeError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
            "or we can help at https://support.stripe.com/.",
        )

    def _list(self, name: str, kind: str, params: Obj) -> Obj:
        rows = list(self.objects[kind].values())
        for field in ("customer", "charge", "payment_intent", "invoice"):
            if field in params:
                rows = [r for r in rows if r.get(field) == params[field]]
        if kind == "invoice" and "subscription" in params:
            rows = [
                r
                for r in rows
                if (r.get("parent") or {}).get("subscription_details", {}).get("subscription")
                == params["subscription"]
            ]
        if kind == "subscription":
            status = params.get("status")
            if status is None:
                rows = [r for r in rows if r["status"] != "canceled"]
            elif status != "all":
                rows = [r for r in rows if r["status"] == status]
        elif "status" in params:  # checkout sessions: open, complete or expired
            rows = [r for r in rows if r.get("status") == params["status"]]
        created = params.get("created")
        if isinstance(created, dict):  # created[gte]=... and the like
            ops = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
            for op, bound in created.items():
                if op not in ops:
                    raise StripeError(400, f"Received unknown parameter: created[{op}]")
                rows = [r for r in rows if ops[op](r["created"], int(bound))]
        elif created is not None:
            rows = [r for r in rows if r["created"] == int(created)]
        if kind == "price" and "lookup_keys" in params:
            rows = [r for r in rows if r.get("lookup_key") in params["lookup_keys"]]
        if kind == "event" and "type" in params:
            rows = [r for r in rows if r["type"] == params["type"]]
        rows.reverse()  # newest first, also within one second (a stable sort keeps them so)
        rows.sort(key=lambda r: r.get("created", 0), reverse=True)
        if "starting_after" in params:  # the next page, as the SDK's auto-paging asks
            ids = [r["id"] for r in rows]
            if params["starting_after"] not in ids:
                raise missing(kind, params["starting_after"], "starting_after")
            rows = rows[ids.index(params["starting_after"]) + 1 :]
        limit = int(params.get("limit", 10))
        return {
            "object": "list",
            "data": [self._public(r) for r in rows[:limit]],
            "has_more": len(rows) > limit,
            "url": f"/v1/{name}",
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY: headers and body go out as two writes, and with Nagle's algorithm the
            # body waited for the client's delayed ACK (about 40 ms a response on Linux).
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_DELETE(self) -> None:
                self._dispatch("DELETE")

            def _dispatch(self, method: str) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                if url.path.startswith("/v1/"):
                    self._api(method, url.path, url.query, body)
                else:
                    self._page(method, url.path, parse_form(parse_qsl(body)))

            def _api(self, method: str, path: str, query: str, body: str) -> None:
                pairs = parse_qsl(query, keep_blank_values=True)
                pairs += parse_qsl(body, keep_blank_values=True)
                params = parse_form(pairs)
                key = self.headers.get("Idempotency-Key")
                headers = {k.lower(): v for k, v in self.headers.items()}
                fingerprint = hashlib.sha256(f"{method} {path} {body}".encode()).hexdigest()
                with fake.lock:
                    fake.requests.append((method, path, headers, params))
                    auth = self.headers.get("Authorization", "")
                    if auth != f"Bearer {fake.api_key}":
                        shown = auth.removeprefix("Bearer ")[:12]
                        error = StripeError(401, f"Invalid API Key provided: {shown}***")
                        return self._json(error.status, error.body)
                    if method == "POST" and key and key in fake.idempotency:
                        seen, status, raw = fake.idempotency[key]
                        if seen != fingerprint:
                            error = StripeError(
                                400,
                                "Keys for idempotent requests can only be used with the same "
                                "parameters they were first used with. Try using a key other "
                                f"than '{key}' if you meant to execute a different request.",
                                type="idempotency_error",
                            )
                            return self._json(error.status, error.body)
                        return self._raw(status, raw, replayed=True)
                    try:
                        status, answer = 200, fake.api(method, path, params)
                    except StripeError as exc:
                        status, answer = exc.status, exc.body
                    raw = json.dumps(answer, indent=2).encode()
                    if method == "POST" and key and status < 500:
                        fake.idempotency[key] = (fingerprint, status, raw)
                    if method == "POST" and status == 200:
                        fake._persist()
                return self._raw(status, raw)

            def _json(self, status: int, body: Obj) -> None:
                self._raw(status, json.dumps(body).encode())

            def _raw(self, status: int, raw: bytes, replayed: bool = False) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
                self.send_header("Stripe-Version", API_VERSION)
                if replayed:
                    self.send_header("Idempotent-Replayed", "true")
                self.end_headers()
                self.wfile.write(raw)

            def _page(self, method: str, path: str, form: Obj) -> None:
                try:
                    fake._pages(self, method, path, form)
                except StripeError as exc:
                    self._html(exc.status, f"<h1>{html.escape(str(exc))}</h1>")

            def _html(self, status: int, body: str) -> None:
                raw = PAGE.format(body=body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def redirect(self, location: str) -> None:
                self.send_response(303)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler

    # --- hosted pages (Checkout and the Customer Portal) ---------------------------------------
    def _pages(self, handler: Any, method: str, path: str, form: Obj) -> None:
        parts = path.strip("/").split("/")
        if parts[0] == "checkout" and len(parts) >= 2:
            with self.lock:
                session = self._get("checkout.session", parts[1])
            if method == "POST" and parts[2:] == ["pay"]:
                self.complete_checkout(session["id"])
                target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
                return handler.redirect(target)
            return handler._html(200, self._checkout_page(session))
        if parts[0] == "portal" and len(parts) >= 2:
            with self.lock:
                portal = self._get("billing_portal.session", parts[1])
                subs = [
                    s
                    for s in self.objects["subscription"].values()
                    if s["customer"] == portal["customer"] and s["status"] != "canceled"
                ]
            flow = portal.get("flow") or {}
            if flow.get("type") in PAGE_FLOWS and not portal.get("_flow_done"):
                if method == "POST" and parts[2:] == ["confirm"]:
                    return self._complete_flow(handler, portal)
                with self.lock:
                    page = self._flow_page(portal)
                return handler._html(200, page)
            if method == "POST" and subs:
                sub = subs[0]
                action = parts[2] if len(parts) > 2 else ""
                if action == "switch":
                    self.switch_price(sub["id"], form["price"])
                elif action == "cancel":
                    self.set_cancel_at_period_end(sub["id"], True)
                elif action == "resume":
                    self.set_cancel_at_period_end(sub["id"], False)
                elif action == "pay" and sub["latest_invoice"]:
                    self.pay_invoice(sub["latest_invoice"])
                return handler.redirect(f"/portal/{portal['id']}")
            return handler._html(200, self._portal_page(portal, subs))
        raise StripeError(404, "Not found")

    def _complete_flow(self, handler: Any, portal: Obj) -> None:
        """The customer confirms a flow's step: the plan switch (`switch_price`, the flow's
        price) or the cancellation at the period end (`set_cancel_at_period_end`), webhooks
        sent; then `after_completion`: the redirect, a confirmation page, or the portal's
        home. A flow is completed once; its page is the portal's home afterwards."""
        flow = portal["flow"]
        step = flow[flow["type"]]
        with self.lock:
            sub = self._get("subscription", step["subscription"])
            if portal["_flow_done"] or sub["status"] == "canceled":
                return handler.redirect(f"/portal/{portal['id']}")
            portal["_flow_done"] = True
        if flow["type"] == "subscription_update_confirm":
            item = step["items"][0]
            current = next(i for i in sub["items"]["data"] if i["id"] == item["id"])
            self.switch_price(sub["id"], item["price"] or current["price"]["id"])
        else:
            self.set_cancel_at_period_end(sub["id"], True)
        after = flow["after_completion"]
        if after["type"] == "redirect":
            return handler.redirect(after["redirect"]["return_url"])
        if after["type"] == "hosted_confirmation":
            back = html.escape(portal["return_url"] or "/")
            return handler._html(
                200, f'<h1>Done</h1><p><a href="{back}">Return to ViewBait</a></p>'
            )
        return handler.redirect(f"/portal/{portal['id']}")

    def _flow_page(self, portal: Obj) -> str:
        """A flow's one step, as Stripe's portal shows it (no way to the rest of the portal):
        the switch to the flow's price with a Confirm button, or the cancellation with a
        Cancel plan button."""
        flow = portal["flow"]
        step = flow[flow["type"]]
        sub = self._get("subscription", step["subscription"])
        item = sub["items"]["data"][0]
        back = f'<p><a href="{html.escape(portal["return_url"] or "/")}">Go back</a></p>'
        action = f"/portal/{portal['id']}/confirm"
        if flow["type"] == "subscription_cancel":
            ends = dt.datetime.fromtimestamp(item["current_period_end"], dt.UTC).date()
            return (
                f"<h1>Cancel your plan</h1><p>{html.escape(self._price_name(item['price']))} "
                f"stays until {ends}, then it ends.</p>"
                f'<form method="post" action="{action}"><button>Cancel plan</button></form>{back}'
            )
        wanted = next(i for i in step["items"] if i["id"] == item["id"])
        price = self._get("price", wanted["price"] or item["price"]["id"])
        return (
            f"<h1>Confirm your update</h1><p>Current plan: "
            f"{html.escape(self._price_name(item['price']))}</p>"
            f'<p id="new-plan">New plan: {html.escape(self._price_name(price))}, '
            f"${price['unit_amount'] / 100:.2f} / month</p>"
            f'<form method="post" action="{action}"><button>Confirm</button></form>{back}'
        )

    def _price_name(self, price: Obj) -> str:
        return str(self.objects["product"].get(price["product"], {}).get("name", price["id"]))

    def _checkout_page(self, session: Obj) -> str:
        lines = []
        for item in session["_line_items"]:
            price = self.objects["price"][item["price"]]
            product = self.objects["product"].get(price["product"], {})
            every = " / month" if price["recurring"] else ""
            lines.append(
                f"<li>{html.escape(product.get('name', price['id']))}: "
                f"${price['unit_amount'] / 100:.2f}{every}</li>"
            )
        if session["status"] != "open":
            return "<h1>This checkout is complete</h1>"
        return (
            "<h1>Fake Stripe Checkout</h1><p>Test mode: no card is charged.</p>"
            f"<ul>{''.join(lines)}</ul>"
            f'<form method="post" action="/checkout/{session["id"]}/pay">'
            f'<button type="submit">Pay ${session["amount_total"] / 100:.2f}</button></form>'
            f'<p><a href="{html.escape(session["cancel_url"] or "/")}">Cancel</a></p>'
        )

    def _portal_page(self, portal: Obj, subs: list[Obj]) -> str:
        back = f'<p><a href="{html.escape(portal["return_url"] or "/")}">Return to ViewBait</a></p>'
        if not subs:
            return f"<h1>Fake Customer Portal</h1><p>No subscription.</p>{back}"
        sub = subs[0]
        item = sub["items"]["data"][0]
        ends = dt.datetime.fromtimestamp(item["current_period_end"], dt.UTC).date()
        choices = "".join(
            f'<option value="{p["id"]}"{" selected" if p["id"] == item["price"]["id"] else ""}>'
            f"{html.escape(self.objects['product'].get(p['product'], {}).get('name', p['id']))}"
            "</option>"
            for p in self.objects["price"].values()
            if p["recurring"]
        )
        base = f"/portal/{portal['id']}"
        cancel = (
            f'<form method="post" action="{base}/resume"><button>Resume plan</button></form>'
            if sub["cancel_at_period_end"]
            else f'<form method="post" action="{base}/cancel"><button>Cancel plan</button></form>'
        )
        return (
            "<h1>Fake Customer Portal</h1>"
            f"<p>Subscription {sub['status']}; period ends {ends}"
            f"{' (cancels then)' if sub['cancel_at_period_end'] else ''}.</p>"
            f'<form method="post" action="{base}/switch"><label>Plan '
            f'<select name="price">{choices}</select></label><button>Change plan</button></form>'
            f"{cancel}"
            f'<form method="post" action="{base}/pay"><button>Update card and pay</button></form>'
            f"{back}"
        )


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Fake Stripe</title>
<style>body{{font:16px system-ui;max-width:560px;margin:40px auto;padding:0 16px}}
button{{font:inherit;padding:8px 14px;margin:6px 0}}</style></head><body>{body}</body></html>"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--state", type=Path, default=None, help="keep state in this JSON file")
    args = parser.parse_args()
    fake = FakeStripe(port=args.port, webhook_url=args.webhook_url, state_file=args.state)
    print(f"fake Stripe on {fake.base_url} (key {fake.api_key}, secret {fake.webhook_secret})")
    fake.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
