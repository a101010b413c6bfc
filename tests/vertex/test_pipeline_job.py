"""VertexPipelineJob (Vertex AI Pipelines): the spec checked up front, the request, exactly once by the
client-chosen ``pipeline_job_id`` (409 adopted by a get, never a list), task details as progress, and the
shipped contract suite -- all against the offline emulator on a FakeClock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
import responses

from adapters import PluginRequest, TrainPluginInput
from adapters._clock import FakeClock
from adapters._errors import Conflict, OutcomeUnknown, SpecError
from adapters._external import ExternalJobModel
from adapters._jobs import JobState
from adapters.vertex import VertexPipelineJob, VertexPipelineJobConfig
from adapters.vertex._base import LABEL_KEY
from adapters.vertex._kfp import PIPELINE_JOB_ID, load_pipeline_spec, pipeline_job_id_for
from adapters.vertex.emulator import EmulatorApp, FaultSpec, mount_in_responses
from checkpoint import Workspace
from tests.vertex._emulated import EmulatedContract, emulator_app
from tests.vertex.conftest import BASE, PARENT

SPEC: dict[str, Any] = {
    "pipelineInfo": {"name": "fruit-pipeline"},
    "schemaVersion": "2.1.0",
    "sdkVersion": "kfp-2.7.0",
    "root": {
        "dag": {
            "tasks": {
                "train": {"taskInfo": {"name": "train"}, "dependentTasks": ["prepare"]},
                "prepare": {"taskInfo": {"name": "prepare"}},
                "evaluate": {"taskInfo": {"name": "evaluate"}, "dependentTasks": ["train"]},
            }
        },
        "inputDefinitions": {
            "parameters": {
                "learning_rate": {"parameterType": "NUMBER_DOUBLE"},
                "epochs": {"parameterType": "NUMBER_INTEGER", "defaultValue": 3},
                "outcome": {"parameterType": "STRING", "isOptional": True},
            }
        },
    },
}
SPEC_URL = "memory://kfp-tests/pipeline.json"
ROOT = "gs://bucket/pipeline-root"
CONFIG: dict[str, Any] = {
    "pipeline_spec": SPEC_URL,
    "pipeline_root": ROOT,
    "parameter_values": {"learning_rate": 0.01},
}


@pytest.fixture(autouse=True)
def _spec_file() -> None:
    with fsspec.open(SPEC_URL, "w") as handle:
        handle.write(json.dumps(SPEC))


@pytest.fixture
def app(rsps: responses.RequestsMock, clock: FakeClock) -> EmulatorApp:
    emulator = emulator_app(clock)
    mount_in_responses(rsps, BASE, emulator)
    return emulator


def make(ws: Workspace, clock: FakeClock, pid: str = "pipe", **config: Any) -> VertexPipelineJob:
    model = VertexPipelineJob()
    model.receive_config(
        {"project": "p", "api_endpoint": BASE, "credentials": {"kind": "anonymous"}, **CONFIG, **config}
    )
    model.clock = clock
    model.bind(ws, pid)
    return model


def train(model: VertexPipelineJob, **params: Any) -> Any:
    return model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput(training_params=params or None)))


def jobs(app: EmulatorApp) -> dict[str, Any]:
    return app.state.jobs["pipelineJobs"]


# -- the ID -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["jf" + "0" * 32, "jfABC_def", "x" * 300, "ü-key", ""])
def test_pipeline_job_id_fits_vertex_rule_whatever_the_key(key: str) -> None:
    job_id = pipeline_job_id_for(key)
    assert PIPELINE_JOB_ID.fullmatch(job_id) and len(job_id) < 128
    assert job_id == pipeline_job_id_for(key)  # stable: a rerun of the same key gets the same ID
    assert job_id != pipeline_job_id_for(key + "x")


# -- the spec, checked before anything is written or sent ---------------------------------------------------


def test_spec_in_json_yaml_or_a_pipeline_job_document(tmp_path: Path) -> None:
    import yaml

    as_json = tmp_path / "p.json"
    as_json.write_text(json.dumps(SPEC))
    as_yaml = tmp_path / "p.yaml"
    as_yaml.write_text(yaml.safe_dump(SPEC))
    wrapped = tmp_path / "job.json"
    wrapped.write_text(json.dumps({"pipelineSpec": SPEC, "runtimeConfig": {}}))
    assert load_pipeline_spec(str(as_json)) == load_pipeline_spec(str(as_yaml)) == SPEC
    assert load_pipeline_spec(str(wrapped)) == SPEC


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "cannot be read"),
        ("root: [unclosed", "neither JSON nor YAML"),
        ('{"pipelineInfo": {"name": "x"}}', "not a compiled KFP pipeline"),
        ("- just\n- a list\n", "not a compiled KFP pipeline"),
    ],
)
def test_bad_spec_is_refused_before_any_write_or_call(
    app: EmulatorApp, ws: Workspace, clock: FakeClock, tmp_path: Path, content: str | None, match: str
) -> None:
    path = tmp_path / "bad.yaml"
    if content is not None:
        path.write_text(content)
    model = make(ws, clock, pipeline_spec=str(path))
    with pytest.raises(SpecError, match=match) as info:
        train(model)
    assert str(path) in str(info.value)
    assert sum(app.counts.values()) == 0
    assert ws.list_handles("pipe") == [] and not ws.list_records("pipe/intents")


@pytest.mark.parametrize(
    ("config", "params", "match"),
    [
        ({"parameter_values": {}}, {}, "needs a value for parameter.*learning_rate"),
        ({}, {"batch": 3}, "batch are not inputs of the pipeline"),
        ({"pipeline_root": None}, {}, "give pipeline_root"),
    ],
)
def test_parameters_and_root_are_checked_against_the_spec(
    app: EmulatorApp,
    ws: Workspace,
    clock: FakeClock,
    config: dict[str, Any],
    params: dict[str, Any],
    match: str,
) -> None:
    model = make(ws, clock, **config)
    with pytest.raises(SpecError, match=match):
        train(model, **params)
    assert sum(app.counts.values()) == 0


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"template_uri": "https://us-kfp.pkg.dev/p/r/t/v1"}, "not both"),
        ({"pipeline_spec": None}, "not neither"),
        ({"pipeline_root": "/tmp/out"}, "pipeline_root must be a gs:// URI"),
        ({"pipeline_spec": None, "template_uri": "gs://b/t.json"}, "template registry URI"),
    ],
)
def test_config_is_refused_with_the_field_named(config: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VertexPipelineJobConfig.model_validate({"project": "p", **CONFIG, **config})


# -- the request ---------------------------------------------------------------------------------------------


def test_create_sends_the_pipeline_under_the_id_derived_from_the_key(
    rsps: responses.RequestsMock, app: EmulatorApp, ws: Workspace, clock: FakeClock
) -> None:
    model = make(ws, clock, service_account="sa@p.iam.gserviceaccount.com", labels={"team": "ml"})
    train(model, epochs=5)
    assert model.record is not None and model.record.submission_key
    key = model.record.submission_key
    post = next(c.request for c in rsps.calls if c.request.method == "POST")
    assert f"pipelineJobId={pipeline_job_id_for(key)}" in (post.url or "")
    body = json.loads(post.body or b"{}")
    assert body["pipelineSpec"] == SPEC
    assert body["runtimeConfig"] == {
        "gcsOutputDirectory": ROOT,
        "parameterValues": {"learning_rate": 0.01, "epochs": 5},
    }
    assert body["serviceAccount"] == "sa@p.iam.gserviceaccount.com"
    assert body["labels"] == {"team": "ml", LABEL_KEY: key, "jobferry-version": "0-1-0"}
    assert model.job.job_id == f"{PARENT}/pipelineJobs/{pipeline_job_id_for(key)}"


def test_template_uri_is_sent_as_is(
    rsps: responses.RequestsMock, app: EmulatorApp, ws: Workspace, clock: FakeClock
) -> None:
    template = "https://us-central1-kfp.pkg.dev/p/repo/fruit/v1"
    model = make(ws, clock, pipeline_spec=None, template_uri=template, parameter_values={"any": 1})
    train(model)
    body = json.loads(next(c.request for c in rsps.calls if c.request.method == "POST").body or b"{}")
    assert body["templateUri"] == template and "pipelineSpec" not in body
    assert model.wait(timeout=1000).state is JobState.SUCCEEDED


def test_editing_the_spec_file_submits_a_new_run(app: EmulatorApp, ws: Workspace, clock: FakeClock) -> None:
    first = make(ws, clock)
    train(first)
    again = make(ws, clock)
    train(again)
    assert again.adopted and again.job == first.job
    changed = {**SPEC, "pipelineInfo": {"name": "fruit-pipeline-v2"}}
    with fsspec.open(SPEC_URL, "w") as handle:
        handle.write(json.dumps(changed))
    edited = make(ws, clock)
    train(edited)
    assert not edited.adopted and edited.job != first.job and len(jobs(app)) == 2


# -- exactly once through the 409, with no look-up ----------------------------------------------------------


def test_lost_create_response_is_adopted_through_409_without_a_list(
    app: EmulatorApp, ws: Workspace, clock: FakeClock
) -> None:
    # The create takes effect, its response is lost (a dropped connection): the retry is answered 409
    # and the job adopted by one get of the name the key gives.
    app.faults.set("CreatePipelineJob", drop_response_rate=1.0, max_faults=1)
    model = make(ws, clock)
    train(model)
    assert len(jobs(app)) == 1
    assert model.job.job_id == next(iter(jobs(app)))
    assert app.counts["CreatePipelineJob"] == 2  # the lost one, and the retry refused with 409
    assert [e.status for e in app.log.entries if e.method == "CreatePipelineJob"] == [0, 409]
    assert app.counts["ListPipelineJobs"] == 0  # no look-up by label, ever
    assert model.wait(timeout=1000).state is JobState.SUCCEEDED


def test_a_rerun_that_never_learnt_of_the_create_adopts_through_409(
    app: EmulatorApp, ws: Workspace, clock: FakeClock
) -> None:
    model = make(ws, clock)
    original = model.persist

    def crash(handle: str | None = None) -> str:
        raise KeyboardInterrupt  # the process dies after the create, before job.json is written

    model.persist = crash  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        train(model)
    model.persist = original  # type: ignore[method-assign]
    rerun = make(ws, clock)
    train(rerun)
    assert len(jobs(app)) == 1 and rerun.job.job_id == next(iter(jobs(app)))
    assert app.counts["ListPipelineJobs"] == 0


def test_an_id_taken_by_another_key_is_never_adopted(
    app: EmulatorApp, ws: Workspace, clock: FakeClock
) -> None:
    model = make(ws, clock)
    train(model)
    assert model.record is not None and model.record.submission_key
    job = jobs(app)[model.job.job_id]
    job.doc["labels"][LABEL_KEY] = "jfsomeoneelse"
    with pytest.raises(Conflict, match="jfsomeoneelse"):
        model.submit_job(model.job_spec(TrainPluginInput()), model.record.submission_key)


def test_find_job_is_one_get(app: EmulatorApp, ws: Workspace, clock: FakeClock) -> None:
    model = make(ws, clock)
    train(model)
    assert model.record is not None and model.record.submission_key
    before = app.counts.copy()
    assert model.find_job(model.record.submission_key) == model.job
    assert model.find_job("jfnothere") is None
    assert app.counts - before == {"GetPipelineJob": 2}


def test_transient_create_errors_are_retried_to_one_job(
    app: EmulatorApp, ws: Workspace, clock: FakeClock
) -> None:
    app.faults.set("CreatePipelineJob", FaultSpec(error_rate=1.0, codes=[503], retry_after=0, max_faults=2))
    model = make(ws, clock)
    train(model)
    assert len(jobs(app)) == 1 and app.counts["ListPipelineJobs"] == 0


# -- progress -----------------------------------------------------------------------------------------------


def test_task_details_are_the_progress(app: EmulatorApp, ws: Workspace, clock: FakeClock) -> None:
    # Polled every 5 s, so that each of the three 20-second tasks is seen running.
    every_5s = {"initial": 5, "maximum": 5, "floor_cap": 5, "multiplier": 1, "jitter": 0}
    model = make(ws, clock, poll=every_5s)
    train(model)
    seen = [(s.state, s.progress, s.message) for s in model.watch(timeout=1000)]
    running = [p for state, p, _ in seen if state is JobState.RUNNING]
    assert running == sorted(running) and len(set(running)) >= 2  # it moved on, task by task
    assert any("running: train" in (m or "") for _, _, m in seen)
    final = model.refresh()
    assert final.state is JobState.SUCCEEDED and final.progress == 1.0
    assert final.outputs == {
        "outputDirectory": ROOT,
        "tasks": {"prepare": "SUCCEEDED", "train": "SUCCEEDED", "evaluate": "SUCCEEDED"},
    }


# -- the shipped contract suite -----------------------------------------------------------------------------


class TestPipelineJobContract(EmulatedContract):
    collection = "pipelineJobs"
    create_method = "create_pipeline_job"
    model_class = VertexPipelineJob

    @pytest.fixture(autouse=True)
    def _spec(self) -> Iterator[None]:
        with fsspec.open(SPEC_URL, "w") as handle:
            handle.write(json.dumps(SPEC))
        yield

    def base_config(self) -> dict[str, Any]:
        return dict(CONFIG)


def test_the_contract_covers_the_lost_response_without_a_list(ws: Workspace) -> None:
    # The suite's own lost-response test, run here once more to read the emulator's log afterwards.
    case = TestPipelineJobContract()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        case.clock = FakeClock()
        case.app = emulator_app(case.clock)
        mount_in_responses(mock, BASE, case.app)
        model: ExternalJobModel[Any] = case.make_model(ws, "contract")
        case._wrap(model, "submit_job", after=[OutcomeUnknown("connection reset after send")])
        model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
        assert case.count_jobs(model) == 1 and case.app.counts["ListPipelineJobs"] == 0
