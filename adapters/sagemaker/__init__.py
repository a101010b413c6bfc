"""SageMaker adapters over boto3 (``pip install 'jobferry[sagemaker]'``), not the SageMaker Python SDK.

Importing this package imports nothing from ``boto3`` or ``botocore``: the clients are built when an
adapter first talks to SageMaker. The offline emulator is :mod:`adapters.sagemaker.emulator`.
"""

from ._base import NAME_RE, TAG_KEY, SageMakerConfig, SageMakerConnection, SageMakerModel, resource_name
from ._serving import CONTENT_TYPES, SageMakerServing
from ._training import (
    SECONDARY_STATES,
    TRAINING_STATES,
    Channel,
    SageMakerTrainingJob,
    SageMakerTrainingJobConfig,
    map_state,
    training_status,
)
from ._transform import TRANSFORM_STATES, SageMakerBatchTransform, SageMakerBatchTransformConfig

__all__ = [
    "CONTENT_TYPES",
    "NAME_RE",
    "SECONDARY_STATES",
    "TAG_KEY",
    "TRAINING_STATES",
    "TRANSFORM_STATES",
    "Channel",
    "SageMakerBatchTransform",
    "SageMakerBatchTransformConfig",
    "SageMakerConfig",
    "SageMakerConnection",
    "SageMakerModel",
    "SageMakerServing",
    "SageMakerTrainingJob",
    "SageMakerTrainingJobConfig",
    "map_state",
    "resource_name",
    "training_status",
]
