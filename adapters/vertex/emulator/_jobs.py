"""The life cycle of jobs: training pipelines, custom jobs, batch prediction jobs, pipeline jobs and
hyperparameter tuning jobs alike (the last two add their task details and trials in :mod:`._kfp` and
:mod:`._hptuning`, through :attr:`Job.on_render`).

A job's state is computed from its creation time and the clock whenever it is read. A job's effects of
succeeding (model upload, batch output) run, once, whenever the job is first seen SUCCEEDED, so they never
hinge on a timer's float comparison; :attr:`Job.boundaries` is the one place phase times are computed.
What each kind does on creation and success lives with the kind; custom jobs have no effects, so they are
created here.

Outcomes are scripted per job by the label ``emulator-outcome`` (``succeed``, ``fail`` or ``pause``) or for
the next jobs created by :meth:`Jobs.script_next`; the label wins. The label ``emulator-seconds`` overrides
the running time (Vertex seconds).
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from . import _automl
from ._filters import compile_filter
from ._labels import validate_labels
from ._operations import Operations, empty
from ._runtime import Runtime
from ._wire import RPC_CODES, ApiError, invalid, not_found, precondition

Outcome = Literal["succeed", "fail", "pause"]
OUTCOMES: tuple[Outcome, ...] = ("succeed", "fail", "pause")
JOB_KINDS = (
    "trainingPipelines",
    "customJobs",
    "batchPredictionJobs",
    "pipelineJobs",
    "hyperparameterTuningJobs",
    "tuningJobs",
)
#: The kinds whose state is a PipelineState (the others' is a JobState).
PIPELINE_KINDS = frozenset({"trainingPipelines", "pipelineJobs"})
OUTCOME_LABEL = "emulator-outcome"
SECONDS_LABEL = "emulator-seconds"
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})


@dataclass(frozen=True)
class Script:
    """A scripted outcome waiting for the next job of ``kind`` (None: any job kind)."""

    outcome: Outcome
    kind: str | None = None
    message: str = "Job failed (scripted by the emulator)."


@dataclass
class Job:
    """A training pipeline, custom job or batch prediction job; its state is a function of time."""

    kind: str
    doc: dict[str, Any]
    created: float
    phases: list[tuple[str, float]]  # (state without prefix, clock seconds)
    outcome: Outcome
    message: str = ""
    cancelled_at: float | None = None
    cancel_seconds: float = 0.0
    predictor: _automl.Predictor | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    #: What succeeding does (upload the model, write batch output), called once with the end time.
    on_success: Callable[[float], None] | None = None
    succeeded_effects_done: bool = False
    #: What the kind adds to the job's JSON at a given state and time (task details, trials).
    on_render: Callable[[dict[str, Any], str, float], None] | None = None

    @property
    def prefix(self) -> str:
        return "PIPELINE_STATE_" if self.kind in PIPELINE_KINDS else "JOB_STATE_"

    @property
    def boundaries(self) -> list[tuple[str, float, float]]:
        """(state, start, end) of every phase in clock seconds: the one source of truth for phase times.

        The ends are a running sum from ``created``, so each phase starts exactly where the previous one
        ended and :attr:`finish` is the very float at which :meth:`status` stops saying RUNNING.
        """
        out: list[tuple[str, float, float]] = []
        mark = self.created
        for state, seconds in self.phases:
            end = mark + seconds
            out.append((state, mark, end))
            mark = end
        return out

    @property
    def finish(self) -> float:
        """Clock time at which the job leaves RUNNING (or pauses)."""
        bounds = self.boundaries
        return bounds[-1][2] if bounds else self.created

    def status(self, now: float) -> tuple[str, float | None, float | None, float]:
        """(state, start time, end time, last transition time) at ``now``, all in clock seconds."""
        start: float | None = None
        end: float | None = None
        for state, begin, stop in self.boundaries:
            if state == "RUNNING":
                start = begin
                if self.outcome == "pause":
                    # A paused job runs half its time, then waits for ever.
                    paused = begin + (stop - begin) / 2
                    natural, changed = ("RUNNING", begin) if now < paused else ("PAUSED", paused)
                    break
            if now < stop:
                natural, changed = state, begin
                break
        else:
            end = self.finish
            natural, changed = ("SUCCEEDED" if self.outcome == "succeed" else "FAILED"), end
        if self.cancelled_at is not None and (end is None or self.cancelled_at < end):
            done = self.cancelled_at + self.cancel_seconds
            if now >= done:
                return "CANCELLED", start, done, done
            return "CANCELLING", start, None, self.cancelled_at
        return natural, start, end, changed


class Jobs:
    """Every job, by kind and name, and the outcomes scripted for the next ones."""

    def __init__(self, runtime: Runtime, operations: Operations) -> None:
        self._rt = runtime
        self._operations = operations
        self._scripts: deque[Script] = deque()
        self.jobs: dict[str, dict[str, Job]] = {kind: {} for kind in JOB_KINDS}

    # -- scripting and creation -------------------------------------------------------------------------

    def script_next(
        self, outcome: Outcome, kind: str | None = None, count: int = 1, message: str | None = None
    ) -> None:
        """Scripts the outcome of the next ``count`` jobs created (of ``kind``, or of any kind).

        Args:
            outcome: ``succeed``, ``fail`` (the job runs, then ends FAILED) or ``pause`` (it runs half its
                time, then stays PAUSED).
            kind: one of :data:`JOB_KINDS` (``trainingPipelines``, ``customJobs``, ...); None for any.
            count: how many jobs the script applies to.
            message: the error message of failed jobs.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        if kind is not None and kind not in JOB_KINDS:
            raise ValueError(f"kind must be one of {JOB_KINDS}, not {kind!r}")
        with self._rt.lock:
            for _ in range(count):
                self._scripts.append(Script(outcome, kind, message or Script.message))

    def _take_script(self, kind: str) -> Script | None:
        for script in list(self._scripts):
            if script.kind in (None, kind):
                self._scripts.remove(script)
                return script
        return None

    def _outcome(self, kind: str, labels: dict[str, str]) -> tuple[Outcome, str]:
        label = labels.get(OUTCOME_LABEL)
        if label is not None:
            if label not in OUTCOMES:
                raise invalid(f"Label {OUTCOME_LABEL} must be one of {list(OUTCOMES)}, not {label!r}")
            return next(o for o in OUTCOMES if o == label), Script.message
        script = self._take_script(kind)
        return (script.outcome, script.message) if script else ("succeed", "")

    def _phases(self, kind: str, family: str, labels: dict[str, str]) -> list[tuple[str, float]]:
        durations = self._rt.config.durations[family]
        running = durations.running
        if SECONDS_LABEL in labels:
            try:
                running = float(labels[SECONDS_LABEL])
            except ValueError:
                raise invalid(f"Label {SECONDS_LABEL} must be a number of seconds") from None
        pending, running = self._rt.seconds(durations.pending), self._rt.seconds(running)
        if kind == "customJobs":
            return [("QUEUED", pending / 2), ("PENDING", pending / 2), ("RUNNING", running)]
        return [("PENDING", pending), ("RUNNING", running)]

    def add(
        self,
        parent: str,
        kind: str,
        body: dict[str, Any],
        family: str,
        job_id: str = "",
        *,
        named: bool = True,
    ) -> Job:
        """Creates a job of ``kind`` under ``parent`` (canonical) with the phases of ``family``.

        ``job_id``: the client-chosen ID (pipeline jobs); a taken one is 409 ALREADY_EXISTS, before any
        effect. ``named``: the resource has a required ``displayName`` (a TuningJob has none). Call with the
        lock held: it takes a scripted outcome.
        """
        if named and not body.get("displayName"):
            raise invalid("displayName is required")
        labels = validate_labels(body.get("labels"))
        name = f"{parent}/{kind}/{job_id or self._rt.new_id()}"
        if name in self.jobs[kind]:
            raise ApiError(409, f'The resource "{name}" already exists.')
        outcome, message = self._outcome(kind, labels)
        now = self._rt.clock()
        doc = {k: v for k, v in body.items() if k not in ("name", "state", "error", "createTime")}
        doc.update(name=name, labels=labels)
        job = Job(
            kind,
            doc,
            now,
            self._phases(kind, family, labels),
            outcome,
            message,
            cancel_seconds=self._rt.seconds(self._rt.config.cancel_seconds),
        )
        self.jobs[kind][doc["name"]] = job
        return job

    def create_custom_job(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a custom job (no model: custom jobs only run containers)."""
        now = self._rt.settle()
        if not (body.get("jobSpec") or {}).get("workerPoolSpecs"):
            raise invalid("jobSpec.workerPoolSpecs is required")
        with self._rt.lock:
            return self.render(self.add(self._rt.canonical(parent), "customJobs", body, "custom_job"), now)

    # -- effects of succeeding --------------------------------------------------------------------------

    def observe(self, job: Job, now: float) -> tuple[str, float | None, float | None, float]:
        """``job.status(now)``, after applying the effects of succeeding if the job is seen SUCCEEDED.

        The effects (model upload, batch output) run at most once, stamped with the job's end time, and do
        not depend on which comes first: the timer at :attr:`Job.finish` or a request that sees the job
        SUCCEEDED. Call with the lock held.
        """
        status = job.status(now)
        if status[0] == "SUCCEEDED" and not job.succeeded_effects_done:
            job.succeeded_effects_done = True
            if job.on_success is not None:
                end = status[2]
                job.on_success(job.finish if end is None else end)
        return status

    def arm(self, job: Job) -> None:
        """Arms the timer that applies the job's effects when it ends, even if nobody polls it."""

        def fire(t: float) -> None:
            self.observe(job, max(t, job.finish))

        self._rt.at(job.finish, fire)

    # -- reading and ending -----------------------------------------------------------------------------

    def _find(self, kind: str, name: str) -> Job:
        job = self.jobs[kind].get(self._rt.canonical(name))
        if job is None:
            raise not_found(name)
        return job

    def render(self, job: Job, now: float) -> dict[str, Any]:
        """The job's JSON at ``now`` (a job seen SUCCEEDED has had its effects applied)."""
        state, start, end, changed = self.observe(job, now)
        doc = copy.deepcopy(job.doc)
        doc["state"] = job.prefix + state
        doc["createTime"] = self._rt.wall(job.created)
        doc["updateTime"] = self._rt.wall(changed)
        if start is not None and start <= now:
            doc["startTime"] = self._rt.wall(start)
        if end is not None:
            doc["endTime"] = self._rt.wall(end)
        if state == "FAILED":
            doc["error"] = {"code": RPC_CODES["INTERNAL"], "message": job.message}
        elif state == "CANCELLED":
            doc["error"] = {"code": RPC_CODES["CANCELLED"], "message": "CANCELED"}
        if state == "SUCCEEDED" and job.summary:
            doc["trainingTaskMetadata"] = job.summary
        if job.on_render is not None:
            job.on_render(doc, state, now)
        return doc

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """Gets a job (404 if unknown)."""
        now = self._rt.settle()
        with self._rt.lock:
            return self.render(self._find(kind, name), now)

    def list_page(
        self, kind: str, parent: str, filter_text: str, page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of the jobs under ``parent`` that match the filter, and the next page token."""
        now = self._rt.settle()
        predicate = compile_filter(filter_text)
        prefix = self._rt.canonical(parent) + f"/{kind}/"
        with self._rt.lock:
            docs = [self.render(j, now) for n, j in self.jobs[kind].items() if n.startswith(prefix)]
        return self._rt.page([d for d in docs if predicate(d)], page_size, page_token)

    def cancel(self, kind: str, name: str) -> None:
        """Requests cancellation; 400 FAILED_PRECONDITION if the job already ended."""
        now = self._rt.settle()
        with self._rt.lock:
            job = self._find(kind, name)
            state = self.observe(job, now)[0]
            if state in _TERMINAL or state == "CANCELLING":
                raise precondition(f"Cannot cancel {job.doc['name']} in state {job.prefix}{state}.")
            job.cancelled_at = now

    def delete(self, kind: str, name: str) -> dict[str, Any]:
        """Deletes an ended job (Vertex refuses to delete live ones); returns the delete operation."""
        now = self._rt.settle()
        with self._rt.lock:
            job = self._find(kind, name)
            state = self.observe(job, now)[0]
            if state not in _TERMINAL:
                raise precondition(
                    f"{job.doc['name']} is in state {job.prefix}{state} and cannot be deleted."
                )
            del self.jobs[kind][job.doc["name"]]
            return self._operations.start(job.doc["name"], "DeleteOperationMetadata", 0.0, empty)
