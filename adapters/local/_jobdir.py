"""The on-disk layout of one local job, shared by the adapter and the worker (standard library only).

A job is the directory ``<jobs_dir>/<submission_key>/``::

    spec.json    what to run: entrypoint, cwd, interpreter, params, liveness settings (written once)
    state.json   raw state, progress, message, error, outputs, times (rewritten atomically by the worker)
    heartbeat    its mtime is touched every ``heartbeat_interval`` seconds while the worker lives
    pid          the worker's identity: pid, start time in clock ticks, boot id, host (JSON)
    cancel       present once a cancel was requested (the worker stops when it sees it)
    exit_code    the worker's exit status; negative -N when a signal N killed it
    log.txt      the worker's stdout and stderr
    artifacts/   where the entrypoint writes what it trained

Every file is replaced atomically (temporary file + ``os.replace``), so a reader sees the old content or
the new one, never half of a write.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SPEC = "spec.json"
STATE = "state.json"
HEARTBEAT = "heartbeat"
PID = "pid"
CANCEL = "cancel"
EXIT_CODE = "exit_code"
LOG = "log.txt"
ARTIFACTS = "artifacts"

FORMAT = 1
RAW_STATES = ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")
TERMINAL_RAW_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
EXIT_CANCELLED = 128 + 15  # what a shell reports for a process ended by SIGTERM


def now_iso() -> str:
    """The current UTC time in ISO 8601."""
    return datetime.now(UTC).isoformat()


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers never see a partial file."""
    # Unique per writer: the worker's threads, the adapter and a reaper may write concurrently.
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.{uuid.uuid4().hex[:8]}")
    try:
        with open(partial, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)


def atomic_write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` as JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; ``None`` if it is missing or not a JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        return None  # unreadable counts as absent; callers decide from the worker's liveness
    return data if isinstance(data, dict) else None


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) from ``/proc/<pid>/stat``, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its closing one.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])  # fields 3 (state) and 22 (starttime) of proc(5)


def has_proc() -> bool:
    """True where ``/proc/<pid>/stat`` exists (Linux), so process start times can be read."""
    return os.path.exists("/proc/self/stat")


@dataclass(frozen=True)
class ProcessIdentity:
    """Who a process is, beyond its pid: pids are reused, (pid, start time, boot) are not.

    Attributes:
        pid: the process ID (and, for the worker, its process group ID: it leads its own session).
        start_ticks: its start time in clock ticks since boot (``/proc/<pid>/stat`` field 22), if known.
        boot_id: the kernel's boot ID, so a pid and start time from before a reboot never match.
        host: the host name; a process on another host cannot be checked from here.
    """

    pid: int
    start_ticks: int | None
    boot_id: str | None
    host: str

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity:
        """The identity of the running process ``pid`` (start time unknown off Linux)."""
        stat = _proc_stat(pid)
        return cls(pid, stat[1] if stat else None, _boot_id(), socket.gethostname())

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ProcessIdentity | None:
        """Parse what :meth:`to_json` wrote; ``None`` if it is missing or malformed."""
        if not data or not isinstance(data.get("pid"), int):
            return None
        ticks = data.get("start_ticks")
        return cls(
            data["pid"], ticks if isinstance(ticks, int) else None, data.get("boot_id"), str(data.get("host"))
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @property
    def local(self) -> bool:
        """True if the process ran on this host, so its pid means something here."""
        return self.host == socket.gethostname()

    def is_running(self) -> bool | None:
        """True if this very process still runs; False if it ended; None if that cannot be told from here.

        A zombie (ended, not yet reaped) counts as ended. Off Linux only the pid can be checked, which a
        reused pid can fool; callers then also consult the heartbeat.
        """
        if not self.local:
            return None
        if self.start_ticks is not None and has_proc():
            stat = _proc_stat(self.pid)
            if stat is None or stat[0] in ("Z", "X"):
                return False
            if self.boot_id is not None and self.boot_id != _boot_id():
                return False
            return stat[1] == self.start_ticks
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return None  # someone else's process: likely a reused pid, but we cannot tell
        return None


class JobDir:
    """Reading and writing the files of one job directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def file(self, name: str) -> Path:
        """The path of one of the job's files."""
        return self.path / name

    @property
    def artifacts(self) -> Path:
        """Where the entrypoint writes its trained model."""
        return self.path / ARTIFACTS

    def read_spec(self) -> dict[str, Any] | None:
        """The job's spec.json."""
        return read_json(self.file(SPEC))

    def read_state(self) -> dict[str, Any] | None:
        """The job's state.json, or None if it is missing or unreadable."""
        return read_json(self.file(STATE))

    def write_state(self, state: dict[str, Any]) -> None:
        """Replace state.json atomically."""
        atomic_write_json(self.file(STATE), state)

    def read_identity(self) -> ProcessIdentity | None:
        """The worker's identity from the pid file."""
        return ProcessIdentity.from_json(read_json(self.file(PID)))

    def write_identity(self, identity: ProcessIdentity) -> None:
        """Record the worker's identity."""
        atomic_write_json(self.file(PID), identity.to_json())

    def heartbeat_age(self) -> float | None:
        """Seconds since the last heartbeat, or None if there was none."""
        try:
            return max(0.0, time.time() - self.file(HEARTBEAT).stat().st_mtime)
        except FileNotFoundError:
            return None

    def heartbeat_time(self) -> datetime | None:
        """When the worker last beat, or None."""
        try:
            return datetime.fromtimestamp(self.file(HEARTBEAT).stat().st_mtime, UTC)
        except FileNotFoundError:
            return None

    def beat(self) -> None:
        """Touch the heartbeat file."""
        path = self.file(HEARTBEAT)
        try:
            os.utime(path)
        except FileNotFoundError:
            path.touch()

    def cancel_requested(self) -> bool:
        """True once someone asked to cancel the job."""
        return self.file(CANCEL).exists()

    def request_cancel(self) -> None:
        """Leave the cancel marker (the worker polls for it; describe reports CANCELLING)."""
        if not self.cancel_requested():  # keep the first request's time
            atomic_write_text(self.file(CANCEL), now_iso())

    def read_exit_code(self) -> int | None:
        """The worker's exit status, if recorded."""
        try:
            return int(self.file(EXIT_CODE).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def write_exit_code(self, code: int, *, only_if_missing: bool = False) -> None:
        """Record the worker's exit status (``only_if_missing``: never overwrite the worker's own)."""
        path = self.file(EXIT_CODE)
        if not only_if_missing:
            atomic_write_text(path, f"{code}\n")
            return
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "w") as out:
                out.write(f"{code}\n")

    def log_tail(self, max_bytes: int = 4096) -> str:
        """The last non-empty line of log.txt (where a dying worker's last words are)."""
        try:
            with open(self.file(LOG), "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - max_bytes))
                tail = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
        lines = [line.strip() for line in tail.splitlines() if line.strip()]
        return lines[-1][:300] if lines else ""
