"""The one place where botocore's exceptions become jobferry's. Errors are told apart by their *code*.

::

    botocore                                              jobferry
    ClientError ThrottlingException, Throttling,
      ThrottledException, TooManyRequestsException,
      RequestLimitExceeded, ... or HTTP 429              -> QuotaExceeded       (retried; Retry-After kept)
    ClientError ResourceInUse                            -> Conflict            (a taken name: adopt it)
    ClientError ResourceNotFound                         -> JobNotFound on a job call, else Permanent.
    ClientError ValidationException                      -> InvalidJobSpec; JobNotFound on a Describe of a
                                                            job (see below)
    ClientError ResourceLimitExceeded                    -> PermanentError      (an account limit; ask AWS)
    ClientError AccessDenied*, UnrecognizedClient,
      ExpiredToken*, InvalidSignature*, ...              -> AuthError           (names region + credentials)
    ClientError ModelNotReadyException, 5xx,
      ServiceUnavailable, InternalFailure                -> TransientError
    ClientError ModelError (the serving container)       -> PermanentError
    other ClientError 4xx                                -> PermanentError
    EndpointConnectionError (nothing sent)               -> ServiceUnreachable
    ConnectTimeoutError                                  -> TransientError
    ReadTimeoutError, ConnectionClosedError, other
      HTTPClientError                                    -> OutcomeUnknown on a create, else TransientError
    NoCredentialsError, PartialCredentials, NoRegion     -> AuthError
    ParamValidationError (botocore refused, unsent)      -> InvalidJobSpec

SageMaker answers a Describe of a job that does not exist with ``ValidationException`` ("Requested resource
not found"), the same code as a malformed request: no code tells the two apart. That one case reads the
message, and only to say *not found*; if AWS rewords it, the error stays a permanent InvalidJobSpec (never
a retry, never a duplicate). Adoption -- the case where matching on wording once broke the SageMaker SDK --
matches the code ``ResourceInUse`` only.
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

VENDOR = "sagemaker"
_BOUNDARY = Boundary(VENDOR, "SageMaker")

#: botocore's own list of throttling codes (botocore/retries/standard.py), and SageMaker's.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "EC2ThrottledException",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ModelNotReadyException",
    }
)
AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "MissingAuthenticationToken",
        "IncompleteSignature",
        "NotAuthorized",
    }
)
_NOT_FOUND_WORDS = ("not found", "could not find", "does not exist")


@dataclass(frozen=True)
class CallContext:
    """What a failing call was about, for the messages."""

    what: str
    region: str
    credentials: str
    job_id: str | None = None
    is_create: bool = False
    endpoint: str = ""


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str((response.get("Error") or {}).get("Code") or "")


def _http_status(exc: Any) -> int | None:
    meta = (getattr(exc, "response", None) or {}).get("ResponseMetadata") or {}
    status = meta.get("HTTPStatusCode")
    return int(status) if isinstance(status, int) else None


def _retry_after(exc: Any) -> float | None:
    meta = (getattr(exc, "response", None) or {}).get("ResponseMetadata") or {}
    headers = {str(k).lower(): v for k, v in (meta.get("HTTPHeaders") or {}).items()}
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def translate(exc: BaseException, ctx: CallContext) -> BaseException:
    """jobferry's error for ``exc`` (or ``exc`` itself when it is not a vendor failure)."""
    from botocore import exceptions as bexc

    if isinstance(exc, bexc.ClientError):
        code = error_code(exc)
        http = _http_status(exc)
        message = str((exc.response.get("Error") or {}).get("Message") or exc)
        kw: dict[str, Any] = {
            "vendor": VENDOR,
            "code": http,
            "status": code or None,
            "vendor_message": message,
            "retry_after": _retry_after(exc),
        }
        head = f"SageMaker {ctx.what} failed"
        if code in THROTTLING_CODES or http == 429:
            return QuotaExceeded(f"{head}: throttled in {ctx.region} ({code or http}): {message}", **kw)
        if code == "ResourceInUse":
            return Conflict(f"{head}: {code}: {message}", **kw)
        if code in AUTH_CODES or http in (401, 403):
            return AuthError(
                f"{head}: permission denied in {ctx.region} with {ctx.credentials} ({code}): {message}", **kw
            )
        if code == "ResourceNotFound" or (
            code == "ValidationException"
            and ctx.job_id is not None
            and any(w in message.lower() for w in _NOT_FOUND_WORDS)
        ):
            if ctx.job_id is not None:
                return JobNotFound(
                    f"{head}: {ctx.job_id} not found: {message}",
                    job_id=ctx.job_id,
                    vendor=VENDOR,
                    vendor_message=message,
                )
            return PermanentError(f"{head}: not found ({code}): {message}", **kw)
        if code in TRANSIENT_CODES or (http is not None and http >= 500):
            return TransientError(f"{head} ({code or http}): {message}", **kw)
        if code == "ValidationException":
            return InvalidJobSpec(f"{head}: SageMaker rejected the request: {message}", **kw)
        if code == "ResourceLimitExceeded":
            return PermanentError(
                f"{head}: an account limit in {ctx.region} is reached ({code}): {message}; free capacity "
                "or ask AWS for a limit increase",
                **kw,
            )
        return PermanentError(f"{head} ({code or http}): {message}", **kw)

    if isinstance(exc, bexc.ParamValidationError):
        return InvalidJobSpec(f"SageMaker {ctx.what}: the request is invalid: {exc}", vendor=VENDOR)
    if isinstance(exc, bexc.NoCredentialsError | bexc.PartialCredentialsError | bexc.NoRegionError):
        return AuthError(f"SageMaker {ctx.what}: {exc} ({ctx.credentials})", vendor=VENDOR, code=401)
    if isinstance(exc, bexc.EndpointConnectionError):
        return _BOUNDARY.unreachable(
            ctx, f"sagemaker.{ctx.region}.amazonaws.com", "connection refused or no such host"
        )
    if isinstance(exc, bexc.ConnectTimeoutError):
        return _BOUNDARY.cannot_connect(ctx, exc)
    if isinstance(exc, bexc.HTTPClientError | bexc.ReadTimeoutError | ConnectionError | TimeoutError):
        return _BOUNDARY.connection_failed(ctx, exc)
    return exc


def sagemaker_errors(ctx: CallContext) -> AbstractContextManager[None]:
    """Translate any botocore or transport exception raised inside the block."""
    return translated(translate, ctx)
