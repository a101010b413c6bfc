"""VertexPipelineJob and VertexHyperparameterTuningJob end to end: Google's own GAPIC clients (REST and
gRPC) against the emulator served on 127.0.0.1, trained to their outputs, checked with the GAPIC client;
under transient faults and lost create responses there is exactly one job per training, and the lost
pipeline create is adopted through the 409 with no list call at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.cloud import aiplatform_v1

from adapters._jobs import JobState
from adapters.vertex import VertexHyperparameterTuningJob, VertexPipelineJob
from adapters.vertex._kfp import pipeline_job_id_for
from adapters.vertex.emulator import VertexEmulator
from adapters.vertex.emulator._hptuning import measurement, trial_parameters
from checkpoint import Workspace
from tests.e2e.conftest import PARENT, TRANSPORTS, client_kwargs, emulator, make, train

SPEC: dict[str, Any] = {
    "pipelineInfo": {"name": "fruit"},
    "schemaVersion": "2.1.0",
    "root": {
        "dag": {"tasks": {"prepare": {}, "train": {"dependentTasks": ["prepare"]}}},
        "inputDefinitions": {
            "parameters": {
                "learning_rate": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.1},
                "run": {"parameterType": "NUMBER_INTEGER", "isOptional": True},
            }
        },
    },
}
STUDY: dict[str, Any] = {
    "container_image_uri": "gcr.io/p/trainer:1",
    "metrics": {"accuracy": "maximize"},
    "parameters": {
        "learning_rate": {"type": "double", "min": 0.001, "max": 0.1, "scale": "log"},
        "optimizer": {"type": "categorical", "values": ["adam", "sgd"]},
    },
    "max_trial_count": 4,
    "parallel_trial_count": 2,
}


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    import yaml

    path = tmp_path / "pipeline.yaml"  # KFP compiles to YAML
    path.write_text(yaml.safe_dump(SPEC))
    return path


def pipeline_config(spec_file: Path, **extra: Any) -> dict[str, Any]:
    return {"pipeline_spec": str(spec_file), "pipeline_root": "gs://e2e-bucket/root", **extra}


def pipeline_client(emu: VertexEmulator) -> aiplatform_v1.PipelineServiceClient:
    return aiplatform_v1.PipelineServiceClient(**client_kwargs(emu.url))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_pipeline_job_runs_to_success(
    emu: VertexEmulator, ws: Workspace, spec_file: Path, transport: str
) -> None:
    model = make(VertexPipelineJob, emu, ws, "pipe", transport=transport, **pipeline_config(spec_file))
    train(model, training_params={"learning_rate": 0.02})
    final = model.wait(timeout=60)
    assert final.state is JobState.SUCCEEDED and final.progress == 1.0
    assert final.outputs == {
        "outputDirectory": "gs://e2e-bucket/root",
        "tasks": {"prepare": "SUCCEEDED", "train": "SUCCEEDED"},
    }
    assert model.record is not None and model.record.submission_key
    # Google's own client sees the job under the ID jobferry derived from the key, with what was sent.
    job = pipeline_client(emu).get_pipeline_job(name=model.job.job_id)
    assert job.name.endswith("/pipelineJobs/" + pipeline_job_id_for(model.record.submission_key))
    assert dict(job.runtime_config.parameter_values) == {"learning_rate": 0.02}
    assert job.labels["jobferry-key"] == model.record.submission_key
    assert emu.counts["ListPipelineJobs"] == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_lost_pipeline_create_is_adopted_through_409_with_no_list(
    emu: VertexEmulator, ws: Workspace, spec_file: Path, transport: str
) -> None:
    emu.faults.set("CreatePipelineJob", drop_response_rate=1.0, max_faults=1)
    model = make(VertexPipelineJob, emu, ws, "lost", transport=transport, **pipeline_config(spec_file))
    train(model)
    statuses = [e.status for e in emu.app.log.entries if e.method == "CreatePipelineJob"]
    assert statuses == [0, 409]  # the lost create took effect; the retry was refused, not repeated
    assert emu.counts["ListPipelineJobs"] == 0  # adopted by the vendor's own state: no look-up
    assert len(list(pipeline_client(emu).list_pipeline_jobs(parent=PARENT))) == 1
    assert model.wait(timeout=60).state is JobState.SUCCEEDED


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tuning_job_reports_the_best_trial(emu: VertexEmulator, ws: Workspace, transport: str) -> None:
    model = make(VertexHyperparameterTuningJob, emu, ws, "tune", transport=transport, **STUDY)
    train(model, training_params={"epochs": 2})
    final = model.wait(timeout=60)
    assert final.state is JobState.SUCCEEDED
    client = aiplatform_v1.JobServiceClient(**client_kwargs(emu.url))
    job = client.get_hyperparameter_tuning_job(name=model.job.job_id)
    spec = json.loads(type(job).to_json(job))["studySpec"]["parameters"]
    scores = {t.id: measurement(trial_parameters(spec, int(t.id))[1]) for t in job.trials}
    best = max(scores, key=lambda k: scores[k])
    assert final.outputs["bestTrial"]["id"] == best
    assert final.outputs["bestTrial"]["finalMeasurement"]["metrics"] == {"accuracy": scores[best]}
    assert len(final.outputs["trials"]) == 4
    args = job.trial_job_spec.worker_pool_specs[0].container_spec.args
    assert list(args) == ["--epochs=2"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_faults_and_lost_creates_leave_one_job_per_training(
    bucket: Path, tmp_path: Path, spec_file: Path, transport: str
) -> None:
    # 30 % transient errors on every call of both adapters, and half the creates' responses lost.
    methods = [
        f"{verb}{kind}"
        for kind in ("PipelineJob", "HyperparameterTuningJob")
        for verb in ("Create", "Get", "Cancel")
    ] + ["ListHyperparameterTuningJobs", "ListPipelineJobs"]
    with emulator(bucket, seed=5) as emu:
        for method in methods:
            emu.faults.set(method, error_rate=0.3, codes=[429, 500, 503], retry_after=0)
        for create in ("CreatePipelineJob", "CreateHyperparameterTuningJob"):
            emu.faults.set(create, error_rate=0.3, codes=[503], retry_after=0, drop_response_rate=0.5)
        ws = Workspace(tmp_path / "ws")
        models: list[Any] = []
        for i in range(4):
            pipe = make(
                VertexPipelineJob, emu, ws, f"p{i}", transport=transport, **pipeline_config(spec_file)
            )
            train(pipe, training_params={"run": i})
            tune = make(VertexHyperparameterTuningJob, emu, ws, f"t{i}", transport=transport, **STUDY)
            train(tune, training_params={"run": i})
            models += [pipe, tune]
        for model in models:
            assert model.wait(timeout=60).state is JobState.SUCCEEDED
        assert (
            emu.faults.injected["CreatePipelineJob"] + emu.faults.injected["CreateHyperparameterTuningJob"]
            > 0
        )
        for kind in ("pipelineJobs", "hyperparameterTuningJobs"):
            keys = [j.doc["labels"]["jobferry-key"] for j in emu.state.jobs[kind].values()]
            assert len(keys) == 4 and len(set(keys)) == 4  # 0 duplicates
        # 0 lost: every checkpoint names its job, and the job carries the checkpoint's key.
        for model in models:
            assert model.record is not None
            kind = "pipelineJobs" if isinstance(model, VertexPipelineJob) else "hyperparameterTuningJobs"
            job = emu.state.jobs[kind][model.job.job_id]
            assert job.doc["labels"]["jobferry-key"] == model.record.submission_key
        assert emu.counts["ListPipelineJobs"] == 0
