"""VertexBatchPrediction and ``batch_predict`` against an in-memory JobService under ``responses``."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import responses

from adapters import PluginRequest, Predicting, Serving, TrainPluginInput
from adapters._clock import FakeClock
from adapters._errors import SpecError
from adapters._jobs import JobRecord, JobRef, JobState, JobStatus
from adapters.testing import FAST_RETRY
from adapters.vertex import VertexAutoMLTabular, VertexBatchPrediction, batch_predict
from checkpoint import Workspace
from checkpoint._errors import JobferryError
from tests.vertex._jobservice import (
    CONNECTION,
    STATE_IDS,
    STATES,
    FakeJobService,
    JobServiceCases,
    JobServiceContract,
    assert_404_on_get_is_job_not_found,
    assert_lost_create_response_is_adopted,
    assert_reloads_from_checkpoint,
    assert_state_as_int,
    body_of,
    bound,
    create_refused_with_400,
    url_of,
)
from tests.vertex.conftest import BASE, PARENT

MODEL = f"{PARENT}/models/5"
SUCCESS = {
    "outputInfo": {"gcsOutputDirectory": "gs://b/preds/prediction-x-2025"},
    "completionStats": {"successfulCount": "98", "failedCount": "2", "incompleteCount": "0"},
}
BATCH = {"model": MODEL, "source": ["gs://b/in/a.jsonl"], "destination": "gs://b/preds"}


@pytest.fixture
def fake(rsps: responses.RequestsMock) -> FakeJobService:
    return FakeJobService(rsps, "batchPredictionJobs", on_success=SUCCESS)


def make_batch(ws: Workspace, clock: FakeClock, pid: str = "scoring", **config: Any) -> VertexBatchPrediction:
    """A bound batch prediction model on the fake clock."""
    return bound(VertexBatchPrediction, ws, clock, pid, {**BATCH, **config})


def started(ws: Workspace, clock: FakeClock, **config: Any) -> VertexBatchPrediction:
    """A batch prediction model whose job was submitted (its body does not depend on the train input)."""
    model = make_batch(ws, clock, **config)
    model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
    return model


# -- the request ---------------------------------------------------------------------------------------------


def test_create_request_with_dedicated_resources(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    model = started(
        ws,
        clock,
        source=["gs://b/in/a.csv", "gs://b/in/b.csv"],
        instances_format="csv",
        predictions_format="csv",
        machine_type="n1-standard-8",
        starting_replica_count=2,
        max_replica_count=5,
        model_parameters={"confidenceThreshold": 0.5},
        generate_explanation=True,
        service_account="sa@p.iam.gserviceaccount.com",
        encryption_key_name="projects/p/locations/us-central1/keyRings/r/cryptoKeys/k",
        display_name="nightly",
        labels={"team": "ml"},
    )
    assert len(rsps.calls) == 1
    request = rsps.calls[0].request
    assert request.method == "POST"
    assert url_of(request) == f"{BASE}/v1/{PARENT}/batchPredictionJobs"
    assert model.record is not None and model.record.submission_key
    key = model.record.submission_key
    assert body_of(request) == {
        "displayName": "nightly",
        "model": MODEL,
        "inputConfig": {
            "instancesFormat": "csv",
            "gcsSource": {"uris": ["gs://b/in/a.csv", "gs://b/in/b.csv"]},
        },
        "outputConfig": {"predictionsFormat": "csv", "gcsDestination": {"outputUriPrefix": "gs://b/preds"}},
        "dedicatedResources": {
            "machineSpec": {"machineType": "n1-standard-8"},
            "startingReplicaCount": 2,
            "maxReplicaCount": 5,
        },
        "modelParameters": {"confidenceThreshold": 0.5},
        "generateExplanation": True,
        "serviceAccount": "sa@p.iam.gserviceaccount.com",
        "labels": {
            "team": "ml",
            "jobferry-key": key,
            "jobferry-version": model.labels(key)["jobferry-version"],
        },
        "encryptionSpec": {"kmsKeyName": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"},
    }
    assert model.job == JobRef(
        adapter="vertex-batch-prediction",
        job_id=f"{PARENT}/batchPredictionJobs/1000",
        resources={"model": MODEL},
    )


def test_bigquery_formats_are_inferred_and_model_id_expanded(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    started(ws, clock, model="5", source="bq://p.ds.rows", destination="bq://p.out")
    body = body_of(rsps.calls[0].request)
    assert body["model"] == MODEL
    assert body["inputConfig"] == {
        "instancesFormat": "bigquery",
        "bigquerySource": {"inputUri": "bq://p.ds.rows"},
    }
    assert body["outputConfig"] == {
        "predictionsFormat": "bigquery",
        "bigqueryDestination": {"outputUri": "bq://p.out"},
    }
    assert set(body) == {"displayName", "model", "inputConfig", "outputConfig", "labels"}


class TestBatchPredictionJobService(JobServiceCases):
    start = staticmethod(started)


# -- states and outputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("wire", "name", "expected"), STATES, ids=STATE_IDS)
def test_every_job_state_as_int(
    fake: FakeJobService, ws: Workspace, clock: FakeClock, wire: int, name: str, expected: JobState
) -> None:
    assert_state_as_int(fake, started(ws, clock), wire, name, expected)


def test_outputs_on_success(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    fake.next_outcome = "succeed"
    model = started(ws, clock)
    final = model.wait(timeout=600)
    assert final.state is JobState.SUCCEEDED
    assert final.outputs == {
        "gcsOutputDirectory": "gs://b/preds/prediction-x-2025",
        "completionStats": {"successfulCount": 98, "failedCount": 2, "incompleteCount": 0},
    }


def test_bigquery_outputs(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    model = started(ws, clock, source="bq://p.ds.rows", destination="bq://p")
    info = {"bigqueryOutputDataset": "bq://p.prediction_x", "bigqueryOutputTable": "predictions"}
    fake.pin(model, state=4, outputInfo=info)
    assert model.refresh().outputs == info


# -- errors and retries --------------------------------------------------------------------------------------


def test_400_on_create_is_not_retried(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    message = "Model projects/p/locations/us-central1/models/5 does not support csv"
    with create_refused_with_400(rsps, fake, clock, message, "does not support csv"):
        started(ws, clock, instances_format="csv")


def test_404_on_get_is_job_not_found(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    assert_404_on_get_is_job_not_found(rsps, fake, started(ws, clock))


def test_lost_create_response_is_adopted_by_label(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    model = assert_lost_create_response_is_adopted(rsps, fake, lambda: started(ws, clock))
    assert model.job.resources == {"model": MODEL}  # the adopted reference is as complete as a created one


# -- the checkpoint ------------------------------------------------------------------------------------------


def test_reload_from_checkpoint_and_refresh(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    record = assert_reloads_from_checkpoint(started(ws, clock), ws, "scoring", clock)
    assert record["job"]["resources"] == {"model": MODEL}


def test_no_online_predictions(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    model = started(ws, clock)
    # Its results are files or tables: it has neither capability, so nothing to refuse.
    assert not isinstance(model, Predicting) and not isinstance(model, Serving)
    assert not hasattr(model, "run") and not hasattr(model, "deploy")


# -- config validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"source": []}, r"source = \[\]"),
        ({"source": ["s3://x/y"]}, r"source URIs must be gs:// \(or one bq:// table\), got 's3://x/y'"),
        ({"source": ["bq://p.d.t", "gs://b/x"]}, r"a bq:// source must be the only one"),
        ({"source": ["bq://p.d"]}, r"bq://project.dataset.table, got 'bq://p.d'"),
        ({"destination": "/tmp/out"}, r"destination must be a gs:// prefix .* got '/tmp/out'"),
        ({"destination": "bq://p.d.t"}, r"bq://project\[.dataset\], got 'bq://p.d.t'"),
        ({"instances_format": "parquet"}, r"instances_format = 'parquet'"),
        (
            {"instances_format": "bigquery"},
            r"instances_format 'bigquery' does not fit source 'gs://b/in/a.jsonl'",
        ),
        ({"destination": "bq://p", "predictions_format": "csv"}, r"predictions_format 'csv' does not fit"),
        ({"max_replica_count": 3}, r"max_replica_count=3 needs machine_type"),
        (
            {"machine_type": "n1-standard-4", "starting_replica_count": 4, "max_replica_count": 2},
            r"starting_replica_count \(4\) must not exceed max_replica_count \(2\)",
        ),
        ({"model": ""}, r"model = ''"),
    ],
)
def test_config_validation(config: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        VertexBatchPrediction().receive_config({**CONNECTION, **BATCH, **config})


# -- batch_predict on a trained AutoML model -----------------------------------------------------------------


def trained_tabular(ws: Workspace, clock: FakeClock) -> VertexAutoMLTabular:
    """A VertexAutoMLTabular whose pipeline succeeded with model 5 (the record built by hand)."""
    config = {
        "target_column": "y",
        "dataset": "123",
        "column_names": ["a", "y"],
        "labels": {"team": "ml"},
        "retry": FAST_RETRY.model_dump(),
    }
    tab = bound(VertexAutoMLTabular, ws, clock, "tab", config)
    tab.record = JobRecord(
        adapter=tab.adapter_name,
        adapter_version=tab.adapter_version,
        job=JobRef(adapter=tab.adapter_name, job_id=f"{PARENT}/trainingPipelines/77"),
        connection={"project": "p", "location": "us-central1", "api_endpoint": BASE, "transport": "rest"},
        credentials=tab.require_config().credentials,
        submission_key="jf0123",
        last_status=JobStatus(state=JobState.SUCCEEDED, outputs={"model": MODEL, "modelId": "5"}),
    )
    return tab


def test_batch_predict_submits_with_the_trained_model(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    tab = trained_tabular(ws, clock)
    job = batch_predict(tab, "gs://b/in/a.jsonl", "gs://b/preds", machine_type="n1-standard-2")
    body = body_of(rsps.calls[0].request)
    assert body["model"] == MODEL
    assert body["dedicatedResources"] == {"machineSpec": {"machineType": "n1-standard-2"}}
    assert body["labels"]["team"] == "ml"
    assert job.require_config().retry == FAST_RETRY and job.clock is clock
    # Persisted next to the trained model, and reattachable from there.
    assert ws.list_handles("tab.batch") == ["default"]
    again = VertexBatchPrediction.load_remote(ws, "tab.batch", use_cache=False)
    assert again.job == job.job
    # Same arguments again: the running job is adopted, not created twice.
    second = batch_predict(tab, "gs://b/in/a.jsonl", "gs://b/preds", machine_type="n1-standard-2")
    assert second.adopted and second.job == job.job and fake.calls["create"] == 1


def test_batch_predict_from_a_loaded_model_and_a_named_instance(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    trained_tabular(ws, clock).persist()
    loaded = VertexAutoMLTabular.load_remote(ws, "tab", use_cache=False)
    loaded.clock = clock
    job = batch_predict(loaded, ["gs://b/x.jsonl"], "gs://b/out", plugin_instance_id="scores-1")
    assert body_of(rsps.calls[0].request)["model"] == MODEL
    assert ws.list_handles("scores-1") == ["default"]
    assert job.job.resources == {"model": MODEL}


def test_batch_predict_needs_a_trained_model(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    tab = trained_tabular(ws, clock)
    assert tab.record is not None
    tab.record = tab.record.model_copy(update={"last_status": JobStatus(state=JobState.RUNNING)})
    pipeline = f"{PARENT}/trainingPipelines/77"
    # Still running, and still the job this checkpoint submitted (its label carries the record's key).
    running = {"name": pipeline, "state": 3, "labels": {"jobferry-key": "jf0123"}}
    rsps.add(responses.GET, f"{BASE}/v1/{pipeline}", json=running)
    with pytest.raises(JobferryError, match="has no trained model yet"):
        batch_predict(tab, "gs://b/in/a.jsonl", "gs://b/preds")
    assert fake.calls["create"] == 0


# -- the conformance suite -----------------------------------------------------------------------------------


class TestBatchPredictionContract(JobServiceContract):
    """The shared adapter contract, against the fake JobService."""

    collection = "batchPredictionJobs"
    on_success = SUCCESS
    model_class = VertexBatchPrediction
    base_config: ClassVar[dict[str, Any]] = {
        "model": MODEL,
        "source": ["gs://b/in.jsonl"],
        "destination": "gs://b/out",
    }
