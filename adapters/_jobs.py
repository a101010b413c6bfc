"""The uniform vocabulary of external jobs: states, statuses, references and the persisted job record.

Vendors describe their states in their own words; an adapter maps them with a :class:`StateTable` (data,
not if/elif chains), in the spirit of botocore's waiter definitions. An unmapped vendor state becomes
``UNKNOWN`` with the raw value kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from ._credentials import CredentialRef
from ._messages import CamelModel, TaskState

JOB_RECORD_FORMAT = 1


class JobState(StrEnum):
    """The uniform state of an external job."""

    QUEUED = "QUEUED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    PAUSED = "PAUSED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        """True once the job can no longer change (it succeeded, failed, was cancelled or expired)."""
        return self in TERMINAL_STATES

    @property
    def task_state(self) -> TaskState:
        """The contract's coarser :class:`TaskState` for this state."""
        return _TASK_STATES[self]


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED})

# PAUSED is not success and CANCELLED is not FAILED: both keep their own JobState; only the coarse
# TaskState of the original contract folds them. A non-terminal job is "running" so that callers keep
# asking (the original async protocol echoes a running status back on status checks).
_TASK_STATES: dict[JobState, TaskState] = {
    JobState.QUEUED: TaskState.running,
    JobState.PENDING: TaskState.running,
    JobState.RUNNING: TaskState.running,
    JobState.CANCELLING: TaskState.running,
    JobState.PAUSED: TaskState.running,
    JobState.UNKNOWN: TaskState.running,
    JobState.SUCCEEDED: TaskState.succeeded,
    JobState.FAILED: TaskState.failed,
    JobState.CANCELLED: TaskState.failed,
    JobState.EXPIRED: TaskState.failed,
}


class StateTable:
    """A vendor's state names mapped to :class:`JobState`; anything unmapped is ``UNKNOWN``.

    Args:
        table: vendor state (a name, or an enum's integer value) -> JobState; names match case-insensitively.
    """

    def __init__(
        self, table: Mapping[str, JobState] | Mapping[int, JobState] | Mapping[str | int, JobState]
    ) -> None:
        self._table = {self._key(k): v for k, v in table.items()}

    @staticmethod
    def _key(raw: str | int) -> str:
        return str(raw).strip().upper()

    def map(self, raw: str | int | None) -> JobState:
        """The JobState for ``raw`` (``UNKNOWN`` when ``raw`` is unmapped or missing)."""
        if raw is None:
            return JobState.UNKNOWN
        return self._table.get(self._key(raw), JobState.UNKNOWN)

    def __contains__(self, raw: object) -> bool:
        return isinstance(raw, str | int) and self._key(raw) in self._table

    def items(self) -> list[tuple[str, JobState]]:
        """The mapping, for tests and documentation."""
        return list(self._table.items())


class JobErrorInfo(CamelModel):
    """A job's error as the vendor reported it."""

    code: str | None = None
    message: str = ""


class JobRef(CamelModel):
    """What identifies a job at its vendor: its ID (or resource name) and related resource names."""

    adapter: str
    job_id: str
    resources: dict[str, str] = Field(default_factory=dict)

    @field_validator("job_id")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("job_id must not be empty")
        return value


def _now() -> datetime:
    return datetime.now(UTC)


class JobStatus(CamelModel):
    """One observation of a job, in the same shape for every vendor."""

    state: JobState
    raw_state: str | None = None
    progress: float | None = Field(default=None, ge=0.0, le=1.0)
    message: str | None = None
    error: JobErrorInfo | None = None
    create_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    update_time: datetime | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    polled_at: datetime = Field(default_factory=_now)
    poll_hint: float | None = Field(default=None, description="seconds the vendor suggests before re-polling")
    submission_key: str | None = Field(
        default=None,
        description=(
            "the submission key the vendor holds for this job (its label or tag): None when the adapter "
            "cannot tell, '' when the job carries none; the engine checks it against the job record"
        ),
    )

    @field_validator("progress", mode="before")
    @classmethod
    def _clamp_progress(cls, value: object) -> object:
        # Vendors round: 100.4% or -0.0001 is still a progress, not a reason to fail a poll.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return None if value != value else min(1.0, max(0.0, float(value)))
        return value

    @property
    def is_terminal(self) -> bool:
        """True once the job can no longer change."""
        return self.state.is_terminal

    def same_observation(self, other: JobStatus | None) -> bool:
        """True when ``other`` reports the same state, progress and message (poll time aside)."""
        if other is None:
            return False
        keys = ("state", "raw_state", "progress", "message", "error", "outputs")
        return all(getattr(self, k) == getattr(other, k) for k in keys)

    def same_state(self, other: JobStatus | None) -> bool:
        """True when ``other`` reports the same state, raw state and error."""
        if other is None:
            return False
        return (self.state, self.raw_state, self.error) == (other.state, other.raw_state, other.error)

    def summary(self) -> str:
        """A one-line human summary."""
        parts = [self.state.value]
        if self.raw_state and self.raw_state.upper() != self.state.value:
            parts.append(f"({self.raw_state})")
        if self.progress is not None:
            parts.append(f"{self.progress:.0%}")
        if self.message:
            parts.append(f"- {self.message}")
        if self.error:
            parts.append(f"- error {self.error.code or ''}: {self.error.message}".replace(" :", ":"))
        return " ".join(parts)


class JobRecord(CamelModel):
    """The whole of a third-party model's checkpoint: ``job.json``. Never a secret, never SDK objects."""

    format: int = JOB_RECORD_FORMAT
    adapter: str
    adapter_version: str
    job: JobRef | None = None
    connection: dict[str, Any] = Field(
        default_factory=dict, description="non-secret settings needed to reach the job again (project, ...)"
    )
    credentials: CredentialRef = Field(default_factory=CredentialRef.application_default)
    submission_key: str | None = None
    spec_hash: str | None = None
    last_status: JobStatus | None = None
