"""The ``jobferry`` command-line tool: submit, watch, cancel, deploy and predict with external training jobs.

::

    jobferry train SPEC [--wait] [--new] [--timeout S] [--poll-interval S] [--json]
    jobferry status [INSTANCE] [--json]
    jobferry wait INSTANCE [--timeout S] [--poll-interval S] [--json]
    jobferry cancel INSTANCE [--json]
    jobferry deploy INSTANCE [--endpoint NAME] [--machine-type T] [--min-replicas N] [--max-replicas N]
                    [--traffic PCT] [--poll-interval S] [--json]
    jobferry undeploy INSTANCE [--poll-interval S] [--json]
    jobferry predict INSTANCE [--input FILE|-] [--format jsonl|csv] [--parameters JSON]
    jobferry checkpoints list [INSTANCE] | show INSTANCE [HANDLE] | delete INSTANCE HANDLE [--yes]
    jobferry adapters [--json]
    jobferry emulator [--port N] [--speedup X] [--bucket-map BUCKET=DIR]

Every command that reads a workspace takes ``--workspace`` (default: the spec's ``workspace`` for
``train``, else ``$JOBFERRY_WORKSPACE``, else a folder in the user data directory); every command on
one job takes ``--handle H`` (default: ``default``).

``deploy`` serves a trained job's model online (adapters that support it, e.g. Vertex AI) and records
the endpoint and deployed model ID in ``job.json``, so that ``predict`` can use them; options not given
keep the adapter's defaults (``--max-replicas`` defaults to ``--min-replicas``). ``undeploy`` removes the
model from its endpoint (the endpoint is kept).

Polling: commands that wait (``train --wait``, ``wait``, ``deploy``, ``undeploy``) poll with the job's
adaptive policy -- for a job loaded from its checkpoint, usually the adapter's default, whose first
interval is 5 s. ``--poll-interval S`` polls every S seconds instead (no growth, no jitter).

Output: human text on stdout; with ``--json`` one JSON object (camelCase keys, like ``job.json``), or for
``train --wait --json`` / ``wait --json`` a JSONL stream of events (``submitted``, ``status``, ``final``,
``error``). Colours and the one-line live display are used only when stdout is a terminal and
``NO_COLOR`` is unset; otherwise every status change is one plain line. Errors go to stderr as
``error: <message>`` (with ``--json`` also as an ``error`` event on stdout); a traceback only with ``-v``.

Exit codes:
    0  success (for ``status``: the status could be reported, whatever it is)
    1  the job ended FAILED, CANCELLED or EXPIRED (``wait``, ``train --wait``); or any other jobferry
       error (the vendor refused a call, a workspace cannot be read, a prediction failed, ...)
    2  bad usage: unknown option, invalid spec, invalid name, unknown plugin instance or handle, a
       checkpoint that is not a job's, an adapter with no online deployment, unreadable prediction
       input, deletion refused without --yes
    3  timed out waiting (``--timeout``); the job itself goes on
    130 interrupted (Ctrl-C); the job itself goes on
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import IO, Any, ClassVar, TextIO

from checkpoint import ModelCheckpoint, Workspace
from checkpoint._errors import (
    CheckpointNotFound,
    InvalidName,
    JobError,
    JobferryError,
    JobTimeout,
    SpecError,
)

from ._external import ExternalJobModel
from ._jobs import JobRecord, JobState, JobStatus
from ._loading import NotAJobCheckpoint, bundle_files, job_record_json, load_job, read_job_record
from ._poll import PollPolicy
from ._registry import get_adapter, list_adapters
from ._spec import load_spec

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_TIMEOUT", "EXIT_USAGE", "UsageError", "main"]

log = logging.getLogger("jobferry.cli")

EXIT_OK = 0
EXIT_ERROR = 1  # also: the job ended without success
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_INTERRUPTED = 130

EPILOG = """\
exit codes:
  0    success (status: the status could be reported, whatever it is)
  1    the job ended FAILED, CANCELLED or EXPIRED (wait, train --wait), or another jobferry error
  2    bad usage: options, spec, names, unknown instance or handle, unreadable input, delete refused,
       deploy/undeploy with an adapter that has no online deployment
  3    timed out waiting (--timeout); the job itself goes on
  130  interrupted (Ctrl-C); the job itself goes on

polling:
  commands that wait (train --wait, wait, deploy, undeploy) poll adaptively; a job loaded from its
  checkpoint usually polls with the adapter's default policy (first interval 5 s). --poll-interval S
  polls every S seconds instead.

environment:
  JOBFERRY_WORKSPACE  the default workspace (a folder or a URL such as gs://bucket/path)
  NO_COLOR            plain output: no colours, no live line
"""

_FAILED_STATES = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED})
_USAGE_ERRORS: tuple[type[BaseException], ...] = (
    SpecError,
    InvalidName,
    CheckpointNotFound,
    NotAJobCheckpoint,
)


class UsageError(JobferryError):
    """Bad command-line usage or input that argparse cannot catch (exit code 2)."""


# -- output ----------------------------------------------------------------------------------------


class Output:
    """Where and how a command writes: plain or styled text, or JSON.

    Streams are looked up when the command runs (not at import), so redirection and test capture work.
    """

    _COLORS: ClassVar[dict[str, str]] = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2"}

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.stdout: TextIO = sys.stdout
        self.stderr: TextIO = sys.stderr
        self.styled = not json_mode and _is_tty(self.stdout) and not _no_color()

    def line(self, text: str = "") -> None:
        """Write one line of text."""
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def emit(self, obj: dict[str, Any]) -> None:
        """Write one JSON object on one line."""
        self.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
        self.stdout.flush()

    def style(self, text: str, color: str) -> str:
        """``text`` in ``color`` when styling is on, else as is."""
        return f"\x1b[{self._COLORS[color]}m{text}\x1b[0m" if self.styled else text

    def state(self, status: JobStatus | None) -> str:
        """A status summary, its state coloured by outcome."""
        if status is None:
            return "-"
        summary = status.summary()
        color = "green" if status.state is JobState.SUCCEEDED else "red" if status.is_terminal else "yellow"
        head, _, rest = summary.partition(" ")
        return self.style(head, color) + (f" {rest}" if rest else "")

    def table(self, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
        """Write aligned columns (the last one unpadded)."""
        all_rows = [list(header), *(list(r) for r in rows)]
        widths = [max(len(_strip_ansi(r[i])) for r in all_rows) for i in range(len(header) - 1)]
        for n, row in enumerate(all_rows):
            cells = [c + " " * (w - len(_strip_ansi(c))) for c, w in zip(row, widths, strict=False)]
            text = "  ".join([*cells, row[-1]]).rstrip()
            self.line(self.style(text, "bold") if n == 0 else text)


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or unusual streams are not terminals
        return False


def _no_color() -> bool:
    # https://no-color.org: any non-empty value disables colour; a dumb terminal cannot redraw a line.
    return bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _status_json(status: JobStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    data: dict[str, Any] = json.loads(status.model_dump_json(exclude_none=True))
    return data


def _checkpoint_url(ws: Workspace, key: str) -> str:
    return f"{ws.url.rstrip('/')}/{key}"


# -- live progress ---------------------------------------------------------------------------------


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

    def update(self, status: JobStatus) -> None:
        """Record a status change and show it."""
        with self._lock:
            self._status = status
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
        # \r + "erase line": one line, rewritten in place.
        self.out.stdout.write(f"\r\x1b[2K{text}")
        self.out.stdout.flush()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                if self._status is not None:
                    self._draw()

    def close(self) -> None:
        """Stop redrawing and end the live line."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            with self._lock:
                if self._status is not None:
                    self.out.stdout.write("\n")
                    self.out.stdout.flush()


def _wait(model: ExternalJobModel[Any], timeout: float | None, out: Output) -> int:
    job_id = model.job.job_id
    progress = Progress(out, job_id)
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


# -- commands --------------------------------------------------------------------------------------


def _workspace(args: argparse.Namespace) -> Workspace:
    return Workspace.coerce(args.workspace)


def fixed_poll_policy(seconds: float) -> PollPolicy:
    """A poll policy that waits exactly ``seconds`` between polls (no growth, no jitter)."""
    return PollPolicy(initial=seconds, maximum=seconds, floor_cap=seconds, multiplier=1, jitter=0)


def _apply_poll_interval(model: ExternalJobModel[Any], seconds: float | None) -> None:
    """Make ``model`` poll every ``seconds`` (``--poll-interval``); ``None`` keeps its own policy.

    Only this process's copy of the config changes: ``job.json`` is not rewritten for it.
    """
    if seconds is None:
        return
    config = model.require_config()
    model.config = config.model_copy(update={"poll": fixed_poll_policy(seconds)})


def cmd_train(args: argparse.Namespace, out: Output) -> int:
    """Submit (or adopt) the job a spec describes; optionally wait for it."""
    spec = load_spec(args.spec)
    ws = spec.resolve_workspace(args.workspace)
    model = spec.build_model(ws)
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


def _record_row(pid: str, record: JobRecord | None, note: str = "") -> list[str]:
    if record is None:
        return [pid, "-", "-", note]
    job = record.job.job_id if record.job else "-"
    return [pid, record.adapter, job, ""]


def cmd_status(args: argparse.Namespace, out: Output) -> int:
    """One job's live status, or every plugin instance's last known status."""
    ws = _workspace(args)
    if args.instance is not None:
        model = load_job(ws, args.instance, args.handle)
        status = model.refresh()
        assert model.record is not None
        if out.json_mode:
            out.emit(
                {
                    "pluginInstance": args.instance,
                    "adapter": model.record.adapter,
                    "jobId": model.job.job_id,
                    "terminal": status.is_terminal,
                    "status": _status_json(status),
                }
            )
        else:
            out.line(f"{args.instance}: job {model.job.job_id} ({model.record.adapter}) {out.state(status)}")
        return EXIT_OK

    entries: list[dict[str, Any]] = []
    rows: list[list[str]] = []
    for pid in ws.list_plugin_instances():
        entry: dict[str, Any] = {"pluginInstance": pid}
        try:
            record = read_job_record(ws, pid)
        except CheckpointNotFound:
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
                f"{out.state(last)}  (as of {last.polled_at.astimezone().strftime('%Y-%m-%d %H:%M:%S')})"
                if last is not None
                else "(never polled)"
            )
            rows.append(row)
        entries.append(entry)
    if out.json_mode:
        out.emit({"workspace": ws.url, "instances": entries})
    elif not rows:
        out.line(f"no plugin instances in {ws.url}")
    else:
        out.table(["INSTANCE", "ADAPTER", "JOB", "LAST KNOWN STATUS"], rows)
    return EXIT_OK


def cmd_wait(args: argparse.Namespace, out: Output) -> int:
    """Wait for a job to end."""
    model = load_job(_workspace(args), args.instance, args.handle)
    _apply_poll_interval(model, args.poll_interval)
    return _wait(model, args.timeout, out)


def cmd_cancel(args: argparse.Namespace, out: Output) -> int:
    """Ask the vendor to cancel a job."""
    model = load_job(_workspace(args), args.instance, args.handle)
    status = model.cancel()
    if out.json_mode:
        out.emit({"pluginInstance": args.instance, "jobId": model.job.job_id, "status": _status_json(status)})
    else:
        out.line(f"cancel requested for job {model.job.job_id}: {out.state(status)}")
    return EXIT_OK


def _load_deployable(args: argparse.Namespace, method: str) -> ExternalJobModel[Any]:
    """Load the job, check that its adapter has ``method`` (deploy / undeploy), apply --poll-interval."""
    model = load_job(_workspace(args), args.instance, args.handle)
    if not callable(getattr(model, method, None)):
        adapter = model.record.adapter if model.record is not None else model.adapter_name
        raise UsageError(
            f"adapter {adapter} has no online deployment: cannot {method} {args.instance} "
            f"(its job is {model.job.job_id}; predict may still work)"
        )
    _apply_poll_interval(model, args.poll_interval)
    return model


def cmd_deploy(args: argparse.Namespace, out: Output) -> int:
    """Deploy a trained job's model to an endpoint for online predictions."""
    options: dict[str, Any] = {}
    if args.endpoint is not None:
        options["endpoint"] = args.endpoint
    if args.machine_type is not None:
        options["machine_type"] = args.machine_type
    if args.min_replicas is not None:
        options["min_replica_count"] = args.min_replicas
    max_replicas = args.max_replicas if args.max_replicas is not None else args.min_replicas
    if max_replicas is not None:
        options["max_replica_count"] = max_replicas
    if args.min_replicas is not None and max_replicas is not None and args.min_replicas > max_replicas:
        raise UsageError(
            f"--min-replicas ({args.min_replicas}) must not exceed --max-replicas ({max_replicas})"
        )
    if args.traffic is not None:
        options["traffic_percentage"] = args.traffic
    model = _load_deployable(args, "deploy")
    endpoint = str(model.deploy(**options))  # type: ignore[attr-defined]
    resources = model.job.resources
    deployed = resources.get("deployed_model_id")
    trained = resources.get("model")
    if out.json_mode:
        out.emit(
            {
                "pluginInstance": args.instance,
                "endpoint": endpoint,
                "deployedModelId": deployed,
                "model": trained,
            }
        )
    else:
        if trained:
            out.line(f"model:             {trained}")
        out.line(f"endpoint:          {endpoint}")
        out.line(f"deployed model ID: {deployed or '-'}")
    return EXIT_OK


def cmd_undeploy(args: argparse.Namespace, out: Output) -> int:
    """Undeploy a job's model from its endpoint (the endpoint itself is kept)."""
    model = _load_deployable(args, "undeploy")
    before = dict(model.job.resources)
    model.undeploy()  # type: ignore[attr-defined]
    endpoint = before.get("endpoint")
    deployed = before.get("deployed_model_id")
    if out.json_mode:
        out.emit(
            {
                "pluginInstance": args.instance,
                "endpoint": endpoint,
                "deployedModelId": deployed,
                "model": before.get("model"),
                "undeployed": True,
            }
        )
    else:
        out.line(f"undeployed model {deployed or '-'} from endpoint {endpoint or '-'} (the endpoint is kept)")
    return EXIT_OK


_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")


def _csv_value(text: str) -> Any:
    """A CSV cell: an int or float when it looks like one, else the string as is."""
    stripped = text.strip()
    if _INT.fullmatch(stripped):
        return int(stripped)
    if _FLOAT.fullmatch(stripped):
        return float(stripped)
    return text


def read_instances(stream: IO[str], fmt: str, name: str) -> list[Any]:
    """Parse prediction instances from ``stream`` (``"jsonl"`` or ``"csv"``); ``name`` is for errors.

    JSONL: one JSON value per line; blank lines are skipped. CSV: the header row names the keys of one
    dict per row; cells that look like numbers become numbers, empty cells stay ``""``.
    """
    if fmt == "csv":
        reader = csv.DictReader(stream)
        if reader.fieldnames is None:
            return []
        instances: list[Any] = []
        for row in reader:
            if None in row:
                raise UsageError(f"{name}:{reader.line_num}: more cells than the header has columns")
            instances.append({k: _csv_value(v) if v is not None else None for k, v in row.items()})
        return instances
    instances = []
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            instances.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{name}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    return instances


_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}


def cmd_predict(args: argparse.Namespace, out: Output) -> int:
    """Predict with a trained job: instances in, JSONL predictions out, in order."""
    parameters: dict[str, Any] | None = None
    if args.parameters is not None:
        try:
            parameters = json.loads(args.parameters)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--parameters is not valid JSON: {exc.msg}") from None
        if not isinstance(parameters, dict):
            raise UsageError("--parameters must be a JSON object, e.g. '{\"top_k\": 3}'")
    source = args.input
    fmt = args.format
    if source == "-":
        fmt = fmt or "jsonl"
        instances = read_instances(sys.stdin, fmt, "<stdin>")
    else:
        if fmt is None:
            ext = os.path.splitext(source)[1].lower()
            fmt = _FORMATS.get(ext)
            if fmt is None:
                raise UsageError(f"cannot tell the format of {source!r} from its extension; give --format")
        try:
            with open(source, newline="" if fmt == "csv" else None, encoding="utf-8") as stream:
                instances = read_instances(stream, fmt, source)
        except OSError as exc:
            raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None
    # Load the job only once the input is known to be good: a typo should not cost a download.
    model = load_job(_workspace(args), args.instance, args.handle)
    if not instances:
        return EXIT_OK
    predictions = model.run(instances, parameters)
    buffer = io.StringIO()
    for prediction in predictions:
        buffer.write(json.dumps(prediction, ensure_ascii=False, default=str) + "\n")
    out.stdout.write(buffer.getvalue())
    out.stdout.flush()
    return EXIT_OK


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
            return EXIT_USAGE
    ws.delete_handle(args.instance, args.handle)
    if out.json_mode:
        out.emit(
            {"workspace": ws.url, "pluginInstance": args.instance, "handle": args.handle, "deleted": True}
        )
    else:
        out.line(f"deleted {what}")
    return EXIT_OK


def cmd_adapters(args: argparse.Namespace, out: Output) -> int:
    """The registered adapters, and whether each can be imported here."""
    entries = []
    for name, entry in list_adapters().items():
        error: str | None = None
        try:
            get_adapter(name)
        except Exception as exc:  # any import failure of a third-party module is worth reporting, not raising
            error = f"{type(exc).__name__}: {exc}"
        entries.append(
            {
                "name": name,
                "target": entry.target,
                "extra": entry.extra,
                "description": entry.description,
                "source": entry.source,
                "importable": error is None,
                "error": error,
            }
        )
    if out.json_mode:
        out.emit({"adapters": entries})
        return EXIT_OK
    rows: list[list[str]] = []
    for e in entries:
        ok = out.style("ok", "green") if e["importable"] else out.style("broken", "red")
        rows.append([str(e["name"]), ok, str(e["extra"] or "-"), str(e["target"]), str(e["description"])])
    out.table(["NAME", "IMPORT", "EXTRA", "TARGET", "DESCRIPTION"], rows)
    for e in entries:
        if e["error"]:
            out.line(f"{e['name']}: {e['error']}")
    return EXIT_OK


def cmd_emulator(args: argparse.Namespace, out: Output) -> int:
    """Run the Vertex AI emulator in the foreground (it imports nothing from google)."""
    from .vertex.emulator import main as emulator_main

    argv = [f"--port={args.port}"]
    argv += [f"--speedup={args.speedup}"] if args.speedup is not None else []
    argv += [f"--seed={args.seed}"] if args.seed is not None else []
    argv += [f"--config={args.config}"] if args.config else []
    for mapping in args.bucket_map:
        argv += [f"--bucket-map={mapping}"]
    return emulator_main(argv)


# -- the parser ------------------------------------------------------------------------------------


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _percentage(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole percentage, got {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentage in 0..100, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``jobferry``."""
    from . import __version__

    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="jobferry",
        description="Train models on external services: submit, watch, cancel, deploy and predict with jobs.",
        epilog=EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"jobferry {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-vv: debug); tracebacks"
    )

    # -v after the command too; SUPPRESS keeps `jobferry -v status` from being reset by the sub-parser.
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common = argparse.ArgumentParser(add_help=False, parents=[verbose])
    common.add_argument(
        "--workspace",
        "-w",
        metavar="W",
        help="workspace folder or URL (default: $JOBFERRY_WORKSPACE, else the user data dir)",
    )
    from_spec = argparse.ArgumentParser(add_help=False, parents=[verbose])
    from_spec.add_argument(
        "--workspace",
        "-w",
        metavar="W",
        help="workspace folder or URL (default: the spec's workspace, else $JOBFERRY_WORKSPACE, else the "
        "user data dir)",
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON (one object, or JSONL events)")
    handle = argparse.ArgumentParser(add_help=False)
    handle.add_argument("--handle", metavar="H", help="checkpoint handle (default: default)")
    timeout = argparse.ArgumentParser(add_help=False)
    timeout.add_argument(
        "--timeout", type=_positive_seconds, metavar="S", help="give up waiting after S seconds (exit 3)"
    )
    poll = argparse.ArgumentParser(add_help=False)
    poll.add_argument(
        "--poll-interval",
        type=_positive_seconds,
        metavar="S",
        help="poll every S seconds instead of the adaptive policy (a job loaded from its checkpoint "
        "otherwise starts at the adapter's default, usually 5 s)",
    )

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(
        name: str,
        func: Callable[[argparse.Namespace, Output], int],
        helptext: str,
        parents: list[argparse.ArgumentParser],
        into: Any = sub,
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = into.add_parser(
            name,
            help=helptext,
            description=helptext,
            parents=parents,
            epilog=EPILOG,
            formatter_class=formatter,
        )
        p.set_defaults(func=func)
        return p

    p = add(
        "train",
        cmd_train,
        "submit the job a TOML spec describes (adopting a running one)",
        [from_spec, as_json, timeout, poll],
    )
    p.add_argument("spec", metavar="SPEC", help="the job spec (TOML)")
    p.add_argument("--wait", action="store_true", help="show progress until the job ends")
    p.add_argument("--new", action="store_true", help="submit a new job even if one runs for this spec")

    p = add(
        "status",
        cmd_status,
        "poll one job, or list every plugin instance's last known status",
        [common, as_json, handle],
    )
    p.add_argument("instance", nargs="?", metavar="INSTANCE", help="plugin instance (omit to list all)")

    p = add("wait", cmd_wait, "wait for a job to end", [common, as_json, handle, timeout, poll])
    p.add_argument("instance", metavar="INSTANCE")

    p = add("cancel", cmd_cancel, "ask the vendor to cancel a job", [common, as_json, handle])
    p.add_argument("instance", metavar="INSTANCE")

    p = add(
        "deploy",
        cmd_deploy,
        "deploy a trained job's model to an endpoint for online predictions (adapters that can)",
        [common, as_json, handle, poll],
    )
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument(
        "--endpoint", metavar="NAME", help="endpoint resource name (default: the job's own, created once)"
    )
    p.add_argument("--machine-type", metavar="T", help="serving machine type (default: the adapter's)")
    p.add_argument("--min-replicas", type=_positive_int, metavar="N", help="minimum replicas (default 1)")
    p.add_argument(
        "--max-replicas", type=_positive_int, metavar="N", help="maximum replicas (default: --min-replicas)"
    )
    p.add_argument(
        "--traffic",
        type=_percentage,
        metavar="PCT",
        help="percentage of the endpoint's traffic (default 100)",
    )

    p = add(
        "undeploy",
        cmd_undeploy,
        "undeploy a job's model from its endpoint (the endpoint is kept)",
        [common, as_json, handle, poll],
    )
    p.add_argument("instance", metavar="INSTANCE")

    p = add(
        "predict", cmd_predict, "predict with a trained job: JSONL or CSV in, JSONL out", [common, handle]
    )
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument(
        "--input", "-i", default="-", metavar="FILE", help="instances file, or - for stdin (default)"
    )
    p.add_argument(
        "--format",
        "-f",
        choices=["jsonl", "csv"],
        help="input format (default: from the extension; jsonl for stdin)",
    )
    p.add_argument("--parameters", "-p", metavar="JSON", help="prediction parameters, a JSON object")

    ck = sub.add_parser(
        "checkpoints",
        help="list, show or delete checkpoint handles",
        description="list, show or delete checkpoint handles",
    )
    ck.set_defaults(func=None, parser=ck)
    cks = ck.add_subparsers(dest="action", metavar="ACTION")
    p = add("list", cmd_checkpoints_list, "plugin instances, or the handles of one", [common, as_json], cks)
    p.add_argument("instance", nargs="?", metavar="INSTANCE")
    p = add(
        "show", cmd_checkpoints_show, "a handle's job.json, or its bundle's files", [common, as_json], cks
    )
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument("handle", nargs="?", default=None, metavar="HANDLE", help="default: default")
    p = add(
        "delete",
        cmd_checkpoints_delete,
        "delete a handle (asks at a terminal; elsewhere refuses without --yes)",
        [common, as_json],
        cks,
    )
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument("handle", metavar="HANDLE")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")

    add("adapters", cmd_adapters, "registered adapters and whether they import", [verbose, as_json])

    p = add(
        "emulator",
        cmd_emulator,
        "serve the offline Vertex AI emulator on 127.0.0.1 until Ctrl-C (prints its URL)",
        [verbose],
    )
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    p.add_argument("--speedup", type=float, help="emulated Vertex seconds per real second (default 1)")
    p.add_argument(
        "--bucket-map",
        action="append",
        default=[],
        metavar="BUCKET=DIR",
        help="serve gs://BUCKET from a local folder (repeatable)",
    )
    p.add_argument("--seed", type=int, help="seed of resource IDs and fault draws")
    p.add_argument("--config", metavar="FILE", help="a JSON file of EmulatorConfig fields (flags override)")
    return parser


# -- main ------------------------------------------------------------------------------------------


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if verbosity > 0:  # basicConfig does nothing when logging is already set up (an embedding app)
        logging.getLogger().setLevel(level)


def _exit_code_of(exc: BaseException) -> int:
    if isinstance(exc, JobTimeout):
        return EXIT_TIMEOUT
    if isinstance(exc, (*_USAGE_ERRORS, UsageError)):
        return EXIT_USAGE
    return EXIT_ERROR


def _report(exc: BaseException, code: int, out: Output, verbose: bool) -> None:
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.write(f"error: {exc}\n")
    if isinstance(exc, JobTimeout):
        sys.stderr.write("the job goes on; `jobferry wait` or `jobferry status` picks it up again\n")
    if out.json_mode:
        event: dict[str, Any] = {
            "event": "error",
            "error": type(exc).__name__,
            "message": str(exc),
            "exitCode": code,
        }
        if isinstance(exc, JobError):
            event["jobId"] = exc.job_id
            if isinstance(exc.last_status, JobStatus):
                event["lastStatus"] = _status_json(exc.last_status)
        out.emit(event)


def main(argv: list[str] | None = None) -> int:
    """Run ``jobferry`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on errors, --help and --version; we return instead
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE if exc.code else EXIT_OK
    func = getattr(args, "func", None)
    if func is None:
        (getattr(args, "parser", None) or parser).print_help(sys.stderr)
        return EXIT_USAGE
    verbose = getattr(args, "verbose", 0)
    _setup_logging(verbose)
    out = Output(json_mode=getattr(args, "json", False))
    try:
        code: int = func(args, out)
        return code
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted; any job already submitted goes on\n")
        return EXIT_INTERRUPTED
    except JobferryError as exc:
        code = _exit_code_of(exc)
        _report(exc, code, out, verbose > 0)
        return code


if __name__ == "__main__":
    raise SystemExit(main())
