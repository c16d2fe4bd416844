"""The studio's job types, registered with the engine in `StudioConfig.ready()`."""

from __future__ import annotations

from studio.job_types.analyse_palette import AnalysePalette
from studio.job_types.generate import GenerateThumbnails

JOB_TYPES = (GenerateThumbnails(), AnalysePalette())
