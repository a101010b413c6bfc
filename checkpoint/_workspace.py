"""Workspaces: the data scope where checkpoint bundles (and job records) are published.

A workspace is a URL handled by fsspec: a local folder (the default), ``memory://`` (tests), ``gs://``
(the ``gcs`` extra), ``s3://`` (the ``s3`` extra) or any other fsspec protocol. Keys follow the layout
``{plugin_instance_id}/{handle}.zip``; other per-instance records live in sub-folders of the instance
(``{plugin_instance_id}/status/``, ...), so they never look like handles.

Publishing is atomic everywhere: object stores and ``memory://`` make an object visible only once it is
complete; on a local folder we write a uniquely named partial file and ``os.replace`` it into place.

Create-if-absent (:meth:`Workspace.create_bytes`) is exclusive where the backend offers a primitive for it:
``link(2)`` on a local folder, a process-wide lock on ``memory://``, ``ifGenerationMatch=0`` on ``gs://``
and ``If-None-Match: *`` on ``s3://``. Elsewhere it is an exists-check followed by a write (warned once).

Every relative key is checked by :func:`validate_key` before it reaches fsspec, so no key can leave the
workspace root whoever built it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from . import _cache
from ._errors import CheckpointNotFound, InvalidWorkspace, MissingDependency
from ._names import validate_key, validate_name

log = logging.getLogger(__name__)

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


Backend = Literal["local", "memory", "gcs", "s3", "other"]


def _backend_of(fs: Any) -> Backend:
    """Which create-if-absent primitive the filesystem has, judged by its protocol names."""
    protocols = set(fs.protocol if isinstance(fs.protocol, tuple | list) else (fs.protocol,))
    if "file" in protocols:
        return "local"
    if "memory" in protocols:
        return "memory"
    if protocols & {"gs", "gcs"}:
        return "gcs"
    if protocols & {"s3", "s3a"}:
        return "s3"
    return "other"


# errno values with which link(2) says "this filesystem has no hard links" (FAT: EPERM; some FUSE and SMB
# mounts: ENOTSUP / ENOSYS), as opposed to a real failure.
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})

# memory:// checks existence and then stores, with no lock: two threads could both "create", or a write
# could land between a create's check and its store. Creates and writes on memory:// in this process take
# this lock, which makes create-if-absent exclusive per process.
_MEMORY_CREATE_LOCK = threading.Lock()

# AWS answers 409 ConditionalRequestConflict while another conditional write of the key is in flight;
# the documented remedy is to retry, after which the loser gets 412.
_CONFLICT_RETRIES = 5

_warned_protocols: set[str] = set()
_warned_lock = threading.Lock()


def _warn_no_exclusive_create(protocol: str) -> None:
    """Log, once per protocol and process, that create-if-absent has a window on this backend."""
    with _warned_lock:
        if protocol in _warned_protocols:
            return
        _warned_protocols.add(protocol)
    log.warning(
        "workspace protocol %r has no known exclusive create: create_bytes checks existence and then "
        "writes, so two writers racing in that window can both believe they created the object",
        protocol,
    )


def _s3_error_code(exc: BaseException) -> str | None:
    """The S3 error code behind an s3fs OSError (s3fs maps only some 412s to FileExistsError)."""
    response = getattr(exc.__cause__, "response", None)
    if not isinstance(response, dict):
        return None
    error = response.get("Error") or {}
    code = error.get("Code")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return "PreconditionFailed" if status == 412 else (str(code) if code else None)


def _write_partial(target: str, chunks: Iterable[bytes]) -> str:
    """Write ``chunks`` to a uniquely named sibling of ``target``, fsynced; return its path."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    partial = f"{target}{_PARTIAL_MARK}{uuid.uuid4().hex}"
    try:
        with open(partial, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        raise
    return partial


def _replace_local(target: str, chunks: Iterable[bytes]) -> None:
    """Atomically replace ``target`` with ``chunks``: readers see the old file or the new."""
    partial = _write_partial(target, chunks)
    try:
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)


def _create_local(target: str, data: bytes) -> bool:
    """Create ``target`` holding ``data`` unless it exists; True if this call created it."""
    partial = _write_partial(target, [data])
    try:
        # link(2) publishes the complete file under its name, or fails with EEXIST: exclusive and atomic.
        os.link(partial, target)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        return _create_local_excl(target, data)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    return True


def _create_local_excl(target: str, data: bytes) -> bool:
    """O_EXCL create, for filesystems without hard links.

    The winner is still decided atomically, but the file is visible while it is written, so a reader
    can see part of it; this is the one case where create_bytes does not hide partial objects.
    """
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return True


def _file_chunks(local_path: str | os.PathLike[str]) -> Iterable[bytes]:
    with open(local_path, "rb") as src:
        while chunk := src.read(1 << 20):
            yield chunk


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
            raise InvalidWorkspace("workspace URL is empty; give a local path or a URL such as memory://ws")
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
            raise InvalidWorkspace(
                f"cannot open workspace {raw!r}: {exc}; workspaces are local paths, memory://, gs:// "
                "(jobferry[gcs]), s3:// (jobferry[s3]) or another installed fsspec protocol"
            ) from exc
        self._fs: Any = fs
        self._root: str = root.rstrip("/") or "/"
        self._backend: Backend = _backend_of(fs)
        self._local = self._backend == "local"
        self._protocol = protocol
        self.url: str = raw if protocol != "file" else self._root
        # The folder is created by the first write, not here: a read-only command must not leave one behind.
        if self._local and Path(self._root).exists() and not Path(self._root).is_dir():
            raise InvalidWorkspace(
                f"workspace {self._root!r} is a file, not a folder; give a folder or a URL"
            )

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

    @property
    def exclusive_create(self) -> bool:
        """True when :meth:`create_bytes` is exclusive: local folders, ``memory://``, ``gs://``, ``s3://``.

        Elsewhere two racing writers can both be told they created the object.
        """
        return self._backend != "other"

    # -- keys -----------------------------------------------------------------------------------------

    def _path(self, rel: str) -> str:
        """The fsspec path of relative key ``rel``, which must stay inside the root (InvalidName if not)."""
        validate_key(rel)
        return f"{self._root.rstrip('/')}/{rel}" if self._root != "/" else f"/{rel}"

    def bundle_key(self, plugin_instance_id: str, handle: str) -> str:
        """The key of a handle's bundle, relative to the workspace: ``{id}/{handle}.zip``."""
        validate_name(plugin_instance_id, "plugin instance ID")
        validate_name(handle, "handle")
        return f"{plugin_instance_id}/{handle}{BUNDLE_SUFFIX}"

    # -- listing --------------------------------------------------------------------------------------

    def _ls(self, path: str) -> list[dict[str, Any]]:
        # gcsfs and s3fs cache listings per instance and never see other processes' writes: list afresh.
        self._fs.invalidate_cache(path)
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
        key = self._path(self.bundle_key(plugin_instance_id, handle))
        self._fs.invalidate_cache(key)  # exists() may answer from a stale listing (see _ls)
        return bool(self._fs.exists(key))

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
        # After the write: a load that starts from here on must not get the model of the old bundle.
        _cache.invalidate(self.url, plugin_instance_id, handle)
        return rel

    def delete_handle(self, plugin_instance_id: str, handle: str) -> None:
        """Remove a published handle; raise CheckpointNotFound if it does not exist."""
        key = self._path(self.bundle_key(plugin_instance_id, handle))
        try:
            # S3 deletes are idempotent (204 for a missing key) and s3fs does not raise: ask first.
            if not self.has_handle(plugin_instance_id, handle):
                raise FileNotFoundError(key)
            self._fs.rm_file(key)
        except FileNotFoundError:
            raise CheckpointNotFound(
                self.url, plugin_instance_id, handle, self.list_handles(plugin_instance_id)
            ) from None
        finally:
            # Also when the bundle was already gone (deleted by another process): the cache must not
            # keep answering for a handle this process has seen removed.
            _cache.invalidate(self.url, plugin_instance_id, handle)

    # -- small records (job references, intents, status log) ----------------------------------------------

    def write_file(self, rel: str, local_path: str | os.PathLike[str]) -> None:
        """Copy a local file to key ``rel`` so that readers see the old object or the new, never a part."""
        target = self._path(rel)
        if self._local:
            _replace_local(target, _file_chunks(local_path))
        else:
            # Object stores (and memory://) expose an object only once its upload completes.
            self._fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            with self._memory_guard():
                self._fs.put_file(os.fspath(local_path), target)

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write a small record atomically (replacing any object under ``rel``)."""
        target = self._path(rel)
        if self._local:
            _replace_local(target, [data])
        else:
            self._fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            with self._memory_guard():
                self._fs.pipe_file(target, data)

    def _memory_guard(self) -> contextlib.AbstractContextManager[object]:
        """On memory://, the lock under which creates check and store: a write must not land in between."""
        return _MEMORY_CREATE_LOCK if self._backend == "memory" else contextlib.nullcontext()

    def create_bytes(self, rel: str, data: bytes) -> bool:
        """Create the object ``rel`` holding ``data`` unless it exists; never overwrite.

        Returns True if this call created it, False if an object was already there (left unchanged).
        Readers never see a partial object. Exclusive between processes and machines when
        :attr:`exclusive_create` is True (``memory://``: between threads of this process); on other
        protocols it is an exists-check and a write, and a warning is logged once per process.
        """
        target = self._path(rel)
        if self._backend == "local":
            return _create_local(target, data)
        self._fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        if self._backend == "other":
            return self._create_unguarded(target, data)
        return self._create_object(target, data)

    def _create_object(self, target: str, data: bytes) -> bool:
        """Create-if-absent on memory:// and object stores, whose pipe_file(mode="create") is exclusive."""
        for attempt in range(_CONFLICT_RETRIES):
            try:
                with self._memory_guard():
                    self._fs.pipe_file(target, data, mode="create")
            except FileExistsError:  # fsspec's spelling of 412 / "already there"
                return False
            except OSError as exc:
                code = _s3_error_code(exc)
                if code == "PreconditionFailed":  # a 412 that s3fs did not map to FileExistsError
                    return False
                if code != "ConditionalRequestConflict" or attempt == _CONFLICT_RETRIES - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
            else:
                return True
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _create_unguarded(self, target: str, data: bytes) -> bool:
        """Create-if-absent without an exclusive primitive: check, then write (a race window)."""
        _warn_no_exclusive_create(self._protocol)
        if self._fs.exists(target):
            return False
        self._fs.pipe_file(target, data)
        return True

    def read_bytes(self, rel: str) -> bytes | None:
        """Read a small record, or ``None`` if it does not exist."""
        path = self._path(rel)
        try:
            data: bytes = self._fs.cat_file(path)
        except FileNotFoundError:
            return None
        return data

    def read_range(self, rel: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of a file in the workspace, without reading the rest.

        Raises:
            FileNotFoundError: there is no such file.
        """
        path = self._path(rel)
        if not 0 <= start <= end:
            raise ValueError(f"need 0 <= start <= end, got start={start!r}, end={end!r}")
        data: bytes = self._fs.cat_file(path, start=start, end=end)
        return data

    def list_records(self, rel_dir: str) -> list[str]:
        """Names of the complete records directly under ``rel_dir`` (sorted; partial writes excluded)."""
        names = []
        for entry in self._ls(self._path(rel_dir)):
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            if entry["type"] == "file" and _PARTIAL_MARK not in name:
                names.append(name)
        return sorted(names)

    def list_instance_folders(self) -> list[str]:
        """Every plugin instance folder at the root, with or without a published handle (sorted)."""
        return [name for name in self._dir_names(self._root) if self._valid(name)]

    def list_dirs(self, rel_dir: str) -> list[str]:
        """Names of the sub-folders directly under ``rel_dir`` (sorted; empty if there is none)."""
        return self._dir_names(self._path(rel_dir))

    def _dir_names(self, path: str) -> list[str]:
        names = []
        for entry in self._ls(path):
            if entry["type"] == "directory":
                names.append(entry["name"].rstrip("/").rsplit("/", 1)[-1])
        return sorted(names)

    def delete_record(self, rel: str) -> None:
        """Remove a record if it exists."""
        path = self._path(rel)
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm_file(path)
