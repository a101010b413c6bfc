"""What happened to an instance: ``jobs`` (every job it has had), ``events`` (its status log) and ``logs``."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from checkpoint import Workspace

from .._history import HistoryEntry, instance_history, status_events
from .._jobs import JobStatus
from .._loading import load_job, read_job_record
from ._exit_codes import EXIT_OK, UsageError
from ._output import Output, _status_json, shorten
from ._waiting import _apply_poll_interval
from ._workspaces import _workspace


def _when(at: datetime) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _unknown(ws: Workspace, pid: str) -> UsageError:
    return UsageError(f"no plugin instance {pid!r} in {ws.url} (`jobferry jobs` lists them)")


def _entry_json(pid: str, e: HistoryEntry) -> dict[str, Any]:
    return {
        "pluginInstance": pid,
        "submissionKey": e.submission_key,
        "adapter": e.adapter,
        "submitted": e.created.isoformat(),
        "role": e.role,
        "jobId": e.job_id,
        "resources": e.resources,
        "lastStatus": _status_json(e.last_status),
    }


def cmd_jobs(args: argparse.Namespace, out: Output) -> int:
    """Every job an instance (or every instance) has had, newest first."""
    from ._cmd_jobs import _instances

    ws = _workspace(args)
    pids = [args.instance] if args.instance is not None else _instances(ws)
    history = {pid: instance_history(ws, pid) for pid in pids}
    if args.instance is not None and not history[args.instance]:
        raise _unknown(ws, args.instance)
    if out.json_mode:
        out.emit({"workspace": ws.url, "jobs": [_entry_json(p, e) for p, es in history.items() for e in es]})
        return EXIT_OK
    one = args.instance is not None  # one instance: no INSTANCE column, room for the job's name
    rows = [
        [
            *([] if one else [pid]),
            e.created.astimezone().strftime("%m-%d %H:%M:%S"),
            e.role,
            shorten(e.job_id or f"(key {e.submission_key})", 40 if one else 28),
            out.state(e.last_status) if e.last_status else "-",
        ]
        for pid, entries in history.items()
        for e in entries
    ]
    if not rows:
        out.line(f"no plugin instances in {ws.url}")
        return EXIT_OK
    header = ["SUBMITTED", "ROLE", "JOB", "LAST KNOWN STATE"]
    out.table(header if one else ["INSTANCE", *header], rows, fit=True)
    return EXIT_OK


def _event_json(at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    retry = data.get("retry")
    if isinstance(retry, dict):
        return {
            "event": "retry",
            "at": at.isoformat(),
            "what": retry.get("what"),
            "attempt": retry.get("attempt"),
            "error": retry.get("error"),
            "sleep": retry.get("sleep"),
            "message": f"retrying {retry.get('what')} (attempt {retry.get('attempt')} failed: "
            f"{retry.get('error')}; next in {retry.get('sleep')} s)",
        }
    task = data.get("status") or {}
    record = task.get("remoteStatusInput") or {}
    return {
        "event": "status",
        "at": at.isoformat(),
        "jobId": (record.get("job") or {}).get("jobId"),
        "submissionKey": record.get("submissionKey"),
        "state": task.get("state"),
        "message": task.get("statusMessage"),
        "status": task.get("remoteStatusOutput"),
    }


def _submission_events(history: list[HistoryEntry]) -> list[tuple[datetime, dict[str, Any]]]:
    return [
        (
            e.created,
            {
                "event": "submitted",
                "at": e.created.isoformat(),
                "jobId": e.job_id,
                "submissionKey": e.submission_key,
                "message": f"submitted {e.job_id or '(no job recorded)'} ({e.adapter}, key "
                f"{e.submission_key}): {e.role}",
            },
        )
        for e in history
    ]


class _EventPrinter:
    """Prints events once each, in time order, as text lines or JSON Lines."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.seen: set[tuple[str, str]] = set()

    def show(self, events: list[tuple[datetime, dict[str, Any]]]) -> None:
        for at, event in sorted(events, key=lambda e: e[0]):
            ident = (event["at"], f"{event.get('submissionKey')}{event['event']}{event.get('attempt')}")
            if ident in self.seen:
                continue
            self.seen.add(ident)
            if self.out.json_mode:
                self.out.emit(event)
                continue
            text = event.get("message") or ""
            if event["event"] == "status" and event.get("status"):
                text = self.out.state(JobStatus.model_validate(event["status"]))
            job = f"  {shorten(event['jobId'])}" if event.get("jobId") and event["event"] == "status" else ""
            self.out.line(f"{_when(at)}  {text}{job}")


def _events(ws: Workspace, pid: str) -> list[tuple[datetime, dict[str, Any]]]:
    logged = [(at, _event_json(at, data)) for at, data in status_events(ws, pid)]
    return _submission_events(instance_history(ws, pid)) + logged


def cmd_events(args: argparse.Namespace, out: Output) -> int:
    """The instance's events (submissions and its status log), oldest first; --follow polls until the end."""
    ws = _workspace(args)
    events = _events(ws, args.instance)
    if not events:
        raise _unknown(ws, args.instance)
    printer = _EventPrinter(out)
    printer.show(events)
    if not args.follow:
        return EXIT_OK
    model = load_job(ws, args.instance, args.handle)
    _apply_poll_interval(model, args.poll_interval)
    # The one poll loop: every change it sees is posted to the status log, and printed from there (with
    # whatever other processes posted meanwhile).
    for _ in model.watch(args.timeout):
        printer.show(_events(ws, args.instance))
    printer.show(_events(ws, args.instance))
    return EXIT_OK


def cmd_logs(args: argparse.Namespace, out: Output) -> int:
    """The job's own log (the local adapter's log.txt), read from its job directory."""
    from ..local._jobdir import LOG

    ws = _workspace(args)
    record = read_job_record(ws, args.instance, args.handle)
    folder = record.job.resources.get("job_dir") if record.job else None
    if record.adapter != "local" or not folder:
        raise UsageError(
            f"{args.instance} runs on {record.adapter!r}: jobferry reads job logs of the local adapter only "
            "(a vendor's logs are in its console; `jobferry events` shows what jobferry saw)"
        )
    path = Path(folder) / LOG
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise UsageError(f"{args.instance}: no log at {path} (removed by `jobferry local gc`?)") from None
    if out.json_mode:
        out.emit(
            {
                "pluginInstance": args.instance,
                "jobId": record.job.job_id if record.job else None,
                "path": str(path),
                "log": text,
            }
        )
    else:
        out.stdout.write(text)
        out.stdout.flush()
    return EXIT_OK
