"""What each Dramatiq worker process imports first (viewbait's `rundramatiq` names it in place of
django_dramatiq.setup, which calls django.setup()): django.setup() with the collector paused
(viewbait.startup)."""

from __future__ import annotations

from viewbait.startup import setup

setup()
