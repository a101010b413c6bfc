"""What makes the emulator faithful enough for Google's high-level SDK: versioned names, deployability,
instance validation, timestamps on the emulator's clock, list and delete rules."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions

from adapters.vertex.emulator import VertexEmulator

from .conftest import (
    AUTOMATIC,
    DEDICATED,
    PARENT,
    SCHEMA,
    Clients,
    FakeClock,
    create_dataset,
    make_clients,
    pipeline_body,
)


def _status(error: exceptions.GoogleAPICallError) -> str:
    assert error.response is not None
    status: str = error.response.json()["error"]["status"]
    return status


def _trained(emu: VertexEmulator, clients: Clients, clock: FakeClock, body: dict[str, Any]) -> str:
    p = clients.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=body)
    clock.advance(1e6)
    done = clients.pipeline.get_training_pipeline(name=p.name)
    assert done.state.name == "PIPELINE_STATE_SUCCEEDED", done.error.message
    return str(done.model_to_upload.name)


@pytest.fixture
def fruit(tmp_path: Path, clock: FakeClock) -> Any:
    rows = [
        {"weight": 100 + i, "hue": "green" if i % 2 else "red", "y": "a" if i < 10 else "b"}
        for i in range(20)
    ]
    with (tmp_path / "train.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with VertexEmulator(clock=clock, lro_seconds={}, bucket_map={"data": str(tmp_path)}) as emu:
        clients = make_clients(emu.url)
        model = _trained(emu, clients, clock, pipeline_body(create_dataset(clients, "gs://data/train.csv")))
        yield emu, clients, model


def test_versions_and_aliases_resolve_and_unknown_ones_are_404(fruit: Any) -> None:
    _emu, clients, model = fruit
    # The client percent-encodes "@" (models/ID%401); the emulator decodes the path.
    assert clients.model.get_model(name=f"{model}@1").name == model
    assert clients.model.get_model(name=f"{model}@default").version_id == "1"
    for unknown in ("@7", "@nope"):
        with pytest.raises(exceptions.NotFound):
            clients.model.get_model(name=model + unknown)


def test_models_declare_what_vertex_declares_per_family(fruit: Any, clock: FakeClock) -> None:
    emu, clients, model = fruit
    tabular = clients.model.get_model(name=model)
    assert [t.name for t in tabular.supported_deployment_resources_types] == ["DEDICATED_RESOURCES"]
    assert "csv" in tabular.supported_input_storage_formats and tabular.supported_output_storage_formats
    video = _trained(emu, clients, clock, _unstructured("automl_video_classification_1.0.0.yaml"))
    assert not clients.model.get_model(name=video).supported_deployment_resources_types
    image = _trained(emu, clients, clock, _unstructured("automl_image_classification_1.0.0.yaml"))
    got = clients.model.get_model(name=image).supported_deployment_resources_types
    assert [t.name for t in got] == ["AUTOMATIC_RESOURCES"]


def _unstructured(leaf: str) -> dict[str, Any]:
    return {"display_name": "u", "training_task_definition": SCHEMA + leaf, "training_task_inputs": {}}


def test_deploys_vertex_would_refuse_are_400(fruit: Any, clock: FakeClock) -> None:
    emu, clients, model = fruit
    ep = clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e"}).result()
    with pytest.raises(exceptions.BadRequest, match="dedicatedResources is required"):
        clients.endpoint.deploy_model(endpoint=ep.name, deployed_model={"model": model})
    with pytest.raises(exceptions.BadRequest, match=r"does not support deployedModel\.automaticResources"):
        clients.endpoint.deploy_model(
            endpoint=ep.name, deployed_model={"model": model, "automatic_resources": AUTOMATIC}
        )
    with pytest.raises(exceptions.BadRequest, match="machineType is required"):
        spec = {"model": model, "dedicated_resources": {"min_replica_count": 1}}
        clients.endpoint.deploy_model(endpoint=ep.name, deployed_model=spec)
    video = _trained(emu, clients, clock, _unstructured("automl_video_classification_1.0.0.yaml"))
    with pytest.raises(exceptions.BadRequest, match="does not support deployment") as caught:
        clients.endpoint.deploy_model(endpoint=ep.name, deployed_model={"model": video})
    assert _status(caught.value) == "FAILED_PRECONDITION"
    assert not emu.state.deployed[ep.name]
    # A versioned name deploys, on the resources the model declares.
    spec = {"model": f"{model}@1", "dedicated_resources": DEDICATED}
    assert clients.endpoint.deploy_model(endpoint=ep.name, deployed_model=spec).result().deployed_model.id


@pytest.mark.parametrize(
    ("instance", "message"),
    [
        ({"weight": 101}, 'missing the column "hue"'),
        ({"weight": "heavy", "hue": "red"}, 'column "weight" is numeric'),
        (5, "must be a JSON object"),
    ],
)
def test_instances_must_fit_the_trained_schema(fruit: Any, instance: Any, message: str) -> None:
    _emu, clients, model = fruit
    ep = clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e"}).result()
    spec = {"model": model, "dedicated_resources": DEDICATED}
    clients.endpoint.deploy_model(endpoint=ep.name, deployed_model=spec).result()
    good = {"weight": "101.5", "hue": "red", "extra": "ignored"}
    assert len(clients.prediction.predict(endpoint=ep.name, instances=[good]).predictions) == 1
    with pytest.raises(exceptions.BadRequest, match=message) as caught:
        clients.prediction.predict(endpoint=ep.name, instances=[good, instance])
    assert caught.value.response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "instances[1]" in str(caught.value)


def test_timestamps_are_vertex_time_on_the_emulators_clock(clock: FakeClock) -> None:
    with VertexEmulator(clock=clock, speedup=100, lro_seconds={}) as emu:
        clients = make_clients(emu.url)
        dataset = create_dataset(clients)
        clock.advance(7)  # 700 Vertex seconds later
        p = clients.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=pipeline_body(dataset))
        ds = clients.dataset.get_dataset(name=f"{PARENT}/datasets/{dataset}")
        assert p.create_time - ds.create_time == timedelta(seconds=700)
        clock.advance(1e4)
        done = clients.pipeline.get_training_pipeline(name=p.name)
        tabular = emu.app.config.durations["tabular"]
        assert done.start_time - done.create_time == timedelta(seconds=tabular.pending)
        assert done.end_time - done.start_time == timedelta(seconds=tabular.running)
        model = clients.model.get_model(name=done.model_to_upload.name)
        assert model.create_time == done.end_time


def test_batch_prediction_takes_a_versioned_model_and_names_its_folder(fruit: Any, tmp_path: Path) -> None:
    emu, clients, model = fruit
    job = clients.job.create_batch_prediction_job(
        parent=PARENT,
        batch_prediction_job={
            "display_name": "b",
            "model": f"{model}@default",
            "input_config": {"instances_format": "csv", "gcs_source": {"uris": ["gs://data/train.csv"]}},
            "output_config": {
                "predictions_format": "jsonl",
                "gcs_destination": {"output_uri_prefix": "gs://data/o"},
            },
        },
    )
    emu.app.clock.advance(1e6)  # type: ignore[attr-defined]
    done = clients.job.get_batch_prediction_job(name=job.name)
    assert done.state.name == "JOB_STATE_SUCCEEDED"
    stamp = done.create_time.strftime("%Y-%m-%dT%H:%M:%S.") + f"{done.create_time.microsecond // 1000:03d}Z"
    assert done.output_info.gcs_output_directory == f"gs://data/o/prediction-emu-test-{stamp}"
    assert (tmp_path / "o" / f"prediction-emu-test-{stamp}" / "predictions_00001.jsonl").exists()
    with pytest.raises(exceptions.BadRequest, match="does not exist"):
        body = {**done_body(model), "model": f"{model}@9"}
        clients.job.create_batch_prediction_job(parent=PARENT, batch_prediction_job=body)


def done_body(model: str) -> dict[str, Any]:
    return {"display_name": "b", "model": model, "input_config": {"instances_format": "jsonl"}}


def test_delete_rules(fruit: Any, clock: FakeClock) -> None:
    _emu, clients, model = fruit
    ep = clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e"}).result()
    spec = {"model": model, "dedicated_resources": DEDICATED}
    deployed = clients.endpoint.deploy_model(endpoint=ep.name, deployed_model=spec).result().deployed_model
    # Vertex answers FAILED_PRECONDITION with HTTP 400, which the client raises as BadRequest.
    with pytest.raises(exceptions.BadRequest, match="deployed") as caught:
        clients.model.delete_model(name=model)
    assert _status(caught.value) == "FAILED_PRECONDITION"
    with pytest.raises(exceptions.BadRequest, match="deployed models"):
        clients.endpoint.delete_endpoint(name=ep.name)
    clients.endpoint.undeploy_model(endpoint=ep.name, deployed_model_id=deployed.id).result()
    op = clients.model.delete_model(name=model)
    assert op.metadata.__class__.__name__ == "DeleteOperationMetadata"
    op.result()
    with pytest.raises(exceptions.NotFound):
        clients.model.get_model(name=model)
    running = clients.pipeline.create_training_pipeline(
        parent=PARENT,
        training_pipeline=pipeline_body(create_dataset(clients), labels={"emulator-seconds": "1e9"}),
    )
    with pytest.raises(exceptions.BadRequest, match="cannot be deleted") as caught:
        clients.pipeline.delete_training_pipeline(name=running.name)
    assert _status(caught.value) == "FAILED_PRECONDITION"
    clients.pipeline.cancel_training_pipeline(name=running.name)
    clock.advance(1e6)
    clients.pipeline.delete_training_pipeline(name=running.name).result()
    with pytest.raises(exceptions.NotFound):
        clients.pipeline.get_training_pipeline(name=running.name)
