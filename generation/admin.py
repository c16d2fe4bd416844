from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from generation.models import Job, JobEvent


class JobEventInline(admin.TabularInline):
    model = JobEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "stage", "progress", "message"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    # Compact columns so the list fits a laptop screen beside the filters: the id's first block
    # (the full id is on the change page and searchable), units as "ok/failed of total".
    list_display = [
        "short_id",
        "user",
        "type",
        "status",
        "progress_percent",
        "cost",
        "units_summary",
        "model",
        "error_code",
        "created_at",
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Job", ordering="id")
    def short_id(self, job: Job) -> str:
        return str(job.id).split("-")[0]

    @admin.display(description="Progress", ordering="progress")
    def progress_percent(self, job: Job) -> str:
        return f"{job.progress}%"

    @admin.display(description="Units (ok/failed of)")
    def units_summary(self, job: Job) -> str:
        return f"{job.units_succeeded}/{job.units_failed} of {job.units}"
