"""The root of the jobferry exception tree, and its storage half (what ``checkpoint`` raises).

Every error jobferry raises derives from one root, so ``except JobferryError`` catches them all. The job
and vendor half lives in :mod:`adapters._errors`, which draws the whole tree.

::

    JobferryError
    ├── InvalidName (ValueError)           a plugin instance ID, handle or workspace key that cannot be a path
    ├── MissingDependency (ImportError)    an optional extra is not installed; carries the pip hint
    ├── WorkspaceError                     a workspace URL that cannot be opened or written
    │   ├── InvalidWorkspace (ValueError)  not a workspace at all: empty, a file, an unknown scheme
    │   └── CheckpointNotFound (LookupError)
    ├── BundleError
    │   ├── BundleCorrupted                digest, size or manifest mismatch on download
    │   └── UnsafeArchive                  hostile entries: traversal, links, bombs, collisions
    ├── SecretInCheckpoint                 credential material found in a folder about to be published
    └── (the job and vendor errors: adapters._errors)
"""

from __future__ import annotations

from collections.abc import Sequence


class JobferryError(Exception):
    """Root of every error jobferry raises."""


#: The longest plugin instance ID or handle (:func:`checkpoint.validate_name` enforces the rule).
MAX_NAME_LENGTH = 128
#: What a valid plugin instance ID or handle is, said once for every message that refuses one. "ASCII"
#: and the character class are spelled out: a full-width or Cyrillic look-alike is a letter too.
VALID_NAMES = (
    f"valid names are 1-{MAX_NAME_LENGTH} ASCII letters, digits, '.', '_' or '-' ([A-Za-z0-9._-]), "
    "not '.' or '..'"
)
_SHOWN_CHARS = 40


def shown_name(value: object) -> str:
    """``value`` for a one-line message: its repr, so NUL, newlines and escapes are visible (and cannot
    break the line or the terminal), shortened when it is longer than any valid name (the reason then
    says how long it is)."""
    if isinstance(value, str) and len(value) > MAX_NAME_LENGTH:
        return f"{value[:_SHOWN_CHARS]!r}..."
    text = repr(value)
    return text if len(text) <= 2 * MAX_NAME_LENGTH else f"{text[: 2 * MAX_NAME_LENGTH]}..."


class InvalidName(JobferryError, ValueError):
    """A plugin instance ID, checkpoint handle or workspace key that is not a safe path.

    ``value`` is the exact value refused; the message shows it shortened (see :func:`shown_name`).
    ``valid`` says what would have been accepted (by default: what a single-component name may be).
    """

    def __init__(self, kind: str, value: object, reason: str, valid: str = VALID_NAMES) -> None:
        self.kind = kind
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {kind} {shown_name(value)}: {reason}; {valid}")


class MissingDependency(JobferryError, ImportError):
    """An optional dependency is missing; the message says which extra to install."""

    def __init__(self, what: str, extra: str, module: str) -> None:
        self.what = what
        self.extra = extra
        self.module = module
        super().__init__(
            f"{what} needs the optional module {module!r}, which is not installed; "
            f"install it with: pip install 'jobferry[{extra}]'"
        )


class WorkspaceError(JobferryError):
    """A workspace that cannot be opened, read or written."""


class InvalidWorkspace(WorkspaceError, ValueError):
    """A workspace URL or path that cannot name a workspace (empty, a file, an unknown scheme): bad input."""


class CheckpointNotFound(WorkspaceError, LookupError):
    """No bundle is published under the requested handle."""

    def __init__(self, workspace: str, plugin_instance_id: str, handle: str, existing: Sequence[str]) -> None:
        self.workspace = workspace
        self.plugin_instance_id = plugin_instance_id
        self.handle = handle
        self.existing = list(existing)
        have = ", ".join(repr(h) for h in self.existing) if self.existing else "none"
        super().__init__(
            f"no checkpoint {handle!r} for plugin instance {plugin_instance_id!r} in workspace "
            f"{workspace}; handles that exist: {have}"
        )


class BundleError(JobferryError):
    """A checkpoint bundle that cannot be packed or unpacked."""


class BundleCorrupted(BundleError):
    """A bundle whose content does not match its manifest (or has none)."""


class UnsafeArchive(BundleError):
    """An archive with hostile entries; nothing was extracted."""


class SecretInCheckpoint(JobferryError):
    """A checkpoint folder holds credential material and was not published."""

    def __init__(self, path: str, kind: str) -> None:
        self.path = path
        self.kind = kind
        super().__init__(
            f"refusing to publish: {path} holds {kind}; checkpoints must hold credential references "
            "(e.g. a key file path or an environment variable name), never key material"
        )
