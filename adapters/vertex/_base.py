"""What every Vertex AI adapter shares: config, clients, error boundary, LROs, deployment, predictions."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import Field, field_validator

from checkpoint._errors import (
    Conflict,
    JobferryError,
    JobTimeout,
    OutcomeUnknown,
    PermanentError,
    SpecError,
    TransientError,
)

from .._credentials import CredentialRef
from .._external import ExternalJobConfig, ExternalJobModel
from .._jobs import JobErrorInfo, JobRef, JobState, JobStatus, StateTable
from ._client import VertexClients, shared_clients, to_json_dict, to_message, wire_size
from ._errors import CallContext, vertex_errors

T = TypeVar("T")

LABEL_KEY = "jobferry-key"
LABEL_VERSION = "jobferry-version"
_LABEL_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE_RE = re.compile(r"[a-z0-9_-]{0,63}")

# PipelineState and JobState share their numbering (REST.md); names are what the REST JSON carries.
_COMMON = {
    "UNSPECIFIED": JobState.UNKNOWN,
    "QUEUED": JobState.QUEUED,
    "PENDING": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "SUCCEEDED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
    "CANCELLING": JobState.CANCELLING,
    "CANCELLED": JobState.CANCELLED,
    "PAUSED": JobState.PAUSED,
}
PIPELINE_STATES = StateTable({f"PIPELINE_STATE_{k}": v for k, v in _COMMON.items()})
JOB_STATES = StateTable(
    {f"JOB_STATE_{k}": v for k, v in _COMMON.items()}
    | {
        "JOB_STATE_EXPIRED": JobState.EXPIRED,
        "JOB_STATE_UPDATING": JobState.RUNNING,
        # Some items failed: not a success, and the outputs are incomplete.
        "JOB_STATE_PARTIALLY_SUCCEEDED": JobState.FAILED,
    }
)


def label_filter(submission_key: str) -> str:
    """The list filter selecting resources labelled with ``submission_key``."""
    return f'labels.{LABEL_KEY}="{submission_key}"'


def labelled(parent: str, submission_key: str) -> dict[str, str]:
    """A list request for the resources under ``parent`` labelled with ``submission_key``."""
    return {"parent": parent, "filter": label_filter(submission_key)}


def first(items: Any) -> Any:
    """The first item of a list call's pager (fetching one page), or ``None``."""
    return next(iter(items), None)


class VertexConfig(ExternalJobConfig):
    """Settings common to every Vertex AI adapter.

    Attributes:
        project: Google Cloud project ID.
        location: region, e.g. ``us-central1``.
        api_endpoint: override of ``{location}-aiplatform.googleapis.com`` (``http://127.0.0.1:PORT`` for
            the emulator).
        transport: ``rest`` (default) or ``grpc``.
        credentials: a credential *reference* (application-default by default).
        labels: labels for every resource created (jobferry adds its submission key and version).
        service_account: the service account the training runs as.
        encryption_key_name: a Cloud KMS key for customer-managed encryption.
        display_name: display name of the created resources (default: the plugin instance or a key).
        call_timeout: seconds one HTTP call may take.
        operation_timeout: seconds to wait for a long-running operation (deploy, dataset import, ...).
        create_settle_seconds: after a create of a dataset or endpoint whose response was lost, how long
            to look for it (it is listed once its operation is done) before creating it again.
    """

    project: str = Field(min_length=1)
    location: str = Field(default="us-central1", min_length=1)
    api_endpoint: str | None = None
    transport: str = Field(default="rest", pattern="^(rest|grpc)$")
    credentials: CredentialRef = Field(default_factory=CredentialRef.application_default)
    labels: dict[str, str] = Field(default_factory=dict)
    service_account: str | None = None
    encryption_key_name: str | None = None
    display_name: str | None = None
    call_timeout: float = Field(default=60.0, gt=0)
    operation_timeout: float = Field(default=7200.0, gt=0)
    create_settle_seconds: float = Field(default=30.0, ge=0)

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        if len(labels) > 60:
            raise ValueError(f"{len(labels)} labels given; Vertex allows 64 and jobferry adds 2")
        for key, value in labels.items():
            if not _LABEL_RE.fullmatch(key):
                raise ValueError(
                    f"label key {key!r} must start with a lowercase letter and hold at most 63 lowercase "
                    "letters, digits, '_' or '-'"
                )
            if not _LABEL_VALUE_RE.fullmatch(value):
                raise ValueError(
                    f"label value {value!r} must be at most 63 lowercase letters, digits, '_' or '-'"
                )
        return labels


ConfigT = TypeVar("ConfigT", bound=VertexConfig)


class VertexModel(ExternalJobModel[ConfigT]):
    """Base of the Vertex AI adapters: clients, the error boundary, labels, LROs, deploy and predict."""

    vendor: ClassVar[str] = "vertex"
    connection_fields: ClassVar[tuple[str, ...]] = ("project", "location", "api_endpoint", "transport")

    def connect(self) -> VertexClients:
        config = self.require_config()
        return shared_clients(
            config.project, config.location, config.credentials, config.api_endpoint, config.transport
        )

    @property
    def vertex(self) -> VertexClients:
        """The GAPIC clients (built on first use)."""
        clients: VertexClients = self.client
        return clients

    def quota_key(self) -> str:
        config = self.require_config()
        return f"{config.project}/{config.location}"

    def guard(self, what: str, fn: Callable[[], T], *, job_id: str | None = None, create: bool = False) -> T:
        """Run one vendor call inside the error boundary (no retry here; callers wrap it in one)."""
        config = self.require_config()
        ctx = CallContext(
            what,
            config.project,
            config.location,
            config.credentials.describe(),
            job_id=job_id,
            is_create=create,
        )
        with vertex_errors(ctx):
            return fn()

    def labels(self, submission_key: str) -> dict[str, str]:
        """The user's labels plus the submission key and jobferry's version (label-safe)."""
        from .. import __version__

        version = re.sub(r"[^a-z0-9_-]", "-", __version__.lower())
        return {**self.require_config().labels, LABEL_KEY: submission_key, LABEL_VERSION: version}

    def display_name(self, submission_key: str) -> str:
        """The display name of created resources."""
        config = self.require_config()
        return config.display_name or self._plugin_instance_id or f"jobferry-{submission_key[:12]}"

    def encryption_spec(self) -> dict[str, Any] | None:
        """``{"kmsKeyName": ...}`` when a key is configured."""
        key = self.require_config().encryption_key_name
        return {"kmsKeyName": key} if key else None

    # -- long-running operations ---------------------------------------------------------------------------

    def wait_operation(self, operation: Any, what: str) -> Any:
        """Poll an LRO with our poll and retry policies (not the client's blocking ``result()``)."""
        from google.api_core.retry import Retry

        config = self.require_config()
        schedule = config.poll.schedule()
        started = self.clock.now()
        # The operations client's get_operation has a default retry of its own (503s, real sleeps, 10 s):
        # switch it off so that our retry policy and clock are the only ones.
        no_retry = Retry(predicate=lambda _exc: False)
        while not self._call(
            lambda: self.guard(f"{what} (operation)", lambda: operation.done(retry=no_retry)), what
        ):
            elapsed = self.clock.now() - started
            if elapsed > config.operation_timeout:
                raise JobTimeout(
                    f"{what}: operation {operation.operation.name} not done after {elapsed:.0f} s "
                    f"(operation_timeout={config.operation_timeout:g}); it goes on at Vertex AI"
                )
            self.clock.sleep(schedule.next_interval(state="RUNNING", elapsed=elapsed))
        return self.guard(what, lambda: operation.result(timeout=config.call_timeout))

    def create_once(self, what: str, find: Callable[[], Any], create: Callable[[], Any]) -> tuple[Any, bool]:
        """Find a labelled resource, or create it (an LRO) exactly once; return it and whether it existed.

        ``find`` lists by label and returns the resource or ``None``. It runs before the first create and
        before every retry, since a failed attempt (a 503 after the effect, a dropped response) may have
        created the resource already. A resource shows in listings only once its create operation is done,
        so after a create whose response was lost we keep looking for up to ``create_settle_seconds``
        before creating again.
        """
        config = self.require_config()
        outcome_unknown = False

        def settle() -> Any:
            schedule = config.poll.schedule()
            started = self.clock.now()
            while self.clock.now() - started < config.create_settle_seconds:
                interval = schedule.next_interval(state="CREATING", elapsed=self.clock.now() - started)
                self.clock.sleep(min(interval, config.create_settle_seconds))
                found = self.guard(f"list {what}s", find)
                if found is not None:
                    return found
            return None

        def attempt() -> tuple[Any, bool]:
            nonlocal outcome_unknown
            found = self.guard(f"list {what}s", find)
            if found is None and outcome_unknown:
                found = settle()
            if found is not None:
                return found, True
            try:
                return self.guard(f"create {what}", create, create=True), False
            except OutcomeUnknown as exc:
                # Retried like a transient error: the next attempt looks the label up before creating.
                outcome_unknown = True
                raise TransientError(str(exc), vendor=exc.vendor) from exc

        got, existed = self._call(attempt, f"create {what}")
        return (got, True) if existed else (self.wait_operation(got, f"create {what}"), False)

    # -- deployment and online predictions -----------------------------------------------------------------

    def model_resource_name(self) -> str:
        """The trained model's resource name (the job must have succeeded)."""
        ref = self.job
        model = ref.resources.get("model")
        status = self.record.last_status if self.record else None
        if model is None and status is not None:
            model = status.outputs.get("model")
        if not model:
            status = self.refresh()
            model = status.outputs.get("model")
        if not model:
            state = status.state.value if status else "unknown"
            raise JobferryError(
                f"job {ref.job_id} has no trained model yet (state {state}); wait() for it first"
            )
        return str(model)

    def _remember(self, **resources: str) -> None:
        assert self.record is not None and self.record.job is not None
        merged = {**self.record.job.resources, **resources}
        self.record = self.record.model_copy(
            update={"job": self.record.job.model_copy(update={"resources": merged})}
        )
        if self._workspace is not None or self._checkpoint is not None:
            self._persist()

    def _dedicated_resources(self, machine_type: str, min_replicas: int, max_replicas: int) -> dict[str, Any]:
        return {
            "dedicatedResources": {
                "machineSpec": {"machineType": machine_type},
                "minReplicaCount": min_replicas,
                "maxReplicaCount": max_replicas,
            }
        }

    def deploy(
        self,
        endpoint: str | None = None,
        machine_type: str = "n1-standard-4",
        min_replica_count: int = 1,
        max_replica_count: int = 1,
        traffic_percentage: int = 100,
    ) -> str:
        """Deploy the trained model to ``endpoint`` (created, exactly once, when not given).

        Returns the endpoint's resource name. Deploying a model already deployed there reuses it.
        """
        if not 0 <= traffic_percentage <= 100:
            raise SpecError(f"traffic_percentage must be 0..100, got {traffic_percentage!r}")
        if not 1 <= min_replica_count <= max_replica_count:
            raise SpecError(
                "need 1 <= min_replica_count <= max_replica_count, "
                f"got {min_replica_count!r}, {max_replica_count!r}"
            )
        model = self.model_resource_name()
        endpoint_name = endpoint or self.job.resources.get("endpoint") or self._endpoint_for_job()
        current = self._call(
            lambda: self.guard(
                "get endpoint", lambda: self.vertex.endpoints.get_endpoint(name=endpoint_name)
            ),
            "get endpoint",
        )
        for deployed in current.deployed_models:
            if deployed.model == model:
                self._remember(model=model, endpoint=endpoint_name, deployed_model_id=deployed.id)
                return endpoint_name
        key = (self.record.submission_key if self.record else None) or model
        deployed_id = deployed_model_id_for(key, model, endpoint_name)
        body = {
            # Our own deterministic ID makes deploying idempotent: a retry after a lost response is refused
            # with ALREADY_EXISTS instead of deploying (and billing) a second copy.
            "id": deployed_id,
            "model": model,
            "displayName": self.display_name(key),
            **self.deploy_resources(machine_type, min_replica_count, max_replica_count),
        }
        request = to_message(
            self.vertex.v1.DeployModelRequest,
            {"endpoint": endpoint_name, "deployedModel": body, "trafficSplit": {"0": traffic_percentage}},
        )

        def attempt() -> Any:
            try:
                return self.guard(
                    "deploy model", lambda: self.vertex.endpoints.deploy_model(request=request), create=True
                )
            except OutcomeUnknown as exc:
                raise TransientError(str(exc), vendor=exc.vendor) from exc  # retried; the ID guards it
            except Conflict:
                return None  # our ID is taken: an earlier attempt's deployment exists or is under way

        operation = self._call(attempt, "deploy model")
        if operation is not None:
            response = self.wait_operation(operation, "deploy model")
            deployed_id = str(response.deployed_model.id or deployed_id)
        else:
            self._await_deployed(endpoint_name, deployed_id)
        self._remember(model=model, endpoint=endpoint_name, deployed_model_id=deployed_id)
        return endpoint_name

    def _await_deployed(self, endpoint_name: str, deployed_id: str) -> None:
        """Poll the endpoint until the deployment an earlier attempt started is there."""
        config = self.require_config()
        schedule = config.poll.schedule()
        started = self.clock.now()
        while True:
            current = self._call(
                lambda: self.guard(
                    "get endpoint", lambda: self.vertex.endpoints.get_endpoint(name=endpoint_name)
                ),
                "get endpoint",
            )
            if any(d.id == deployed_id for d in current.deployed_models):
                return
            if self.clock.now() - started > config.operation_timeout:
                raise JobTimeout(
                    f"deployed model {deployed_id} on {endpoint_name} is still not there after "
                    f"{self.clock.now() - started:.0f} s (operation_timeout={config.operation_timeout:g})"
                )
            self.clock.sleep(schedule.next_interval(state="DEPLOYING", elapsed=self.clock.now() - started))

    def deploy_resources(self, machine_type: str, min_replicas: int, max_replicas: int) -> dict[str, Any]:
        """How the model is served (dedicated machines; AutoML image/video models override)."""
        return self._dedicated_resources(machine_type, min_replicas, max_replicas)

    def _endpoint_for_job(self) -> str:
        """Find the endpoint this job created earlier (by label), or create it (an LRO)."""
        key = (self.record.submission_key if self.record else None) or "none"
        parent = self.vertex.parent
        body: dict[str, Any] = {"displayName": self.display_name(key), "labels": self.labels(key)}
        if (spec := self.encryption_spec()) is not None:
            body["encryptionSpec"] = spec
        endpoint = to_message(self.vertex.v1.Endpoint, body)
        found, _ = self.create_once(
            "endpoint",
            lambda: first(self.vertex.endpoints.list_endpoints(request=labelled(parent, key))),
            lambda: self.vertex.endpoints.create_endpoint(parent=parent, endpoint=endpoint),
        )
        return str(found.name)

    def undeploy(self) -> None:
        """Undeploy the model from its endpoint (the endpoint itself is kept)."""
        endpoint = self.job.resources.get("endpoint")
        deployed = self.job.resources.get("deployed_model_id")
        if not endpoint or not deployed:
            raise JobferryError(f"job {self.job.job_id} is not deployed; call deploy() first")
        operation = self._call(
            lambda: self.guard(
                "undeploy model",
                lambda: self.vertex.endpoints.undeploy_model(endpoint=endpoint, deployed_model_id=deployed),
            ),
            "undeploy model",
        )
        self.wait_operation(operation, "undeploy model")
        assert self.record is not None and self.record.job is not None
        resources = {k: v for k, v in self.record.job.resources.items() if k != "deployed_model_id"}
        self.record = self.record.model_copy(
            update={"job": self.record.job.model_copy(update={"resources": resources})}
        )
        if self._workspace is not None or self._checkpoint is not None:
            self._persist()

    def batch_predict(
        self,
        source: str | list[str],
        destination: str,
        *,
        plugin_instance_id: str | None = None,
        **options: Any,
    ) -> Any:
        """Submit a BatchPredictionJob with the trained model (exactly once; see ``_batch.batch_predict``).

        Returns the :class:`VertexBatchPrediction` job: ``wait()`` for it, or reattach later with
        ``VertexBatchPrediction.load_remote(workspace, plugin_instance_id)``.
        """
        from ._batch import batch_predict

        return batch_predict(self, source, destination, plugin_instance_id=plugin_instance_id, **options)

    def prediction_target(self) -> JobRef:
        ref = self.job
        if not ref.resources.get("endpoint") or not ref.resources.get("deployed_model_id"):
            raise JobferryError(f"job {ref.job_id} is not deployed to an endpoint; call deploy() first")
        _ = self.vertex.predictions  # build the client here, not racing in the prediction threads
        return ref

    def predict_chunk(
        self, ref: JobRef, instances: list[Any], parameters: dict[str, Any] | None
    ) -> list[Any]:
        body: dict[str, Any] = {"instances": instances}
        if parameters is not None:
            body["parameters"] = parameters
        config = self.require_config()
        endpoint = ref.resources["endpoint"]
        if config.transport == "rest":
            # Compact JSON, exactly what the chunks were planned on, posted as is (see rest_predict).
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            size = len(data)
        else:
            request = to_message(self.vertex.v1.PredictRequest, body)
            size = wire_size(request)
        limit = config.max_request_bytes
        if size > limit:
            if len(instances) == 1:
                raise PermanentError(
                    f"one instance takes {size} bytes as a Vertex AI request, more than "
                    f"max_request_bytes={limit}",
                    vendor="vertex",
                )
            half = len(instances) // 2
            return self.predict_chunk(ref, instances[:half], parameters) + self.predict_chunk(
                ref, instances[half:], parameters
            )
        if config.transport == "rest":
            reply = self.guard(
                "predict", lambda: self.vertex.rest_predict(endpoint, data, config.call_timeout)
            )
            rest_predictions: list[Any] = reply.get("predictions", [])
            return rest_predictions
        request.endpoint = endpoint
        response = self.guard(
            "predict", lambda: self.vertex.predictions.predict(request=request, timeout=config.call_timeout)
        )
        predictions: list[Any] = to_json_dict(response).get("predictions", [])
        return predictions


def deployed_model_id_for(*parts: str) -> str:
    """A DeployedModel ID (Vertex allows 1-10 digits) derived from what is deployed where."""
    digest = int(hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:15], 16)
    return str(1_000_000_000 + digest % 9_000_000_000)


def status_from(resource: dict[str, Any], table: StateTable, outputs: dict[str, Any]) -> JobStatus:
    """A JobStatus from a pipeline's or job's REST JSON (``state``, ``error``, times)."""
    raw = resource.get("state")
    error = resource.get("error")
    return JobStatus(
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
