"""Splitting prediction instances into requests that respect a vendor's count and payload limits.

Planning measures each chunk as the compact JSON it will be sent as, and keeps that encoding: an adapter
that posts JSON builds its request body from it (:func:`request_body`) instead of encoding the instances a
second time. Every chunk is planned before any is sent, so an instance no request can carry is refused
before any vendor call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters._errors import PredictionError

# {"instances": [...], "parameters": ...}: the brackets, commas and keys around the instances.
_ENVELOPE = len(b'{"instances":[],"parameters":}')

# One encoder for every call: json.dumps with arguments builds a new JSONEncoder each time, which costs
# as much as encoding a small instance. encode() keeps no state between calls, so threads may share it.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass(frozen=True)
class Chunk:
    """``instances[start:stop]``, chunk number ``index``; ``nbytes``: its planned request body's size.

    ``encoded``: the compact JSON array of those instances (UTF-8), when the planner encoded them whole.
    """

    index: int
    start: int
    stop: int
    nbytes: int = 0
    encoded: bytes | None = field(default=None, repr=False, compare=False)


class ChunkInstances(list[Any]):
    """One chunk's instances, as an adapter's ``predict_chunk`` gets them: a list, and their JSON if planned.

    An adapter may ignore ``encoded``; :func:`request_body` uses it. It encodes the instances as planned: an
    adapter that changes them sends a fresh list (a slice or a copy is a plain list, and is encoded anew).
    """

    __slots__ = ("encoded",)

    def __init__(self, instances: Sequence[Any], encoded: bytes | None = None) -> None:
        super().__init__(instances)
        self.encoded = encoded


def dumps(value: Any) -> bytes:
    """``value`` as compact JSON, UTF-8 (what the chunks are measured in)."""
    return _ENCODE(value).encode()


def encoded_size(value: Any) -> int:
    """Bytes ``value`` takes in a compact JSON body."""
    return len(dumps(value))


def request_body(instances: Sequence[Any], parameters: Any = None) -> bytes:
    """``{"instances": [...], "parameters": ...}`` as compact JSON (no ``parameters`` key when None).

    The same bytes as encoding the dict whole, built from the chunk's planned encoding when it has one.
    """
    encoded = instances.encoded if isinstance(instances, ChunkInstances) else None
    if encoded is None:
        encoded = dumps(instances if isinstance(instances, list | tuple) else list(instances))
    tail = b"}" if parameters is None else b',"parameters":' + dumps(parameters) + b"}"
    return b'{"instances":' + encoded + tail


def plan_chunks(
    instances: Sequence[Any], *, max_count: int, max_bytes: int, parameters: Any = None
) -> list[Chunk]:
    """Cut ``instances`` into consecutive chunks of at most ``max_count`` items and ``max_bytes`` of JSON.

    Each chunk is the longest run of instances, from where the last one stopped, within both limits.

    Raises:
        PredictionError: an instance that alone exceeds ``max_bytes`` (names its index and size).
        ValueError: non-positive limits.
    """
    if max_count < 1 or max_bytes < 1:
        raise ValueError(f"limits must be positive, got max_count={max_count!r}, max_bytes={max_bytes!r}")
    overhead = _ENVELOPE + encoded_size(parameters)
    budget = max_bytes - overhead
    chunks: list[Chunk] = []
    start, total = 0, len(instances)
    while start < total:
        stop = min(total, start + max_count)
        window = instances[start:stop]
        encoded = dumps(window if isinstance(window, list | tuple) else list(window))
        # Each instance costs its JSON plus a comma (the last one's comma pays for the brackets, minus 1).
        if len(encoded) - 1 <= budget:  # the common case: one encode for max_count instances
            chunks.append(Chunk(len(chunks), start, stop, len(encoded) - 1 + overhead, encoded))
            start = stop
            continue
        # The window is too big: measure its instances one by one to find where the chunk ends.
        used, i = 0, start
        while i < stop:
            size = encoded_size(instances[i]) + 1  # its comma
            if size > budget:
                raise PredictionError(
                    f"instance {i} is {size} bytes of JSON, more than one request may carry ({budget} "
                    f"bytes after the envelope; max_request_bytes={max_bytes})",
                    chunk_index=len(chunks),
                    start=i,
                    stop=i + 1,
                )
            if i > start and used + size > budget:
                break
            used += size
            i += 1
        chunks.append(Chunk(len(chunks), start, i, used + overhead))
        start = i
    return chunks
