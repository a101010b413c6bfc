"""Serving the emulator on 127.0.0.1 (HTTP, and gRPC through :mod:`._grpc`): a test context manager, the CLI
server and ``main``."""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from ._app import EmulatorApp
from ._config import EmulatorConfig
from ._faults import Faults
from ._state import State
from ._wire import ResponseDropped

LOOPBACK = "127.0.0.1"
#: What a client that went away (killed, timed out, closed its socket) raises on our reads and writes.
DISCONNECTS: tuple[type[OSError], ...] = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def _check_host(host: str) -> str:
    # The emulator has no authentication; it must never be reachable from another machine.
    if host not in (LOOPBACK, "localhost"):
        raise ValueError(f"the Vertex AI emulator only listens on {LOOPBACK}, not {host!r}")
    return LOOPBACK


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the server's :class:`EmulatorApp`."""

    server: _Server
    # Keep-alive: the GAPIC clients reuse their connections, and so should the benchmark numbers.
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle on, each keep-alive response waits ~40 ms for
    # the client's delayed ACK (measured: 23 requests/s instead of hundreds).
    disable_nagle_algorithm = True
    server_version = "jobferry-vertex-emulator"
    sys_version = ""

    def handle(self) -> None:
        # A client may vanish between two keep-alive requests too (the next request line never comes).
        try:
            super().handle()
        except DISCONNECTS:
            self._disconnected("Unknown")

    def _disconnected(self, method: str) -> None:
        self.close_connection = True
        self.server.app.log.disconnect(method)

    def _method(self, path: str) -> str:
        found = self.server.app.route(self.command.upper(), path)
        return found[0].method if found else "Unknown"

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = self.rfile.read(length) if length else b""
        except DISCONNECTS:
            body = b""
        if len(body) < length:  # the client went away mid-request: no effect, nobody to answer
            self._disconnected(self._method(url.path))
            return
        try:
            status, headers, payload = self.server.app.handle(
                self.command, url.path, parse_qs(url.query, keep_blank_values=True), body, dict(self.headers)
            )
        except ResponseDropped:
            # The effect happened; close without a byte so the client sees a lost response.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except DISCONNECTS:
            self._disconnected(self._method(url.path))

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the app keeps its own request log; stderr noise would drown test output


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int, app: EmulatorApp) -> None:
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
        """Close the kept-alive connections too: a stopped emulator must not go on answering on them."""
        with self._open_lock:
            live, self._open = list(self._open), set()
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away is counted, not printed; anything else is a real error and stays loud.
        if isinstance(sys.exc_info()[1], DISCONNECTS):
            self.app.log.disconnect("Unknown")
            return
        super().handle_error(request, client_address)


def _config(config: EmulatorConfig | None, fields: dict[str, Any]) -> EmulatorConfig:
    if config is not None and fields:
        return EmulatorConfig(**{**config.model_dump(), **fields})
    return config or EmulatorConfig(**fields)


class VertexEmulator:
    """The emulator on an ephemeral 127.0.0.1 port, served from a daemon thread.

    Example::

        with VertexEmulator(speedup=3600) as emu:
            client = aiplatform_v1.PipelineServiceClient(
                transport="rest", client_options={"api_endpoint": emu.url}, credentials=AnonymousCredentials()
            )

    The same state is served over gRPC (:attr:`grpc_target`) to the GAPIC clients' default transport.
    That server starts on first use of :attr:`grpc_target` / :attr:`grpc_url` (so that REST-only tests
    never import grpcio), or with :meth:`start` when ``grpc_port`` is given; it loads the GAPIC method
    table (about 1-2 s) on its first call.

    Args:
        config: a full configuration; keyword fields override it (or build one).
        clock: monotonic seconds driving job progress and quotas (a fake clock in tests).
        port: 0 for an ephemeral port.
        grpc_port: start the gRPC server with the HTTP one, on this port (0: ephemeral); None: on demand.
        **fields: :class:`EmulatorConfig` fields.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        port: int = 0,
        grpc_port: int | None = None,
        **fields: Any,
    ) -> None:
        self.app = EmulatorApp(_config(config, fields), clock)
        self._port = port
        self._grpc_port = grpc_port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._grpc: Any = None  # a grpc.Server once started
        self._grpc_bound = 0
        self._grpc_lock = threading.Lock()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``; the ``api_endpoint`` to give the clients."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; use it as a context manager or call start()")
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    @property
    def grpc_target(self) -> str:
        """``127.0.0.1:PORT`` of the gRPC server (started now if need be), for ``grpc.insecure_channel``.

        Raises:
            MissingDependency: grpcio or google-cloud-aiplatform is not installed.
        """
        if self._server is None:
            raise RuntimeError("the emulator is not running; use it as a context manager or call start()")
        with self._grpc_lock:
            if self._grpc is None:
                from ._grpc import build_server

                self._grpc, self._grpc_bound = build_server(self.app, self._grpc_port or 0)
        return f"{LOOPBACK}:{self._grpc_bound}"

    @property
    def grpc_url(self) -> str:
        """``grpc://127.0.0.1:PORT``: the ``api_endpoint`` for a config with ``transport = "grpc"``."""
        return f"grpc://{self.grpc_target}"

    @property
    def state(self) -> State:
        """Every resource, for assertions and scripting (``state.script_next``)."""
        return self.app.state

    @property
    def counts(self) -> Counter[str]:
        """Requests received per method name."""
        return self.app.counts

    @property
    def disconnects(self) -> Counter[str]:
        """Clients that went away mid-request, per method name (``"Unknown"``: between requests)."""
        return self.app.log.disconnects

    @property
    def faults(self) -> Faults:
        """The fault injector (``faults.set("GetTrainingPipeline", error_rate=1.0, codes=[503])``)."""
        return self.app.faults

    def start(self) -> VertexEmulator:
        """Binds and starts serving in a daemon thread."""
        if self._server is None:
            self._server = _Server(self._port, self.app)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        if self._grpc_port is not None:
            self.grpc_target  # noqa: B018 -- starts the gRPC server
        return self

    def stop(self) -> None:
        """Stops serving and closes the sockets."""
        with self._grpc_lock:
            if self._grpc is not None:
                self._grpc.stop(grace=None).wait(5)
                self._grpc = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
            self._thread = None

    def __enter__(self) -> VertexEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def run_server(
    port: int = 0,
    host: str = LOOPBACK,
    *,
    clock: Callable[[], float] = time.monotonic,
    ready: Callable[[str], None] | None = None,
    grpc_port: int | None = 0,
    listening: Listening | None = None,
    **fields: Any,
) -> None:
    """Serves the emulator in the foreground until Ctrl-C (KeyboardInterrupt), then stops cleanly.

    Prints ``http://127.0.0.1:PORT`` and then ``grpc://127.0.0.1:PORT``, each on its own line (the first
    line is always the HTTP address, for scripts that read one line).

    Args:
        port: 0 for an ephemeral port.
        host: must be 127.0.0.1 or localhost.
        clock: monotonic seconds.
        ready: called with the HTTP URL once listening (default: print both addresses and flush).
        grpc_port: the gRPC port (0: ephemeral); None: HTTP only. Without grpcio the server runs HTTP only
            and says how to install it.
        listening: called instead of printing, with the addresses (``url``, and ``grpcTarget`` when gRPC
            is served) once listening (``ready`` wins when both are given).
        **fields: :class:`EmulatorConfig` fields.
    """
    _check_host(host)
    app = EmulatorApp(EmulatorConfig(**fields), clock)
    server = _Server(port, app)
    url = f"http://{LOOPBACK}:{server.server_address[1]}"
    grpc_server: Any = None
    grpc_url = ""
    if grpc_port is not None:
        from ._grpc import available, build_server

        if available():
            grpc_server, bound = build_server(app, grpc_port)
            grpc_url = f"grpc://{LOOPBACK}:{bound}"
        else:
            print(
                "gRPC off: install grpcio with: pip install 'jobferry[vertex]'", file=sys.stderr, flush=True
            )
    try:  # from the first line printed on: a Ctrl-C right after it is a clean stop, not an interruption
        if ready is None and listening is not None:
            listening({"url": url, **({"grpcTarget": grpc_url.removeprefix("grpc://")} if grpc_url else {})})
        elif ready is None:
            print(url, flush=True)
            if grpc_url:
                print(grpc_url, flush=True)
            pace = app.config.speedup
            speed = "Vertex's own speed" if pace == 1 else f"Vertex time x{pace:g}"
            print(f"Vertex AI emulator listening on 127.0.0.1 ({speed}; Ctrl-C to stop)", flush=True)
        else:
            ready(url)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if grpc_server is not None:
            grpc_server.stop(grace=None)


def bucket_mapping(text: str) -> tuple[str, str]:
    """``BUCKET=/local/dir`` -> (bucket, folder); the folder must exist (argparse type)."""
    bucket, sep, folder = text.partition("=")
    if not sep or not bucket or not folder:
        raise argparse.ArgumentTypeError(f"expected BUCKET=/local/dir, got {text!r}")
    if not Path(folder).expanduser().is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: {folder!r} is not a folder")
    return bucket, folder


def port_number(text: str) -> int:
    """A TCP port, 0 (any free port) to 65535 (argparse type)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range: use 0 (any free port) to 65535")
    return port


def _config_problem(exc: ValidationError) -> str:
    # One line per field, no pydantic URL: what a user of the command can act on.
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(config)"
        parts.append(f"{where} = {err.get('input')!r}: {err['msg']}" if err["type"] != "missing" else where)
    valid = ", ".join(sorted(EmulatorConfig.model_fields))
    return f"invalid emulator config: {'; '.join(parts)} (fields: {valid})"


def config_fields(
    config: str | None, speedup: float | None, seed: int | None, buckets: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """The validated EmulatorConfig fields of the command line; ValueError says what is wrong, on one line."""
    fields: dict[str, Any] = {}
    try:
        if config:
            try:
                text = Path(config).read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"cannot read --config {config}: {exc.strerror or exc}") from None
            fields = EmulatorConfig.model_validate_json(text).model_dump()
        fields.update({k: v for k, v in (("speedup", speedup), ("seed", seed)) if v is not None})
        if buckets:
            fields["bucket_map"] = {**fields.get("bucket_map", {}), **dict(buckets)}
        return EmulatorConfig(**fields).model_dump()
    except ValidationError as exc:
        raise ValueError(_config_problem(exc)) from None


#: Called with a listening server's addresses (``url``, ``grpcTarget``) instead of printing them.
Listening = Callable[[dict[str, str]], None]
#: Called with why the emulator cannot start and its exit code (2 bad settings, 1 cannot listen); returns
#: the exit code (or raises).
Failure = Callable[[str, int], int]


def print_failure(message: str, code: int) -> int:
    """The default :data:`Failure`: ``error: <message>`` on stderr."""
    print(f"error: {message}", file=sys.stderr)
    return code


def main(
    argv: Sequence[str] | None = None,
    *,
    listening: Listening | None = None,
    fail: Failure = print_failure,
) -> int:
    """``python -m adapters.vertex.emulator [--port N] [--speedup X] [--bucket-map bucket=/dir] ...``.

    ``listening`` replaces the printed addresses (``jobferry emulator --json``); ``fail`` reports why it
    cannot start (default: one ``error:`` line on stderr).
    """
    parser = argparse.ArgumentParser(
        prog="python -m adapters.vertex.emulator", description="An offline Vertex AI emulator on 127.0.0.1."
    )
    parser.add_argument("--port", type=port_number, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default=LOOPBACK, help="must be 127.0.0.1 or localhost")
    parser.add_argument("--speedup", type=float, help="divide Vertex durations by this (default 1)")
    parser.add_argument(
        "--bucket-map",
        type=bucket_mapping,
        action="append",
        default=[],
        help="serve gs://BUCKET from a local folder",
    )
    parser.add_argument(
        "--seed", type=int, help="seed of fault rates and resource IDs (default: a random one per start)"
    )
    parser.add_argument("--config", help="a JSON file of EmulatorConfig fields (flags override it)")
    parser.add_argument("--grpc-port", type=port_number, default=0, help="gRPC port (0: any free port)")
    parser.add_argument("--no-grpc", action="store_true", help="serve HTTP only")
    args = parser.parse_args(argv)
    try:
        fields = config_fields(args.config, args.speedup, args.seed, args.bucket_map)
        grpc_port = None if args.no_grpc else args.grpc_port
        run_server(args.port, args.host, grpc_port=grpc_port, listening=listening, **fields)
    except ValueError as exc:
        return fail(str(exc), 2)
    except OSError as exc:  # the port is taken, or not ours to bind
        return fail(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", 1)
    return 0
