"""Races on real PostgreSQL: the balance row lock makes duplicates and overdrafts impossible."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client

from billing.models import CreditLedgerEntry
from billing.services import adjust_credits, effective_plan, get_balance
from generation.models import Job
from tests.conftest import REFERENCE_PHOTO, a_session_waits_on_a_lock, make_user, set_plan

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

THREADS = 20


@pytest.fixture(autouse=True)
def _needs_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (set DATABASE_URL); SQLite serialises writers")


def race(user: Any, bodies: list[dict[str, Any]], key: str | None) -> list[Any]:
    barrier = threading.Barrier(len(bodies))

    def one(body: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
        client = Client()
        client.force_login(user)
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        try:
            barrier.wait()
            response = client.post(
                "/api/generate", json.dumps(body), content_type="application/json", **headers
            )
            return response.status_code, response.json(), response.get("Idempotent-Replayed", "")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(one, bodies))


def test_twenty_identical_requests_one_job_one_debit() -> None:
    user = make_user("racer@example.com")
    results = race(user, [{"title": "Same request"}] * THREADS, key="double-click-1")
    assert all(status == 202 for status, _, _ in results)
    replayed = sorted(flag for _, _, flag in results)
    assert replayed.count("false") == 1 and replayed.count("true") == THREADS - 1, replayed
    assert len({data["id"] for _, data, _ in results}) == 1
    assert Job.objects.filter(user=user).count() == 1
    assert CreditLedgerEntry.objects.filter(user=user, kind="debit").count() == 1
    assert get_balance(user) == 9


def test_concurrent_different_requests_never_overdraw(no_job_cap: None) -> None:
    user = make_user("spender@example.com")
    results = race(user, [{"title": f"Video {i}"} for i in range(THREADS)], key=None)
    accepted = [data for status, data, _ in results if status == 202]
    refused = [data for status, data, _ in results if status == 402]
    assert len(accepted) == 10 and len(refused) == THREADS - 10
    assert all(data["code"] == "insufficient_credits" for data in refused)
    assert get_balance(user) == 0
    assert CreditLedgerEntry.objects.filter(user=user, kind="debit").count() == 10


def test_concurrent_requests_never_exceed_the_plans_job_cap() -> None:
    """The cap is counted under the same balance-row lock as the debit, so a burst of
    different requests gets exactly `max_concurrent_jobs` in and the rest 429."""
    user = make_user("burst@example.com")
    adjust_credits(user=user, amount=90, idempotency_key="burst-topup", reason="test")
    cap = effective_plan(user).max_concurrent_jobs
    results = race(user, [{"title": f"Burst {i}"} for i in range(THREADS)], key=None)
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [202] * cap + [429] * (THREADS - cap)
    assert {data["code"] for status, data, _ in results if status == 429} == {"too_many_jobs"}
    assert CreditLedgerEntry.objects.filter(user=user, kind="debit").count() == cap


def at_once(count: int, call: Any) -> list[Any]:
    """`call(i)` on `count` threads released together; each answer, or the exception raised."""
    barrier = threading.Barrier(count)

    def one(index: int) -> Any:
        try:
            barrier.wait()
            return call(index)
        except Exception as error:  # the answer under test
            return error
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_a_free_creator_racing_for_the_last_custom_palette_gets_one(monkeypatch) -> None:
    import time

    from studio.models import Palette
    from studio.services import StudioError, do_create_palette

    user = make_user("palettes@example.com")  # Free: one custom palette
    create = Palette.objects.create

    def slow_create(**fields: Any) -> Palette:  # every racer counts before the first inserts
        time.sleep(0.05)
        return create(**fields)

    monkeypatch.setattr(Palette.objects, "create", slow_create)
    answers = at_once(
        8,
        lambda i: do_create_palette(
            owner=user, name=f"Mine {i}", colors=["#000000", "#FF0000", "#FFFFFF"], is_public=False
        ),
    )
    refused = [a for a in answers if isinstance(a, StudioError)]
    assert [a.code for a in refused] == ["plan_custom_assets_limit"] * 7, answers
    assert Palette.objects.filter(owner=user).count() == 1


def _style_analysis(email: str) -> tuple[Any, Job]:
    """A Pro creator's finished style analysis of one uploaded image (kept with the job)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    user = make_user(email)
    set_plan(user, "pro")
    upload = default_storage.save("analysis/race.jpg", ContentFile(REFERENCE_PHOTO.read_bytes()))
    job = Job.objects.create(
        user=user,
        type="analyse_style",
        params={
            "images": [{"sha256": "0" * 64, "thumbnail_id": None, "name": upload, "uploaded": True}]
        },
        status=Job.Status.SUCCEEDED,
        result={"name": "Neon night", "description": "Dark, neon.", "prompt": "neon on black"},
    )
    return user, job


def _style_files() -> set[str]:
    """Every stored style reference image and preview, by name."""
    from django.core.files.storage import default_storage

    return {
        f"{folder}/{name}"
        for folder in ("styles/references", "styles/previews")
        for name in (default_storage.listdir(folder)[1] if default_storage.exists(folder) else [])
    }


def test_saving_one_style_analysis_from_two_tabs_makes_one_style() -> None:
    from studio.models import Style
    from studio.services import do_create_style_from_analysis

    user, job = _style_analysis("styles@example.com")
    before = _style_files()
    answers = at_once(4, lambda _: do_create_style_from_analysis(owner=user, job=job))
    assert all(isinstance(a, Style) for a in answers), answers
    assert len({a.pk for a in answers}) == 1
    style = Style.objects.get(owner=user)
    [reference] = style.reference_images.all()
    # The saves that lost stored their files before they locked anything: deleted again.
    assert _style_files() - before == {reference.image.name, style.preview.name}


def _locked_elsewhere(model: Any, **row: Any) -> bool:
    """Whether another transaction holds a lock on `model`'s row (`row`: one column's value)."""
    from django.db import OperationalError

    [(column, value)] = row.items()
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {model._meta.db_table} WHERE {column} = %s FOR UPDATE NOWAIT",  # noqa: S608
                [value],
            )
        return False
    except OperationalError:  # lock_not_available
        return True
    finally:
        other.close()


def test_saving_a_style_analysis_stores_its_files_with_no_row_locked(monkeypatch) -> None:
    """Saving held the creator's balance row and the job's row while it read the analysed
    images, drew the preview and wrote the files: the creator's submits and billing waited."""
    from billing.models import CreditAccount
    from studio import services as studio_services

    user, job = _style_analysis("unlocked@example.com")
    store = studio_services._store
    locked: list[tuple[bool, bool]] = []

    def watched_store(*args: Any, **kwargs: Any) -> str:
        locked.append(
            (_locked_elsewhere(CreditAccount, user_id=user.pk), _locked_elsewhere(Job, id=job.pk))
        )
        return store(*args, **kwargs)

    monkeypatch.setattr(studio_services, "_store", watched_store)
    style = studio_services.do_create_style_from_analysis(owner=user, job=job)
    assert style.reference_images.count() == 1 and style.preview
    assert locked == [(False, False)] * 2  # the reference, the preview


def _wait_until_blocked_on_a_lock() -> None:
    """Until another session of this database waits on a row lock (5 s at most)."""
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if a_session_waits_on_a_lock():
            return
        time.sleep(0.02)
    raise AssertionError("no session waited on a lock")


def test_a_delivery_waiting_on_a_cancel_does_not_deliver_the_refunded_unit(monkeypatch) -> None:
    """A worker delivering a unit while the creator's cancel is committing: the cancel refunded
    the unit, so the delivery must be dropped. (The delivery's conditional UPDATE put its
    lease and status checks in a subquery, which PostgreSQL does not re-check after waiting on
    the cancel's row lock: the refunded unit became delivered, an image for nothing.)"""
    from generation import services as engine
    from generation.models import JobUnit
    from generation.registry import get_job_type
    from generation.services import JobContext, UnitNotPending, cancel_job, claim_job, submit_job

    user = make_user("cancel-race@example.com")
    job, _, _ = submit_job(
        user=user, job_type="generate_thumbnails", params={}, units=1, unit_cost=1
    )
    assert claim_job(str(job.id), "worker")
    job.refresh_from_db()
    refunded, release = threading.Event(), threading.Event()
    set_final = engine._set_final

    def held_set_final(*args: Any, **kwargs: Any) -> None:  # the unit failed and refunded
        refunded.set()
        assert release.wait(5)
        set_final(*args, **kwargs)

    monkeypatch.setattr(engine, "_set_final", held_set_final)
    answers: list[Any] = []

    def cancel() -> None:
        try:
            cancel_job(Job.objects.get(pk=job.pk))
        finally:
            connections.close_all()

    def deliver() -> None:
        ctx = JobContext(job, "worker", get_job_type(job.type))
        try:
            with ctx.delivering(0):
                answers.append("delivered")
        except UnitNotPending:
            answers.append("dropped")
        finally:
            connections.close_all()

    canceller = threading.Thread(target=cancel)
    canceller.start()
    assert refunded.wait(5)
    worker = threading.Thread(target=deliver)
    worker.start()
    _wait_until_blocked_on_a_lock()
    release.set()
    canceller.join()
    worker.join()
    assert answers == ["dropped"]
    assert JobUnit.objects.get(job=job).status == "failed"
    assert Job.objects.get(pk=job.pk).status == "cancelled"
    assert get_balance(user) == 10


def _answer(answers: dict[str, Any], name: str, call: Any) -> None:
    """`answers[name]` = what `call()` returned, or the exception it raised (the answer under
    test); run in a thread of its own, whose connection it closes."""
    try:
        answers[name] = call()
    except Exception as error:  # the answer under test
        answers[name] = error
    finally:
        connections.close_all()


def _deleting(user: Any) -> Any:
    """The creator's account deletion, as a callable for a racing thread."""
    from core.types import User
    from studio import services as studio_services

    return lambda: studio_services.do_delete_account(user=User.objects.get(pk=user.pk))


def _race_with_account_deletion(
    monkeypatch: Any, user: Any, name: str, call: Any
) -> dict[str, Any]:
    """The deletion of `user`'s account takes their balance row and holds it while `call` starts
    in a thread of its own and waits on a row lock; then both go on. Returns `{"delete": ...,
    name: ...}`, each the answer or the exception raised."""
    from studio import services as studio_services

    balance_locked, release = threading.Event(), threading.Event()
    lock_account = studio_services.lock_account

    def held_lock_account(locked_user: Any) -> Any:  # the deletion holds the balance row
        account = lock_account(locked_user)
        if not balance_locked.is_set():
            balance_locked.set()
            assert release.wait(5)
        return account

    monkeypatch.setattr(studio_services, "lock_account", held_lock_account)
    answers: dict[str, Any] = {}
    deleter = threading.Thread(target=_answer, args=(answers, "delete", _deleting(user)))
    deleter.start()
    assert balance_locked.wait(5)
    other = threading.Thread(target=_answer, args=(answers, name, call))
    other.start()
    _wait_until_blocked_on_a_lock()
    release.set()
    deleter.join()
    other.join()
    return answers


def _refunding_path(name: str, job: Job) -> Any:
    """One engine path that refunds `job`'s unit, as a callable for a racing thread."""
    from generation.registry import JobOutcome, PaidPartFailed, UnitFailure, get_job_type
    from generation.services import JobContext, cancel_job, finish_job, refund_units

    failure = UnitFailure(0, "provider_error", "The AI service failed.")
    if name == "cancel":
        return lambda: cancel_job(Job.objects.get(pk=job.pk))
    if name == "finish":
        return lambda: finish_job(
            Job.objects.get(pk=job.pk), JobOutcome([failure]), lease_owner="worker"
        )
    if name == "refund_units":
        return lambda: refund_units(Job.objects.get(pk=job.pk), [failure], lease_owner="worker")

    def run_json() -> JobOutcome:  # the paid part failed: the free part delivered, refunded
        def compute() -> dict[str, Any]:
            raise PaidPartFailed({"colors": []}, "provider_error")

        fresh = Job.objects.get(pk=job.pk)
        return JobContext(fresh, "worker", get_job_type(fresh.type)).run_json(compute)

    return run_json


@pytest.mark.parametrize("path", ["cancel", "finish", "refund_units", "run_json"])
def test_a_refund_during_account_deletion_does_not_deadlock(monkeypatch, path: str) -> None:
    """The creator deletes their account while one of their jobs refunds a unit (a cancel from
    another tab, a worker finishing or delivering). The deletion locked the balance row, then
    the jobs; the refunds locked the job, then the balance row: each waited on the other and
    PostgreSQL aborted one (the deletion failed, or the worker's refund did). Every path now
    locks the balance row first (billing.services' lock order)."""
    from django.db.utils import OperationalError

    from core.types import User
    from generation.services import claim_job, submit_job

    user = make_user(f"delete-{path.replace('_', '-')}@example.com")
    set_plan(user, "starter")
    job_type = "analyse_palette" if path == "run_json" else "generate_thumbnails"
    job, _, _ = submit_job(user=user, job_type=job_type, params={}, units=1, unit_cost=1)
    assert claim_job(str(job.id), "worker")
    answers = _race_with_account_deletion(monkeypatch, user, path, _refunding_path(path, job))
    assert answers["delete"] == 0, answers
    assert not isinstance(answers[path], OperationalError), answers
    if path == "run_json":
        assert answers[path].failures == [], answers  # no "could not be saved": dropped
    assert not User.objects.filter(pk=user.pk).exists()
    assert not Job.objects.filter(pk=job.pk).exists()


def test_saving_an_analysis_during_account_deletion_does_not_deadlock(monkeypatch) -> None:
    """A Free creator (one custom palette allowed) saves a palette analysis while the account
    is being deleted. The save locked the analysis job's row, then the balance row (the asset
    quota's count); the deletion held the balance row and then deleted the job: each waited on
    the other. The save now locks the balance row first, as the lock order says."""
    from django.db.utils import OperationalError

    from core.types import User
    from studio import services as studio_services

    user = make_user("save-delete@example.com")
    job = Job.objects.create(
        user=user,
        type="analyse_palette",
        status="succeeded",
        params={},
        result={"name": "Warm", "colors": ["#112233", "#445566", "#778899"]},
    )
    answers = _race_with_account_deletion(
        monkeypatch,
        user,
        "save",
        lambda: studio_services.do_create_palette_from_analysis(owner=user, job=job),
    )
    assert answers["delete"] == 0, answers
    assert not isinstance(answers["save"], OperationalError), answers
    assert not User.objects.filter(pk=user.pk).exists()


def test_a_pack_refund_during_account_deletion_does_not_deadlock() -> None:
    """Stripe's charge.refunded for a credit pack arrives while its creator deletes the account.
    The webhook locks the pack's purchase row, then the balance row (billing.services' lock
    order); the deletion locked the balance row and then, deleting the user, the purchase row
    (its cascade): each waited on the other and PostgreSQL aborted one of them. The deletion
    now locks the creator's billing rows before the balance row."""
    from django.db import transaction
    from django.db.utils import OperationalError

    from billing import payments, services
    from billing.models import CreditPack, CreditPackPurchase
    from core.types import User

    user = make_user("pack-refund-delete@example.com")
    pack = CreditPack.objects.order_by("pk").first()
    assert pack is not None
    purchase = CreditPackPurchase.objects.create(
        user=user,
        pack=pack,
        credits=pack.credits,
        price_cents=pack.price_cents,
        stripe_checkout_session_id="cs_delete_race",
        stripe_payment_intent_id="pi_delete_race",
        status=CreditPackPurchase.Status.PAID,
    )
    services.grant_purchased_credits(
        user=user, amount=purchase.credits, idempotency_key="checkout:cs_delete_race", reason="pack"
    )
    purchase_locked, go = threading.Event(), threading.Event()
    answers: dict[str, Any] = {}

    def refund() -> int:  # _on_charge_refunded's transaction, as the webhook runs it
        with transaction.atomic():
            locked = payments._purchase_for_payment("pi_delete_race")
            assert locked is not None
            purchase_locked.set()
            assert go.wait(5)
            return payments._take_back_pack(
                locked, share=locked.credits, key="reversal:refund:re_race", why="refunded"
            )

    refunder = threading.Thread(target=_answer, args=(answers, "refund", refund))
    refunder.start()
    assert purchase_locked.wait(5)
    deleter = threading.Thread(target=_answer, args=(answers, "delete", _deleting(user)))
    deleter.start()
    _wait_until_blocked_on_a_lock()  # the deletion waits on the purchase row
    go.set()
    refunder.join()
    deleter.join()
    assert not isinstance(answers["refund"], OperationalError), answers
    assert not isinstance(answers["delete"], OperationalError), answers
    assert answers["delete"] == 0, answers
    assert not User.objects.filter(pk=user.pk).exists()


def _post_job(user: Any, path: str, body: dict[str, Any]) -> str:
    client = Client()
    client.force_login(user)
    response = client.post(path, json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.content
    return str(response.json()["id"])


def _deliver_while_deleting(monkeypatch: Any, job_id: str, delete: Any) -> Job | None:
    """Run the job; its first delivery's transaction, its row written, waits while `delete()`
    runs and commits on another connection, then commits."""
    from contextlib import contextmanager

    from generation import services as engine

    delivering = engine.JobContext.delivering
    deleted: list[bool] = []

    @contextmanager
    def deleted_meanwhile(self: Any, index: int, **kwargs: Any) -> Any:
        with delivering(self, index, **kwargs):
            yield
            if not deleted:

                def other() -> None:
                    try:
                        delete()
                        deleted.append(True)
                    finally:
                        connections.close_all()

                thread = threading.Thread(target=other)
                thread.start()
                thread.join(10)
                assert deleted, "the deletion did not commit"

    monkeypatch.setattr(engine.JobContext, "delivering", deleted_meanwhile)
    return engine.execute_job(job_id)


def test_a_style_and_project_deleted_while_a_unit_is_delivered_keep_the_thumbnail(
    monkeypatch,
) -> None:
    """The creator deletes the request's style and project while a worker delivers its image:
    the Thumbnail row named them, its foreign keys failed when the delivery committed, and the
    unit was refunded with the image thrown away ("could not be saved"). The delivery now reads
    the links again and keeps the thumbnail, without the deleted style and project."""
    from studio.models import Project, Style, Thumbnail
    from studio.services import (
        do_create_project,
        do_create_style,
        do_delete_project,
        do_delete_style,
    )

    user = make_user("links@example.com")
    set_plan(user, "pro")
    style = do_create_style(
        owner=user, name="Mine", description="", prompt="neon", is_public=False, references=[]
    )
    project = do_create_project(owner=user, name="Launch")
    balance = get_balance(user)
    job_id = _post_job(
        user, "/api/generate", {"title": "Kept", "style_id": style.pk, "project_id": project.pk}
    )

    def delete() -> None:
        do_delete_style(style=Style.objects.get(pk=style.pk))
        do_delete_project(project=Project.objects.get(pk=project.pk))

    job = _deliver_while_deleting(monkeypatch, job_id, delete)
    assert job is not None and (job.status, job.error) == ("succeeded", ""), job.error
    thumbnail = Thumbnail.objects.get(job_id=job_id)
    assert (thumbnail.style_id, thumbnail.project_id) == (None, None)
    assert thumbnail.image and thumbnail.download
    assert get_balance(user) == balance - 1  # charged for the image it got, refunded nothing


def test_an_edit_whose_source_is_deleted_while_it_is_delivered_keeps_the_new_version(
    monkeypatch,
) -> None:
    """The same for an edit whose source thumbnail is deleted as the new version commits: it
    is kept, with no parent and no line (its source was the line's only version)."""
    from generation.services import execute_job
    from studio.models import Thumbnail
    from studio.services import do_delete_thumbnail

    user = make_user("edit-links@example.com")
    set_plan(user, "starter")
    source_job = execute_job(_post_job(user, "/api/generate", {"title": "Source"}))
    assert source_job is not None and source_job.status == "succeeded"
    source = Thumbnail.objects.get(job=source_job)
    balance = get_balance(user)
    job_id = _post_job(
        user,
        "/api/jobs",
        {
            "type": "edit_thumbnail",
            "input": {"thumbnail_id": source.pk, "changes": {"title": "New"}},
        },
    )

    def delete() -> None:
        do_delete_thumbnail(thumbnail=Thumbnail.objects.get(pk=source.pk))

    job = _deliver_while_deleting(monkeypatch, job_id, delete)
    assert job is not None and (job.status, job.error) == ("succeeded", ""), job.error
    new = Thumbnail.objects.get(job_id=job_id)
    assert (new.parent_id, new.root_id, new.title) == (None, None, "New")
    assert not Thumbnail.objects.filter(pk=source.pk).exists()
    assert get_balance(user) == balance - 2


def test_a_style_edit_draws_its_preview_without_holding_the_balance_row(monkeypatch) -> None:
    """The edit drew the new preview (up to a second) under the owner's balance row lock, so
    their generate submits and billing waited behind it. It is drawn outside the lock now: the
    row can be locked by another request while it draws."""
    from billing.models import CreditAccount
    from studio import services, style_previews
    from tests.factories.studio import uploaded_style

    user = make_user("preview-lock@example.com")
    CreditAccount.objects.get_or_create(user=user)
    style = uploaded_style(user, name="Before")
    free: list[bool] = []
    render = style_previews.render_style_preview

    def lock_meanwhile(style: Any) -> bytes:
        def other() -> None:
            from django.db import OperationalError, transaction

            try:
                with transaction.atomic():
                    CreditAccount.objects.select_for_update(nowait=True).get(user=user)
                free.append(True)
            except OperationalError:
                free.append(False)
            finally:
                connections.close_all()

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(10)
        return render(style)

    monkeypatch.setattr(style_previews, "render_style_preview", lock_meanwhile)
    services.do_update_style(style=style, name="After")
    assert free == [True]
    style.refresh_from_db()
    assert style.name == "After" and style.preview.name.endswith(".webp")
