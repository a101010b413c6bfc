"""Watching many external jobs from one thread, within the vendor's quota.

``ExternalJobModel.wait`` blocks on one job; :class:`JobWatcher` polls any number of them from a single
loop. Each job keeps its own adaptive :class:`PollSchedule`; the earliest-due job is polled next, and every
poll goes through the per-project :class:`RateLimiter` (inside ``refresh``), so a thousand jobs cost what
the quota allows and no more.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from checkpoint._errors import JobTimeout

from ._clock import SYSTEM_CLOCK, Clock
from ._external import ExternalJobModel
from ._jobs import JobStatus
from ._poll import PollSchedule


@dataclass(order=True)
class _Entry:
    due: float
    seq: int
    model: ExternalJobModel[Any] = field(compare=False)
    schedule: PollSchedule = field(compare=False)
    started: float = field(compare=False)
    last: JobStatus | None = field(default=None, compare=False)


class JobWatcher:
    """Poll many jobs until they all end.

    Args:
        models: models with a job (``model.job``); more can be added with :meth:`add`.
        clock: time source and sleeper shared by the loop (the models' own clocks are used for their
            retries and rate limiting; give them the same one).
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
        self._heap: list[_Entry] = []
        self._seq = itertools.count()
        self.final: dict[str, JobStatus] = {}
        self.polls = 0
        for model in models:
            self.add(model)

    def add(self, model: ExternalJobModel[Any], *, first_poll_at: float | None = None) -> None:
        """Watch ``model``'s job, first polling it at ``first_poll_at`` (default: now)."""
        now = self.clock.now()
        at = now if first_poll_at is None else first_poll_at
        schedule = model.require_config().poll.schedule()
        heapq.heappush(self._heap, _Entry(at, next(self._seq), model, schedule, started=at))

    def __len__(self) -> int:
        return len(self._heap)

    def run(self, timeout: float | None = None) -> dict[str, JobStatus]:
        """Poll until every job has ended; return final statuses by job ID.

        Raises JobTimeout (naming how many jobs are still running) when ``timeout`` seconds pass first.
        """
        deadline = None if timeout is None else self.clock.now() + timeout
        while self._heap:
            entry = heapq.heappop(self._heap)
            wait = entry.due - self.clock.now()
            if deadline is not None and entry.due > deadline:
                heapq.heappush(self._heap, entry)
                raise JobTimeout(f"{len(self._heap)} jobs still running after {timeout:g} s")
            if wait > 0:
                self.clock.sleep(wait)
            status = entry.model.refresh()
            self.polls += 1
            if not status.same_observation(entry.last):
                entry.last = status
                if self.on_update is not None:
                    self.on_update(entry.model, status)
            if status.is_terminal:
                self.final[entry.model.job.job_id] = status
                continue
            now = self.clock.now()
            interval = entry.schedule.next_interval(
                state=status.state.value + (status.raw_state or ""),
                elapsed=now - entry.started,
                hint=status.poll_hint,
            )
            entry.due = now + interval
            heapq.heappush(self._heap, entry)
        return self.final
