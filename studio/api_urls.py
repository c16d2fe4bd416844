from __future__ import annotations

from django.urls import path

from studio import api, api_library, converters  # noqa: F401 (registers <id:>)

urlpatterns = [
    path("me", api.me, name="api-me"),
    path("me/youtube-channel", api.youtube_channel, name="api-youtube-channel"),
    path("faces", api.faces, name="api-faces"),
    path("faces/<id:face_id>", api.face_detail, name="api-face"),
    path("styles", api.styles, name="api-styles"),
    path("styles/<id:style_id>", api.style_detail, name="api-style"),
    path("palettes", api.palettes, name="api-palettes"),
    path("palettes/<id:palette_id>", api.palette_detail, name="api-palette"),
    path("generate", api.generate, name="api-generate"),
    path("jobs", api.jobs, name="api-jobs"),
    path("jobs/<str:job_id>", api.job_detail, name="api-job"),
    path("jobs/<str:job_id>/cancel", api.job_cancel, name="api-job-cancel"),
    path("studio/bootstrap", api_library.bootstrap, name="api-bootstrap"),
    path("thumbnails", api_library.thumbnails, name="api-thumbnails"),
    path("thumbnails/move", api_library.move_thumbnails, name="api-thumbnails-move"),
    path("thumbnails/<id:thumbnail_id>", api_library.thumbnail_detail, name="api-thumbnail"),
    path(
        "thumbnails/<id:thumbnail_id>/download",
        api.thumbnail_download,
        name="api-thumbnail-download",
    ),
    path("projects", api_library.projects, name="api-projects"),
    path("projects/<id:project_id>", api_library.project_detail, name="api-project"),
    path(
        "projects/<id:project_id>/thumbnails",
        api_library.project_thumbnails,
        name="api-project-thumbnails",
    ),
]
