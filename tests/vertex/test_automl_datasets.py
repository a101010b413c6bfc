"""Datasets: created from gs:// and bq:// sources (an LRO, then an import LRO for images, text and video)."""

from __future__ import annotations

import pytest

from adapters._clock import FakeClock
from adapters._errors import InvalidJobSpec, SpecError
from checkpoint import Workspace
from tests.vertex.conftest import (
    ALT,
    FAMILIES,
    METADATA,
    PARENT,
    FakeVertex,
    Family,
    labels_of,
    make,
    pipeline_body,
    train,
)

UNSTRUCTURED = [f for f in FAMILIES if f.import_schema is not None]
TABULAR = FAMILIES[0]
FORECASTING = next(f for f in FAMILIES if f.id == "forecasting")
CSVS = ["gs://bucket/train-1.csv", "gs://bucket/train-2.csv"]


def op_path(resource_call_path: str) -> str:
    """Where the client polls the first operation of a resource the fake created."""
    return resource_call_path


def last_poll(fake: FakeVertex, operation: str) -> int:
    """The index in ``fake.calls`` of the last poll of ``operation`` (however many polls there were)."""
    return max(i for i, c in enumerate(fake.calls) if c.path == f"/ui/{operation}")


def assert_adopted_after_a_lost_create(fake: FakeVertex) -> None:
    """One dataset create whose response was lost, then the lookup by label found it: a lookup came before
    the create and another after it, and nothing was created twice."""
    lookups = [i for i, route in enumerate(fake.routes()) if route == "GET /datasets"]
    assert len(lookups) >= 2 and lookups[0] < fake.first("POST /datasets") < lookups[-1]
    assert fake.writes() == ["POST /datasets", "POST /trainingPipelines"]
    (dataset,) = fake.datasets
    (pipeline,) = fake.of("POST", r"/trainingPipelines$")
    assert pipeline.body["inputDataConfig"] == {"datasetId": dataset.rsplit("/", 1)[1]}


def test_tabular_dataset_from_gcs_csvs(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    model = make(TABULAR.cls, ws, clock, dataset_source=CSVS, **TABULAR.config)
    train(model)
    (dataset,) = fake.datasets
    dataset_id = dataset.rsplit("/", 1)[1]
    (operation,) = fake.operations
    # Looked up by label, then exactly one dataset create, then one pipeline once its operation was done.
    assert fake.writes() == ["POST /datasets", "POST /trainingPipelines"]
    assert fake.first("GET /datasets") < fake.first("POST /datasets")
    listing = fake.calls[fake.first("GET /datasets")]
    (create,) = fake.of("POST", r"/datasets$")
    (pipeline,) = fake.of("POST", r"/trainingPipelines$")
    assert last_poll(fake, operation) < fake.first("POST /trainingPipelines")
    assert fake.operations[operation]["done"]
    key = labels_of(model)["jobferry-key"]
    assert listing.query == {"filter": f'labels.jobferry-key="{key}"', "$alt": ALT}
    assert create.path == f"/v1/{PARENT}/datasets" and create.query == {"$alt": ALT}
    assert create.body == {
        "displayName": "inst",
        "metadataSchemaUri": METADATA + "tabular_1.0.0.yaml",
        "metadata": {"inputConfig": {"gcsSource": {"uri": CSVS}}},
        "labels": labels_of(model),
    }
    assert operation.startswith(dataset + "/operations/")
    assert pipeline.body == pipeline_body(model, TABULAR, dataset_id=dataset_id)
    assert model.job.resources == {"dataset": dataset}


@pytest.mark.parametrize("family", [TABULAR, FORECASTING], ids=lambda f: f.id)
def test_dataset_from_a_bigquery_table(
    family: Family, fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    model = make(family.cls, ws, clock, dataset_source=["bq://proj.sales.daily"], **family.config)
    train(model)
    (dataset,) = fake.datasets
    create = fake.of("POST", r"/datasets$")[0]
    assert create.body == {
        "displayName": "inst",
        "metadataSchemaUri": family.metadata_schema,
        "metadata": {"inputConfig": {"bigquerySource": {"uri": "bq://proj.sales.daily"}}},
        "labels": labels_of(model),
    }
    (pipeline,) = fake.of("POST", r"/trainingPipelines$")
    assert pipeline.body == pipeline_body(model, family, dataset_id=dataset.rsplit("/", 1)[1])


def test_a_bigquery_source_must_be_alone(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    model = make(TABULAR.cls, ws, clock, dataset_source=["bq://p.d.t", CSVS[0]], **TABULAR.config)
    with pytest.raises(SpecError, match="BigQuery source must be alone"):
        train(model)
    assert fake.calls == []  # checked before anything is listed or created


@pytest.mark.parametrize("family", UNSTRUCTURED, ids=lambda f: f.id)
def test_dataset_created_then_imported(
    family: Family, fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    fake.op_polls = 2  # each operation answers "not done" once: the adapter polls again on its own clock
    model = make(family.cls, ws, clock, **family.config)
    source = "gs://bucket/import.jsonl"
    train(model, training_data_url=source)

    (dataset,) = fake.datasets
    dataset_id = dataset.rsplit("/", 1)[1]
    create_op, import_op = fake.operations
    # Looked up by label, then one create, one import and one pipeline, each after the one before was done.
    imported = f"POST /datasets/{dataset_id}:import"
    assert fake.writes() == ["POST /datasets", imported, "POST /trainingPipelines"]
    assert fake.first("GET /datasets") < fake.first("POST /datasets")
    assert fake.operations[create_op]["done"] and fake.operations[import_op]["done"]
    assert last_poll(fake, create_op) < fake.first(imported)
    assert last_poll(fake, import_op) < fake.first("POST /trainingPipelines")
    (create,) = fake.of("POST", r"/datasets$")
    assert create.body == {
        "displayName": "inst",
        "metadataSchemaUri": family.metadata_schema,
        "metadata": {},
        "labels": labels_of(model),
    }
    (importing,) = fake.of("POST", r":import$")
    assert importing.query == {"$alt": ALT}
    assert importing.body == {
        "importConfigs": [{"gcsSource": {"uris": [source]}, "importSchemaUri": family.import_schema}]
    }
    (pipeline,) = fake.of("POST", r"/trainingPipelines$")
    assert pipeline.body == pipeline_body(model, family, dataset_id=dataset_id)
    # Neither operation was done at its first look: the adapter waited between looks on the fake clock.
    assert len(clock.sleeps) >= 2


@pytest.mark.parametrize("family", UNSTRUCTURED[:1], ids=lambda f: f.id)
def test_unstructured_data_must_come_from_gcs(
    family: Family, fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    model = make(family.cls, ws, clock, dataset_source=["bq://p.d.t"], **family.config)
    with pytest.raises(SpecError, match="gs://"):
        train(model)
    assert fake.calls == []


def test_rerun_after_a_rejected_pipeline_reuses_the_dataset(
    fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    family = UNSTRUCTURED[0]
    fake.op_polls = 0
    model = make(family.cls, ws, clock, **family.config)
    fake.fail("POST", r"/trainingPipelines$", 400, message="budget too small")
    with pytest.raises(InvalidJobSpec, match="budget too small"):
        train(model, training_data_url="gs://b/i.jsonl")
    # Same spec again: the pending submission key (and label) is reused, so the dataset is found.
    again = make(family.cls, ws, clock, **family.config)
    train(again, training_data_url="gs://b/i.jsonl")
    assert len(fake.datasets) == 1 and len(fake.of("POST", r":import$")) == 1
    (dataset,) = fake.datasets
    dataset_id = dataset.rsplit("/", 1)[1]
    pipelines = ["POST /trainingPipelines"] * 2
    assert fake.writes() == ["POST /datasets", f"POST /datasets/{dataset_id}:import", *pipelines]
    rejected, accepted = fake.of("POST", r"/trainingPipelines$")
    assert rejected.status == 400 and accepted.body["inputDataConfig"] == {"datasetId": dataset_id}
    # The rerun looked the dataset up by label (rather than creating one) before its pipeline.
    reruns_lookup = max(i for i, route in enumerate(fake.routes()) if route == "GET /datasets")
    assert fake.calls.index(rejected) < reruns_lookup < fake.calls.index(accepted)
    assert len(fake.pipelines) == 1


def test_found_but_empty_dataset_is_imported_again(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    family = UNSTRUCTURED[0]
    fake.op_polls = 0
    model = make(family.cls, ws, clock, **family.config)
    fake.fail("POST", r":import$", 400, message="no such file")
    with pytest.raises(InvalidJobSpec):
        train(model, training_data_url="gs://b/i.jsonl")
    again = make(family.cls, ws, clock, **family.config)
    train(again, training_data_url="gs://b/i.jsonl")
    assert len(fake.datasets) == 1
    assert len(fake.of("POST", r":import$")) == 2 and len(fake.pipelines) == 1


def test_dataset_create_503_after_effect_is_not_duplicated(
    fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    fake.op_polls = 0
    model = make(TABULAR.cls, ws, clock, dataset_source=CSVS, **TABULAR.config)
    fake.drop_after_effect("POST", r"/datasets$", status=503)
    train(model)
    assert_adopted_after_a_lost_create(fake)


def test_dataset_create_lost_response_is_adopted_by_label(
    fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    fake.op_polls = 0
    model = make(TABULAR.cls, ws, clock, dataset_source=CSVS, **TABULAR.config)
    fake.drop_after_effect("POST", r"/datasets$")
    train(model)
    (dataset,) = fake.datasets
    assert model.job.resources == {"dataset": dataset}
    assert_adopted_after_a_lost_create(fake)
