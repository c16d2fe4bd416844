from __future__ import annotations

from django.urls import path

from studio import converters, views, views_gallery, views_share  # noqa: F401 (registers <id:>)

urlpatterns = [
    path("", views.home, name="home"),
    path("studio/", views.studio, name="studio"),
    path("share/<str:token>/", views_share.shared_project, name="share-project"),
    path(
        "share/<str:token>/t/<id:thumbnail_id>",
        views_share.shared_thumbnail,
        name="share-thumbnail",
    ),
    path(
        "share/<str:token>/i/<id:thumbnail_id>/<str:variant>",
        views_share.shared_image,
        name="share-image",
    ),
    path("p/<str:token>/", views_share.public_thumbnail, name="public-thumbnail"),
    path("p/<str:token>/i/<str:variant>", views_share.public_image, name="public-image"),
    path("studio/gallery", views_gallery.gallery_page, name="gallery-page"),
    path(
        "studio/thumbnails/<id:thumbnail_id>",
        views_gallery.thumbnail_page,
        name="thumbnail-page",
    ),
    path(
        "studio/thumbnails/<id:thumbnail_id>/favorite",
        views_gallery.toggle_favorite,
        name="thumbnail-favorite",
    ),
    path(
        "studio/thumbnails/<id:thumbnail_id>/delete",
        views_gallery.delete_thumbnail,
        name="thumbnail-delete",
    ),
    path(
        "studio/thumbnails/<id:thumbnail_id>/public",
        views_gallery.set_public,
        name="thumbnail-public",
    ),
    path(
        "studio/thumbnails/<id:thumbnail_id>/move",
        views_gallery.move_thumbnail,
        name="thumbnail-move",
    ),
    path("studio/projects", views_gallery.create_project, name="project-create"),
    path(
        "studio/projects/defaults",
        views_gallery.save_project_defaults,
        name="project-defaults",
    ),
    path("studio/projects/<id:project_id>", views_gallery.update_project, name="project-update"),
    path(
        "studio/projects/<id:project_id>/delete",
        views_gallery.delete_project,
        name="project-delete",
    ),
    path("studio/generate", views.generate, name="studio-generate"),
    path("studio/jobs/<str:job_id>", views.job_card, name="job-card"),
    path("studio/jobs/<str:job_id>/cancel", views.cancel_job, name="job-cancel"),
    path(
        "studio/jobs/<str:job_id>/save-style",
        views.save_analysed_style,
        name="analysed-style-save",
    ),
    path(
        "studio/jobs/<str:job_id>/save-palette",
        views.save_analysed_palette,
        name="analysed-palette-save",
    ),
    path("studio/tools/<str:type_name>", views.run_tool, name="run-tool"),
    path("studio/credits/", views.credit_history, name="credit-history"),
    path("studio/library/", views.library, name="library"),
    path("studio/library/faces", views.create_face, name="face-create"),
    path("studio/library/faces/<id:face_id>/delete", views.delete_face, name="face-delete"),
    path("studio/library/styles", views.create_style, name="style-create"),
    path(
        "studio/library/styles/<id:style_id>/preview",
        views.style_preview,
        name="style-preview",
    ),
    path("studio/library/styles/<id:style_id>", views.update_style, name="style-update"),
    path("studio/library/styles/<id:style_id>/delete", views.delete_style, name="style-delete"),
    path("studio/library/palettes", views.create_palette, name="palette-create"),
    path("studio/library/palettes/<id:palette_id>", views.update_palette, name="palette-update"),
    path(
        "studio/library/palettes/<id:palette_id>/delete",
        views.delete_palette,
        name="palette-delete",
    ),
]
