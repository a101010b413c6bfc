"""Fault injection, quotas and the prediction payload limit, as the real clients see them."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions

from adapters.vertex.emulator import FaultSpec, VertexEmulator

from .conftest import DEDICATED, PARENT, Clients, FakeClock, create_dataset, make_clients, pipeline_body


def test_503_on_get_raises_service_unavailable(clients: Clients, emu: VertexEmulator) -> None:
    p = clients.pipeline.create_training_pipeline(
        parent=PARENT, training_pipeline=pipeline_body(create_dataset(clients))
    )
    emu.faults.set("GetTrainingPipeline", error_rate=1.0, codes=[503], max_faults=1)
    with pytest.raises(exceptions.ServiceUnavailable) as caught:
        clients.pipeline.get_training_pipeline(name=p.name)
    assert caught.value.response.headers["Retry-After"] == "1"
    # max_faults=1: the next call goes through.
    assert clients.pipeline.get_training_pipeline(name=p.name).name == p.name
    assert emu.counts["GetTrainingPipeline"] == 2
    assert [e.status for e in emu.app.log.entries if e.method == "GetTrainingPipeline"] == [503, 200]


def test_429_carries_retry_after_and_google_error_json() -> None:
    faults = {"CreateTrainingPipeline": FaultSpec(error_rate=1.0, codes=[429], retry_after=7)}
    with VertexEmulator(faults=faults) as emu:
        clients = make_clients(emu.url)
        with pytest.raises(exceptions.TooManyRequests) as caught:
            clients.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=pipeline_body())
        response = caught.value.response
        assert response.headers["Retry-After"] == "7"
        error = response.json()["error"]
        assert error["code"] == 429 and error["status"] == "RESOURCE_EXHAUSTED" and error["message"]
        assert emu.state.jobs["trainingPipelines"] == {}  # a failed create has no effect


def test_dropped_response_after_effect(clients: Clients, emu: VertexEmulator) -> None:
    dataset_id = create_dataset(clients)
    emu.faults.set("CreateTrainingPipeline", drop_response_rate=1.0, max_faults=1)
    body = pipeline_body(dataset_id, labels={"jf-key": "abc"})
    with pytest.raises(requests.exceptions.ConnectionError):
        clients.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=body)
    # The pipeline exists: a client that lost the answer finds it by its label.
    request = {"parent": PARENT, "filter": 'labels.jf-key="abc"'}
    assert len(list(clients.pipeline.list_training_pipelines(request=request))) == 1
    assert [e.status for e in emu.app.log.entries if e.method == "CreateTrainingPipeline"] == [0]


def test_job_creation_quota(clock: FakeClock) -> None:
    with VertexEmulator(clock=clock, lro_seconds={}) as emu:
        clients = make_clients(emu.url)
        dataset_id = create_dataset(clients)
        body = pipeline_body(dataset_id)
        for _ in range(59):  # the dataset's create was the first of the minute's 60 submissions
            clients.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=body)
        with pytest.raises(exceptions.TooManyRequests) as caught:
            clients.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=body)
        assert caught.value.response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert "job_or_lro_submission" in caught.value.message
        assert int(caught.value.response.headers["Retry-After"]) == 60
        # Another project has its own quota; the first one recovers after the window.
        other = "projects/other/locations/us-central1"
        with pytest.raises(exceptions.BadRequest):  # other's dataset does not exist: past the quota check
            clients.pipeline.create_training_pipeline(parent=other, training_pipeline=body)
        clock.advance(60)
        clients.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=body)
        assert emu.counts["CreateTrainingPipeline"] == 62


def test_resource_management_quota_is_configurable(clock: FakeClock) -> None:
    with VertexEmulator(clock=clock, quotas={"resource_management": 3}) as emu:
        clients = make_clients(emu.url)
        for _ in range(3):
            with pytest.raises(exceptions.NotFound):
                clients.model.get_model(name=f"{PARENT}/models/1")
        with pytest.raises(exceptions.TooManyRequests):
            clients.model.get_model(name=f"{PARENT}/models/1")


def test_prediction_payload_limit(clients: Clients, emu: VertexEmulator, clock: FakeClock) -> None:
    p = clients.pipeline.create_training_pipeline(
        parent=PARENT, training_pipeline=pipeline_body(create_dataset(clients))
    )
    clock.advance(1e6)
    model = clients.pipeline.get_training_pipeline(name=p.name).model_to_upload.name
    ep = clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e"}).result()
    spec = {"model": model, "dedicated_resources": DEDICATED}
    clients.endpoint.deploy_model(endpoint=ep.name, deployed_model=spec).result()
    big = [{"text": "x" * 100_000} for _ in range(16)]  # about 1.6 MB of JSON
    with pytest.raises(exceptions.BadRequest, match="payload size exceeds the limit") as caught:
        clients.prediction.predict(endpoint=ep.name, instances=big)
    assert caught.value.response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert len(clients.prediction.predict(endpoint=ep.name, instances=big[:10]).predictions) == 10


def test_latency_and_seeded_error_rate() -> None:
    faults = {"GetModel": FaultSpec(latency=0.05), "GetEndpoint": FaultSpec(error_rate=0.5, codes=[500, 503])}
    outcomes = []
    for _ in range(2):
        with VertexEmulator(faults=faults, seed=7) as emu:
            slept: list[float] = []
            emu.app._sleep = slept.append  # the latency is recorded here instead of slept for real
            clients = make_clients(emu.url)
            with pytest.raises(exceptions.NotFound):
                clients.model.get_model(name=f"{PARENT}/models/1")
            assert slept == [0.05]  # GetModel's latency, once, before the call was handled
            for _ in range(20):
                with pytest.raises(exceptions.GoogleAPICallError):
                    clients.endpoint.get_endpoint(name=f"{PARENT}/endpoints/1")
            outcomes.append([e.status for e in emu.app.log.entries if e.method == "GetEndpoint"])
    assert outcomes[0] == outcomes[1]  # the same seed injects the same faults
    assert {500, 503, 404} <= set(outcomes[0])
