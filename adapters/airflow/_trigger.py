"""JobferryJobTrigger: waits for a jobferry job on the triggerer's event loop without ever blocking it.

The trigger is rebuilt from :meth:`~JobferryJobTrigger.serialize` wherever it runs, so it carries only what
finds the job again -- workspace URL, plugin instance, handle -- and the polling settings. Everything else
(the adapter, its connection, the credential *reference*) comes from the job's checkpoint (``job.json``),
read with :func:`adapters.load_job`.

Each poll is one ``model.refresh()``: jobferry's retry policy, identity check and the process-wide status
limiter for the vendor's quota (:func:`adapters._poll.limiter_for`, so every trigger in one triggerer
shares one limiter per vendor project). Those calls block (a sync vendor client, ``time.sleep`` between
retries), so they run in a dedicated thread pool; on the loop, the trigger only awaits -- the limiter's
``delay_until_available`` before a poll, ``asyncio.sleep`` for the adaptive interval between polls.

This module imports Airflow's ``BaseTrigger`` and nothing heavy: the triggerer imports it *on* its event
loop the first time it meets the classpath.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from ._results import job_result, public_url, result_of

__all__ = ["CLASSPATH", "JobferryJobTrigger", "run_blocking"]

CLASSPATH = "adapters.airflow._trigger.JobferryJobTrigger"
#: Threads for blocking vendor calls. A slow vendor (seconds per call) ties up a thread per poll in flight,
#: not the loop; a pool of our own keeps those waits from starving other triggers' ``to_thread`` work.
MAX_THREADS = 32
#: Shortest sleep when the limiter says "now" but another trigger took the slot first (no busy loop).
_MIN_WAIT = 0.01

_T = TypeVar("_T")
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="jobferry-trigger")
        return _POOL


async def run_blocking(fn: Callable[..., _T], *args: Any) -> _T:
    """Run a blocking call in jobferry's trigger thread pool and await its result."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), functools.partial(fn, *args))


class JobferryJobTrigger(BaseTrigger):
    """Polls one jobferry job until it ends and yields one event.

    Args:
        workspace: the workspace URL or path holding the job's checkpoint.
        plugin_instance: the plugin instance the job was published to.
        handle: the checkpoint handle (``None``: ``"default"``).
        poll: :class:`~adapters.PollPolicy` fields overriding the adapter's (JSON: a dict of floats).
        requests_per_minute: the status quota of the vendor project, if not the adapter's configured one.

    The event's payload is ``{"status": "success" | "failed" | "error", "message": str, "result": {...}}``,
    ``result`` being the job's references (:func:`adapters.airflow._results.job_result`); ``failed`` means
    the job ended FAILED / CANCELLED / EXPIRED (the message is the vendor's), ``error`` that it could not be
    polled (no checkpoint, a permanent vendor error, retries exhausted).
    """

    def __init__(
        self,
        workspace: str,
        plugin_instance: str,
        handle: str | None = None,
        poll: dict[str, float] | None = None,
        requests_per_minute: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger.__init__ is unannotated
        self.workspace = workspace
        self.plugin_instance = plugin_instance
        self.handle = handle
        self.poll = dict(poll) if poll else None
        self.requests_per_minute = requests_per_minute
        #: Status calls made by this trigger (for tests and benchmarks; not serialized).
        self.polls = 0

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "workspace": self.workspace,
                "plugin_instance": self.plugin_instance,
                "handle": self.handle,
                "poll": self.poll,
                "requests_per_minute": self.requests_per_minute,
            },
        )

    def _load(self) -> Any:
        # Imported here, in a worker thread: the engine and the adapter (and its vendor SDK) are not
        # imported on the loop, nor when Airflow imports this module by classpath.
        from adapters._loading import load_job

        model = load_job(self.workspace, self.plugin_instance, self.handle)
        apply_policies(model, self.poll, self.requests_per_minute)
        return model

    def _failure(self, status: str, message: str) -> TriggerEvent:
        result = job_result(
            workspace=self.workspace,
            plugin_instance=self.plugin_instance,
            handle=self.handle or "default",
            adapter="",
            job_id="",
            resources={},
            state="UNKNOWN",
            outputs={},
        )
        return TriggerEvent({"status": status, "message": message, "result": result})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from checkpoint._errors import JobferryError

        try:
            model = await run_blocking(self._load)
            # prepaid: this loop takes each poll's acquisition itself, so no pool thread ever sleeps in
            # the limiter (1,000 triggers due at once would otherwise park 1,000 calls in the pool).
            handle = model.handle(prepaid=True)
            limiter = model.limiter(model.policies.requests_per_minute, "status")
            while True:
                # try_acquire is atomic: two triggers cannot both take the last slot of the window.
                while not limiter.try_acquire():
                    await asyncio.sleep(max(limiter.delay_until_available(), _MIN_WAIT))
                status = await run_blocking(handle.refresh)
                self.polls += 1
                if status.is_terminal:
                    break
                await asyncio.sleep(handle.next_interval(status))
        except (JobferryError, OSError) as exc:  # a workspace that cannot be read is an error event too
            self.log.warning("jobferry job %s/%s: %s", self.workspace, self.plugin_instance, exc)
            yield self._failure("error", str(exc))
            return
        result = result_of(
            model, status, public_url(self.workspace), self.plugin_instance, self.handle or "default"
        )
        ok = status.state.value == "SUCCEEDED"
        yield TriggerEvent(
            {
                "status": "success" if ok else "failed",
                "message": f"job {model.job.job_id} ended {status.summary()}",
                "result": result,
            }
        )


def apply_policies(model: Any, poll: dict[str, Any] | None, requests_per_minute: float | None) -> None:
    """Set a task's poll and rate settings on a job model (policies are never saved in job.json)."""
    from adapters._poll import PollPolicy

    update: dict[str, Any] = {}
    if poll:
        update["poll"] = PollPolicy(**{**model.policies.poll.model_dump(), **poll})
    if requests_per_minute is not None:
        update["requests_per_minute"] = float(requests_per_minute)
    if update:
        model.policies = model.policies.model_copy(update=update)
