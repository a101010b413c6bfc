"""ModelCheckpoint: one plugin instance's handle, as a folder on disk and a bundle in a workspace."""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path

from ._bundle import DEFAULT_LIMITS, BundleLimits, pack_folder, unpack_archive
from ._names import validate_name
from ._secrets import assert_no_secrets
from ._workspace import Workspace


class ModelCheckpoint:
    """A checkpoint handle of one plugin instance: a local folder plus its published bundle.

    The folder is ``{parent_directory}/{plugin_instance_id}/{handle}`` so that colocated plugin instances
    sharing a parent directory never overwrite each other. Without a parent directory a temporary one is
    made and removed when this object is garbage-collected or the process exits; a model loaded from it
    keeps this object alive, so it may read its folder lazily.

    Args:
        workspace: where bundles are published (a :class:`Workspace`, URL or path).
        plugin_instance_id: the plugin instance; letters, digits, ``.``, ``_``, ``-``.
        handle: the checkpoint handle; ``None`` means :attr:`DEFAULT_HANDLE`.
        parent_directory: where the folder and archive live on disk.
        limits: extraction limits applied when downloading.
    """

    DEFAULT_HANDLE = "default"

    def __init__(
        self,
        workspace: Workspace | str | os.PathLike[str],
        plugin_instance_id: str,
        handle: str | None = None,
        parent_directory: str | os.PathLike[str] | None = None,
        *,
        limits: BundleLimits = DEFAULT_LIMITS,
    ) -> None:
        self.plugin_instance_id = validate_name(plugin_instance_id, "plugin instance ID")
        self.handle = validate_name(self.DEFAULT_HANDLE if handle is None else handle, "handle")
        self.workspace = Workspace.coerce(workspace)
        self.limits = limits
        if parent_directory is None:
            parent = Path(tempfile.mkdtemp(prefix="jobferry-ckpt-"))
            self._cleanup: weakref.finalize[..., ModelCheckpoint] | None = weakref.finalize(
                self, shutil.rmtree, str(parent), ignore_errors=True
            )
        else:
            parent = Path(parent_directory)
            self._cleanup = None
        self.parent_directory = parent
        self.folder_path_on_disk().mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return (
            f"ModelCheckpoint({self.workspace.url!r}, {self.plugin_instance_id!r}, {self.handle!r}, "
            f"parent_directory={str(self.parent_directory)!r})"
        )

    def folder_path_on_disk(self) -> Path:
        """The folder the model saves to and loads from."""
        return self.parent_directory / self.plugin_instance_id / self.handle

    def archive_path_on_disk(self) -> Path:
        """Where the bundle (zip) of this handle is kept locally."""
        return self.parent_directory / self.plugin_instance_id / f"{self.handle}.zip"

    def archive_path_in_workspace(self, as_handle: str | None = None) -> str:
        """The bundle's key in the workspace: ``{plugin_instance_id}/{handle}.zip``."""
        # Only None means "this handle": an empty one is refused, not silently replaced.
        return self.workspace.bundle_key(
            self.plugin_instance_id, self.handle if as_handle is None else as_handle
        )

    def download_model_bundle(self) -> Path:
        """Fetch the published bundle, verify it and unpack it over the folder; return the folder.

        Raises CheckpointNotFound when the handle does not exist, BundleCorrupted or UnsafeArchive when the
        bundle fails verification (the folder is then left as it was).
        """
        archive = self.archive_path_on_disk()
        self.workspace.download_bundle(self.plugin_instance_id, self.handle, archive)
        try:
            unpack_archive(archive, self.folder_path_on_disk(), self.limits)
        except BaseException:
            archive.unlink(missing_ok=True)
            raise
        return self.folder_path_on_disk()

    def upload_model_bundle(self, set_as_default: bool = True) -> str:
        """Bundle the folder and publish it under the handle (and ``"default"`` if asked); return its key.

        Raises SecretInCheckpoint, before anything is published, if the folder holds credential material.
        """
        folder = self.folder_path_on_disk()
        assert_no_secrets(folder)
        archive = self.archive_path_on_disk()
        partial = archive.with_name(f".{archive.name}.{os.getpid()}.packing")
        try:
            pack_folder(folder, partial)
            os.replace(partial, archive)
        finally:
            partial.unlink(missing_ok=True)
        key = self.workspace.publish_bundle(self.plugin_instance_id, self.handle, archive)
        if set_as_default and self.handle != self.DEFAULT_HANDLE:
            self.workspace.publish_bundle(self.plugin_instance_id, self.DEFAULT_HANDLE, archive)
        return key
