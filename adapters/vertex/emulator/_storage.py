"""Mapping ``gs://`` URIs onto local folders, so the emulator can read training data and write outputs."""

from __future__ import annotations

import glob
from collections.abc import Mapping
from pathlib import Path


def resolve_uri(uri: str, bucket_map: Mapping[str, str]) -> Path | None:
    """The local path behind ``uri``, or None when it cannot be read locally.

    ``gs://bucket/key`` maps to ``bucket_map["bucket"]/key``; ``file://`` URIs and plain paths are used as
    they are. Other schemes (``bq://``, unmapped buckets) give None.
    """
    if uri.startswith("gs://"):
        bucket, _, key = uri[len("gs://") :].partition("/")
        root = bucket_map.get(bucket)
        return Path(root, key) if root is not None else None
    if uri.startswith("file://"):
        return Path(uri[len("file://") :])
    if "://" in uri:
        return None
    return Path(uri)


def expand(uris: list[str], bucket_map: Mapping[str, str]) -> list[Path] | None:
    """Every existing local file the URIs name (wildcards expanded), or None if any URI is not local."""
    found: list[Path] = []
    for uri in uris:
        path = resolve_uri(uri, bucket_map)
        if path is None:
            return None
        if any(c in str(path) for c in "*?["):
            found.extend(Path(p) for p in sorted(glob.glob(str(path))))
        else:
            found.append(path)
    return found
