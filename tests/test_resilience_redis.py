"""The circuit breaker and the per-model concurrency cap hold across processes (shared Redis).

Each test runs code in other processes with the test settings (same Redis, same key prefix),
forked from one that set Django up (tests.servers.ForkingDjango, the test process's
`forking_django`), and checks what this process sees.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from django.conf import settings
from django.core.cache import cache

from generation.errors import ProviderCircuitOpen
from generation.resilience import CircuitBreaker, model_slot
from tests.servers import ForkingDjango

pytestmark = pytest.mark.redis


@pytest.fixture(autouse=True)
def _needs_redis() -> None:
    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        pytest.skip("needs REDIS_URL (the shared cache)")
    cache.clear()


@pytest.fixture
def processes(forking_django: ForkingDjango) -> ForkingDjango:
    return forking_django


def run_in_another_process(processes: ForkingDjango, code: str, *args: str) -> str:
    codes, output = processes.run(code, *args)
    assert codes == [0], output
    return output


def test_a_breaker_opened_in_one_process_refuses_in_another(processes: ForkingDjango) -> None:
    model = f"model-{os.getpid()}"
    run_in_another_process(
        processes,
        "import sys\n"
        "from generation.resilience import CircuitBreaker\n"
        "from django.conf import settings\n"
        "b = CircuitBreaker('gemini', sys.argv[1])\n"
        "for _ in range(settings.CIRCUIT_BREAKER_FAILURES): b.record_failure()\n",
        model,
    )
    breaker = CircuitBreaker("gemini", model)
    with pytest.raises(ProviderCircuitOpen) as refused:
        breaker.refuse_if_open()
    assert 1 <= refused.value.retry_after <= settings.CIRCUIT_BREAKER_COOLDOWN_SECONDS
    # Closing it in this process closes it for the others (a process forked after the first).
    breaker.record_success()
    assert (
        run_in_another_process(
            processes,
            "import sys\n"
            "from generation.resilience import CircuitBreaker\n"
            "CircuitBreaker('gemini', sys.argv[1]).check(); print('closed')\n",
            model,
        ).strip()
        == "closed"
    )


def test_the_half_open_probe_is_one_caller_across_processes(processes: ForkingDjango) -> None:
    model = f"probe-{os.getpid()}"
    cache.set(f"breaker:gemini:{model}:open-until", time.time() - 1, 60)
    codes, output = processes.run(
        "import sys\n"
        "from generation.resilience import CircuitBreaker\n"
        "try:\n    CircuitBreaker('gemini', sys.argv[1]).check(); print('probe')\n"
        "except Exception:\n    print('refused')\n",
        model,
        processes=4,  # forked at once: they ask at the same moment
    )
    assert codes == [0, 0, 0, 0], output
    assert sorted(output.split()) == ["probe", "refused", "refused", "refused"]


def test_concurrent_calls_per_model_are_capped_across_processes(
    settings, processes: ForkingDjango
) -> None:
    """Two processes of 4 threads each hold a slot for 0.4 s; with a cap of 3 no more than 3
    are ever inside at once (counted in Redis by the holders themselves)."""
    settings.PROVIDER_MAX_CONCURRENT_CALLS = 3
    model = f"slots-{os.getpid()}"
    code = (
        "import sys, threading, time\n"
        "from django.conf import settings\n"
        "from django_redis import get_redis_connection\n"
        "from generation.resilience import model_slot\n"
        "settings.PROVIDER_MAX_CONCURRENT_CALLS = 3\n"
        "r = get_redis_connection('default')\n"
        "enter = r.register_script(\"local v = redis.call('incr', KEYS[1]) "
        "if v > tonumber(redis.call('get', KEYS[2]) or '0') then redis.call('set', KEYS[2], v) end "
        'return v")\n'
        "def one():\n"
        "    with model_slot(sys.argv[1], hold_seconds=30, stop=threading.Event()):\n"
        "        enter(keys=[sys.argv[1] + ':inside', sys.argv[1] + ':max'])\n"
        "        time.sleep(0.4)\n"
        "        r.decr(sys.argv[1] + ':inside')\n"
        "ts = [threading.Thread(target=one) for _ in range(4)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
    )
    codes, output = processes.run(code, model, processes=2)
    assert codes == [0, 0], output
    from django_redis import get_redis_connection

    assert int(get_redis_connection("default").get(f"{model}:max")) == 3


def test_a_dead_holders_slot_is_reclaimed(settings) -> None:
    settings.PROVIDER_MAX_CONCURRENT_CALLS = 1
    model = f"dead-{os.getpid()}"
    stop = threading.Event()
    held = model_slot(model, hold_seconds=0.5, stop=stop)
    # Timed from before the dead holder took its slot, whose age the wait is measured against:
    # timed from after it, a test thread the machine paused for 0.2 s there measured less.
    started = time.monotonic()
    held.__enter__()  # never released: its worker "died"
    with model_slot(model, hold_seconds=0.5, stop=stop):
        waited = time.monotonic() - started
    assert 0.3 < waited < 5
