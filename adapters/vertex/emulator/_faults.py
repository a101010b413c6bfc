"""Fault injection, per-project quotas and the request log."""

from __future__ import annotations

import math
import random
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._config import JOB_CREATIONS, PREDICTIONS, FaultSpec, Quotas
from ._wire import ApiError

_RETRYABLE = frozenset({429, 503})


@dataclass(frozen=True)
class Decision:
    """What to do to one request: sleep, fail before the effect, or drop the response after it."""

    latency: float = 0.0
    error: ApiError | None = None
    drop: bool = False


class Faults:
    """Faults per method name, changeable while the emulator runs (thread-safe, seeded).

    Example::

        emu.faults.set("GetTrainingPipeline", error_rate=1.0, codes=[503], max_faults=2)
        emu.faults.clear()
    """

    def __init__(self, specs: Mapping[str, FaultSpec] | None = None, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._specs: dict[str, FaultSpec] = dict(specs or {})
        self._injected: Counter[str] = Counter()

    def set(self, method: str, spec: FaultSpec | None = None, **fields: Any) -> FaultSpec:
        """Replaces the faults of ``method`` with ``spec`` or a FaultSpec built from ``fields``."""
        built = spec if spec is not None else FaultSpec(**fields)
        with self._lock:
            self._specs[method] = built
            self._injected[method] = 0
        return built

    def clear(self, method: str | None = None) -> None:
        """Removes the faults of one method, or of all."""
        with self._lock:
            if method is None:
                self._specs.clear()
                self._injected.clear()
            else:
                self._specs.pop(method, None)
                self._injected.pop(method, None)

    def get(self, method: str) -> FaultSpec | None:
        """The faults configured for ``method``."""
        with self._lock:
            return self._specs.get(method)

    @property
    def injected(self) -> Counter[str]:
        """How many errors and drops were injected, per method."""
        with self._lock:
            return Counter(self._injected)

    def decide(self, method: str) -> Decision:
        """Draws the fate of one call of ``method``."""
        with self._lock:
            spec = self._specs.get(method)
            if spec is None:
                return Decision()
            spent = spec.max_faults is not None and self._injected[method] >= spec.max_faults
            if not spent and spec.error_rate > 0 and self._rng.random() < spec.error_rate:
                self._injected[method] += 1
                code = self._rng.choice(spec.codes)
                headers = {"Retry-After": _seconds(spec.retry_after)} if code in _RETRYABLE else {}
                error = ApiError(code, f"Injected fault on {method} (emulator).", headers=headers)
                return Decision(spec.latency, error=error)
            if not spent and spec.drop_response_rate > 0 and self._rng.random() < spec.drop_response_rate:
                self._injected[method] += 1
                return Decision(spec.latency, drop=True)
            return Decision(spec.latency)


def _seconds(value: float) -> str:
    # Retry-After takes whole seconds; round up so a client never retries early.
    return str(max(0, math.ceil(value)))


class QuotaTracker:
    """Sliding-window request quotas per project, on the emulator's clock."""

    def __init__(self, quotas: Quotas, clock: Callable[[], float]) -> None:
        self.quotas = quotas
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], deque[float]] = {}

    def _buckets(self, method: str) -> list[tuple[str, int | None]]:
        if method in PREDICTIONS:
            return [("online_prediction_requests", self.quotas.online_prediction)]
        buckets = [("resource_management_requests", self.quotas.resource_management)]
        if method in JOB_CREATIONS:
            buckets.append(("job_or_lro_submission_requests", self.quotas.job_creation))
        return buckets

    def admit(self, project: str, method: str) -> None:
        """Counts one request of ``method`` in ``project``.

        Raises:
            ApiError: 429 RESOURCE_EXHAUSTED with ``Retry-After`` if a quota is used up (the request is
                then not counted, as Vertex does not charge rejected requests).
        """
        now = self._clock()
        horizon = now - self.quotas.window_seconds
        with self._lock:
            windows = []
            for metric, limit in self._buckets(method):
                if limit is None:
                    continue
                window = self._windows.setdefault((project, metric), deque())
                while window and window[0] <= horizon:
                    window.popleft()
                if len(window) >= limit:
                    wait = window[0] - horizon
                    raise ApiError(
                        429,
                        f"Quota exceeded for quota metric 'aiplatform.googleapis.com/{metric}' and limit "
                        f"'{limit} per {self.quotas.window_seconds:g} s per project' of service "
                        f"'aiplatform.googleapis.com' for consumer 'project:{project}'.",
                        headers={"Retry-After": _seconds(wait)},
                    )
                windows.append(window)
            for window in windows:
                window.append(now)


@dataclass(frozen=True)
class LogEntry:
    """One answered (or dropped: status 0) request."""

    time: float
    method: str
    status: int


class RequestLog:
    """Counts every request by method and keeps the latest (time, method, status) entries.

    It also counts client disconnects (a killed client, a closed socket) per method -- ``"Unknown"`` when the
    connection broke outside a request -- which the HTTP server would otherwise print as tracebacks.
    """

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._disconnects: Counter[str] = Counter()
        self._entries: deque[LogEntry] = deque(maxlen=size)

    def count(self, method: str) -> None:
        """Counts one request as it arrives (before any fault), so failed calls are counted too."""
        with self._lock:
            self._counts[method] += 1

    def record(self, time: float, method: str, status: int) -> None:
        """Logs how a request ended."""
        with self._lock:
            self._entries.append(LogEntry(time, method, status))

    def disconnect(self, method: str) -> None:
        """Counts a client that went away while ``method`` was being read or answered."""
        with self._lock:
            self._disconnects[method] += 1

    @property
    def disconnects(self) -> Counter[str]:
        """A snapshot of client disconnects per method name."""
        with self._lock:
            return Counter(self._disconnects)

    @property
    def counts(self) -> Counter[str]:
        """A snapshot of requests per method name."""
        with self._lock:
            return Counter(self._counts)

    @property
    def entries(self) -> list[LogEntry]:
        """A snapshot of the log, oldest first."""
        with self._lock:
            return list(self._entries)

    def reset(self) -> None:
        """Forgets counts, disconnects and entries (e.g. between benchmark phases)."""
        with self._lock:
            self._counts.clear()
            self._disconnects.clear()
            self._entries.clear()
