"""The job queue on RabbitMQ: Dramatiq's RabbitMQ broker (pika), for
`DRAMATIQ_BROKER_URL=amqp://...` (viewbait.settings), with the same fault behaviour as the Redis
broker (core.redis_faults.RedisBroker).

- Publisher confirms (`confirm_delivery`): `send` returns once RabbitMQ has taken the message
  (a persistent message on a durable queue), so a job whose charge committed is on the queue or
  its send failed and the sweeper sends it again; never silently dropped by the broker.
- Short timeouts and one connection attempt: pika's defaults (10 s socket timeout, 15 s stack
  timeout) would hold a request that long on an unreachable RabbitMQ, and Dramatiq's `enqueue`
  makes up to six attempts. Values given in the URL's query win.
- A deadline on each send (`publish_timeout`, 4 x the timeout): a RabbitMQ that stops
  answering on an open connection, or blocks publishers under a memory or disk alarm, held a
  request for 98 s and 3 minutes in a fault test; now it costs one deadline.
- A per-server breaker (core.redis_faults.breaker_for, `service="RabbitMQ"`): a failed connect
  or a send past its deadline opens it, and for REDIS_BREAKER_COOLDOWN_SECONDS every send in
  this process raises RabbitmqUnavailable at once, so a dead broker costs a request one
  timeout, not six. A publish on a connection that went stale (RabbitMQ restarted, a missed
  heartbeat) is retried by Dramatiq on a new connection within the deadline, without opening it.

Connections and channels are per thread (Dramatiq's `state`), kept open between requests.
Queues: `jobs` and `jobs_high` (generation.actors), with Dramatiq's `.DQ` (delayed) and `.XQ`
(dead-letter) companions; give each deployment a virtual host of its own
(`amqp://user:pass@host:5672/viewbait`).
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pika
import pika.exceptions
from dramatiq.brokers.rabbitmq import RabbitmqBroker as _DramatiqRabbitmqBroker
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message

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
    `4 * timeout` (TLS and AMQP's own), and as long for a publish blocked by RabbitMQ's resource
    alarms (pika waits for ever by default)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    defaults = {
        "connection_attempts": "1",
        "retry_delay": "0",
        "socket_timeout": f"{timeout:g}",
        "stack_timeout": f"{4 * timeout:g}",
        "blocked_connection_timeout": f"{4 * timeout:g}",
    }
    query = {**defaults, **query}
    return urlunsplit(parts._replace(query=urlencode(query)))


class RabbitmqBroker(_DramatiqRabbitmqBroker):
    """Dramatiq's RabbitMQ broker with publisher confirms, short timeouts, a deadline on each
    send and a breaker (see the module docstring). `url` is an `amqp://` or `amqps://` URL;
    `timeout` is in seconds (REDIS_TIMEOUT_SECONDS in viewbait.settings: one figure for every
    queue and cache client); a send may take `publish_timeout` (4 x `timeout`) in all. Raises
    RabbitmqUnavailable (a dramatiq ConnectionClosed) while the breaker is open or when a send
    ran out of time, dramatiq's ConnectionClosed when every attempt failed."""

    def __init__(self, *, url: str, timeout: float = 0.5, **options: Any) -> None:
        options.setdefault("confirm_delivery", True)
        super().__init__(url=with_timeouts(url, timeout), **options)
        self.server = amqp_address(url)
        self.publish_timeout = 4 * timeout
        self.breaker: RedisBreaker = breaker_for(
            self.server, service="RabbitMQ", unavailable=RabbitmqUnavailable
        )

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        """Dramatiq's send (its retries on a new connection included) within `publish_timeout`:
        a RabbitMQ that stops answering on an open connection, or blocks publishers under a
        resource alarm, held a request until pika's heartbeat noticed (98 s measured) or for
        six times `blocked_connection_timeout`. Past the deadline the connection's stream is
        cut (the wait for the confirm ends), the send raises RabbitmqUnavailable and the
        breaker opens, so the next sends fail at once; `send_job` leaves the job to the
        sweeper."""
        self.breaker.check()
        started = time.monotonic()
        self.state.deadline = started + self.publish_timeout
        try:
            kept = getattr(self.state, "connection", None)
            if kept is not None:  # reached through the kept channel, not `connection`
                self._arm(kept, self.state.deadline)
            sent = super().enqueue(message, delay=delay)
        except Exception:
            if time.monotonic() - started >= self.publish_timeout:
                self.breaker.record_failure(
                    TimeoutError(f"a send took more than {self.publish_timeout:g} s")
                )
            raise
        finally:
            self.state.deadline = None
            self._disarm()
        self.breaker.record_success()
        return sent

    @property  # type: ignore[override]
    def connection(self) -> pika.BlockingConnection:
        """This thread's connection; a new one is gated on the server's breaker. During a send
        its stream is cut at the send's deadline, and none is given after it."""
        deadline = getattr(self.state, "deadline", None)
        if deadline is not None and time.monotonic() >= deadline:
            raise RabbitmqUnavailable(
                f"RabbitMQ at {self.server} took more than {self.publish_timeout:g} s to take a "
                "message"
            )
        connection = getattr(self.state, "connection", None)
        if connection is None:
            self.breaker.check()
            try:
                connection = _DramatiqRabbitmqBroker.connection.fget(self)  # type: ignore[attr-defined]
            except Exception as exc:  # pika's AMQPError, or its connector's handshake timeout
                self.breaker.record_failure(exc)
                raise
            self.breaker.record_success()
        if deadline is not None:
            self._arm(connection, deadline)
        return connection

    @connection.deleter
    def connection(self) -> None:
        self._disarm()
        _DramatiqRabbitmqBroker.connection.fdel(self)  # type: ignore[attr-defined]

    def _arm(self, connection: pika.BlockingConnection, deadline: float) -> None:
        """Cut `connection`'s stream at `deadline` (once per connection and send). pika's
        BlockingConnection runs its own callbacks only between operations, so the timer is
        set on the connection's I/O loop, which runs while a publish waits for its confirm;
        a cut stream (pika's own way, as its heartbeat checker does) ends that wait with
        StreamLostError."""
        armed = getattr(self.state, "armed", None)
        if armed is not None and armed[0] is connection:
            return
        self._disarm()
        impl = connection._impl
        cut = pika.exceptions.StreamLostError(f"no answer within {self.publish_timeout:g} s")
        handle = impl._adapter_call_later(
            max(0.0, deadline - time.monotonic()), functools.partial(impl._terminate_stream, cut)
        )
        self.state.armed = (connection, handle)

    def _disarm(self) -> None:
        armed = getattr(self.state, "armed", None)
        self.state.armed = None
        if armed is not None:
            with contextlib.suppress(Exception):  # the connection may be gone already
                armed[0]._impl._adapter_remove_timeout(armed[1])

    def ping(self) -> None:
        """Raise unless RabbitMQ answers a round trip (a channel opened and closed) within
        `publish_timeout`, on this thread's connection or, if that one went stale, a new one:
        /healthz's broker probe. A broker frozen on an open connection fails it too."""
        self.breaker.check()
        self.state.deadline = time.monotonic() + self.publish_timeout
        try:
            for attempt in (1, 2):
                try:
                    self.connection.channel().close()
                    return
                except pika.exceptions.AMQPConnectionError:
                    del self.connection
                    if attempt == 2:
                        raise
        finally:
            self.state.deadline = None
            self._disarm()
