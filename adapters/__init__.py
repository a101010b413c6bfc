"""jobferry's models and adapters: the TrainableModel contract, its messages and the external-job engine.

Importing this package imports no vendor SDK; each adapter imports its own when first used. Every name
but the errors (``TrainableModel``, the messages, ``ExternalJobModel``, ``JobStatus``, ...) is loaded on
first access, so a plain ``import adapters`` stays cheap (no pydantic).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters._errors import (
    AuthError,
    Conflict,
    CredentialError,
    InvalidJobSpec,
    JobError,
    JobFailed,
    JobIdentityMismatch,
    JobNotFound,
    JobTimeout,
    OutcomeUnknown,
    PermanentError,
    PredictionError,
    QuotaExceeded,
    ServiceUnreachable,
    SpecError,
    SubmissionBusy,
    TransientError,
    VendorError,
)
from checkpoint._errors import (
    BundleCorrupted,
    BundleError,
    CheckpointNotFound,
    InvalidName,
    InvalidWorkspace,
    JobferryError,
    MissingDependency,
    SecretInCheckpoint,
    UnsafeArchive,
    WorkspaceError,
)

from ._lazy import lazy_exports

if TYPE_CHECKING:
    from ._clock import Clock, FakeClock, SystemClock
    from ._connection import Connection, ExternalJobConfig, Policies
    from ._credentials import CredentialRef
    from ._external import ExternalJobModel
    from ._handle import JobHandle, PollLoop
    from ._jobs import JobErrorInfo, JobRecord, JobRef, JobState, JobStatus, StateTable
    from ._loading import load_job
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
    from ._poll import PollPolicy, RateLimiter
    from ._registry import get_adapter, list_adapters, register_adapter
    from ._retry import RetryPolicy
    from ._serving import OnlinePredictions, Predicting, Serving
    from ._watch import JobWatcher
    from .trainable_model import ConfigType, TrainableModel

__version__ = "0.1.0"

# name -> module that defines it; imported on first access (PEP 562). Even the contract's messages and
# TrainableModel: they need pydantic, whose import is most of this package's cost, and a caller that only
# catches jobferry's errors (or a CLI's --help) never uses them.
_LAZY = {
    "CamelModel": "._messages",
    "InvocableResponse": "._messages",
    "PluginRequest": "._messages",
    "PluginRequestContext": "._messages",
    "Task": "._messages",
    "TaskState": "._messages",
    "TrainPluginInput": "._messages",
    "TrainPluginOutput": "._messages",
    "ConfigType": ".trainable_model",
    "TrainableModel": ".trainable_model",
    "Clock": "._clock",
    "FakeClock": "._clock",
    "SystemClock": "._clock",
    "Connection": "._connection",
    "ExternalJobConfig": "._connection",
    "Policies": "._connection",
    "CredentialRef": "._credentials",
    "ExternalJobModel": "._external",
    "JobHandle": "._handle",
    "PollLoop": "._handle",
    "JobErrorInfo": "._jobs",
    "JobRecord": "._jobs",
    "JobRef": "._jobs",
    "JobState": "._jobs",
    "JobStatus": "._jobs",
    "StateTable": "._jobs",
    "load_job": "._loading",
    "PollPolicy": "._poll",
    "RateLimiter": "._poll",
    "get_adapter": "._registry",
    "list_adapters": "._registry",
    "register_adapter": "._registry",
    "RetryPolicy": "._retry",
    "OnlinePredictions": "._serving",
    "Predicting": "._serving",
    "Serving": "._serving",
    "JobWatcher": "._watch",
}


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)


__all__ = [
    "AuthError",
    "BundleCorrupted",
    "BundleError",
    "CamelModel",
    "CheckpointNotFound",
    "Clock",
    "ConfigType",
    "Conflict",
    "Connection",
    "CredentialError",
    "CredentialRef",
    "ExternalJobConfig",
    "ExternalJobModel",
    "FakeClock",
    "InvalidJobSpec",
    "InvalidName",
    "InvalidWorkspace",
    "InvocableResponse",
    "JobError",
    "JobErrorInfo",
    "JobFailed",
    "JobHandle",
    "JobIdentityMismatch",
    "JobNotFound",
    "JobRecord",
    "JobRef",
    "JobState",
    "JobStatus",
    "JobTimeout",
    "JobWatcher",
    "JobferryError",
    "MissingDependency",
    "OnlinePredictions",
    "OutcomeUnknown",
    "PermanentError",
    "PluginRequest",
    "PluginRequestContext",
    "Policies",
    "PollLoop",
    "PollPolicy",
    "Predicting",
    "PredictionError",
    "QuotaExceeded",
    "RateLimiter",
    "RetryPolicy",
    "SecretInCheckpoint",
    "ServiceUnreachable",
    "Serving",
    "SpecError",
    "StateTable",
    "SubmissionBusy",
    "SystemClock",
    "Task",
    "TaskState",
    "TrainPluginInput",
    "TrainPluginOutput",
    "TrainableModel",
    "TransientError",
    "UnsafeArchive",
    "VendorError",
    "WorkspaceError",
    "__version__",
    "get_adapter",
    "list_adapters",
    "load_job",
    "register_adapter",
]
