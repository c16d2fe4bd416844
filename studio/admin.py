from __future__ import annotations

from django.contrib import admin

from studio.models import (
    Face,
    FaceImage,
    Palette,
    Project,
    Style,
    StyleReferenceImage,
    Thumbnail,
)


class StyleReferenceImageInline(admin.TabularInline):
    model = StyleReferenceImage
    extra = 0


@admin.register(Style)
class StyleAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "slug", "is_public", "created_at"]
    list_filter = ["is_public", ("owner", admin.EmptyFieldListFilter)]
    search_fields = ["name", "slug", "owner__email"]
    raw_id_fields = ["owner"]
    inlines = [StyleReferenceImageInline]


@admin.register(Palette)
class PaletteAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "colors", "is_public", "created_at"]
    list_filter = ["is_public", ("owner", admin.EmptyFieldListFilter)]
    search_fields = ["name", "owner__email"]
    raw_id_fields = ["owner"]


class FaceImageInline(admin.TabularInline):
    model = FaceImage
    extra = 0
    readonly_fields = ["width", "height"]


@admin.register(Face)
class FaceAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at"]
    search_fields = ["name", "owner__email"]
    raw_id_fields = ["owner"]
    inlines = [FaceImageInline]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "share_mode", "created_at"]
    list_filter = ["share_mode"]
    search_fields = ["name", "owner__email"]
    raw_id_fields = ["owner"]


@admin.register(Thumbnail)
class ThumbnailAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "title",
        "owner",
        "aspect_ratio",
        "resolution",
        "has_watermark",
        "is_favorite",
        "is_public",
        "created_at",
    ]
    list_filter = ["aspect_ratio", "resolution", "has_watermark", "is_public", "created_at"]
    search_fields = ["title", "owner__email"]
    raw_id_fields = ["owner", "job", "project", "style", "palette"]
    date_hierarchy = "created_at"
    list_select_related = ["owner"]
    show_full_result_count = False
