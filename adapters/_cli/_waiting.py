"""Waiting for a job to end: the ``--poll-interval`` override, the live progress display, the final line."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

from .._external import ExternalJobModel
from .._jobs import JobState, JobStatus
from .._poll import PollPolicy
from .._retry import RetryEvent
from ._exit_codes import EXIT_ERROR, EXIT_OK
from ._output import Output, _duration, _is_tty, _no_color, _status_json


def fixed_poll_policy(seconds: float) -> PollPolicy:
    """A poll policy that waits exactly ``seconds`` between polls (no growth, no jitter)."""
    return PollPolicy(initial=seconds, maximum=seconds, floor_cap=seconds, multiplier=1, jitter=0)


def _apply_poll_interval(model: ExternalJobModel[Any], seconds: float | None) -> None:
    """Make ``model`` poll every ``seconds`` (``--poll-interval``); ``None`` keeps its own policy.

    Only this process's copy of the config changes: ``job.json`` is not rewritten for it.
    """
    if seconds is None:
        return
    model.policies = model.policies.model_copy(update={"poll": fixed_poll_policy(seconds)})


class Progress:
    """Shows a job's status while waiting: a live line on a terminal, else one line (or event) per change.

    Args:
        out: where to write.
        job_id: the job being watched.
    """

    def __init__(self, out: Output, job_id: str) -> None:
        self.out = out
        self.job_id = job_id
        self._started = time.monotonic()
        self._status: JobStatus | None = None
        self._note = ""  # "retrying (n), last error ..." until the next status
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if out.styled:
            # Polls can be minutes apart; redraw so the elapsed time keeps moving in between.
            self._ticker = threading.Thread(target=self._tick, name="jobferry-progress", daemon=True)
            self._ticker.start()

    def elapsed(self, status: JobStatus | None = None) -> float:
        """Seconds since the job was created (when the vendor says), else since waiting began."""
        created = status.create_time if status is not None else None
        if created is not None:
            return (datetime.now(UTC) - created).total_seconds()
        return time.monotonic() - self._started

    def retrying(self, event: RetryEvent) -> None:
        """A vendor call failed transiently and is retried: say so on the live line (terminals only)."""
        if not self.out.styled:
            return  # elsewhere the log has it (-v), and a script's output stays the statuses
        error = " ".join(str(event.error).split())
        with self._lock:
            self._note = f"retrying ({event.attempt}), last error: {error[:80]}"
            self._draw()

    def update(self, status: JobStatus) -> None:
        """Record a status change and show it."""
        with self._lock:
            self._status = status
            self._note = ""
            if self.out.json_mode:
                self.out.emit(
                    {
                        "event": "status",
                        "jobId": self.job_id,
                        "elapsed": round(self.elapsed(status), 3),
                        "status": _status_json(status),
                    }
                )
            elif self.out.styled:
                self._draw()
            else:
                self.out.line(f"[{_duration(self.elapsed(status)):>7}] {self.job_id} {status.summary()}")

    def _draw(self) -> None:
        status = self._status
        elapsed = self.out.style(_duration(self.elapsed(status)), "dim")
        text = f"{self.job_id} {self.out.state(status)}  {elapsed}"
        if self._note:
            text += "  " + self.out.style(self._note, "yellow")
        # \r + "erase line": one line, rewritten in place.
        self.out.stdout.write(f"\r\x1b[2K{text}")
        self.out.stdout.flush()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                if self._status is not None or self._note:
                    self._draw()

    def close(self) -> None:
        """Stop redrawing and end the live line."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            with self._lock:
                if self._status is not None or self._note:
                    self.out.stdout.write("\n")
                    self.out.stdout.flush()


def show_retries(model: ExternalJobModel[Any], out: Output, label: str) -> None:
    """On a terminal, a one-call command (status, cancel) says when its vendor call is being retried."""
    if not _is_tty(out.stderr) or _no_color():
        return

    def retrying(event: RetryEvent) -> None:
        error = " ".join(str(event.error).split())
        out.progress(f"{label}: retrying ({event.attempt}), last error: {error[:80]}")

    model.on_retry = retrying


class OperationProgress:
    """The live line of ``train --wait``, for the operations a command waits on (deploy, undeploy).

    Only on a terminal: elsewhere (and with ``--json``) the command's output stays its result alone.
    """

    def __init__(self, out: Output, label: str) -> None:
        self.out = out
        self.label = label
        self._what: str | None = None
        self._progress: Progress | None = None

    def attach(self, model: ExternalJobModel[Any]) -> None:
        """Show ``model``'s operation waits from now on."""
        if self.out.styled:
            model.on_operation_update = self.update
            model.on_retry = self.retrying

    def retrying(self, event: RetryEvent) -> None:
        """A retried call, shown on the current operation's line."""
        if self._progress is None:
            self._what = event.what
            self._progress = Progress(self.out, f"{self.label}: {event.what}")
        self._progress.retrying(event)

    def update(self, what: str, status: JobStatus) -> None:
        """One observation of the operation ``what``."""
        if what != self._what:
            self.close()
            self._what = what
            self._progress = Progress(self.out, f"{self.label}: {what}")
        assert self._progress is not None
        self._progress.update(status)

    def close(self) -> None:
        """End the live line."""
        if self._progress is not None:
            self._progress.close()
            self._progress = None


def _wait(model: ExternalJobModel[Any], timeout: float | None, out: Output) -> int:
    job_id = model.job.job_id
    progress = Progress(out, job_id)
    model.on_retry = progress.retrying
    try:
        final = model.wait(timeout, on_update=progress.update)
    finally:
        progress.close()
    if out.json_mode:
        out.emit(
            {
                "event": "final",
                "jobId": job_id,
                "state": final.state.value,
                "succeeded": final.state is JobState.SUCCEEDED,
                "status": _status_json(final),
            }
        )
    else:
        out.line(f"job {job_id} {out.state(final)}")
        if final.outputs:
            out.line(f"outputs: {json.dumps(final.outputs, default=str)}")
    return EXIT_OK if final.state is JobState.SUCCEEDED else EXIT_ERROR
