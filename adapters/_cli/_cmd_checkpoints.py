"""The ``checkpoints`` commands: list, show and delete the handles of a workspace."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from checkpoint import ModelCheckpoint
from checkpoint._errors import CheckpointNotFound

from .._loading import NotAJobCheckpoint, bundle_files, job_record_json, read_job_record
from ._exit_codes import EXIT_ERROR, EXIT_OK, UsageError
from ._output import Output, _is_tty
from ._workspaces import _checkpoint_url, _workspace


def cmd_checkpoints_list(args: argparse.Namespace, out: Output) -> int:
    """Plugin instances of the workspace, or the handles of one."""
    ws = _workspace(args)
    if args.instance is None:
        instances = ws.list_plugin_instances()
        if out.json_mode:
            out.emit(
                {
                    "workspace": ws.url,
                    "instances": [{"pluginInstance": p, "handles": ws.list_handles(p)} for p in instances],
                }
            )
        elif not instances:
            out.line(f"no plugin instances in {ws.url}")
        else:
            out.table(["INSTANCE", "HANDLES"], [[p, ", ".join(ws.list_handles(p))] for p in instances])
        return EXIT_OK
    handles = ws.list_handles(args.instance)
    if not handles:
        raise UsageError(
            f"no plugin instance {args.instance!r} in {ws.url}; instances: "
            f"{', '.join(ws.list_plugin_instances()) or 'none'}"
        )
    if out.json_mode:
        out.emit({"workspace": ws.url, "pluginInstance": args.instance, "handles": handles})
    else:
        for handle in handles:
            out.line(handle)
    return EXIT_OK


def cmd_checkpoints_show(args: argparse.Namespace, out: Output) -> int:
    """A handle's ``job.json``, or the files of its bundle when it is not a job checkpoint."""
    ws = _workspace(args)
    checkpoint = ModelCheckpoint(ws, args.instance, args.handle)
    checkpoint.download_model_bundle()
    base: dict[str, Any] = {
        "workspace": ws.url,
        "pluginInstance": checkpoint.plugin_instance_id,
        "handle": checkpoint.handle,
        "checkpoint": _checkpoint_url(ws, checkpoint.archive_path_in_workspace()),
    }
    try:
        record = read_job_record(ws, args.instance, args.handle)
    except NotAJobCheckpoint:
        files = bundle_files(checkpoint.folder_path_on_disk())
        if out.json_mode:
            out.emit({**base, "kind": "files", "files": [{"path": p, "size": s} for p, s in files]})
        else:
            out.table(["SIZE", "PATH"], [[str(s), p] for p, s in files])
        return EXIT_OK
    if out.json_mode:
        out.emit({**base, "kind": "job", "job": job_record_json(record)})
    else:
        out.line(json.dumps(job_record_json(record), indent=2, ensure_ascii=False))
    return EXIT_OK


def cmd_checkpoints_delete(args: argparse.Namespace, out: Output) -> int:
    """Delete one handle, after confirmation (``--yes``, or a "y" typed at a terminal)."""
    ws = _workspace(args)
    if not ws.has_handle(args.instance, args.handle):
        raise CheckpointNotFound(ws.url, args.instance, args.handle, ws.list_handles(args.instance))
    what = f"checkpoint {args.instance}/{args.handle} in {ws.url}"
    if not args.yes:
        if not _is_tty(sys.stdin):
            # Nobody can answer a prompt: deleting silently would be a surprise, so refuse.
            raise UsageError(f"refusing to delete {what} without --yes (stdin is not a terminal)")
        note = ""
        if args.handle == ModelCheckpoint.DEFAULT_HANDLE:
            note = " (if it is a job's reference, the job itself is not cancelled)"
        sys.stderr.write(f"delete {what}{note}? [y/N] ")
        sys.stderr.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            out.line("not deleted")
            return EXIT_ERROR  # declined: nothing was done, but the usage was right
    ws.delete_handle(args.instance, args.handle)
    if out.json_mode:
        out.emit(
            {"workspace": ws.url, "pluginInstance": args.instance, "handle": args.handle, "deleted": True}
        )
    else:
        out.line(f"deleted {what}")
    return EXIT_OK
