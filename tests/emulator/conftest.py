"""Fixtures for the Vertex AI emulator tests: the real GAPIC v1 REST clients pointed at the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("google.cloud.aiplatform_v1")

from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1
from google.protobuf import json_format

from adapters.vertex.emulator import VertexEmulator

PARENT = "projects/proj/locations/us-central1"
SCHEMA = "gs://google-cloud-aiplatform/schema/trainingjob/definition/"
TABULAR = SCHEMA + "automl_tabular_1.0.0.yaml"
TABULAR_DATASET = "gs://google-cloud-aiplatform/schema/dataset/metadata/tabular_1.0.0.yaml"
#: Deployment resources, as Vertex requires them: AutoML tabular models on dedicated machines, AutoML image
#: and text models on automatic resources.
DEDICATED = {"machine_spec": {"machine_type": "n1-standard-2"}, "min_replica_count": 1}
AUTOMATIC = {"min_replica_count": 1, "max_replica_count": 1}


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Clients:
    """One of each GAPIC client, all talking REST to the same base URL."""

    pipeline: aiplatform_v1.PipelineServiceClient
    dataset: aiplatform_v1.DatasetServiceClient
    model: aiplatform_v1.ModelServiceClient
    endpoint: aiplatform_v1.EndpointServiceClient
    prediction: aiplatform_v1.PredictionServiceClient
    job: aiplatform_v1.JobServiceClient


def make_clients(url: str) -> Clients:
    """Clients for ``url`` with the three settings an ``http://`` loopback endpoint needs."""
    kw: dict[str, Any] = {
        "transport": "rest",
        "client_options": {"api_endpoint": url},
        "credentials": AnonymousCredentials(),
    }
    return Clients(
        aiplatform_v1.PipelineServiceClient(**kw),
        aiplatform_v1.DatasetServiceClient(**kw),
        aiplatform_v1.ModelServiceClient(**kw),
        aiplatform_v1.EndpointServiceClient(**kw),
        aiplatform_v1.PredictionServiceClient(**kw),
        aiplatform_v1.JobServiceClient(**kw),
    )


def as_dict(message: Any) -> dict[str, Any]:
    """A proto-plus message as camelCase JSON-like Python."""
    result: dict[str, Any] = json_format.MessageToDict(type(message).pb(message))
    return result


def pipeline_body(
    dataset_id: str = "", target: str = "y", kind: str = "classification", **extra: Any
) -> dict[str, Any]:
    """A tabular AutoML training pipeline request."""
    body: dict[str, Any] = {
        "display_name": "emu-test",
        "training_task_definition": TABULAR,
        "training_task_inputs": {"targetColumn": target, "predictionType": kind},
        **extra,
    }
    if dataset_id:
        body["input_data_config"] = {"dataset_id": dataset_id}
    return body


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[VertexEmulator]:
    """An emulator on a fake clock whose operations finish at once."""
    with VertexEmulator(clock=clock, speedup=1.0, lro_seconds={}) as emulator:
        yield emulator


@pytest.fixture
def clients(emu: VertexEmulator) -> Clients:
    return make_clients(emu.url)


def create_dataset(clients: Clients, uri: str = "gs://nowhere/train.csv") -> str:
    """Creates a tabular dataset over ``uri``; returns its ID."""
    op = clients.dataset.create_dataset(
        parent=PARENT,
        dataset={
            "display_name": "ds",
            "metadata_schema_uri": TABULAR_DATASET,
            "metadata": {"inputConfig": {"gcsSource": {"uri": [uri]}}},
        },
    )
    name: str = op.result(timeout=10).name
    return name.rsplit("/", 1)[-1]
