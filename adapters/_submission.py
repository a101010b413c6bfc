"""Exactly-once submission: submission keys, intent records, adoption and reconciling a lost create.

::

    1. intent {submission key, spec hash} -> {instance}/intents/{key}.json   (before any vendor call)
    2. create at the vendor, labelled with the key     (retried; before each retry and after a lost
                                                        response the key is looked up first)
    3. job.json -> the instance's "default" handle    (the engine's part, right after)
    4. the intent records the job reference

A rerun for the same spec adopts the newest job submitted for it (running or succeeded); a crashed
submission's key is reused, so its label still finds the job it may have created.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from pydantic import Field, ValidationError

from adapters._errors import JobNotFound, OutcomeUnknown, TransientError
from checkpoint import Workspace

from ._jobs import JobRef, JobState, JobStatus
from ._messages import CamelModel

log = logging.getLogger(__name__)

__all__ = [
    "ADOPTABLE",
    "INTENTS_DIR",
    "Intent",
    "IntentStore",
    "Submitter",
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


def describe_or_none(
    vendor: Vendor, call: Callable[[Callable[[], Any], str], Any], ref: JobRef
) -> JobStatus | None:
    """Describe ``ref`` with retries; ``None`` if the vendor no longer knows it."""
    try:
        status: JobStatus = call(lambda: vendor.describe_job(ref), f"describe {ref.job_id}")
    except JobNotFound:
        return None
    return status


class _Reconcile(TransientError):
    """A create whose outcome is unknown: retry, but only after looking the submission key up."""


class Submitter:
    """Submits one spec exactly once for one adapter and plugin instance.

    Args:
        vendor: the adapter (its vendor contract).
        intents: where intents are recorded.
        call: the engine's retrying wrapper, ``call(fn, what)``.
    """

    def __init__(
        self, vendor: Vendor, intents: IntentStore, call: Callable[[Callable[[], Any], str], Any]
    ) -> None:
        self.vendor = vendor
        self.intents = intents
        self.call = call

    def describe_once(self, ref: JobRef) -> JobStatus | None:
        """Describe ``ref`` with retries; ``None`` if the vendor no longer knows it."""
        return describe_or_none(self.vendor, self.call, ref)

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
                status = self.describe_once(found)
                if status is not None and status.state in ADOPTABLE:
                    return found, key, status
                # It was created but ended badly: remember it, so the key is not reused, and start afresh.
                self.intents.write(intent.model_copy(update={"job": found}))
                return None
            status = self.describe_once(intent.job)
            if status is None or status.state not in ADOPTABLE:
                return None  # the newest job for this spec is gone or ended badly: submit afresh
            return intent.job, key, status
        return None

    def begin(self, digest: str, *, new: bool) -> Intent:
        """Record the intent to submit (reusing a crashed submission's key unless ``new``)."""
        key = (None if new else self.intents.pending_key(digest)) or new_submission_key()
        intent = Intent(submission_key=key, spec_hash=digest, adapter=self.vendor.adapter_name)
        self.intents.write(intent)
        return intent

    def finish(self, intent: Intent, ref: JobRef) -> None:
        """Record the job the intent got."""
        self.intents.write(intent.model_copy(update={"job": ref, "written_at": _now()}))

    def create(self, spec: dict[str, Any], key: str) -> JobRef:
        """Create the job labelled ``key`` exactly once: look the key up before every retry."""
        attempts = 0

        def attempt() -> JobRef:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                found = self.vendor.find_job(key)
                if found is not None:
                    log.info("adopted job %s created by an earlier attempt (key %s)", found.job_id, key)
                    return found
            try:
                return self.vendor.submit_job(spec, key)
            except OutcomeUnknown as exc:
                raise _Reconcile(str(exc), vendor=exc.vendor, code=exc.code, status=exc.status) from exc

        try:
            ref: JobRef = self.call(attempt, f"create job {key}")
        except _Reconcile as exc:
            found = self.call(lambda: self.vendor.find_job(key), f"find job {key}")
            if found is not None:
                return found  # type: ignore[no-any-return]
            raise OutcomeUnknown(
                f"could not tell whether job {key} was created ({exc}); run train again: it looks the "
                "submission key up before creating anything",
                vendor=exc.vendor,
            ) from exc
        return ref
