"""The commands about this installation rather than a workspace: ``adapters`` and ``emulator``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from checkpoint._errors import JobferryError

from .._registry import get_adapter, list_adapters
from ._exit_codes import EXIT_OK, EXIT_USAGE, UsageError
from ._output import Output
from ._parser import DEMO_SPEEDUP


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
    """Run the Vertex AI emulator (REST, and gRPC unless --no-grpc), or the SageMaker one, until Ctrl-C.

    Plain: the emulator prints its address lines. ``--json``: one ``listening`` event instead, and a
    failure to start is the CLI's own error (one line on stderr, an ``error`` event on stdout).
    """
    service = getattr(args, "service", "vertex")

    def listening(addresses: dict[str, str]) -> None:
        out.emit({"event": "listening", "service": service, **addresses})

    def fail(message: str, code: int) -> int:
        raise UsageError(message) if code == EXIT_USAGE else JobferryError(message)

    hooks: dict[str, Any] = {"fail": fail, **({"listening": listening} if out.json_mode else {})}
    if service == "sagemaker":
        from ..sagemaker.emulator import main as sagemaker_main

        argv = [f"--port={args.port}", *_speed_argv(args)]
        argv += [f"--seed={args.seed}"] if args.seed is not None else []
        argv += [f"--bucket-map={mapping}" for mapping in args.bucket_map]
        argv += [f"--config={args.config}"] if args.config else []
        if args.no_grpc or args.grpc_port:
            raise UsageError(
                "--grpc-port / --no-grpc apply to the Vertex AI emulator; SageMaker's speaks HTTP only"
            )
        return sagemaker_main(argv, **hooks)
    from ..vertex.emulator import main as emulator_main

    argv = [f"--port={args.port}", *_speed_argv(args)]
    argv += [f"--seed={args.seed}"] if args.seed is not None else []
    argv += [f"--config={args.config}"] if args.config else []
    argv += [f"--grpc-port={args.grpc_port}"] + (["--no-grpc"] if args.no_grpc else [])
    for mapping in args.bucket_map:
        argv += [f"--bucket-map={mapping}"]
    return emulator_main(argv, **hooks)


def _speed_argv(args: argparse.Namespace) -> list[str]:
    # One rule for both emulators: demo speed unless --speedup, --real-time or the --config file says.
    speedup = 1.0 if args.real_time else args.speedup
    if speedup is None and not _config_sets_speedup(args.config):
        speedup = DEMO_SPEEDUP
    return [f"--speedup={speedup}"] if speedup is not None else []


def _config_sets_speedup(config: str | None) -> bool:
    # A --config that sets speedup keeps it; an unreadable one is reported by the emulator itself.
    if not config:
        return False
    try:
        fields = json.loads(Path(config).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(fields, dict) and "speedup" in fields
