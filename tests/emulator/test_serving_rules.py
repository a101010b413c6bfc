"""Serving as Vertex documents it, through Google's own GAPIC client: traffic splits add up to 100 and name
deployed models, a model with traffic is undeployed only if the request moves its traffic, labels follow
Vertex's international rule, and job/LRO submissions have their own 60-a-minute quota."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions

from adapters.vertex.emulator import VertexEmulator

from .conftest import DEDICATED, PARENT, Clients, FakeClock, create_dataset, make_clients, pipeline_body


def _status(error: exceptions.GoogleAPICallError) -> str:
    assert error.response is not None
    status: str = error.response.json()["error"]["status"]
    return status


@pytest.fixture
def served(emu: VertexEmulator, clients: Clients, clock: FakeClock) -> tuple[Clients, str, str, str]:
    """An endpoint with one tabular model deployed at 100%: (clients, endpoint, model, DeployedModel ID)."""
    p = clients.pipeline.create_training_pipeline(
        parent=PARENT, training_pipeline=pipeline_body(create_dataset(clients))
    )
    clock.advance(1e6)
    model = str(clients.pipeline.get_training_pipeline(name=p.name).model_to_upload.name)
    ep = clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e"}).result()
    spec = {"id": "111", "model": model, "dedicated_resources": DEDICATED}
    clients.endpoint.deploy_model(endpoint=ep.name, deployed_model=spec, traffic_split={"0": 100}).result()
    return clients, str(ep.name), model, "111"


def _deploy(clients: Clients, endpoint: str, model: str, deployed_id: str, split: dict[str, int]) -> Any:
    spec = {"id": deployed_id, "model": model, "dedicated_resources": DEDICATED}
    return clients.endpoint.deploy_model(endpoint=endpoint, deployed_model=spec, traffic_split=split)


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ({"0": 30}, "must add up to 100, got 30"),
        ({"0": 30, "111": 30}, "must add up to 100, got 60"),
        ({"0": 30, "111": 80}, "must add up to 100, got 110"),
        ({"0": 30, "999": 70}, "'999', which is not deployed"),
    ],
)
def test_a_deploy_split_must_add_up_to_100_over_deployed_models(
    served: tuple[Clients, str, str, str], emu: VertexEmulator, split: dict[str, int], message: str
) -> None:
    clients, endpoint, model, _ = served
    with pytest.raises(exceptions.BadRequest, match=message) as caught:
        _deploy(clients, endpoint, model, "222", split)
    assert _status(caught.value) == "INVALID_ARGUMENT"
    # Refused before any effect: nothing deployed, the split unchanged.
    assert [d.id for d in clients.endpoint.get_endpoint(name=endpoint).deployed_models] == ["111"]
    assert dict(clients.endpoint.get_endpoint(name=endpoint).traffic_split) == {"111": 100}


def test_a_split_that_adds_up_replaces_the_endpoints(served: tuple[Clients, str, str, str]) -> None:
    clients, endpoint, model, _ = served
    _deploy(clients, endpoint, model, "222", {"0": 30, "111": 70}).result()
    assert dict(clients.endpoint.get_endpoint(name=endpoint).traffic_split) == {"111": 70, "222": 30}


def test_a_model_with_traffic_is_undeployed_only_if_the_request_moves_it(
    served: tuple[Clients, str, str, str],
) -> None:
    clients, endpoint, model, _ = served
    _deploy(clients, endpoint, model, "222", {"0": 30, "111": 70}).result()
    with pytest.raises(exceptions.BadRequest, match="has 30% of the traffic") as caught:
        clients.endpoint.undeploy_model(endpoint=endpoint, deployed_model_id="222")
    assert _status(caught.value) == "FAILED_PRECONDITION"
    with pytest.raises(exceptions.BadRequest, match="must add up to 100"):
        clients.endpoint.undeploy_model(endpoint=endpoint, deployed_model_id="222", traffic_split={"111": 70})
    with pytest.raises(exceptions.BadRequest, match="not deployed"):
        clients.endpoint.undeploy_model(endpoint=endpoint, deployed_model_id="222", traffic_split={"9": 100})
    assert len(clients.endpoint.get_endpoint(name=endpoint).deployed_models) == 2
    clients.endpoint.undeploy_model(
        endpoint=endpoint, deployed_model_id="222", traffic_split={"111": 100}
    ).result()
    after = clients.endpoint.get_endpoint(name=endpoint)
    assert [d.id for d in after.deployed_models] == ["111"] and dict(after.traffic_split) == {"111": 100}
    # The last model goes whatever its traffic; the split is then empty, and the empty endpoint deletes.
    clients.endpoint.undeploy_model(endpoint=endpoint, deployed_model_id="111").result()
    after = clients.endpoint.get_endpoint(name=endpoint)
    assert not after.deployed_models and not dict(after.traffic_split)
    clients.endpoint.delete_endpoint(name=endpoint).result()
    with pytest.raises(exceptions.NotFound):
        clients.endpoint.get_endpoint(name=endpoint)


def test_an_endpoint_with_models_is_not_deleted(served: tuple[Clients, str, str, str]) -> None:
    clients, endpoint, _, _ = served
    with pytest.raises(exceptions.BadRequest, match="has deployed models"):
        clients.endpoint.delete_endpoint(name=endpoint)
    assert clients.endpoint.get_endpoint(name=endpoint).name == endpoint


def test_a_model_without_traffic_is_undeployed_without_a_split(served: tuple[Clients, str, str, str]) -> None:
    clients, endpoint, model, _ = served
    _deploy(clients, endpoint, model, "222", {"0": 0, "111": 100}).result()
    clients.endpoint.undeploy_model(endpoint=endpoint, deployed_model_id="222").result()
    assert dict(clients.endpoint.get_endpoint(name=endpoint).traffic_split) == {"111": 100}


def test_datasets_delete(clients: Clients) -> None:
    name = f"{PARENT}/datasets/{create_dataset(clients)}"
    clients.dataset.delete_dataset(name=name).result()
    with pytest.raises(exceptions.NotFound):
        clients.dataset.get_dataset(name=name)


@pytest.mark.parametrize(
    "labels",
    [{"équipe": "données"}, {"東京": "大阪"}, {"k": ""}, {"a" * 64: "b" * 64}, {"x_1-y": "٣"}],
)
def test_international_lowercase_labels_are_accepted(clients: Clients, labels: dict[str, str]) -> None:
    ep = clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e", "labels": labels})
    assert dict(ep.result().labels) == labels


@pytest.mark.parametrize(
    "labels",
    [{"Équipe": "x"}, {"équipe": "Données"}, {"1a": "x"}, {"a" * 65: "x"}, {"a": "b" * 65}, {"a b": "x"}],
)
def test_other_labels_are_refused(clients: Clients, emu: VertexEmulator, labels: dict[str, str]) -> None:
    with pytest.raises(exceptions.BadRequest, match="Invalid labels"):
        clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e", "labels": labels})
    assert not emu.state.list_resources("endpoints", PARENT, "", 10, "")[0]


def test_at_most_64_labels(clients: Clients) -> None:
    labels = {f"k{i}": "v" for i in range(64)}
    clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e", "labels": labels}).result()
    with pytest.raises(exceptions.BadRequest, match="At most 64 labels"):
        clients.endpoint.create_endpoint(
            parent=PARENT, endpoint={"display_name": "e", "labels": {**labels, "k64": "v"}}
        )


def test_lro_submissions_share_the_60_a_minute_quota(clock: FakeClock) -> None:
    with VertexEmulator(clock=clock, lro_seconds={}) as emu:
        clients = make_clients(emu.url)
        for _ in range(30):
            clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e"})
        for _ in range(30):
            create_dataset(clients)
        with pytest.raises(exceptions.TooManyRequests) as caught:
            clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e"})
        error = caught.value.response.json()["error"]
        assert error["code"] == 429 and error["status"] == "RESOURCE_EXHAUSTED"
        assert "job_or_lro_submission_requests" in error["message"]
        assert caught.value.response.headers["Retry-After"] == "60"
        # Reads are resource management only: still answered.
        assert clients.endpoint.list_endpoints(parent=PARENT)
        clock.advance(60)
        clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e"}).result()
