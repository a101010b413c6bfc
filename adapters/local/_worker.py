"""The detached process that runs one local job: ``python -m adapters.local._worker JOB_DIR``.

It records its identity, beats a heartbeat, calls the entrypoint's ``train(params, artifacts_dir,
report)`` and writes the outcome to ``state.json``: SUCCEEDED with the returned outputs, FAILED with the
exception (its traceback goes to log.txt), or CANCELLED on SIGTERM or a cancel marker. Standard library
only, beyond the package's own modules.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from adapters.local._entrypoints import parse_entrypoint
from adapters.local._jobdir import EXIT_CANCELLED, JobDir, ProcessIdentity, now_iso

# report() writes state.json at most this often; a pending update is flushed by the heartbeat thread.
MIN_WRITE_INTERVAL = 0.05


class _Cancelled(
    BaseException
):  # a BaseException, so that `except Exception` in the entrypoint cannot eat it
    """Raised in the main thread by the SIGTERM handler to unwind the entrypoint."""


class Worker:
    """Runs the job in ``job`` in this process.

    Args:
        job: the job directory (spec.json and a QUEUED state.json already there).
    """

    def __init__(self, job: JobDir) -> None:
        self.job = job
        self.spec: dict[str, Any] = job.read_spec() or {}
        self.state: dict[str, Any] = job.read_state() or {"state": "QUEUED", "create_time": now_iso()}
        # Reentrant: the SIGTERM handler interrupts the main thread wherever it is, possibly mid-write.
        self._lock = threading.RLock()
        self._dirty = False
        self._last_write = 0.0
        self._finishing = False
        self._cancelling = False
        self._signalled = False
        self._stop = threading.Event()

    # -- state ---------------------------------------------------------------------------------------------

    def _write(self, **changes: Any) -> None:
        with self._lock:
            self.state.update(changes, update_time=now_iso())
            self.job.write_state(self.state)
            self._dirty = False
            self._last_write = time.monotonic()

    def report(self, progress: float | None = None, message: str | None = None) -> None:
        """Record the training's progress (0..1) and/or a message; the adapter's describe sees it.

        Raises:
            ValueError: ``progress`` is not a number between 0 and 1.
        """
        if progress is not None:
            if (
                isinstance(progress, bool)
                or not isinstance(progress, int | float)
                or not math.isfinite(progress)
            ):
                raise ValueError(f"report(progress={progress!r}): progress must be a number between 0 and 1")
            if not 0.0 <= progress <= 1.0:
                raise ValueError(f"report(progress={progress!r}): progress must be between 0 and 1")
        with self._lock:
            if progress is not None:
                self.state["progress"] = float(progress)
            if message is not None:
                self.state["message"] = str(message)
            self.state["update_time"] = now_iso()
            # Throttled so a report per batch does not turn training into file writes.
            if time.monotonic() - self._last_write >= MIN_WRITE_INTERVAL:
                self._write()
            else:
                self._dirty = True

    # -- signals and the heartbeat ---------------------------------------------------------------------

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if self._finishing or self._cancelling:
            return  # the outcome is being written: finish that instead of unwinding it
        self._cancelling = True
        raise _Cancelled

    def _heartbeat(self, interval: float) -> None:
        while True:
            try:
                self.job.beat()
                with self._lock:
                    if self._dirty:
                        self._write()
                if self.job.cancel_requested() and not self._signalled:
                    # A cancel from a process that cannot signal us (another host, or before our pid was
                    # known): deliver it the same way as a local one.
                    self._signalled = True
                    os.kill(os.getpid(), signal.SIGTERM)
            except OSError as exc:  # a full disk must not kill the heartbeat for good
                print(f"[jobferry] heartbeat: {exc}", file=sys.stderr, flush=True)
            if self._stop.wait(interval):
                return

    # -- the run -----------------------------------------------------------------------------------------

    def run(self) -> int:
        """Run the job to its end; return the exit code (0, 1, or 143 when cancelled)."""
        signal.signal(signal.SIGTERM, self._on_sigterm)
        self.job.write_identity(ProcessIdentity.of(os.getpid()))
        if self.state.get("state") != "QUEUED":
            # Someone already ran or ended this job (e.g. a cancel before we started): leave it be.
            print(f"[jobferry] job is {self.state.get('state')}, not QUEUED: nothing to do", flush=True)
            return 0 if self.state.get("state") == "SUCCEEDED" else 1
        interval = float(self.spec.get("heartbeat_interval") or 2.0)
        beat = threading.Thread(
            target=self._heartbeat, args=(interval,), name="jobferry-heartbeat", daemon=True
        )
        try:
            if self.job.cancel_requested():
                raise _Cancelled
            self._write(state="RUNNING", start_time=now_iso(), progress=0.0)
            beat.start()
            outputs = self._train()
            self._finishing = True
            self._write(state="SUCCEEDED", progress=1.0, outputs=outputs, end_time=now_iso())
            code = 0
        except _Cancelled:
            self._finishing = True
            print("[jobferry] cancelled", flush=True)
            self._write(state="CANCELLED", message="cancelled", end_time=now_iso())
            code = EXIT_CANCELLED
        except BaseException as exc:
            self._finishing = True
            traceback.print_exc()
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self._write(
                state="FAILED",
                message=detail,
                error={"code": type(exc).__name__, "message": str(exc) or type(exc).__name__},
                end_time=now_iso(),
            )
            code = 1
        self._stop.set()
        self.job.write_exit_code(code)
        print(f"[jobferry] {self.state['state']} (exit code {code})", flush=True)
        return code

    def _train(self) -> dict[str, Any]:
        entry = parse_entrypoint(str(self.spec.get("entrypoint", "")))
        cwd = Path(self.spec.get("cwd") or os.getcwd())
        print(f"[jobferry] job {self.job.path.name}: running {entry} in {cwd}", flush=True)
        train = entry.load(cwd)
        artifacts = self.job.artifacts
        artifacts.mkdir(exist_ok=True)
        params = dict(self.spec.get("params") or {})
        result = train(params, artifacts, self.report)
        if result is None:
            return {}
        if not isinstance(result, dict):
            raise TypeError(f"{entry} returned a {type(result).__name__}; expected a dict (or None)")
        try:
            return dict(json.loads(json.dumps(result)))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{entry} returned outputs that are not JSON-serialisable: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m adapters.local._worker JOB_DIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m adapters.local._worker JOB_DIR", file=sys.stderr)
        return 2
    job = JobDir(Path(args[0]).resolve())
    if not job.path.is_dir():
        print(f"no job directory {job.path}", file=sys.stderr)
        return 2
    return Worker(job).run()


if __name__ == "__main__":
    sys.exit(main())
