"""The provider's triggers: they wait for jobferry's work on the triggerer's event loop, never blocking it.

A trigger is rebuilt from :meth:`~JobferryTrigger.serialize` wherever it runs, so it carries only what
finds the job again -- workspace URL, plugin instance, handle -- and the polling settings. Everything else
(the adapter, its connection, the credential *reference*) comes from the job's checkpoint (``job.json``),
read with :func:`adapters.load_job`. :class:`JobferryTrigger` does that once for every trigger (loading,
the error event, the event's shape); a trigger adds only its wait.

- :class:`JobferryJobTrigger` -- a job (training, batch prediction) until it ends. Each poll is one
  ``model.refresh()``: jobferry's retry policy, identity check and the process-wide status limiter for
  the vendor's quota (:func:`adapters._poll.limiter_for`, so every trigger in one triggerer shares one
  limiter per vendor project). Those calls block (a sync vendor client, ``time.sleep`` between retries),
  so they run in a dedicated thread pool; on the loop, the trigger only awaits -- the limiter's
  ``delay_until_available`` before a poll, ``asyncio.sleep`` for the adaptive interval between polls.
- :class:`JobferryDeployTrigger` -- a deployment until the endpoint serves the model. The adapter's
  ``deploy`` is idempotent (deterministic endpoint and deployed-model IDs) and waits for the vendor's
  long-running operations through jobferry's poll loop, so the trigger runs it, whole, in a pool of its
  own: a triggerer restart runs it again and it adopts what is there; deploys (minutes each, a few per
  DAG) never take the threads that status polls need.

This module imports Airflow's ``BaseTrigger`` and nothing heavy: the triggerer imports it *on* its event
loop the first time it meets the classpath.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from ._results import deployment_result, job_result, public_url, result_of

__all__ = [
    "CLASSPATH",
    "JobferryDeployTrigger",
    "JobferryJobTrigger",
    "JobferryTrigger",
    "run_blocking",
    "sleep_on",
]

CLASSPATH = "adapters.airflow._trigger.JobferryJobTrigger"
#: Threads for blocking status calls. A slow vendor (seconds per call) ties up a thread per poll in flight,
#: not the loop; a pool of our own keeps those waits from starving other triggers' ``to_thread`` work.
MAX_THREADS = 32
#: Threads for deploys, each held for a whole deployment (minutes): apart, so that they never starve polls.
MAX_DEPLOY_THREADS = 8
#: Shortest sleep when the limiter says "now" but another trigger took the slot first (no busy loop).
_MIN_WAIT = 0.01

_T = TypeVar("_T")
_POOLS: dict[str, ThreadPoolExecutor] = {}
_POOL_LOCK = threading.Lock()
_POOL_SIZES = {"status": MAX_THREADS, "deploy": MAX_DEPLOY_THREADS}


def _pool(kind: str) -> ThreadPoolExecutor:
    with _POOL_LOCK:
        pool = _POOLS.get(kind)
        if pool is None:
            pool = _POOLS[kind] = ThreadPoolExecutor(_POOL_SIZES[kind], thread_name_prefix=f"jobferry-{kind}")
        return pool


async def run_blocking(fn: Callable[..., _T], *args: Any, pool: str = "status", **kwargs: Any) -> _T:
    """Run a blocking call in one of jobferry's trigger thread pools and await its result."""
    call = functools.partial(fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_pool(pool), call)


async def sleep_on(clock: Any, seconds: float, at_least: float = 0.0) -> None:
    """Await ``seconds`` of ``clock``'s time (and ``at_least`` real seconds) on the loop, never blocking it.

    A clock may run faster than real time -- a benchmark's, matched to the emulator's speed-up -- and say
    so with a ``speed`` attribute (virtual seconds per real second); the system clock has none.
    """
    await asyncio.sleep(max(at_least, seconds / getattr(clock, "speed", 1.0)))


class JobferryTrigger(BaseTrigger):
    """What every jobferry trigger shares: where the job is, how to poll it, the events it ends with.

    Args:
        workspace: the workspace URL or path holding the job's checkpoint.
        plugin_instance: the plugin instance the job was published to.
        handle: the checkpoint handle (``None``: ``"default"``).
        poll: :class:`~adapters.PollPolicy` fields overriding the adapter's (JSON: a dict of floats).
        requests_per_minute: the status quota of the vendor project, if not the adapter's configured one.

    The event's payload is ``{"status": "success" | "failed" | "error", "message": str, "result": {...}}``;
    ``error`` means the work could not be followed (no checkpoint, a permanent vendor error, retries
    exhausted). Subclasses implement :meth:`wait`.
    """

    classpath: ClassVar[str]

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
        self._model: Any = None

    def serialize_kwargs(self) -> dict[str, Any]:
        """The constructor's arguments, JSON-safe (a subclass adds its own)."""
        return {
            "workspace": self.workspace,
            "plugin_instance": self.plugin_instance,
            "handle": self.handle,
            "poll": self.poll,
            "requests_per_minute": self.requests_per_minute,
        }

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (self.classpath, self.serialize_kwargs())

    def _load(self) -> Any:
        # Imported here, in a worker thread: the engine and the adapter (and its vendor SDK) are not
        # imported on the loop, nor when Airflow imports this module by classpath.
        from adapters._loading import load_job

        model = load_job(self.workspace, self.plugin_instance, self.handle)
        apply_policies(model, self.poll, self.requests_per_minute)
        self._model = model
        return model

    def event(self, status: str, message: str, result: dict[str, Any]) -> TriggerEvent:
        return TriggerEvent({"status": status, "message": message, "result": result})

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
        return self.event(status, message, result)

    async def wait(self, model: Any) -> TriggerEvent:
        """Wait (awaiting only) until the work ends; return the event to yield."""
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from checkpoint._errors import JobferryError

        try:
            model = await run_blocking(self._load)
            event = await self.wait(model)
        except (JobferryError, OSError) as exc:  # a workspace that cannot be read is an error event too
            self.log.warning("jobferry %s/%s: %s", self.workspace, self.plugin_instance, exc)
            yield self._failure("error", str(exc))
            return
        yield event


class JobferryJobTrigger(JobferryTrigger):
    """Polls one jobferry job until it ends and yields one event (``result``: the job's references).

    ``failed`` means the job ended FAILED / CANCELLED / EXPIRED, with the vendor's message.

    ``cancel_on_kill``: when a user marks the deferred task failed or succeeded, or clears it, Airflow
    cancels the trigger and calls :meth:`on_kill`, which then cancels the vendor job. A triggerer
    shutting down or handing the trigger to another triggerer, and a trigger timeout, do not call it: the
    job goes on and the next trigger (or a retry, which adopts it) picks it up.
    """

    classpath = CLASSPATH

    def __init__(
        self,
        workspace: str,
        plugin_instance: str,
        handle: str | None = None,
        poll: dict[str, float] | None = None,
        requests_per_minute: float | None = None,
        cancel_on_kill: bool = False,
    ) -> None:
        super().__init__(workspace, plugin_instance, handle, poll, requests_per_minute)
        self.cancel_on_kill = cancel_on_kill

    def serialize_kwargs(self) -> dict[str, Any]:
        return {**super().serialize_kwargs(), "cancel_on_kill": self.cancel_on_kill}

    async def wait(self, model: Any) -> TriggerEvent:
        # prepaid: this loop takes each poll's acquisition itself, so no pool thread ever sleeps in
        # the limiter (1,000 triggers due at once would otherwise park 1,000 calls in the pool).
        handle = model.handle(prepaid=True)
        limiter = model.limiter(model.policies.requests_per_minute, "status")
        while True:
            # try_acquire is atomic: two triggers cannot both take the last slot of the window.
            while not limiter.try_acquire():
                await sleep_on(model.clock, limiter.delay_until_available(), at_least=_MIN_WAIT)
            status = await run_blocking(handle.refresh)
            self.polls += 1
            if status.is_terminal:
                break
            await sleep_on(model.clock, handle.next_interval(status))
        result = result_of(
            model, status, public_url(self.workspace), self.plugin_instance, self.handle or "default"
        )
        ok = status.state.value == "SUCCEEDED"
        return self.event(
            "success" if ok else "failed", f"job {model.job.job_id} ended {status.summary()}", result
        )

    async def on_kill(self) -> None:
        """The user killed the deferred task: cancel the vendor job if ``cancel_on_kill`` (else keep it)."""
        if not self.cancel_on_kill:
            return
        model = self._model if self._model is not None else await run_blocking(self._load)
        self.log.info("cancelling job %s (cancel_on_kill=True)", model.job.job_id)
        await run_blocking(model.cancel)


class JobferryDeployTrigger(JobferryTrigger):
    """Deploys a trained job's model (``deploy_kwargs`` as for the adapter's ``deploy``) and yields one event.

    ``result``: ``{"job_id", "adapter", "plugin_instance", "workspace", "endpoint"}``.
    """

    classpath = "adapters.airflow._trigger.JobferryDeployTrigger"

    def __init__(
        self,
        workspace: str,
        plugin_instance: str,
        handle: str | None = None,
        poll: dict[str, float] | None = None,
        requests_per_minute: float | None = None,
        deploy_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(workspace, plugin_instance, handle, poll, requests_per_minute)
        self.deploy_kwargs = dict(deploy_kwargs or {})

    def serialize_kwargs(self) -> dict[str, Any]:
        return {**super().serialize_kwargs(), "deploy_kwargs": self.deploy_kwargs}

    async def wait(self, model: Any) -> TriggerEvent:
        endpoint = await run_blocking(model.deploy, pool="deploy", **self.deploy_kwargs)
        result = deployment_result(model, public_url(self.workspace), self.plugin_instance, str(endpoint))
        return self.event("success", f"job {model.job.job_id} deployed to {endpoint}", result)


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
