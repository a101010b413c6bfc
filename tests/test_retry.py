"""RetryPolicy: which errors are retried, full-jitter backoff, Retry-After, attempt and deadline bounds.

Every test runs on a FakeClock: nothing sleeps for real.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters._clock import FakeClock
from adapters._errors import OutcomeUnknown, PermanentError, QuotaExceeded, TransientError
from adapters._retry import DEFAULT_RETRY, RetryEvent, RetryPolicy


def failing(errors: list[BaseException], result: str = "ok") -> tuple[Callable[[], str], list[int]]:
    """Return fn raising ``errors`` in turn and then returning ``result``, and its call counter."""
    calls = [0]

    def fn() -> str:
        calls[0] += 1
        if calls[0] <= len(errors):
            raise errors[calls[0] - 1]
        return result

    return fn, calls


def transient(n: int, retry_after: float | None = None) -> list[BaseException]:
    return [TransientError(f"503 #{i + 1}", code=503, retry_after=retry_after) for i in range(n)]


def test_transient_errors_are_retried_until_success() -> None:
    clock = FakeClock()
    fn, calls = failing(transient(3))
    assert RetryPolicy().call(fn, clock=clock, rng=random.Random(0)) == "ok"
    assert calls[0] == 4
    assert len(clock.sleeps) == 3


def test_quota_exceeded_is_retried() -> None:
    clock = FakeClock()
    fn, calls = failing([QuotaExceeded("429", code=429)])
    assert RetryPolicy().call(fn, clock=clock) == "ok"
    assert calls[0] == 2


def test_success_first_time_never_sleeps() -> None:
    clock = FakeClock()
    assert DEFAULT_RETRY.call(lambda: 42, clock=clock) == 42
    assert clock.sleeps == []


def test_sleeps_are_full_jitter_within_bounds() -> None:
    policy = RetryPolicy(max_attempts=10, deadline=None, initial=1.0, maximum=8.0, multiplier=2.0)
    clock = FakeClock()
    fn, _ = failing(transient(9))
    policy.call(fn, clock=clock, rng=random.Random(1234))
    ceilings = [1, 2, 4, 8, 8, 8, 8, 8, 8]
    assert len(clock.sleeps) == len(ceilings)
    for sleep, ceiling in zip(clock.sleeps, ceilings, strict=True):
        assert 0.0 <= sleep <= ceiling
    # Full jitter, not "equal jitter": the draws use the whole range, not just its upper half.
    assert any(s < c / 2 for s, c in zip(clock.sleeps, ceilings, strict=True))


def test_seeded_rng_makes_sleeps_reproducible() -> None:
    def run(seed: int) -> list[float]:
        clock = FakeClock()
        RetryPolicy(deadline=None).call(failing(transient(4))[0], clock=clock, rng=random.Random(seed))
        return clock.sleeps

    assert run(7) == run(7)
    assert run(7) != run(8)


@settings(max_examples=50, deadline=None)
@given(attempt=st.integers(1, 10_000), seed=st.integers(0, 2**32))
def test_backoff_never_exceeds_its_ceiling(attempt: int, seed: int) -> None:
    policy = RetryPolicy(initial=0.5, maximum=30.0, multiplier=3.0)
    sleep = policy.backoff(attempt, TransientError("x"), random.Random(seed))
    assert 0.0 <= sleep <= min(30.0, policy.ceiling(attempt))


def test_retry_after_is_honoured_and_capped() -> None:
    clock = FakeClock()
    fn, _ = failing(transient(2, retry_after=45.0))
    RetryPolicy(deadline=None).call(fn, clock=clock, rng=random.Random(0))
    assert len(clock.sleeps) == 2
    assert all(s >= 45.0 for s in clock.sleeps)

    clock = FakeClock()
    fn, _ = failing(transient(1, retry_after=10_000.0))
    RetryPolicy(deadline=None, max_retry_after=90.0).call(fn, clock=clock, rng=random.Random(0))
    assert clock.sleeps == [90.0]


def test_retry_after_ignored_when_told_to() -> None:
    clock = FakeClock()
    fn, _ = failing(transient(1, retry_after=45.0))
    RetryPolicy(respect_retry_after=False).call(fn, clock=clock, rng=random.Random(0))
    assert clock.sleeps[0] <= 1.0


def test_max_attempts_is_respected_and_last_error_reraised() -> None:
    clock = FakeClock()
    errors = transient(10)
    fn, calls = failing(errors)
    with pytest.raises(TransientError) as info:
        RetryPolicy(max_attempts=3, deadline=None).call(fn, what="create job", clock=clock)
    assert calls[0] == 3
    assert len(clock.sleeps) == 2
    assert info.value is errors[2]
    assert getattr(info.value, "attempts", None) == 3
    notes = getattr(info.value, "__notes__", [])
    assert len(notes) == 1
    assert "gave up on create job after 3 attempts" in notes[0]
    assert "max_attempts=3" in notes[0]


def test_max_attempts_one_means_no_retry() -> None:
    clock = FakeClock()
    fn, calls = failing(transient(1))
    with pytest.raises(TransientError) as info:
        RetryPolicy(max_attempts=1).call(fn, clock=clock)
    assert calls[0] == 1
    assert clock.sleeps == []
    assert getattr(info.value, "attempts", None) == 1


@pytest.mark.parametrize("seed", range(20))
def test_deadline_is_respected_no_sleep_crosses_it(seed: int) -> None:
    clock = FakeClock(start=1000.0)
    deadline = 20.0
    started: list[float] = []

    def fn() -> str:
        started.append(clock.now() - 1000.0)
        clock.advance(0.7)  # each attempt itself takes time, which counts against the deadline
        raise TransientError("unavailable")

    policy = RetryPolicy(max_attempts=1000, deadline=deadline, initial=1.0, maximum=8.0)
    with pytest.raises(TransientError) as info:
        policy.call(fn, clock=clock, rng=random.Random(seed))
    # Every sleep ended (so every attempt started) within the deadline; only the last attempt's own
    # duration may run past it.
    assert len(started) > 1
    assert max(started) <= deadline
    assert clock.now() - 1000.0 <= deadline + 0.7
    assert getattr(info.value, "attempts", None) == len(started)
    assert "deadline=20 s" in info.value.__notes__[0]


def test_retry_after_beyond_deadline_gives_up_at_once() -> None:
    clock = FakeClock()
    fn, calls = failing(transient(1, retry_after=200.0))
    with pytest.raises(TransientError):
        RetryPolicy(deadline=120.0).call(fn, clock=clock)
    assert calls[0] == 1
    assert clock.sleeps == []


def test_deadline_uses_injected_clock_not_real_time() -> None:
    # Lots of virtual time passes; if tenacity's time.monotonic were used, the deadline would never trip.
    clock = FakeClock()

    def fn() -> None:
        clock.advance(50.0)
        raise TransientError("slow failure")

    with pytest.raises(TransientError) as info:
        RetryPolicy(max_attempts=100, deadline=120.0).call(fn, clock=clock)
    assert getattr(info.value, "attempts", None) == 3


@pytest.mark.parametrize(
    "error",
    [
        PermanentError("400 bad", code=400),
        OutcomeUnknown("create response lost"),
        ValueError("a bug"),
        KeyError("k"),
    ],
    ids=["permanent", "outcome-unknown", "value-error", "key-error"],
)
def test_non_transient_errors_propagate_at_once_untouched(error: Exception) -> None:
    clock = FakeClock()
    fn, calls = failing([error])
    with pytest.raises(type(error)) as info:
        RetryPolicy().call(fn, clock=clock)
    assert info.value is error
    assert calls[0] == 1
    assert clock.sleeps == []
    assert not hasattr(info.value, "attempts")
    assert not getattr(info.value, "__notes__", [])


def test_permanent_after_transient_propagates_untouched() -> None:
    clock = FakeClock()
    permanent = PermanentError("403", code=403)
    fn, calls = failing([TransientError("503"), permanent])
    with pytest.raises(PermanentError) as info:
        RetryPolicy().call(fn, clock=clock)
    assert info.value is permanent
    assert calls[0] == 2
    assert not hasattr(info.value, "attempts")


def test_on_retry_events() -> None:
    clock = FakeClock()
    errors = transient(3)
    fn, _ = failing(errors)
    events: list[RetryEvent] = []
    RetryPolicy(deadline=None).call(
        fn, what="get job", clock=clock, on_retry=events.append, rng=random.Random(3)
    )
    assert [e.attempt for e in events] == [1, 2, 3]
    assert [e.error for e in events] == errors
    assert [e.sleep for e in events] == clock.sleeps
    assert {e.what for e in events} == {"get job"}


def test_no_event_for_the_final_failure() -> None:
    events: list[RetryEvent] = []
    with pytest.raises(TransientError):
        RetryPolicy(max_attempts=2).call(failing(transient(5))[0], clock=FakeClock(), on_retry=events.append)
    assert [e.attempt for e in events] == [1]


def test_policy_is_reusable_across_calls() -> None:
    policy = RetryPolicy(max_attempts=2)
    for _ in range(3):
        clock = FakeClock()
        with pytest.raises(TransientError) as info:
            policy.call(failing(transient(5))[0], clock=clock)
        assert getattr(info.value, "attempts", None) == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_attempts", 0),
        ("deadline", 0),
        ("deadline", -5.0),
        ("initial", 0.0),
        ("maximum", -1.0),
        ("multiplier", 0.5),
        ("max_retry_after", 0),
        ("initial", float("nan")),
    ],
)
def test_validation_errors_name_the_field_and_value(field: str, value: float) -> None:
    with pytest.raises(ValidationError) as info:
        RetryPolicy(**{field: value})
    text = str(info.value)
    assert field in text
    assert str(value) in text


def test_validation_rejects_unknown_fields_and_bad_order() -> None:
    with pytest.raises(ValidationError, match="max_atempts"):
        RetryPolicy(max_atempts=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="initial"):
        RetryPolicy(initial=100.0, maximum=10.0)


def test_policy_is_frozen_and_loads_from_a_mapping() -> None:
    policy = RetryPolicy.model_validate({"max_attempts": 3, "deadline": None})
    assert policy.max_attempts == 3 and policy.deadline is None
    with pytest.raises(ValidationError):
        policy.max_attempts = 4  # type: ignore[misc]


def test_the_default_policy_is_the_validated_default() -> None:
    # DEFAULT_RETRY is built with model_construct (no validation at import): it must equal RetryPolicy().
    assert RetryPolicy() == DEFAULT_RETRY
    assert DEFAULT_RETRY.model_dump() == RetryPolicy().model_dump()
