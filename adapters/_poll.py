"""Polling external jobs: how long to wait between status calls, and a per-quota rate limiter.

Polling is a separate policy from retrying (see :mod:`adapters._retry`), as in google-api-core's
``future.polling`` vs ``retry``: a poll that *succeeds* but says "still running" is not a failure.

A few quick early polls catch a job that fails at once (a bad spec, a missing input); the interval then
grows geometrically to the cap ``min(maximum, max(floor_cap, elapsed_fraction * age))`` and stays on it,
jitter included. The cap bounds how late we notice the end of a job to ``max(10% of its age, 60 s)`` while
long jobs cost only a logarithmic number of calls: about 1.2x the calls of a poller that knows each job's
age and polls exactly at that bound (``tests/benchmarks/bench_vertex_polling.py`` prints the ratio).
A state change does not restart the ramp: the bound is about the job's age, and restarting it on, say,
PENDING -> RUNNING only adds polls that the bound does not need.

:class:`RateLimiter` then keeps the polls of every job in a process within the vendor's quota,
and backs off on the vendor's 429s (AIMD, :meth:`RateLimiter.throttled` / :meth:`RateLimiter.succeeded`)
so that several processes sharing one quota settle below it without talking to each other.
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from collections.abc import Hashable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ._clock import SYSTEM_CLOCK, Clock

__all__ = ["PollPolicy", "PollSchedule", "RateLimiter", "clear_limiters", "limiter_for", "pace_burst"]

#: AIMD on quota refusals: the rate is multiplied by this on a 429 ...
AIMD_DECREASE = 0.5
#: ... and each minute of calls within quota adds this fraction of the configured rate back. N processes
#: together win back N times this a minute, so a large step overshoots the quota before the vendor's
#: sliding minute notices: 0.1 gave 4 processes 0.44% refused calls and 8 processes 1.5%, 0.05 gives
#: 0.29% / 1.1% (tests/test_aimd.py), at the price of a slower climb back (10 min from half the rate).
AIMD_INCREASE = 0.05
#: A shared limiter (:func:`limiter_for`) lets at most this many seconds' worth of calls go back to back.
#: Without it a process spends its whole minute in a burst the instant its window frees, and processes
#: sharing a quota collide at every window edge: the one that bursts first takes the quota, the others
#: are refused (4 processes flat out: 4.3% refused with AIMD alone, 0.3% paced).
PACE_SECONDS = 10.0

# Shared default jitter source; random.Random's methods are atomic under the GIL, so threads may share it.
_RNG = random.Random()


class PollPolicy(BaseModel):
    """How often to poll a long-running external job.

    Attributes:
        initial: the first interval, in seconds.
        maximum: the largest interval ever returned, hints and jitter included.
        multiplier: growth per poll, from ``initial`` up to the cap (5, 15, 45 s, then the cap by default).
        elapsed_fraction: the interval is at most this fraction of the job's age ...
        floor_cap: ... or this many seconds, whichever is larger (young jobs are polled no less often).
        jitter: each interval is multiplied by uniform(1 - jitter, 1 + jitter), then held to the cap (jitter
            never makes us later than the bound); 0 disables it.
    """

    # Built on first use, not at import (see adapters._messages.CamelModel).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    initial: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    maximum: float = Field(default=600.0, gt=0, allow_inf_nan=False)
    multiplier: float = Field(default=3.0, ge=1, allow_inf_nan=False)
    elapsed_fraction: float = Field(default=0.1, gt=0, allow_inf_nan=False)
    floor_cap: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    jitter: float = Field(default=0.1, ge=0, lt=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check_order(self) -> PollPolicy:
        if self.initial > self.maximum:
            raise ValueError(f"initial ({self.initial}) must not exceed maximum ({self.maximum})")
        return self

    def cap(self, elapsed: float) -> float:
        """Return the interval cap for a job ``elapsed`` seconds old (before hints and jitter)."""
        return min(self.maximum, max(self.floor_cap, self.elapsed_fraction * elapsed))

    def schedule(self) -> PollSchedule:
        """Return a fresh schedule for one job."""
        return PollSchedule(self)


class PollSchedule:
    """The polling state of one job under a :class:`PollPolicy`.

    Not thread-safe: one schedule belongs to one job's polling loop.
    """

    def __init__(self, policy: PollPolicy) -> None:
        self.policy = policy
        self.polls = 0
        self.last_state: str | None = None
        # The un-jittered interval last returned; growth starts from it so jitter does not compound.
        self._base: float | None = None

    def next_interval(
        self, *, state: str, elapsed: float, hint: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Record a poll and return the seconds to wait before the next one.

        Args:
            state: the vendor state just observed (kept as ``last_state``; it does not change the interval).
            elapsed: the job's age in seconds (since it was submitted or started).
            hint: a server's "ask again in N s" (``Retry-After`` or a vendor field), if any.
            rng: the jitter source (seed one for reproducible intervals).

        Returns:
            A positive number of seconds, at most ``policy.maximum``.
        """
        p = self.policy
        # A job's age comes from the vendor's create time vs our clock; skew can make it negative.
        if math.isnan(elapsed) or elapsed < 0:
            elapsed = 0.0
        cap = p.cap(elapsed)
        # Store the capped value: growing from an uncapped one would jump when the cap rises with age.
        base = min(p.initial if self._base is None else self._base * p.multiplier, cap)
        self._base = base
        self.last_state = state
        self.polls += 1

        interval = base
        if p.jitter:
            # Jitter spreads jobs submitted together; held to the cap, it never delays a detection past it.
            interval = min(cap, interval * (rng or _RNG).uniform(1.0 - p.jitter, 1.0 + p.jitter))
        if hint is not None and hint > 0:  # NaN compares False and is ignored
            # The server's hint overrides our cap (it knows when asking again is useful), not `maximum`.
            interval = max(interval, hint)
        return min(interval, p.maximum)


class RateLimiter:
    """A thread-safe sliding-window limiter shared by everything polling one quota.

    It keeps the times of the last ``capacity`` acquisitions; a new one succeeds only once the oldest of
    them is ``window`` seconds old. That is exact: in any half-open ``window``-second interval at most
    ``capacity`` acquisitions succeed. (A token bucket of capacity B refilling at r/min admits B + r in
    a minute, so it cannot promise "at most r per minute" without a reduced rate.) With ``per_minute >= 1``
    the window is 60 s and capacity ``floor(per_minute)``; below 1, capacity is 1 and the window
    ``60 / per_minute`` s (e.g. 0.5 → one per 2 minutes).

    ``margin`` seconds are added to the window: the server counts calls by its own clock, after network
    latency, so a call admitted the instant the oldest leaves our window could still land inside the
    server's (measured against the emulator: a handful of 429s per 10,000 calls without a margin).

    ``burst``, when given, additionally limits back-to-back acquisitions with a token bucket of that
    size refilling at ``per_minute / 60`` per second, to spread calls instead of spending a minute's
    quota at once. It can only delay acquisitions, so the window guarantee still holds. A weighted
    acquisition larger than the burst (a big prediction body against a byte budget) waits for a full
    bucket and leaves it in debt, which later acquisitions repay: the pace holds on average.

    Args:
        per_minute: acquisitions allowed per minute.
        burst: optional cap on back-to-back acquisitions (default: no smoothing beyond the window).
        clock: time source and sleeper.
        margin: seconds added to the window, as a safety margin against the server's clock.
    """

    def __init__(
        self, per_minute: float, *, burst: int | None = None, clock: Clock = SYSTEM_CLOCK, margin: float = 1.0
    ) -> None:
        if not (isinstance(per_minute, int | float) and math.isfinite(per_minute) and per_minute > 0):
            raise ValueError(f"per_minute must be a positive finite number, got {per_minute!r}")
        if burst is not None and not (isinstance(burst, int) and burst >= 1):
            raise ValueError(f"burst must be a positive int or None, got {burst!r}")
        if not (isinstance(margin, int | float) and math.isfinite(margin) and margin >= 0):
            raise ValueError(f"margin must be a non-negative number of seconds, got {margin!r}")
        self.burst = burst
        self.clock = clock
        self.margin = float(margin)
        self._lock = threading.Lock()
        #: (time, n) of each acquisition still in the window; ``_held`` is the sum of their ``n``. One
        #: entry per acquisition, whatever its ``n``: a byte budget (``acquire(len(body))``) stays small.
        self._log: deque[tuple[float, int]] = deque()
        self._held = 0
        self._set_rate(per_minute)
        #: The configured rate: AIMD never goes above it (the process's hard share of the quota).
        self.ceiling = self.per_minute
        self._cut_at = -math.inf
        self._tokens = float(burst) if burst is not None else 0.0
        self._refilled_at = clock.now()

    def __repr__(self) -> str:
        return f"RateLimiter(per_minute={self.per_minute:g}, burst={self.burst!r}, clock={self.clock!r})"

    # All _methods below expect self._lock to be held (or the limiter to be under construction).

    def _set_rate(self, per_minute: float) -> None:
        self.per_minute = float(per_minute)
        self.capacity = max(1, math.floor(per_minute))
        self.window = 60.0 if per_minute >= 1 else 60.0 / per_minute
        self._rate = self.per_minute / 60.0  # bucket refill, tokens per second

    def tighten(self, per_minute: float) -> None:
        """Lower the rate to ``per_minute`` if that is stricter than the current one; never raise it.

        Past acquisitions stay in the log, so the new limit applies at once to the current window.
        """
        if not (isinstance(per_minute, int | float) and math.isfinite(per_minute) and per_minute > 0):
            raise ValueError(f"per_minute must be a positive finite number, got {per_minute!r}")
        with self._lock:
            self.ceiling = min(self.ceiling, float(per_minute))
            if per_minute < self.per_minute:
                self._set_rate(per_minute)

    # -- AIMD: many processes sharing one vendor quota without a coordinator ---------------------------

    def throttled(self, admitted_at: float | None = None, factor: float = AIMD_DECREASE) -> float:
        """The vendor refused a call for quota (429 / RESOURCE_EXHAUSTED): cut the rate, return the new one.

        Multiplicative decrease, as TCP's congestion control: N processes that each halve on their own
        429s and recover additively settle below the vendor's quota with no coordinator. A refused call
        admitted (``admitted_at``, on this limiter's clock) before the last cut was sent at the old rate:
        it is the same overload, and is not cut for again. The rate never drops below ``ceiling / 64``
        (or 1 a minute).
        """
        with self._lock:
            if admitted_at is None or admitted_at > self._cut_at:
                self._cut_at = self.clock.now()
                floor = min(self.ceiling, max(1.0, self.ceiling / 64))
                self._set_rate(max(floor, self.per_minute * factor))
            return self.per_minute

    def succeeded(self, step: float = AIMD_INCREASE) -> float:
        """A call within quota: recover additively, up to ``ceiling``; return the rate.

        Each success adds ``step * ceiling / per_minute`` requests a minute, so a minute of successes at
        the current rate adds ``step * ceiling`` -- TCP's "one segment per round trip", with a minute as
        the round trip (the quota's window).
        """
        with self._lock:
            if self.per_minute < self.ceiling:
                self._set_rate(min(self.ceiling, self.per_minute + step * self.ceiling / self.per_minute))
            return self.per_minute

    def _expire(self, now: float) -> None:
        while self._log and self._log[0][0] + self.window + self.margin <= now:
            self._held -= self._log.popleft()[1]

    def _refill(self, now: float) -> None:
        if self.burst is not None and now > self._refilled_at:
            self._tokens = min(float(self.burst), self._tokens + (now - self._refilled_at) * self._rate)
        self._refilled_at = max(self._refilled_at, now)

    def _delay(self, n: int, now: float) -> float:
        self._expire(now)
        self._refill(now)
        delay = 0.0
        excess = self._held + n - self.capacity
        if excess > 0:
            # The oldest entries holding `excess` must leave the window first; the last of them decides.
            freed = 0
            for at, held in self._log:
                freed += held
                if freed >= excess:
                    delay = at + self.window + self.margin - now
                    break
        if self.burst is not None:
            wanted = min(n, self.burst)  # more than the burst: a full bucket, then debt (see the class)
            if self._tokens < wanted:
                delay = max(delay, (wanted - self._tokens) / self._rate)
        # A delay of a few ulps of `now` is rounding noise: now + delay may equal now, and waiting for it
        # would spin forever on a virtual clock.
        return delay if delay > 4 * math.ulp(now) else 0.0

    def _take(self, n: int, now: float) -> None:
        self._log.append((now, n))
        self._held += n
        if self.burst is not None:
            self._tokens -= n

    def _check(self, n: int) -> None:
        if not (isinstance(n, int) and 1 <= n <= self.capacity):
            raise ValueError(f"n must be an int in 1..{self.capacity} for this limiter, got {n!r}")

    def delay_until_available(self) -> float:
        """Return the seconds until one acquisition would succeed (0 if it would now)."""
        with self._lock:
            return self._delay(1, self.clock.now())

    def try_acquire(self) -> bool:
        """Take one acquisition if one is available now, without waiting."""
        with self._lock:
            now = self.clock.now()
            if self._delay(1, now) > 0:
                return False
            self._take(1, now)
            return True

    def acquire(self, n: int = 1) -> float:
        """Block (via ``clock.sleep``) until ``n`` acquisitions are available, take them, and return the wait.

        Raises:
            ValueError: if ``n`` could never be available at once (more than the capacity).
        """
        self._check(n)
        start = self.clock.now()
        while True:
            with self._lock:
                now = self.clock.now()
                delay = self._delay(n, now)
                if delay <= 0:
                    self._take(n, now)
                    return now - start
            # Sleep without the lock so other threads can proceed; re-check after, as one may have won.
            self.clock.sleep(delay)


def pace_burst(per_minute: float) -> int:
    """The burst of a paced limiter at ``per_minute``: :data:`PACE_SECONDS` worth of calls, at least 1."""
    return max(1, math.ceil(per_minute * PACE_SECONDS / 60.0))


_LIMITERS: dict[Hashable, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(key: Hashable, per_minute: float, clock: Clock = SYSTEM_CLOCK) -> RateLimiter:
    """Return the process-wide :class:`RateLimiter` for ``key`` on ``clock``, creating it on first use.

    Every job polled in this process with the same key (e.g. ``("vertex", project)``) and clock shares it,
    and so shares the quota. Limiters are kept per clock: timestamps of a fake clock mean nothing to the
    system clock, so a simulation never throttles (or is throttled by) real traffic.

    If callers disagree on ``per_minute`` for one key, the stricter rate wins: the quota belongs to the key,
    and a looser second value must not let the first caller's limit be exceeded.

    The limiter is paced (``burst=pace_burst(per_minute)``): other processes may share the quota, and a
    minute's calls spent in one burst would collide with theirs (see :data:`PACE_SECONDS`).
    """
    with _LIMITERS_LOCK:
        full_key = (key, id(clock))
        limiter = _LIMITERS.get(full_key)
        if limiter is None or limiter.clock is not clock:  # id() of a collected clock may be reused
            limiter = _LIMITERS[full_key] = RateLimiter(per_minute, burst=pace_burst(per_minute), clock=clock)
        else:
            limiter.tighten(per_minute)
        return limiter


def clear_limiters() -> None:
    """Forget every shared limiter (for tests that reuse keys with fresh clocks)."""
    with _LIMITERS_LOCK:
        _LIMITERS.clear()
