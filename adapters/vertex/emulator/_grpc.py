"""The emulator over gRPC on 127.0.0.1: each RPC is transcoded to REST and answered by ``EmulatorApp.handle``.

One dispatch for both transports means state, faults, quotas, the payload limit and the request log are
shared by construction. ``grpcio`` and the Google packages are imported here only, and this module is
imported only when a gRPC server is asked for: ``import adapters.vertex.emulator`` stays standard library.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.util import find_spec
from typing import Any, NoReturn

from checkpoint._errors import MissingDependency

from ._app import EmulatorApp
from ._wire import ResponseDropped

#: Bigger than any payload the emulator accepts, so that its own 1.5 MB prediction limit answers (as
#: INVALID_ARGUMENT, like Vertex) rather than gRPC's 4 MB default with RESOURCE_EXHAUSTED.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]


def available() -> bool:
    """True when grpcio and google-cloud-aiplatform are installed (found, not imported: that costs ~1 s)."""
    try:
        return all(find_spec(name) is not None for name in ("grpc", "google.cloud.aiplatform_v1"))
    except ImportError:  # a missing parent package
        return False


def _require() -> None:
    if not available():
        raise MissingDependency("the Vertex AI emulator's gRPC server", "vertex", "grpc")


def _abort(context: Any, code: Any, message: str) -> NoReturn:
    context.abort(code, message)  # raises, always
    raise AssertionError("grpc's abort returned")


def _behaviour(app: EmulatorApp, rpc: Any) -> Callable[[bytes, Any], bytes]:
    import grpc

    from ._transcode import error_status, from_json, to_http

    def serve(raw: bytes, context: grpc.ServicerContext) -> bytes:
        request = rpc.request.FromString(raw)
        http = to_http(rpc, request)
        if http is None:
            # No HTTP rule, or the request's fields fit none: REST could not express it either.
            app.log.count(rpc.method)
            _abort(context, grpc.StatusCode.UNIMPLEMENTED, f"The emulator does not implement {rpc.method}.")
        headers = {str(k): str(v) for k, v in context.invocation_metadata()}
        try:
            status, reply_headers, payload = app.handle(http.verb, http.path, http.query, http.body, headers)
        except ResponseDropped:
            # The effect happened; the client must see a lost response, as over REST.
            _abort(context, grpc.StatusCode.UNAVAILABLE, "The response was lost (injected fault).")
        if status >= 400:
            code, message, details = error_status(status, reply_headers, payload)
            context.set_trailing_metadata((("grpc-status-details-bin", details),))
            _abort(context, code, message)
        serialized: bytes = from_json(rpc, payload).SerializeToString()
        return serialized

    return serve


def _handler(app: EmulatorApp) -> Any:
    import grpc

    class Lazy(grpc.GenericRpcHandler):  # type: ignore[misc]
        """Builds the method table on the first call: the GAPIC import (~1-2 s) is paid only when used,
        so that a server started for its address (the CLI, REST-only scripts) starts at once."""

        def __init__(self) -> None:
            self._methods: dict[str, Any] | None = None
            self._lock = threading.Lock()

        def service(self, details: Any) -> Any:
            with self._lock:
                if self._methods is None:
                    from ._transcode import rpc_table

                    # No (de)serializers: the behaviour parses and serializes with the protobuf classes.
                    self._methods = {
                        f"/{rpc.service}/{rpc.method}": grpc.unary_unary_rpc_method_handler(
                            _behaviour(app, rpc)
                        )
                        for rpc in rpc_table()
                    }
            return self._methods.get(details.method)  # None: gRPC answers UNIMPLEMENTED

    return Lazy()


def build_server(app: EmulatorApp, port: int = 0, *, workers: int = 16) -> tuple[Any, int]:
    """A started ``grpc.Server`` answering from ``app`` on 127.0.0.1, and its port.

    Raises:
        MissingDependency: grpcio or google-cloud-aiplatform is not installed (with the install hint).
    """
    _require()
    import grpc

    server = grpc.server(
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vertex-emulator-grpc"),
        handlers=[_handler(app)],
        options=GRPC_OPTIONS,
    )
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    if bound == 0:
        raise OSError(f"the emulator's gRPC server cannot listen on 127.0.0.1:{port}")
    server.start()
    return server, bound
