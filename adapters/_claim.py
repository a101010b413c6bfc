"""Claims: one process at a time submits a given spec to a given plugin instance, on every backend.

A claim is a sequence of small records, one per *generation*, each written with the workspace's
create-if-absent write (:meth:`checkpoint.Workspace.create_bytes`: ``link(2)`` locally,
``ifGenerationMatch=0`` on GCS, ``If-None-Match: *`` on S3)::

    {plugin_instance_id}/claims/{spec_hash}/{generation:08d}.json

The highest generation is the claim's state. Taking a claim means creating the next generation; of many
processes that try, exactly one succeeds, and it alone may call the vendor. Nothing is ever deleted, so a
slow reader can never see an older generation as the newest one.

A generation is ``held`` (its holder is submitting), ``done`` (the job is safe in ``job.json``) or
``abandoned`` (the holder gave up; ``outcome_unknown`` when a create may have reached the vendor). A held
claim whose holder is gone -- its process is dead on this machine, or it has not renewed within the lease
-- may be taken over by creating the next generation; the taker keeps the submission key, so the label
look-up finds a job the dead holder did create.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from checkpoint import Workspace

from ._jobs import JobRef
from ._messages import CamelModel

log = logging.getLogger(__name__)

__all__ = ["CLAIMS_DIR", "Claim", "ClaimPolicy", "ClaimState", "Claims", "Holder"]

CLAIMS_DIR = "claims"


class ClaimPolicy(BaseModel):
    """How long a claim lasts and how long its losers wait (a policy: never part of the job).

    Attributes:
        lease_seconds: a held claim not renewed for this long is taken over. The holder renews before each
            create attempt, so this must exceed the longest single create call (the vendor call timeout).
        wait_seconds: how long a process that lost the claim waits for the winner's job before giving up.
        takeover_settle_seconds: after a holder's process is seen dead on this machine, how long since its
            last renewal to wait before looking its key up: a create it sent just before dying may still be
            landing at the vendor.
        check_interval: the first pause between looks at a claim held by another process (it doubles up to
            2 s): workspace reads only, never vendor calls.
    """

    # Built on first use, not at import (see adapters._messages.CamelModel).
    model_config = ConfigDict(extra="forbid", defer_build=True)

    lease_seconds: float = Field(default=300.0, gt=0)
    wait_seconds: float = Field(default=900.0, ge=0)
    takeover_settle_seconds: float = Field(default=2.0, ge=0)
    check_interval: float = Field(default=0.05, gt=0)


class ClaimState(StrEnum):
    """Where one generation of a claim stands."""

    HELD = "held"
    DONE = "done"
    ABANDONED = "abandoned"


def _boot_id() -> str:
    # Two machines may share a hostname (cloned VMs); a boot ID tells them (and reboots) apart.
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> str | None:
    """The start time of ``pid`` (Linux ``/proc``), which a recycled PID does not share; None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if len(fields) < 20 or fields[0] == "Z":  # a zombie is dead, only not yet reaped
        return ""
    return fields[19]


class Holder(CamelModel):
    """Who holds a claim: enough to tell, from the same machine, whether that process still lives."""

    host: str
    boot_id: str = ""
    pid: int
    started: str | None = None
    token: str

    @classmethod
    def me(cls) -> Holder:
        """This process."""
        pid = os.getpid()
        return cls(
            host=socket.gethostname(),
            boot_id=_boot_id(),
            pid=pid,
            started=_start_ticks(pid),
            token=uuid.uuid4().hex,
        )

    def is_dead(self) -> bool:
        """True only when this holder's process is certainly gone (it ran on this machine and has exited)."""
        if self.host != socket.gethostname() or self.boot_id != _boot_id():
            return False  # another machine (or an earlier boot of this one: then the lease decides)
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, owned by someone else
        started = _start_ticks(self.pid)
        return started == "" or (started is not None and self.started is not None and started != self.started)


def _now() -> datetime:
    return datetime.now(UTC)


class Claim(CamelModel):
    """One generation of the claim on a spec."""

    generation: int = Field(ge=1)
    submission_key: str
    spec_hash: str
    adapter: str
    state: ClaimState = ClaimState.HELD
    holder: Holder
    claimed_at: datetime = Field(default_factory=_now)
    renewed_at: datetime = Field(default_factory=_now)
    lease_seconds: float
    outcome_unknown: bool = False
    job: JobRef | None = None

    def lapsed(self, now: datetime | None = None) -> bool:
        """True when the holder has not renewed within its lease."""
        return (now or _now()) > self.renewed_at + timedelta(seconds=self.lease_seconds)

    def holder_gone(self, settle: float) -> bool:
        """True when a held claim may be taken over: lapsed, or its process dead and ``settle`` s passed."""
        if self.state is not ClaimState.HELD:
            return False
        if self.lapsed():
            return True
        return self.holder.is_dead() and _now() >= self.renewed_at + timedelta(seconds=settle)

    @property
    def key_may_have_job(self) -> bool:
        """True when a create under this generation's key may have reached the vendor."""
        return self.state is ClaimState.HELD or self.outcome_unknown


class Claims:
    """The claim on one spec of one plugin instance.

    Args:
        workspace: where the claim lives.
        plugin_instance_id: the (validated) plugin instance.
        digest: the spec hash.
        adapter: the adapter's registered name (recorded for humans).
        policy: lease and wait settings.
    """

    def __init__(
        self, workspace: Workspace, plugin_instance_id: str, digest: str, adapter: str, policy: ClaimPolicy
    ) -> None:
        self.workspace = workspace
        self.dir = f"{plugin_instance_id}/{CLAIMS_DIR}/{digest}"
        self.digest = digest
        self.adapter = adapter
        self.policy = policy
        self.me = Holder.me()

    def _rel(self, generation: int) -> str:
        return f"{self.dir}/{generation:08d}.json"

    def current(self) -> Claim | None:
        """The newest readable generation, or None when the spec was never claimed."""
        for name in reversed(self.workspace.list_records(self.dir)):
            raw = self.workspace.read_bytes(f"{self.dir}/{name}")
            if not raw:
                continue
            try:
                return Claim.model_validate_json(raw)
            except ValidationError as exc:
                log.warning("ignoring unreadable claim record %s/%s: %s", self.dir, name, exc)
        return None

    def take(self, submission_key: str, after: Claim | None) -> Claim | None:
        """Create the generation after ``after`` for ``submission_key``; None if another process did first."""
        claim = Claim(
            generation=(after.generation + 1) if after is not None else 1,
            submission_key=submission_key,
            spec_hash=self.digest,
            adapter=self.adapter,
            holder=self.me,
            lease_seconds=self.policy.lease_seconds,
        )
        data = claim.model_dump_json(by_alias=True).encode()
        if not self.workspace.create_bytes(self._rel(claim.generation), data):
            return None
        return claim

    def is_mine(self, claim: Claim) -> bool:
        """True while no other process has taken the claim over since ``claim``."""
        current = self.current()
        return (
            current is not None
            and current.generation == claim.generation
            and (current.holder.token == self.me.token)
        )

    def renew(self, claim: Claim) -> Claim:
        """Extend the lease of a claim this process holds (its own generation: a plain overwrite)."""
        renewed = claim.model_copy(update={"renewed_at": _now()})
        self.workspace.write_bytes(
            self._rel(claim.generation), renewed.model_dump_json(by_alias=True).encode()
        )
        return renewed

    def release(
        self, claim: Claim, state: ClaimState, *, job: JobRef | None = None, unknown: bool = False
    ) -> None:
        """Close a generation this process holds: ``done`` with its job, or ``abandoned``."""
        closed = claim.model_copy(
            update={"state": state, "job": job, "outcome_unknown": unknown, "renewed_at": _now()}
        )
        self.workspace.write_bytes(
            self._rel(claim.generation), closed.model_dump_json(by_alias=True).encode()
        )
