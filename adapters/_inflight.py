"""Submissions in flight: a claim or an intent that no ``job.json`` names yet.

A job may exist at the vendor before its checkpoint does (the holder is creating it, or it died between
create and persist). ``jobferry status`` shows such a plugin instance as *submitting* or *outcome unknown*
instead of "no checkpoint", and says how to reconcile: run ``jobferry train`` again, which looks the
submission key up before creating anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from checkpoint import Workspace

from ._claim import CLAIMS_DIR, ClaimPolicy, Claims, ClaimState
from ._submission import IntentStore

__all__ = ["InFlight", "RECONCILE_HINT", "submissions_in_flight"]

RECONCILE_HINT = "run `jobferry train` on its spec again to reconcile (it looks the key up before creating)"


@dataclass(frozen=True)
class InFlight:
    """One submission that no checkpoint names.

    Attributes:
        submission_key: the key its job is (or would be) labelled with.
        adapter: the adapter that submits it.
        since: when it was claimed (or its intent written).
        state: ``"submitting"`` (a live process holds its claim) or ``"outcome unknown"``.
        holder: who holds or held the claim (``"process 123 on host"``), if known.
    """

    submission_key: str
    adapter: str
    since: datetime
    state: str
    holder: str | None = None

    def describe(self) -> str:
        """One line for humans."""
        who = f" by {self.holder}" if self.holder else ""
        when = self.since.strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{self.state} (key {self.submission_key}, {self.adapter}, since {when}{who})"


def submissions_in_flight(
    workspace: Workspace, plugin_instance_id: str, *, known_key: str | None = None
) -> list[InFlight]:
    """The submissions of ``plugin_instance_id`` whose job no checkpoint names (``known_key``'s excluded)."""
    found: dict[str, InFlight] = {}
    settled = {known_key}  # keys whose outcome is known: a refused create made nothing
    for digest in workspace.list_dirs(f"{plugin_instance_id}/{CLAIMS_DIR}"):
        claim = Claims(workspace, plugin_instance_id, digest, "", ClaimPolicy()).current()
        if claim is None or claim.submission_key in settled:
            continue
        holder = f"process {claim.holder.pid} on {claim.holder.host}"
        if claim.state is ClaimState.HELD:
            live = not claim.holder_gone(ClaimPolicy().takeover_settle_seconds)
            state = "submitting" if live else "outcome unknown"
        elif claim.outcome_unknown:
            state = "outcome unknown"
        else:
            settled.add(claim.submission_key)
            continue
        found[claim.submission_key] = InFlight(
            claim.submission_key, claim.adapter, claim.claimed_at, state, holder
        )
    for intent in IntentStore(workspace, plugin_instance_id).all():
        key = intent.submission_key
        if intent.job is None and key not in settled and key not in found:
            found[key] = InFlight(key, intent.adapter, intent.written_at, "outcome unknown")
    return sorted(found.values(), key=lambda f: f.since, reverse=True)
