from __future__ import annotations

from django.urls import path

from studio import api

urlpatterns = [
    path("me", api.me, name="api-me"),
    path("faces", api.faces, name="api-faces"),
    path("faces/<int:face_id>", api.face_detail, name="api-face"),
    path("styles", api.styles, name="api-styles"),
    path("palettes", api.palettes, name="api-palettes"),
    path("generate", api.generate, name="api-generate"),
    path("jobs/<str:job_id>", api.job_detail, name="api-job"),
    path("thumbnails", api.thumbnails, name="api-thumbnails"),
    path("thumbnails/<int:thumbnail_id>", api.thumbnail_detail, name="api-thumbnail"),
    path(
        "thumbnails/<int:thumbnail_id>/download",
        api.thumbnail_download,
        name="api-thumbnail-download",
    ),
]
