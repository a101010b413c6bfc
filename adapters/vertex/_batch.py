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

from adapters._errors import SpecError
from checkpoint import Workspace, validate_name

from .._connection import Policies
from .._messages import PluginRequest, TrainPluginInput
from ._base import JOB_STATES, VertexConfig, VertexConnection, VertexModel
from ._resources import ResourceKind, VertexJobModel

__all__ = ["VertexBatchPrediction", "VertexBatchPredictionConfig", "batch_predict"]

InstancesFormat = Literal["jsonl", "csv", "bigquery", "tf-record", "tf-record-gzip", "file-list"]
PredictionsFormat = Literal["jsonl", "csv", "bigquery"]

_BQ_TABLE = re.compile(r"bq://[^./\s]+\.[^./\s]+\.[^./\s]+")
_BQ_DESTINATION = re.compile(r"bq://[^./\s]+(\.[^./\s]+)?")
_OUTPUT_INFO = ("gcsOutputDirectory", "bigqueryOutputDataset", "bigqueryOutputTable")
_STATS = ("successfulCount", "failedCount", "incompleteCount", "successfulForecastPointCount")
#: Job settings of the trained model's config that its batch predictions share.
SHARED_JOB_SETTINGS = ("labels", "encryption_key_name")


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


def _batch_outputs(data: dict[str, Any]) -> dict[str, Any]:
    info = data.get("outputInfo") or {}
    outputs: dict[str, Any] = {k: info[k] for k in _OUTPUT_INFO if info.get(k)}
    stats = data.get("completionStats")
    if stats:
        # int64 fields arrive as JSON strings, and zeros not at all (proto defaults are not printed).
        counts = {k: int(stats.get(k, 0)) for k in _STATS[:3]}
        outputs["completionStats"] = counts | {k: int(stats[k]) for k in _STATS[3:] if k in stats}
    return outputs


def _batch_resources(data: dict[str, Any], _parent: str) -> dict[str, str]:
    return {"model": str(data["model"])} if data.get("model") else {}


BATCH_PREDICTION_JOB = ResourceKind(
    "batch prediction job",
    "jobs",
    "batch_prediction_job",
    "BatchPredictionJob",
    JOB_STATES,
    _batch_outputs,
    _batch_resources,
)


class VertexBatchPrediction(VertexJobModel[VertexBatchPredictionConfig]):
    """A Vertex AI BatchPredictionJob: submit, status, cancel and reattach.

    Its results are files or tables (``status.outputs``), not online predictions (not Predicting).
    """

    adapter_name: ClassVar[str] = "vertex-batch-prediction"
    kind: ClassVar[ResourceKind] = BATCH_PREDICTION_JOB
    config_class: ClassVar[type[VertexBatchPredictionConfig]] = VertexBatchPredictionConfig
    # The inputs, outputs and model are all config: no training input field means anything here.
    input_fields: ClassVar[frozenset[str] | None] = frozenset()

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
        body = self.resource_body(
            submission_key,
            model=self.model_name(),
            inputConfig={"instancesFormat": config.instances_format, **source},
            outputConfig={"predictionsFormat": config.predictions_format, **destination},
        )
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
        return body

    def create_body(self, spec: dict[str, Any], submission_key: str) -> dict[str, Any]:
        return self.batch_job_body(submission_key)


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
    if plugin_instance_id is not None:
        # Before anything else: finding the trained model may call Vertex, and opening the default
        # workspace creates its folder. "" is refused, not replaced by the default instance.
        validate_name(plugin_instance_id, "plugin instance ID")
    ws, base_pid = model.location() if model.is_bound else (Workspace(), None)
    pid = (
        plugin_instance_id if plugin_instance_id is not None else (f"{base_pid}.batch" if base_pid else None)
    )
    if pid is None:
        raise SpecError(
            f"{type(model).__name__} is bound to no plugin instance: give batch_predict(..., "
            "plugin_instance_id=...) to persist the batch prediction job"
        )
    # Reach Vertex as the model does (its whole connection and policies, by their declaration), and
    # carry over the job settings every Vertex job shares.
    inherited: dict[str, Any] = {name: getattr(model.reach, name) for name in VertexConnection.model_fields}
    inherited |= {name: getattr(model.policies, name) for name in Policies.model_fields}
    if model.config is not None:
        inherited |= {name: getattr(model.config, name) for name in SHARED_JOB_SETTINGS}
    job = VertexBatchPrediction()
    job.receive_config(
        {
            **{k: v for k, v in inherited.items() if v is not None},
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
