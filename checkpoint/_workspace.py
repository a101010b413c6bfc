"""Workspaces: the data scope where checkpoint bundles (and job records) are published.

A workspace is a URL handled by fsspec: a local folder (the default), ``memory://`` (tests), ``gs://``
(the ``gcs`` extra), ``s3://`` (the ``s3`` extra) or any other fsspec protocol. Keys follow the layout
``{plugin_instance_id}/{handle}.zip``; other per-instance records live in sub-folders of the instance
(``{plugin_instance_id}/status/``, ...), so they never look like handles.

Publishing is atomic everywhere: object stores and ``memory://`` make an object visible only once it is
complete; on a local folder we write a uniquely named partial file and ``os.replace`` it into place.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Any

from ._errors import CheckpointNotFound, MissingDependency, WorkspaceError
from ._names import validate_name

ENV_WORKSPACE = "JOBFERRY_WORKSPACE"
BUNDLE_SUFFIX = ".zip"
_PARTIAL_MARK = ".partial-"

# Protocols whose filesystems live in optional extras: protocol -> (extra, module).
_EXTRAS: dict[str, tuple[str, str]] = {
    "gs": ("gcs", "gcsfs"),
    "gcs": ("gcs", "gcsfs"),
    "s3": ("s3", "s3fs"),
    "s3a": ("s3", "s3fs"),
}


def default_workspace_url() -> str:
    """The workspace used when none is given: ``$JOBFERRY_WORKSPACE`` or a folder in the user data dir."""
    env = os.environ.get(ENV_WORKSPACE)
    if env:
        return env
    import platformdirs

    return str(Path(platformdirs.user_data_dir("jobferry", appauthor=False)) / "workspace")


def _protocol_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else "file"


class Workspace:
    """A data scope holding plugin instances and their published checkpoint handles.

    Args:
        url_or_path: a local path or an fsspec URL; ``None`` means :func:`default_workspace_url`.
        storage_options: passed to the fsspec filesystem (credentials for ``gs://`` etc. by reference,
            e.g. ``{"token": "google_default"}``).
    """

    def __init__(
        self,
        url_or_path: str | os.PathLike[str] | None = None,
        *,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        raw = default_workspace_url() if url_or_path is None else os.fspath(url_or_path)
        if not raw:
            raise WorkspaceError("workspace URL is empty; give a local path or a URL such as memory://ws")
        protocol = _protocol_of(raw)
        if protocol == "file":
            local = Path(raw[len("file://") :] if raw.startswith("file://") else raw).expanduser()
            raw = str(local.resolve())
        # fsspec (and platformdirs) are imported here, not at module import: they cost ~45 ms.
        import fsspec.core

        try:
            fs, root = fsspec.core.url_to_fs(raw, **(storage_options or {}))
        except ImportError as exc:
            extra, module = _EXTRAS.get(protocol, (protocol, getattr(exc, "name", None) or protocol))
            raise MissingDependency(f"the {protocol}:// workspace {raw!r}", extra, module) from exc
        except ValueError as exc:
            raise WorkspaceError(f"cannot open workspace {raw!r}: {exc}") from exc
        self._fs: Any = fs
        self._root: str = root.rstrip("/") or "/"
        self._local = "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))
        self.url: str = raw if protocol != "file" else self._root
        if self._local:
            Path(self._root).mkdir(parents=True, exist_ok=True)

    @classmethod
    def coerce(cls, workspace: Workspace | str | os.PathLike[str] | None) -> Workspace:
        """Return ``workspace`` itself, or a :class:`Workspace` opened from a URL or path."""
        return workspace if isinstance(workspace, Workspace) else cls(workspace)

    def __repr__(self) -> str:
        return f"Workspace({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workspace) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    @property
    def is_local(self) -> bool:
        """True when the workspace is a folder on this machine."""
        return self._local

    # -- keys -----------------------------------------------------------------------------------------

    def _path(self, *parts: str) -> str:
        return "/".join([self._root.rstrip("/"), *parts]) if self._root != "/" else "/" + "/".join(parts)

    def bundle_key(self, plugin_instance_id: str, handle: str) -> str:
        """The key of a handle's bundle, relative to the workspace: ``{id}/{handle}.zip``."""
        validate_name(plugin_instance_id, "plugin instance ID")
        validate_name(handle, "handle")
        return f"{plugin_instance_id}/{handle}{BUNDLE_SUFFIX}"

    # -- listing --------------------------------------------------------------------------------------

    def _ls(self, path: str) -> list[dict[str, Any]]:
        try:
            entries: list[dict[str, Any]] = self._fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        return entries

    def list_plugin_instances(self) -> list[str]:
        """Plugin instances with at least one published handle, sorted."""
        found = []
        for entry in self._ls(self._root):
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            if entry["type"] == "directory" and self._valid(name) and self.list_handles(name):
                found.append(name)
        return sorted(found)

    def list_handles(self, plugin_instance_id: str) -> list[str]:
        """Published handles of one plugin instance, sorted (empty if it has none)."""
        validate_name(plugin_instance_id, "plugin instance ID")
        handles = []
        for entry in self._ls(self._path(plugin_instance_id)):
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            if entry["type"] == "file" and name.endswith(BUNDLE_SUFFIX):
                handle = name[: -len(BUNDLE_SUFFIX)]
                if self._valid(handle):
                    handles.append(handle)
        return sorted(handles)

    @staticmethod
    def _valid(name: str) -> bool:
        try:
            validate_name(name)
        except ValueError:
            return False
        return True

    def has_handle(self, plugin_instance_id: str, handle: str) -> bool:
        """True when ``handle`` is published for ``plugin_instance_id``."""
        return bool(self._fs.exists(self._path(self.bundle_key(plugin_instance_id, handle))))

    # -- bundles --------------------------------------------------------------------------------------

    def download_bundle(
        self, plugin_instance_id: str, handle: str, local_path: str | os.PathLike[str]
    ) -> None:
        """Copy a published bundle to ``local_path`` (written atomically); raise CheckpointNotFound."""
        key = self._path(self.bundle_key(plugin_instance_id, handle))
        dest = Path(local_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f"{dest.name}{_PARTIAL_MARK}{uuid.uuid4().hex}")
        try:
            self._fs.get_file(key, str(partial))
        except FileNotFoundError:
            partial.unlink(missing_ok=True)
            raise CheckpointNotFound(
                self.url, plugin_instance_id, handle, self.list_handles(plugin_instance_id)
            ) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, dest)

    def publish_bundle(self, plugin_instance_id: str, handle: str, local_path: str | os.PathLike[str]) -> str:
        """Publish a local bundle under ``handle`` atomically; return its key in the workspace."""
        rel = self.bundle_key(plugin_instance_id, handle)
        self.write_file(rel, local_path)
        return rel

    def delete_handle(self, plugin_instance_id: str, handle: str) -> None:
        """Remove a published handle; raise CheckpointNotFound if it does not exist."""
        key = self._path(self.bundle_key(plugin_instance_id, handle))
        try:
            self._fs.rm_file(key)
        except FileNotFoundError:
            raise CheckpointNotFound(
                self.url, plugin_instance_id, handle, self.list_handles(plugin_instance_id)
            ) from None

    # -- small records (job references, intents, status log) ----------------------------------------------

    def write_file(self, rel: str, local_path: str | os.PathLike[str]) -> None:
        """Copy a local file to key ``rel`` so that readers see the old object or the new, never a part."""
        target = self._path(rel)
        if self._local:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            partial = f"{target}{_PARTIAL_MARK}{uuid.uuid4().hex}"
            try:
                with open(local_path, "rb") as src, open(partial, "wb") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(partial, target)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(partial)
        else:
            # Object stores (and memory://) expose an object only once its upload completes.
            self._fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self._fs.put_file(os.fspath(local_path), target)

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write a small record atomically."""
        target = self._path(rel)
        if self._local:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            partial = f"{target}{_PARTIAL_MARK}{uuid.uuid4().hex}"
            try:
                with open(partial, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(partial, target)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(partial)
        else:
            self._fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            self._fs.pipe_file(target, data)

    def create_bytes(self, rel: str, data: bytes) -> bool:
        """Write a small record only if it does not exist yet; True if this call created it."""
        target = self._path(rel)
        if self._local:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            partial = f"{target}{_PARTIAL_MARK}{uuid.uuid4().hex}"
            try:
                with open(partial, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                try:
                    os.link(partial, target)  # atomic and exclusive: readers see all of it or nothing
                except FileExistsError:
                    return False
                return True
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(partial)
        self._fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        try:
            self._fs.pipe_file(target, data, mode="create")
        except FileExistsError:
            return False
        return True

    def read_bytes(self, rel: str) -> bytes | None:
        """Read a small record, or ``None`` if it does not exist."""
        try:
            data: bytes = self._fs.cat_file(self._path(rel))
        except FileNotFoundError:
            return None
        return data

    def read_range(self, rel: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of a file in the workspace, without reading the rest.

        Raises:
            FileNotFoundError: there is no such file.
        """
        if not 0 <= start <= end:
            raise ValueError(f"need 0 <= start <= end, got start={start!r}, end={end!r}")
        data: bytes = self._fs.cat_file(self._path(rel), start=start, end=end)
        return data

    def list_records(self, rel_dir: str) -> list[str]:
        """Names of the complete records directly under ``rel_dir`` (sorted; partial writes excluded)."""
        names = []
        for entry in self._ls(self._path(rel_dir)):
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            if entry["type"] == "file" and _PARTIAL_MARK not in name:
                names.append(name)
        return sorted(names)

    def delete_record(self, rel: str) -> None:
        """Remove a record if it exists."""
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm_file(self._path(rel))
