"""jobferry's state layer: workspaces, checkpoint handles and their verified bundles.

No vendor SDK is imported here.
"""

from ._bundle import DEFAULT_LIMITS, BundleLimits, pack_folder, unpack_archive
from ._checkpoint import ModelCheckpoint
from ._errors import (
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
from ._names import validate_name
from ._secrets import assert_no_secrets, find_secret
from ._status_log import StatusLog, StatusRecord
from ._workspace import ENV_WORKSPACE, Workspace, default_workspace_url

__all__ = [
    "DEFAULT_LIMITS",
    "ENV_WORKSPACE",
    "BundleCorrupted",
    "BundleError",
    "BundleLimits",
    "CheckpointNotFound",
    "InvalidName",
    "JobferryError",
    "MissingDependency",
    "ModelCheckpoint",
    "SecretInCheckpoint",
    "StatusLog",
    "StatusRecord",
    "UnsafeArchive",
    "Workspace",
    "InvalidWorkspace",
    "WorkspaceError",
    "assert_no_secrets",
    "default_workspace_url",
    "find_secret",
    "pack_folder",
    "unpack_archive",
    "validate_name",
]
