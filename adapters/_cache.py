"""The process-wide cache of loaded models, keyed on workspace + plugin instance + handle.

Unlike the original contract's cache (keyed on plugin instance and handle only, never invalidated), a
``save_remote`` evicts the entries it overwrites, so a later ``load_remote`` in the same process sees the new
state. Writes from other processes are not observed; use ``use_cache=False`` to force a fresh load.
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
