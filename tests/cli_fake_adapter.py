"""A tiny fake vendor for the CLI tests: jobs live in a JSON file, so separate processes share them.

Register it with ``register_adapter("fake-cli", "tests.cli_fake_adapter:FakeCliModel")``. A job is RUNNING
for ``finish_after`` describes (its progress growing), then ends with ``outcome``; ``finish_after = 0``
means it never ends (for timeouts). Predictions echo each instance with the job ID.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from adapters._connection import Connection, ExternalJobConfig, Policies
from adapters._errors import JobNotFound
from adapters._external import ExternalJobModel
from adapters._jobs import JobErrorInfo, JobRef, JobState, JobStatus
from adapters._poll import PollPolicy
from adapters._serving import OnlinePredictions

ADAPTER_NAME = "fake-cli"
TARGET = "tests.cli_fake_adapter:FakeCliModel"
JOBS_ONLY_NAME = "fake-cli-jobs"
JOBS_ONLY_TARGET = "tests.cli_fake_adapter:FakeCliJobs"
_FILE = "fake-vendor.json"


class FakeCliConnection(Connection):
    """Where the fake vendor keeps its jobs; poll and chunking travel in job.json too, so that a job
    loaded by another command polls fast and chunks alike (a real adapter keeps policies out of it)."""

    state_dir: str
    poll: PollPolicy = Field(default_factory=PollPolicy)
    max_instances_per_request: int = 100
    max_concurrency: int = 8


class FakeCliConfig(FakeCliConnection, ExternalJobConfig):
    """How the fake vendor's jobs end."""

    finish_after: int = Field(default=2, ge=0)
    outcome: Literal["succeed", "fail"] = "succeed"


class FakeVendor:
    """The fake service: a JSON file of jobs, read and written whole on every call."""

    # One lock per process is enough: the tests never run two CLI processes on one file at the same time.
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, state_dir: str) -> None:
        self.path = Path(state_dir) / _FILE

    def load(self) -> dict[str, dict[str, Any]]:
        """All jobs by ID."""
        try:
            data: dict[str, dict[str, Any]] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return data

    def save(self, jobs: dict[str, dict[str, Any]]) -> None:
        """Replace the file atomically, so a reader never sees half of it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f"{_FILE}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(jobs, indent=1))
        os.replace(partial, self.path)

    def update(self, job_id: str, **changes: Any) -> dict[str, Any]:
        """Apply ``changes`` to one job and return it."""
        with self._lock:
            jobs = self.load()
            if job_id not in jobs:
                raise JobNotFound(f"fake job {job_id} does not exist", job_id=job_id, vendor="fake")
            jobs[job_id].update(changes)
            self.save(jobs)
            return jobs[job_id]


class FakeCliJobs(ExternalJobModel[FakeCliConfig]):
    """An ExternalJobModel whose vendor is a JSON file, without online predictions (not Predicting)."""

    adapter_name = JOBS_ONLY_NAME
    config_class = FakeCliConfig
    vendor = "fake-cli"

    def connect(self) -> FakeVendor:
        """The fake vendor of this config's state directory."""
        return FakeVendor(self.fake.state_dir)

    def quota_key(self) -> str:
        """Each test's state directory is its own quota, so tests never throttle one another."""
        return self.fake.state_dir

    @property
    def fake(self) -> FakeCliConnection:
        return self.connection_as(FakeCliConnection)

    def default_policies(self) -> Policies:
        """A reloaded job polls and chunks as its connection says."""
        keep = ("poll", "max_instances_per_request", "max_concurrency")
        return Policies(**{name: getattr(self.fake, name) for name in keep})

    def submit_job(self, spec: dict[str, Any], submission_key: str) -> JobRef:
        """Create a job labelled with ``submission_key``."""
        config = self.require_config()
        vendor: FakeVendor = self.client
        with vendor._lock:
            jobs = vendor.load()
            job_id = f"fake-{len(jobs) + 1:04d}"
            jobs[job_id] = {
                "key": submission_key,
                "describes": 0,
                "finishAfter": config.finish_after,
                "outcome": config.outcome,
                "cancelled": False,
            }
            vendor.save(jobs)
        return JobRef(adapter=ADAPTER_NAME, job_id=job_id)

    def describe_job(self, ref: JobRef) -> JobStatus:
        """Count the describe and report the job's state after it."""
        vendor: FakeVendor = self.client
        job = vendor.load().get(ref.job_id)
        if job is None:
            raise JobNotFound(f"fake job {ref.job_id} does not exist", job_id=ref.job_id, vendor="fake")
        job = vendor.update(ref.job_id, describes=job["describes"] + 1)
        after, seen = job["finishAfter"], job["describes"]
        key = str(job.get("key") or "")  # the vendor's label: the engine checks it against job.json
        if job["cancelled"]:
            return JobStatus(state=JobState.CANCELLED, raw_state="cancelled", submission_key=key)
        if after and seen >= after:
            if job["outcome"] == "fail":
                error = JobErrorInfo(code="E1", message="boom")
                return JobStatus(state=JobState.FAILED, raw_state="failed", error=error, submission_key=key)
            return JobStatus(
                state=JobState.SUCCEEDED, progress=1.0, outputs={"accuracy": 0.9}, submission_key=key
            )
        progress = min(seen / after, 0.99) if after else None
        return JobStatus(state=JobState.RUNNING, progress=progress, message="training", submission_key=key)

    def cancel_job(self, ref: JobRef) -> None:
        """Mark the job cancelled."""
        vendor: FakeVendor = self.client
        vendor.update(ref.job_id, cancelled=True)

    def find_job(self, submission_key: str) -> JobRef | None:
        """The job labelled with ``submission_key``."""
        vendor: FakeVendor = self.client
        for job_id, job in vendor.load().items():
            if job["key"] == submission_key:
                return JobRef(adapter=ADAPTER_NAME, job_id=job_id)
        return None


class FakeCliModel(OnlinePredictions, FakeCliJobs):
    """The same fake vendor, with online predictions."""

    adapter_name = ADAPTER_NAME

    def predict_chunk(
        self, ref: JobRef, instances: list[Any], parameters: dict[str, Any] | None
    ) -> list[Any]:
        """Echo each instance, with the job and the parameters."""
        return [{"job": ref.job_id, "input": x, "parameters": parameters} for x in instances]
