"""The job queue on RabbitMQ: Dramatiq's RabbitMQ broker (pika), for
`DRAMATIQ_BROKER_URL=amqp://...` (viewbait.settings), with the same fault behaviour as the Redis
broker (core.redis_faults.RedisBroker).

- Publisher confirms (`confirm_delivery`): `send` returns once RabbitMQ has taken the message
  (a persistent message on a durable queue), so a job whose charge committed is on the queue or
  its send failed and the sweeper sends it again; never silently dropped by the broker.
- Short timeouts and one connection attempt: pika's defaults (10 s socket timeout, 15 s stack
  timeout) would hold a request that long on an unreachable RabbitMQ, and Dramatiq's `enqueue`
  makes up to six attempts. Values given in the URL's query win.
- A per-server breaker (core.redis_faults.breaker_for, `service="RabbitMQ"`): a failed connect
  opens it, and for REDIS_BREAKER_COOLDOWN_SECONDS every new connection in this process raises
  RabbitmqUnavailable at once, so a dead broker costs a request one timeout, not six. Only
  connecting counts: a publish on a connection that went stale (RabbitMQ restarted, a missed
  heartbeat) is retried by Dramatiq on a new connection without opening it.

Connections and channels are per thread (Dramatiq's `state`), kept open between requests.
Queues: `jobs` and `jobs_high` (generation.actors), with Dramatiq's `.DQ` (delayed) and `.XQ`
(dead-letter) companions; give each deployment a virtual host of its own
(`amqp://user:pass@host:5672/viewbait`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pika
import pika.exceptions
from dramatiq.brokers.rabbitmq import RabbitmqBroker as _DramatiqRabbitmqBroker
from dramatiq.errors import ConnectionClosed

from core.redis_faults import RedisBreaker, breaker_for


class RabbitmqUnavailable(ConnectionClosed):
    """RabbitMQ failed to connect moments ago; raised at once while its breaker is open."""


def amqp_address(url: str) -> str:
    """The server an AMQP URL names, without credentials or virtual host:
    "amqp://host:port" (5672 by default, 5671 for amqps)."""
    parts = urlsplit(url)
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    return f"{parts.scheme}://{parts.hostname or 'localhost'}:{port}"


def with_timeouts(url: str, timeout: float) -> str:
    """`url` with pika's connection parameters for a fast failure, unless the URL sets them:
    one connection attempt, `timeout` seconds for the socket, a handshake of at most
    `4 * timeout` (TLS and AMQP's own), and 30 s before a publish blocked by RabbitMQ's
    resource alarms gives up (pika waits for ever by default)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    defaults = {
        "connection_attempts": "1",
        "retry_delay": "0",
        "socket_timeout": f"{timeout:g}",
        "stack_timeout": f"{4 * timeout:g}",
        "blocked_connection_timeout": "30",
    }
    query = {**defaults, **query}
    return urlunsplit(parts._replace(query=urlencode(query)))


class RabbitmqBroker(_DramatiqRabbitmqBroker):
    """Dramatiq's RabbitMQ broker with publisher confirms, short timeouts and a breaker on
    connecting (see the module docstring). `url` is an `amqp://` or `amqps://` URL; `timeout`
    is in seconds (REDIS_TIMEOUT_SECONDS in viewbait.settings: one figure for every queue and
    cache client). Raises RabbitmqUnavailable (a dramatiq ConnectionClosed) while the breaker is
    open, dramatiq's ConnectionClosed when every attempt failed."""

    def __init__(self, *, url: str, timeout: float = 0.5, **options: Any) -> None:
        options.setdefault("confirm_delivery", True)
        super().__init__(url=with_timeouts(url, timeout), **options)
        self.server = amqp_address(url)
        self.breaker: RedisBreaker = breaker_for(
            self.server, service="RabbitMQ", unavailable=RabbitmqUnavailable
        )

    @property  # type: ignore[override]
    def connection(self) -> pika.BlockingConnection:
        """This thread's connection; a new one is gated on the server's breaker."""
        if getattr(self.state, "connection", None) is not None:
            return _DramatiqRabbitmqBroker.connection.fget(self)  # type: ignore[attr-defined]
        self.breaker.check()
        try:
            connection = _DramatiqRabbitmqBroker.connection.fget(self)  # type: ignore[attr-defined]
        except Exception as exc:  # pika's AMQPError, or its connector's handshake timeout
            self.breaker.record_failure(exc)
            raise
        self.breaker.record_success()
        return connection

    @connection.deleter
    def connection(self) -> None:
        _DramatiqRabbitmqBroker.connection.fdel(self)  # type: ignore[attr-defined]

    def ping(self) -> None:
        """Raise unless RabbitMQ answers on this thread's connection (a new one if the kept
        one went stale): /healthz's broker probe."""
        try:
            self.connection.process_data_events(time_limit=0)
        except pika.exceptions.AMQPConnectionError:
            del self.connection
            self.connection.process_data_events(time_limit=0)
