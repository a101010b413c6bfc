"""Serving an offline emulator on 127.0.0.1, whatever the vendor: the HTTP server that tracks its open
connections, the request handler's plumbing, the background/foreground lifecycle and the command line's
shared pieces. Each vendor's emulator supplies its app (what a request does) and its own settings.

Standard library and pydantic only: importing this never imports a vendor SDK.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar
from urllib.parse import SplitResult, urlsplit

from pydantic import BaseModel

LOOPBACK = "127.0.0.1"
#: What a client that went away (killed, timed out, closed its socket) raises on our reads and writes.
DISCONNECTS: tuple[type[OSError], ...] = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class _DisconnectLog(Protocol):
    def disconnect(self, method: str) -> None: ...


class EmulatedApp(Protocol):
    """What the server needs of a vendor's app: a request log that counts clients that went away."""

    @property
    def log(self) -> _DisconnectLog: ...


AppT = TypeVar("AppT", bound=EmulatedApp)
ConfigT = TypeVar("ConfigT", bound=BaseModel)


def merged_config(config_class: type[ConfigT], config: ConfigT | None, fields: dict[str, Any]) -> ConfigT:
    """An emulator's configuration: ``config`` with keyword ``fields`` over it, or built from them."""
    if config is not None and fields:
        return config_class(**{**config.model_dump(), **fields})
    return config or config_class(**fields)


class LoopbackServer(ThreadingHTTPServer, Generic[AppT]):
    """A threading HTTP server on 127.0.0.1 that serves ``app`` and can close its kept-alive connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int, app: AppT, handler: type[LoopbackHandler]) -> None:
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((LOOPBACK, port), handler)

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


class LoopbackHandler(BaseHTTPRequestHandler):
    """Reads a request, hands it to :meth:`answer` and writes the answer; counts clients that went away.

    A vendor's handler sets ``server_version`` and ``dropped`` (its app's lost-response exception) and
    implements :meth:`answer` and :meth:`method_name`.
    """

    server: LoopbackServer[Any]
    # Keep-alive: the vendors' clients reuse their connections, and so should the benchmark numbers.
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle on, each keep-alive response waits ~40 ms for
    # the client's delayed ACK (measured: 23 requests/s instead of hundreds).
    disable_nagle_algorithm = True
    sys_version = ""
    #: Raised by :meth:`answer` when the request took effect but its response is to be lost.
    dropped: ClassVar[type[Exception]]

    def answer(
        self, url: SplitResult, body: bytes, headers: dict[str, str]
    ) -> tuple[int, Mapping[str, str], bytes]:
        """(status, headers, payload) of one request."""
        raise NotImplementedError

    def method_name(self, path: str, headers: dict[str, str]) -> str:
        """The operation a request was for, for the disconnect count (``"Unknown"`` if none)."""
        raise NotImplementedError

    def handle(self) -> None:
        # A client may vanish between two keep-alive requests too (the next request line never comes).
        try:
            super().handle()
        except DISCONNECTS:
            self._disconnected("Unknown")

    def _disconnected(self, method: str) -> None:
        self.close_connection = True
        self.server.app.log.disconnect(method)

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = self.rfile.read(length) if length else b""
        except DISCONNECTS:
            body = b""
        headers = dict(self.headers)
        if len(body) < length:  # the client went away mid-request: no effect, nobody to answer
            self._disconnected(self.method_name(url.path, headers))
            return
        try:
            status, out, payload = self.answer(url, body, headers)
        except self.dropped:
            # The effect happened; close without a byte so the client sees a lost response.
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
        except DISCONNECTS:
            self._disconnected(self.method_name(url.path, headers))

    do_GET = do_POST = do_DELETE = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the app keeps its own request log; stderr noise would drown test output


class BackgroundEmulator:
    """An emulator's HTTP server on 127.0.0.1, served from a daemon thread; a context manager.

    A vendor's emulator implements :meth:`_new_server` (bound on ``self._port``, 0: ephemeral).
    """

    def __init__(self, port: int) -> None:
        self._port = port
        self._server: LoopbackServer[Any] | None = None
        self._thread: threading.Thread | None = None

    def _new_server(self) -> LoopbackServer[Any]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the endpoint to give the vendor's clients."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; use it as a context manager or call start()")
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> Self:
        """Bind and start serving in a daemon thread."""
        if self._server is None:
            self._server = self._new_server()
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def server_url(server: LoopbackServer[Any]) -> str:
    """``http://127.0.0.1:PORT`` of a bound server."""
    return f"http://{LOOPBACK}:{server.server_address[1]}"


def serve_foreground(
    server: LoopbackServer[Any], announce: Callable[[], None], close: Callable[[], None]
) -> None:
    """``announce()`` the addresses, serve until Ctrl-C (a clean stop), then ``close()`` what else is open."""
    try:  # from the first line printed on: a Ctrl-C right after it is a clean stop, not an interruption
        announce()
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        close()


#: Called with a listening server's addresses (``url``, ``grpcTarget``) instead of printing them.
Listening = Callable[[dict[str, str]], None]
#: Called with why the emulator cannot start and its exit code (2 bad settings, 1 cannot listen); returns
#: the exit code (or raises).
Failure = Callable[[str, int], int]


def print_failure(message: str, code: int) -> int:
    """The default :data:`Failure`: ``error: <message>`` on stderr."""
    print(f"error: {message}", file=sys.stderr)
    return code


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


def add_serving_arguments(parser: argparse.ArgumentParser, *, vendor: str, scheme: str) -> None:
    """The options every emulator's command takes: ``--port``, ``--speedup`` and ``--bucket-map``."""
    parser.add_argument("--port", type=port_number, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--speedup", type=float, help=f"divide {vendor} durations by this (default 1)")
    parser.add_argument(
        "--bucket-map",
        type=bucket_mapping,
        action="append",
        default=[],
        help=f"serve {scheme}://BUCKET from a local folder",
    )


def read_config(path: str) -> str:
    """The text of a ``--config`` file; ValueError says why it cannot be read, on one line."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read --config {path}: {exc.strerror or exc}") from None


def serve_command(port: int, serve: Callable[[], None], fail: Failure) -> int:
    """Run ``serve()`` (which listens on ``port``); 0, or ``fail``'s code 1 when it cannot listen."""
    try:
        serve()
    except OSError as exc:  # the port is taken, or not ours to bind
        return fail(f"cannot listen on {LOOPBACK}:{port}: {exc.strerror or exc}", 1)
    return 0


__all__ = [
    "DISCONNECTS",
    "LOOPBACK",
    "BackgroundEmulator",
    "EmulatedApp",
    "Failure",
    "Listening",
    "LoopbackHandler",
    "LoopbackServer",
    "add_serving_arguments",
    "merged_config",
    "bucket_mapping",
    "port_number",
    "print_failure",
    "read_config",
    "serve_command",
    "serve_foreground",
    "server_url",
]
