"""English date formats (Django's FORMAT_MODULE_PATH, for LANGUAGE_CODE "en-us"): "5 Dec 2026"
and "5 Dec 2026 10:49", the form the admin's lists (core.admin_display.short_datetime), the
credit history and the plans page use. Django's own "Dec. 5, 2026, 10:49 a.m." showed on the
admin's change pages beside the lists' short form (walkthrough of 2026-12-05)."""

DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y H:i"
