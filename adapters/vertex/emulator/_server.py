"""Serving the emulator on 127.0.0.1 (HTTP, and gRPC through :mod:`._grpc`): a test context manager, the CLI
server and ``main``."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self
from urllib.parse import SplitResult, parse_qs

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
    port_number,
    print_failure,
    read_config,
    serve_command,
    serve_foreground,
    server_url,
)
from ._app import EmulatorApp
from ._config import EmulatorConfig
from ._faults import Faults
from ._state import State
from ._wire import ResponseDropped


def _check_host(host: str) -> str:
    # The emulator has no authentication; it must never be reachable from another machine.
    if host not in (LOOPBACK, "localhost"):
        raise ValueError(f"the Vertex AI emulator only listens on {LOOPBACK}, not {host!r}")
    return LOOPBACK


class _Handler(LoopbackHandler):
    """Hands every request to the server's :class:`EmulatorApp`."""

    server: LoopbackServer[EmulatorApp]
    server_version = "jobferry-vertex-emulator"
    dropped = ResponseDropped

    def answer(
        self, url: SplitResult, body: bytes, headers: dict[str, str]
    ) -> tuple[int, Mapping[str, str], bytes]:
        query = parse_qs(url.query, keep_blank_values=True)
        return self.server.app.handle(self.command, url.path, query, body, headers)

    def method_name(self, path: str, headers: dict[str, str]) -> str:
        found = self.server.app.route(self.command.upper(), path)
        return found[0].method if found else "Unknown"

    do_PATCH = LoopbackHandler._serve


def _server(port: int, app: EmulatorApp) -> LoopbackServer[EmulatorApp]:
    return LoopbackServer(port, app, _Handler)


class VertexEmulator(BackgroundEmulator):
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
        self.app = EmulatorApp(merged_config(EmulatorConfig, config, fields), clock)
        super().__init__(port)
        self._grpc_port = grpc_port
        self._grpc: Any = None  # a grpc.Server once started
        self._grpc_bound = 0
        self._grpc_lock = threading.Lock()

    def _new_server(self) -> LoopbackServer[EmulatorApp]:
        return _server(self._port, self.app)

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

    def start(self) -> Self:
        """Binds and starts serving in a daemon thread (and the gRPC server, when ``grpc_port`` is given)."""
        super().start()
        if self._grpc_port is not None:
            self.grpc_target  # noqa: B018 -- starts the gRPC server
        return self

    def stop(self) -> None:
        """Stops serving and closes the sockets."""
        with self._grpc_lock:
            if self._grpc is not None:
                self._grpc.stop(grace=None).wait(5)
                self._grpc = None
        super().stop()


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
    server = _server(port, app)
    url = server_url(server)
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

    def announce() -> None:
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

    def close() -> None:
        if grpc_server is not None:
            grpc_server.stop(grace=None)

    serve_foreground(server, announce, close)


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
            fields = EmulatorConfig.model_validate_json(read_config(config)).model_dump()
        fields.update({k: v for k, v in (("speedup", speedup), ("seed", seed)) if v is not None})
        if buckets:
            fields["bucket_map"] = {**fields.get("bucket_map", {}), **dict(buckets)}
        return EmulatorConfig(**fields).model_dump()
    except ValidationError as exc:
        raise ValueError(_config_problem(exc)) from None


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
    add_serving_arguments(parser, vendor="Vertex", scheme="gs")
    parser.add_argument("--host", default=LOOPBACK, help="must be 127.0.0.1 or localhost")
    parser.add_argument(
        "--seed", type=int, help="seed of fault rates and resource IDs (default: a random one per start)"
    )
    parser.add_argument("--config", help="a JSON file of EmulatorConfig fields (flags override it)")
    parser.add_argument("--grpc-port", type=port_number, default=0, help="gRPC port (0: any free port)")
    parser.add_argument("--no-grpc", action="store_true", help="serve HTTP only")
    args = parser.parse_args(argv)
    grpc_port = None if args.no_grpc else args.grpc_port
    try:
        fields = config_fields(args.config, args.speedup, args.seed, args.bucket_map)
        return serve_command(
            args.port,
            lambda: run_server(args.port, args.host, grpc_port=grpc_port, listening=listening, **fields),
            fail,
        )
    except ValueError as exc:
        return fail(str(exc), 2)
