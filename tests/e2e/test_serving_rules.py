"""Serving by Vertex's rules, end to end: jobferry's adapters against the emulator over REST and gRPC.

Traffic splits that add up to 100 when models share an endpoint (deploy rescales the others, undeploy hands
the leaving model's share on), resources as each model declares them, and cleaning up: the endpoint
jobferry created, the datasets it created.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters import JobState
from adapters._errors import SpecError
from adapters.vertex import VertexAutoMLImage, VertexAutoMLTabular, VertexModel
from adapters.vertex.emulator import VertexEmulator
from checkpoint import Workspace

from .conftest import TRANSPORTS, create_dataset, datasets, make, tabular_config, train

METADATA = "gs://google-cloud-aiplatform/schema/dataset/metadata/"


def trained(model: VertexModel[Any]) -> VertexModel[Any]:
    train(model)
    assert model.wait(timeout=30).state is JobState.SUCCEEDED
    return model


def split_of(emu: VertexEmulator, endpoint: str, *models: VertexModel[Any]) -> list[int]:
    """The endpoint's traffic split, as the emulator holds it, in the order of ``models``."""
    split = emu.state.endpoints[endpoint].get("trafficSplit") or {}
    assert set(split) == {m.job.resources["deployed_model_id"] for m in models}, split
    return [split[m.job.resources["deployed_model_id"]] for m in models]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_models_sharing_an_endpoint_split_its_traffic_to_100(
    emu: VertexEmulator, ws: Workspace, transport: str
) -> None:
    a, b, c = (
        trained(make(VertexAutoMLTabular, emu, ws, pid, **tabular_config(transport=transport)))
        for pid in ("a", "b", "c")
    )
    endpoint = a.deploy()
    assert split_of(emu, endpoint, a) == [100]
    assert b.deploy(endpoint=endpoint, traffic_percentage=30) == endpoint
    assert split_of(emu, endpoint, a, b) == [70, 30]
    c.deploy(endpoint=endpoint, traffic_percentage=50)
    assert split_of(emu, endpoint, a, b, c) == [35, 15, 50]

    # Undeploying b hands its 15% to a and c in proportion (35:50 -> 41:59).
    b.undeploy()
    assert split_of(emu, endpoint, a, c) == [41, 59]
    assert "deployed_model_id" not in b.job.resources

    # The endpoint is a's: deleting it is refused while c is on it, and refused to c, before any effect.
    with pytest.raises(SpecError, match="other models are deployed on it"):
        a.undeploy(delete_endpoint=True)
    with pytest.raises(SpecError, match="jobferry did not create it for this job"):
        c.undeploy(delete_endpoint=True)
    assert split_of(emu, endpoint, a, c) == [41, 59]
    assert emu.counts["DeleteEndpoint"] == 0

    c.undeploy()
    assert split_of(emu, endpoint, a) == [100]
    a.undeploy(delete_endpoint=True)
    assert endpoint not in emu.state.endpoints
    assert "endpoint" not in a.job.resources and "deployed_model_id" not in a.job.resources
    assert emu.counts["DeleteEndpoint"] == 1


def test_a_new_endpoint_takes_the_model_at_100(emu: VertexEmulator, ws: Workspace) -> None:
    model = trained(make(VertexAutoMLTabular, emu, ws, "alone", **tabular_config()))
    with pytest.raises(SpecError, match="traffic_percentage=30 needs an endpoint with other models"):
        model.deploy(traffic_percentage=30)
    assert emu.counts["CreateEndpoint"] == 0 and emu.counts["GetModel"] == 0  # refused before any call
    for bad in (101, -1, 50.5, True):
        with pytest.raises(SpecError, match="traffic_percentage"):
            model.deploy(traffic_percentage=bad)
    assert not emu.state.endpoints


def test_resources_are_those_the_model_declares(emu: VertexEmulator, ws: Workspace) -> None:
    tabular = trained(make(VertexAutoMLTabular, emu, ws, "tab", **tabular_config()))
    image_dataset = create_dataset(emu.url, f"{METADATA}image_1.0.0.yaml")
    image = trained(make(VertexAutoMLImage, emu, ws, "img", dataset=image_dataset))
    cases = [
        (tabular, "dedicatedResources", "automaticResources"),
        (image, "automaticResources", "dedicatedResources"),
    ]
    for model, sent, not_sent in cases:
        endpoint = model.deploy(machine_type="n1-standard-8")
        (deployed,) = emu.state.deployed[endpoint]
        assert sent in deployed.doc and not_sent not in deployed.doc, deployed.doc


def test_a_model_that_declares_no_deployment_is_refused_before_any_endpoint(
    emu: VertexEmulator, ws: Workspace
) -> None:
    model = trained(make(VertexAutoMLTabular, emu, ws, "nodeploy", **tabular_config()))
    # A model that lists no deployment types (as Vertex lists for models served by batch only).
    emu.state.models[model.model_resource_name()]["supportedDeploymentResourcesTypes"] = []
    with pytest.raises(SpecError, match=r"cannot be deployed to an endpoint.*lists none"):
        model.deploy()
    assert emu.counts["CreateEndpoint"] == 0 and emu.counts["DeployModel"] == 0
    assert not emu.state.endpoints and "endpoint" not in model.job.resources


def test_delete_datasets_deletes_only_what_jobferry_created(emu: VertexEmulator, ws: Workspace) -> None:
    created = trained(make(VertexAutoMLTabular, emu, ws, "own", **tabular_config()))
    key = created.record.submission_key if created.record else ""
    (dataset,) = datasets(emu.url, key)
    assert created.delete_datasets() == [dataset.name]  # type: ignore[attr-defined]
    assert dataset.name not in emu.state.datasets and not datasets(emu.url, key)
    assert "dataset" not in created.job.resources
    assert created.delete_datasets() == []  # type: ignore[attr-defined]  # twice is harmless

    theirs = create_dataset(emu.url, f"{METADATA}tabular_1.0.0.yaml")
    given = make(VertexAutoMLTabular, emu, ws, "given", **tabular_config(dataset=theirs, dataset_source=None))
    train(given)
    assert given.delete_datasets() == []  # type: ignore[attr-defined]
    assert theirs in emu.state.datasets


def test_international_labels_reach_every_resource(emu: VertexEmulator, ws: Workspace) -> None:
    model = trained(
        make(VertexAutoMLTabular, emu, ws, "intl", labels={"équipe": "données"}, **tabular_config())
    )
    endpoint = model.deploy()
    assert emu.state.endpoints[endpoint]["labels"]["équipe"] == "données"
    (pipeline,) = emu.state.jobs["trainingPipelines"].values()
    assert pipeline.doc["labels"]["équipe"] == "données"
