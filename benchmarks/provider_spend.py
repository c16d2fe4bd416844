"""Provider spend: Gemini calls and list-price USD per delivered image and per distinct analysis,
under what makes clients or the engine call twice.

Drives the real pipeline in this process: POST /api/generate and POST /api/jobs with Django's
test client, the stub broker's messages run by this script (delayed ones when their time comes,
several at once where a real worker would run them on its threads), the real google-genai client
against tests/fake_gemini.py's FakeGemini (GEMINI_* settings pointed at it). Scenarios:

- baseline: distinct jobs, no faults;
- double clicks: the same Idempotency-Key sent twice at the same moment (two tabs);
- client retries after a timeout: the same key again while the job is queued and after it ended;
- 429 bursts with RetryInfo: a short delay (retried in place) and one longer than
  PROVIDER_INLINE_RETRY_MAX_SECONDS (the unit is re-queued with a Dramatiq delay);
- 503 bursts: below the circuit breaker's threshold (retried in place), and one that opens it;
- 20 identical concurrent `analyse_palette` requests by a Starter creator: with the plan's
  concurrent-job cap as seeded (the refused clients retry once the first jobs ended), and with
  the cap lifted (20 jobs computing at once: the result cache's single flight).

"attempts" counts every generateContent request; "billable" those Google answered (errors such
as 429 and 503 are not billed); USD is billable calls at the catalog's list price
(`generation.catalog.get_model(id).usd_for(...)`). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/provider_spend.py [--jobs 4] [--variations 2] [--analyses 20]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("VIEWBAIT_VAR_DIR", tempfile.mkdtemp(prefix="viewbait-bench-"))

from _django import database_label, django_test_db


@dataclass
class Figures:
    name: str
    kind: str = "image"  # or "analysis"
    requests: int = 0
    jobs: int = 0
    replays: int = 0
    refused: int = 0
    delivered: int = 0  # images, or analyses answered
    failed_units: int = 0
    distinct: int = 0  # distinct analyses (cache keys) answered
    attempts: int = 0
    billable: int = 0
    usd: float = 0.0
    credits: int = 0  # net credits charged (debits less refunds)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=4, help="generate jobs per scenario")
    parser.add_argument("--variations", type=int, default=2, help="images per generate job")
    parser.add_argument("--analyses", type=int, default=20, help="concurrent palette requests")
    args = parser.parse_args()
    with django_test_db():
        run(args)


def run(args: argparse.Namespace) -> None:
    import logging

    import dramatiq
    from django.conf import settings
    from django.core.cache import cache
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connections
    from django.test import Client, override_settings
    from PIL import Image

    from billing.models import CreditLedgerEntry, Plan
    from billing.services import adjust_credits, change_plan, invalidate_plan_table
    from generation.catalog import get_model
    from generation.models import Job, JobUnit
    from studio.models import Thumbnail
    from tests.conftest import make_user
    from tests.fake_gemini import FakeGemini, RecordedRequest

    class MeteredGemini(FakeGemini):
        """The fake, also keeping each generateContent answer's status and body."""

        def __init__(self) -> None:
            super().__init__()
            self.answers: list[tuple[RecordedRequest, int, dict[str, Any]]] = []

        def _answer(self, behaviour: str, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
            status, body = super()._answer(behaviour, request)
            with self._lock:
                self.answers.append((request, status, body))
            return status, body

    def usd(request: RecordedRequest, status: int, body: dict[str, Any]) -> float:
        if status != 200:
            return 0.0  # Google bills answers, not refusals (429) or server errors (5xx)
        spec = get_model(request.model)
        if spec.kind == "image":
            size = (request.generation_config.get("imageConfig") or {}).get("imageSize", "1K")
            return spec.usd_for(size)
        usage = body.get("usageMetadata") or {}
        return spec.usd_for(
            input_tokens=usage.get("promptTokenCount", 0),
            output_tokens=usage.get("candidatesTokenCount", 0)
            + usage.get("thoughtsTokenCount", 0),  # thinking is billed as output
        )

    logging.disable(logging.CRITICAL)  # the faults and refusals are on purpose; figures only
    warnings.filterwarnings("ignore", "No directory at")  # no collectstatic in a benchmark
    fake = MeteredGemini()
    fake.start()
    gemini = override_settings(
        IMAGE_PROVIDER="gemini",
        GEMINI_API_KEY=fake.valid_key,
        GEMINI_BASE_URL=fake.base_url,
        GEMINI_TIMEOUT_SECONDS=20.0,
        GEMINI_RETRY_INITIAL_DELAY=0.05,
        GEMINI_RETRY_ATTEMPTS=3,
    )
    gemini.enable()
    broker = dramatiq.get_broker()

    def clear_cache() -> None:
        """Breaker state and cached results of the previous scenario (our key prefix only on
        a shared Redis)."""
        if hasattr(cache, "delete_pattern"):
            cache.delete_pattern("*")
        else:
            cache.clear()

    def run_message(message: dramatiq.Message) -> None:
        try:
            broker.get_actor(message.actor_name).fn(*message.args, **message.kwargs)
        finally:
            connections.close_all()

    def drain(threads: int = 1) -> int:
        """Run every message on the stub broker, delayed ones once due, up to `threads` at a
        time, until none is left. Returns how many ran."""
        ran = 0
        with ThreadPoolExecutor(max_workers=threads) as pool:
            while True:
                ready: list[dramatiq.Message] = []
                later: list[dramatiq.Message] = []
                now_ms = time.time() * 1000
                for queue in list(broker.queues.values()):
                    while not queue.empty():
                        message = dramatiq.Message.decode(queue.get_nowait())
                        due = message.options.get("eta", 0) <= now_ms
                        (ready if due else later).append(message)
                for message in later:
                    broker.queues[message.queue_name].put(message.encode())
                if ready:
                    list(pool.map(run_message, ready))
                    ran += len(ready)
                elif later:
                    first = min(m.options["eta"] for m in later) / 1000
                    time.sleep(max(0.0, first - time.time()) + 0.1)
                else:
                    return ran

    def together(calls: list[Callable[[], Any]]) -> list[Any]:
        """The calls at the same moment, one thread each."""
        barrier = threading.Barrier(len(calls))
        results: list[Any] = [None] * len(calls)

        def one(index: int) -> None:
            try:
                barrier.wait()
                results[index] = calls[index]()
            finally:
                connections.close_all()

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def creator(email: str, plan: str, credits: int) -> Any:
        user = make_user(email)
        change_plan(user=user, plan=Plan.objects.get(slug=plan), status="active")
        adjust_credits(user=user, amount=credits, idempotency_key=f"bench:{email}", reason="bench")
        return user

    def client_for(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    def generate(client: Client, title: str, key: str | None = None) -> Any:
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        body = {"title": title, "variations": args.variations}
        return client.post(
            "/api/generate", json.dumps(body), content_type="application/json", **headers
        )

    figures: list[Figures] = []

    @contextmanager
    def scenario(name: str, kind: str = "image") -> Iterator[Figures]:
        clear_cache()
        result = Figures(name, kind)
        answers = len(fake.answers)
        jobs_before = set(Job.objects.values_list("pk", flat=True))
        ledger_mark = CreditLedgerEntry.objects.order_by("-pk").values_list("pk", flat=True)[0]
        started = time.perf_counter()
        yield result
        result.seconds = time.perf_counter() - started
        new = fake.answers[answers:]
        result.attempts = len(new)
        result.billable = sum(status == 200 for _, status, _ in new)
        result.usd = sum(usd(*answer) for answer in new)
        jobs = Job.objects.exclude(pk__in=jobs_before)
        result.jobs = jobs.count()
        result.failed_units = JobUnit.objects.filter(job__in=jobs, status="failed").count()
        if result.delivered == 0:
            result.delivered = Thumbnail.objects.filter(job__in=jobs).count()
        result.credits = -sum(
            CreditLedgerEntry.objects.filter(
                pk__gt=ledger_mark, kind__in=("debit", "refund")
            ).values_list("amount", flat=True)
        )
        unfinished = jobs.exclude(status__in=Job.FINISHED).count()
        if unfinished:
            result.notes.append(f"{unfinished} job(s) unfinished")
        figures.append(result)

    pro = creator("pro@example.com", "pro", 10_000)
    tabs = [client_for(pro), client_for(pro)]
    n = args.jobs

    # --- image scenarios ------------------------------------------------------------------------
    with scenario("baseline: distinct jobs") as s:
        for i in range(n):
            s.requests += 1
            assert generate(tabs[0], f"Baseline {i}", f"base-{i}").status_code == 202
        drain()

    with scenario("double click: same key twice at once") as s:
        for i in range(n):
            responses = together(
                [lambda c=c, i=i: generate(c, f"Double click {i}", f"dbl-{i}") for c in tabs]
            )
            s.requests += len(responses)
            s.replays += sum(r["Idempotent-Replayed"] == "true" for r in responses)
            assert all(r.status_code == 202 for r in responses)
        drain(threads=2)

    with scenario("client retry after a timeout: same key") as s:
        for i in range(n):
            first = generate(tabs[0], f"Retry {i}", f"retry-{i}")
            again = generate(tabs[0], f"Retry {i}", f"retry-{i}")  # timed out; sent again
            s.requests += 2
            s.replays += again["Idempotent-Replayed"] == "true"
            assert first.status_code == again.status_code == 202
        drain()
        for i in range(n):  # and once more after the job ended
            late = generate(tabs[0], f"Retry {i}", f"retry-{i}")
            s.requests += 1
            s.replays += late["Idempotent-Replayed"] == "true"

    with scenario('429 burst x3, RetryInfo "1s" (retried in place)') as s:
        fake.retry_delay = "1s"
        fake.script(*["429"] * 3)
        for i in range(n):
            s.requests += 1
            assert generate(tabs[0], f"Quota {i}").status_code == 202
        drain()

    inline_max = 1.0
    with (
        override_settings(PROVIDER_INLINE_RETRY_MAX_SECONDS=inline_max),
        scenario(f'429 burst x3, RetryInfo "2s" > {inline_max:.0f} s (re-queued)') as s,
    ):
        fake.retry_delay = "2s"
        fake.script(*["429"] * 3)
        for i in range(n):
            s.requests += 1
            assert generate(tabs[0], f"Quota later {i}").status_code == 202
        drain()

    threshold = settings.CIRCUIT_BREAKER_FAILURES
    with scenario(f"503 burst x{threshold - 1} (below the breaker's {threshold})") as s:
        fake.script(*["503"] * (threshold - 1))
        for i in range(n):
            s.requests += 1
            assert generate(tabs[0], f"Overloaded {i}").status_code == 202
        drain()

    with scenario(f"503 burst x{threshold + 3} (opens the breaker)") as s:
        fake.script(*["503"] * (threshold + 3))
        for i in range(n):
            s.requests += 1
            response = generate(tabs[0], f"Down {i}")
            s.refused += response.status_code == 503
            if response.status_code == 202:
                drain()  # one job at a time: later requests meet the open breaker
        left = len(fake._script)
        if left:
            s.notes.append(f"{left} scripted 503s never reached (breaker open)")
        with fake._lock:
            fake._script.clear()

    # --- analyses -------------------------------------------------------------------------------
    clear_cache()  # the open breaker
    starter = creator("starter@example.com", "starter", 1_000)
    tab = client_for(starter)
    assert generate(tab, "Palette source").status_code == 202
    drain()
    thumbnail = Thumbnail.objects.filter(owner=starter).first()
    assert thumbnail is not None
    cap = Plan.objects.get(slug="starter").max_concurrent_jobs
    clients = [client_for(starter) for _ in range(args.analyses)]

    def analyse(client: Client) -> Any:
        body = {"type": "analyse_palette", "input": {"thumbnail_id": thumbnail.pk}}
        return client.post("/api/jobs", json.dumps(body), content_type="application/json")

    def distinct_answered(jobs_before: set[Any]) -> int:
        keys = (
            Job.objects.exclude(pk__in=jobs_before)
            .filter(type="analyse_palette", status="succeeded")
            .values_list("params__cache_key", flat=True)
        )
        return len(set(keys))

    before = set(Job.objects.values_list("pk", flat=True))
    with scenario(
        f"{args.analyses} concurrent analyse_palette, Starter cap {cap} as seeded; "
        "refused clients retry after",
        "analysis",
    ) as s:
        responses = together([lambda c=c: analyse(c) for c in clients])
        s.requests = len(responses)
        refused = [c for c, r in zip(clients, responses, strict=True) if r.status_code == 429]
        s.refused = len(refused)
        drain(threads=args.analyses)
        retried = [analyse(c) for c in refused]
        s.requests += len(retried)
        s.notes.append(
            f"{sum(r.json().get('cached', False) for r in retried)} of {len(retried)} retries "
            "answered from the cache at submit"
        )
        drain()
        s.delivered = Job.objects.exclude(pk__in=before).filter(status="succeeded").count()
    s.distinct = distinct_answered(before)

    Plan.objects.filter(slug="starter").update(max_concurrent_jobs=1000)
    invalidate_plan_table()
    png = io.BytesIO()
    Image.new("RGB", (640, 360), (20, 160, 90)).save(png, format="PNG")

    def upload(client: Client) -> Any:
        image = SimpleUploadedFile("frame.png", png.getvalue(), "image/png")
        return client.post("/api/jobs", {"type": "analyse_palette", "image": image})

    before = set(Job.objects.values_list("pk", flat=True))
    with scenario(
        f"{args.analyses} concurrent analyse_palette (same upload), cap lifted: "
        f"{args.analyses} jobs at once",
        "analysis",
    ) as s:
        responses = together([lambda c=c: upload(c) for c in clients])
        s.requests = len(responses)
        s.refused = sum(r.status_code != 202 for r in responses)
        drain(threads=args.analyses)
        s.delivered = Job.objects.exclude(pk__in=before).filter(status="succeeded").count()
        s.notes.append(
            f"{Job.objects.exclude(pk__in=before).filter(cached=True).count()} jobs answered "
            "from the cache (credits refunded)"
        )
    s.distinct = distinct_answered(before)

    clear_cache()
    gemini.disable()
    fake.stop()

    # --- report ---------------------------------------------------------------------------------
    image_model = get_model(settings.GEMINI_IMAGE_MODEL)
    print(
        f"Provider spend ({database_label()}, cache {settings.CACHES['default']['BACKEND']}; "
        f"{args.jobs} jobs x {args.variations} images per image scenario; "
        f"{image_model.id} at ${image_model.usd_for('1K'):.3f} per 1K image)"
    )
    header = (
        f"{'scenario':<74} {'req':>4} {'jobs':>4} {'replay':>6} {'refused':>7} {'out':>4} "
        f"{'failed':>6} {'attempts':>8} {'billable':>8} {'USD':>8} {'credits':>7} "
        f"{'att/out':>7} {'bill/out':>8} {'s':>5}"
    )
    print(header)
    print("-" * len(header))
    images = [f for f in figures if f.kind == "image"]
    analyses = [f for f in figures if f.kind == "analysis"]
    for f in figures:
        per = f.distinct if f.kind == "analysis" else f.delivered
        print(
            f"{f.name:<74} {f.requests:>4} {f.jobs:>4} {f.replays:>6} {f.refused:>7} "
            f"{f.delivered:>4} {f.failed_units:>6} {f.attempts:>8} {f.billable:>8} "
            f"{f.usd:>8.4f} {f.credits:>7} "
            f"{(f.attempts / per if per else 0):>7.2f} {(f.billable / per if per else 0):>8.2f} "
            f"{f.seconds:>5.1f}"
        )
        for note in f.notes:
            print(f"{'':<6}{note}")
    print(
        "out: images delivered (image scenarios) or analyses answered; the per-analysis "
        "columns divide by distinct analyses"
    )
    delivered = sum(f.delivered for f in images)
    distinct = sum(f.distinct for f in analyses)
    print(
        f"GOAL per delivered image: {sum(f.billable for f in images) / delivered:.2f} billable "
        f"calls, {sum(f.attempts for f in images) / delivered:.2f} attempts "
        f"(${sum(f.usd for f in images) / delivered:.4f}; {delivered} images, "
        f"{sum(f.failed_units for f in images)} units failed and refunded)"
    )
    print(
        f"GOAL per distinct analysis: {sum(f.billable for f in analyses) / distinct:.2f} billable "
        f"calls, {sum(f.attempts for f in analyses) / distinct:.2f} attempts "
        f"(${sum(f.usd for f in analyses) / distinct:.6f}; {distinct} distinct analyses, "
        f"{sum(f.delivered for f in analyses)} answered)"
    )


if __name__ == "__main__":
    main()
