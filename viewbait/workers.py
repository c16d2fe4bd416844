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

# The largest websocket message a client may send (bytes; uvicorn's default is 16 MiB). The
# studio's sockets receive only `{"type": "ping"}`, and a consumer decodes each text frame as
# JSON in the worker's event loop: a 16 MiB frame of JSON held it (every request of that worker)
# for about a second, and a client could send them back to back. A larger frame closes the
# socket with 1009 (message too big).
WS_MAX_MESSAGE_BYTES = 64 * 1024


class UvicornWorker(_UvicornWorker):
    """uvicorn_worker.UvicornWorker with the proxy headers ignored, no ASGI lifespan (Django
    does not implement it), the sans-I/O websockets protocol (the `websockets` package's
    current API; uvicorn's other implementation uses its deprecated legacy API) and websocket
    messages of at most WS_MAX_MESSAGE_BYTES."""

    CONFIG_KWARGS: dict[str, Any] = {
        "loop": "auto",
        "http": "auto",
        "ws": "websockets-sansio",
        "ws_max_size": WS_MAX_MESSAGE_BYTES,
        "lifespan": "off",
        "proxy_headers": False,
        "server_header": False,
    }
