"""A workspace's status log: intermediate statuses one process posts and another reads.

Each update is one small immutable object under ``{plugin_instance_id}/status/`` named by its time, so
any fsspec backend works (object stores have no append) and concurrent writers never clobber each other.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ._names import validate_name
from ._workspace import Workspace

if TYPE_CHECKING:  # only for hints: the state layer itself never needs pydantic at import
    from pydantic import BaseModel

STATUS_DIR = "status"
PRUNE_EVERY = 50

_COUNT_LOCK = threading.Lock()
_APPENDS: dict[tuple[str, str], int] = {}


@dataclass(frozen=True)
class StatusRecord:
    """One posted update: when it was posted and its JSON payload."""

    at: datetime
    data: dict[str, Any]


class StatusLog:
    """The status log of one plugin instance; call it (or :meth:`append`) to post an update.

    Args:
        workspace: where the log lives.
        plugin_instance_id: whose log it is.
        keep: how many of the newest records to keep; older ones are pruned now and then.
    """

    def __init__(self, workspace: Workspace | str, plugin_instance_id: str, keep: int = 1000) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep!r}")
        # The name first: opening a local workspace creates its folder, and a refused name leaves no trace.
        self.plugin_instance_id = validate_name(plugin_instance_id, "plugin instance ID")
        self.workspace = Workspace.coerce(workspace)
        self.keep = keep

    def __repr__(self) -> str:
        return f"StatusLog({self.workspace.url!r}, {self.plugin_instance_id!r})"

    @property
    def _dir(self) -> str:
        return f"{self.plugin_instance_id}/{STATUS_DIR}"

    def __call__(self, update: BaseModel | Mapping[str, Any]) -> None:
        self.append(update)

    def append(self, update: BaseModel | Mapping[str, Any]) -> None:
        """Post one update (a pydantic model is stored as its wire JSON)."""
        data = dict(update) if isinstance(update, Mapping) else update.model_dump(mode="json", by_alias=True)
        now = time.time_ns()
        record = {"at": datetime.fromtimestamp(now / 1e9, UTC).isoformat(), "data": data}
        name = f"{now:020d}-{uuid.uuid4().hex[:8]}.json"
        self.workspace.write_bytes(f"{self._dir}/{name}", json.dumps(record).encode())
        # Pruning lists the folder, so do it now and then rather than on every post. Count posts per log
        # across instances: callers often build a fresh StatusLog for each post.
        with _COUNT_LOCK:
            key = (self.workspace.url, self.plugin_instance_id)
            _APPENDS[key] = count = _APPENDS.get(key, 0) + 1
        if count % PRUNE_EVERY == 0:
            self.prune()

    def prune(self) -> None:
        """Delete all but the newest ``keep`` records."""
        names = self.workspace.list_records(self._dir)
        for name in names[: max(0, len(names) - self.keep)]:
            self.workspace.delete_record(f"{self._dir}/{name}")

    def read(self, limit: int | None = None) -> list[StatusRecord]:
        """Records oldest first; with ``limit``, only the newest ``limit`` of them."""
        names = self.workspace.list_records(self._dir)
        if limit is not None:
            names = names[-limit:] if limit > 0 else []
        records = []
        for name in names:
            raw = self.workspace.read_bytes(f"{self._dir}/{name}")
            if raw is None:  # pruned by another process between list and read
                continue
            obj = json.loads(raw)
            records.append(StatusRecord(at=datetime.fromisoformat(obj["at"]), data=obj["data"]))
        return records

    def latest(self) -> StatusRecord | None:
        """The newest record, or ``None`` when nothing was posted."""
        newest = self.read(limit=1)
        return newest[0] if newest else None
