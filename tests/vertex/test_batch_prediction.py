"""VertexBatchPrediction and ``batch_predict`` against an in-memory JobService under ``responses``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import responses

from adapters import PluginRequest, TrainPluginInput
from adapters._clock import FakeClock
from adapters._external import ExternalJobModel
from adapters._jobs import JobRecord, JobRef, JobState, JobStatus
from adapters._poll import clear_limiters
from adapters.vertex import VertexAutoMLTabular, VertexBatchPrediction, batch_predict
from checkpoint import Workspace
from checkpoint._errors import InvalidJobSpec, JobferryError, JobNotFound, SpecError
from tests.contract import FAST_RETRY, AdapterContract
from tests.vertex.test_custom_job import (
    BASE,
    CONNECTION,
    CONNECTION_KEYS,
    JOB_JSON_KEYS,
    PARENT,
    STATES,
    FakeJobService,
    body_of,
    google_error,
    url_of,
)

MODEL = f"{PARENT}/models/5"
SUCCESS = {
    "outputInfo": {"gcsOutputDirectory": "gs://b/preds/prediction-x-2025"},
    "completionStats": {"successfulCount": "98", "failedCount": "2", "incompleteCount": "0"},
}


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    # Rate limiters are shared per (vendor, project/region) and bound to one clock; each test has its own.
    clear_limiters()
    yield
    clear_limiters()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def fake(rsps: responses.RequestsMock) -> FakeJobService:
    return FakeJobService(rsps, "batchPredictionJobs", on_success=SUCCESS)


@pytest.fixture
def ws() -> Workspace:
    return Workspace(f"memory://vertex-batch-{uuid.uuid4().hex}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_batch(ws: Workspace, clock: FakeClock, pid: str = "scoring", **config: Any) -> VertexBatchPrediction:
    """A bound batch prediction model on the fake clock."""
    model = VertexBatchPrediction()
    values = {"model": MODEL, "source": ["gs://b/in/a.jsonl"], "destination": "gs://b/preds", **config}
    model.receive_config({**CONNECTION, **values})
    model.clock = clock
    model.bind(ws, pid)
    return model


def submit(model: VertexBatchPrediction) -> None:
    model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))


# -- the request ---------------------------------------------------------------------------------------------


def test_create_request_with_dedicated_resources(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    model = make_batch(
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
    submit(model)
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
    model = make_batch(ws, clock, model="5", source="bq://p.ds.rows", destination="bq://p.out")
    submit(model)
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


def test_find_job_lists_by_label(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    model = make_batch(ws, clock)
    submit(model)
    assert model.record is not None and model.record.submission_key
    assert model.find_job(model.record.submission_key) == model.job
    assert fake.filters[-1] == f'labels.jobferry-key="{model.record.submission_key}"'
    assert model.find_job("jfnothere") is None


# -- states and outputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("wire", "name", "expected"), STATES, ids=[s[1] for s in STATES])
def test_every_job_state_as_int(
    fake: FakeJobService, ws: Workspace, clock: FakeClock, wire: int, name: str, expected: JobState
) -> None:
    model = make_batch(ws, clock)
    submit(model)
    fake.outcomes[model.job.job_id] = "fixed"
    fake.only_job()["state"] = wire
    status = model.refresh()
    assert status.state is expected
    assert status.raw_state == (None if wire == 0 else name)


@pytest.mark.parametrize(("wire", "name", "expected"), STATES[1:], ids=[s[1] for s in STATES[1:]])
def test_every_job_state_as_name(
    fake: FakeJobService, ws: Workspace, clock: FakeClock, wire: int, name: str, expected: JobState
) -> None:
    model = make_batch(ws, clock)
    submit(model)
    fake.outcomes[model.job.job_id] = "fixed"
    fake.only_job()["state"] = name
    assert model.refresh().state is expected


def test_outputs_on_success(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    fake.next_outcome = "succeed"
    model = make_batch(ws, clock)
    submit(model)
    final = model.wait(timeout=600)
    assert final.state is JobState.SUCCEEDED
    assert final.outputs == {
        "gcsOutputDirectory": "gs://b/preds/prediction-x-2025",
        "completionStats": {"successfulCount": 98, "failedCount": 2, "incompleteCount": 0},
    }


def test_bigquery_outputs(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    model = make_batch(ws, clock, source="bq://p.ds.rows", destination="bq://p")
    submit(model)
    fake.outcomes[model.job.job_id] = "fixed"
    info = {"bigqueryOutputDataset": "bq://p.prediction_x", "bigqueryOutputTable": "predictions"}
    fake.only_job().update({"state": 4, "outputInfo": info})
    assert model.refresh().outputs == info


# -- errors and retries --------------------------------------------------------------------------------------


def test_503_then_429_with_retry_after_are_retried(
    fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    model = make_batch(ws, clock)
    submit(model)
    fake.faults["get"] += [
        (503, {}, google_error(503, "UNAVAILABLE", "try later")),
        (429, {"Retry-After": "7"}, google_error(429, "RESOURCE_EXHAUSTED", "quota")),
    ]
    before = fake.calls["get"]
    assert model.refresh().state is JobState.RUNNING
    assert fake.calls["get"] - before == 3
    assert max(clock.sleeps) >= 7


def test_400_on_create_is_not_retried(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    message = "Model projects/p/locations/us-central1/models/5 does not support csv"
    fake.faults["create"].append((400, {}, google_error(400, "INVALID_ARGUMENT", message)))
    model = make_batch(ws, clock, instances_format="csv")
    with pytest.raises(InvalidJobSpec, match="does not support csv") as info:
        submit(model)
    assert (info.value.vendor_message or "").endswith(message)
    assert len(rsps.calls) == 1 and clock.sleeps == []


def test_404_on_get_is_job_not_found(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    model = make_batch(ws, clock)
    submit(model)
    fake.jobs.clear()
    before = len(rsps.calls)
    with pytest.raises(JobNotFound):
        model.refresh()
    assert len(rsps.calls) - before == 1


def test_lost_create_response_is_adopted_by_label(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    fake.drop_create_response = True
    model = make_batch(ws, clock)
    submit(model)
    assert len([c for c in rsps.calls if c.request.method == "POST"]) == 1
    assert len(fake.jobs) == 1 and model.job.job_id == fake.only_job()["name"]
    assert model.job.resources == {"model": MODEL}  # the adopted reference is as complete as a created one


# -- the checkpoint ------------------------------------------------------------------------------------------


def test_reload_from_checkpoint_and_refresh(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    model = make_batch(ws, clock)
    submit(model)
    fresh = VertexBatchPrediction.load_remote(ws, "scoring", use_cache=False)
    fresh.clock = clock
    assert fresh.job == model.job
    assert fresh.refresh().state is JobState.RUNNING
    assert fresh.checkpoint is not None
    record = json.loads((fresh.checkpoint.folder_path_on_disk() / "job.json").read_text())
    assert set(record) == JOB_JSON_KEYS
    assert set(record["connection"]) == CONNECTION_KEYS
    assert record["credentials"] == {"kind": "anonymous"}
    assert record["job"]["resources"] == {"model": MODEL}


def test_no_online_predictions(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    model = make_batch(ws, clock)
    submit(model)
    with pytest.raises(JobferryError, match="predictions are written to its destination"):
        model.run([{"x": 1}])
    with pytest.raises(JobferryError, match="cannot deploy a batch prediction job"):
        model.deploy()


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
    values = {"model": MODEL, "source": ["gs://b/in/a.jsonl"], "destination": "gs://b/preds", **config}
    with pytest.raises(SpecError, match=message):
        VertexBatchPrediction().receive_config({**CONNECTION, **values})


# -- batch_predict on a trained AutoML model -----------------------------------------------------------------


def trained_tabular(ws: Workspace, clock: FakeClock) -> VertexAutoMLTabular:
    """A VertexAutoMLTabular whose pipeline succeeded with model 5 (the record built by hand)."""
    tab = VertexAutoMLTabular()
    tab.receive_config(
        {
            **CONNECTION,
            "target_column": "y",
            "dataset": "123",
            "column_names": ["a", "y"],
            "labels": {"team": "ml"},
            "retry": FAST_RETRY.model_dump(),
        }
    )
    tab.clock = clock
    tab.bind(ws, "tab")
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
    trained_tabular(ws, clock)._persist()
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
    rsps.add(responses.GET, f"{BASE}/v1/{pipeline}", json={"name": pipeline, "state": 3})
    with pytest.raises(JobferryError, match="has no trained model yet"):
        batch_predict(tab, "gs://b/in/a.jsonl", "gs://b/preds")
    assert fake.calls["create"] == 0


# -- the conformance suite -----------------------------------------------------------------------------------


class TestBatchPredictionContract(AdapterContract):
    """The shared adapter contract, against the fake JobService."""

    supports_predictions: ClassVar[bool] = False
    fake: FakeJobService
    clock: FakeClock

    @pytest.fixture(autouse=True)
    def _vertex(self) -> Iterator[None]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            self.fake = FakeJobService(mock, "batchPredictionJobs", on_success=SUCCESS)
            self.clock = FakeClock()
            yield

    def make_model(self, workspace: Workspace, plugin_instance_id: str) -> ExternalJobModel[Any]:
        model = VertexBatchPrediction()
        values = {"model": MODEL, "source": ["gs://b/in.jsonl"], "destination": "gs://b/out"}
        model.receive_config({**CONNECTION, **values, "retry": FAST_RETRY.model_dump()})
        model.clock = self.clock
        model.bind(workspace, plugin_instance_id)
        return model

    def train_input(self, outcome: str) -> TrainPluginInput:
        # The batch job's body does not depend on the input; the fake takes the outcome from here.
        self.fake.next_outcome = outcome
        return TrainPluginInput(training_params={"outcome": outcome})

    def count_jobs(self, model: ExternalJobModel[Any]) -> int:
        return len(self.fake.jobs)

    def make_unknown_state(self, model: ExternalJobModel[Any]) -> str:
        self.fake.outcomes[model.job.job_id] = "fixed"
        self.fake.jobs[model.job.job_id]["state"] = 12
        return "12"
