"""Every AutoML family over the wire: the create request, state mapping, retries, errors, adoption, reload."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from adapters._clock import FakeClock
from adapters._errors import AuthError, InvalidJobSpec, JobNotFound
from adapters._jobs import JobState
from adapters._messages import TaskState
from adapters.testing import JOB_JSON_KEYS
from adapters.vertex import PIPELINE_STATES, VertexModel
from checkpoint import Workspace
from tests.vertex.conftest import (
    ALT,
    BASE,
    PARENT,
    V1,
    FakeVertex,
    Family,
    labels_of,
    make,
    pipeline_body,
    train,
)

PIPELINE_ROUTE = r"/trainingPipelines/\d+$"


def trained(family: Family, ws: Workspace, clock: FakeClock, **config: Any) -> VertexModel[Any]:
    """A model of ``family`` that has submitted its pipeline on the existing dataset 123."""
    model = make(family.cls, ws, clock, dataset="123", **{**family.config, **config})
    train(model)
    return model


def test_create_request_is_exact(
    family: Family, fake: FakeVertex, rsps: responses.RequestsMock, ws: Workspace, clock: FakeClock
) -> None:
    model = make(family.cls, ws, clock, dataset="123", **family.config)
    response = train(model)

    assert response.status.state is TaskState.running
    # An existing dataset: no dataset is looked up or created, and exactly one pipeline is.
    assert fake.writes() == ["POST /trainingPipelines"] and not fake.of("GET", r"/datasets")
    (call,) = fake.of("POST", r"/trainingPipelines$")
    assert call.method == "POST"
    assert call.path == f"/v1/{PARENT}/trainingPipelines"
    assert call.query == {"$alt": ALT}
    assert call.body == pipeline_body(model, family)
    (sent,) = [c.request for c in rsps.calls if c.request.method == "POST"]
    assert sent.url == f"{V1}/trainingPipelines?%24alt=json%3Benum-encoding%3Dint"
    # The label value is the submission key recorded in the checkpoint, and a valid label value.
    key = labels_of(model)["jobferry-key"]
    assert len(key) <= 63 and key == key.lower()
    assert model.job.job_id in fake.pipelines
    assert model.job.resources == {"dataset": f"{PARENT}/datasets/123"}


def test_dataset_given_as_a_resource_name_and_user_labels(
    fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    from tests.vertex.conftest import FAMILIES

    family = FAMILIES[0]
    model = make(
        family.cls,
        ws,
        clock,
        dataset=f"{PARENT}/datasets/77",
        labels={"team": "ml"},
        model_display_name="fruit-model",
        training_fraction=0.8,
        validation_fraction=0.1,
        test_fraction=0.1,
        **family.config,
    )
    train(model)
    (call,) = fake.of("POST", r"/trainingPipelines$")
    assert call.body == {
        **pipeline_body(model, family, dataset_id="77"),
        "inputDataConfig": {
            "datasetId": "77",
            "fractionSplit": {"trainingFraction": 0.8, "validationFraction": 0.1, "testFraction": 0.1},
        },
        "modelToUpload": {"displayName": "fruit-model"},
        "labels": {"team": "ml", **labels_of(model)},
    }


STATES: list[tuple[int | str, JobState, str | None]] = [
    (0, JobState.UNKNOWN, None),  # proto3 omits a default enum: UNSPECIFIED comes back as no state at all
    (1, JobState.QUEUED, "PIPELINE_STATE_QUEUED"),
    (2, JobState.PENDING, "PIPELINE_STATE_PENDING"),
    (3, JobState.RUNNING, "PIPELINE_STATE_RUNNING"),
    (4, JobState.SUCCEEDED, "PIPELINE_STATE_SUCCEEDED"),
    (5, JobState.FAILED, "PIPELINE_STATE_FAILED"),
    (6, JobState.CANCELLING, "PIPELINE_STATE_CANCELLING"),
    (7, JobState.CANCELLED, "PIPELINE_STATE_CANCELLED"),
    (8, JobState.PAUSED, "PIPELINE_STATE_PAUSED"),
    (99, JobState.UNKNOWN, "99"),  # a state newer than the client: unknown, raw value kept
]


def test_every_pipeline_state_maps(family: Family, fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    model = trained(family, ws, clock)
    name = model.job.job_id
    names = [raw for _, _, raw in STATES if raw and raw.startswith("PIPELINE_STATE_")]
    assert [s for s in names if s in PIPELINE_STATES] == names
    for raw, state, raw_name in STATES:
        # As the client asks (enum-encoding=int) ...
        fake.set_pipeline(name, state=raw)
        status = model.refresh()
        assert (status.state, status.raw_state) == (state, raw_name), raw
        # ... and as names, which the client parses too.
        if raw_name is not None and raw_name.startswith("PIPELINE_STATE_"):
            fake.set_pipeline(name, state=raw_name)
            status = model.refresh()
            assert (status.state, status.raw_state) == (state, raw_name), raw_name
    assert all(c.query == {"$alt": ALT} for c in fake.of("GET", PIPELINE_ROUTE))


def test_every_poll_reports_the_key_the_pipeline_carries(
    family: Family, fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    model = trained(family, ws, clock)
    key = labels_of(model)["jobferry-key"]
    assert fake.pipelines[model.job.job_id]["labels"]["jobferry-key"] == key
    assert model.refresh().submission_key == key
    # A pipeline without our label carries no key: '' (None would mean "cannot tell").
    fake.set_pipeline(model.job.job_id, labels={"team": "ml"})
    assert model.describe_job(model.job).submission_key == ""
    fake.set_pipeline(model.job.job_id, labels={"jobferry-key": "jfsomeoneelse"})
    assert model.describe_job(model.job).submission_key == "jfsomeoneelse"


def test_failed_pipeline_carries_vertex_error_and_outputs_on_success(
    family: Family, fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    model = trained(family, ws, clock)
    name = model.job.job_id
    fake.set_pipeline(name, state=5, error={"code": 3, "message": "target column has one value"})
    status = model.refresh()
    assert status.state is JobState.FAILED
    assert status.error is not None and (status.error.code, status.error.message) == (
        "3",
        "target column has one value",
    )
    fake.set_pipeline(name, state=4, error={})
    model_name = fake.succeed(name, model_id="42")
    status = model.refresh()
    assert status.state is JobState.SUCCEEDED and status.outputs == {"model": model_name}


def test_get_retries_503_and_429_honouring_retry_after(
    family: Family, fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    model = trained(family, ws, clock)
    fake.fail("GET", PIPELINE_ROUTE, 503, message="backend unavailable")
    fake.fail("GET", PIPELINE_ROUTE, 429, message="quota", headers={"Retry-After": "7"})
    status = model.refresh()
    assert status.state is JobState.QUEUED
    gets = fake.of("GET", PIPELINE_ROUTE)
    assert [c.status for c in gets] == [503, 429, 200]
    assert {c.path for c in gets} == {f"/v1/{model.job.job_id}"}
    assert len(clock.sleeps) == 2 and clock.sleeps[1] >= 7


@pytest.mark.parametrize(
    ("status", "error", "match"),
    [
        (400, InvalidJobSpec, "Vertex AI rejected the request: .*List of found errors: targetColumn"),
        (404, JobNotFound, "not found"),
    ],
)
def test_get_400_and_404_are_not_retried(
    family: Family,
    fake: FakeVertex,
    ws: Workspace,
    clock: FakeClock,
    status: int,
    error: type[Exception],
    match: str,
) -> None:
    model = trained(family, ws, clock)
    fake.fail("GET", PIPELINE_ROUTE, status, message="List of found errors: targetColumn")
    with pytest.raises(error, match=match) as info:
        model.refresh()
    assert len(fake.of("GET", PIPELINE_ROUTE)) == 1 and clock.sleeps == []
    if status == 404:
        assert isinstance(info.value, JobNotFound) and info.value.job_id == model.job.job_id
    else:
        assert isinstance(info.value, InvalidJobSpec)
        assert info.value.code == 400 and "targetColumn" in (info.value.vendor_message or "")


@pytest.mark.parametrize("status", [401, 403])
def test_get_401_and_403_are_auth_errors_naming_project_and_credentials(
    family: Family, fake: FakeVertex, ws: Workspace, clock: FakeClock, status: int
) -> None:
    model = trained(family, ws, clock)
    fake.fail("GET", PIPELINE_ROUTE, status, message="caller lacks aiplatform.trainingPipelines.get")
    with pytest.raises(AuthError) as info:
        model.refresh()
    text = str(info.value)
    assert "project 'p'" in text and "anonymous (no credentials)" in text
    assert info.value.code == status
    if status == 403:
        assert "aiplatform.trainingPipelines.get" in text
    else:
        # google-auth answers a 401 by refreshing the credentials; anonymous ones cannot be refreshed.
        assert "cannot be refreshed" in text
    assert len(fake.of("GET", PIPELINE_ROUTE)) == 1 and clock.sleeps == []


def test_lost_create_response_is_adopted_by_label(
    family: Family, fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    model = make(family.cls, ws, clock, dataset="123", **family.config)
    fake.drop_after_effect("POST", r"/trainingPipelines$")
    response = train(model)

    assert response.status.state is TaskState.running
    assert len(fake.pipelines) == 1
    (name,) = fake.pipelines
    assert model.job.job_id == name
    assert model.job.resources == {"dataset": f"{PARENT}/datasets/123"}
    # One create; its lost response made the adapter look the pipeline up by label, after the create.
    assert fake.writes() == ["POST /trainingPipelines"]
    assert fake.first("POST /trainingPipelines") < fake.first("GET /trainingPipelines")
    listing = fake.calls[fake.first("GET /trainingPipelines")]
    key = labels_of(model)["jobferry-key"]
    assert listing.query == {"filter": f'labels.jobferry-key="{key}"', "$alt": ALT}
    assert fake.pipelines[name]["labels"]["jobferry-key"] == key


def test_503_after_the_create_took_effect_is_not_duplicated(
    fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    from tests.vertex.conftest import FAMILIES

    model = make(FAMILIES[0].cls, ws, clock, dataset="123", **FAMILIES[0].config)
    fake.drop_after_effect("POST", r"/trainingPipelines$", status=503)
    train(model)
    assert len(fake.pipelines) == 1 and model.job.job_id in fake.pipelines
    assert fake.writes() == ["POST /trainingPipelines"]  # not created again: found by label after the 503
    assert fake.first("POST /trainingPipelines") < fake.first("GET /trainingPipelines")


def test_reload_from_the_checkpoint_then_refresh(
    family: Family, fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    model = trained(family, ws, clock)
    model_name = fake.succeed(model.job.job_id)

    fresh: VertexModel[Any] = family.cls.load_remote(ws, "inst", use_cache=False)
    fresh.clock = clock
    assert fresh is not model and fresh.job == model.job
    assert fresh.config is None and fresh.reach.api_endpoint == BASE
    status = fresh.refresh()
    assert status.state is JobState.SUCCEEDED and status.outputs == {"model": model_name}
    assert fake.of("GET", PIPELINE_ROUTE)[-1].path == f"/v1/{model.job.job_id}"


JOB_JSON = JOB_JSON_KEYS - {"lastStatus"}  # before the first poll


def read_job_json(family: Family, ws: Workspace) -> dict[str, Any]:
    loaded = family.cls.load_remote(ws, "inst", use_cache=False)
    assert loaded.checkpoint is not None
    folder = loaded.checkpoint.folder_path_on_disk()
    assert sorted(p.name for p in folder.iterdir()) == ["job.json"]
    record: dict[str, Any] = json.loads((folder / "job.json").read_text())
    return record


def test_checkpoint_holds_exactly_the_references(
    family: Family, fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    model = trained(family, ws, clock)
    record = read_job_json(family, ws)
    assert set(record) == JOB_JSON
    assert record["format"] == 1
    assert record["adapter"] == family.cls.adapter_name and record["adapterVersion"] == "0.1.0"
    assert record["connection"] == {
        "project": "p",
        "location": "us-central1",
        "api_endpoint": BASE,
        "transport": "rest",
        "call_timeout": 60.0,
        "operation_timeout": 7200.0,
        "create_settle_seconds": 30.0,
    }
    assert record["credentials"] == {"kind": "anonymous"}
    assert record["submissionKey"] == labels_of(model)["jobferry-key"]
    assert len(record["specHash"]) == 64
    assert record["job"] == {
        "adapter": family.cls.adapter_name,
        "jobId": model.job.job_id,
        "resources": {"dataset": f"{PARENT}/datasets/123"},
    }

    fake.succeed(model.job.job_id)
    model.refresh()  # a change of state is persisted
    record = read_job_json(family, ws)
    assert set(record) == JOB_JSON | {"lastStatus"}
    fields = {"state", "rawState", "message", "createTime", "outputs", "polledAt", "submissionKey"}
    assert set(record["lastStatus"]) == fields
    assert record["lastStatus"]["state"] == "SUCCEEDED"
    assert record["lastStatus"]["submissionKey"] == labels_of(model)["jobferry-key"]
