"""gunicorn settings of the Procfile's `web` process (`gunicorn -c viewbait/gunicorn_conf.py`).

- `workers`: `WEB_CONCURRENCY` when set (the usual name on Heroku-style platforms), else one per
  CPU (`os.cpu_count()`, at least 2). Each is a uvicorn event loop (viewbait.workers), so one
  worker per core keeps every core busy; Django runs the sync views on each worker's thread
  pool, so slow database or Redis calls do not stall the loop.
- `forwarded_allow_ips` is empty and the worker class ignores proxy headers: client addresses
  come from core.ratelimits.client_ip and the `TRUSTED_PROXIES` setting only.
- `graceful_timeout` 8 s: in-flight requests finish on SIGTERM, within the 10 s that
  viewbait.serve (and most platforms) wait before SIGKILL.
- no control socket (gunicorn 25's `gunicornc` interface; one shared path per user).
- `bind`: `WEB_HOST`:`PORT` (`bind_address()`; defaults 127.0.0.1 and 8000). The Procfile
  passes no `--bind` (one would win over this), so a platform that runs the Procfile and
  routes to the container's address (Heroku-style, `WEB_HOST=0.0.0.0`) reaches the web
  process; on one machine it stays on the loopback interface.
"""

from __future__ import annotations

import os


def default_workers() -> int:
    """Worker processes: WEB_CONCURRENCY, else the CPU count (at least 2)."""
    configured = os.environ.get("WEB_CONCURRENCY", "").strip()
    if configured:
        return max(1, int(configured))
    return max(2, os.cpu_count() or 1)


wsgi_app = "viewbait.asgi:application"
worker_class = "viewbait.workers.UvicornWorker"
workers = default_workers()


def bind_address() -> str:
    """`host:port` from WEB_HOST (default 127.0.0.1: this machine only) and PORT (8000); an
    IPv6 host is bracketed (once: `[::]` as written in a URL is `::`)."""
    host = os.environ.get("WEB_HOST", "").strip().removeprefix("[").removesuffix("]")
    host = host.strip() or "127.0.0.1"
    port = os.environ.get("PORT", "").strip() or "8000"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


bind = [bind_address()]
forwarded_allow_ips = ""
proxy_allow_ips = ""
graceful_timeout = 8
timeout = 60
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = os.environ.get("WEB_LOG_LEVEL", "info")
# gunicorn 25's runtime control socket defaults to one path per user ($HOME/.gunicorn), which
# a second server on the machine (tests, another checkout) would take over; unused here.
control_socket_disable = True
