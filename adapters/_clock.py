"""Clocks: the one place retries, polling and rate limiting read time and sleep.

Everything time-dependent takes a :class:`Clock` so tests and simulations can use :class:`FakeClock`
and never sleep for real.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    """A monotonic time source that can also sleep."""

    def now(self) -> float:
        """Return monotonic seconds (only differences are meaningful)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds``."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`time.sleep`."""

    def now(self) -> float:
        """Return :func:`time.monotonic`."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Sleep for real; negative durations are treated as zero."""
        if seconds > 0:
            time.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()


class FakeClock:
    """A virtual clock for tests and simulations: ``sleep`` advances time instantly.

    Thread-safe, so several threads may share one; every ``sleep`` is recorded in :attr:`sleeps`.

    Args:
        start: the initial value of :meth:`now`.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> float:
        """Return the virtual time."""
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Record ``seconds`` and advance the virtual time by it, without blocking.

        Raises:
            ValueError: if ``seconds`` is negative or NaN (as :func:`time.sleep` does), since a
                negative sleep in a test is a bug in the code under test.
        """
        seconds = float(seconds)
        if not seconds >= 0:
            raise ValueError(f"sleep length must be non-negative, got {seconds!r}")
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds

    def advance(self, seconds: float) -> None:
        """Move the virtual time forward by ``seconds`` without recording a sleep."""
        seconds = float(seconds)
        if not seconds >= 0:
            raise ValueError(f"a monotonic clock cannot go back: advance({seconds!r})")
        with self._lock:
            self._now += seconds

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r}, sleeps={len(self.sleeps)})"
