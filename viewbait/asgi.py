"""ASGI entry point: HTTP goes to Django, `/ws/...` websockets to Channels consumers."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "viewbait.settings")

from viewbait.startup import setup

# What django.core.asgi.get_asgi_application does first (with the collector paused).
setup(set_prefix=False)

from viewbait.startup_checks import run_project_checks  # noqa: E402

# gunicorn never runs the system checks: the project's own (not Django's whole framework) run
# here, in each worker, and an Error stops it before it serves (gunicorn then stops: "Worker
# failed to boot").
run_project_checks("web")

from viewbait.handlers import BoundedASGIHandler  # noqa: E402

django_asgi_app = BoundedASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from generation.consumers import JobEventsConsumer  # noqa: E402

websocket_urlpatterns = [path("ws/jobs/", JobEventsConsumer.as_asgi())]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
