"""Vertex AI adapters over the GAPIC v1 clients (``pip install 'jobferry[vertex]'``).

Importing this package imports nothing from ``google``: the client library is loaded when an adapter
first talks to Vertex AI.
"""

from ._automl import (
    VertexAutoMLForecasting,
    VertexAutoMLForecastingConfig,
    VertexAutoMLImage,
    VertexAutoMLImageConfig,
    VertexAutoMLTabular,
    VertexAutoMLTabularConfig,
    VertexAutoMLText,
    VertexAutoMLTextConfig,
    VertexAutoMLVideo,
    VertexAutoMLVideoConfig,
)
from ._base import JOB_STATES, PIPELINE_STATES, VertexConfig, VertexConnection, VertexModel
from ._batch import VertexBatchPrediction, VertexBatchPredictionConfig, batch_predict
from ._custom import VertexCustomJob, VertexCustomJobConfig
from ._hptuning import StudyParameter, VertexHyperparameterTuningJob, VertexHyperparameterTuningJobConfig
from ._kfp import VertexPipelineJob, VertexPipelineJobConfig
from ._pipeline import VertexPipelineConfig, VertexPipelineModel
from ._resources import ResourceKind, VertexJobModel
from ._serving import VertexServing
from ._tuning import VertexTuningJob, VertexTuningJobConfig

__all__ = [
    "JOB_STATES",
    "PIPELINE_STATES",
    "ResourceKind",
    "StudyParameter",
    "VertexAutoMLForecasting",
    "VertexAutoMLForecastingConfig",
    "VertexAutoMLImage",
    "VertexAutoMLImageConfig",
    "VertexAutoMLTabular",
    "VertexAutoMLTabularConfig",
    "VertexAutoMLText",
    "VertexAutoMLTextConfig",
    "VertexAutoMLVideo",
    "VertexAutoMLVideoConfig",
    "VertexBatchPrediction",
    "VertexBatchPredictionConfig",
    "VertexConfig",
    "VertexConnection",
    "VertexCustomJob",
    "VertexCustomJobConfig",
    "VertexHyperparameterTuningJob",
    "VertexHyperparameterTuningJobConfig",
    "VertexJobModel",
    "VertexModel",
    "VertexPipelineConfig",
    "VertexPipelineJob",
    "VertexPipelineJobConfig",
    "VertexPipelineModel",
    "VertexServing",
    "VertexTuningJob",
    "VertexTuningJobConfig",
    "batch_predict",
]
