"""Splitting prediction instances into requests that respect a vendor's count and payload limits."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adapters._errors import PredictionError

# {"instances": [...], "parameters": ...}: the brackets, commas and keys around the instances.
_ENVELOPE = len(b'{"instances":[],"parameters":}')


@dataclass(frozen=True)
class Chunk:
    """``instances[start:stop]``, chunk number ``index``; ``nbytes``: its planned request body's size."""

    index: int
    start: int
    stop: int
    nbytes: int = 0


def encoded_size(value: Any) -> int:
    """Bytes ``value`` takes in a compact JSON body."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def plan_chunks(
    instances: Sequence[Any], *, max_count: int, max_bytes: int, parameters: Any = None
) -> list[Chunk]:
    """Cut ``instances`` into consecutive chunks of at most ``max_count`` items and ``max_bytes`` of JSON.

    Raises:
        PredictionError: an instance that alone exceeds ``max_bytes`` (names its index and size).
        ValueError: non-positive limits.
    """
    if max_count < 1 or max_bytes < 1:
        raise ValueError(f"limits must be positive, got max_count={max_count!r}, max_bytes={max_bytes!r}")
    overhead = _ENVELOPE + encoded_size(parameters)
    budget = max_bytes - overhead
    chunks: list[Chunk] = []
    start, used = 0, 0
    for i, instance in enumerate(instances):
        size = encoded_size(instance) + 1  # its comma
        if size > budget:
            raise PredictionError(
                f"instance {i} is {size} bytes of JSON, more than one request may carry ({budget} bytes "
                f"after the envelope; max_request_bytes={max_bytes})",
                chunk_index=len(chunks),
                start=i,
                stop=i + 1,
            )
        if i > start and (i - start >= max_count or used + size > budget):
            chunks.append(Chunk(len(chunks), start, i, used + overhead))
            start, used = i, 0
        used += size
    if start < len(instances):
        chunks.append(Chunk(len(chunks), start, len(instances), used + overhead))
    return chunks
