"""The messages of the TrainableModel contract (pydantic v2; snake_case in Python, camelCase on the wire).

Every message round-trips through JSON losslessly: ``M.model_validate_json(m.model_dump_json()) == m``,
generic ones too when validated with their parameter (``PluginRequest[TrainPluginInput]``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC)


class CamelModel(BaseModel):
    """Base of the wire messages: camelCase JSON, snake_case attributes, either accepted on input."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        extra="ignore",
        # Validators are built on first use, not at import: building them (and pydantic's plugin scan of
        # every installed distribution's entry points, on the first build) is most of an import's cost,
        # and a command such as `jobferry --help` validates nothing.
        defer_build=True,
    )


class TaskState(StrEnum):
    """The life-cycle state of a task, as the original contract names it."""

    waiting = "waiting"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class Task(CamelModel):
    """The status of an invocation; ``remote_status_*`` carry an external job's reference and outputs."""

    task_id: str | None = None
    state: TaskState | None = None
    status_message: str | None = None
    status_suggestion: str | None = None
    status_code: str | None = None
    remote_status_input: dict[str, Any] | None = None
    remote_status_output: dict[str, Any] | None = None
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


class PluginRequestContext(CamelModel):
    """Who a request is for: the plugin instance and the workspace (its URL) it lives in."""

    plugin_instance_id: str | None = None
    workspace: str | None = None
    plugin_handle: str | None = None


class PluginRequest(CamelModel, Generic[T]):
    """A request to a plugin; a request built from ``data`` alone is valid."""

    data: T | None = None
    context: PluginRequestContext | None = None
    status: Task | None = None
    is_status_check: bool = False


class TrainPluginInput(CamelModel):
    """What to train: the plugin instance and the training parameters."""

    plugin_instance: str | None = None
    training_epochs: int | None = None
    testing_holdout_percent: float | None = None
    test_split_seed: int | None = None
    training_params: dict[str, Any] | None = None
    inference_params: dict[str, Any] | None = None
    training_data_url: str | None = None


class TrainPluginOutput(CamelModel):
    """What training produced: where the checkpoint is, and the training's progress and results."""

    plugin_instance_id: str | None = None
    archive_path: str | None = None
    inference_params: dict[str, Any] | None = None
    training_progress: dict[str, Any] | None = None
    training_results: dict[str, Any] | None = None


class InvocableResponse(CamelModel, Generic[T]):
    """A response: ``data`` plus the ``status`` :class:`Task`.

    No state given means succeeded; ``error=`` (an exception or a message) means failed with that message;
    a status given with a state (e.g. running) is kept as it is.
    """

    data: T | None = None
    status: Task = Field(default_factory=Task)

    @model_validator(mode="before")
    @classmethod
    def _fold_error(cls, values: Any) -> Any:
        if not isinstance(values, dict) or "error" not in values:
            return values
        values = dict(values)
        error = values.pop("error")
        if error is None:
            return values
        status = values.get("status")
        task = Task.model_validate(status) if isinstance(status, dict) else (status or Task())
        code = getattr(error, "code", None)
        values["status"] = task.model_copy(
            update={
                "state": TaskState.failed,
                "status_message": str(error),
                "status_code": str(code) if code is not None else task.status_code,
                "updated_at": _now(),
            }
        )
        return values

    @model_validator(mode="after")
    def _default_state(self) -> InvocableResponse[T]:
        if self.status.state is None:
            self.status.state = TaskState.succeeded
        return self

    @classmethod
    def from_error(cls, error: BaseException | str, status: Task | None = None) -> InvocableResponse[T]:
        """A failed response carrying ``error``'s message (and its ``code`` attribute, if any)."""
        return cls.model_validate({"error": error, "status": status})

    def post_update(self, sink: Callable[[InvocableResponse[T]], object]) -> None:
        """Stream this response as an intermediate status to ``sink``.

        ``sink`` is any callable, or a workspace's :class:`checkpoint.StatusLog` (itself callable), which
        another process can read back.
        """
        sink(self)
