"""Loading an external job from its checkpoint alone: workspace + plugin instance (+ handle).

``job.json`` names the adapter that wrote it, so a process that knows nothing else -- a cron job, the
``jobferry`` CLI, a notebook -- can poll, wait for, cancel and predict with the job.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from adapters._errors import SpecError
from checkpoint import ModelCheckpoint, Workspace, validate_name
from checkpoint._errors import JobferryError

from . import _cache
from ._connection import describe_validation
from ._external import JOB_FILE, ExternalJobModel
from ._jobs import JobRecord
from ._registry import get_adapter, list_adapters

__all__ = ["NotAJobCheckpoint", "bundle_files", "job_record_json", "load_job", "read_job_record"]


class NotAJobCheckpoint(JobferryError, LookupError):
    """The checkpoint exists but holds no ``job.json``: it is not an external job's checkpoint."""


def _download(
    workspace: Workspace | str | os.PathLike[str], plugin_instance_id: str, handle: str | None
) -> ModelCheckpoint:
    # Names first: opening a local workspace creates its folder, and a refused name must leave no trace.
    validate_name(plugin_instance_id, "plugin instance ID")
    if handle is not None:
        validate_name(handle, "handle")
    checkpoint = ModelCheckpoint(Workspace.coerce(workspace), plugin_instance_id, handle)
    checkpoint.download_model_bundle()  # CheckpointNotFound names the handles that do exist
    return checkpoint


def bundle_files(folder: Path) -> list[tuple[str, int]]:
    """The files of an unpacked bundle as ``(relative path, size)``, sorted."""
    return sorted(
        (p.relative_to(folder).as_posix(), p.stat().st_size) for p in folder.rglob("*") if p.is_file()
    )


def _record_from(checkpoint: ModelCheckpoint) -> JobRecord:
    folder = checkpoint.folder_path_on_disk()
    path = folder / JOB_FILE
    where = f"{checkpoint.plugin_instance_id}/{checkpoint.handle}"
    if not path.is_file():
        files = [name for name, _ in bundle_files(folder)]
        shown = ", ".join(files[:10]) + (", ..." if len(files) > 10 else "") if files else "nothing"
        raise NotAJobCheckpoint(
            f"checkpoint {where} in {checkpoint.workspace.url} is not an external-job checkpoint: it holds "
            f"no {JOB_FILE} (it holds {shown})"
        )
    try:
        return JobRecord.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        raise NotAJobCheckpoint(describe_validation(f"{JOB_FILE} of checkpoint {where}", exc)) from None


def read_job_record(
    workspace: Workspace | str | os.PathLike[str], plugin_instance_id: str, handle: str | None = None
) -> JobRecord:
    """The ``job.json`` of a handle, read without importing its adapter or calling its vendor.

    Raises:
        CheckpointNotFound: no such handle.
        NotAJobCheckpoint: the handle holds something else, or an invalid ``job.json``.
    """
    return _record_from(_download(workspace, plugin_instance_id, handle))


def load_job(
    workspace: Workspace | str | os.PathLike[str],
    plugin_instance_id: str,
    handle: str | None = None,
    *,
    use_cache: bool = False,
    config: Any = None,
) -> ExternalJobModel[Any]:
    """Load the external job published under ``handle`` (``None`` means ``"default"``) with its adapter.

    The adapter is looked up in the registry by the name ``job.json`` records. ``use_cache`` is off by
    default because the point is usually to see what *other* processes did to the job.

    Args:
        workspace: the workspace (object, URL or path).
        plugin_instance_id: the plugin instance.
        handle: the checkpoint handle.
        use_cache: return a model already loaded in this process for the same handle, if any.
        config: the adapter's config; by default the one rebuilt from ``job.json`` (enough to reach the job).

    Raises:
        CheckpointNotFound: no such handle (the message lists those that exist).
        NotAJobCheckpoint: the handle is not an external job's checkpoint.
        SpecError: the adapter named in ``job.json`` is not registered (the message lists the known ones).
        MissingDependency: the adapter needs an optional extra that is not installed.
    """
    # Names before the workspace (opening a local one creates its folder); only None means "default".
    pid = validate_name(plugin_instance_id, "plugin instance ID")
    name = validate_name(ModelCheckpoint.DEFAULT_HANDLE if handle is None else handle, "handle")
    ws = Workspace.coerce(workspace)
    key = (ws.url, pid, name)
    if use_cache:
        cached = _cache.get(key)
        if isinstance(cached, ExternalJobModel):
            return cached
    checkpoint = _download(ws, pid, name)
    record = _record_from(checkpoint)
    try:
        cls = get_adapter(record.adapter)
    except SpecError:
        raise SpecError(
            f"checkpoint {pid}/{name} was written by adapter {record.adapter!r}, which is not registered "
            f"here; known adapters: {', '.join(list_adapters()) or 'none'} (install or register it)"
        ) from None
    # Reuse the bundle already downloaded (load_remote would fetch it a second time).
    model = cls.load_from_local_checkpoint(checkpoint, config)
    if use_cache:
        _cache.put(key, model)
    return model


def job_record_json(record: JobRecord) -> dict[str, Any]:
    """``job.json``'s content as a JSON-ready dict (wire form: camelCase, nothing empty)."""
    data: dict[str, Any] = json.loads(record.model_dump_json(exclude_none=True))
    return data
