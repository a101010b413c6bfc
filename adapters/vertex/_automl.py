"""The AutoML families: tabular, forecasting, image, text and video. Each is a config plus task inputs."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, model_validator

from adapters._errors import SpecError

from .._messages import TrainPluginInput
from ._columns import read_csv_header
from ._pipeline import DEFINITION, IOFORMAT, METADATA, VertexPipelineConfig, VertexPipelineModel
from ._serving import VertexServing

Transformation = Literal["auto", "numeric", "categorical", "timestamp", "text"]


class _TabularCommon(VertexPipelineConfig):
    target_column: str = Field(min_length=1)
    column_names: list[str] | None = None
    transformations: dict[str, Transformation] | None = None
    optimization_objective: str | None = None
    budget_milli_node_hours: int = Field(default=1000, ge=1000, le=72000)
    disable_early_stopping: bool = False
    weight_column: str | None = None


class VertexAutoMLTabularConfig(_TabularCommon):
    """AutoML tabular: classification or regression on a CSV / BigQuery dataset.

    Attributes:
        target_column: the column to predict.
        prediction_type: ``classification`` or ``regression``.
        column_names: the dataset's columns (default: read from the CSV header).
        transformations: column -> transformation (default ``auto`` for every column but the target).
        optimization_objective: e.g. ``maximize-au-roc``, ``minimize-log-loss``, ``minimize-rmse``.
        budget_milli_node_hours: training budget (1,000 = one node hour).
        disable_early_stopping: train the whole budget.
        weight_column: a column of row weights.
    """

    prediction_type: Literal["classification", "regression"] = "classification"


class VertexAutoMLForecastingConfig(_TabularCommon):
    """AutoML time-series forecasting.

    Attributes:
        time_column: the timestamp column.
        time_series_identifier_column: the column naming each series.
        forecast_horizon: how many periods to forecast.
        context_window: how many past periods the model sees.
        data_granularity_unit: ``minute``, ``hour``, ``day``, ``week``, ``month`` or ``year``.
        data_granularity_count: periods of that unit per step.
        available_at_forecast_columns / unavailable_at_forecast_columns: covariates.
    """

    time_column: str = Field(min_length=1)
    time_series_identifier_column: str = Field(min_length=1)
    forecast_horizon: int = Field(ge=1)
    context_window: int | None = Field(default=None, ge=0)
    data_granularity_unit: Literal["minute", "hour", "day", "week", "month", "year"] = "day"
    data_granularity_count: int = Field(default=1, ge=1)
    available_at_forecast_columns: list[str] = Field(default_factory=list)
    unavailable_at_forecast_columns: list[str] = Field(default_factory=list)


def _transformations(config: _TabularCommon, sources: list[str]) -> list[dict[str, Any]]:
    if config.transformations:
        return [{kind: {"columnName": col}} for col, kind in config.transformations.items()]
    columns = config.column_names
    if columns is None:
        if not sources:
            raise SpecError("cannot tell the columns: give config.column_names or config.transformations")
        columns = read_csv_header(sources[0])
    if config.target_column not in columns:
        raise SpecError(f"target_column {config.target_column!r} is not among the columns {columns!r}")
    return [{"auto": {"columnName": c}} for c in columns if c != config.target_column]


class VertexAutoMLTabular(VertexServing, VertexPipelineModel[VertexAutoMLTabularConfig]):
    """AutoML tabular classification / regression on Vertex AI."""

    adapter_name: ClassVar[str] = "vertex-automl-tabular"
    config_class: ClassVar[type[VertexAutoMLTabularConfig]] = VertexAutoMLTabularConfig
    training_task_definition: ClassVar[str] = DEFINITION + "automl_tabular_1.0.0.yaml"
    dataset_metadata_schema: ClassVar[str] = METADATA + "tabular_1.0.0.yaml"

    def task_inputs(self, input: TrainPluginInput) -> dict[str, Any]:
        config = self.require_config()
        inputs: dict[str, Any] = {
            "targetColumn": config.target_column,
            "predictionType": config.prediction_type,
            "transformations": _transformations(config, self.sources(input)),
            "trainBudgetMilliNodeHours": config.budget_milli_node_hours,
            "disableEarlyStopping": config.disable_early_stopping,
        }
        if config.optimization_objective:
            inputs["optimizationObjective"] = config.optimization_objective
        if config.weight_column:
            inputs["weightColumnName"] = config.weight_column
        return inputs


class VertexAutoMLForecasting(VertexServing, VertexPipelineModel[VertexAutoMLForecastingConfig]):
    """AutoML time-series forecasting on Vertex AI."""

    adapter_name: ClassVar[str] = "vertex-automl-forecasting"
    config_class: ClassVar[type[VertexAutoMLForecastingConfig]] = VertexAutoMLForecastingConfig
    training_task_definition: ClassVar[str] = DEFINITION + "automl_time_series_forecasting_1.0.0.yaml"
    dataset_metadata_schema: ClassVar[str] = METADATA + "time_series_1.0.0.yaml"

    def task_inputs(self, input: TrainPluginInput) -> dict[str, Any]:
        config = self.require_config()
        # Every column but the target, the time and series columns included (as Google's SDK and samples do).
        transformations = _transformations(config, self.sources(input))
        inputs: dict[str, Any] = {
            "targetColumn": config.target_column,
            "timeColumn": config.time_column,
            "timeSeriesIdentifierColumn": config.time_series_identifier_column,
            "forecastHorizon": config.forecast_horizon,
            "dataGranularity": {
                "unit": config.data_granularity_unit,
                "quantity": config.data_granularity_count,
            },
            "transformations": transformations,
            "trainBudgetMilliNodeHours": config.budget_milli_node_hours,
            "availableAtForecastColumns": config.available_at_forecast_columns,
            "unavailableAtForecastColumns": config.unavailable_at_forecast_columns or [config.target_column],
        }
        if config.context_window is not None:
            inputs["contextWindow"] = config.context_window
        if config.optimization_objective:
            inputs["optimizationObjective"] = config.optimization_objective
        if config.weight_column:
            inputs["weightColumn"] = config.weight_column
        return inputs


class _UnstructuredConfig(VertexPipelineConfig):
    budget_milli_node_hours: int | None = Field(default=None, ge=1)
    disable_early_stopping: bool = False
    model_type: str = "CLOUD"


class VertexAutoMLImageConfig(_UnstructuredConfig):
    """AutoML image: ``classification`` (single or multi-label) or ``object_detection``."""

    objective: Literal["classification", "object_detection"] = "classification"
    multi_label: bool = False

    @model_validator(mode="after")
    def _multi_label_only_for_classification(self) -> VertexAutoMLImageConfig:
        if self.multi_label and self.objective != "classification":
            raise ValueError("multi_label applies to objective='classification' only")
        return self


class VertexAutoMLTextConfig(VertexPipelineConfig):
    """AutoML text: ``classification`` (single or multi-label), ``extraction`` or ``sentiment``."""

    objective: Literal["classification", "extraction", "sentiment"] = "classification"
    multi_label: bool = False
    sentiment_max: int = Field(default=4, ge=1, le=10)


class VertexAutoMLVideoConfig(_UnstructuredConfig):
    """AutoML video: ``classification``, ``action_recognition`` or ``object_tracking``."""

    objective: Literal["classification", "action_recognition", "object_tracking"] = "classification"


_UnstructuredConfigT = TypeVar("_UnstructuredConfigT", bound=VertexPipelineConfig)


class _AutoMLUnstructured(VertexPipelineModel[_UnstructuredConfigT]):
    """What image, text and video share: a definition per objective."""

    family: ClassVar[str]

    @property
    def training_task_definition(self) -> str:  # type: ignore[override]
        objective = self.require_config().objective  # type: ignore[attr-defined]
        return DEFINITION + f"automl_{self.family}_{objective}_1.0.0.yaml"


class VertexAutoMLImage(VertexServing, _AutoMLUnstructured[VertexAutoMLImageConfig]):
    """AutoML image classification / object detection on Vertex AI."""

    adapter_name: ClassVar[str] = "vertex-automl-image"
    family: ClassVar[str] = "image"
    config_class: ClassVar[type[VertexAutoMLImageConfig]] = VertexAutoMLImageConfig
    dataset_metadata_schema: ClassVar[str] = METADATA + "image_1.0.0.yaml"

    def import_schema(self) -> str:
        config = self.require_config()
        if config.objective == "object_detection":
            return IOFORMAT + "image_bounding_box_io_format_1.0.0.yaml"
        label = "multi_label" if config.multi_label else "single_label"
        return IOFORMAT + f"image_classification_{label}_io_format_1.0.0.yaml"

    def task_inputs(self, input: TrainPluginInput) -> dict[str, Any]:
        config = self.require_config()
        model_type = config.model_type
        if model_type == "CLOUD" and config.objective == "object_detection":
            # Object detection has no "CLOUD" model type; its cloud default (as in the SDK) is this one.
            model_type = "CLOUD_HIGH_ACCURACY_1"
        inputs: dict[str, Any] = {
            "modelType": model_type,
            "disableEarlyStopping": config.disable_early_stopping,
        }
        if config.objective == "classification":
            inputs["multiLabel"] = config.multi_label
        if config.budget_milli_node_hours is not None:
            inputs["budgetMilliNodeHours"] = config.budget_milli_node_hours
        return inputs


class VertexAutoMLText(VertexServing, _AutoMLUnstructured[VertexAutoMLTextConfig]):
    """AutoML text classification / extraction / sentiment on Vertex AI (deprecated by Google).

    Google deprecated AutoML Text and disabled its dataset creation from June 2025; existing datasets
    and models keep working for now. Its migration path is Gemini supervised tuning: ``VertexTuningJob``.
    """

    adapter_name: ClassVar[str] = "vertex-automl-text"
    deprecation: ClassVar[str | None] = (
        "vertex-automl-text: Google deprecated AutoML Text; creating its datasets is disabled from June 2025 "
        "(existing datasets and models still work). Migrate to Gemini supervised tuning with VertexTuningJob."
    )
    family: ClassVar[str] = "text"
    config_class: ClassVar[type[VertexAutoMLTextConfig]] = VertexAutoMLTextConfig
    dataset_metadata_schema: ClassVar[str] = METADATA + "text_1.0.0.yaml"

    def import_schema(self) -> str:
        config = self.require_config()
        if config.objective == "classification":
            label = "multi_label" if config.multi_label else "single_label"
            return IOFORMAT + f"text_classification_{label}_io_format_1.0.0.yaml"
        return IOFORMAT + f"text_{config.objective}_io_format_1.0.0.yaml"

    def task_inputs(self, input: TrainPluginInput) -> dict[str, Any]:
        config = self.require_config()
        if config.objective == "classification":
            return {"multiLabel": config.multi_label}
        if config.objective == "sentiment":
            return {"sentimentMax": config.sentiment_max}
        return {}


class VertexAutoMLVideo(_AutoMLUnstructured[VertexAutoMLVideoConfig]):
    """AutoML video classification / action recognition / object tracking on Vertex AI (deprecated by Google).

    Google deprecated AutoML Video on 31 July 2025 (still available for training on existing data); the
    migration path is Gemini (supervised tuning: ``VertexTuningJob``).

    Not :class:`~adapters.Serving`: Vertex serves AutoML video models by batch prediction only
    (``batch_predict``), never from an endpoint, so there is no ``deploy``.
    """

    adapter_name: ClassVar[str] = "vertex-automl-video"
    deprecation: ClassVar[str | None] = (
        "vertex-automl-video: Google deprecated AutoML Video on 31 July 2025 (still available for training "
        "models on existing data). Migrate to Gemini supervised tuning with VertexTuningJob."
    )
    family: ClassVar[str] = "video"
    config_class: ClassVar[type[VertexAutoMLVideoConfig]] = VertexAutoMLVideoConfig
    dataset_metadata_schema: ClassVar[str] = METADATA + "video_1.0.0.yaml"

    def import_schema(self) -> str:
        return IOFORMAT + f"video_{self.require_config().objective}_io_format_1.0.0.yaml"

    def task_inputs(self, input: TrainPluginInput) -> dict[str, Any]:
        return {"modelType": self.require_config().model_type}
