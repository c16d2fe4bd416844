"""The web process's worker class: gunicorn supervises several uvicorn workers (one event loop
each, HTTP and the `/ws/` websockets of viewbait.asgi), see viewbait/gunicorn_conf.py.

uvicorn's own proxy-header handling is switched off, so the ASGI scope's client is always the
TCP peer: uvicorn would otherwise rewrite it from `X-Forwarded-For` for any peer in
`FORWARDED_ALLOW_IPS` (127.0.0.1 by default, which includes every local process). Which
forwarded address to believe is decided once, in core.ratelimits.client_ip, from the
`TRUSTED_PROXIES` setting.
"""

from __future__ import annotations

from typing import Any

from uvicorn_worker import UvicornWorker as _UvicornWorker


class UvicornWorker(_UvicornWorker):
    """uvicorn_worker.UvicornWorker with the proxy headers ignored, no ASGI lifespan (Django
    does not implement it) and the sans-I/O websockets protocol (the `websockets` package's
    current API; uvicorn's other implementation uses its deprecated legacy API)."""

    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "auto",
        "http": "auto",
        "ws": "websockets-sansio",
        "lifespan": "off",
        "proxy_headers": False,
        "server_header": False,
    }
