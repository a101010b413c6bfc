"""Exactly-once submission: claims, submission keys, intent records, adoption, reconciling a lost create.

::

    0. the newest job for the spec, if running or succeeded, is adopted   (no claim, no create)
    1. claim the spec: create {instance}/claims/{hash}/{generation}.json  (create-if-absent: one winner;
                                                        the claim fixes the submission key; losers wait,
                                                        reading the workspace only, then adopt)
    2. intent {submission key, spec hash} -> {instance}/intents/{key}.json   (before any vendor call)
    3. create at the vendor, labelled with the key     (retried; before each retry, after a lost response
                                                        and when taking over a dead holder's claim, the
                                                        key is looked up first)
    4. job.json -> the instance's "default" handle    (the engine's part, right after)
    5. the intent records the job reference; the claim is released as done

A crashed submission's key is reused, so its label still finds the job it may have created.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from pydantic import Field, ValidationError

from adapters._errors import (
    JobIdentityMismatch,
    JobNotFound,
    OutcomeUnknown,
    PermanentError,
    SubmissionBusy,
    TransientError,
)
from checkpoint import Workspace

from ._claim import Claim, ClaimPolicy, Claims, ClaimState
from ._clock import SYSTEM_CLOCK, Clock
from ._jobs import JobRef, JobState, JobStatus
from ._messages import CamelModel

log = logging.getLogger(__name__)

__all__ = [
    "ADOPTABLE",
    "INTENTS_DIR",
    "Intent",
    "IntentStore",
    "Submission",
    "Submitter",
    "check_identity",
    "describe_or_none",
    "new_submission_key",
    "spec_hash",
]

INTENTS_DIR = "intents"
ADOPTABLE = frozenset(
    {JobState.QUEUED, JobState.PENDING, JobState.RUNNING, JobState.PAUSED, JobState.UNKNOWN}
    | {JobState.CANCELLING, JobState.SUCCEEDED}
)

_T = TypeVar("_T")


def spec_hash(spec: dict[str, Any]) -> str:
    """A stable hash of a job spec (canonical JSON, sorted keys)."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def new_submission_key() -> str:
    """A client-generated key that is also a valid Google Cloud label value (lowercase, 34 chars)."""
    return "jf" + uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


class Intent(CamelModel):
    """One submission of a spec: written before the vendor is called, completed with the job's reference."""

    submission_key: str
    spec_hash: str
    adapter: str
    job: JobRef | None = None
    written_at: datetime = Field(default_factory=_now)


class IntentStore:
    """Intent records under ``{plugin_instance_id}/intents/``: one per submission key."""

    def __init__(self, workspace: Workspace, plugin_instance_id: str) -> None:
        self.workspace = workspace
        self.dir = f"{plugin_instance_id}/{INTENTS_DIR}"

    def write(self, intent: Intent) -> None:
        """Write (or replace) the record of ``intent.submission_key``."""
        data = intent.model_dump_json(by_alias=True).encode()
        self.workspace.write_bytes(f"{self.dir}/{intent.submission_key}.json", data)

    def all(self) -> list[Intent]:
        """Every readable intent, newest first (an unreadable one is skipped with a warning)."""
        out = []
        for name in self.workspace.list_records(self.dir):
            raw = self.workspace.read_bytes(f"{self.dir}/{name}")
            if not raw:
                continue
            try:
                out.append(Intent.model_validate_json(raw))
            except ValidationError as exc:
                log.warning("ignoring unreadable intent record %s/%s: %s", self.dir, name, exc)
        return sorted(out, key=lambda i: i.written_at, reverse=True)

    def for_spec(self, digest: str) -> list[Intent]:
        """Intents for this spec, newest first."""
        return [i for i in self.all() if i.spec_hash == digest]

    def pending_key(self, digest: str) -> str | None:
        """The key of an intent for this spec that never got a job (reuse it: same label, same job)."""
        for intent in self.for_spec(digest):
            if intent.job is None:
                return intent.submission_key
        return None


class Vendor(Protocol):
    """What exactly-once submission needs of an adapter."""

    @property
    def adapter_name(self) -> str: ...

    def submit_job(self, spec: dict[str, Any], submission_key: str) -> JobRef: ...
    def find_job(self, submission_key: str) -> JobRef | None: ...
    def describe_job(self, ref: JobRef) -> JobStatus: ...


def check_identity(status: JobStatus, ref: JobRef, expected: str | None) -> JobStatus:
    """Return ``status`` if the job it describes carries the submission key ``expected``.

    Raises:
        JobIdentityMismatch: the vendor reports another key (or none) for ``ref``: the name now belongs to
            another job (a recreated resource, an emulator restarted with the same IDs, a hand-edited record).
    """
    found = status.submission_key
    if expected and found is not None and found != expected:
        shown = repr(found) if found else "no submission key"
        raise JobIdentityMismatch(
            f"job {ref.job_id} is not the job this checkpoint submitted: the record's submission key is "
            f"{expected!r}, the vendor's job carries {shown}; the name now belongs to another job",
            job_id=ref.job_id,
            expected=expected,
            found=found,
        )
    return status


def describe_or_none(
    vendor: Vendor, call: Callable[[Callable[[], Any], str], Any], ref: JobRef, key: str | None = None
) -> JobStatus | None:
    """Describe ``ref`` with retries; ``None`` if the vendor no longer knows it (or not as ``key``'s job)."""
    try:
        status: JobStatus = call(lambda: vendor.describe_job(ref), f"describe {ref.job_id}")
        return check_identity(status, ref, key)
    except JobNotFound:
        return None
    except JobIdentityMismatch as exc:
        log.warning("not adopting: %s", exc)
        return None


class _Reconcile(TransientError):
    """A create whose outcome is unknown: retry, but only after looking the submission key up."""


class _ClaimLost(Exception):
    """This process was too slow: another one took the claim over (it keeps the key, and goes on)."""


@dataclass(frozen=True)
class Submission:
    """The outcome of :meth:`Submitter.submit`: the job, its key, and how this process came by it.

    Attributes:
        ref: the job.
        key: its submission key.
        status: the status seen when adopting it (None for a job this process created).
        adopted: True when the job was submitted before (by this spec, another process or a crashed run).
        intent: the intent record written for a job this process claimed (None when adopted at once).
        claim: the claim generation this process holds (None when adopted without claiming).
    """

    ref: JobRef
    key: str
    status: JobStatus | None = None
    adopted: bool = False
    intent: Intent | None = None
    claim: Claim | None = None


class Submitter:
    """Submits one spec exactly once for one adapter and plugin instance, across processes and machines.

    Args:
        vendor: the adapter (its vendor contract).
        intents: where intents are recorded.
        call: the engine's retrying wrapper, ``call(fn, what)``.
        claims: the claim on the spec (None: a single-process submitter, for tests of the vendor half).
        clock: the clock losers wait on.
        on_wait: called with a progress line at each look while another process holds the claim
            (the CLI shows it on a terminal); without it, the wait is logged as a warning now and then.
    """

    def __init__(
        self,
        vendor: Vendor,
        intents: IntentStore,
        call: Callable[[Callable[[], Any], str], Any],
        *,
        claims: Claims | None = None,
        clock: Clock = SYSTEM_CLOCK,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.vendor = vendor
        self.intents = intents
        self.call = call
        self.claims = claims
        self.clock = clock
        self.on_wait = on_wait

    def describe_once(self, ref: JobRef, key: str | None = None) -> JobStatus | None:
        """Describe ``ref`` with retries; ``None`` if the vendor no longer knows it (as ``key``'s job)."""
        return describe_or_none(self.vendor, self.call, ref, key)

    def adoptable(self, digest: str) -> tuple[JobRef, str, JobStatus] | None:
        """The newest job submitted for this spec, with its key and status, if it may be adopted."""
        for intent in self.intents.for_spec(digest):  # newest first
            key = intent.submission_key
            if intent.job is None:
                # Crashed (or lost the response) between create and persist: is the job there after all?
                found: JobRef | None = self.call(
                    functools.partial(self.vendor.find_job, key), f"find job {key}"
                )
                if found is None:
                    continue
                status = self.describe_once(found, key)
                # Either way the intent now names its job, so its key is never reused for another.
                self.intents.write(intent.model_copy(update={"job": found, "written_at": _now()}))
                if status is not None and status.state in ADOPTABLE:
                    return found, key, status
                return None  # it was created but ended badly: start afresh
            status = self.describe_once(intent.job, key)
            if status is None or status.state not in ADOPTABLE:
                return None  # the newest job for this spec is gone or ended badly: submit afresh
            return intent.job, key, status
        return None

    def begin(self, digest: str, *, new: bool, key: str | None = None) -> Intent:
        """Record the intent to submit under ``key`` (else a crashed submission's key unless ``new``)."""
        key = key or (None if new else self.intents.pending_key(digest)) or new_submission_key()
        intent = Intent(submission_key=key, spec_hash=digest, adapter=self.vendor.adapter_name)
        self.intents.write(intent)
        return intent

    def finish(self, intent: Intent, ref: JobRef) -> None:
        """Record the job the intent got."""
        self.intents.write(intent.model_copy(update={"job": ref, "written_at": _now()}))

    def submit(self, spec: dict[str, Any], digest: str, *, new: bool) -> Submission:
        """Adopt the spec's job, or claim the spec and create it; wait while another process holds it.

        Raises:
            SubmissionBusy: another live process held the claim for longer than the policy's wait.
        """
        if self.claims is None:
            return self._unclaimed(spec, digest, new=new)
        claims, policy = self.claims, self.claims.policy
        started, looks = self.clock.now(), 0
        while True:
            current = claims.current()
            if (
                current is not None
                and current.state is ClaimState.HELD
                and not current.holder_gone(policy.takeover_settle_seconds)
            ):
                waited = self.clock.now() - started
                if waited >= policy.wait_seconds:
                    raise SubmissionBusy(_busy_message(current, waited))
                limit = policy.wait_seconds
                text = f"{_holder_text(current)}; waiting for its job ({waited:.0f} of {limit:.0f} s)"
                if self.on_wait is not None:
                    self.on_wait(text)
                elif looks % 40 == 0:  # once at the start, then about every 80 s
                    log.warning("%s", text)
                self.clock.sleep(min(_pause(looks, policy), policy.wait_seconds - waited))
                looks += 1
                continue
            takeover = current is not None and current.key_may_have_job
            if not new and not takeover:
                adopted = self.adoptable(digest)
                if adopted is not None:
                    ref, key, status = adopted
                    return Submission(ref, key, status, adopted=True)
            reused = self.intents.pending_key(digest) if not (new or takeover) else None
            if takeover:
                assert current is not None
                key = current.submission_key  # the claim fixed the key: a job made under it is found by it
            else:
                key = reused or new_submission_key()
            mine = claims.take(key, after=current)
            if mine is None:
                continue  # another process took this generation first: look again
            if takeover:
                assert current is not None
                h = current.holder
                log.warning(
                    "taking over submission %s from process %s on %s: it is gone (claim lapsed or process "
                    "exited); looking the key up before creating anything",
                    key,
                    h.pid,
                    h.host,
                )
            try:
                return self._create_claimed(spec, digest, mine, look_first=takeover or reused is not None)
            except _ClaimLost:
                continue

    def complete(self, submission: Submission) -> None:
        """After ``job.json`` is safe: record the job in the intent and close the claim."""
        if submission.intent is not None:
            self.finish(submission.intent, submission.ref)
        if self.claims is not None and submission.claim is not None:
            self.claims.release(submission.claim, ClaimState.DONE, job=submission.ref)

    def abandon(self, submission: Submission) -> None:
        """Close the claim when the job could not be recorded; its key stays, so a rerun looks it up."""
        if self.claims is not None and submission.claim is not None:
            _release_quietly(self.claims, submission.claim, unknown=True)

    def _create_claimed(
        self, spec: dict[str, Any], digest: str, mine: Claim, *, look_first: bool
    ) -> Submission:
        claims = self.claims
        assert claims is not None
        holding = [mine]

        def before_retry() -> None:
            # Renew the lease before each retry, and stop if a taker decided this process was gone.
            if not claims.is_mine(holding[-1]):
                raise _ClaimLost
            holding.append(claims.renew(holding[-1]))

        intent = self.begin(digest, new=True, key=mine.submission_key)
        try:
            ref, found = self.create_reporting(
                spec, mine.submission_key, look_first=look_first, before_retry=before_retry
            )
        except _ClaimLost:
            raise
        except BaseException as exc:
            # A permanent refusal created nothing; anything else (lost response, interrupt) may have.
            _release_quietly(claims, holding[-1], unknown=not isinstance(exc, PermanentError))
            raise
        status = (
            self.describe_once(ref, mine.submission_key) if found else None
        )  # an adopted job's own status, as on any adoption
        return Submission(ref, mine.submission_key, status, adopted=found, intent=intent, claim=holding[-1])

    def _unclaimed(self, spec: dict[str, Any], digest: str, *, new: bool) -> Submission:
        adopted = None if new else self.adoptable(digest)
        if adopted is not None:
            ref, key, status = adopted
            return Submission(ref, key, status, adopted=True)
        intent = self.begin(digest, new=new)
        ref, found = self.create_reporting(spec, intent.submission_key, look_first=not new)
        return Submission(ref, intent.submission_key, adopted=found, intent=intent)

    def create(self, spec: dict[str, Any], key: str) -> JobRef:
        """Create the job labelled ``key`` exactly once: look the key up before every retry."""
        return self.create_reporting(spec, key)[0]

    def create_reporting(
        self,
        spec: dict[str, Any],
        key: str,
        *,
        look_first: bool = False,
        before_retry: Callable[[], None] | None = None,
    ) -> tuple[JobRef, bool]:
        """Create the job labelled ``key`` exactly once; also say whether it was found rather than made.

        With ``look_first`` the key is looked up before the first attempt too (a key used before). A vendor
        whose create is idempotent per key (``idempotent_create``: a client-chosen ID derived from it, a
        repeat refused and adopted inside ``submit_job``) is never looked up before a create: the vendor's
        own refusal is the check, with no window in which a new job is not yet listed.
        """
        attempts = 0
        look_up = not getattr(self.vendor, "idempotent_create", False)

        def attempt() -> tuple[JobRef, bool]:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and before_retry is not None:
                before_retry()
            if look_up and (attempts > 1 or look_first):
                found = self.vendor.find_job(key)
                if found is not None:
                    log.info("adopted job %s created earlier under key %s", found.job_id, key)
                    return found, True
            try:
                return self.vendor.submit_job(spec, key), False
            except OutcomeUnknown as exc:
                raise _Reconcile(str(exc), vendor=exc.vendor, code=exc.code, status=exc.status) from exc

        try:
            result: tuple[JobRef, bool] = self.call(attempt, f"create job {key}")
        except _Reconcile as exc:
            found = self.call(lambda: self.vendor.find_job(key), f"find job {key}")
            if found is not None:
                return found, True
            raise OutcomeUnknown(
                f"could not tell whether job {key} was created ({exc}); run train again: it looks the "
                "submission key up before creating anything",
                vendor=exc.vendor,
            ) from exc
        return result


def _release_quietly(claims: Claims, claim: Claim, *, unknown: bool) -> None:
    try:
        claims.release(claim, ClaimState.ABANDONED, unknown=unknown)
    except Exception as cleanup:  # never hide the real error behind a failed clean-up
        log.warning("could not release the claim on %s: %s", claim.submission_key, cleanup)


def _holder_text(claim: Claim | None) -> str:
    if claim is None:
        return "no one"
    h = claim.holder
    return (
        f"process {h.pid} on {h.host} is submitting this spec (key {claim.submission_key}, claimed "
        f"{claim.claimed_at:%Y-%m-%d %H:%M:%S} UTC)"
    )


def _busy_message(claim: Claim, waited: float) -> str:
    return (
        f"{_holder_text(claim)} and has not finished after {waited:.0f} s of waiting; run train again "
        f"later to adopt its job (its claim lapses {claim.lease_seconds:.0f} s after its last renewal)"
    )


def _pause(looks: int, policy: ClaimPolicy) -> float:
    # Workspace reads only; start fast (a create takes tens of ms), then settle at 2 s.
    return float(min(2.0, policy.check_interval * 2 ** min(looks, 8)))
