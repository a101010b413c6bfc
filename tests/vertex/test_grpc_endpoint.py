"""``transport = "grpc"`` and the endpoint's scheme: what reaches the emulator, and what is refused early."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from adapters._credentials import CredentialRef
from adapters._errors import SpecError
from adapters.vertex._base import VertexConnection
from adapters.vertex._client import VertexClients, insecure_target

ANON = CredentialRef.anonymous()
ADC = CredentialRef.application_default()


def test_grpc_with_an_http_url_is_refused_pointing_at_the_grpc_address() -> None:
    with pytest.raises(ValidationError, match=r"HTTP URL.*grpc:// address"):
        VertexConnection(project="p", api_endpoint="http://127.0.0.1:8080", transport="grpc")


def test_a_grpc_address_needs_the_grpc_transport_and_anonymous_credentials() -> None:
    with pytest.raises(ValidationError, match="set transport = 'grpc'"):
        VertexConnection(project="p", api_endpoint="grpc://127.0.0.1:8080", credentials=ANON)
    with pytest.raises(ValidationError, match="credentials = 'anonymous'"):
        VertexConnection(project="p", api_endpoint="grpc://127.0.0.1:8080", transport="grpc")
    ok = VertexConnection(
        project="p", api_endpoint="grpc://127.0.0.1:8080", transport="grpc", credentials=ANON
    )
    assert ok.transport == "grpc"


def test_vertex_clients_refuse_the_same_combinations() -> None:
    with pytest.raises(SpecError, match="grpc://"):
        VertexClients("p", "l", ANON, "http://127.0.0.1:1", "grpc")


@pytest.mark.parametrize(
    ("endpoint", "transport", "credentials", "target"),
    [
        ("grpc://127.0.0.1:5000", "grpc", ANON, "127.0.0.1:5000"),
        ("grpc://127.0.0.1:5000/", "grpc", ANON, "127.0.0.1:5000"),
        ("127.0.0.1:5000", "grpc", ANON, "127.0.0.1:5000"),  # loopback host:port, anonymous: the emulator
        ("localhost:5000", "grpc", ADC, None),  # real credentials never go over plaintext
        ("us-central1-aiplatform.googleapis.com", "grpc", ANON, None),  # TLS, as GAPIC does it
        ("http://127.0.0.1:5000", "rest", ANON, None),
    ],
)
def test_which_endpoints_get_a_plaintext_channel(
    endpoint: str, transport: str, credentials: CredentialRef, target: str | None
) -> None:
    assert insecure_target(endpoint, transport, credentials) == target


def test_an_emulator_address_builds_grpc_clients_on_one_channel() -> None:
    clients = VertexClients("p", "us-central1", ANON, "grpc://127.0.0.1:9", "grpc")
    assert clients.pipelines.transport.kind == "grpc"
    assert clients.jobs.transport.grpc_channel is clients.pipelines.transport.grpc_channel
