"""The ``jobferry`` command-line tool: submit, watch, cancel, deploy and predict with external training jobs.

::

    jobferry train SPEC [--wait] [--new] [--dry-run] [--timeout S] [--poll-interval S] [--json]
    jobferry status [INSTANCE] [--json]
    jobferry jobs [INSTANCE] [--json]
    jobferry events INSTANCE [--follow] [--timeout S] [--poll-interval S] [--json]
    jobferry logs INSTANCE [--json]
    jobferry wait INSTANCE [--timeout S] [--poll-interval S] [--json]
    jobferry cancel INSTANCE [--json]
    jobferry deploy INSTANCE [--endpoint NAME] [--machine-type T] [--min-replicas N] [--max-replicas N]
                    [--traffic PCT] [--no-wait] [--poll-interval S] [--json]
    jobferry undeploy INSTANCE [--delete-endpoint | --no-wait] [--poll-interval S] [--json]
    jobferry predict INSTANCE [--input FILE|-] [--format jsonl|csv] [--parameters JSON] [--output FILE]
                     [--json]
    jobferry checkpoints list [INSTANCE] | show INSTANCE [HANDLE] | delete INSTANCE HANDLE [--yes]
    jobferry local gc [--jobs-dir DIR] [--dry-run] [--json]
    jobferry adapters [--json]
    jobferry emulator [vertex|sagemaker] [--port N] [--grpc-port N | --no-grpc] [--speedup X | --real-time]
                      [--bucket-map BUCKET=DIR] [--seed N] [--config FILE] [--json]

The README's synopsis is the reference (a test checks it against this parser).

Every command that reads a workspace takes ``--workspace`` (default: the spec's ``workspace`` for
``train``, else ``$JOBFERRY_WORKSPACE``, else a folder in the user data directory); every command on
one job takes ``--handle H`` (default: ``default``).

``deploy`` serves a trained job's model online (adapters that support it, e.g. Vertex AI) and records
the endpoint and deployed model ID in ``job.json``, so that ``predict`` can use them; options not given
keep the adapter's defaults (``--max-replicas`` defaults to ``--min-replicas``). ``undeploy`` removes the
model from its endpoint (the endpoint is kept). With ``--no-wait`` both return once the vendor accepted
the operation; ``deploy`` again waits for a deployment so started and records it.

Many processes: ``train`` first claims the spec in the workspace; a process that loses the claim creates
nothing, shows a progress line while it waits for the winner, and adopts its job. ``status`` shows a
submission in flight (claimed or intended, no checkpoint yet) as *submitting* or *outcome unknown*.

Polling: commands that wait (``train --wait``, ``wait``, ``deploy``, ``undeploy``) poll with the job's
adaptive policy -- for a job loaded from its checkpoint, usually the adapter's default, whose first
interval is 5 s. ``--poll-interval S`` polls every S seconds instead (no growth, no jitter).

Output: human text on stdout; with ``--json`` one JSON object (camelCase keys, like ``job.json``), or for
``train --wait --json`` / ``wait --json`` / ``events --json`` a JSONL stream of events (``submitted``,
``status``, ``retry``, ``final``, ``error``). Colours and the one-line live display are used only when
stdout is a terminal and ``NO_COLOR`` is unset; otherwise every status change is one plain line. Errors
go to stderr as ``error: <message>`` (with ``--json`` also as an ``error`` event on stdout); a traceback
only with ``-v``.

Exit codes:
    0  success (for ``status``: the status could be reported, whatever it is)
    1  the job ended FAILED, CANCELLED or EXPIRED (``wait``, ``train --wait``); the vendor's job is not
       the one the checkpoint submitted (another submission key); a deletion declined at the prompt; a
       file or folder that cannot be read or written (one line naming it); or any other jobferry error
       (the vendor refused a call, a workspace cannot be read, a prediction failed, ...)
    2  bad usage: unknown option, invalid spec, invalid name, unknown plugin instance or handle, a
       checkpoint that is not a job's, an adapter with no online deployment, unreadable prediction
       input, deletion refused without --yes
    3  timed out waiting (``--timeout``; the job itself goes on), or ``train`` gave up waiting for another
       process that holds the spec's claim (``claim.wait_seconds``; run it again later to adopt the job)
    130 interrupted (Ctrl-C); the job itself goes on
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from typing import TYPE_CHECKING, Any

from adapters._errors import JobError, JobTimeout, SubmissionBusy
from checkpoint._errors import JobferryError
from checkpoint._names import validate_name

from .._lazy import lazy_exports
from ._exit_codes import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    UsageError,
    _exit_code_of,
)
from ._parser import build_parser

if TYPE_CHECKING:
    from ._output import Output

# Everything the single-module CLI defined stays importable from here, imported on first access (PEP 562):
# the command modules import the engine, which `jobferry --help` never needs. To monkeypatch a name, patch
# the module that defines it (e.g. ``adapters._cli._output._is_tty``): that is where the code looks it up.
_LAZY = {
    "cmd_checkpoints_delete": "._cmd_checkpoints",
    "cmd_checkpoints_list": "._cmd_checkpoints",
    "cmd_checkpoints_show": "._cmd_checkpoints",
    "_record_row": "._cmd_jobs",
    "cmd_cancel": "._cmd_jobs",
    "cmd_status": "._cmd_jobs",
    "cmd_train": "._cmd_jobs",
    "cmd_wait": "._cmd_jobs",
    "_load_deployable": "._cmd_serving",
    "cmd_deploy": "._cmd_serving",
    "cmd_predict": "._cmd_serving",
    "cmd_undeploy": "._cmd_serving",
    "cmd_adapters": "._cmd_tools",
    "cmd_emulator": "._cmd_tools",
    "_FLOAT": "._inputs",
    "_FORMATS": "._inputs",
    "_INT": "._inputs",
    "_csv_value": "._inputs",
    "read_instances": "._inputs",
    "_ANSI": "._output",
    "_duration": "._output",
    "_is_tty": "._output",
    "_no_color": "._output",
    "_strip_ansi": "._output",
    "EPILOG": "._parser",
    "_percentage": "._parser",
    "_positive_int": "._parser",
    "_positive_seconds": "._parser",
    "Progress": "._waiting",
    "_apply_poll_interval": "._waiting",
    "_wait": "._waiting",
    "fixed_poll_policy": "._waiting",
    "_checkpoint_url": "._workspaces",
    "_workspace": "._workspaces",
    "Output": "._output",
    "_status_json": "._output",
}

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)

__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_TIMEOUT", "EXIT_USAGE", "UsageError", "main"]

log = logging.getLogger("jobferry.cli")


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if verbosity > 0:  # basicConfig does nothing when logging is already set up (an embedding app)
        logging.getLogger().setLevel(level)


def _report(exc: BaseException, code: int, out: Output, verbose: bool) -> None:
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    out.end_progress()
    sys.stderr.write(f"error: {exc}\n")
    if isinstance(exc, JobTimeout) and not isinstance(exc, SubmissionBusy):
        sys.stderr.write("the job goes on; `jobferry wait` or `jobferry status` picks it up again\n")
    if out.json_mode:
        event: dict[str, Any] = {
            "event": "error",
            "error": type(exc).__name__,
            "message": str(exc),
            "exitCode": code,
        }
        if isinstance(exc, JobError):
            from .._jobs import JobStatus
            from ._output import _status_json

            event["jobId"] = exc.job_id
            if isinstance(exc.last_status, JobStatus):
                event["lastStatus"] = _status_json(exc.last_status)
        out.emit(event)


# The arguments that name a plugin instance or a handle, in every command that has them. They are checked
# before the command runs: opening a local workspace creates its folder and later steps call vendors, and
# a refused name must leave no trace.
_NAME_ARGS = (("instance", "plugin instance ID"), ("handle", "handle"))


def _check_names(args: argparse.Namespace) -> None:
    for attr, kind in _NAME_ARGS:
        value = getattr(args, attr, None)
        if value is not None:  # None: not given (the default); "" is given, and refused
            validate_name(value, kind)


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
    from ._output import Output, deprecation_notices  # imports the job models: not for --help

    out = Output(json_mode=getattr(args, "json", False))
    try:
        _check_names(args)
        with deprecation_notices():
            code: int = func(args, out)
        return code
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted; any job already submitted goes on\n")
        return EXIT_INTERRUPTED
    except JobferryError as exc:
        code = _exit_code_of(exc)
        _report(exc, code, out, verbose > 0)
        return code
    except OSError as exc:
        # A file or folder jobferry cannot read or write (read-only workspace, full disk, a port in use):
        # one line that names it, not a traceback.
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        wrapped = JobferryError(f"{exc.strerror or exc}{where}")
        if verbose > 0:
            traceback.print_exception(exc, file=sys.stderr)
        _report(wrapped, EXIT_ERROR, out, False)
        return EXIT_ERROR
    except Exception as exc:  # a bug of ours or an untranslated vendor error: still one line without -v
        if verbose > 0:
            traceback.print_exception(exc, file=sys.stderr)
        hint = "" if verbose > 0 else " (an unexpected error; run again with -v for the traceback)"
        _report(JobferryError(f"{type(exc).__name__}: {exc}{hint}"), EXIT_ERROR, out, False)
        return EXIT_ERROR
