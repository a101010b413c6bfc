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
from ._base import JOB_STATES, PIPELINE_STATES, VertexConfig, VertexModel
from ._batch import VertexBatchPrediction, VertexBatchPredictionConfig, batch_predict
from ._custom import VertexCustomJob, VertexCustomJobConfig
from ._pipeline import VertexPipelineConfig, VertexPipelineModel

__all__ = [
    "JOB_STATES",
    "PIPELINE_STATES",
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
    "VertexCustomJob",
    "VertexCustomJobConfig",
    "VertexModel",
    "VertexPipelineConfig",
    "VertexPipelineModel",
    "batch_predict",
]
