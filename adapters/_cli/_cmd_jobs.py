"""The commands of a job's life: ``train``, ``status``, ``wait`` and ``cancel``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from checkpoint import ModelCheckpoint, Workspace
from checkpoint._errors import CheckpointNotFound

from .._errors import SpecError
from .._inflight import RECONCILE_HINT, InFlight, submissions_in_flight
from .._jobs import JobRecord
from .._loading import NotAJobCheckpoint, load_job, read_job_record
from .._spec import JobSpec, load_spec
from ._exit_codes import EXIT_OK
from ._output import Output, _status_json, shorten
from ._waiting import _apply_poll_interval, _wait, show_retries
from ._workspaces import _checkpoint_url, _workspace


def cmd_train(args: argparse.Namespace, out: Output) -> int:
    """Submit (or adopt) the job a spec describes; optionally wait for it."""
    spec = load_spec(args.spec)
    ws = spec.resolve_workspace(args.workspace)
    if args.dry_run:
        return _dry_run(spec, ws, out)
    model = spec.build_model(ws)
    model.on_submission_wait = out.progress
    response = model.train(spec.train_request(ws), new=args.new)
    key = (response.data.archive_path if response.data else None) or ws.bundle_key(
        spec.plugin_instance, ModelCheckpoint.DEFAULT_HANDLE
    )
    job_id = model.job.job_id
    last = model.record.last_status if model.record else None
    if out.json_mode:
        out.emit(
            {
                "event": "submitted",
                "jobId": job_id,
                "adapter": spec.adapter,
                "pluginInstance": spec.plugin_instance,
                "workspace": ws.url,
                "checkpoint": _checkpoint_url(ws, key),
                "lastStatus": _status_json(last),
            }
        )
    else:
        out.line(f"job:        {job_id}")
        out.line(f"checkpoint: {_checkpoint_url(ws, key)}")
        if last is not None:
            # An adopted job's status is already known; show it so a re-run says where the job stands.
            out.line(f"status:     {out.state(last)}")
    if not args.wait:
        return EXIT_OK
    # After train(): the record's connection (which some adapters persist the poll policy in) is written.
    _apply_poll_interval(model, args.poll_interval)
    timeout: float | None = args.timeout
    return _wait(model, timeout, out)


def _dry_run(spec: JobSpec, ws: Workspace, out: Output) -> int:
    """Check everything train checks before its first effect; print what it would submit; do nothing."""
    model = spec.adapter_class()
    model.receive_config(spec.adapter_config)
    try:
        found = model.preflight(spec.train_input)
    except SpecError as exc:
        raise SpecError(f"{spec.source}: {exc}") from None
    found.update(pluginInstance=spec.plugin_instance, workspace=ws.url)
    if out.json_mode:
        out.emit({"event": "dryRun", **found})
        return EXIT_OK
    out.line(f"{spec.source}: valid; nothing submitted, nothing written")
    out.line(f"adapter:      {found['adapter']}")
    out.line(f"instance:     {spec.plugin_instance} in {ws.url}")
    out.line(
        f"credentials:  {found['credentials']}"
        + (f" ({found['credentialsFile']})" if found["credentialsFile"] else "")
    )
    for key in ("entrypoint", "cwd", "trainingData"):
        if key in found:
            out.line(f"{key + ':':<13} {found[key]}")
    out.line("connection:   " + json.dumps(found["connection"], sort_keys=True))
    out.line("job spec (what the adapter submits):")
    out.line("  " + json.dumps(found["jobSpec"], indent=2, sort_keys=True, default=str).replace("\n", "\n  "))
    return EXIT_OK


def _record_row(pid: str, record: JobRecord | None, note: str = "") -> list[str]:
    if record is None:
        return [pid, "-", "-", note]
    # Resource names are shortened to fit the table: the full one is in --json and `status INSTANCE`.
    job = shorten(record.job.job_id, 28) if record.job else "-"
    return [pid, record.adapter, job, ""]


def cmd_status(args: argparse.Namespace, out: Output) -> int:
    """One job's live status, or every plugin instance's last known status."""
    ws = _workspace(args)
    if args.instance is not None:
        try:
            model = load_job(ws, args.instance, args.handle)
        except CheckpointNotFound:
            flying = submissions_in_flight(ws, args.instance) if args.handle in (None, "default") else []
            if not flying:
                raise
            return _show_in_flight(args.instance, flying, out)
        show_retries(model, out, args.instance)
        status = model.refresh()
        out.end_progress()
        assert model.record is not None
        # A later submission (train --new) that was interrupted: the checkpoint still names the old job.
        others = submissions_in_flight(ws, args.instance, known_key=model.record.submission_key)
        if out.json_mode:
            out.emit(
                {
                    "pluginInstance": args.instance,
                    "adapter": model.record.adapter,
                    "jobId": model.job.job_id,
                    "resources": model.job.resources,
                    "terminal": status.is_terminal,
                    "status": _status_json(status),
                    "inFlight": [_in_flight_json(f) for f in others],
                }
            )
        else:
            out.line(f"{args.instance}: job {model.job.job_id} ({model.record.adapter}) {out.state(status)}")
            for one in others:
                out.line(f"  and a later submission is {one.describe()}")
            if others:
                out.line(f"  {RECONCILE_HINT}")
        return EXIT_OK

    entries: list[dict[str, Any]] = []
    rows: list[list[str]] = []
    for pid in _instances(ws):
        entry: dict[str, Any] = {"pluginInstance": pid}
        try:
            record = read_job_record(ws, pid)
        except CheckpointNotFound:
            flying = submissions_in_flight(ws, pid)
            if flying:
                entry["inFlight"] = [_in_flight_json(f) for f in flying]
                # The whole description and what to run are in `status INSTANCE`; here, what it is.
                rows.append(_record_row(pid, None, f"{flying[0].state}: `jobferry status {pid}`"))
                rows[-1][1] = flying[0].adapter
            else:
                entry["note"] = "no default handle"
                rows.append(_record_row(pid, None, "(no default handle)"))
        except NotAJobCheckpoint:
            entry["note"] = "not a job checkpoint"
            rows.append(_record_row(pid, None, "(not a job checkpoint)"))
        else:
            entry.update(
                adapter=record.adapter,
                jobId=record.job.job_id if record.job else None,
                lastStatus=_status_json(record.last_status),
            )
            row = _record_row(pid, record)
            last = record.last_status
            row[-1] = (
                f"{last.polled_at.astimezone().strftime('%m-%d %H:%M')}  {out.state(last)}"
                if last is not None
                else "(never polled)"
            )
            later = submissions_in_flight(ws, pid, known_key=record.submission_key)
            if later:  # a train --new interrupted after its intent: say so, `status INSTANCE` says more
                entry["inFlight"] = [_in_flight_json(f) for f in later]
                row[-1] = f"(+ {later[0].state})  {row[-1]}"  # first: a narrow screen cuts the end
            rows.append(row)
        entries.append(entry)
    if out.json_mode:
        out.emit({"workspace": ws.url, "instances": entries})
    elif not rows:
        out.line(f"no plugin instances in {ws.url}")
    else:
        out.table(["INSTANCE", "ADAPTER", "JOB", "LAST KNOWN STATUS"], rows, fit=True)
    return EXIT_OK


def _instances(ws: Workspace) -> list[str]:
    # Instances with a handle, and those whose first submission is in flight (a folder, no handle yet).
    named = set(ws.list_plugin_instances())
    for folder in ws.list_instance_folders():
        if folder not in named and submissions_in_flight(ws, folder):
            named.add(folder)
    return sorted(named)


def _in_flight_json(flying: InFlight) -> dict[str, Any]:
    return {
        "submissionKey": flying.submission_key,
        "adapter": flying.adapter,
        "since": flying.since.isoformat(),
        "state": flying.state,
        "holder": flying.holder,
    }


def _show_in_flight(pid: str, flying: list[InFlight], out: Output) -> int:
    if out.json_mode:
        out.emit({"pluginInstance": pid, "jobId": None, "inFlight": [_in_flight_json(f) for f in flying]})
    else:
        for one in flying:
            out.line(f"{pid}: no checkpoint yet; a submission is {one.describe()}")
        out.line(RECONCILE_HINT)
    return EXIT_OK


def cmd_wait(args: argparse.Namespace, out: Output) -> int:
    """Wait for a job to end."""
    model = load_job(_workspace(args), args.instance, args.handle)
    _apply_poll_interval(model, args.poll_interval)
    return _wait(model, args.timeout, out)


def cmd_cancel(args: argparse.Namespace, out: Output) -> int:
    """Ask the vendor to cancel a job."""
    model = load_job(_workspace(args), args.instance, args.handle)
    show_retries(model, out, args.instance)
    status = model.cancel()
    if out.json_mode:
        out.emit({"pluginInstance": args.instance, "jobId": model.job.job_id, "status": _status_json(status)})
    else:
        out.line(f"cancel requested for job {model.job.job_id}: {out.state(status)}")
    return EXIT_OK
