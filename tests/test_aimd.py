"""AIMD on quota refusals: processes sharing one vendor quota back off on its 429s and settle below it.

The simulation runs on a FakeClock: N "processes" (each its own RateLimiter, as each triggerer process has)
call one server whose quota is a sliding 60 s window; every refused call cuts the caller's rate, every
accepted one adds a little back. Outcomes, not timings: how many calls were refused, how much of the quota
was used.
"""

from __future__ import annotations

from collections import deque

import pytest

from adapters._clock import FakeClock
from adapters._poll import AIMD_INCREASE, PACE_SECONDS, RateLimiter, limiter_for, pace_burst


class QuotaServer:
    """Accepts at most ``per_minute`` calls in any 60 s window (by its own clock), refuses the rest."""

    def __init__(self, clock: FakeClock, per_minute: int) -> None:
        self.clock, self.per_minute = clock, per_minute
        self.accepted: deque[float] = deque()
        self.refused = 0
        self.total_accepted = 0

    def call(self) -> bool:
        now = self.clock.now()
        while self.accepted and self.accepted[0] + 60 <= now:
            self.accepted.popleft()
        if len(self.accepted) >= self.per_minute:
            self.refused += 1
            return False
        self.accepted.append(now)
        self.total_accepted += 1
        return True


def simulate(
    processes: int, share: float, quota: int, minutes: float, aimd: bool, paced: bool = True
) -> QuotaServer:
    """Each process calls as fast as its limiter lets it (a triggerer full of due jobs), for ``minutes``.

    ``paced``: each process's limiter is the one :func:`limiter_for` builds (paced); else a bare window.
    """
    clock = FakeClock()
    server = QuotaServer(clock, quota)
    burst = pace_burst(share) if paced else None
    limiters = [RateLimiter(share, burst=burst, clock=clock) for _ in range(processes)]
    end = minutes * 60
    while clock.now() < end:
        # The process whose limiter frees first goes next (one event at a time, in virtual time).
        delays = [lim.delay_until_available() for lim in limiters]
        i = min(range(processes), key=delays.__getitem__)
        if delays[i] > 0:
            clock.advance(delays[i])
        assert limiters[i].try_acquire()
        admitted = clock.now()
        if server.call():
            if aimd:
                limiters[i].succeeded()
        elif aimd:
            limiters[i].throttled(admitted)
        clock.advance(0.001)  # each call takes a millisecond
    return server


def test_a_refusal_halves_the_rate_once_per_overload_and_successes_recover_it_additively() -> None:
    clock = FakeClock()
    limiter = RateLimiter(600, clock=clock)
    in_flight = clock.now()
    clock.advance(0.5)
    assert limiter.throttled(in_flight) == 300
    assert limiter.throttled(in_flight) == 300  # sent at the old rate: the same overload, counted once
    clock.advance(0.5)
    assert limiter.throttled(clock.now()) == 150  # sent after the cut: the new rate is too high too
    assert limiter.capacity == 150  # the window's capacity follows at once
    assert limiter.succeeded() == pytest.approx(150 + AIMD_INCREASE * 600 / 150)
    for _ in range(20000):
        limiter.succeeded()
    assert limiter.per_minute == 600 == limiter.ceiling  # never above the configured share


def test_the_rate_has_a_floor_and_tighten_lowers_the_ceiling() -> None:
    clock = FakeClock()
    limiter = RateLimiter(640, clock=clock)
    for _ in range(20):
        limiter.throttled()
    assert limiter.per_minute == 10  # ceiling / 64: a refused process still polls
    limiter.tighten(100)
    for _ in range(20000):
        limiter.succeeded()
    assert limiter.per_minute == 100 == limiter.ceiling


@pytest.mark.parametrize("processes", [2, 4])
def test_processes_sharing_one_quota_settle_below_it(processes: int) -> None:
    # Each process may poll at the whole quota (600/min), as with no configured split.
    without = simulate(processes, share=600, quota=600, minutes=10, aimd=False)
    with_aimd = simulate(processes, share=600, quota=600, minutes=10, aimd=True)
    attempts = with_aimd.refused + with_aimd.total_accepted
    refusal_rate = with_aimd.refused / attempts
    print(
        f"\n{processes} processes x 600/min on a 600/min quota, 10 min: AIMD {with_aimd.refused} refused of "
        f"{attempts} ({refusal_rate:.2%}), {with_aimd.total_accepted} accepted; without AIMD "
        f"{without.refused} refused, {without.total_accepted} accepted"
    )
    assert without.refused > 10 * with_aimd.refused  # the limiters alone keep hammering
    assert refusal_rate < 0.01
    assert with_aimd.total_accepted >= 0.7 * 600 * 10  # and the quota is still mostly used


def test_unpaced_processes_collide_at_every_window_edge() -> None:
    # The cause of the refusals pacing removes: a bare window lets each process spend its minute in one
    # burst the moment its window frees; the first to burst takes the quota, the others are refused.
    bare = simulate(4, share=600, quota=600, minutes=10, aimd=True, paced=False)
    paced = simulate(4, share=600, quota=600, minutes=10, aimd=True)
    assert bare.refused / (bare.refused + bare.total_accepted) > 0.03
    assert paced.refused * 5 < bare.refused


def test_the_shared_limiter_paces_a_minutes_calls() -> None:
    clock = FakeClock()
    limiter = limiter_for(("vendor", "project", "status"), 600, clock)
    assert limiter.burst == pace_burst(600) == 600 * PACE_SECONDS / 60
    admitted = 0
    while limiter.try_acquire():
        admitted += 1
    assert admitted == limiter.burst  # back to back: PACE_SECONDS' worth, not the minute's 600
    clock.advance(1.0)
    assert sum(limiter.try_acquire() for _ in range(100)) == 10  # then 600/min = 10 a second


def test_a_configured_hard_split_is_never_refused() -> None:
    server = simulate(4, share=150, quota=600, minutes=5, aimd=True)
    assert server.refused == 0
