"""VertexHyperparameterTuningJob: the study as config, the request (the trial is VertexCustomJob's spec),
exactly once by label and look-up, trials as progress, the best trial by the study's goal, and the shipped
contract suite -- against the offline emulator on a FakeClock."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from adapters import PluginRequest, TrainPluginInput
from adapters._clock import FakeClock
from adapters._errors import SpecError
from adapters._jobs import JobState
from adapters.vertex import (
    VertexCustomJob,
    VertexHyperparameterTuningJob,
    VertexHyperparameterTuningJobConfig,
)
from adapters.vertex._base import LABEL_KEY
from adapters.vertex._client import to_json_dict, to_message
from adapters.vertex.emulator import EmulatorApp, mount_in_responses
from adapters.vertex.emulator._hptuning import measurement, trial_parameters
from checkpoint import Workspace
from tests.vertex._emulated import EmulatedContract, emulator_app
from tests.vertex.conftest import BASE

TRIAL: dict[str, Any] = {
    "container_image_uri": "gcr.io/p/trainer:1",
    "machine_type": "n1-standard-8",
    "args": ["--data=gs://b/data"],
}
STUDY: dict[str, Any] = {
    "metrics": {"accuracy": "maximize"},
    "parameters": {
        "learning_rate": {"type": "double", "min": 0.0001, "max": 0.1, "scale": "log"},
        "layers": {"type": "integer", "min": 1, "max": 8},
        "optimizer": {"type": "categorical", "values": ["adam", "sgd", "rmsprop"]},
        "batch": {"type": "discrete", "values": [16, 32, 64]},
    },
    "max_trial_count": 7,
    "parallel_trial_count": 3,
}
CONFIG = {**TRIAL, **STUDY}


@pytest.fixture
def app(rsps: responses.RequestsMock, clock: FakeClock) -> EmulatorApp:
    emulator = emulator_app(clock)
    mount_in_responses(rsps, BASE, emulator)
    return emulator


def make(ws: Workspace, clock: FakeClock, pid: str = "tune", **config: Any) -> VertexHyperparameterTuningJob:
    model = VertexHyperparameterTuningJob()
    model.receive_config(
        {"project": "p", "api_endpoint": BASE, "credentials": {"kind": "anonymous"}, **CONFIG, **config}
    )
    model.clock = clock
    model.bind(ws, pid)
    return model


def train(model: VertexHyperparameterTuningJob, **params: Any) -> Any:
    return model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput(training_params=params or None)))


def jobs(app: EmulatorApp) -> dict[str, Any]:
    return app.state.jobs["hyperparameterTuningJobs"]


# -- the config -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"metrics": {}}, "metrics"),
        ({"parameters": {"lr": {"type": "double", "min": 1, "max": 1}}}, "must be below max"),
        ({"parameters": {"lr": {"type": "double", "min": 0.1}}}, "takes min and max"),
        ({"parameters": {"n": {"type": "integer", "min": 1.5, "max": 3}}}, "must be whole"),
        ({"parameters": {"o": {"type": "categorical", "values": []}}}, "non-empty list"),
        ({"parameters": {"o": {"type": "categorical", "values": [1, 2]}}}, "use type 'discrete'"),
        ({"parameters": {"b": {"type": "discrete", "values": [64, 16]}}}, "must be increasing"),
        ({"parameters": {"b": {"type": "discrete", "values": [16, 16]}}}, "must be distinct"),
        ({"parameters": {"o": {"type": "categorical", "values": ["a"], "scale": "log"}}}, "has no scale"),
        ({"parameters": {"lr": {"type": "double", "min": 0, "max": 1, "scale": "log"}}}, "above 0"),
        ({"parameters": {"lr": {"type": "double", "min": 0, "max": 1, "step": 2}}}, "step"),
        ({"parameters": {"--lr": {"type": "double", "min": 0, "max": 1}}}, "'--lr'"),
        ({"metrics": {"accuracy": "up"}}, "maximize"),
        ({"parallel_trial_count": 9}, "must not exceed max_trial_count"),
        ({"max_trial_count": 0}, "max_trial_count"),
        ({"algorithm": "grid"}, "learning_rate are double"),
        ({"algorithm": "annealing"}, "algorithm"),
    ],
)
def test_bad_study_is_refused_naming_the_value(change: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VertexHyperparameterTuningJobConfig.model_validate({"project": "p", **CONFIG, **change})


def test_a_bad_study_trains_nothing(app: EmulatorApp, ws: Workspace, clock: FakeClock) -> None:
    with pytest.raises(SpecError, match="parallel_trial_count"):
        make(ws, clock, parallel_trial_count=99)
    model = make(ws, clock)
    with pytest.raises(SpecError, match="layers are tuned by the study"):
        train(model, layers=3)
    assert sum(app.counts.values()) == 0 and ws.list_handles("tune") == []


# -- the request ---------------------------------------------------------------------------------------------


def test_create_sends_the_study_and_the_custom_jobs_spec_as_the_trial(
    rsps: responses.RequestsMock, app: EmulatorApp, ws: Workspace, clock: FakeClock
) -> None:
    model = make(ws, clock, max_failed_trial_count=2, base_output_directory="gs://b/out", labels={"t": "x"})
    train(model, epochs=4)
    post = next(c.request for c in rsps.calls if c.request.method == "POST")
    body = json.loads(post.body or b"{}")
    # What goes over the wire: the client sends enums as numbers (enum-encoding=int).
    assert body["studySpec"] == {
        "metrics": [{"metricId": "accuracy", "goal": 1}],
        "parameters": [
            {
                "parameterId": "learning_rate",
                "doubleValueSpec": {"minValue": 0.0001, "maxValue": 0.1},
                "scaleType": 2,
            },
            {"parameterId": "layers", "integerValueSpec": {"minValue": "1", "maxValue": "8"}},
            {"parameterId": "optimizer", "categoricalValueSpec": {"values": ["adam", "sgd", "rmsprop"]}},
            {"parameterId": "batch", "discreteValueSpec": {"values": [16.0, 32.0, 64.0]}},
        ],
    }
    assert (body["maxTrialCount"], body["parallelTrialCount"], body["maxFailedTrialCount"]) == (7, 3, 2)
    # The trial is exactly the CustomJobSpec VertexCustomJob builds from the same settings.
    custom = VertexCustomJob()
    custom.receive_config(
        {"project": "p", "credentials": {"kind": "anonymous"}, **TRIAL, "base_output_directory": "gs://b/out"}
    )
    expected = custom.custom_job_spec(TrainPluginInput(training_params={"epochs": 4}))
    assert body["trialJobSpec"]["workerPoolSpecs"][0]["containerSpec"]["args"] == [
        "--data=gs://b/data",
        "--epochs=4",
    ]
    spec = custom.vertex.v1.CustomJobSpec
    assert to_json_dict(to_message(spec, body["trialJobSpec"])) == to_json_dict(to_message(spec, expected))
    assert model.record is not None
    assert body["labels"] == {"t": "x", LABEL_KEY: model.record.submission_key, "jobferry-version": "0-1-0"}


# -- exactly once: label + look-up --------------------------------------------------------------------------


def test_lost_create_response_is_adopted_by_label(app: EmulatorApp, ws: Workspace, clock: FakeClock) -> None:
    app.faults.set("CreateHyperparameterTuningJob", drop_response_rate=1.0, max_faults=1)
    model = make(ws, clock)
    train(model)
    assert len(jobs(app)) == 1 and model.job.job_id == next(iter(jobs(app)))
    assert app.counts["CreateHyperparameterTuningJob"] == 1
    assert app.counts["ListHyperparameterTuningJobs"] >= 1  # no client-chosen ID: the label finds it


# -- trials -------------------------------------------------------------------------------------------------


def test_trials_are_progress_and_the_best_trial_is_the_studys_best(
    app: EmulatorApp, ws: Workspace, clock: FakeClock
) -> None:
    model = make(ws, clock)
    train(model)
    seen = [s for s in model.watch(timeout=10_000)]
    progress = [s.progress for s in seen if s.state is JobState.RUNNING and s.progress is not None]
    assert progress == sorted(progress) and len(set(progress)) >= 2
    final = seen[-1]
    assert final.state is JobState.SUCCEEDED and final.progress == 1.0
    trials = final.outputs["trials"]
    assert [t["id"] for t in trials] == [str(n) for n in range(1, 8)]
    assert all(t["state"] == "SUCCEEDED" for t in trials)
    assert {type(t["parameters"]["layers"]) for t in trials} == {int}
    # Recompute every trial's metric from the emulator's documented formula: the best one must be reported.
    study = json.loads(
        json.dumps(app.state.get_job("hyperparameterTuningJobs", model.job.job_id)["studySpec"])
    )
    expected = {str(n): measurement(trial_parameters(study["parameters"], n)[1]) for n in range(1, 8)}
    assert {t["id"]: t["finalMeasurement"]["metrics"]["accuracy"] for t in trials} == expected
    best = max(expected, key=lambda k: expected[k])
    assert final.outputs["bestTrial"]["id"] == best
    assert final.outputs["bestTrial"]["finalMeasurement"]["metrics"] == {"accuracy": expected[best]}
    assert final.outputs["bestTrial"]["parameters"] == trials[int(best) - 1]["parameters"]


def test_a_minimized_metric_picks_the_lowest(app: EmulatorApp, ws: Workspace, clock: FakeClock) -> None:
    model = make(ws, clock, metrics={"loss": "minimize"})
    train(model)
    final = model.wait(timeout=10_000)
    scores = {t["id"]: t["finalMeasurement"]["metrics"]["loss"] for t in final.outputs["trials"]}
    assert final.outputs["bestTrial"]["id"] == min(scores, key=lambda k: scores[k])


# -- the shipped contract suite -----------------------------------------------------------------------------


class TestHyperparameterTuningContract(EmulatedContract):
    collection = "hyperparameterTuningJobs"
    create_method = "create_hyperparameter_tuning_job"
    model_class = VertexHyperparameterTuningJob

    def base_config(self) -> dict[str, Any]:
        return dict(CONFIG)
