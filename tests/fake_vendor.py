"""An in-memory vendor with scripted jobs, and the small adapter that drives it.

The vendor is deliberately simple to reason about: a job follows a script of (raw state, seconds) steps on
an injectable clock; faults are queued per method; every call is counted. It is the fake behind the engine
tests, the conformance suite and the polling benchmark.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field

from adapters._clock import Clock, FakeClock
from adapters._connection import Connection, ExternalJobConfig
from adapters._credentials import CredentialRef
from adapters._errors import InvalidJobSpec, JobNotFound
from adapters._external import ExternalJobModel
from adapters._jobs import JobErrorInfo, JobRef, JobState, JobStatus, StateTable
from adapters._serving import OnlinePredictions

FAKE_STATES = StateTable(
    {
        "QUEUED": JobState.QUEUED,
        "STARTING": JobState.PENDING,
        "TRAINING": JobState.RUNNING,
        "DONE": JobState.SUCCEEDED,
        "ERROR": JobState.FAILED,
        "STOPPING": JobState.CANCELLING,
        "STOPPED": JobState.CANCELLED,
        "ON_HOLD": JobState.PAUSED,
        "TIMED_OUT": JobState.EXPIRED,
    }
)

DEFAULT_SCRIPT: list[tuple[str, float]] = [("QUEUED", 10.0), ("TRAINING", 50.0), ("DONE", 0.0)]


@dataclass
class FakeJob:
    """One job: its script, the time it was created and whether it was cancelled."""

    job_id: str
    key: str
    spec: dict[str, Any]
    script: list[tuple[str, float]]
    created: float
    cancelled_at: float | None = None

    def raw_state(self, now: float) -> tuple[str, float | None]:
        """The scripted raw state at ``now`` and the progress through the script."""
        if self.cancelled_at is not None:
            return "STOPPED", None
        elapsed = now - self.created
        total = sum(d for _, d in self.script[:-1]) or 1.0
        for raw, duration in self.script[:-1]:
            if elapsed < duration:
                return raw, min(1.0, (now - self.created) / total)
            elapsed -= duration
        return self.script[-1][0], 1.0


@dataclass
class FakeVendor:
    """The vendor side: jobs, queued faults per method, lost responses and call counts."""

    clock: Clock = field(default_factory=FakeClock)
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    faults: dict[str, list[BaseException]] = field(default_factory=dict)
    fail_after_effect: dict[str, list[BaseException]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _enter(self, method: str) -> None:
        with self._lock:
            self.calls[method] += 1
            queue = self.faults.get(method)
            error = queue.pop(0) if queue else None
        if error is not None:
            raise error

    def _after(self, method: str) -> None:
        with self._lock:
            queue = self.fail_after_effect.get(method)
            error = queue.pop(0) if queue else None
        if error is not None:
            raise error

    def create(self, spec: dict[str, Any], key: str, script: list[tuple[str, float]]) -> str:
        self._enter("create")
        with self._lock:
            job_id = f"job-{next(self._ids)}"
            self.jobs[job_id] = FakeJob(job_id, key, spec, list(script), self.clock.now())
        self._after("create")  # e.g. the response is lost after the job was created
        return job_id

    def get(self, job_id: str) -> FakeJob:
        self._enter("get")
        job = self.jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"job {job_id} not found", job_id=job_id, vendor="fake")
        return job

    def find(self, key: str) -> list[str]:
        self._enter("list")
        return [j.job_id for j in self.jobs.values() if j.key == key]

    def cancel(self, job_id: str) -> None:
        self._enter("cancel")
        job = self.get(job_id)
        raw, _ = job.raw_state(self.clock.now())
        if FAKE_STATES.map(raw) not in (JobState.SUCCEEDED, JobState.FAILED, JobState.EXPIRED):
            job.cancelled_at = self.clock.now()

    def predict(self, job_id: str, instances: list[Any]) -> list[Any]:
        self._enter("predict")
        self._after("predict")
        return [{"echo": inst, "job": job_id} for inst in instances]


# Vendors by name, so a model loaded afresh in this process reaches the same fake service.
VENDORS: dict[str, FakeVendor] = {}


class FakeConnection(Connection):
    """Which fake vendor (saved in job.json)."""

    vendor_name: str = "default"
    credentials: CredentialRef = Field(default_factory=CredentialRef.anonymous)


class FakeConfig(FakeConnection, ExternalJobConfig):
    """Config of the fake adapter: which vendor, and the script new jobs follow."""

    script: list[tuple[str, float]] = Field(default_factory=lambda: list(DEFAULT_SCRIPT))


class FakeModel(OnlinePredictions, ExternalJobModel[FakeConfig]):
    """The adapter for :class:`FakeVendor`: each method is one vendor call, as the contract asks."""

    adapter_name: ClassVar[str] = "fake"
    vendor: ClassVar[str] = "fake"
    config_class: ClassVar[type[ExternalJobConfig]] = FakeConfig

    @property
    def vendor_name(self) -> str:
        return self.connection_as(FakeConnection).vendor_name

    def connect(self) -> FakeVendor:
        return VENDORS[self.vendor_name]

    def quota_key(self) -> str:
        return self.vendor_name

    def submit_job(self, spec: dict[str, Any], submission_key: str) -> JobRef:
        params = spec["input"]["training_params"] or {}
        script = [tuple(step) for step in params.get("script", self.require_config().script)]
        if not script:
            raise InvalidJobSpec("script must not be empty", vendor="fake", code=400)
        job_id = self.client.create(spec, submission_key, script)
        return JobRef(adapter=self.adapter_name, job_id=job_id)

    def describe_job(self, ref: JobRef) -> JobStatus:
        vendor: FakeVendor = self.client
        job = vendor.get(ref.job_id)
        raw, progress = job.raw_state(vendor.clock.now())
        state = FAKE_STATES.map(raw)
        return JobStatus(
            state=state,
            raw_state=raw,
            progress=progress,
            error=JobErrorInfo(code="ERROR", message="the script said so")
            if state is JobState.FAILED
            else None,
            outputs={"model": f"models/{job.job_id}"} if state is JobState.SUCCEEDED else {},
            submission_key=job.key,
        )

    def cancel_job(self, ref: JobRef) -> None:
        self.client.cancel(ref.job_id)

    def find_job(self, submission_key: str) -> JobRef | None:
        found = self.client.find(submission_key)
        return JobRef(adapter=self.adapter_name, job_id=found[0]) if found else None

    def predict_chunk(
        self, ref: JobRef, instances: list[Any], parameters: dict[str, Any] | None
    ) -> list[Any]:
        predictions: list[Any] = self.client.predict(ref.job_id, instances)
        return predictions
