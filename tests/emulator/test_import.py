"""DatasetService.ImportData (``POST /v1/{dataset}:import``) through the real client, and an AutoML image
model that creates its dataset from ``dataset_source`` (create -> import -> pipeline) against the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1

from adapters._jobs import JobState
from adapters._poll import clear_limiters
from adapters.vertex import VertexAutoMLImage
from adapters.vertex.emulator import Phases, Quotas, VertexEmulator
from checkpoint import Workspace
from tests.e2e.conftest import PARENT as E2E_PARENT
from tests.e2e.conftest import make, train

from .conftest import PARENT, FakeClock, as_dict, make_clients

IOFORMAT = "gs://google-cloud-aiplatform/schema/dataset/ioformat/"
IMAGE_IMPORT = IOFORMAT + "image_classification_single_label_io_format_1.0.0.yaml"
IMAGE_DATASET = "gs://google-cloud-aiplatform/schema/dataset/metadata/image_1.0.0.yaml"
IMPORT_CSV = "gs://bucket/import.csv"
ROWS = [
    "gs://bucket/img/daisy-1.jpg,daisy",
    "TRAINING,gs://bucket/img/daisy-2.jpg,daisy",
    "VALIDATION,gs://bucket/img/rose-1.jpg,rose",
    "gs://bucket/img/rose-2.jpg,rose",
    "",
]


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    """The local folder behind ``gs://bucket``: an image import CSV (4 items) and a JSON Lines one (2)."""
    folder = tmp_path / "bucket"
    folder.mkdir()
    (folder / "import.csv").write_text("\n".join(ROWS))
    lines = [
        {"imageGcsUri": f"gs://bucket/img/{image}.jpg", "classificationAnnotation": {"displayName": label}}
        for image, label in [("tulip", "tulip"), ("daisy-1", "daisy")]
    ]
    (folder / "more.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


@pytest.fixture
def emu(clock: FakeClock, bucket: Path) -> Iterator[VertexEmulator]:
    with VertexEmulator(
        clock=clock, speedup=1.0, lro_seconds={}, bucket_map={"bucket": str(bucket)}
    ) as running:
        yield running


def image_dataset(client: aiplatform_v1.DatasetServiceClient) -> str:
    dataset = {"display_name": "images", "metadata_schema_uri": IMAGE_DATASET}
    name: str = client.create_dataset(parent=PARENT, dataset=dataset).result(timeout=10).name
    return name


def import_config(*uris: str, schema: str = IMAGE_IMPORT) -> dict[str, Any]:
    return {"gcs_source": {"uris": list(uris)}, "import_schema_uri": schema}


def test_import_data_counts_items_and_records_the_configs(emu: VertexEmulator) -> None:
    client = make_clients(emu.url).dataset
    name = image_dataset(client)
    assert client.get_dataset(name=name).data_item_count == 0

    operation = client.import_data(name=name, import_configs=[import_config("gs://bucket/import.csv")])
    assert isinstance(operation.result(timeout=10), aiplatform_v1.ImportDataResponse)
    assert operation.operation.name.startswith(f"{name}/operations/")
    assert emu.counts["ImportData"] == 1
    dataset = client.get_dataset(name=name)
    assert dataset.data_item_count == 4
    assert as_dict(dataset)["dataItemCount"] == "4"
    assert emu.state.imports[name] == [
        {"gcsSource": {"uris": ["gs://bucket/import.csv"]}, "importSchemaUri": IMAGE_IMPORT}
    ]

    # A second import adds the new items only: identical items (same GCS path) are deduplicated.
    client.import_data(name=name, import_configs=[import_config("gs://bucket/more.jsonl")]).result(timeout=10)
    assert client.get_dataset(name=name).data_item_count == 5
    assert len(emu.state.imports[name]) == 2
    (listed,) = client.list_datasets(parent=PARENT)
    assert listed.data_item_count == 5


def test_import_from_an_unmapped_bucket_counts_each_file_once(emu: VertexEmulator) -> None:
    client = make_clients(emu.url).dataset
    name = image_dataset(client)
    uris = ["gs://elsewhere/a.csv", "gs://elsewhere/b.csv"]
    client.import_data(name=name, import_configs=[import_config(*uris)]).result(timeout=10)
    assert client.get_dataset(name=name).data_item_count == 2


def test_import_errors(emu: VertexEmulator) -> None:
    client = make_clients(emu.url).dataset
    name = image_dataset(client)
    with pytest.raises(exceptions.NotFound):
        client.import_data(name=f"{PARENT}/datasets/123", import_configs=[import_config("gs://x/y.csv")])
    with pytest.raises(exceptions.BadRequest, match="importConfigs is required"):
        client.import_data(name=name, import_configs=[])
    with pytest.raises(exceptions.BadRequest, match="importSchemaUri is required"):
        client.import_data(name=name, import_configs=[import_config("gs://x/y.csv", schema="")])
    with pytest.raises(exceptions.BadRequest, match=r"gcsSource\.uris is required"):
        client.import_data(name=name, import_configs=[{"import_schema_uri": IMAGE_IMPORT}])
    # A file missing from a mapped bucket: the operation ends in an error, and nothing is imported.
    operation = client.import_data(name=name, import_configs=[import_config("gs://bucket/absent.csv")])
    with pytest.raises(exceptions.NotFound, match=r"absent\.csv"):
        operation.result(timeout=10)
    assert client.get_dataset(name=name).data_item_count == 0
    assert name not in emu.state.imports


def test_import_operation_takes_its_configured_time(bucket: Path) -> None:
    clock = FakeClock()
    with VertexEmulator(
        clock=clock, speedup=1.0, lro_seconds={"ImportData": 30.0}, bucket_map={"bucket": str(bucket)}
    ) as emu:
        client = make_clients(emu.url).dataset
        name = image_dataset(client)
        operation = client.import_data(name=name, import_configs=[import_config("gs://bucket/import.csv")])
        assert not operation.done()
        assert client.get_dataset(name=name).data_item_count == 0
        clock.advance(30)
        assert operation.done()
        assert client.get_dataset(name=name).data_item_count == 4


def test_deleting_a_dataset_forgets_its_imports(emu: VertexEmulator) -> None:
    client = make_clients(emu.url).dataset
    name = image_dataset(client)
    client.import_data(name=name, import_configs=[import_config("gs://bucket/import.csv")]).result(timeout=10)
    client.delete_dataset(name=name).result(timeout=10)
    assert name not in emu.state.imports and name not in emu.state.data_items


def test_automl_image_creates_imports_and_trains_from_dataset_source(bucket: Path, tmp_path: Path) -> None:
    # End to end: the adapter creates the dataset, imports gs://bucket/import.csv and trains on it, through
    # the real clients against the emulator over HTTP on a real clock (durations deliberately not dyadic).
    clear_limiters()
    try:
        durations = {"image": Phases(pending=300, running=1500)}  # 0.03 s, then 0.15 s
        no_quotas = Quotas(resource_management=None, job_creation=None, online_prediction=None)
        with VertexEmulator(
            speedup=10_000, durations=durations, bucket_map={"bucket": str(bucket)}, quotas=no_quotas
        ) as emu:
            model = make(
                VertexAutoMLImage, emu, Workspace(tmp_path / "ws"), "image", dataset_source=[IMPORT_CSV]
            )
            train(model)
            assert model.wait(timeout=30).state is JobState.SUCCEEDED

            (dataset_name,) = emu.state.datasets
            assert dataset_name.startswith(f"{E2E_PARENT}/datasets/")
            assert emu.state.datasets[dataset_name]["dataItemCount"] == "4"
            (config,) = emu.state.imports[dataset_name]
            assert config["gcsSource"]["uris"] == [IMPORT_CSV]
            assert config["importSchemaUri"] == IMAGE_IMPORT
            assert emu.counts["CreateDataset"] == 1 and emu.counts["ImportData"] == 1
            (pipeline,) = emu.state.jobs["trainingPipelines"].values()
            assert pipeline.doc["inputDataConfig"]["datasetId"] == dataset_name.rsplit("/", 1)[-1]
            assert pipeline.doc["modelToUpload"]["name"] in emu.state.models
    finally:
        clear_limiters()
