"""Every supported route, driven by the real GAPIC v1 REST clients."""

from __future__ import annotations

import time

import pytest
from google.api_core import exceptions

from adapters.vertex.emulator import VertexEmulator

from .conftest import (
    DEDICATED,
    PARENT,
    SCHEMA,
    Clients,
    FakeClock,
    as_dict,
    create_dataset,
    make_clients,
    pipeline_body,
)


def test_training_pipeline_create_get_list_cancel_delete(
    clients: Clients, emu: VertexEmulator, clock: FakeClock
) -> None:
    dataset_id = create_dataset(clients)
    made = [
        clients.pipeline.create_training_pipeline(
            parent=PARENT,
            training_pipeline=pipeline_body(dataset_id, labels={"team": team, "jf-key": f"k{i}"}),
        )
        for i, team in enumerate(["red", "red", "blue"])
    ]
    assert made[0].name.startswith(f"{PARENT}/trainingPipelines/")
    assert made[0].name.rsplit("/", 1)[-1].isdigit()
    got = clients.pipeline.get_training_pipeline(name=made[0].name)
    assert got.display_name == "emu-test" and got.labels["team"] == "red"
    assert got.state.name == "PIPELINE_STATE_PENDING"
    assert got.create_time.year >= 2024

    def names(filter_text: str, page_size: int = 0) -> list[str]:
        request = {"parent": PARENT, "filter": filter_text, "page_size": page_size}
        return [p.name for p in clients.pipeline.list_training_pipelines(request=request)]

    assert names('labels.team="red"') == [made[0].name, made[1].name]
    assert names("labels.team=blue") == [made[2].name]
    assert names('labels.team="red" AND labels.jf-key="k1"') == [made[1].name]
    assert len(names("labels.team:*")) == 3
    assert names("labels.absent:*") == []
    assert names('display_name="emu-test" AND state=PIPELINE_STATE_PENDING', page_size=1) == [
        m.name for m in made
    ]
    assert emu.counts["ListTrainingPipelines"] >= 1 + 3  # the last list followed three pages

    clients.pipeline.cancel_training_pipeline(name=made[0].name)
    cancelling = clients.pipeline.get_training_pipeline(name=made[0].name)
    assert cancelling.state.name == "PIPELINE_STATE_CANCELLING"
    with pytest.raises(exceptions.BadRequest):  # FAILED_PRECONDITION: already cancelling
        clients.pipeline.cancel_training_pipeline(name=made[0].name)
    with pytest.raises(exceptions.BadRequest):  # cannot delete a cancelling pipeline
        clients.pipeline.delete_training_pipeline(name=made[0].name)

    clock.advance(30)  # cancel_seconds: CANCELLING -> CANCELLED
    clients.pipeline.delete_training_pipeline(name=made[0].name).result(timeout=10)
    with pytest.raises(exceptions.NotFound):
        clients.pipeline.get_training_pipeline(name=made[0].name)
    with pytest.raises(exceptions.BadRequest, match="cannot be deleted"):
        clients.pipeline.delete_training_pipeline(name=made[1].name)


def test_dataset_lro_and_get(clients: Clients) -> None:
    dataset_id = create_dataset(clients, "gs://b/x.csv")
    dataset = clients.dataset.get_dataset(name=f"{PARENT}/datasets/{dataset_id}")
    assert dataset.display_name == "ds"
    assert as_dict(dataset)["metadata"]["inputConfig"]["gcsSource"]["uri"] == ["gs://b/x.csv"]
    listed = list(clients.dataset.list_datasets(parent=PARENT))
    assert [d.name for d in listed] == [dataset.name]


def test_endpoint_deploy_predict_undeploy_polls_the_ui_route() -> None:
    # Real clock: deploying takes 600 Vertex seconds, 0.06 s here, so the client has to poll.
    with VertexEmulator(speedup=10_000) as emu:
        clients = make_clients(emu.url)
        dataset_id = create_dataset(clients)
        pipeline = clients.pipeline.create_training_pipeline(
            parent=PARENT, training_pipeline=pipeline_body(dataset_id, labels={"emulator-seconds": "1"})
        )
        for _ in range(100):
            pipeline = clients.pipeline.get_training_pipeline(name=pipeline.name)
            if pipeline.state.name == "PIPELINE_STATE_SUCCEEDED":
                break
            time.sleep(0.02)
        assert pipeline.state.name == "PIPELINE_STATE_SUCCEEDED"
        model_name = pipeline.model_to_upload.name
        assert pipeline.model_id == model_name.rsplit("/", 1)[-1]
        model = clients.model.get_model(name=model_name)
        assert model.display_name == "emu-test" and model.training_pipeline == pipeline.name

        op = clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "ep"})
        endpoint = op.result(timeout=10)
        with pytest.raises(exceptions.BadRequest, match="does not have any deployed models"):
            clients.prediction.predict(endpoint=endpoint.name, instances=[{"x": 1}])

        ui_before = [e for e in emu.app.log.entries if e.method == "GetOperation"]
        deploy = clients.endpoint.deploy_model(
            endpoint=endpoint.name,
            deployed_model={"model": model_name, "dedicated_resources": DEDICATED},
            traffic_split={"0": 100},
        )
        assert not deploy.done()  # the first answer is not done; done() polled GET /ui/...
        deployed = deploy.result(timeout=10).deployed_model
        assert deployed.model == model_name and deployed.id
        assert len([e for e in emu.app.log.entries if e.method == "GetOperation"]) > len(ui_before)
        got = clients.endpoint.get_endpoint(name=endpoint.name)
        assert dict(got.traffic_split) == {deployed.id: 100}

        response = clients.prediction.predict(endpoint=endpoint.name, instances=[{"x": 1}, {"x": 2}])
        assert len(response.predictions) == 2
        assert response.deployed_model_id == deployed.id and response.model == model_name

        clients.endpoint.undeploy_model(endpoint=endpoint.name, deployed_model_id=deployed.id).result(
            timeout=10
        )
        assert not clients.endpoint.get_endpoint(name=endpoint.name).deployed_models


def test_a_client_chosen_deployed_model_id_is_refused_when_taken(clock: FakeClock) -> None:
    with VertexEmulator(clock=clock, speedup=10_000, lro_seconds={"DeployModel": 100.0}) as emu:
        clients = make_clients(emu.url)
        dataset_id = create_dataset(clients)
        pipeline = clients.pipeline.create_training_pipeline(
            parent=PARENT, training_pipeline=pipeline_body(dataset_id, labels={"emulator-seconds": "1"})
        )
        clock.advance(10_000)
        model_name = clients.pipeline.get_training_pipeline(name=pipeline.name).model_to_upload.name
        endpoint = emu.state.create_endpoint(PARENT, {"displayName": "ep"})["response"]["name"]
        spec = {"id": "1234567890", "model": model_name, "dedicated_resources": DEDICATED}
        first = clients.endpoint.deploy_model(endpoint=endpoint, deployed_model=spec)
        with pytest.raises(exceptions.Conflict, match="1234567890"):  # still deploying: taken already
            clients.endpoint.deploy_model(endpoint=endpoint, deployed_model=spec)
        clock.advance(1)
        assert first.result(timeout=5).deployed_model.id == "1234567890"
        with pytest.raises(exceptions.Conflict):  # deployed: still taken
            clients.endpoint.deploy_model(endpoint=endpoint, deployed_model=spec)
        assert [d.id for d in clients.endpoint.get_endpoint(name=endpoint).deployed_models] == ["1234567890"]


def test_operation_polls_use_the_ui_prefix(clock: FakeClock) -> None:
    seen: list[str] = []
    with VertexEmulator(clock=clock, lro_seconds={"CreateEndpoint": 10.0}) as emu:
        original = emu.app.handle

        def spy(method: str, path: str, *args: object, **kwargs: object) -> object:
            seen.append(path)
            return original(method, path, *args, **kwargs)  # type: ignore[arg-type]

        emu.app.handle = spy  # type: ignore[method-assign]
        op = make_clients(emu.url).endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e"})
        assert not op.done()
        clock.advance(10)
        assert op.done()
        assert op.result().display_name == "e"
    polls = [p for p in seen if "/operations/" in p]
    assert polls and all(p.startswith("/ui/projects/") for p in polls)


def test_batch_prediction_create_get_cancel(clients: Clients, emu: VertexEmulator, clock: FakeClock) -> None:
    dataset_id = create_dataset(clients)
    pipeline = clients.pipeline.create_training_pipeline(
        parent=PARENT, training_pipeline=pipeline_body(dataset_id)
    )
    clock.advance(10_000)
    model_name = clients.pipeline.get_training_pipeline(name=pipeline.name).model_to_upload.name
    body = {
        "display_name": "batch",
        "model": model_name,
        "input_config": {"instances_format": "jsonl", "gcs_source": {"uris": ["gs://in/x.jsonl"]}},
        "output_config": {
            "predictions_format": "jsonl",
            "gcs_destination": {"output_uri_prefix": "gs://out/"},
        },
    }
    job = clients.job.create_batch_prediction_job(parent=PARENT, batch_prediction_job=body)
    assert job.state.name == "JOB_STATE_PENDING"
    assert clients.job.get_batch_prediction_job(name=job.name).model == model_name
    clients.job.cancel_batch_prediction_job(name=job.name)
    clock.advance(10_000)
    ended = clients.job.get_batch_prediction_job(name=job.name)
    assert ended.state.name == "JOB_STATE_CANCELLED" and ended.error.code == 1
    assert [j.name for j in clients.job.list_batch_prediction_jobs(parent=PARENT)] == [job.name]


def test_custom_job_create_get_cancel(clients: Clients, clock: FakeClock) -> None:
    spec = {"worker_pool_specs": [{"replica_count": 1, "container_spec": {"image_uri": "gcr.io/x/y"}}]}
    job = clients.job.create_custom_job(
        parent=PARENT, custom_job={"display_name": "c", "job_spec": spec, "labels": {"a": "b"}}
    )
    assert job.state.name == "JOB_STATE_QUEUED"
    clock.advance(61)
    assert clients.job.get_custom_job(name=job.name).state.name == "JOB_STATE_PENDING"
    clock.advance(60)
    assert clients.job.get_custom_job(name=job.name).state.name == "JOB_STATE_RUNNING"
    request = {"parent": PARENT, "filter": 'labels.a="b"'}
    assert [j.name for j in clients.job.list_custom_jobs(request=request)] == [job.name]
    clients.job.cancel_custom_job(name=job.name)
    clock.advance(30)
    assert clients.job.get_custom_job(name=job.name).state.name == "JOB_STATE_CANCELLED"


def test_custom_training_pipeline_uploads_an_echo_model(clients: Clients, clock: FakeClock) -> None:
    body = {
        "display_name": "custom",
        "training_task_definition": SCHEMA + "custom_task_1.0.0.yaml",
        "training_task_inputs": {"workerPoolSpecs": []},
        "model_to_upload": {"display_name": "m", "container_spec": {"image_uri": "gcr.io/x/serve"}},
    }
    pipeline = clients.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=body)
    clock.advance(10_000)
    done = clients.pipeline.get_training_pipeline(name=pipeline.name)
    assert done.state.name == "PIPELINE_STATE_SUCCEEDED"
    assert clients.model.get_model(name=done.model_to_upload.name).display_name == "m"


def test_unknown_resources_and_routes(clients: Clients) -> None:
    with pytest.raises(exceptions.NotFound):
        clients.pipeline.get_training_pipeline(name=f"{PARENT}/trainingPipelines/123")
    with pytest.raises(exceptions.NotFound):
        clients.model.get_model(name=f"{PARENT}/models/123")
    with pytest.raises(exceptions.MethodNotImplemented):
        clients.model.list_model_versions(name=f"{PARENT}/models/123")
    with pytest.raises(exceptions.BadRequest, match="label"):
        clients.pipeline.create_training_pipeline(
            parent=PARENT, training_pipeline=pipeline_body("1", labels={"Bad": "x"})
        )
