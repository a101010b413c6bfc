"""jobferry's models and adapters: the TrainableModel contract and its messages.

Importing this package imports no vendor SDK; each adapter imports its own when first used.
"""

from checkpoint._errors import (
    BundleCorrupted,
    BundleError,
    CheckpointNotFound,
    InvalidName,
    JobferryError,
    MissingDependency,
    SecretInCheckpoint,
    UnsafeArchive,
    WorkspaceError,
)

from ._messages import (
    CamelModel,
    InvocableResponse,
    PluginRequest,
    PluginRequestContext,
    Task,
    TaskState,
    TrainPluginInput,
    TrainPluginOutput,
)
from .trainable_model import ConfigType, TrainableModel

__version__ = "0.1.0"

__all__ = [
    "BundleCorrupted",
    "BundleError",
    "CamelModel",
    "CheckpointNotFound",
    "ConfigType",
    "InvalidName",
    "InvocableResponse",
    "JobferryError",
    "MissingDependency",
    "PluginRequest",
    "PluginRequestContext",
    "SecretInCheckpoint",
    "Task",
    "TaskState",
    "TrainPluginInput",
    "TrainPluginOutput",
    "TrainableModel",
    "UnsafeArchive",
    "WorkspaceError",
    "__version__",
]
