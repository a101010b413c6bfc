"""VertexCustomJob against an in-memory JobService under ``responses`` (the real GAPIC client over REST)."""

from __future__ import annotations

from typing import Any

import pytest
import responses

from adapters import PluginRequest, Predicting, Serving, TrainPluginInput
from adapters._clock import FakeClock
from adapters._errors import SpecError
from adapters._jobs import JobState
from adapters.vertex import VertexCustomJob, VertexCustomJobConfig
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
    google_error,
    url_of,
)
from tests.vertex.conftest import BASE, PARENT

IMAGE = {"container_image_uri": "gcr.io/p/trainer:1"}


@pytest.fixture
def fake(rsps: responses.RequestsMock) -> FakeJobService:
    return FakeJobService(rsps, "customJobs")


def make_job(ws: Workspace, clock: FakeClock, pid: str = "trainer", **config: Any) -> VertexCustomJob:
    """A bound custom job model on the fake clock."""
    return bound(VertexCustomJob, ws, clock, pid, {**IMAGE, **config})


def train(model: VertexCustomJob, params: dict[str, Any] | None = None) -> None:
    model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput(training_params=params)))


def started(ws: Workspace, clock: FakeClock, **config: Any) -> VertexCustomJob:
    """A custom job model whose job was submitted with no training params."""
    model = make_job(ws, clock, **config)
    train(model)
    return model


# -- the request ---------------------------------------------------------------------------------------------


def test_create_request_is_exactly_the_custom_job(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    model = make_job(
        ws,
        clock,
        command=["python", "-m", "train"],
        args=["--data=gs://b/data"],
        env={"MODE": "full"},
        machine_type="n1-highmem-8",
        replica_count=3,
        accelerator_type="NVIDIA_TESLA_T4",
        accelerator_count=2,
        boot_disk_size_gb=200,
        base_output_directory="gs://b/out",
        timeout_seconds=3600,
        restart_job_on_worker_restart=True,
        service_account="sa@p.iam.gserviceaccount.com",
        network="projects/12/global/networks/default",
        encryption_key_name="projects/p/locations/us-central1/keyRings/r/cryptoKeys/k",
        labels={"team": "ml"},
    )
    train(model, {"lr": 0.1, "layers": [64, 32], "name": "run 1", "shuffle": True})

    post = [c for c in rsps.calls if c.request.method == "POST"]
    assert len(post) == 1
    request = post[0].request
    assert url_of(request) == f"{BASE}/v1/{PARENT}/customJobs"
    assert "enum-encoding%3Dint" in (request.url or "")
    key = model.record.submission_key if model.record else None
    assert key is not None
    machine = {"machineType": "n1-highmem-8", "acceleratorType": 5, "acceleratorCount": 2}  # T4 is 5
    container = {
        "imageUri": "gcr.io/p/trainer:1",
        "command": ["python", "-m", "train"],
        "args": ["--data=gs://b/data", "--lr=0.1", "--layers=[64,32]", "--name=run 1", "--shuffle=true"],
        "env": [{"name": "MODE", "value": "full"}],
    }
    pool = {"machineSpec": machine, "containerSpec": container, "diskSpec": {"bootDiskSizeGb": 200}}
    assert body_of(request) == {
        "displayName": "trainer",
        "jobSpec": {
            # int64 counts travel as JSON strings.
            "workerPoolSpecs": [{**pool, "replicaCount": "1"}, {**pool, "replicaCount": "2"}],
            "serviceAccount": "sa@p.iam.gserviceaccount.com",
            "network": "projects/12/global/networks/default",
            "baseOutputDirectory": {"outputUriPrefix": "gs://b/out"},
            "scheduling": {"timeout": "3600s", "restartJobOnWorkerRestart": True},
        },
        "labels": {
            "team": "ml",
            "jobferry-key": key,
            "jobferry-version": model.labels(key)["jobferry-version"],
        },
        "encryptionSpec": {"kmsKeyName": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"},
    }
    assert model.job.job_id == f"{PARENT}/customJobs/1000"


def test_python_package_request(rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace) -> None:
    config = {
        "python_package_uris": ["gs://b/trainer-0.1.tar.gz"],
        "python_module": "trainer.task",
        "executor_image_uri": "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest",
        "args": ["--epochs=3"],
    }
    train(bound(VertexCustomJob, ws, FakeClock(), "pkg", config))
    body = body_of(rsps.calls[0].request)
    assert body["jobSpec"] == {
        "workerPoolSpecs": [
            {
                "machineSpec": {"machineType": "n1-standard-4"},
                "replicaCount": "1",
                "pythonPackageSpec": {
                    "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest",
                    "packageUris": ["gs://b/trainer-0.1.tar.gz"],
                    "pythonModule": "trainer.task",
                    "args": ["--epochs=3"],
                },
            }
        ]
    }
    assert set(body) == {"displayName", "jobSpec", "labels"}


class TestCustomJobService(JobServiceCases):
    start = staticmethod(started)


# -- states ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("wire", "name", "expected"), STATES, ids=STATE_IDS)
def test_every_job_state_as_int(
    fake: FakeJobService, ws: Workspace, clock: FakeClock, wire: int, name: str, expected: JobState
) -> None:
    status = assert_state_as_int(fake, started(ws, clock), wire, name, expected)
    assert status.is_terminal == expected.is_terminal


def test_outputs_and_error(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    model = make_job(ws, clock, base_output_directory="gs://b/out")
    train(model, {"outcome": "x"})
    fake.pin(model, state=4, endTime="2025-01-02T04:00:00Z")
    status = model.refresh()
    assert status.outputs == {"outputDirectory": "gs://b/out"}
    assert status.end_time is not None
    fake.only_job().update({"state": 5, "error": {"code": 3, "message": "bad image"}})
    failed = model.refresh()
    assert failed.error is not None and failed.error.message == "bad image" and failed.error.code == "3"


def test_cancel_posts_cancel(rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace) -> None:
    model = started(ws, FakeClock())
    assert model.cancel().state is JobState.CANCELLED  # CANCELLING is seen by the cancel, the fake moves on
    cancels = [c for c in rsps.calls if url_of(c.request).endswith(":cancel")]
    assert len(cancels) == 1 and cancels[0].request.method == "POST"
    assert url_of(cancels[0].request) == f"{BASE}/v1/{PARENT}/customJobs/1000:cancel"


# -- errors and retries ------------------------------------------------------------------------------------


def test_503_on_create_looks_the_key_up_then_creates_once(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    fake.faults["create"].append((503, {}, google_error(503, "UNAVAILABLE", "backend busy")))
    model = started(ws, clock)
    assert fake.calls["create"] == 2 and fake.calls["list"] == 1
    assert len(fake.jobs) == 1 and model.job.job_id == fake.only_job()["name"]


def test_400_on_create_is_not_retried(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    message = "workerPoolSpecs[0].machineSpec.machineType n1-nope is not supported"
    with create_refused_with_400(rsps, fake, clock, message, "n1-nope is not supported") as info:
        started(ws, clock, machine_type="n1-nope")
    assert info.value.code == 400


def test_404_on_get_is_job_not_found(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    model = started(ws, clock)
    assert assert_404_on_get_is_job_not_found(rsps, fake, model).job_id == model.job.job_id


def test_lost_create_response_is_adopted_by_label(
    rsps: responses.RequestsMock, fake: FakeJobService, ws: Workspace, clock: FakeClock
) -> None:
    model = assert_lost_create_response_is_adopted(rsps, fake, lambda: started(ws, clock))
    key = model.record.submission_key if model.record else None
    assert fake.filters == [f'labels.jobferry-key="{key}"']


# -- the checkpoint ------------------------------------------------------------------------------------------


def test_reload_from_checkpoint_and_refresh(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    model = make_job(ws, clock, base_output_directory="gs://b/out")
    train(model, {"outcome": "x"})
    record = assert_reloads_from_checkpoint(model, ws, "trainer", clock)
    assert record["connection"]["api_endpoint"] == BASE and record["connection"]["project"] == "p"
    assert record["job"] == {
        "adapter": "vertex-custom-job",
        "jobId": f"{PARENT}/customJobs/1000",
        "resources": {},
    }
    assert record["submissionKey"] == model.labels(record["submissionKey"])["jobferry-key"]


def test_no_model_to_deploy_or_predict(fake: FakeJobService, ws: Workspace, clock: FakeClock) -> None:
    model = started(ws, clock, base_output_directory="gs://b/out")
    # A custom job's outputs are files: it has no serving capability, so there is nothing to refuse.
    assert not isinstance(model, Predicting) and not isinstance(model, Serving)
    assert not hasattr(model, "deploy") and not hasattr(model, "run")
    with pytest.raises(JobferryError, match="produce no Vertex AI model"):
        model.model_resource_name()


# -- config validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "give container_image_uri, or python_package_uris"),
        (
            {"container_image_uri": "img", "python_module": "m"},
            r"either container_image_uri \('img'\) or a Python package \(python_module='m'\)",
        ),
        ({"python_module": "m"}, "needs python_package_uris, executor_image_uri too"),
        (
            {"python_package_uris": ["/tmp/x.tar.gz"], "python_module": "m", "executor_image_uri": "e"},
            r"python_package_uris = .*must be a gs:// URI, got '/tmp/x.tar.gz'",
        ),
        ({"container_image_uri": "img", "accelerator_type": "NVIDIA_TESLA_T4"}, "accelerator_count=0"),
        (
            {"container_image_uri": "img", "accelerator_count": 2},
            r"accelerator_type=None, accelerator_count=2",
        ),
        ({"container_image_uri": "img", "replica_count": 0}, r"replica_count = 0"),
        (
            {"container_image_uri": "img", "base_output_directory": "s3://b"},
            r"base_output_directory.*'s3://b'",
        ),
        (
            {"container_image_uri": "img", "accelerator_type": "t4", "accelerator_count": 1},
            "accelerator_type = 't4'",
        ),
        (
            {
                "python_package_uris": ["gs://b/p.tgz"],
                "python_module": "m",
                "executor_image_uri": "e",
                "command": ["x"],
            },
            r"command \(\['x'\]\) applies to container_image_uri only",
        ),
    ],
)
def test_config_validation(config: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        VertexCustomJob().receive_config({**CONNECTION, **config})


def test_unknown_accelerator_and_bad_param_fail_before_any_call(
    rsps: responses.RequestsMock, ws: Workspace, clock: FakeClock
) -> None:
    model = make_job(ws, clock, accelerator_type="NVIDIA_TESLA_Z9", accelerator_count=1)
    with pytest.raises(
        SpecError, match=r"accelerator_type 'NVIDIA_TESLA_Z9' is not one of: .*NVIDIA_TESLA_T4"
    ):
        train(model)
    with pytest.raises(SpecError, match=r"training_params key 'a=b'"):
        train(make_job(ws, clock), {"a=b": 1})
    assert len(rsps.calls) == 0
    assert VertexCustomJobConfig.model_validate({**CONNECTION, "container_image_uri": "i"}).replica_count == 1


# -- the conformance suite ---------------------------------------------------------------------------------


class TestCustomJobContract(JobServiceContract):
    """The shared adapter contract, against the fake JobService."""

    collection = "customJobs"
    model_class = VertexCustomJob
    base_config = IMAGE
