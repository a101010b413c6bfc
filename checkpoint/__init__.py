"""jobferry's state layer: workspaces, checkpoint handles and their verified bundles.

No vendor SDK is imported here; each name but the errors is imported on first use.
"""

from typing import TYPE_CHECKING

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
from ._lazy import lazy_exports

if TYPE_CHECKING:
    from ._bundle import DEFAULT_LIMITS, BundleLimits, pack_folder, unpack_archive
    from ._checkpoint import ModelCheckpoint
    from ._names import validate_name
    from ._secrets import assert_no_secrets, find_secret
    from ._status_log import StatusLog, StatusRecord
    from ._workspace import ENV_WORKSPACE, Workspace, default_workspace_url

# name -> module that defines it; imported on first access (PEP 562). The errors are imported at once:
# every jobferry error derives from JobferryError, so `import adapters` needs them, and nothing else here.
_LAZY = {
    "DEFAULT_LIMITS": "._bundle",
    "BundleLimits": "._bundle",
    "pack_folder": "._bundle",
    "unpack_archive": "._bundle",
    "ModelCheckpoint": "._checkpoint",
    "validate_name": "._names",
    "assert_no_secrets": "._secrets",
    "find_secret": "._secrets",
    "StatusLog": "._status_log",
    "StatusRecord": "._status_log",
    "ENV_WORKSPACE": "._workspace",
    "Workspace": "._workspace",
    "default_workspace_url": "._workspace",
}

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)

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
