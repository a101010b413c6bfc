"""An instance's history: every job it has had, read from the workspace alone (no vendor call).

Each submission leaves an intent record (``intents/{key}.json``, written before the vendor is called and
completed with the job's reference, never deleted), so the jobs replaced by ``train --new`` and the
submissions whose outcome is unknown are all there. The current job is the one ``job.json`` names; the
state of the others is the last one the status log saw for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from checkpoint import StatusLog, Workspace
from checkpoint._errors import CheckpointNotFound

from ._inflight import submissions_in_flight
from ._jobs import JobRecord, JobStatus
from ._loading import NotAJobCheckpoint, read_job_record
from ._submission import IntentStore

__all__ = ["HistoryEntry", "instance_history", "status_events"]


@dataclass(frozen=True)
class HistoryEntry:
    """One submission of a plugin instance.

    Attributes:
        submission_key: the key its job is labelled with.
        adapter: the adapter that submitted it.
        created: when it was submitted (its intent or claim was written).
        role: ``"current"`` (``job.json`` names it), ``"replaced"`` (an earlier job), ``"submitting"`` or
            ``"outcome unknown"`` (no job reference recorded).
        job_id: the vendor's job ID or resource name, if known.
        resources: the vendor resource names recorded for it.
        last_status: the last status known for it (``job.json``'s, or the status log's), if any.
    """

    submission_key: str
    adapter: str
    created: datetime
    role: str
    job_id: str | None = None
    resources: dict[str, str] = field(default_factory=dict)
    last_status: JobStatus | None = None


def status_events(workspace: Workspace, plugin_instance_id: str) -> list[tuple[datetime, dict[str, Any]]]:
    """The instance's status log as ``(posted at, response JSON)``, oldest first."""
    return [(r.at, r.data) for r in StatusLog(workspace, plugin_instance_id).read()]


def _last_statuses(workspace: Workspace, plugin_instance_id: str) -> dict[str, JobStatus]:
    # The status log's newest status per submission key (each post carries the job record it polled).
    found: dict[str, JobStatus] = {}
    for _, data in status_events(workspace, plugin_instance_id):
        task = data.get("status") or {}
        record, seen = task.get("remoteStatusInput") or {}, task.get("remoteStatusOutput")
        key = record.get("submissionKey")
        if key and seen:
            found[key] = JobStatus.model_validate(seen)
    return found


def instance_history(workspace: Workspace, plugin_instance_id: str) -> list[HistoryEntry]:
    """Every job ``plugin_instance_id`` has had, newest first."""
    try:
        current: JobRecord | None = read_job_record(workspace, plugin_instance_id)
    except (CheckpointNotFound, NotAJobCheckpoint):
        current = None
    current_key = current.submission_key if current else None
    logged = _last_statuses(workspace, plugin_instance_id)
    entries: dict[str, HistoryEntry] = {}
    for flying in submissions_in_flight(workspace, plugin_instance_id, known_key=current_key):
        entries[flying.submission_key] = HistoryEntry(
            flying.submission_key, flying.adapter, flying.since, flying.state
        )
    for intent in IntentStore(workspace, plugin_instance_id).all():
        key = intent.submission_key
        if key in entries or (intent.job is None and key != current_key):
            continue  # in flight (above), or an intent whose create was refused: it made nothing
        job = current.job if key == current_key and current else intent.job
        status = current.last_status if key == current_key and current else None
        entries[key] = HistoryEntry(
            key,
            intent.adapter,
            intent.written_at,
            "current" if key == current_key else "replaced",
            job.job_id if job else None,
            dict(job.resources) if job else {},
            status or logged.get(key),
        )
    if current is not None and current_key not in entries and current.job is not None:
        # A record written without an intent (an adopted job, an older jobferry): still this instance's.
        status = current.last_status
        created = (status.create_time or status.polled_at) if status else None
        entries[current_key or current.job.job_id] = HistoryEntry(
            current_key or "",
            current.adapter,
            created or datetime.fromtimestamp(0).astimezone(),
            "current",
            current.job.job_id,
            dict(current.job.resources),
            status,
        )
    return sorted(entries.values(), key=lambda e: e.created, reverse=True)
