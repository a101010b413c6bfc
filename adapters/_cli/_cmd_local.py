"""``jobferry local gc``: remove the local adapter's finished job directories that no checkpoint needs."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from checkpoint import Workspace
from checkpoint._errors import CheckpointNotFound

from .._loading import NotAJobCheckpoint, read_job_record
from ._exit_codes import EXIT_OK
from ._output import Output
from ._workspaces import _workspace


def _referenced(ws: Workspace) -> set[Path]:
    # A succeeded job's directory holds its trained artifacts: `predict` needs it while a handle names it.
    found: set[Path] = set()
    for pid in ws.list_plugin_instances():
        for handle in ws.list_handles(pid):
            try:
                record = read_job_record(ws, pid, handle)
            except (CheckpointNotFound, NotAJobCheckpoint):
                continue
            folder = record.job.resources.get("job_dir") if record.job else None
            if record.adapter == "local" and folder:
                found.add(Path(folder).resolve())
    return found


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def cmd_local_gc(args: argparse.Namespace, out: Output) -> int:
    """Remove finished local job directories that no handle of the workspace names."""
    from ..local._jobdir import TERMINAL_RAW_STATES, JobDir
    from ..local._model import default_jobs_dir

    jobs = (Path(args.jobs_dir).expanduser() if args.jobs_dir else default_jobs_dir()).resolve()
    ws = _workspace(args)
    keep = _referenced(ws)
    removed: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    for path in sorted(p for p in jobs.iterdir() if p.is_dir()) if jobs.is_dir() else []:
        job = JobDir(path)
        raw = (job.read_state() or {}).get("state")
        identity = job.read_identity()
        running = identity is not None and identity.is_running() is not False
        entry = {"jobDir": str(path), "state": raw}
        if raw not in TERMINAL_RAW_STATES or running:
            kept.append({**entry, "reason": "not finished"})
        elif path in keep:
            kept.append({**entry, "reason": f"named by a checkpoint in {ws.url}"})
        else:
            entry["bytes"] = _size(path)
            if not args.dry_run:
                shutil.rmtree(path)
            removed.append(entry)
    if out.json_mode:
        out.emit({"jobsDir": str(jobs), "dryRun": args.dry_run, "removed": removed, "kept": kept})
        return EXIT_OK
    verb = "would remove" if args.dry_run else "removed"
    for entry in removed:
        out.line(f"{verb} {entry['jobDir']} ({entry['state']}, {entry['bytes'] / 1e6:.1f} MB)")
    for entry in kept:
        out.line(f"kept {entry['jobDir']} ({entry['state'] or 'no state'}: {entry['reason']})")
    total = sum(e["bytes"] for e in removed) / 1e6
    out.line(f"{verb} {len(removed)} finished job dir(s), {total:.1f} MB; kept {len(kept)} in {jobs}")
    return EXIT_OK
