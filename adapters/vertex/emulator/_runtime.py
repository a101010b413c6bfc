"""What every resource family of the emulator shares: one lock, the clock, IDs, names, timers and paging.

Nothing runs in the background: effects that happen "later" (a pipeline uploading its model, an operation
finishing) sit in a queue of timers that every request settles first.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from ._config import EmulatorConfig, resolve_seed
from ._wire import invalid, rfc3339


class Runtime:
    """The emulator's clock, lock, ID source and timer queue, shared by every resource family.

    Args:
        config: the emulator configuration.
        clock: monotonic seconds; Vertex durations are divided by ``config.speedup`` on this clock.
    """

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        #: Guards every resource of every family; reentrant because settling runs effects under it.
        self.lock = threading.RLock()
        self._rng = random.Random(resolve_seed(config.seed))
        # Timestamps are Vertex time on the emulator's own clock: pinned to the wall clock once, at start-up,
        # then advanced by the clock at ``speedup``, so a job of 3600 Vertex seconds spans an hour from
        # createTime to endTime and a fake clock moves every timestamp with it. Never re-read the wall
        # clock: it and the monotonic clock drift apart (a paused VM), which stamped jobs seconds early.
        self._wall0 = time.time()
        self._clock0 = clock()
        self._seq = itertools.count()
        self._timers: list[tuple[float, int, Callable[[float], None]]] = []
        self._ids: set[str] = set()

    def wall(self, t: float) -> str:
        """The RFC 3339 timestamp of clock time ``t`` (Vertex time: elapsed clock seconds times speedup)."""
        return rfc3339(self._wall0 + (t - self._clock0) * self.config.speedup)

    def seconds(self, vertex_seconds: float) -> float:
        """Clock seconds that stand for ``vertex_seconds`` of Vertex time."""
        return vertex_seconds / self.config.speedup

    def new_id(self) -> str:
        """A fresh resource ID."""
        # Vertex IDs are 19-digit numbers; from the seeded RNG, so a run with a given seed is reproducible.
        while True:
            candidate = str(self._rng.randrange(10**18, 9 * 10**18))
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate

    def project(self, project: str) -> str:
        """The project as Vertex names it in responses (its number, when one is configured)."""
        return self.config.project_numbers.get(project, project)

    def canonical(self, name: str) -> str:
        """``name`` with its project replaced by the configured project number, if any."""
        parts = name.split("/")
        if len(parts) >= 2 and parts[0] == "projects":
            parts[1] = self.project(parts[1])
        return "/".join(parts)

    def at(self, t: float, action: Callable[[float], None]) -> None:
        """Runs ``action(t)`` at the first settle at or after clock time ``t``."""
        heapq.heappush(self._timers, (t, next(self._seq), action))

    def settle(self) -> float:
        """Runs every timer that is due; returns the current clock time."""
        now = self.clock()
        with self.lock:
            while self._timers and self._timers[0][0] <= now:
                t, _, action = heapq.heappop(self._timers)
                action(t)
        return now

    def page(
        self, docs: list[dict[str, Any]], page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of ``docs`` (the configured default size when ``page_size`` is 0) and the next token."""
        return paginate(docs, page_size or self.config.default_page_size, page_token)


def paginate(docs: list[dict[str, Any]], page_size: int, page_token: str) -> tuple[list[dict[str, Any]], str]:
    """(page, next page token); tokens are opaque offsets into the creation-ordered list."""
    try:
        start = int(page_token) if page_token else 0
    except ValueError:
        raise invalid(f"Invalid page token {page_token!r}") from None
    page = docs[start : start + page_size]
    end = start + len(page)
    return page, (str(end) if end < len(docs) else "")
