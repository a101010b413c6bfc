"""The load cache, which now lives in :mod:`checkpoint._cache` (the workspace evicts it); re-exported."""

from __future__ import annotations

from checkpoint._cache import CacheKey, clear, get, invalidate, put

__all__ = ["CacheKey", "clear", "get", "invalidate", "put"]
