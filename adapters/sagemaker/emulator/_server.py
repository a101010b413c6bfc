"""Serving the SageMaker emulator on 127.0.0.1: a test context manager, the CLI server and ``main``."""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import SplitResult

from pydantic import ValidationError

from ..._emulation import (
    LOOPBACK,
    BackgroundEmulator,
    Failure,
    Listening,
    LoopbackHandler,
    LoopbackServer,
    add_serving_arguments,
    merged_config,
    print_failure,
    read_config,
    serve_command,
    serve_foreground,
    server_url,
)
from ...vertex.emulator import Faults
from ._app import ResponseDropped, SageMakerApp
from ._config import SageMakerEmulatorConfig
from ._state import State


class _Handler(LoopbackHandler):
    server: LoopbackServer[SageMakerApp]
    server_version = "jobferry-sagemaker-emulator"
    dropped = ResponseDropped

    def answer(
        self, url: SplitResult, body: bytes, headers: dict[str, str]
    ) -> tuple[int, Mapping[str, str], bytes]:
        return self.server.app.handle(self.command, url.path, body, headers)

    def method_name(self, path: str, headers: dict[str, str]) -> str:
        return self.server.app.method_of(self.command, path, headers)


def _server(port: int, app: SageMakerApp) -> LoopbackServer[SageMakerApp]:
    return LoopbackServer(port, app, _Handler)


class SageMakerEmulator(BackgroundEmulator):
    """The emulator on an ephemeral 127.0.0.1 port, served from a daemon thread.

    Example::

        with SageMakerEmulator(speedup=3600) as emu:
            sm = boto3.client("sagemaker", endpoint_url=emu.url, region_name="us-east-1",
                              config=Config(signature_version=UNSIGNED))

    :attr:`url` is the ``endpoint_url`` of the sagemaker and sagemaker-runtime clients.

    Args:
        config: a full configuration; keyword fields override it (or build one).
        clock: monotonic seconds driving job progress and throttling (a fake clock in tests).
        port: 0 for an ephemeral port.
        **fields: :class:`SageMakerEmulatorConfig` fields.
    """

    def __init__(
        self,
        config: SageMakerEmulatorConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        port: int = 0,
        **fields: Any,
    ) -> None:
        self.app = SageMakerApp(merged_config(SageMakerEmulatorConfig, config, fields), clock)
        super().__init__(port)

    def _new_server(self) -> LoopbackServer[SageMakerApp]:
        return _server(self._port, self.app)

    @property
    def state(self) -> State:
        """Every resource, for assertions and for putting S3 objects (``state.buckets.write``)."""
        return self.app.state

    @property
    def counts(self) -> Counter[str]:
        """Requests received per operation."""
        return self.app.counts

    @property
    def faults(self) -> Faults:
        """The fault injector (``faults.set("DescribeTrainingJob", error_rate=1.0, codes=[503])``)."""
        return self.app.faults

    def put_object(self, uri: str, data: bytes) -> None:
        """Write an S3 object (a training channel's CSV, say)."""
        self.app.state.buckets.write(uri, data)

    def get_object(self, uri: str) -> bytes:
        """Read an S3 object (an artefact, a transform's output)."""
        return self.app.state.buckets.read(uri)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        self.app.state.buckets.close()


def run_server(
    port: int = 0,
    *,
    clock: Callable[[], float] = time.monotonic,
    ready: Callable[[str], None] | None = None,
    listening: Listening | None = None,
    **fields: Any,
) -> None:
    """Serve in the foreground until Ctrl-C; print ``http://127.0.0.1:PORT`` first (for scripts).

    ``ready(url)`` or ``listening({"url": url})`` is called instead of printing, once listening.
    """
    app = SageMakerApp(SageMakerEmulatorConfig(**fields), clock)
    server = _server(port, app)
    url = server_url(server)

    def announce() -> None:
        if ready is None and listening is not None:
            listening({"url": url})
        elif ready is None:
            print(url, flush=True)
            print(
                f"SageMaker emulator listening on {LOOPBACK} (S3 buckets under {app.state.buckets.root}; "
                "Ctrl-C to stop)",
                flush=True,
            )
        else:
            ready(url)

    serve_foreground(server, announce, app.state.buckets.close)


def main(
    argv: Sequence[str] | None = None,
    *,
    listening: Listening | None = None,
    fail: Failure = print_failure,
) -> int:
    """``python -m adapters.sagemaker.emulator [--port N] [--speedup X] [--bucket-map bucket=/dir] ...``.

    ``listening`` replaces the printed address (``jobferry emulator sagemaker --json``); ``fail`` reports
    why it cannot start (default: one ``error:`` line on stderr).
    """
    parser = argparse.ArgumentParser(
        prog="jobferry emulator sagemaker", description="An offline SageMaker emulator on 127.0.0.1."
    )
    add_serving_arguments(parser, vendor="SageMaker", scheme="s3")
    parser.add_argument("--data-dir", help="where unmapped buckets live (default: a temporary folder)")
    parser.add_argument("--seed", type=int, help="seed of fault draws")
    parser.add_argument("--config", help="a JSON file of SageMakerEmulatorConfig fields (flags override it)")
    args = parser.parse_args(argv)
    fields: dict[str, Any] = {}
    try:
        if args.config:
            text = read_config(args.config)
            fields = SageMakerEmulatorConfig.model_validate_json(text).model_dump(exclude_unset=True)
        if args.bucket_map:
            fields["bucket_map"] = {**fields.get("bucket_map", {}), **dict(args.bucket_map)}
        for key in ("speedup", "seed", "data_dir"):
            if getattr(args, key) is not None:
                fields[key] = getattr(args, key)
        SageMakerEmulatorConfig(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        return fail(f"invalid emulator settings: {problems}", 2)
    except ValueError as exc:  # the --config file cannot be read
        return fail(str(exc), 2)
    return serve_command(args.port, lambda: run_server(args.port, listening=listening, **fields), fail)
