"""Watching many external jobs from one thread, within the vendor's quota.

``ExternalJobModel.wait`` blocks on one job; :class:`JobWatcher` polls any number of them. Both are the
same :class:`~adapters._handle.PollLoop` over the models' job handles, so a reattached job's age comes from
its create time, every poll goes through the per-project rate limiter, and every change is posted to the
job's status log -- whichever of the two is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from adapters._errors import JobTimeout

from ._clock import SYSTEM_CLOCK, Clock
from ._external import ExternalJobModel
from ._handle import JobHandle, PollLoop
from ._jobs import JobStatus

__all__ = ["JobWatcher"]


class JobWatcher:
    """Poll many jobs until they all end.

    Args:
        models: models with a job (``model.job``); more can be added with :meth:`add`.
        clock: time source and sleeper shared by the loop (give the models the same one).
        on_update: called with ``(model, status)`` whenever a job's observation changes.
    """

    def __init__(
        self,
        models: Iterable[ExternalJobModel[Any]] = (),
        *,
        clock: Clock = SYSTEM_CLOCK,
        on_update: Callable[[ExternalJobModel[Any], JobStatus], object] | None = None,
    ) -> None:
        self.clock = clock
        self.on_update = on_update
        self._loop = PollLoop(clock=clock)
        self._models: dict[int, ExternalJobModel[Any]] = {}
        self.final: dict[str, JobStatus] = {}
        for model in models:
            self.add(model)

    @property
    def polls(self) -> int:
        """Status calls made so far."""
        return self._loop.polls

    def add(self, model: ExternalJobModel[Any], *, first_poll_at: float | None = None) -> None:
        """Watch ``model``'s job, first polling it at ``first_poll_at`` (default: now)."""
        handle = model.handle()
        self._models[id(handle)] = model
        self._loop.add(handle, at=first_poll_at)

    def __len__(self) -> int:
        return len(self._loop)

    def run(self, timeout: float | None = None) -> dict[str, JobStatus]:
        """Poll until every job has ended; return final statuses by job ID.

        Raises JobTimeout (naming how many jobs are still running) when ``timeout`` seconds pass first.
        """
        try:
            for handle, status in self._loop.run(timeout):
                model = self._model(handle)
                if self.on_update is not None:
                    self.on_update(model, status)
                if status.is_terminal:
                    self.final[model.job.job_id] = status
        except JobTimeout as exc:
            raise JobTimeout(f"{len(self._loop)} jobs still running after {timeout:g} s") from exc
        return self.final

    def _model(self, handle: JobHandle) -> ExternalJobModel[Any]:
        return self._models[id(handle)]
