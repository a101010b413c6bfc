"""Retrying vendor calls: exponential backoff with full jitter, bounded by attempts and a deadline.

Only :class:`~checkpoint._errors.TransientError` (which includes ``QuotaExceeded``) is retried.
Everything else propagates at once, untouched: a ``PermanentError`` cannot be fixed by retrying, and an
``OutcomeUnknown`` must be reconciled by the caller (by submission key) before anything is retried,
or a create could run twice.

Retries are a separate policy from polling (see :mod:`adapters._poll`), as in google-api-core's
``retry`` vs ``future.polling``. tenacity does the looping; this module supplies the wait and stop
rules so that time is read from, and sleeps go through, an injectable :class:`~adapters._clock.Clock`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity
from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters._errors import ServiceUnreachable, TransientError

from ._clock import SYSTEM_CLOCK, Clock

__all__ = ["DEFAULT_RETRY", "RetryEvent", "RetryPolicy"]

T = TypeVar("T")

# Shared default jitter source; random.Random's methods are atomic under the GIL, so threads may share it.
_RNG = random.Random()


@dataclass(frozen=True)
class RetryEvent:
    """One failed attempt that is about to be retried (passed to ``on_retry``).

    Attributes:
        what: the caller's name for the operation (``"create job"``, ...).
        attempt: the attempt that failed, 1-based.
        error: the transient error it raised.
        sleep: seconds about to be slept before the next attempt.
    """

    what: str
    attempt: int
    error: TransientError
    sleep: float


class RetryPolicy(BaseModel):
    """How to retry a vendor call that failed transiently.

    Frozen and strict about its fields so it can be loaded from a TOML spec and shared between threads.

    Attributes:
        max_attempts: attempts in all, including the first.
        deadline: seconds over all attempts and sleeps; ``None`` for no deadline.
        initial: backoff ceiling after the first failure, in seconds.
        maximum: the largest backoff ceiling, in seconds.
        multiplier: growth of the ceiling per failed attempt.
        respect_retry_after: wait at least the server's ``Retry-After`` when it sends one.
        max_retry_after: cap on a server's ``Retry-After``, so a bogus hint cannot stall us for hours.
    """

    # Built on first use, not at import (see adapters._messages.CamelModel).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    max_attempts: int = Field(default=6, ge=1)
    deadline: float | None = Field(default=120.0, gt=0, allow_inf_nan=False)
    initial: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    maximum: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    multiplier: float = Field(default=2.0, ge=1, allow_inf_nan=False)
    respect_retry_after: bool = True
    max_retry_after: float = Field(default=300.0, gt=0, allow_inf_nan=False)
    #: Attempts before giving up on a service that cannot be reached at all (``ServiceUnreachable``);
    #: None: as any transient error. ``train`` sets 2 for its first contact.
    unreachable_attempts: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check_order(self) -> RetryPolicy:
        if self.initial > self.maximum:
            raise ValueError(f"initial ({self.initial}) must not exceed maximum ({self.maximum})")
        return self

    def ceiling(self, attempt: int) -> float:
        """Return the full-jitter ceiling after failed attempt ``attempt`` (1-based).

        That is ``min(maximum, initial * multiplier ** (attempt - 1))``, computed without overflow.
        """
        steps = max(0, attempt - 1)
        # Compare in log space first: multiplier ** steps overflows a float long before max_attempts does.
        if steps * math.log(self.multiplier) >= math.log(self.maximum / self.initial):
            return self.maximum
        return min(self.maximum, self.initial * self.multiplier**steps)

    def backoff(
        self, attempt: int, error: BaseException | None = None, rng: random.Random | None = None
    ) -> float:
        """Return the seconds to sleep after failed attempt ``attempt`` (1-based) raised ``error``.

        Full jitter: uniform in ``[0, ceiling(attempt)]``; at least the error's ``retry_after``
        (capped at ``max_retry_after``) when ``respect_retry_after`` is set.
        """
        sleep = (rng or _RNG).uniform(0.0, self.ceiling(attempt))
        retry_after = getattr(error, "retry_after", None)
        if self.respect_retry_after and isinstance(retry_after, int | float) and retry_after > 0:
            # The server knows its own load better than our backoff does; still cap a bogus hint.
            sleep = max(sleep, min(float(retry_after), self.max_retry_after))
        return sleep

    def call(
        self,
        fn: Callable[[], T],
        *,
        what: str = "call",
        clock: Clock = SYSTEM_CLOCK,
        on_retry: Callable[[RetryEvent], None] | None = None,
        rng: random.Random | None = None,
    ) -> T:
        """Call ``fn()``, retrying it on :class:`TransientError` under this policy.

        Args:
            fn: the call to make; takes no arguments (bind them with a lambda or ``functools.partial``).
            what: a name for the call, used in ``on_retry`` events and in the give-up note.
            clock: time source and sleeper (inject a ``FakeClock`` in tests).
            on_retry: called before each sleep with a :class:`RetryEvent`.
            rng: the jitter source (seed one for reproducible sleeps).

        Returns:
            What ``fn`` returned.

        Raises:
            TransientError: the last one, once ``max_attempts`` or ``deadline`` runs out. It is the very
                exception ``fn`` raised, with ``attempts`` (int) set and a note saying why we gave up.
            Exception: anything else ``fn`` raises, at once and untouched.
        """
        run = _Run(self, what=what, clock=clock, on_retry=on_retry, rng=rng or _RNG)
        retrying = tenacity.Retrying(
            sleep=clock.sleep,
            wait=run.wait,
            stop=run.stop,
            retry=tenacity.retry_if_exception_type(TransientError),
            before_sleep=run.before_sleep,
            reraise=True,
        )
        try:
            return retrying(lambda: run.attempt(fn))
        except TransientError as exc:
            # Annotate only the error we gave up on, not one raised by, say, on_retry itself.
            if exc is run.last_error:
                run.annotate(exc)
            raise


class _Run:
    """The state of one ``RetryPolicy.call``: attempts, start time and the planned sleeps.

    tenacity measures elapsed time with ``time.monotonic`` inside ``RetryCallState``, so ``stop_after_delay``
    would ignore an injected clock; this class measures the deadline with ``clock.now()`` instead.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        what: str,
        clock: Clock,
        on_retry: Callable[[RetryEvent], None] | None,
        rng: random.Random,
    ) -> None:
        self.policy = policy
        self.what = what
        self.clock = clock
        self.on_retry = on_retry
        self.rng = rng
        self.start = clock.now()
        self.attempts = 0
        self.last_error: TransientError | None = None
        self.reason = ""
        # Sleep planned after each failed attempt. Both wait and stop need it, and tenacity's call order
        # between them changed across versions (8.x ran stop first), so it is drawn once and memoised.
        self._planned: dict[int, float] = {}

    def attempt(self, fn: Callable[[], T]) -> T:
        self.attempts += 1
        try:
            return fn()
        except TransientError as exc:
            self.last_error = exc
            raise

    def _plan(self, state: tenacity.RetryCallState) -> float:
        n = state.attempt_number
        if n not in self._planned:
            error = state.outcome.exception() if state.outcome is not None else None
            self._planned[n] = self.policy.backoff(n, error, self.rng)
        return self._planned[n]

    def wait(self, state: tenacity.RetryCallState) -> float:
        return self._plan(state)

    def stop(self, state: tenacity.RetryCallState) -> bool:
        unreachable = self.policy.unreachable_attempts
        failed = state.outcome.exception() if state.outcome is not None else None
        if (
            unreachable is not None
            and isinstance(failed, ServiceUnreachable)
            and state.attempt_number >= unreachable
        ):
            self.reason = f"unreachable_attempts={unreachable}"
            return True
        if state.attempt_number >= self.policy.max_attempts:
            self.reason = f"max_attempts={self.policy.max_attempts}"
            return True
        deadline = self.policy.deadline
        if deadline is not None:
            elapsed = self.clock.now() - self.start
            # Never start a sleep that would end past the deadline: it would only delay the same failure.
            if elapsed + self._plan(state) > deadline:
                self.reason = f"deadline={deadline:g} s"
                return True
        return False

    def before_sleep(self, state: tenacity.RetryCallState) -> None:
        if self.on_retry is None:
            return
        error = state.outcome.exception() if state.outcome is not None else None
        assert isinstance(error, TransientError)  # retry_if_exception_type guarantees it
        self.on_retry(
            RetryEvent(what=self.what, attempt=state.attempt_number, error=error, sleep=self._plan(state))
        )

    def annotate(self, exc: TransientError) -> None:
        elapsed = self.clock.now() - self.start
        # VendorError does not declare `attempts`; setattr keeps mypy happy whether or not it ever does.
        setattr(exc, "attempts", self.attempts)  # noqa: B010
        exc.add_note(
            f"gave up on {self.what} after {self.attempts} attempt{'s' if self.attempts != 1 else ''} "
            f"over {elapsed:.1f} s ({self.reason})"
        )


# Constructed, not validated: validating would build RetryPolicy's validator (and run pydantic's plugin
# scan) at import. The defaults are the class's own; tests check this equals RetryPolicy().
DEFAULT_RETRY = RetryPolicy.model_construct()
