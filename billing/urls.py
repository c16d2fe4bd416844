from __future__ import annotations

from django.urls import path

from billing import views

urlpatterns = [
    path("plans/", views.plans, name="plans"),
    path("plans/checkout/<slug:plan_slug>", views.checkout, name="billing-checkout"),
    path("plans/packs/<slug:pack_slug>", views.buy_pack, name="billing-buy-pack"),
    path("billing/portal", views.portal, name="billing-portal"),
    path("billing/checkout/return", views.checkout_return, name="billing-checkout-return"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe-webhook"),
]
