"""Client-chosen endpoint IDs (``CreateEndpointRequest.endpoint_id``): honoured, checked, and exactly once."""

from __future__ import annotations

import json

import pytest
from google.api_core import exceptions

from adapters.vertex.emulator import EmulatorApp, EmulatorConfig, VertexEmulator

from .conftest import PARENT, Clients, FakeClock

VALID = ["e", "jf-0123abcd", "a" + "b-" * 30 + "c", "1", "123456789"]
INVALID = ["", "-a", "Abc", "a_b", "ab-", "a" * 64, "0123", "1234567890", "12a"]


def create(clients: Clients, endpoint_id: str, key: str = "k1") -> str:
    """Creates an endpoint under ``endpoint_id`` and waits for it; returns its name."""
    endpoint = {"display_name": "e", "labels": {"jobferry-key": key}}
    request = {"parent": PARENT, "endpoint": endpoint, "endpoint_id": endpoint_id}
    name: str = clients.endpoint.create_endpoint(request=request).result(timeout=10).name
    return name


@pytest.mark.parametrize("endpoint_id", VALID)
def test_a_chosen_id_names_the_endpoint(clients: Clients, endpoint_id: str) -> None:
    name = create(clients, endpoint_id)
    assert name == f"{PARENT}/endpoints/{endpoint_id}"
    got = clients.endpoint.get_endpoint(name=name)
    assert got.labels["jobferry-key"] == "k1"


def test_a_taken_id_is_409_already_exists_in_googles_shape(clients: Clients, emu: VertexEmulator) -> None:
    name = create(clients, "jf-mine")
    with pytest.raises(exceptions.Conflict) as caught:
        create(clients, "jf-mine", key="k2")
    assert caught.value.code == 409 and "already exists" in caught.value.message
    # The first endpoint is untouched, and there is still only the one.
    assert clients.endpoint.get_endpoint(name=name).labels["jobferry-key"] == "k1"
    assert list(emu.state.endpoints) == [name]
    # Without an ID the emulator draws one, as Vertex does, and never a taken one.
    unnamed = clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e"})
    assert unnamed.result(timeout=10).name.rsplit("/", 1)[-1].isdigit()


def test_wire_error_body_and_a_create_still_in_flight(clock: FakeClock) -> None:
    app = EmulatorApp(EmulatorConfig(lro_seconds={"CreateEndpoint": 10.0}), clock)
    body = json.dumps({"displayName": "e"}).encode()
    path = f"/v1/{PARENT}/endpoints"
    status, _, _ = app.handle("POST", path, {"endpointId": ["jf-slow"]}, body, {})
    assert status == 200 and f"{PARENT}/endpoints/jf-slow" not in app.state.endpoints  # not done yet
    # The name is taken from the create on, not from when its operation is done.
    status, _, payload = app.handle("POST", path, {"endpointId": ["jf-slow"]}, body, {})
    assert status == 409
    assert json.loads(payload) == {
        "error": {
            "code": 409,
            "message": f'The resource "{PARENT}/endpoints/jf-slow" already exists.',
            "status": "ALREADY_EXISTS",
        }
    }
    # snake_case is accepted too, as Google's HTTP/JSON mapping does.
    status, _, _ = app.handle("POST", path, {"endpoint_id": ["jf-slow"]}, body, {})
    assert status == 409
    clock.advance(10)
    app.state.settle()
    assert f"{PARENT}/endpoints/jf-slow" in app.state.endpoints


@pytest.mark.parametrize("endpoint_id", INVALID[1:])
def test_an_id_breaking_the_rule_is_400(clients: Clients, emu: VertexEmulator, endpoint_id: str) -> None:
    with pytest.raises(exceptions.BadRequest, match="endpoint_id"):
        create(clients, endpoint_id)
    assert emu.state.endpoints == {}


def test_rule_boundaries() -> None:
    from adapters.vertex.emulator._endpoints import ENDPOINT_ID

    assert all(ENDPOINT_ID.fullmatch(i) for i in [*VALID, "a" * 63])
    assert not any(ENDPOINT_ID.fullmatch(i) for i in INVALID)


def test_the_adapters_ids_follow_the_rule() -> None:
    from adapters.vertex._serving import endpoint_id_for
    from adapters.vertex.emulator._endpoints import ENDPOINT_ID

    ids = {endpoint_id_for(f"jfkey{i}", f"{PARENT}/models/{i % 3}") for i in range(200)}
    assert len(ids) == 200 and all(ENDPOINT_ID.fullmatch(i) for i in ids)
    assert endpoint_id_for("jfkey", "m") == endpoint_id_for("jfkey", "m") != endpoint_id_for("jfkey", "n")
