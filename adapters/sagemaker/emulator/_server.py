"""Serving the SageMaker emulator on 127.0.0.1: a test context manager, the CLI server and ``main``."""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from ...vertex.emulator import Faults
from ...vertex.emulator._server import Failure, Listening, bucket_mapping, port_number, print_failure
from ._app import ResponseDropped, SageMakerApp
from ._config import SageMakerEmulatorConfig
from ._state import State

LOOPBACK = "127.0.0.1"
_DISCONNECTS: tuple[type[OSError], ...] = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's pool expects
    disable_nagle_algorithm = True
    server_version = "jobferry-sagemaker-emulator"
    sys_version = ""

    def handle(self) -> None:
        try:
            super().handle()
        except _DISCONNECTS:
            self.close_connection = True
            self.server.app.log.disconnect("Unknown")

    def _serve(self) -> None:
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = self.rfile.read(length) if length else b""
        except _DISCONNECTS:
            body = b""
        headers = dict(self.headers)
        if len(body) < length:
            self.close_connection = True
            self.server.app.log.disconnect(self.server.app.method_of(self.command, path, headers))
            return
        try:
            status, out, payload = self.server.app.handle(self.command, path, body, headers)
        except ResponseDropped:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(status)
            for key, value in out.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except _DISCONNECTS:
            self.close_connection = True
            self.server.app.log.disconnect(self.server.app.method_of(self.command, path, headers))

    do_GET = do_POST = do_DELETE = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the app keeps its own request log


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int, app: SageMakerApp) -> None:
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((LOOPBACK, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            live, self._open = list(self._open), set()
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class SageMakerEmulator:
    """The emulator on an ephemeral 127.0.0.1 port, served from a daemon thread.

    Example::

        with SageMakerEmulator(speedup=3600) as emu:
            sm = boto3.client("sagemaker", endpoint_url=emu.url, region_name="us-east-1",
                              config=Config(signature_version=UNSIGNED))

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
        if config is not None and fields:
            config = SageMakerEmulatorConfig(**{**config.model_dump(), **fields})
        self.app = SageMakerApp(config or SageMakerEmulatorConfig(**fields), clock)
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the ``endpoint_url`` of the sagemaker and sagemaker-runtime clients."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; use it as a context manager or call start()")
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

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

    def start(self) -> SageMakerEmulator:
        """Bind and start serving in a daemon thread."""
        if self._server is None:
            self._server = _Server(self._port, self.app)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the sockets (the state stays, for assertions)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
            self._thread = None

    def __enter__(self) -> SageMakerEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
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
    server = _Server(port, app)
    url = f"http://{LOOPBACK}:{server.server_address[1]}"
    if ready is None and listening is not None:
        listening({"url": url})
    elif ready is None:
        print(url, flush=True)
        print(
            f"SageMaker emulator listening on 127.0.0.1 (S3 buckets under {app.state.buckets.root}; "
            "Ctrl-C to stop)",
            flush=True,
        )
    else:
        ready(url)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.state.buckets.close()


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
    parser.add_argument("--port", type=port_number, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--speedup", type=float, help="divide SageMaker durations by this (default 1)")
    parser.add_argument(
        "--bucket-map",
        type=bucket_mapping,
        action="append",
        default=[],
        help="serve s3://BUCKET from a local folder",
    )
    parser.add_argument("--data-dir", help="where unmapped buckets live (default: a temporary folder)")
    parser.add_argument("--seed", type=int, help="seed of fault draws")
    parser.add_argument("--config", help="a JSON file of SageMakerEmulatorConfig fields (flags override it)")
    args = parser.parse_args(argv)
    fields: dict[str, Any] = {}
    try:
        if args.config:
            try:
                text = Path(args.config).read_text(encoding="utf-8")
            except OSError as exc:
                return fail(f"cannot read --config {args.config}: {exc.strerror or exc}", 2)
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
    try:
        run_server(args.port, listening=listening, **fields)
    except OSError as exc:
        return fail(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", 1)
    return 0
