"""What every Vertex AI adapter shares: the connection, the config, the error boundary, labels, waits.

A Vertex adapter reaches the service through :class:`VertexConnection` (saved in ``job.json``); the rest
of :class:`VertexConfig` (labels, service account, encryption key, display name) is part of the job.
Every wait on Vertex -- long-running operations, a resource that settles after a lost create -- is the
engine's one poll loop (``wait_for``), with the job's poll policy, clock and status-call quota.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import Field, field_validator, model_validator

from adapters._errors import Conflict, JobTimeout, OutcomeUnknown, PermanentError, TransientError
from checkpoint._errors import JobferryError

from .._connection import Connection, ExternalJobConfig
from .._credentials import CredentialRef
from .._external import ExternalJobModel
from .._jobs import JobErrorInfo, JobState, JobStatus, StateTable
from ._client import VertexClients, endpoint_problem, shared_clients
from ._errors import CallContext, vertex_errors
from ._labels import MAX_LABELS, label_key_problem, label_value_problem

T = TypeVar("T")

LABEL_KEY = "jobferry-key"
LABEL_VERSION = "jobferry-version"
#: Labels jobferry adds to every resource it creates (LABEL_KEY and LABEL_VERSION).
_OWN_LABELS = 2

# PipelineState and JobState share their numbering (REST.md), in this order: (name, what it means to us).
# The REST JSON carries names; with ``enum-encoding=int`` (what the client asks for) the wire carries the
# integers, so each table maps both. tests/vertex/test_states.py checks them against the installed enums.
_COMMON = [
    ("UNSPECIFIED", JobState.UNKNOWN),
    ("QUEUED", JobState.QUEUED),
    ("PENDING", JobState.PENDING),
    ("RUNNING", JobState.RUNNING),
    ("SUCCEEDED", JobState.SUCCEEDED),
    ("FAILED", JobState.FAILED),
    ("CANCELLING", JobState.CANCELLING),
    ("CANCELLED", JobState.CANCELLED),
    ("PAUSED", JobState.PAUSED),
]
_JOB_ONLY = [
    ("EXPIRED", JobState.EXPIRED),
    ("UPDATING", JobState.RUNNING),
    # Some items failed: not a success, and the outputs are incomplete.
    ("PARTIALLY_SUCCEEDED", JobState.FAILED),
]


def _state_table(prefix: str, states: list[tuple[str, JobState]]) -> StateTable:
    """Each state by its name (``PREFIX_NAME``) and by its integer (its place in ``states``)."""
    table: dict[str | int, JobState] = {f"{prefix}{name}": state for name, state in states}
    table.update({number: state for number, (_, state) in enumerate(states)})
    return StateTable(table)


PIPELINE_STATES = _state_table("PIPELINE_STATE_", _COMMON)
JOB_STATES = _state_table("JOB_STATE_", _COMMON + _JOB_ONLY)


def label_filter(submission_key: str) -> str:
    """The list filter selecting resources labelled with ``submission_key``."""
    return f'labels.{LABEL_KEY}="{submission_key}"'


def labelled(parent: str, submission_key: str) -> dict[str, str]:
    """A list request for the resources under ``parent`` labelled with ``submission_key``."""
    return {"parent": parent, "filter": label_filter(submission_key)}


def first(items: Any) -> Any:
    """The first item of a list call's pager (fetching one page), or ``None``."""
    return next(iter(items), None)


class VertexConnection(Connection):
    """How to reach Vertex AI (saved in ``job.json``; changing any of it never submits a new job).

    Attributes:
        project: Google Cloud project ID.
        location: region, e.g. ``us-central1``.
        api_endpoint: override of ``{location}-aiplatform.googleapis.com``: for the emulator
            ``http://127.0.0.1:PORT`` (REST) or ``grpc://127.0.0.1:PORT`` (gRPC, anonymous credentials).
        transport: ``rest`` (default) or ``grpc``; must fit the endpoint's scheme.
        credentials: a credential *reference* (application-default by default).
        call_timeout: seconds one HTTP call may take.
        operation_timeout: seconds to wait for a long-running operation (deploy, dataset import, ...).
        create_settle_seconds: after a create of a dataset whose response was lost, how long to look for
            it by label (it is listed once its operation is done) before creating it again. Endpoints
            need no such wait: their client-chosen ID makes a repeated create fail with 409.
    """

    project: str = Field(min_length=1)
    location: str = Field(default="us-central1", min_length=1)
    api_endpoint: str | None = None
    transport: str = Field(default="rest", pattern="^(rest|grpc)$")
    credentials: CredentialRef = Field(default_factory=CredentialRef.application_default)
    call_timeout: float = Field(default=60.0, gt=0)
    operation_timeout: float = Field(default=7200.0, gt=0)
    create_settle_seconds: float = Field(default=30.0, ge=0)

    @model_validator(mode="after")
    def _endpoint_fits_transport(self) -> VertexConnection:
        # Refused at config time, before anything is claimed or submitted.
        problem = endpoint_problem(self.api_endpoint, self.transport, self.credentials)
        if problem is not None:
            raise ValueError(problem)
        return self


class VertexConfig(VertexConnection, ExternalJobConfig):
    """Settings common to every Vertex AI adapter: the connection's, and these, which are the job's.

    Attributes:
        labels: labels for every resource created (jobferry adds its submission key and version).
        service_account: the service account the training runs as.
        encryption_key_name: a Cloud KMS key for customer-managed encryption.
        display_name: display name of the created resources (default: the plugin instance or a key).
    """

    labels: dict[str, str] = Field(default_factory=dict)
    service_account: str | None = None
    encryption_key_name: str | None = None
    display_name: str | None = None

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        if len(labels) > MAX_LABELS - _OWN_LABELS:
            raise ValueError(
                f"{len(labels)} labels given; Vertex allows {MAX_LABELS} and jobferry adds {_OWN_LABELS}"
            )
        for key, value in labels.items():
            if key in (LABEL_KEY, LABEL_VERSION):
                raise ValueError(f"label key {key!r} is jobferry's own; choose another key")
            problem = label_key_problem(key) or label_value_problem(value)
            if problem is not None:
                raise ValueError(problem)
        return labels


ConfigT = TypeVar("ConfigT", bound=VertexConfig)


class VertexModel(ExternalJobModel[ConfigT]):
    """Base of the Vertex AI adapters: clients, the error boundary, resource bodies, waits."""

    vendor: ClassVar[str] = "vertex"

    @property
    def reach(self) -> VertexConnection:
        """The typed connection (from the config, or validated from ``job.json``)."""
        return self.connection_as(VertexConnection)

    def connect(self) -> VertexClients:
        c = self.reach
        return shared_clients(c.project, c.location, c.credentials, c.api_endpoint, c.transport)

    @property
    def vertex(self) -> VertexClients:
        """The GAPIC clients (built on first use)."""
        clients: VertexClients = self.client
        return clients

    def quota_key(self) -> str:
        return f"{self.reach.project}/{self.reach.location}"

    def guard(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        job_id: str | None = None,
        create: bool = False,
        submits: bool | None = None,
    ) -> T:
        """Run one vendor call inside the error boundary (no retry here; callers wrap it in one).

        ``create``: a lost response leaves the outcome unknown (OutcomeUnknown). ``submits`` (default:
        ``create``): the call is a job or LRO submission, drawn from Vertex's 60-a-minute submission quota
        as well as the resource-management one (:meth:`take_submission`).
        """
        if create if submits is None else submits:
            self.take_submission()
        c = self.reach
        ctx = CallContext(
            what,
            c.project,
            c.location,
            c.credentials.describe(),
            job_id=job_id,
            is_create=create,
            endpoint=c.api_endpoint or "",
        )
        with vertex_errors(ctx):
            return fn()

    def model_resource_name(self) -> str:
        """The trained model's resource name; adapters whose jobs train a model override this."""
        raise JobferryError(f"{type(self).__name__} jobs produce no Vertex AI model")

    # -- what every created resource carries ------------------------------------------------------------

    def labels(self, submission_key: str) -> dict[str, str]:
        """The user's labels plus the submission key and jobferry's version (label-safe)."""
        from .. import __version__

        version = re.sub(r"[^a-z0-9_-]", "-", __version__.lower())
        own = self.config.labels if self.config is not None else {}
        return {**own, LABEL_KEY: submission_key, LABEL_VERSION: version}

    def display_name(self, submission_key: str) -> str:
        """The display name of created resources."""
        given = self.config.display_name if self.config is not None else None
        return given or self._plugin_instance_id_or_none() or f"jobferry-{submission_key[:12]}"

    def _plugin_instance_id_or_none(self) -> str | None:
        return self.location()[1] if self.is_bound else None

    def encryption_spec(self) -> dict[str, Any] | None:
        """``{"kmsKeyName": ...}`` when a key is configured."""
        key = self.config.encryption_key_name if self.config is not None else None
        return {"kmsKeyName": key} if key else None

    def resource_body(self, submission_key: str, **fields: Any) -> dict[str, Any]:
        """A resource's REST JSON: display name, ``fields``, labels and the encryption spec (if any)."""
        body: dict[str, Any] = {"displayName": self.display_name(submission_key), **fields}
        body["labels"] = self.labels(submission_key)
        if (spec := self.encryption_spec()) is not None:
            body["encryptionSpec"] = spec
        return body

    # -- waits: the engine's poll loop --------------------------------------------------------------------

    def wait_operation(self, operation: Any, what: str) -> Any:
        """Wait for an LRO with the engine's poll loop (not the client's blocking ``result()``)."""
        from google.api_core.retry import Retry

        # The operations client's get_operation has a default retry of its own (503s, real sleeps, 10 s):
        # switch it off so that our retry policy and clock are the only ones.
        no_retry = Retry(predicate=lambda _exc: False)
        timeout = self.reach.operation_timeout

        def done() -> bool | None:
            return self.guard(f"{what} (operation)", lambda: operation.done(retry=no_retry)) or None

        try:
            self.wait_until(f"{what}: operation {operation.operation.name}", done, timeout=timeout)
        except JobTimeout as exc:
            raise JobTimeout(f"{exc} (operation_timeout={timeout:g}); it goes on at Vertex AI") from None
        return self.guard(what, lambda: operation.result(timeout=self.reach.call_timeout))

    def delete_once(self, what: str, delete: Callable[[], Any]) -> None:
        """Delete a resource (an LRO, a submission) and wait for it; one already gone counts as deleted.

        A retry after a lost response finds the resource gone (404): that is the outcome we wanted.
        """

        def attempt() -> Any:
            try:
                return self.guard(f"delete {what}", delete, submits=True)
            except PermanentError as exc:
                if exc.code == 404:
                    return None
                raise

        operation = self.call(attempt, f"delete {what}")
        if operation is not None:
            self.wait_operation(operation, f"delete {what}")

    # -- creates under a client-chosen ID (endpoints, pipeline jobs) ---------------------------------------

    def create_or_taken(self, what: str, create: Callable[[], T]) -> T | None:
        """One create (``what``: ``"create endpoint"``) under a client-chosen ID; ``None`` if it is taken.

        Vertex answers a second create under the same ID 409 ALREADY_EXISTS, so a retry after a lost
        response (or a rerun that never learnt of the first create) is refused instead of creating, and
        billing, a second resource: the caller then adopts it with :meth:`read_own`. A lost response is
        raised as a TransientError (retried: the ID guards it), never as "outcome unknown".
        """
        try:
            return self.guard(what, create, create=True)
        except OutcomeUnknown as exc:
            raise TransientError(str(exc), vendor=exc.vendor) from exc
        except Conflict:
            return None  # our ID is taken: an earlier attempt or run created it (or is creating it)

    def read_own(
        self, what: str, name: str, get: Callable[[], Any], submission_key: str | None
    ) -> Any | None:
        """The resource ``name`` that a create under our ID made, by one get; ``None`` while it is 404.

        Raises Conflict when it carries another submission key: only a hash collision or someone reusing
        our ID by hand gets there, and it is never adopted.
        """
        try:
            found = self.guard(f"get {what}", get)
        except PermanentError as exc:
            if exc.code == 404:
                return None
            raise
        owner = str((getattr(found, "labels", None) or {}).get(LABEL_KEY, ""))
        if submission_key and owner != submission_key:
            raise Conflict(
                f"Vertex AI {what} {name} exists but carries submission key {owner!r}, not this job's "
                f"{submission_key!r}",
                vendor="vertex",
            )
        return found

    def create_once(self, what: str, find: Callable[[], Any], create: Callable[[], Any]) -> tuple[Any, bool]:
        """Find a labelled resource, or create it (an LRO) exactly once; return it and whether it existed.

        ``find`` lists by label and returns the resource or ``None``. It runs before the first create and
        before every retry, since a failed attempt (a 503 after the effect, a dropped response) may have
        created the resource already. A resource shows in listings only once its create operation is done,
        so after a create whose response was lost we keep looking for up to ``create_settle_seconds``
        before creating again.
        """
        outcome_unknown = False

        def attempt() -> tuple[Any, bool]:
            nonlocal outcome_unknown
            found = self.guard(f"list {what}s", find)
            if found is None and outcome_unknown and self.reach.create_settle_seconds > 0:
                try:
                    listing = f"list {what}s"
                    settle = self.reach.create_settle_seconds
                    found = self.wait_until(listing, lambda: self.guard(listing, find), timeout=settle)
                except JobTimeout:
                    found = None
            if found is not None:
                return found, True
            try:
                return self.guard(f"create {what}", create, create=True), False
            except OutcomeUnknown as exc:
                # Retried like a transient error: the next attempt looks the label up before creating.
                outcome_unknown = True
                raise TransientError(str(exc), vendor=exc.vendor) from exc

        got, existed = self.call(attempt, f"create {what}")
        return (got, True) if existed else (self.wait_operation(got, f"create {what}"), False)


def submission_key_of(resource: dict[str, Any]) -> str:
    """The submission key a resource's REST JSON carries in its label ('' when it has none)."""
    labels = resource.get("labels") or {}
    return str(labels.get(LABEL_KEY, ""))


def status_from(resource: dict[str, Any], table: StateTable, outputs: dict[str, Any]) -> JobStatus:
    """A JobStatus from a pipeline's or job's REST JSON (``state``, ``error``, times, key label)."""
    raw = resource.get("state")
    error = resource.get("error")
    return JobStatus(
        # Read on every poll, so that the engine can tell a job that is not the one it submitted
        # (a reused resource name, a resource another client relabelled).
        submission_key=submission_key_of(resource),
        state=table.map(raw),
        raw_state=str(raw) if raw is not None else None,
        message=resource.get("displayName"),
        error=JobErrorInfo(code=str(error.get("code", "")), message=error.get("message", ""))
        if error and (error.get("code") or error.get("message"))
        else None,
        create_time=resource.get("createTime"),
        start_time=resource.get("startTime"),
        end_time=resource.get("endTime"),
        update_time=resource.get("updateTime"),
        outputs=outputs,
    )
