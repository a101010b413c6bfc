"""A job handle (a name plus ``refresh`` / ``cancel``) and the one poll loop every wait in jobferry uses.

After google-api-core's ``Operation``: a handle is composed from callables, not inherited. ``wait`` and
``watch`` on a model, :class:`~adapters.JobWatcher`, the waits on long-running operations and deployments
-- every one of them is a :class:`PollLoop` over handles, so they share one notion of a job's age, one
clock, the per-quota rate limiter (inside each handle's ``refresh``) and status posting (its
``on_change``).

The loop polls the earliest-due handle, reports each *change* of observation, and schedules the next poll
by the handle's adaptive :class:`~adapters._poll.PollSchedule`, capped by ``max(10% of the job's age,
60 s)``. A job's age counts from its vendor create time when that is known (a reattached two-hour-old job
is polled like one), else from its first poll here.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from adapters._errors import JobTimeout

from ._clock import SYSTEM_CLOCK, Clock
from ._jobs import JobStatus
from ._poll import PollPolicy, PollSchedule

__all__ = ["JobHandle", "PollLoop"]


class JobHandle:
    """One thing to poll: a name, how to refresh it, how to cancel it.

    Args:
        name: what is polled (``"job ID"``, ``"deploy model (operation X)"``), for messages.
        refresh: one status call (rate-limited and retried by whoever built it).
        cancel: asks the vendor to cancel, if it can be cancelled.
        poll: the polling policy.
        clock: time source and sleeper.
        last: the last status known before polling starts (its create time gives the job's age).
        on_change: called with every new observation (the engine posts it to the status log).
        job_id: the vendor's ID of the job, when the handle is a job's (carried by JobTimeout).
    """

    def __init__(
        self,
        name: str,
        refresh: Callable[[], JobStatus],
        *,
        cancel: Callable[[], object] | None = None,
        poll: PollPolicy | None = None,
        clock: Clock = SYSTEM_CLOCK,
        last: JobStatus | None = None,
        on_change: Callable[[JobStatus], object] | None = None,
        job_id: str | None = None,
    ) -> None:
        self.name = name
        self.job_id = job_id
        self._refresh = refresh
        self._cancel = cancel
        self.clock = clock
        self.schedule: PollSchedule = (poll or PollPolicy()).schedule()
        self.on_change = on_change
        self.last: JobStatus | None = None
        self.polls = 0
        # clock.now() at the job's creation; None until a create time or a first poll says.
        self._born: float | None = None
        self._date_age(last)

    def _date_age(self, status: JobStatus | None) -> None:
        if self._born is not None or status is None or status.create_time is None:
            return
        created = status.create_time
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        age = max(0.0, (datetime.now(UTC) - created).total_seconds())
        self._born = self.clock.now() - age

    def age(self) -> float:
        """Seconds since the job was created (as far as this handle knows)."""
        return 0.0 if self._born is None else max(0.0, self.clock.now() - self._born)

    def refresh(self) -> JobStatus:
        """Poll once; call ``on_change`` if the observation differs from the last one."""
        status = self._refresh()
        self.polls += 1
        self._date_age(status)
        if self._born is None:
            self._born = self.clock.now()
        if not status.same_observation(self.last):
            self.last = status
            if self.on_change is not None:
                self.on_change(status)
        return status

    def cancel(self) -> None:
        """Ask the vendor to cancel."""
        if self._cancel is None:
            raise TypeError(f"{self.name} cannot be cancelled")
        self._cancel()

    def next_interval(self, status: JobStatus) -> float:
        """Seconds until the next poll after ``status``."""
        return self.schedule.next_interval(
            state=status.state.value + (status.raw_state or ""), elapsed=self.age(), hint=status.poll_hint
        )

    def watch(self, timeout: float | None = None) -> Iterator[JobStatus]:
        """Each new observation until the job ends; JobTimeout after ``timeout`` seconds."""
        loop = PollLoop(clock=self.clock)
        loop.add(self)
        for _, status in loop.run(timeout):
            yield status

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Poll until the job ends and return its final status; JobTimeout after ``timeout`` seconds."""
        final: JobStatus | None = None
        for status in self.watch(timeout):
            final = status
        assert final is not None
        return final


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    handle: JobHandle = field(compare=False)


class PollLoop:
    """The one poll loop: polls many handles from one thread, earliest due first.

    Args:
        clock: time source and sleeper shared by the loop (give the handles the same one).
    """

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self._heap: list[_Due] = []
        self._seq = itertools.count()
        self.polls = 0

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, handle: JobHandle, *, at: float | None = None) -> None:
        """Poll ``handle`` first at ``at`` (default: now)."""
        heapq.heappush(self._heap, _Due(self.clock.now() if at is None else at, next(self._seq), handle))

    def run(self, timeout: float | None = None) -> Iterator[tuple[JobHandle, JobStatus]]:
        """Yield ``(handle, status)`` for every new observation, until every handle's job has ended.

        Each handle is polled once more at the deadline; if any is still not done then, JobTimeout names
        it (or how many are left). The jobs themselves go on.
        """
        deadline = None if timeout is None else self.clock.now() + timeout
        while self._heap:
            due = heapq.heappop(self._heap)
            wait = due.at - self.clock.now()
            if wait > 0:
                self.clock.sleep(wait)
            handle = due.handle
            before = handle.last
            status = handle.refresh()
            self.polls += 1
            if not status.same_observation(before):
                yield handle, status
            if status.is_terminal:
                continue
            now = self.clock.now()
            if deadline is not None and now >= deadline:
                heapq.heappush(self._heap, due)
                raise self._timeout(handle, status, timeout)
            at = now + handle.next_interval(status)
            if deadline is not None:
                at = min(at, deadline)  # one last look at the deadline
            due.at, due.seq = at, next(self._seq)
            heapq.heappush(self._heap, due)

    def _timeout(self, handle: JobHandle, status: JobStatus, timeout: float | None) -> JobTimeout:
        if len(self._heap) == 1:
            return JobTimeout(
                f"{handle.name} still {status.state.value} after {timeout:g} s",
                job_id=handle.job_id,
                last_status=status,
            )
        return JobTimeout(f"{len(self._heap)} jobs still running after {timeout:g} s")
