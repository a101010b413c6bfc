"""The emulator's pipelineJobs and hyperparameterTuningJobs, through Google's own GAPIC clients over REST and
gRPC: a client-chosen ``pipelineJobId`` (409 ALREADY_EXISTS in Google's shape when taken, 400 when it breaks
the rule), task details and trials moving on the clock, list / cancel / delete, and the job-creation quota."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import aiplatform_v1

from adapters.vertex.emulator import Phases, Quotas, VertexEmulator
from adapters.vertex.emulator._hptuning import measurement, trial_parameters

from .conftest import PARENT, Clients, FakeClock, as_dict, make_clients
from .test_grpc import grpc_clients

SPEC: dict[str, Any] = {
    "pipelineInfo": {"name": "demo"},
    "root": {
        "dag": {"tasks": {"train": {"dependentTasks": ["prep"]}, "prep": {}}},
        "inputDefinitions": {"parameters": {"lr": {"parameterType": "NUMBER_DOUBLE"}}},
    },
}
#: 100 s pending, 200 s running (100 s per task) on the fake clock.
DURATIONS = {
    "pipeline_job": Phases(pending=100, running=200),
    "hyperparameter_tuning": Phases(pending=100, running=300),
}
STUDY: dict[str, Any] = {
    "metrics": [{"metric_id": "acc", "goal": "MAXIMIZE"}],
    "parameters": [
        {"parameter_id": "lr", "double_value_spec": {"min_value": 0.001, "max_value": 0.1}},
        {"parameter_id": "layers", "integer_value_spec": {"min_value": 1, "max_value": 5}},
        {"parameter_id": "opt", "categorical_value_spec": {"values": ["adam", "sgd"]}},
    ],
}
TRIAL = {"worker_pool_specs": [{"machine_spec": {"machine_type": "n1-standard-4"}, "replica_count": 1,
                                "container_spec": {"image_uri": "gcr.io/p/t"}}]}  # fmt: skip


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[VertexEmulator]:
    with VertexEmulator(clock=clock, speedup=1.0, lro_seconds={}, durations=DURATIONS) as emulator:
        yield emulator


@pytest.fixture(params=["rest", "grpc"])
def clients(request: pytest.FixtureRequest, emu: VertexEmulator) -> Iterator[Clients]:
    if request.param == "rest":
        yield make_clients(emu.url)
        return
    rpc, channel = grpc_clients(emu.grpc_target)
    yield rpc
    channel.close()


def pipeline_job(**extra: Any) -> aiplatform_v1.PipelineJob:
    return aiplatform_v1.PipelineJob(
        display_name="demo",
        pipeline_spec=SPEC,
        runtime_config={"gcs_output_directory": "gs://b/root", "parameter_values": {"lr": 0.1}},
        labels={"team": "ml"},
        **extra,
    )


def tasks(job: Any) -> dict[str, str]:
    return {t.task_name: t.state.name for t in job.job_detail.task_details}


def test_a_chosen_id_names_the_job_and_a_taken_one_is_409(clients: Clients, emu: VertexEmulator) -> None:
    created = clients.pipeline.create_pipeline_job(
        parent=PARENT, pipeline_job=pipeline_job(), pipeline_job_id="run-1"
    )
    assert created.name == f"{PARENT}/pipelineJobs/run-1"
    assert created.state == aiplatform_v1.PipelineState.PIPELINE_STATE_PENDING
    with pytest.raises(exceptions.Conflict) as info:  # REST: Conflict; gRPC: AlreadyExists (a Conflict)
        clients.pipeline.create_pipeline_job(
            parent=PARENT, pipeline_job=pipeline_job(), pipeline_job_id="run-1"
        )
    assert f'"{PARENT}/pipelineJobs/run-1" already exists' in info.value.message
    # The status name travels too: in the REST error body (checked below) and as the gRPC status code.
    if info.value.grpc_status_code is not None:
        assert info.value.grpc_status_code.name == "ALREADY_EXISTS"
    assert len(emu.state.jobs["pipelineJobs"]) == 1
    # Without an ID the emulator draws one, as Vertex does.
    other = clients.pipeline.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job())
    assert other.name != created.name


def test_the_409_body_is_googles_error_shape(emu: VertexEmulator) -> None:
    import json

    import requests

    url = f"{emu.url}/v1/{PARENT}/pipelineJobs"
    body = as_dict(pipeline_job())
    first = requests.post(url, params={"pipelineJobId": "run-2"}, json=body, timeout=10)
    again = requests.post(url, params={"pipelineJobId": "run-2"}, json=body, timeout=10)
    assert first.status_code == 200 and again.status_code == 409
    assert json.loads(again.content) == {
        "error": {
            "code": 409,
            "message": f'The resource "{PARENT}/pipelineJobs/run-2" already exists.',
            "status": "ALREADY_EXISTS",
        }
    }


@pytest.mark.parametrize("job_id", ["Run", "1run", "run_1", "r" * 129])
def test_an_id_breaking_the_rule_is_400(clients: Clients, emu: VertexEmulator, job_id: str) -> None:
    with pytest.raises(exceptions.BadRequest, match="pipeline_job_id"):
        clients.pipeline.create_pipeline_job(
            parent=PARENT, pipeline_job=pipeline_job(), pipeline_job_id=job_id
        )
    assert emu.state.jobs["pipelineJobs"] == {}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"pipeline_spec": {"pipelineInfo": {"name": "x"}}}, "compiled KFP pipeline"),
        ({"runtime_config": {"parameter_values": {"lr": 1}}}, "gcsOutputDirectory is required"),
        ({"runtime_config": {"gcs_output_directory": "gs://b", "parameter_values": {"x": 1}}}, "not defined"),
    ],
)
def test_a_bad_pipeline_is_400_and_creates_nothing(
    clients: Clients, emu: VertexEmulator, change: dict[str, Any], match: str
) -> None:
    job = aiplatform_v1.PipelineJob(
        display_name="d",
        **{"pipeline_spec": SPEC, "runtime_config": {"gcs_output_directory": "gs://b"}, **change},
    )
    with pytest.raises(exceptions.BadRequest, match=match):
        clients.pipeline.create_pipeline_job(parent=PARENT, pipeline_job=job)
    assert emu.state.jobs["pipelineJobs"] == {}


def test_task_details_move_on_the_clock(clients: Clients, clock: FakeClock) -> None:
    name = clients.pipeline.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job()).name
    get = clients.pipeline.get_pipeline_job
    assert tasks(get(name=name)) == {"demo": "PENDING", "prep": "PENDING", "train": "PENDING"}
    clock.advance(150)  # 50 s into the first task
    job = get(name=name)
    assert job.state.name == "PIPELINE_STATE_RUNNING"
    assert tasks(job) == {"demo": "RUNNING", "prep": "RUNNING", "train": "PENDING"}
    clock.advance(100)
    assert tasks(get(name=name)) == {"demo": "RUNNING", "prep": "SUCCEEDED", "train": "RUNNING"}
    clock.advance(100)
    job = get(name=name)
    assert job.state.name == "PIPELINE_STATE_SUCCEEDED"
    assert tasks(job) == {"demo": "SUCCEEDED", "prep": "SUCCEEDED", "train": "SUCCEEDED"}
    prep = next(t for t in job.job_detail.task_details if t.task_name == "prep")
    assert prep.parent_task_id == 1 and prep.end_time.timestamp() > prep.start_time.timestamp()


def test_cancel_list_and_delete(clients: Clients, emu: VertexEmulator, clock: FakeClock) -> None:
    pc = clients.pipeline
    name = pc.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job(), pipeline_job_id="run-3").name
    with pytest.raises(exceptions.BadRequest, match="cannot be deleted"):
        pc.delete_pipeline_job(name=name)  # a live job cannot be deleted
    clock.advance(150)
    pc.cancel_pipeline_job(name=name)
    job = pc.get_pipeline_job(name=name)
    assert job.state.name == "PIPELINE_STATE_CANCELLING"
    assert tasks(job)["prep"] == "CANCELLING" and tasks(job)["train"] == "CANCEL_PENDING"
    clock.advance(1000)
    job = pc.get_pipeline_job(name=name)
    assert job.state.name == "PIPELINE_STATE_CANCELLED" and tasks(job)["prep"] == "CANCELLED"
    listed = list(pc.list_pipeline_jobs(request={"parent": PARENT, "filter": 'labels.team="ml"'}))
    assert [j.name for j in listed] == [name]
    assert list(pc.list_pipeline_jobs(request={"parent": PARENT, "filter": 'labels.team="x"'})) == []
    pc.delete_pipeline_job(name=name).result(timeout=10)
    with pytest.raises(exceptions.NotFound):
        pc.get_pipeline_job(name=name)
    # The name is free again once deleted.
    pc.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job(), pipeline_job_id="run-3")


def test_a_failed_pipeline_fails_its_last_task(clients: Clients, clock: FakeClock) -> None:
    job = pipeline_job()
    job.labels["emulator-outcome"] = "fail"
    name = clients.pipeline.create_pipeline_job(parent=PARENT, pipeline_job=job).name
    clock.advance(1000)
    got = clients.pipeline.get_pipeline_job(name=name)
    assert got.state.name == "PIPELINE_STATE_FAILED" and got.error.message
    assert tasks(got) == {"demo": "FAILED", "prep": "SUCCEEDED", "train": "FAILED"}


def test_creates_count_against_the_job_creation_quota(clock: FakeClock) -> None:
    quotas = Quotas(job_creation=2, resource_management=None, online_prediction=None)
    with VertexEmulator(clock=clock, speedup=1.0, quotas=quotas) as emu:
        pc = make_clients(emu.url).pipeline
        for _ in range(2):
            pc.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job())
        with pytest.raises(exceptions.TooManyRequests):
            pc.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job())
        assert len(emu.state.jobs["pipelineJobs"]) == 2


def test_faults_apply_by_method_name(clients: Clients, emu: VertexEmulator) -> None:
    emu.faults.set("GetPipelineJob", error_rate=1.0, codes=[503], max_faults=1)
    name = clients.pipeline.create_pipeline_job(parent=PARENT, pipeline_job=pipeline_job()).name
    with pytest.raises(exceptions.ServiceUnavailable):
        clients.pipeline.get_pipeline_job(name=name)
    assert clients.pipeline.get_pipeline_job(name=name).name == name


# -- hyperparameter tuning jobs ---------------------------------------------------------------------------


def tuning_job(**extra: Any) -> aiplatform_v1.HyperparameterTuningJob:
    return aiplatform_v1.HyperparameterTuningJob(
        display_name="hp",
        study_spec=STUDY,
        max_trial_count=5,
        parallel_trial_count=2,
        trial_job_spec=TRIAL,
        **extra,
    )


def test_trials_run_in_waves_with_measurements_from_their_parameters(
    clients: Clients, clock: FakeClock
) -> None:
    jc = clients.job
    name = jc.create_hyperparameter_tuning_job(parent=PARENT, hyperparameter_tuning_job=tuning_job()).name
    assert list(jc.get_hyperparameter_tuning_job(name=name).trials) == []  # pending: no trial yet
    clock.advance(150)  # 50 s into the first of 3 waves (100 s each)
    job = jc.get_hyperparameter_tuning_job(name=name)
    assert [(t.id, t.state.name) for t in job.trials] == [("1", "ACTIVE"), ("2", "ACTIVE")]
    clock.advance(100)
    job = jc.get_hyperparameter_tuning_job(name=name)
    assert [t.state.name for t in job.trials] == ["SUCCEEDED", "SUCCEEDED", "ACTIVE", "ACTIVE"]
    clock.advance(1000)
    job = jc.get_hyperparameter_tuning_job(name=name)
    assert job.state.name == "JOB_STATE_SUCCEEDED" and len(job.trials) == 5
    params = as_dict(job)["studySpec"]["parameters"]
    for trial in job.trials:
        values, positions = trial_parameters(params, int(trial.id))
        assert {p.parameter_id: p.value for p in trial.parameters} == {
            v["parameterId"]: v["value"] for v in values
        }
        assert [(m.metric_id, m.value) for m in trial.final_measurement.metrics] == [
            ("acc", measurement(positions))
        ]
        assert trial.custom_job.startswith(f"{PARENT}/customJobs/")
    assert len({tuple((p.parameter_id, p.value) for p in t.parameters) for t in job.trials}) == 5


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"study_spec": {**STUDY, "metrics": []}}, "at least one metric"),
        ({"study_spec": {**STUDY, "parameters": []}}, "at least one parameter"),
        ({"max_trial_count": 0}, "maxTrialCount"),
        ({"trial_job_spec": {}}, "workerPoolSpecs"),
    ],
)
def test_a_bad_tuning_job_is_400(
    clients: Clients, emu: VertexEmulator, change: dict[str, Any], match: str
) -> None:
    fields = {"display_name": "hp", "study_spec": STUDY, "max_trial_count": 5, "parallel_trial_count": 2}
    fields |= {"trial_job_spec": TRIAL, **change}
    with pytest.raises(exceptions.BadRequest, match=match):
        clients.job.create_hyperparameter_tuning_job(
            parent=PARENT, hyperparameter_tuning_job=aiplatform_v1.HyperparameterTuningJob(**fields)
        )
    assert emu.state.jobs["hyperparameterTuningJobs"] == {}


def test_a_cancelled_tuning_job_keeps_finished_trials(clients: Clients, clock: FakeClock) -> None:
    jc = clients.job
    name = jc.create_hyperparameter_tuning_job(parent=PARENT, hyperparameter_tuning_job=tuning_job()).name
    clock.advance(250)  # the second wave is running
    jc.cancel_hyperparameter_tuning_job(name=name)
    clock.advance(1000)
    job = jc.get_hyperparameter_tuning_job(name=name)
    assert job.state.name == "JOB_STATE_CANCELLED"
    assert [t.state.name for t in job.trials] == ["SUCCEEDED", "SUCCEEDED", "INFEASIBLE", "INFEASIBLE"]
    listed = list(jc.list_hyperparameter_tuning_jobs(parent=PARENT))
    assert [j.name for j in listed] == [name]
    jc.delete_hyperparameter_tuning_job(name=name).result(timeout=10)
    assert list(jc.list_hyperparameter_tuning_jobs(parent=PARENT)) == []
