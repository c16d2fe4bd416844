"""The circuit breaker and the per-model concurrency cap hold across processes (shared Redis).

Each test starts plain Python processes with the test settings (same Redis, same key prefix)
and checks what this process sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings
from django.core.cache import cache

from generation.errors import ProviderCircuitOpen
from generation.resilience import CircuitBreaker, model_slot

pytestmark = pytest.mark.redis


@pytest.fixture(autouse=True)
def _needs_redis() -> None:
    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        pytest.skip("needs REDIS_URL (the shared cache)")
    cache.clear()


def run_in_another_process(code: str, *args: str) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    prelude = "import sys, django\ndjango.setup()\n"
    result = subprocess.run(
        [sys.executable, "-c", prelude + code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_a_breaker_opened_in_one_process_refuses_in_another() -> None:
    model = f"model-{os.getpid()}"
    run_in_another_process(
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
    # Closing it in this process closes it for the others.
    breaker.record_success()
    assert (
        run_in_another_process(
            "from generation.resilience import CircuitBreaker\n"
            "CircuitBreaker('gemini', sys.argv[1]).check(); print('closed')\n",
            model,
        ).strip()
        == "closed"
    )


def test_the_half_open_probe_is_one_caller_across_processes() -> None:
    model = f"probe-{os.getpid()}"
    cache.set(f"breaker:gemini:{model}:open-until", time.time() - 1, 60)
    outputs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, django\ndjango.setup()\n"
                "from generation.resilience import CircuitBreaker\n"
                "try:\n    CircuitBreaker('gemini', sys.argv[1]).check(); print('probe')\n"
                "except Exception:\n    print('refused')\n",
                model,
            ],
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    answers = sorted(p.communicate(timeout=60)[0].strip() for p in outputs)
    assert answers == ["probe", "refused", "refused", "refused"]


def test_concurrent_calls_per_model_are_capped_across_processes(settings) -> None:
    """Two processes of 4 threads each hold a slot for 0.4 s; with a cap of 3 no more than 3
    are ever inside at once (counted in Redis by the holders themselves)."""
    settings.PROVIDER_MAX_CONCURRENT_CALLS = 3
    model = f"slots-{os.getpid()}"
    code = (
        "import threading, time\n"
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
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", "import sys, django\ndjango.setup()\n" + code, model],
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        )
        for _ in range(2)
    ]
    assert [p.wait(timeout=60) for p in processes] == [0, 0]
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
