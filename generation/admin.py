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
    list_display = [
        "id",
        "user",
        "type",
        "status",
        "stage",
        "progress",
        "cost",
        "units_succeeded",
        "units_failed",
        "error_code",
        "created_at",
    ]
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
