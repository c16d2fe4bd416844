from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from django.utils.translation import ngettext
from django_dramatiq.models import Task

from core.admin_display import breakable, short_datetime
from generation.models import Job, JobEvent
from generation.services import UNFINISHED, cancel_job, discard_retained_inputs_on_commit

# django_dramatiq's "Tasks" admin lists what its AdminMiddleware records, which the broker does
# not run (settings.DRAMATIQ_BROKER): the page was always empty however many jobs ran, and
# read as "no work". Jobs (below) are the record of every job and its events.
if admin.site.is_registered(Task):
    admin.site.unregister(Task)


class JobEventInline(admin.TabularInline):
    model = JobEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "stage", "progress", "message"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    # Compact columns so the list fits a laptop screen beside the admin's navigation sidebar
    # and the filters (1440 px): the id's first block (the full id is on the change page and
    # searchable), the creator's email, the type with its model, the status with the progress
    # of an unfinished job, units as "ok/failed of total", a short date.
    list_display = [
        "short_id",
        "creator",
        "type_and_model",
        "status_summary",
        "cost",
        "units_summary",
        "failure_code",
        "created",
    ]
    list_display_links = ["short_id"]
    list_filter = ["status", "type", "priority", "error_code", "created_at"]
    search_fields = ["=id", "user__email", "idempotency_key"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    show_full_result_count = False  # no COUNT(*) over the whole jobs table
    inlines = [JobEventInline]
    readonly_fields = [f.name for f in Job._meta.fields]

    actions = ["cancel_jobs"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    # A queued or running job holds a debit for units not yet delivered: deleting it would keep
    # that charge with no job left to refund it. Such a job is cancelled (refunded) first, with
    # the "Cancel selected jobs" action; Django's delete pages refuse it until then.
    def has_delete_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        if obj is not None and obj.status in UNFINISHED:
            return False
        return super().has_delete_permission(request, obj)

    # A finished job of a type that keeps its inputs (an analysis' uploads) still holds them:
    # deleted here, they go once the delete commits, as `purge_job_history` deletes them.
    def delete_model(self, request: HttpRequest, obj: Job) -> None:
        with transaction.atomic():
            discard_retained_inputs_on_commit(Job.objects.filter(pk=obj.pk))
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        with transaction.atomic():
            discard_retained_inputs_on_commit(queryset)
            super().delete_queryset(request, queryset)

    # A job's page is all read-only fields: no save buttons that would change nothing.
    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {**(extra_context or {}), "show_save": False, "show_save_and_continue": False}
        return super().change_view(request, object_id, form_url, context)

    # Cancelling refunds a creator's job: staff who may only view jobs do not get the action.
    @admin.action(
        description="Cancel selected jobs (refunds undelivered units)", permissions=["change"]
    )
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        """Cancels the queued and running jobs selected; says how many, and how many it left
        because they had already finished (a warning when that was all of them: "Cancelled 0
        job(s)." in green read as if something had happened)."""
        cancelled = sum(
            cancel_job(job).status == Job.Status.CANCELLED
            for job in queryset.filter(status__in=UNFINISHED)
        )
        finished = queryset.count() - cancelled
        left = ngettext(
            "%(count)d job had already finished, so it was left as it was.",
            "%(count)d jobs had already finished, so they were left as they were.",
            finished,
        ) % {"count": finished}
        if not cancelled:
            self.message_user(request, f"Nothing was cancelled: {left}", messages.WARNING)
            return
        done = ngettext(
            "Cancelled %(count)d job.",
            "Cancelled %(count)d jobs.",
            cancelled,
        ) % {"count": cancelled}
        self.message_user(request, f"{done} {left}" if finished else done, messages.SUCCESS)

    @admin.display(description="Job", ordering="id")
    def short_id(self, job: Job) -> str:
        return str(job.id).split("-")[0]

    @admin.display(description="Creator", ordering="user__email")
    def creator(self, job: Job) -> str:
        return breakable(job.user.email)

    @admin.display(description="Type, model", ordering="type")
    def type_and_model(self, job: Job) -> str:
        if not job.model:
            return breakable(job.type)
        return format_html("{}<br><small>{}</small>", breakable(job.type), job.model)

    @admin.display(description="Error code", ordering="error_code")
    def failure_code(self, job: Job) -> str:
        return breakable(job.error_code) if job.error_code else "-"

    @admin.display(description="Status", ordering="status")
    def status_summary(self, job: Job) -> str:
        label = job.get_status_display()
        return f"{label} {job.progress}%" if job.status in UNFINISHED else label

    @admin.display(description="Created", ordering="created_at")
    def created(self, job: Job) -> str:
        return short_datetime(job.created_at)

    @admin.display(description="Units ok/failed")
    def units_summary(self, job: Job) -> str:
        return f"{job.units_succeeded}/{job.units_failed} of {job.units}"
