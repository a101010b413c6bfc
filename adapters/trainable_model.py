"""The seed contract: a model whose whole state lives in a folder, published to a workspace by handle.

A subclass implements four methods -- ``save_to_folder``, ``load_from_folder``, ``train`` and
``train_status`` -- and inherits loading from and saving to a workspace under named handles
(``"default"``, ``"V1"``, ``"epoch_23"``), with a process-wide cache of loaded models.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

from checkpoint import ModelCheckpoint, Workspace, validate_name

from . import _cache
from ._messages import InvocableResponse, PluginRequest, TrainPluginInput, TrainPluginOutput

ConfigType = TypeVar("ConfigType")

log = logging.getLogger(__name__)

WorkspaceLike = Workspace | str | os.PathLike[str]


class TrainableModel(ABC, Generic[ConfigType]):
    """A model that trains, saves itself to a folder and is published to a workspace under handles."""

    config: ConfigType | None

    def __init__(self) -> None:
        self.config = None
        # The checkpoint this model was loaded from; holding it keeps a temporary folder alive.
        self._checkpoint: ModelCheckpoint | None = None

    def receive_config(self, config: ConfigType) -> None:
        """Accept the plugin instance's configuration (called before ``load_from_folder``)."""
        self.config = config

    @abstractmethod
    def save_to_folder(self, checkpoint_path: Path) -> None:
        """Write the whole state of the model into ``checkpoint_path`` (an existing folder)."""

    @abstractmethod
    def load_from_folder(self, checkpoint_path: Path) -> None:
        """Restore the model's state from ``checkpoint_path``."""

    @abstractmethod
    def train(self, input: PluginRequest[TrainPluginInput]) -> InvocableResponse[TrainPluginOutput]:
        """Train (or start training) from ``input``."""

    @abstractmethod
    def train_status(self, input: PluginRequest[TrainPluginInput]) -> InvocableResponse[TrainPluginOutput]:
        """Report on a training started by ``train`` (the original's async status-check protocol)."""

    @property
    def checkpoint(self) -> ModelCheckpoint | None:
        """The checkpoint this model was loaded from, if any."""
        return self._checkpoint

    @classmethod
    def load_from_local_checkpoint(cls, checkpoint: ModelCheckpoint, config: Any) -> Self:
        """Build a model: ``cls()``, then ``receive_config(config)``, then ``load_from_folder``."""
        model = cls()
        model.receive_config(config)
        model._checkpoint = checkpoint
        model.load_from_folder(checkpoint.folder_path_on_disk())
        return model

    @classmethod
    def load_remote(
        cls,
        workspace: WorkspaceLike,
        plugin_instance_id: str,
        checkpoint_handle: str | None = None,
        use_cache: bool = True,
        model_parent_directory: str | os.PathLike[str] | None = None,
        plugin_instance_config: Any = None,
    ) -> Self:
        """Load the model published under ``checkpoint_handle`` (``None`` means ``"default"``).

        With ``use_cache`` a model already loaded in this process for the same workspace, plugin instance
        and handle is returned as is (the same object).
        """
        # Names first: opening a local workspace creates its folder, and a refused name must leave no trace.
        # Only None means "default": an empty handle is a mistake, not a request for the default one.
        pid = validate_name(plugin_instance_id, "plugin instance ID")
        handle = validate_name(
            ModelCheckpoint.DEFAULT_HANDLE if checkpoint_handle is None else checkpoint_handle, "handle"
        )
        ws = Workspace.coerce(workspace)
        key = (ws.url, pid, handle)
        if use_cache:
            cached = _cache.get(key)
            if isinstance(cached, cls):
                log.debug("model cache hit for %s", key)
                return cached
        checkpoint = ModelCheckpoint(ws, pid, handle, model_parent_directory)
        checkpoint.download_model_bundle()
        model = cls.load_from_local_checkpoint(checkpoint, plugin_instance_config)
        if use_cache:
            _cache.put(key, model)
        return model

    def save_remote(
        self,
        workspace: WorkspaceLike,
        plugin_instance_id: str,
        checkpoint_handle: str | None = None,
        model_parent_directory: str | os.PathLike[str] | None = None,
        set_as_default: bool = True,
    ) -> str:
        """Save the model and publish it under ``checkpoint_handle`` (and ``"default"`` when asked).

        Returns the bundle's key, ``"{plugin_instance_id}/{handle}.zip"``. Cached models for the handles
        overwritten here are evicted (by the workspace, on publish).
        """
        # Names first: opening a local workspace creates its folder, and a refused name must leave no trace.
        validate_name(plugin_instance_id, "plugin instance ID")
        if checkpoint_handle is not None:
            validate_name(checkpoint_handle, "handle")
        ws = Workspace.coerce(workspace)
        checkpoint = ModelCheckpoint(ws, plugin_instance_id, checkpoint_handle, model_parent_directory)
        self.save_to_folder(checkpoint.folder_path_on_disk())
        # Publishing evicts the cached models of the handles it overwrites (Workspace.publish_bundle).
        return checkpoint.upload_model_bundle(set_as_default=set_as_default)
