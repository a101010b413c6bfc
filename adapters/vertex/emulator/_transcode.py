"""gRPC <-> REST transcoding for the emulator: every RPC becomes the HTTP request the REST client would send.

Imported only by :mod:`._grpc` (it needs ``grpcio``, ``google-api-core`` and ``google-cloud-aiplatform``).

Where the method table comes from: the proto-plus types of ``google.cloud.aiplatform_v1`` register no
service descriptors, so the ``google.api.http`` annotations are not in the descriptor pool. The same rules
ship with the GAPIC REST transports (``_Base<Rpc>._get_http_options()``, generated from those
annotations), and the gRPC transports name each RPC's path and message types. We read both, so the table
follows the installed client and never drifts from it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import grpc
from google.api_core import path_template
from google.longrunning import operations_pb2
from google.protobuf import duration_pb2, empty_pb2, json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

#: The services whose REST routes the emulator implements (module name under ``aiplatform_v1.services``).
SERVICES = (
    "dataset_service",
    "pipeline_service",
    "job_service",
    "model_service",
    "endpoint_service",
    "prediction_service",
    "gen_ai_tuning_service",
)
OPERATIONS_SERVICE = "google.longrunning.Operations"


@dataclass(frozen=True)
class Rpc:
    """One unary RPC: its gRPC service and method, HTTP rules, and protobuf request / response classes."""

    service: str
    method: str
    http_options: tuple[dict[str, str], ...]
    request: type[Message]
    response: type[Message]


@dataclass(frozen=True)
class HttpRequest:
    """What the REST client would send for one RPC (the arguments of ``EmulatorApp.handle``)."""

    verb: str
    path: str
    query: dict[str, str]
    body: bytes


class _Stub:
    """What the recording channel hands out: the transport wraps it (and renames it), nobody calls it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a recorded stub is never called")


class _Recorder(grpc.Channel):  # type: ignore[misc]
    """A channel that records the unary stubs a GAPIC gRPC transport creates, and serves none."""

    def __init__(self) -> None:
        self.stubs: dict[str, tuple[Any, Any]] = {}

    def unary_unary(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                    _registered_method: bool = False) -> Any:  # fmt: skip
        self.stubs[method] = (request_serializer, response_deserializer)
        return _Stub()

    def _streaming(self, *args: Any, **kwargs: Any) -> Any:
        return _Stub()  # not recorded: streaming RPCs are left to gRPC's UNIMPLEMENTED

    unary_stream = stream_unary = stream_stream = _streaming

    def subscribe(self, callback: Any, try_to_connect: bool = False) -> None:
        pass

    def unsubscribe(self, callback: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _pb_class(serializer: Any) -> type[Message]:
    # proto-plus ``Cls.serialize`` / ``Cls.deserialize`` are bound to the proto-plus class; raw protobuf
    # ``Cls.SerializeToString`` / ``Cls.FromString`` belong to the protobuf class itself.
    owner = getattr(serializer, "__self__", None)
    if isinstance(owner, type) and hasattr(owner, "pb"):
        cls: type[Message] = owner.pb()
        return cls
    if isinstance(owner, type) and issubclass(owner, Message):
        return owner
    qualname = getattr(serializer, "__qualname__", "")
    found: type[Message] = getattr(operations_pb2, qualname.split(".")[0], empty_pb2.Empty)
    return found


def _service_rpcs(module: str) -> Iterator[Rpc]:
    base = f"google.cloud.aiplatform_v1.services.{module}.transports"
    grpc_module, rest_module = import_module(f"{base}.grpc"), import_module(f"{base}.rest_base")
    camel = "".join(part.title() for part in module.split("_"))
    grpc_cls = getattr(grpc_module, f"{camel}GrpcTransport")
    rest_cls = getattr(rest_module, f"_Base{camel}RestTransport")
    recorder = _Recorder()
    transport = grpc_cls(channel=recorder)
    # The constructor's stubs sit behind a lazy interceptor; rebuild each on the bare recorder instead.
    transport._logged_channel, transport._stubs = recorder, {}
    for attr in vars(grpc_cls):
        if isinstance(vars(grpc_cls)[attr], property) and not attr.startswith("_"):
            getattr(transport, attr)
    for path, (serializer, deserializer) in recorder.stubs.items():
        service, method = path.strip("/").split("/")
        if service == OPERATIONS_SERVICE or not service.startswith("google.cloud.aiplatform"):
            continue  # mixins (operations, locations, IAM) are served once, below or not at all
        rules = getattr(rest_cls, f"_Base{method}", None)
        options = tuple(rules._get_http_options()) if rules is not None else ()
        yield Rpc(service, method, options, _pb_class(serializer), _pb_class(deserializer))


def _operation_rpcs() -> Iterator[Rpc]:
    # The emulator routes operations under their resource (``.../endpoints/1/operations/2``) at /v1/ and
    # /ui/; ``{name=**}`` keeps the whole name in the path as the REST operations client does.
    ops, empty = operations_pb2, empty_pb2.Empty
    table: list[tuple[str, str, str, type[Message], type[Message]]] = [
        ("GetOperation", "get", "/v1/{name=**}", ops.GetOperationRequest, ops.Operation),
        (
            "ListOperations",
            "get",
            "/v1/{name=**}/operations",
            ops.ListOperationsRequest,
            ops.ListOperationsResponse,
        ),
        ("DeleteOperation", "delete", "/v1/{name=**}", ops.DeleteOperationRequest, empty),
        ("CancelOperation", "post", "/v1/{name=**}:cancel", ops.CancelOperationRequest, empty),
        # No HTTP rule of its own: answered as a GetOperation, i.e. the latest state at once (the
        # emulator's operations finish on its clock, so blocking here would only stall the caller).
        ("WaitOperation", "get", "/v1/{name=**}", ops.WaitOperationRequest, ops.Operation),
    ]
    for method, verb, uri, request, response in table:
        yield Rpc(OPERATIONS_SERVICE, method, ({"method": verb, "uri": uri},), request, response)


_TABLE: tuple[Rpc, ...] | None = None


def rpc_table() -> tuple[Rpc, ...]:
    """Every unary RPC of :data:`SERVICES` plus ``google.longrunning.Operations`` (built once)."""
    global _TABLE
    if _TABLE is None:
        rpcs = [rpc for module in SERVICES for rpc in _service_rpcs(module)]
        _TABLE = (*rpcs, *_operation_rpcs())
    return _TABLE


def to_http(rpc: Rpc, request: Message) -> HttpRequest | None:
    """The REST request for ``request`` (as the REST transport builds it), or None if no rule matches.

    ``path_template.transcode`` applies the ``google.api.http`` rules: path fields from the template, the
    body per ``body`` (``*``: what is left; a field name: that field), every other field as a query
    parameter. Enums travel as numbers and the reply is asked for with ``enum-encoding=int``, as the REST
    client does.
    """
    if not rpc.http_options:
        return None
    try:
        transcoded = path_template.transcode(list(rpc.http_options), request)  # type: ignore[no-untyped-call]
    except ValueError:
        return None  # no rule matches the request's fields (e.g. a name outside the template)
    body = b""
    if transcoded.get("body") is not None:
        body = json_format.MessageToJson(transcoded["body"], use_integers_for_enums=True).encode()
    query: dict[str, str] = {"$alt": "json;enum-encoding=int"}
    params = transcoded.get("query_params")
    if params is not None:
        flat = json.loads(json_format.MessageToJson(params, use_integers_for_enums=True))
        query.update(_flatten(flat))
    return HttpRequest(transcoded["method"].upper(), transcoded["uri"], query, body)


def _flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, str]:
    # Nested messages become dotted names (``readMask``, ``a.b``), as rest_helpers.flatten_query_params does.
    out: dict[str, str] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, list):
            if value:
                out[name] = json.dumps(value[0]) if isinstance(value[0], dict) else str(value[0])
        else:
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def from_json(rpc: Rpc, payload: bytes) -> Message:
    """The response message parsed from the emulator's JSON reply (unknown fields ignored)."""
    message = rpc.response()
    json_format.Parse(payload or b"{}", message, ignore_unknown_fields=True)
    return message


#: HTTP status -> gRPC status when a reply carries no canonical ``status`` name.
_HTTP_CODES: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def error_status(
    http_status: int, headers: dict[str, str], payload: bytes
) -> tuple[grpc.StatusCode, str, bytes]:
    """A REST error (Google's JSON shape) as (gRPC code, message, serialized ``google.rpc.Status``).

    The ``status`` name wins over the HTTP code (a 400 may be FAILED_PRECONDITION); a ``Retry-After``
    header becomes a ``google.rpc.RetryInfo`` detail, which is how gRPC carries the server's wait.
    """
    try:
        error = json.loads(payload).get("error", {})
    except (ValueError, AttributeError):
        error = {}
    name = str(error.get("status") or "")
    code = getattr(grpc.StatusCode, name, None) if name else None
    if not isinstance(code, grpc.StatusCode):
        code = _HTTP_CODES.get(http_status, grpc.StatusCode.UNKNOWN)
    message = str(error.get("message") or f"HTTP {http_status}")
    status = status_pb2.Status(code=code_pb2.Code.Value(code.name), message=message)
    retry_after = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    if retry_after is not None:
        try:
            seconds = float(retry_after)
        except ValueError:
            seconds = None
        if seconds is not None:
            delay = duration_pb2.Duration()
            delay.FromNanoseconds(int(seconds * 1e9))
            status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return code, message, status.SerializeToString()
