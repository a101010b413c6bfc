"""The argument parser of ``jobferry``: its sub-commands, options, help epilog and argument types."""

from __future__ import annotations

import argparse
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._output import Output

# The hand-started emulator runs at the demo's speed: at Vertex's own (pending 10 min, running 1 h) the
# README's walkthrough would never finish. --real-time (or --speedup 1) is the service's own speed.
DEMO_SPEEDUP = 600.0

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
  JOBFERRY_LOCAL_JOBS where the local adapter keeps its job directories (default: the user data dir)
  NO_COLOR            plain output: no colours, no live line
"""


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


class Command:
    """A sub-command's function, named ``"module:function"`` and imported when the command runs.

    Building the parser imports no command module: they import the engine (pydantic models, the
    registry, the adapters' bases), which ``jobferry --help`` or a usage error never needs.
    """

    def __init__(self, target: str) -> None:
        self.module, _, self.name = target.partition(":")

    def __repr__(self) -> str:
        return f"Command({self.module}:{self.name})"

    def __call__(self, args: argparse.Namespace, out: Output) -> int:
        func = getattr(importlib.import_module(self.module, __package__), self.name)
        code: int = func(args, out)
        return code


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``jobferry``."""
    from .. import __version__

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
    as_json.add_argument(
        "--json",
        action="store_true",
        help="print JSON: one object, or JSON Lines (one event per line) for commands that stream "
        "(train --wait, wait, events)",
    )
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
        func: str,
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
        p.set_defaults(func=Command(func))
        return p

    p = add(
        "train",
        "._cmd_jobs:cmd_train",
        "submit the job a TOML spec describes (adopting a running one)",
        [from_spec, as_json, timeout, poll],
    )
    p.add_argument("spec", metavar="SPEC", help="the job spec (TOML)")
    p.add_argument("--wait", action="store_true", help="show progress until the job ends")
    p.add_argument("--new", action="store_true", help="submit a new job even if one runs for this spec")
    p.add_argument(
        "--dry-run",
        "-n",
        action="store_true",
        help="validate the spec, its entrypoint, local files and credential reference; print the job it "
        "would submit; submit nothing, write nothing",
    )

    p = add(
        "status",
        "._cmd_jobs:cmd_status",
        "poll one job, or list every plugin instance's last known status",
        [common, as_json, handle],
    )
    p.add_argument("instance", nargs="?", metavar="INSTANCE", help="plugin instance (omit to list all)")

    p = add(
        "jobs",
        "._cmd_history:cmd_jobs",
        "every job an instance (or every instance) has had, newest first: current, replaced by --new, "
        "submitting or outcome unknown (reads the workspace only)",
        [common, as_json],
    )
    p.add_argument("instance", nargs="?", metavar="INSTANCE", help="plugin instance (omit for all)")

    p = add(
        "events",
        "._cmd_history:cmd_events",
        "an instance's events, oldest first: its submissions and every status jobferry saw (the status "
        "log); --json prints JSON Lines, one event per line",
        [common, as_json, handle, timeout, poll],
    )
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument(
        "--follow", "-f", action="store_true", help="then poll the job and print each change until it ends"
    )

    p = add(
        "logs",
        "._cmd_history:cmd_logs",
        "the job's own log (stdout and stderr of a local-adapter job)",
        [common, as_json, handle],
    )
    p.add_argument("instance", metavar="INSTANCE")

    p = add("wait", "._cmd_jobs:cmd_wait", "wait for a job to end", [common, as_json, handle, timeout, poll])
    p.add_argument("instance", metavar="INSTANCE")

    p = add("cancel", "._cmd_jobs:cmd_cancel", "ask the vendor to cancel a job", [common, as_json, handle])
    p.add_argument("instance", metavar="INSTANCE")

    p = add(
        "deploy",
        "._cmd_serving:cmd_deploy",
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
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="return once the vendor accepted the deployment; `jobferry deploy INSTANCE` again waits for it "
        "and records it",
    )

    p = add(
        "undeploy",
        "._cmd_serving:cmd_undeploy",
        "undeploy a job's model from its endpoint (kept unless --delete-endpoint)",
        [common, as_json, handle, poll],
    )
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument(
        "--delete-endpoint",
        action="store_true",
        help="then delete the endpoint, if jobferry created it for this job and nothing else is deployed "
        "on it (refused otherwise, before anything is undeployed)",
    )
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="return once the vendor accepted the undeploy (not with --delete-endpoint)",
    )

    p = add(
        "predict",
        "._cmd_serving:cmd_predict",
        "predict with a trained job: JSONL or CSV in, JSON Lines out (one prediction per line, in order)",
        [common, handle, as_json],
    )
    p.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the predictions to FILE (all or nothing: written once every chunk succeeded); "
        "default: stdout",
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
    p = add(
        "list",
        "._cmd_checkpoints:cmd_checkpoints_list",
        "plugin instances, or the handles of one",
        [common, as_json],
        cks,
    )
    p.add_argument("instance", nargs="?", metavar="INSTANCE")
    p = add(
        "show",
        "._cmd_checkpoints:cmd_checkpoints_show",
        "a handle's job.json, or its bundle's files",
        [common, as_json],
        cks,
    )
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument("handle", nargs="?", default=None, metavar="HANDLE", help="default: default")
    p = add(
        "delete",
        "._cmd_checkpoints:cmd_checkpoints_delete",
        "delete a handle (asks at a terminal; elsewhere refuses without --yes)",
        [common, as_json],
        cks,
    )
    p.add_argument("instance", metavar="INSTANCE")
    p.add_argument("handle", metavar="HANDLE")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask")

    lo = sub.add_parser(
        "local", help="the local adapter's job directories", description="the local adapter's job directories"
    )
    lo.set_defaults(func=None, parser=lo)
    los = lo.add_subparsers(dest="action", metavar="ACTION")
    p = add(
        "gc",
        "._cmd_local:cmd_local_gc",
        "remove finished local job directories that no handle of the workspace names (predict needs those)",
        [common, as_json],
        los,
    )
    p.add_argument(
        "--jobs-dir",
        metavar="DIR",
        help="the job directories' folder (default: $JOBFERRY_LOCAL_JOBS, else "
        "local-jobs in the user data dir)",
    )
    p.add_argument("--dry-run", "-n", action="store_true", help="list what would be removed; remove nothing")

    add(
        "adapters",
        "._cmd_tools:cmd_adapters",
        "registered adapters and whether they import",
        [verbose, as_json],
    )

    p = add(
        "emulator",
        "._cmd_tools:cmd_emulator",
        "serve the Vertex AI (default) or SageMaker emulator on 127.0.0.1 until Ctrl-C (prints its URLs)",
        [verbose],
    )
    p.add_argument(
        "service",
        nargs="?",
        choices=["vertex", "sagemaker"],
        default="vertex",
        help="which service to emulate (default: vertex)",
    )
    p.add_argument("--port", type=_port, default=0, help="port to listen on (default: any free port)")
    speed = p.add_mutually_exclusive_group()
    speed.add_argument(
        "--speedup",
        type=float,
        metavar="X",
        help=f"emulated service seconds per real second (default {DEMO_SPEEDUP:g}, unless --config sets it: "
        "a 1 h AutoML pipeline ends in seconds)",
    )
    speed.add_argument(
        "--real-time", action="store_true", help="run at the service's own speed (the same as --speedup 1)"
    )
    p.add_argument(
        "--bucket-map",
        type=_bucket,
        action="append",
        default=[],
        metavar="BUCKET=DIR",
        help="serve gs://BUCKET from a local folder (repeatable)",
    )
    p.add_argument(
        "--seed",
        type=int,
        help="seed of resource IDs and fault draws (default: a fresh random seed at each start)",
    )
    p.add_argument("--config", metavar="FILE", help="a JSON file of EmulatorConfig fields (flags override)")
    p.add_argument("--grpc-port", type=_port, default=0, help="gRPC port (default: any free port)")
    p.add_argument("--no-grpc", action="store_true", help="serve HTTP only (no grpc:// address)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON Lines instead of the address lines: one listening event (service, url, grpcTarget)",
    )
    return parser


def _port(text: str) -> int:
    from .._emulation import port_number  # stdlib only: cheap, and only for this command

    return port_number(text)


def _bucket(text: str) -> str:
    from .._emulation import bucket_mapping

    bucket, folder = bucket_mapping(text)  # checked here, so the error names jobferry's own usage
    return f"{bucket}={folder}"
