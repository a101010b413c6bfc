"""The commands of online serving: ``deploy``, ``undeploy`` and ``predict``."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from .._external import ExternalJobModel
from .._jobs import JobRef
from .._loading import load_job
from .._serving import Predicting, Serving
from ._exit_codes import EXIT_OK, UsageError
from ._inputs import _FORMATS, read_instances
from ._output import Output
from ._waiting import OperationProgress, _apply_poll_interval
from ._workspaces import _workspace


def _load_deployable(args: argparse.Namespace, method: str) -> Serving:
    """Load the job, check that its adapter is Serving (before any vendor call), apply --poll-interval."""
    model = load_job(_workspace(args), args.instance, args.handle)
    if not isinstance(model, Serving):
        hint = "; predict may still work" if isinstance(model, Predicting) else ""
        raise UsageError(
            f"adapter {model.adapter_name} has no online deployment: cannot {method} {args.instance} "
            f"(its job is {model.job.job_id}{hint})"
        )
    _apply_poll_interval(model, args.poll_interval)
    return model


def _engine(model: Serving) -> ExternalJobModel[Any]:
    assert isinstance(model, ExternalJobModel)
    return model


def _job_of(model: Serving) -> JobRef:
    return _engine(model).job


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
    waiting = not args.no_wait
    if not waiting:  # given only when asked: an adapter without the keyword still deploys as before
        options["wait"] = False
    model = _load_deployable(args, "deploy")
    progress = OperationProgress(out, f"deploying {args.instance}")
    progress.attach(_engine(model))
    try:
        endpoint = str(model.deploy(**options))
    finally:
        progress.close()
    resources = _job_of(model).resources
    deployed = resources.get("deployed_model_id")
    deploying = None if deployed else resources.get("deploying_model_id")
    trained = resources.get("model")
    if out.json_mode:
        event: dict[str, Any] = {
            "pluginInstance": args.instance,
            "endpoint": endpoint,
            "deployedModelId": deployed or deploying,
            "model": trained,
            "waiting": waiting,
        }
        if not waiting:
            event["next"] = f"jobferry deploy {args.instance}"
        out.emit(event)
    else:
        if trained:
            out.line(f"model:             {trained}")
        out.line(f"endpoint:          {endpoint}")
        out.line(f"deployed model ID: {deployed or deploying or '-'}")
        if not waiting:
            out.line(
                f"deployment started, not waited for (--no-wait); run `jobferry deploy {args.instance}` "
                "to wait for it and record it, then predict"
            )
    return EXIT_OK


def cmd_undeploy(args: argparse.Namespace, out: Output) -> int:
    """Undeploy a job's model; with --delete-endpoint, delete its endpoint too (SageMaker always does)."""
    delete = bool(getattr(args, "delete_endpoint", False))
    waiting = not args.no_wait
    if delete and not waiting:
        raise UsageError(
            "--no-wait with --delete-endpoint: the endpoint can be deleted only once the undeploy is done; "
            "give one of them"
        )
    model = _load_deployable(args, "undeploy")
    before = dict(_job_of(model).resources)
    progress = OperationProgress(out, f"undeploying {args.instance}")
    progress.attach(_engine(model))
    try:
        if delete:
            model.undeploy(delete_endpoint=True)
        elif not waiting:
            model.undeploy(wait=False)
        else:
            model.undeploy()
    finally:
        progress.close()
    # Whether the endpoint outlives the undeploy is the vendor's: its job record says which.
    kept = "endpoint" in _job_of(model).resources
    endpoint = before.get("endpoint")
    deployed = before.get("deployed_model_id")
    if out.json_mode:
        out.emit(
            {
                "pluginInstance": args.instance,
                "endpoint": endpoint,
                "deployedModelId": deployed,
                "model": before.get("model"),
                "undeployed": waiting or not kept,  # SageMaker's deletes take effect at once
                "endpointDeleted": not kept,
                "waiting": waiting,
            }
        )
    elif not waiting and kept:
        out.line(
            f"undeploy of model {deployed or '-'} from endpoint {endpoint or '-'} started, not waited for "
            f"(--no-wait); `jobferry status {args.instance}` shows the job, the endpoint is kept"
        )
    else:
        fate = "the endpoint is kept" if kept else "the endpoint is deleted"
        out.line(f"undeployed model {deployed or '-'} from endpoint {endpoint or '-'} ({fate})")
    return EXIT_OK


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
            with open(source, newline="" if fmt == "csv" else None, encoding="utf-8-sig") as stream:
                instances = read_instances(stream, fmt, source)
        except OSError as exc:
            raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None
    target = _output_file(args.output, source)
    # Load the job only once the input is known to be good: a typo should not cost a download.
    model = load_job(_workspace(args), args.instance, args.handle)
    if not isinstance(model, Predicting):
        raise UsageError(
            f"adapter {model.adapter_name} has no online predictions: cannot predict with {args.instance} "
            f"(its job is {model.job.job_id})"
        )
    predictions = model.run(instances, parameters) if instances else []
    buffer = io.StringIO()
    for prediction in predictions:
        buffer.write(json.dumps(prediction, ensure_ascii=False, default=str) + "\n")
    if target is None:
        out.stdout.write(buffer.getvalue())
        out.stdout.flush()
        return EXIT_OK
    # All or nothing: a failed prediction (raised above) leaves no file, a written one is complete.
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        partial.write_text(buffer.getvalue(), encoding="utf-8")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    if out.json_mode:
        out.emit({"pluginInstance": args.instance, "output": str(target), "predictions": len(predictions)})
    else:
        out.line(f"wrote {len(predictions)} prediction(s) to {target}")
    return EXIT_OK


def _output_file(output: str | None, source: str) -> Path | None:
    """The --output file, checked before any vendor call: its folder exists and it is not the input."""
    if output is None or output == "-":
        return None
    target = Path(output).expanduser().absolute()
    if not target.parent.is_dir():
        raise UsageError(f"--output {output}: folder {target.parent} does not exist")
    if target.is_dir():
        raise UsageError(f"--output {output} is a folder; give a file name")
    if source != "-" and target.exists() and target.samefile(source):
        raise UsageError(f"--output {output} is the input file; write the predictions elsewhere")
    return target
