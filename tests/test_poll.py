"""PollPolicy and RateLimiter: interval growth and caps, hints, fleet simulations, quota windows.

Every test runs on a FakeClock: nothing sleeps for real.
"""

from __future__ import annotations

import heapq
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters._clock import FakeClock
from adapters._poll import PollPolicy, RateLimiter, clear_limiters, limiter_for

NO_JITTER = PollPolicy(jitter=0.0)


def intervals(policy: PollPolicy, states: list[str], elapsed: float = 0.0) -> list[float]:
    schedule = policy.schedule()
    return [schedule.next_interval(state=s, elapsed=elapsed) for s in states]


def test_interval_ramps_quickly_to_the_cap() -> None:
    got = intervals(NO_JITTER, ["RUNNING"] * 6)
    assert got == pytest.approx([5.0, 15.0, 45.0, 60.0, 60.0, 60.0])  # then floor_cap for a young job


def test_a_state_change_does_not_restart_the_ramp() -> None:
    got = intervals(NO_JITTER, ["PENDING"] * 2 + ["RUNNING"] * 2 + ["PENDING"])
    assert got == pytest.approx([5.0, 15.0, 45.0, 60.0, 60.0])
    schedule = NO_JITTER.schedule()
    schedule.next_interval(state="PENDING", elapsed=0.0)
    schedule.next_interval(state="RUNNING", elapsed=5.0)
    assert schedule.last_state == "RUNNING"


def test_interval_capped_by_fraction_of_age_and_by_maximum() -> None:
    schedule = NO_JITTER.schedule()
    got = [schedule.next_interval(state="RUNNING", elapsed=1200.0) for _ in range(12)]
    assert max(got) == 120.0  # 10% of 1200 s beats the 60 s floor
    schedule = NO_JITTER.schedule()
    got = [schedule.next_interval(state="RUNNING", elapsed=86_400.0) for _ in range(30)]
    assert max(got) == 600.0  # a day-old job is still polled every 10 minutes at most


def test_growth_continues_smoothly_as_the_cap_rises() -> None:
    # Stored intervals are capped, so a rising cap lets them grow by `multiplier`, not jump.
    schedule = NO_JITTER.schedule()
    for _ in range(10):
        schedule.next_interval(state="RUNNING", elapsed=0.0)
    assert schedule.next_interval(state="RUNNING", elapsed=5000.0) == pytest.approx(180.0)


def test_hint_raises_the_interval_but_not_past_maximum() -> None:
    schedule = NO_JITTER.schedule()
    assert schedule.next_interval(state="RUNNING", elapsed=0.0, hint=120.0) == 120.0
    assert schedule.next_interval(state="RUNNING", elapsed=0.0, hint=1e6) == 600.0
    # A hint shorter than our own interval does not make us poll sooner.
    assert schedule.next_interval(state="RUNNING", elapsed=0.0, hint=1.0) == pytest.approx(45.0)


def test_bad_elapsed_and_hint_values_are_tolerated() -> None:
    assert NO_JITTER.schedule().next_interval(state="A", elapsed=-30.0) == 5.0  # clock skew
    assert NO_JITTER.schedule().next_interval(state="B", elapsed=math.nan, hint=math.nan) == 5.0
    assert NO_JITTER.schedule().next_interval(state="C", elapsed=0.0, hint=-4.0) == 5.0


def test_jitter_stays_in_band_and_under_maximum() -> None:
    policy = PollPolicy(jitter=0.2, initial=100.0, maximum=100.0, floor_cap=100.0)
    rng = random.Random(5)
    got = [policy.schedule().next_interval(state="X", elapsed=0.0, rng=rng) for _ in range(200)]
    assert all(80.0 <= g <= 100.0 for g in got)
    got = [PollPolicy(jitter=0.2).schedule().next_interval(state="X", elapsed=0, rng=rng) for _ in range(200)]
    assert all(4.0 <= g <= 6.0 for g in got)
    assert len(set(got)) > 100


def test_schedules_are_independent() -> None:
    a, b = NO_JITTER.schedule(), NO_JITTER.schedule()
    for _ in range(5):
        a.next_interval(state="RUNNING", elapsed=0.0)
    assert b.next_interval(state="RUNNING", elapsed=0.0) == 5.0
    assert a.polls == 5 and b.polls == 1


polls = st.lists(
    st.tuples(
        st.sampled_from(["PENDING", "RUNNING", "RUNNING", "RUNNING"]),
        st.floats(0.0, 1e7, allow_nan=False),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(
    initial=st.floats(0.01, 100.0),
    maximum=st.floats(100.0, 5000.0),
    multiplier=st.floats(1.0, 4.0),
    fraction=st.floats(0.001, 1.0),
    floor_cap=st.floats(0.01, 1000.0),
    observed=polls,
)
def test_interval_always_within_bounds(
    initial: float,
    maximum: float,
    multiplier: float,
    fraction: float,
    floor_cap: float,
    observed: list[tuple[str, float]],
) -> None:
    policy = PollPolicy(
        initial=initial,
        maximum=maximum,
        multiplier=multiplier,
        elapsed_fraction=fraction,
        floor_cap=floor_cap,
        jitter=0.0,
    )
    schedule = policy.schedule()
    for state, elapsed in observed:
        interval = schedule.next_interval(state=state, elapsed=elapsed)
        assert 0.0 < interval <= maximum
        assert interval <= max(floor_cap, fraction * elapsed)


@settings(max_examples=100, deadline=None)
@given(
    observed=polls,
    hints=st.lists(st.none() | st.floats(0.0, 1e5), min_size=60, max_size=60),
    seed=st.integers(),
)
def test_interval_with_jitter_and_hints_is_positive_and_at_most_maximum(
    observed: list[tuple[str, float]], hints: list[float | None], seed: int
) -> None:
    policy = PollPolicy(jitter=0.5)
    schedule = policy.schedule()
    rng = random.Random(seed)
    for (state, elapsed), hint in zip(observed, hints, strict=False):
        interval = schedule.next_interval(state=state, elapsed=elapsed, hint=hint, rng=rng)
        assert 0.0 < interval <= policy.maximum
        if hint is not None and hint > 0:
            assert interval >= min(hint, policy.maximum)


def test_fleet_simulation_few_polls_and_bounded_detection_delay() -> None:
    """50 jobs of 1 min..2 h polled event-driven on one FakeClock."""
    rng = random.Random(20240601)
    policy = PollPolicy()
    clock = FakeClock()
    n_jobs = 50
    durations = [math.exp(rng.uniform(math.log(60.0), math.log(7200.0))) for _ in range(n_jobs)]
    starts = [rng.uniform(0.0, 600.0) for _ in range(n_jobs)]
    pending_for = [min(30.0, 0.2 * d) for d in durations]
    schedules = [policy.schedule() for _ in range(n_jobs)]
    poll_counts = [0] * n_jobs
    delays: list[float] = [math.nan] * n_jobs

    def state_of(job: int, now: float) -> str:
        age = now - starts[job]
        if age >= durations[job]:
            return "SUCCEEDED"
        return "PENDING" if age < pending_for[job] else "RUNNING"

    # Each job is polled once right after submission, then whenever its schedule says.
    events = [(starts[j], j) for j in range(n_jobs)]
    heapq.heapify(events)
    while events:
        when, job = heapq.heappop(events)
        clock.advance(when - clock.now())
        now = clock.now()
        poll_counts[job] += 1
        state = state_of(job, now)
        if state == "SUCCEEDED":
            delays[job] = now - (starts[job] + durations[job])
            continue
        wait = schedules[job].next_interval(state=state, elapsed=now - starts[job], rng=rng)
        heapq.heappush(events, (now + wait, job))

    fixed_polls = sum(math.ceil(d / 5.0) + 1 for d in durations)
    assert sum(poll_counts) <= fixed_polls / 3, (sum(poll_counts), fixed_polls)
    for job in range(n_jobs):
        bound = max(0.1 * durations[job], 60.0) + 1e-6  # jitter is held to the cap: no slack needed
        assert 0.0 <= delays[job] <= bound, (job, durations[job], delays[job], bound)
    assert clock.sleeps == []  # event-driven: virtual time only advanced


@settings(max_examples=100, deadline=None)
@given(observed=polls, seed=st.integers(), jitter=st.floats(0.0, 0.9))
def test_jitter_never_takes_an_interval_past_the_cap(
    observed: list[tuple[str, float]], seed: int, jitter: float
) -> None:
    policy = PollPolicy(jitter=jitter)
    schedule = policy.schedule()
    rng = random.Random(seed)
    for state, elapsed in observed:
        assert schedule.next_interval(state=state, elapsed=elapsed, rng=rng) <= policy.cap(elapsed)


def _first_seen(policy: PollPolicy, ends_at: float, rng: random.Random, changes_at: float = 30.0) -> float:
    """The age at which a job ending at ``ends_at`` is first seen ended, polled from age 0 on a FakeClock."""
    clock = FakeClock()
    schedule = policy.schedule()
    while clock.now() < ends_at:
        state = "PENDING" if clock.now() < changes_at else "RUNNING"
        clock.advance(schedule.next_interval(state=state, elapsed=clock.now(), rng=rng))
    return clock.now()


def test_a_quick_failure_is_seen_quickly() -> None:
    rng = random.Random(3)
    policy = PollPolicy()
    for fails_at in (0.5, 2.0, 4.0):  # a job refused at once is seen by the second poll
        assert _first_seen(policy, fails_at, rng) <= policy.initial * (1 + policy.jitter)
    for fails_at in (6.0, 12.0, 19.0):  # ... and one failing in its first 20 s by the third
        assert _first_seen(policy, fails_at, rng) <= policy.initial * (1 + policy.multiplier) * 1.1
    for fails_at in (25.0, 45.0, 90.0, 400.0):  # later, never past the 60-s floor of the allowance
        assert _first_seen(policy, fails_at, rng) - fails_at <= 60.0


def test_fleet_costs_at_most_a_quarter_more_than_the_reference_schedule() -> None:
    """The benchmark's 1,000 jobs (1 min..2 h, 30 s PENDING), polled from age 0 by the default policy."""
    from tests.benchmarks.bench_vertex_polling import PENDING_S, allowance, reference_polls, workload

    rng = random.Random(11)
    policy = PollPolicy()
    calls, ratios = 0, []
    for _, duration in workload(1000, 3600.0, seed=7):
        clock, schedule = FakeClock(), policy.schedule()
        calls += 1  # the poll at age 0
        while clock.now() < duration:
            state = "PENDING" if clock.now() < PENDING_S else "RUNNING"
            clock.advance(schedule.next_interval(state=state, elapsed=clock.now(), rng=rng))
            calls += 1
        ratios.append((clock.now() - duration) / allowance(duration))
    reference = sum(reference_polls(d) for _, d in workload(1000, 3600.0, seed=7))
    assert calls <= 1.25 * reference, (calls, reference)
    assert max(ratios) <= 1.0 + 1e-9  # every end seen within its allowance, not only the p95


def test_poll_policy_validation_names_the_field() -> None:
    for field, value in [("initial", 0.0), ("multiplier", 0.9), ("jitter", 1.0), ("floor_cap", -1.0)]:
        with pytest.raises(ValidationError) as info:
            PollPolicy(**{field: value})
        assert field in str(info.value) and str(value) in str(info.value)
    with pytest.raises(ValidationError):
        PollPolicy(initial=1000.0)  # more than maximum
    with pytest.raises(ValidationError):
        PollPolicy(inital=3.0)  # type: ignore[call-arg]


# --- RateLimiter ---------------------------------------------------------------------------------------


def assert_window_respected(times: list[float], capacity: int, window: float = 60.0) -> None:
    """At most ``capacity`` of ``times`` in any half-open interval of length ``window``."""
    times = sorted(times)
    for i in range(len(times) - capacity):
        assert times[i + capacity] - times[i] >= window - 1e-9, (i, times[i], times[i + capacity])


@settings(max_examples=100, deadline=None)
@given(
    per_minute=st.integers(1, 20),
    burst=st.none() | st.integers(1, 5),
    actions=st.lists(st.tuples(st.floats(0.0, 40.0), st.booleans()), max_size=80),
)
def test_limiter_never_exceeds_per_minute_in_any_window(
    per_minute: int, burst: int | None, actions: list[tuple[float, bool]]
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_minute, burst=burst, clock=clock)
    acquired: list[float] = []
    for gap, blocking in actions:
        clock.advance(gap)
        if blocking:
            limiter.acquire()
            acquired.append(clock.now())
        elif limiter.try_acquire():
            acquired.append(clock.now())
    assert_window_respected(acquired, per_minute)


def test_acquire_waits_exactly_until_the_oldest_leaves_the_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3, clock=clock, margin=0)
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.advance(10.0)
    assert limiter.delay_until_available() == pytest.approx(50.0)
    assert not limiter.try_acquire()
    assert limiter.acquire() == pytest.approx(50.0)
    assert clock.now() == pytest.approx(60.0)
    assert clock.sleeps == [pytest.approx(50.0)]
    # The other two from t=0 have expired too.
    assert limiter.try_acquire() and limiter.try_acquire()
    assert not limiter.try_acquire()


def test_acquire_many_at_once() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, margin=0)
    limiter.acquire()
    clock.advance(30.0)
    limiter.acquire()
    assert limiter.acquire(3) == pytest.approx(30.0)  # needs the t=0 slot back
    with pytest.raises(ValueError, match="n must be"):
        limiter.acquire(5)


@settings(max_examples=100, deadline=None)
@given(
    capacity=st.integers(1_000, 10_000),
    actions=st.lists(st.tuples(st.floats(0.0, 40.0), st.integers(1, 1_000)), max_size=60),
)
def test_a_byte_budget_holds_in_every_window(capacity: int, actions: list[tuple[float, int]]) -> None:
    # acquire(n) as a byte quota uses: one log entry per call, whatever n, and never more than the
    # budget in any window.
    clock = FakeClock()
    limiter = RateLimiter(capacity, clock=clock, margin=0)
    taken: list[tuple[float, int]] = []
    for gap, n in actions:
        clock.advance(gap)
        limiter.acquire(n)
        taken.append((clock.now(), n))
        assert len(limiter._log) <= len(taken)
    for start, _ in taken:
        inside = sum(n for t, n in taken if start <= t < start + 60.0 - 1e-9)
        assert inside <= capacity, (start, taken)


def test_a_large_acquisition_waits_for_enough_to_leave() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1_500_000_000, clock=clock, margin=0)
    limiter.acquire(1_000_000_000)
    clock.advance(20.0)
    limiter.acquire(400_000_000)
    clock.advance(10.0)
    # 600 MB more must wait for the first gigabyte to leave (t=60), not for the 400 MB (t=80).
    assert limiter.acquire(600_000_000) == pytest.approx(30.0)
    assert clock.now() == pytest.approx(60.0)


def test_burst_spreads_acquisitions() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, burst=2, clock=clock)
    waits = [limiter.acquire() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.0, 1.0, 1.0, 1.0])


def test_fractional_and_sub_one_rates() -> None:
    clock = FakeClock()
    slow = RateLimiter(0.5, clock=clock, margin=0)  # one per two minutes
    assert slow.try_acquire()
    assert slow.delay_until_available() == pytest.approx(120.0)
    fractional = RateLimiter(2.5, clock=clock, margin=0)  # never more than 2.5 in a minute, so 2
    assert fractional.try_acquire() and fractional.try_acquire()
    assert not fractional.try_acquire()


@pytest.mark.parametrize("bad", [0, -1.0, math.inf, math.nan])
def test_limiter_rejects_bad_rates(bad: float) -> None:
    with pytest.raises(ValueError, match="per_minute"):
        RateLimiter(bad)


def test_limiter_for_shares_one_limiter_per_key() -> None:
    clock = FakeClock()
    key = ("vertex", f"project-{id(clock)}")
    a = limiter_for(key, 30, clock)
    assert limiter_for(key, 30, clock) is a
    assert limiter_for(("vertex", f"other-{id(clock)}"), 30, clock) is not a
    other_clock = FakeClock()
    assert limiter_for(key, 30, other_clock) is not a  # another time domain: its own limiter
    assert limiter_for(key, 30, other_clock).clock is other_clock
    # Two "jobs" polling the same project, each asking every second for a minute, draw from one quota.
    job1, job2 = limiter_for(key, 30, clock), limiter_for(key, 30, clock)
    taken = 0
    for _ in range(59):
        taken += job1.try_acquire() + job2.try_acquire()
        clock.advance(1.0)
    assert taken == 30


def test_limiter_for_keeps_the_stricter_rate() -> None:
    clock = FakeClock()
    key = ("vertex", f"strict-{id(clock)}")
    limiter = limiter_for(key, 60, clock)
    assert limiter_for(key, 600, clock).per_minute == 60  # a looser caller cannot raise the shared rate
    assert limiter_for(key, 2, clock) is limiter
    assert limiter.per_minute == 2
    assert limiter.try_acquire() and limiter.try_acquire()
    assert not limiter.try_acquire()


def test_clear_limiters_forgets_keys() -> None:
    clock = FakeClock()
    key = ("vertex", f"clear-{id(clock)}")
    old = limiter_for(key, 10, clock)
    clear_limiters()
    assert limiter_for(key, 10, FakeClock()) is not old


def test_the_margin_keeps_calls_out_of_the_servers_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, margin=1.5)
    limiter.acquire()
    limiter.acquire()
    assert limiter.acquire() == pytest.approx(61.5)  # the oldest left our window 1.5 s after the server's
    with pytest.raises(ValueError, match="margin"):
        RateLimiter(2, margin=-1)


def test_a_weighted_acquisition_above_the_burst_leaves_debt_that_later_ones_repay() -> None:
    # A byte budget: 6,000 a minute, paced at 1,000 back to back (100 a second). A 2,500-byte body
    # waits for a full bucket, not forever, and the next acquisition repays the debt first.
    clock = FakeClock()
    limiter = RateLimiter(6_000, burst=1_000, clock=clock, margin=0)
    assert limiter.acquire(2_500) == 0
    waited = limiter.acquire(1)
    assert waited == pytest.approx(15.01)  # (1,500 owed + 1) / 100 a second
    with pytest.raises(ValueError, match=r"1\.\.6000"):
        limiter.acquire(6_001)  # more than a whole minute's budget can never be available
