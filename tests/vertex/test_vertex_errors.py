"""The exception-mapping boundary (adapters/vertex/_errors.py), table by table."""

# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import pytest
import requests
import responses
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc

from adapters._clock import FakeClock
from adapters._errors import (
    AuthError,
    Conflict,
    InvalidJobSpec,
    JobNotFound,
    OutcomeUnknown,
    PermanentError,
    QuotaExceeded,
    ServiceUnreachable,
    TransientError,
    VendorError,
)
from adapters.vertex._errors import CallContext, translate, vertex_errors
from checkpoint import Workspace
from tests.vertex.conftest import FAMILIES, make, train

CTX = CallContext("get training pipeline", "proj-7", "europe-west4", "service-account key file /k/sa.json")
CREATE = CallContext("create training pipeline", "proj-7", "europe-west4", "adc", is_create=True)
JOB = CallContext(
    "get training pipeline", "proj-7", "europe-west4", "adc", job_id="projects/x/trainingPipelines/1"
)

GOOGLE_TABLE: list[tuple[type[gexc.GoogleAPICallError], type[VendorError]]] = [
    (gexc.ServiceUnavailable, TransientError),
    (gexc.InternalServerError, TransientError),
    (gexc.BadGateway, TransientError),
    (gexc.GatewayTimeout, TransientError),
    (gexc.DeadlineExceeded, TransientError),
    (gexc.TooManyRequests, QuotaExceeded),
    (gexc.ResourceExhausted, QuotaExceeded),
    (gexc.Unauthorized, AuthError),
    (gexc.Unauthenticated, AuthError),
    (gexc.Forbidden, AuthError),
    (gexc.PermissionDenied, AuthError),
    (gexc.NotFound, PermanentError),  # not about a job: a plain permanent error
    (gexc.BadRequest, InvalidJobSpec),
    (gexc.InvalidArgument, InvalidJobSpec),
    (gexc.FailedPrecondition, InvalidJobSpec),
    (gexc.OutOfRange, InvalidJobSpec),
    (gexc.Conflict, Conflict),
    (gexc.AlreadyExists, Conflict),
    (gexc.Aborted, Conflict),
    (gexc.MethodNotAllowed, PermanentError),
    (gexc.Cancelled, PermanentError),
    (gexc.MethodNotImplemented, PermanentError),  # a 5xx that no retry fixes
]


@pytest.mark.parametrize(("google", "ours"), GOOGLE_TABLE, ids=lambda c: c.__name__)
def test_google_exceptions_map_to_jobferry(
    google: type[gexc.GoogleAPICallError], ours: type[VendorError]
) -> None:
    exc = google("Vertex says: field x is wrong")
    mapped = translate(exc, CTX)
    assert type(mapped) is ours
    assert isinstance(mapped, VendorError)
    assert mapped.vendor == "vertex" and mapped.vendor_message == "Vertex says: field x is wrong"
    assert mapped.code == exc.code
    assert "Vertex says: field x is wrong" in str(mapped) and "get training pipeline" in str(mapped)


def test_an_unknown_5xx_is_transient() -> None:
    mapped = translate(gexc.from_http_status(520, "odd gateway"), CTX)
    assert type(mapped) is TransientError and mapped.code == 520


def test_not_found_about_a_job_is_job_not_found() -> None:
    mapped = translate(gexc.NotFound("TrainingPipeline does not exist"), JOB)
    assert isinstance(mapped, JobNotFound) and isinstance(mapped, PermanentError)
    assert mapped.job_id == "projects/x/trainingPipelines/1" and mapped.code == 404


@pytest.mark.parametrize("google", [gexc.Unauthorized, gexc.Forbidden, gexc.PermissionDenied])
def test_auth_errors_name_the_project_and_the_credential_reference(
    google: type[gexc.GoogleAPICallError],
) -> None:
    text = str(translate(google("caller does not have permission"), CTX))
    assert "'proj-7'" in text and "service-account key file /k/sa.json" in text


def test_retry_after_is_read_from_the_http_response() -> None:
    response = requests.Response()
    response.status_code = 429
    response.headers["Retry-After"] = "7"
    response._content = (
        b'{"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}'
    )
    response.request = requests.Request("GET", "http://127.0.0.1:9/v1/x").prepare()
    mapped = translate(gexc.from_http_response(response), CTX)
    assert type(mapped) is QuotaExceeded and mapped.retry_after == 7.0 and mapped.code == 429
    assert "proj-7/europe-west4" in str(mapped) and "Quota exceeded" in str(mapped)
    response.headers["Retry-After"] = "Wed, 21 Oct 2025 07:28:00 GMT"
    again = translate(gexc.from_http_response(response), CTX)
    assert isinstance(again, QuotaExceeded) and again.retry_after is None


REFUSED = requests.exceptions.ConnectionError(
    "HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded (Caused by "
    "NewConnectionError('<urllib3.connection.HTTPConnection>: Failed to establish a new connection: "
    "[Errno 111] Connection refused'))"
)
DROPPED = requests.exceptions.ConnectionError("('Connection aborted.', RemoteDisconnected('closed'))")


@pytest.mark.parametrize(
    ("exc", "on_create", "elsewhere"),
    [
        (REFUSED, ServiceUnreachable, ServiceUnreachable),  # never sent (a TransientError): safe to retry
        (requests.exceptions.ConnectTimeout("connect timed out"), TransientError, TransientError),
        (DROPPED, OutcomeUnknown, TransientError),  # sent, answer lost: a create may have happened
        (requests.exceptions.ReadTimeout("read timed out"), OutcomeUnknown, TransientError),
        (ConnectionResetError("reset by peer"), OutcomeUnknown, TransientError),
        (TimeoutError("timed out"), OutcomeUnknown, TransientError),
    ],
    ids=["refused", "connect-timeout", "dropped", "read-timeout", "reset", "timeout"],
)
def test_connection_errors(
    exc: BaseException, on_create: type[VendorError], elsewhere: type[VendorError]
) -> None:
    assert type(translate(exc, CREATE)) is on_create
    assert type(translate(exc, CTX)) is elsewhere


@pytest.mark.parametrize(
    ("exc", "ours"),
    [
        (gexc.RetryError("google retry ran out", cause=None), TransientError),
        (auth_exc.RefreshError("invalid_grant: account disabled"), AuthError),
        (auth_exc.RefreshError("metadata server 500", retryable=True), TransientError),
        (auth_exc.TransportError("metadata server unreachable"), TransientError),
        (auth_exc.InvalidOperation("Anonymous credentials cannot be refreshed."), AuthError),
    ],
    ids=["retry-error", "refresh-refused", "refresh-retryable", "auth-transport", "anonymous-401"],
)
def test_google_side_failures_outside_api_calls(exc: BaseException, ours: type[VendorError]) -> None:
    mapped = translate(exc, CTX)
    assert type(mapped) is ours
    if ours is AuthError:
        assert "'proj-7'" in str(mapped) and "service-account key file /k/sa.json" in str(mapped)


def test_other_exceptions_are_left_alone() -> None:
    exc = ValueError("a bug of ours")
    assert translate(exc, CTX) is exc
    with pytest.raises(ValueError, match="a bug of ours"), vertex_errors(CTX):
        raise exc


def test_the_context_manager_chains_and_passes_jobferry_errors_through() -> None:
    with pytest.raises(InvalidJobSpec) as info, vertex_errors(CTX):
        raise gexc.InvalidArgument("bad")
    assert isinstance(info.value.__cause__, gexc.InvalidArgument)
    already = TransientError("ours")
    with pytest.raises(TransientError) as again, vertex_errors(CTX):
        raise already
    assert again.value is already


def test_a_real_refused_connection_is_transient_and_retried(ws: Workspace, clock: FakeClock) -> None:
    family = FAMILIES[0]
    model = make(family.cls, ws, clock, dataset="123", **family.config)
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.POST,
            "http://127.0.0.1:9/v1/projects/p/locations/us-central1/trainingPipelines",
            json={"name": "projects/p/locations/us-central1/trainingPipelines/1", "state": 3},
        )
        train(model)
    # Nothing listens on 127.0.0.1:9 (discard): every attempt is refused, retried, then raised.
    with pytest.raises(TransientError, match=r"cannot reach Vertex AI at .* is it running") as info:
        model.refresh()
    assert getattr(info.value, "attempts", None) == 6 and len(clock.sleeps) == 5
