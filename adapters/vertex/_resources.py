"""The Vertex job verbs written once, over each job resource kind described as data (botocore-style).

A :class:`ResourceKind` names a resource's GAPIC service and message, its state table, what its REST JSON
says about outputs, and which related resources a :class:`~adapters.JobRef` keeps. :class:`VertexJobModel`
implements submit / describe / cancel / find for any kind; an adapter supplies the create body only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from .._jobs import JobRef, JobStatus, StateTable
from ._base import ConfigT, VertexModel, first, labelled, status_from
from ._client import to_json_dict, to_message

__all__ = ["ResourceKind", "VertexJobModel"]


def _none(_data: dict[str, Any], _parent: str) -> dict[str, str]:
    return {}


def _no_progress(_data: dict[str, Any]) -> tuple[float | None, str | None]:
    return None, None


@dataclass(frozen=True)
class ResourceKind:
    """One kind of Vertex job resource, as data.

    Attributes:
        noun: its name in messages (``"training pipeline"``).
        service: the :class:`~adapters.vertex._client.VertexClients` attribute serving it.
        field: the GAPIC method suffix and create argument (``training_pipeline``).
        message: the ``aiplatform_v1`` message type (``TrainingPipeline``).
        states: its state table.
        outputs: what the resource's REST JSON says the job produced.
        resources: related resource names a JobRef keeps, from the REST JSON and the parent.
        progress: the fraction done and a note on it (e.g. the tasks running), from the REST JSON.
    """

    noun: str
    service: str
    field: str
    message: str
    states: StateTable
    outputs: Callable[[dict[str, Any]], dict[str, Any]]
    resources: Callable[[dict[str, Any], str], dict[str, str]] = _none
    progress: Callable[[dict[str, Any]], tuple[float | None, str | None]] = _no_progress


class VertexJobModel(VertexModel[ConfigT]):
    """A Vertex AI job resource as an external job: the verbs, once, for :attr:`kind`."""

    kind: ClassVar[ResourceKind]

    def create_body(self, spec: dict[str, Any], submission_key: str) -> dict[str, Any]:
        """The REST JSON of the resource to create (labels and display name included)."""
        raise NotImplementedError

    def _method(self, verb: str) -> Callable[..., Any]:
        service = getattr(self.vertex, self.kind.service)
        suffix = f"{self.kind.field}s" if verb == "list" else self.kind.field
        method: Callable[..., Any] = getattr(service, f"{verb}_{suffix}")
        return method

    def _ref(self, resource: Any, sent: dict[str, Any] | None = None) -> JobRef:
        parent = self.vertex.parent
        # What we sent counts too: a create's answer need not echo every field.
        resources = self.kind.resources(sent or {}, parent)
        resources.update(self.kind.resources(to_json_dict(resource), parent))
        return JobRef(adapter=self.adapter_name, job_id=str(resource.name), resources=resources)

    def submit_job(self, spec: dict[str, Any], submission_key: str) -> JobRef:
        kind = self.kind
        body = self.create_body(spec, submission_key)
        message = to_message(getattr(self.vertex.v1, kind.message), body)
        create = self._method("create")
        parent, timeout = self.vertex.parent, self.reach.call_timeout
        created = self.guard(
            f"create {kind.noun}",
            lambda: create(parent=parent, timeout=timeout, **{kind.field: message}),
            create=True,
        )
        return self._ref(created, body)

    def describe_job(self, ref: JobRef) -> JobStatus:
        get = self._method("get")
        resource = self.guard(
            f"get {self.kind.noun}",
            lambda: get(name=ref.job_id, timeout=self.reach.call_timeout),
            job_id=ref.job_id,
        )
        data = to_json_dict(resource)
        status = status_from(data, self.kind.states, self.kind.outputs(data))
        fraction, note = self.kind.progress(data)
        if fraction is None and note is None:
            return status
        message = f"{status.message}: {note}" if status.message and note else (note or status.message)
        return status.model_copy(update={"progress": fraction, "message": message})

    def cancel_job(self, ref: JobRef) -> None:
        cancel = self._method("cancel")
        self.guard(
            f"cancel {self.kind.noun}",
            lambda: cancel(name=ref.job_id, timeout=self.reach.call_timeout),
            job_id=ref.job_id,
        )

    def find_job(self, submission_key: str) -> JobRef | None:
        # The list methods flatten only `parent`, so the label filter goes in the request; one page will do.
        listing = self._method("list")
        request = labelled(self.vertex.parent, submission_key)
        found = self.guard(
            f"list {self.kind.noun}s",
            lambda: first(listing(request=request, timeout=self.reach.call_timeout)),
        )
        return None if found is None else self._ref(found)
