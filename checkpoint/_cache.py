"""The process-wide cache of loaded models, keyed on (workspace URL, plugin instance, handle).

It lives next to :class:`~checkpoint.Workspace` so that the workspace itself keeps it truthful: publishing
a bundle (``publish_bundle``, hence every ``save_remote``) and deleting a handle (``delete_handle``) evict
the entries for that handle, so a later ``load_remote`` in the same process sees the new state (or
``CheckpointNotFound``).

What a cache hit guarantees across processes: nothing. Writes and deletes made by other processes (or by
other machines) are not observed; a hit returns the model as this process last loaded it. Pass
``use_cache=False`` to ``load_remote`` / ``load_job`` to read the workspace afresh.
"""

from __future__ import annotations

import threading
from typing import Any

CacheKey = tuple[str, str, str]

_lock = threading.Lock()
_models: dict[CacheKey, Any] = {}


def get(key: CacheKey) -> Any | None:
    """The cached model for ``key``, or ``None``."""
    with _lock:
        return _models.get(key)


def put(key: CacheKey, model: Any) -> None:
    """Remember ``model`` under ``key``."""
    with _lock:
        _models[key] = model


def invalidate(workspace_url: str, plugin_instance_id: str, *handles: str) -> None:
    """Forget the models cached for these handles of one plugin instance."""
    with _lock:
        for handle in handles:
            _models.pop((workspace_url, plugin_instance_id, handle), None)


def clear() -> None:
    """Forget every cached model (tests, or to drop memory)."""
    with _lock:
        _models.clear()
