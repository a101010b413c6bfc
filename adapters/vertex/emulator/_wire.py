"""Google's JSON wire conventions: error bodies, enum encodings, RFC 3339 timestamps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

#: Canonical status names of the HTTP codes the emulator answers with.
STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

#: google.rpc.Code numbers, used in ``error`` fields embedded in resources and operations.
RPC_CODES: dict[str, int] = {
    "CANCELLED": 1,
    "INVALID_ARGUMENT": 3,
    "NOT_FOUND": 5,
    "FAILED_PRECONDITION": 9,
    "INTERNAL": 13,
}

_STATES = (
    "UNSPECIFIED",
    "QUEUED",
    "PENDING",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "CANCELLING",
    "CANCELLED",
    "PAUSED",
    "EXPIRED",
    "UPDATING",
    "PARTIALLY_SUCCEEDED",
)
#: Enum value names -> numbers for the enum fields the emulator emits (PipelineState, JobState).
ENUM_NUMBERS: dict[str, int] = {
    **{f"PIPELINE_STATE_{s}": i for i, s in enumerate(_STATES[:9])},
    **{f"JOB_STATE_{s}": i for i, s in enumerate(_STATES)},
}
_ENUM_FIELDS = frozenset({"state"})

JSON_HEADERS = {"Content-Type": "application/json; charset=UTF-8"}


class ApiError(Exception):
    """An error answered in Google's JSON shape.

    Args:
        code: the HTTP status.
        message: the human-readable message.
        status: the canonical status name; defaults from ``code`` (400 with FAILED_PRECONDITION is legal).
        headers: extra response headers, e.g. ``Retry-After``.
    """

    def __init__(
        self, code: int, message: str, status: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The ``{"error": {...}}`` document."""
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def not_found(name: str) -> ApiError:
    """A 404 for a resource name, worded like Vertex."""
    return ApiError(404, f'The resource "{name}" was not found.')


def invalid(message: str) -> ApiError:
    """A 400 INVALID_ARGUMENT."""
    return ApiError(400, message)


def precondition(message: str) -> ApiError:
    """A 400 FAILED_PRECONDITION (Vertex answers it with HTTP 400, not 412)."""
    return ApiError(400, message, "FAILED_PRECONDITION")


def rfc3339(epoch: float) -> str:
    """An RFC 3339 UTC timestamp with microseconds, as Google emits them."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def wants_int_enums(query: dict[str, str]) -> bool:
    """True when ``$alt`` asks for ``enum-encoding=int`` (the GAPIC REST clients always do)."""
    return "enum-encoding=int" in query.get("$alt", "")


def encode_enums(doc: Any, as_int: bool) -> Any:
    """A copy of ``doc`` with enum fields as numbers (``as_int``) or names; resources store names."""
    if not as_int:
        return doc
    if isinstance(doc, dict):
        return {
            k: ENUM_NUMBERS.get(v, v) if k in _ENUM_FIELDS and isinstance(v, str) else encode_enums(v, True)
            for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [encode_enums(v, True) for v in doc]
    return doc


def enum_name(value: object, prefix: str) -> str | None:
    """The enum name of ``value`` given as a name or a number (either may arrive), or None if unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        number = int(value)
        names = [n for n, i in ENUM_NUMBERS.items() if i == number and n.startswith(prefix)]
        return names[0] if names else None
    if isinstance(value, str):
        name = value if value.startswith(prefix) else prefix + value
        return name if name in ENUM_NUMBERS else None
    return None


def dumps(doc: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


class ResponseDropped(Exception):
    """The request took effect but its response must never reach the client (an injected fault)."""

    def __init__(self, method: str) -> None:
        super().__init__(f"response to {method} dropped after its effect (injected fault)")
        self.method = method
