"""The TrainingPipeline life cycle every AutoML family shares, and its datasets.

A family adapter says what it trains (``training_task_definition``), with which inputs
(``task_inputs``), on which kind of dataset (``dataset_metadata_schema`` / ``import_schema``); this base
creates the dataset when needed (an LRO, exactly once by label), creates the pipeline labelled with the
submission key, and maps its state by table.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, TypeVar

from pydantic import Field, model_validator

from adapters._errors import SpecError
from checkpoint._errors import JobferryError

from .._messages import TrainPluginInput
from ._base import PIPELINE_STATES, VertexConfig, first, labelled
from ._batch import VertexBatchPrediction, batch_predict
from ._client import to_message
from ._resources import ResourceKind, VertexJobModel

SCHEMA = "gs://google-cloud-aiplatform/schema/"
DEFINITION = SCHEMA + "trainingjob/definition/"
METADATA = SCHEMA + "dataset/metadata/"
IOFORMAT = SCHEMA + "dataset/ioformat/"


def _pipeline_outputs(data: dict[str, Any]) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    model = (data.get("modelToUpload") or {}).get("name")
    if model:
        outputs["model"] = model
    if data.get("modelId"):
        outputs["modelId"] = data["modelId"]
    return outputs


def _pipeline_resources(data: dict[str, Any], parent: str) -> dict[str, str]:
    dataset = (data.get("inputDataConfig") or {}).get("datasetId")
    return {"dataset": f"{parent}/datasets/{dataset}"} if dataset else {}


TRAINING_PIPELINE = ResourceKind(
    "training pipeline",
    "pipelines",
    "training_pipeline",
    "TrainingPipeline",
    PIPELINE_STATES,
    _pipeline_outputs,
    _pipeline_resources,
)


class VertexPipelineConfig(VertexConfig):
    """Settings of adapters that train through a TrainingPipeline.

    Attributes:
        dataset: an existing dataset (resource name or numeric ID); else one is created from
            ``dataset_source`` (or the training input's ``training_data_url``).
        dataset_source: ``gs://`` URIs (or one ``bq://`` table) the dataset is created from.
        training_fraction, validation_fraction, test_fraction: a fraction split (must sum to <= 1).
        predefined_split_column: a column holding TRAIN / VALIDATE / TEST instead.
        timestamp_split_column: a column to split on by time instead.
        model_display_name: display name of the uploaded model.
    """

    dataset: str | None = None
    dataset_source: list[str] | None = None
    training_fraction: float | None = Field(default=None, ge=0, le=1)
    validation_fraction: float | None = Field(default=None, ge=0, le=1)
    test_fraction: float | None = Field(default=None, ge=0, le=1)
    predefined_split_column: str | None = None
    timestamp_split_column: str | None = None
    model_display_name: str | None = None

    @model_validator(mode="after")
    def _one_split(self) -> VertexPipelineConfig:
        fractions = [f for f in (self.training_fraction, self.validation_fraction, self.test_fraction) if f]
        kinds = sum(bool(x) for x in (fractions, self.predefined_split_column, self.timestamp_split_column))
        if kinds > 1:
            raise ValueError(
                "give one kind of split: fractions, predefined_split_column or timestamp_split_column"
            )
        if sum(fractions) > 1.0 + 1e-9:
            raise ValueError(f"training/validation/test fractions sum to {sum(fractions)}, more than 1")
        for uri in self.dataset_source or []:
            if not uri.strip():
                raise ValueError("dataset_source holds an empty URI")
        return self


PipelineConfigT = TypeVar("PipelineConfigT", bound=VertexPipelineConfig)


class VertexPipelineModel(VertexJobModel[PipelineConfigT]):
    """A Vertex AI TrainingPipeline as an external job."""

    # The data source is all a pipeline takes from the input; splits and budgets live in the config.
    input_fields: ClassVar[frozenset[str] | None] = frozenset({"training_data_url"})

    kind: ClassVar[ResourceKind] = TRAINING_PIPELINE

    #: the ``trainingTaskDefinition`` schema URI
    training_task_definition: ClassVar[str]
    #: dataset metadata schema for datasets this adapter creates
    dataset_metadata_schema: ClassVar[str]

    def task_inputs(self, input: TrainPluginInput) -> dict[str, Any]:
        """``trainingTaskInputs`` for this family."""
        raise NotImplementedError

    def import_schema(self) -> str | None:
        """The import schema for unstructured datasets (``None`` for tabular, which needs no import)."""
        return None

    # -- datasets ------------------------------------------------------------------------------------------

    def sources(self, input: TrainPluginInput) -> list[str]:
        """Where the training data is: ``config.dataset_source`` or the input's ``training_data_url``."""
        config = self.require_config()
        if config.dataset_source:
            return list(config.dataset_source)
        if input.training_data_url:
            return [input.training_data_url]
        return []

    def dataset_name(self, input: TrainPluginInput, submission_key: str) -> str:
        """The dataset to train on: the configured one, or one created (exactly once) from the sources."""
        config = self.require_config()
        if config.dataset:
            ds = config.dataset
            return ds if ds.startswith("projects/") else f"{self.vertex.parent}/datasets/{ds}"
        sources = self.sources(input)
        if not sources:
            raise SpecError(
                f"{type(self).__name__} needs data: set config.dataset (an existing dataset), "
                "config.dataset_source (gs:// or bq:// URIs) or the training input's training_data_url"
            )
        return self._create_dataset(sources, submission_key)

    def dataset_metadata(self, sources: list[str]) -> dict[str, Any]:
        """The ``metadata`` of a created dataset (tabular: where the rows are)."""
        if self.import_schema() is not None:
            return {}
        bq = [s for s in sources if s.startswith("bq://")]
        if bq:
            if len(sources) > 1:
                raise SpecError(f"a BigQuery source must be alone, got {sources!r}")
            return {"inputConfig": {"bigquerySource": {"uri": bq[0]}}}
        return {"inputConfig": {"gcsSource": {"uri": sources}}}

    def _create_dataset(self, sources: list[str], key: str) -> str:
        parent = self.vertex.parent
        schema = self.import_schema()
        if schema is not None and any(not s.startswith("gs://") for s in sources):
            raise SpecError(
                f"{type(self).__name__} imports its data from gs:// files (JSON Lines or CSV import files); "
                f"got {sources!r}"
            )
        body = self.resource_body(
            key, metadataSchemaUri=self.dataset_metadata_schema, metadata=self.dataset_metadata(sources)
        )
        dataset = to_message(self.vertex.v1.Dataset, body)
        created, existed = self.create_once(
            "dataset",
            lambda: first(self.vertex.datasets.list_datasets(request=labelled(parent, key))),
            lambda: self.vertex.datasets.create_dataset(parent=parent, dataset=dataset),
        )
        name = str(created.name)
        # Import into a new dataset, and into one found empty (an earlier run stopped before its import).
        if schema is not None and (not existed or not int(created.data_item_count or 0)):
            configs = [{"gcsSource": {"uris": sources}, "importSchemaUri": schema}]
            request = to_message(self.vertex.v1.ImportDataRequest, {"name": name, "importConfigs": configs})
            operation = self.call(
                lambda: self.guard(
                    "import data", lambda: self.vertex.datasets.import_data(request=request), submits=True
                ),
                "import data",
            )
            self.wait_operation(operation, "import data")
        return name

    def delete_datasets(self) -> list[str]:
        """Delete the datasets jobferry created for this job, so that nothing is left billing; their names.

        Only datasets labelled with this job's submission key are deleted (those of earlier attempts
        too): a dataset given in ``config.dataset`` was not created by jobferry and is never touched.
        Deleting twice is harmless (one already gone counts as deleted). Vertex refuses to delete a dataset
        a running pipeline still reads; do it once the job has ended.
        """
        key = self.record.submission_key if self.record else None
        if not key:
            raise JobferryError(f"{type(self).__name__} has no submitted job: there is nothing to delete")
        datasets = self.vertex.datasets
        request = labelled(self.vertex.parent, key)

        def listed() -> list[str]:
            return [str(d.name) for d in datasets.list_datasets(request=request)]

        found: list[str] = self.call(lambda: self.guard("list datasets", listed), "list datasets")
        for name in found:
            self.delete_once("dataset", functools.partial(datasets.delete_dataset, name=name))
        if self.job.resources.get("dataset") in found:
            self.update_job(dataset=None)
        return found

    # -- the pipeline ----------------------------------------------------------------------------------------

    def input_data_config(self, dataset: str) -> dict[str, Any]:
        """``inputDataConfig``: the dataset's ID and the split."""
        config = self.require_config()
        out: dict[str, Any] = {"datasetId": dataset.rsplit("/", 1)[-1]}
        if any(
            f is not None
            for f in (config.training_fraction, config.validation_fraction, config.test_fraction)
        ):
            out["fractionSplit"] = {
                "trainingFraction": config.training_fraction or 0.0,
                "validationFraction": config.validation_fraction or 0.0,
                "testFraction": config.test_fraction or 0.0,
            }
        elif config.predefined_split_column:
            out["predefinedSplit"] = {"key": config.predefined_split_column}
        elif config.timestamp_split_column:
            out["timestampSplit"] = {
                "key": config.timestamp_split_column,
                "trainingFraction": 0.8,
                "validationFraction": 0.1,
                "testFraction": 0.1,
            }
        return out

    def pipeline_body(
        self,
        input: TrainPluginInput,
        dataset: str,
        submission_key: str,
        task_inputs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The REST JSON of the TrainingPipeline to create (``task_inputs``: already computed ones)."""
        config = self.require_config()
        model: dict[str, Any] = {
            "displayName": config.model_display_name or self.display_name(submission_key)
        }
        if (spec := self.encryption_spec()) is not None:
            model["encryptionSpec"] = spec
        return self.resource_body(
            submission_key,
            inputDataConfig=self.input_data_config(dataset),
            trainingTaskDefinition=self.training_task_definition,
            trainingTaskInputs=self.task_inputs(input) if task_inputs is None else task_inputs,
            modelToUpload=model,
        )

    def create_body(self, spec: dict[str, Any], submission_key: str) -> dict[str, Any]:
        input = TrainPluginInput.model_validate(spec["input"])
        # Task inputs first: a spec error (columns, an unreadable CSV header) must not leave a dataset behind.
        task_inputs = self.task_inputs(input)
        dataset = self.dataset_name(input, submission_key)
        return self.pipeline_body(input, dataset, submission_key, task_inputs)

    # -- the trained model ----------------------------------------------------------------------------------

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

    def batch_predict(
        self,
        source: str | list[str],
        destination: str,
        *,
        plugin_instance_id: str | None = None,
        **options: Any,
    ) -> VertexBatchPrediction:
        """Submit a BatchPredictionJob with the trained model (exactly once; see ``_batch.batch_predict``).

        Returns the :class:`VertexBatchPrediction` job: ``wait()`` for it, or reattach later with
        ``VertexBatchPrediction.load_remote(workspace, plugin_instance_id)``.
        """
        return batch_predict(self, source, destination, plugin_instance_id=plugin_instance_id, **options)
