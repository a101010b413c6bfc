"""A Vertex AI BatchPredictionJob as an external job, and ``batch_predict`` for trained models.

A batch prediction is long-running and billed like training, so it gets the same guarantees: exactly-once
creation (labelled with the submission key, adopted by a label-filtered list after a lost response), the job
reference persisted before ``train`` returns, and reattachment with ``VertexBatchPrediction.load_remote``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from checkpoint import Workspace
from checkpoint._errors import JobferryError, SpecError

from .._jobs import JobRef, JobStatus
from .._messages import PluginRequest, TrainPluginInput
from ._base import JOB_STATES, VertexConfig, VertexModel, first, labelled, status_from
from ._client import to_json_dict, to_message

__all__ = ["VertexBatchPrediction", "VertexBatchPredictionConfig", "batch_predict"]

InstancesFormat = Literal["jsonl", "csv", "bigquery", "tf-record", "tf-record-gzip", "file-list"]
PredictionsFormat = Literal["jsonl", "csv", "bigquery"]

_BQ_TABLE = re.compile(r"bq://[^./\s]+\.[^./\s]+\.[^./\s]+")
_BQ_DESTINATION = re.compile(r"bq://[^./\s]+(\.[^./\s]+)?")
_OUTPUT_INFO = ("gcsOutputDirectory", "bigqueryOutputDataset", "bigqueryOutputTable")
_STATS = ("successfulCount", "failedCount", "incompleteCount", "successfulForecastPointCount")


class VertexBatchPredictionConfig(VertexConfig):
    """Settings of a Vertex AI BatchPredictionJob.

    Attributes:
        model: the model's resource name (``projects/.../models/ID``, optionally ``@version``) or its ID.
        source: ``gs://`` URIs of the instances, or exactly one ``bq://project.dataset.table``.
        destination: a ``gs://`` prefix, or ``bq://project`` / ``bq://project.dataset``.
        instances_format: ``jsonl``, ``csv``, ``bigquery``, ``tf-record``, ``tf-record-gzip`` or
            ``file-list``; default ``bigquery`` for a ``bq://`` source, else ``jsonl``.
        predictions_format: ``jsonl``, ``csv`` or ``bigquery``; default ``bigquery`` for a ``bq://``
            destination, else ``jsonl``.
        machine_type: dedicated machines for the job (else Vertex's automatic resources, where the model
            supports them).
        starting_replica_count, max_replica_count: the dedicated replicas (only with ``machine_type``).
        model_parameters: the model's prediction parameters (e.g. ``confidenceThreshold``).
        generate_explanation: add explanations to the predictions (the model must support them).
    """

    model: str = Field(min_length=1)
    source: list[str] = Field(min_length=1)
    destination: str = Field(min_length=1)
    instances_format: InstancesFormat | None = None
    predictions_format: PredictionsFormat | None = None
    machine_type: str | None = Field(default=None, min_length=1)
    starting_replica_count: int | None = Field(default=None, ge=1)
    max_replica_count: int | None = Field(default=None, ge=1)
    model_parameters: dict[str, Any] | None = None
    generate_explanation: bool = False

    @field_validator("source", mode="before")
    @classmethod
    def _one_uri_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("source")
    @classmethod
    def _gcs_or_one_table(cls, uris: list[str]) -> list[str]:
        bq = [u for u in uris if u.startswith("bq://")]
        if bq:
            if len(uris) > 1:
                raise ValueError(f"a bq:// source must be the only one, got {uris!r}")
            if not _BQ_TABLE.fullmatch(bq[0]):
                raise ValueError(f"a BigQuery source must be bq://project.dataset.table, got {bq[0]!r}")
        for uri in uris:
            if not uri.startswith(("gs://", "bq://")) or uri in ("gs://", "bq://"):
                raise ValueError(f"source URIs must be gs:// (or one bq:// table), got {uri!r}")
        return uris

    @field_validator("destination")
    @classmethod
    def _gcs_or_dataset(cls, uri: str) -> str:
        if uri.startswith("bq://"):
            if not _BQ_DESTINATION.fullmatch(uri):
                raise ValueError(f"a BigQuery destination must be bq://project[.dataset], got {uri!r}")
        elif not uri.startswith("gs://") or uri == "gs://":
            raise ValueError(f"destination must be a gs:// prefix or bq://project[.dataset], got {uri!r}")
        return uri

    @model_validator(mode="after")
    def _formats_and_resources(self) -> VertexBatchPredictionConfig:
        from_bq = self.source[0].startswith("bq://")
        to_bq = self.destination.startswith("bq://")
        # Infer what the URIs already say; then reject combinations Vertex would refuse later, and remotely.
        if self.instances_format is None:
            self.instances_format = "bigquery" if from_bq else "jsonl"
        if self.predictions_format is None:
            self.predictions_format = "bigquery" if to_bq else "jsonl"
        if from_bq != (self.instances_format == "bigquery"):
            raise ValueError(
                f"instances_format {self.instances_format!r} does not fit source {self.source[0]!r}: "
                "use 'bigquery' exactly for a bq:// source"
            )
        if to_bq != (self.predictions_format == "bigquery"):
            raise ValueError(
                f"predictions_format {self.predictions_format!r} does not fit destination "
                f"{self.destination!r}: use 'bigquery' exactly for a bq:// destination"
            )
        replicas = {
            "starting_replica_count": self.starting_replica_count,
            "max_replica_count": self.max_replica_count,
        }
        if self.machine_type is None and any(v is not None for v in replicas.values()):
            given = ", ".join(f"{k}={v!r}" for k, v in replicas.items() if v is not None)
            raise ValueError(f"{given} needs machine_type (replica counts apply to dedicated resources)")
        start, top = self.starting_replica_count, self.max_replica_count
        if start is not None and top is not None and start > top:
            raise ValueError(f"starting_replica_count ({start}) must not exceed max_replica_count ({top})")
        return self


class VertexBatchPrediction(VertexModel[VertexBatchPredictionConfig]):
    """A Vertex AI BatchPredictionJob: submit, status, cancel and reattach.

    Its results are files or tables (``status.outputs``), not online predictions.
    """

    adapter_name: ClassVar[str] = "vertex-batch-prediction"
    config_class: ClassVar[type[VertexBatchPredictionConfig]] = VertexBatchPredictionConfig

    def model_name(self) -> str:
        """The full resource name of the model (an ID is taken as one in this project and region)."""
        model = self.require_config().model
        return (
            model
            if model.startswith(("projects/", "publishers/"))
            else f"{self.vertex.parent}/models/{model}"
        )

    def batch_job_body(self, submission_key: str) -> dict[str, Any]:
        """The REST JSON of the BatchPredictionJob to create."""
        config = self.require_config()
        source: dict[str, Any] = (
            {"bigquerySource": {"inputUri": config.source[0]}}
            if config.instances_format == "bigquery"
            else {"gcsSource": {"uris": list(config.source)}}
        )
        destination: dict[str, Any] = (
            {"bigqueryDestination": {"outputUri": config.destination}}
            if config.predictions_format == "bigquery"
            else {"gcsDestination": {"outputUriPrefix": config.destination}}
        )
        body: dict[str, Any] = {
            "displayName": self.display_name(submission_key),
            "model": self.model_name(),
            "inputConfig": {"instancesFormat": config.instances_format, **source},
            "outputConfig": {"predictionsFormat": config.predictions_format, **destination},
            "labels": self.labels(submission_key),
        }
        if config.machine_type is not None:
            resources: dict[str, Any] = {"machineSpec": {"machineType": config.machine_type}}
            if config.starting_replica_count is not None:
                resources["startingReplicaCount"] = config.starting_replica_count
            if config.max_replica_count is not None:
                resources["maxReplicaCount"] = config.max_replica_count
            body["dedicatedResources"] = resources
        if config.model_parameters is not None:
            body["modelParameters"] = config.model_parameters
        if config.generate_explanation:
            body["generateExplanation"] = True
        if config.service_account:
            body["serviceAccount"] = config.service_account
        if (spec := self.encryption_spec()) is not None:
            body["encryptionSpec"] = spec
        return body

    # -- the vendor contract --------------------------------------------------------------------------------

    def submit_job(self, spec: dict[str, Any], submission_key: str) -> JobRef:
        body = self.batch_job_body(submission_key)
        job = to_message(self.vertex.v1.BatchPredictionJob, body)
        parent = self.vertex.parent
        created = self.guard(
            "create batch prediction job",
            lambda: self.vertex.jobs.create_batch_prediction_job(
                parent=parent, batch_prediction_job=job, timeout=self.require_config().call_timeout
            ),
            create=True,
        )
        return JobRef(adapter=self.adapter_name, job_id=str(created.name), resources={"model": body["model"]})

    def describe_job(self, ref: JobRef) -> JobStatus:
        job = self.guard(
            "get batch prediction job",
            lambda: self.vertex.jobs.get_batch_prediction_job(
                name=ref.job_id, timeout=self.require_config().call_timeout
            ),
            job_id=ref.job_id,
        )
        data = to_json_dict(job)
        info = data.get("outputInfo") or {}
        outputs: dict[str, Any] = {k: info[k] for k in _OUTPUT_INFO if info.get(k)}
        stats = data.get("completionStats")
        if stats:
            # int64 fields arrive as JSON strings, and zeros not at all (proto defaults are not printed).
            counts = {k: int(stats.get(k, 0)) for k in _STATS[:3]}
            outputs["completionStats"] = counts | {k: int(stats[k]) for k in _STATS[3:] if k in stats}
        return status_from(data, JOB_STATES, outputs)

    def cancel_job(self, ref: JobRef) -> None:
        self.guard(
            "cancel batch prediction job",
            lambda: self.vertex.jobs.cancel_batch_prediction_job(
                name=ref.job_id, timeout=self.require_config().call_timeout
            ),
            job_id=ref.job_id,
        )

    def find_job(self, submission_key: str) -> JobRef | None:
        parent = self.vertex.parent
        # The list methods flatten only `parent`, so the label filter goes in the request; one page will do.
        found = self.guard(
            "list batch prediction jobs",
            lambda: first(
                self.vertex.jobs.list_batch_prediction_jobs(
                    request=labelled(parent, submission_key), timeout=self.require_config().call_timeout
                )
            ),
        )
        if found is None:
            return None
        resources = {"model": str(found.model)} if found.model else {}
        return JobRef(adapter=self.adapter_name, job_id=str(found.name), resources=resources)

    # -- results are files or tables, not an endpoint ------------------------------------------------------

    def _no_online(self, what: str) -> JobferryError:
        return JobferryError(
            f"cannot {what} a batch prediction job: its predictions are written to its destination "
            "(see status.outputs); deploy the model itself for online predictions"
        )

    def deploy(self, *args: Any, **kwargs: Any) -> str:
        raise self._no_online("deploy")

    def undeploy(self) -> None:
        raise self._no_online("undeploy")

    def prediction_target(self) -> JobRef:
        raise self._no_online("run online predictions with")

    def predict_chunk(
        self, ref: JobRef, instances: list[Any], parameters: dict[str, Any] | None
    ) -> list[Any]:
        raise self._no_online("run online predictions with")


def batch_predict(
    model: VertexModel[Any],
    source: str | Sequence[str],
    destination: str,
    *,
    plugin_instance_id: str | None = None,
    **options: Any,
) -> VertexBatchPrediction:
    """Run a batch prediction with ``model``'s trained model, exactly once, persisted and reattachable.

    The job reaches Vertex as ``model`` does (project, location, endpoint, transport, credentials, retry and
    poll policies, labels, encryption key) and is persisted in ``model``'s workspace under
    ``plugin_instance_id`` (default ``"{model's plugin instance}.batch"``), so
    ``VertexBatchPrediction.load_remote(workspace, that_id)`` reattaches to it. Calling again with the same
    arguments adopts the job already submitted; each new job replaces the ``default`` handle of that
    plugin instance, so give distinct ``plugin_instance_id`` values to keep several.

    Args:
        model: a trained Vertex model (its job succeeded, so it has a model resource name).
        source: ``gs://`` URIs (or one) of the instances, or one ``bq://project.dataset.table``.
        destination: a ``gs://`` prefix or ``bq://project[.dataset]``.
        plugin_instance_id: where to persist the job.
        **options: more :class:`VertexBatchPredictionConfig` fields (``machine_type``, ...); they win over
            the settings taken from ``model``.

    Returns:
        The submitted job (``wait()`` for it; its results are in ``status.outputs``).
    """
    trained = model.require_config()
    ws, base_pid = _where(model)
    pid = plugin_instance_id or (f"{base_pid}.batch" if base_pid else None)
    if pid is None:
        raise SpecError(
            f"{type(model).__name__} is bound to no plugin instance: give batch_predict(..., "
            "plugin_instance_id=...) to persist the batch prediction job"
        )
    inherited = {
        name: getattr(trained, name)
        for name in (
            "project",
            "location",
            "api_endpoint",
            "transport",
            "credentials",
            "retry",
            "poll",
            "requests_per_minute",
            "labels",
            "encryption_key_name",
            "call_timeout",
        )
        if getattr(trained, name, None) is not None
    }
    job = VertexBatchPrediction()
    job.receive_config(
        {
            **inherited,
            "model": model.model_resource_name(),
            "source": [source] if isinstance(source, str) else list(source),
            "destination": destination,
            **options,
        }
    )
    job.clock = model.clock
    job.bind(ws, pid)
    job.train(PluginRequest[TrainPluginInput](data=TrainPluginInput(plugin_instance=pid)))
    return job


def _where(model: VertexModel[Any]) -> tuple[Workspace, str | None]:
    """The workspace and plugin instance ``model`` is bound to or was loaded from (the engine's rule)."""
    try:
        return model._where()
    except SpecError:
        # Not bound to a plugin instance: the caller must name one; the workspace is still the model's.
        checkpoint = model.checkpoint
        return model._workspace or (checkpoint.workspace if checkpoint else Workspace()), None
