"""The suite's own scheduling (tests/conftest.py `servers_first`): under pytest-xdist's worksteal
scheduler, the tests that start a test process's kept servers (Chromium, the live stack) land in
the first two workers' first shares, and the others keep their order."""

from __future__ import annotations

from typing import Any

from xdist.scheduler.worksteal import WorkStealingScheduling

from tests.conftest import servers_first


class _Config:
    """What WorkStealingScheduling reads of a pytest config: `-n N` as `--tx N*popen`."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def getvalue(self, name: str) -> Any:
        assert name == "tx"
        return [f"{self.workers}*popen"]


class _Node:
    """A worker as the scheduler sees it: it records the tests it is sent."""

    shutting_down = False

    def __init__(self, name: str) -> None:
        self.gateway = type("Gateway", (), {"id": name})()  # named in collection-diff reports
        self.sent: list[int] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices


def first_shares(collection: list[str], workers: int) -> list[list[str]]:
    """The tests each worker is first sent by xdist's worksteal scheduler for `collection`."""
    scheduler = WorkStealingScheduling(_Config(workers))  # type: ignore[arg-type]
    nodes = [_Node(f"gw{i}") for i in range(workers)]
    for node in nodes:
        scheduler.add_node(node)  # type: ignore[arg-type]
    for node in nodes:
        scheduler.add_node_collection(node, collection)  # type: ignore[arg-type]
    scheduler.schedule()
    return [[collection[i] for i in node.sent] for node in nodes]


def test_server_tests_head_the_first_two_workers_shares_and_the_rest_keep_their_order() -> None:
    collection = [f"t{i:02d}" + ("-browser" if i % 7 == 3 else "") for i in range(50)]
    heavy = [name for name in collection if name.endswith("-browser")]
    ordered = servers_first(collection, 4, lambda name: name.endswith("-browser"))

    shares = first_shares(ordered, 4)

    assert sorted(ordered) == sorted(collection)
    assert [len(share) for share in shares] == [12, 12, 13, 13]
    assert shares[0][:4] + shares[1][:3] == heavy  # seven heavy ones, the odd one first
    assert not any(name.endswith("-browser") for share in shares[2:] for name in share)
    assert [n for n in ordered if n not in heavy] == [n for n in collection if n not in heavy]


def test_one_worker_or_no_server_tests_leave_the_order_alone() -> None:
    collection = [f"t{i}" for i in range(10)]
    assert servers_first(collection, 1, lambda name: name == "t3") == collection
    assert servers_first(collection, 4, lambda name: False) == collection


def test_a_wsgi_call_on_the_tests_own_thread_is_no_live_server_request(
    django_db_blocker: Any,
) -> None:
    """schemathesis calls Django's WSGIHandler on the test's thread and left a response
    unclosed: counted as a live-server request that never finished, it failed every later
    live-server test of that process after a 30 s wait (tests/conftest.py)."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.signals import request_started

    from tests.conftest import _LIVE_SERVER_REQUESTS

    # request_started's close_old_connections checks a database connection this process left
    # open (an earlier test's), which a test without the database may not touch: it failed
    # with "Database access not allowed" after some orders of an xdist worker's tests.
    with django_db_blocker.unblock():
        request_started.send(sender=WSGIHandler, environ={})  # and never request_finished
    assert _LIVE_SERVER_REQUESTS.running() == 0
