"""Job types registered with the engine.

A job type is the product's description of one kind of work (generate thumbnails, edit, heatmap,
...). The engine handles queueing, charging, refunds, progress and retries the same way for all of
them; `studio` registers its job types in its AppConfig.ready().
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from generation.models import Job
    from generation.progress import ProgressReporter


@dataclass(frozen=True)
class UnitFailure:
    """One failed billable unit (a variation). `message` is shown to the creator as is."""

    index: int
    code: str
    message: str


@dataclass
class JobOutcome:
    failures: list[UnitFailure] = field(default_factory=list)


class JobType(Protocol):
    name: str

    def run(self, job: Job, progress: ProgressReporter) -> JobOutcome:
        """Do the work. Unit failures go in the outcome; an exception fails every unit."""
        ...

    def result(self, job: Job) -> dict[str, Any]:
        """Extra fields for the job's JSON payload, e.g. `{"thumbnails": [...]}`."""
        ...


_registry: dict[str, JobType] = {}


def register_job_type(job_type: JobType) -> JobType:
    _registry[job_type.name] = job_type
    return job_type


def get_job_type(name: str) -> JobType:
    """Raises KeyError for an unregistered name."""
    return _registry[name]
