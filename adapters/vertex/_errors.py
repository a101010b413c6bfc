"""The one place where Google's exceptions become jobferry's (like httpx's ``_exceptions`` mapping).

::

    google.api_core.exceptions                      jobferry
    ServiceUnavailable 503, InternalServerError 500,
    BadGateway 502, GatewayTimeout/DeadlineExceeded  -> TransientError      (retried)
    TooManyRequests 429, ResourceExhausted           -> QuotaExceeded       (retried, Retry-After honoured)
    (over gRPC the wait is read from a google.rpc.RetryInfo detail; a create that ended UNAVAILABLE or
    DEADLINE_EXCEEDED without the server's google.rpc.Status lost its answer: OutcomeUnknown)
    Unauthorized 401, Forbidden/PermissionDenied 403 -> AuthError           (names project + credentials)
    NotFound 404                                     -> JobNotFound         (when the call is about a job)
    BadRequest/InvalidArgument/FailedPrecondition 400-> InvalidJobSpec      (with Vertex's message)
    Conflict/AlreadyExists/Aborted 409               -> Conflict
    other 4xx                                        -> PermanentError
    NotImplemented 501                               -> PermanentError
    RetryError (a google-side retry ran out)         -> TransientError
    google.auth TransportError / retryable refresh   -> TransientError
    other google.auth errors (refresh refused, or a
    401 with credentials that cannot refresh)        -> AuthError
    requests: connect refused / no such host         -> ServiceUnreachable  (never sent; a TransientError)
    requests: connect timeout                        -> TransientError      (the request was never sent)
    requests: read timeout / connection dropped      -> OutcomeUnknown on a create, TransientError otherwise
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from adapters._boundary import Boundary, translated
from adapters._errors import (
    AuthError,
    Conflict,
    InvalidJobSpec,
    JobNotFound,
    PermanentError,
    QuotaExceeded,
    TransientError,
)

VENDOR = "vertex"
_BOUNDARY = Boundary(VENDOR, "Vertex AI")


@dataclass(frozen=True)
class CallContext:
    """What a failing call was about, for the messages."""

    what: str
    project: str
    location: str
    credentials: str
    job_id: str | None = None
    is_create: bool = False
    endpoint: str = ""


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        # Over gRPC the wait comes as a google.rpc.RetryInfo detail (api_core unpacks it into ``details``).
        for detail in getattr(exc, "details", None) or ():
            delay = getattr(detail, "retry_delay", None)
            if delay is not None and hasattr(delay, "ToTimedelta"):
                return float(delay.ToTimedelta().total_seconds())
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP-date; rare from Google, and our backoff covers it


def _lost_over_grpc(exc: Any) -> bool:
    """A gRPC call that ended without the server's answer: the connection broke, or our deadline passed.

    A server that answers UNAVAILABLE sends a ``google.rpc.Status`` (``grpc-status-details-bin``); a broken
    connection or an expired client deadline never does, so the request may well have been applied.
    """
    from google.api_core import exceptions as gexc

    call = getattr(exc, "response", None)
    trailing = getattr(call, "trailing_metadata", None)
    if not isinstance(exc, gexc.ServiceUnavailable | gexc.DeadlineExceeded) or not callable(trailing):
        return False
    return not any(key == "grpc-status-details-bin" for key, _ in trailing() or ())


def _status_name(exc: Any) -> str | None:
    grpc_code = getattr(exc, "grpc_status_code", None)
    return getattr(grpc_code, "name", None) or (str(grpc_code) if grpc_code is not None else None)


def translate(exc: BaseException, ctx: CallContext) -> BaseException:
    """jobferry's error for ``exc`` (or ``exc`` itself when it is not a vendor failure)."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.GoogleAPICallError):
        code = exc.code if isinstance(exc.code, int) else None
        status = _status_name(exc)
        message = exc.message or str(exc)
        kw: dict[str, Any] = {
            "vendor": VENDOR,
            "code": code,
            "status": status,
            "vendor_message": message,
            "retry_after": _retry_after(exc),
        }
        head = f"Vertex AI {ctx.what} failed"
        if ctx.is_create and _lost_over_grpc(exc):
            return _BOUNDARY.lost_response(ctx, message)
        if isinstance(exc, gexc.TooManyRequests):  # includes ResourceExhausted
            return QuotaExceeded(f"{head}: quota exhausted in {ctx.project}/{ctx.location}: {message}", **kw)
        if isinstance(exc, gexc.MethodNotImplemented):  # 501 is a 5xx that no retry fixes
            return PermanentError(f"{head} ({code or status}): {message}", **kw)
        if isinstance(exc, gexc.ServerError | gexc.DeadlineExceeded):
            return TransientError(f"{head} ({code or status}): {message}", **kw)
        if isinstance(exc, gexc.Unauthorized | gexc.Forbidden):
            return AuthError(
                f"{head}: permission denied in project {ctx.project!r} with {ctx.credentials}: {message}",
                **kw,
            )
        if isinstance(exc, gexc.NotFound):
            if ctx.job_id is not None:
                return JobNotFound(
                    f"{head}: {ctx.job_id} not found: {message}", job_id=ctx.job_id, vendor=VENDOR
                )
            return PermanentError(f"{head}: not found: {message}", **kw)
        if isinstance(exc, gexc.BadRequest):
            return InvalidJobSpec(f"{head}: Vertex AI rejected the request: {message}", **kw)
        if isinstance(exc, gexc.Conflict):
            return Conflict(f"{head}: conflict: {message}", **kw)
        if isinstance(exc, gexc.ClientError):
            return PermanentError(f"{head} ({code or status}): {message}", **kw)
        return TransientError(f"{head} ({code or status}): {message}", **kw)

    if isinstance(exc, gexc.RetryError):  # a google-side retry ran out: ours decides what happens next
        return TransientError(f"Vertex AI {ctx.what}: {exc}", vendor=VENDOR)

    from google.auth import exceptions as auth_exc

    if isinstance(exc, auth_exc.TransportError | auth_exc.TimeoutError) or (
        isinstance(exc, auth_exc.RefreshError) and getattr(exc, "retryable", False)
    ):
        return TransientError(f"Vertex AI {ctx.what}: getting an access token failed: {exc}", vendor=VENDOR)
    if isinstance(exc, auth_exc.GoogleAuthError):
        # A refused refresh, or a 401 answered by refreshing credentials that cannot be (anonymous ones).
        return AuthError(
            f"Vertex AI {ctx.what} failed: permission denied in project {ctx.project!r} with "
            f"{ctx.credentials}: cannot get an access token: {exc}",
            vendor=VENDOR,
            code=401,
        )

    import requests

    if isinstance(exc, requests.exceptions.ConnectionError) and _never_sent(exc):
        return _BOUNDARY.unreachable(ctx, f"{ctx.location}-aiplatform.googleapis.com", _short_cause(exc))
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return _BOUNDARY.cannot_connect(ctx, exc)
    if isinstance(exc, requests.exceptions.RequestException | ConnectionError | TimeoutError):
        return _BOUNDARY.connection_failed(ctx, exc)
    return exc


def _short_cause(exc: BaseException) -> str:
    # urllib3's text names pools and object addresses; the user needs the reason only.
    text = repr(exc)
    for marker, said in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "no such host"),
        ("NameResolutionError", "no such host"),
    ):
        if marker in text:
            return said
    return "cannot connect"


def _never_sent(exc: BaseException) -> bool:
    # urllib3 wraps "connection refused" as NewConnectionError: the request never left this machine.
    text = repr(exc)
    markers = ("NewConnectionError", "NameResolutionError", "Connection refused", "Name or service not known")
    return any(m in text for m in markers)


def vertex_errors(ctx: CallContext) -> AbstractContextManager[None]:
    """Translate any Google or transport exception raised inside the block."""
    return translated(translate, ctx)
