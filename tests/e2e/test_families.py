"""Every Vertex AI adapter family end to end: the real GAPIC REST clients against the emulator over HTTP.

train -> wait (SUCCEEDED) -> deploy -> run (predictions in the family's shape, in order); custom jobs and
batch predictions; a scripted failure; cancelling a running pipeline.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest

from adapters import Serving, load_job
from adapters._errors import JobFailed
from adapters._jobs import JobState
from adapters.vertex import (
    VertexAutoMLForecasting,
    VertexAutoMLImage,
    VertexAutoMLTabular,
    VertexAutoMLText,
    VertexAutoMLVideo,
    VertexBatchPrediction,
    VertexCustomJob,
    VertexModel,
    batch_predict,
)
from adapters.vertex.emulator import VertexEmulator
from checkpoint import Workspace
from tests.e2e.conftest import (
    BUCKET,
    FRUIT,
    LONG,
    TRANSPORTS,
    create_dataset,
    make,
    pipelines,
    tabular_config,
    train,
)

METADATA = "gs://google-cloud-aiplatform/schema/dataset/metadata/"


def fruit_rows() -> list[dict[str, str]]:
    with open(FRUIT, newline="") as f:
        return list(csv.DictReader(f))


def numeric(row: dict[str, str], drop: str) -> dict[str, Any]:
    """A CSV row as a prediction instance: numbers as numbers, ``drop`` left out."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == drop:
            continue
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    return out


def normal(value: Any) -> Any:
    """JSON-ish data with every number as a float rounded to 9 digits (protobuf Values are doubles)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return round(float(value), 9)
    if isinstance(value, list):
        return [normal(v) for v in value]
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    return value


def expected_predictions(emu: VertexEmulator, model: VertexModel[Any], instances: list[Any]) -> list[Any]:
    """What the emulator's fitted model answers for each instance, one at a time, in order."""
    predictor = emu.state.predictors[model.model_resource_name()]
    return [predictor.predict(json.loads(json.dumps(i))) for i in instances]


def trained_and_deployed(model: VertexModel[Any], **train_input: Any) -> None:
    train(model, **train_input)
    final = model.wait(timeout=30)
    assert final.state is JobState.SUCCEEDED, final
    assert final.outputs.get("model", "").startswith("projects/")
    endpoint = model.deploy()
    assert endpoint == model.job.resources["endpoint"]
    assert model.job.resources["deployed_model_id"]


# -- AutoML tabular ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tabular_classification_fits_fruit_and_predicts_mostly_right(
    emu: VertexEmulator, ws: Workspace, transport: str
) -> None:
    config = tabular_config(max_instances_per_request=64, transport=transport)
    model = make(VertexAutoMLTabular, emu, ws, "fruit-cls", **config)
    trained_and_deployed(model)
    assert model.vertex.predictions.transport.kind == transport  # the RPCs went the way asked

    rows = fruit_rows()
    instances = [numeric(r, "fruit") for r in rows]
    predictions = model.run(instances)  # six chunks, sent concurrently

    assert len(predictions) == len(rows)
    assert normal(predictions) == normal(expected_predictions(emu, model, instances))  # in order
    best = [p["classes"][max(range(len(p["scores"])), key=p["scores"].__getitem__)] for p in predictions]
    accuracy = sum(b == r["fruit"] for b, r in zip(best, rows, strict=True)) / len(rows)
    assert accuracy >= 0.9, accuracy
    assert sorted(predictions[0]["classes"]) == ["apple", "lemon", "orange", "pear"]
    assert emu.counts["Predict"] >= 6

    # Another process's view: the checkpoint alone reaches the job, the model and the endpoint.
    again = load_job(ws, "fruit-cls")
    assert again.refresh().state is JobState.SUCCEEDED
    assert again.job.resources["endpoint"] == model.job.resources["endpoint"]
    assert again.run(instances[:3]) == predictions[:3]


def test_tabular_regression_predicts_weight(emu: VertexEmulator, ws: Workspace) -> None:
    model = make(
        VertexAutoMLTabular,
        emu,
        ws,
        "fruit-weight",
        **tabular_config(target_column="weight_g", prediction_type="regression"),
    )
    trained_and_deployed(model)

    rows = fruit_rows()
    instances = [numeric(r, "weight_g") for r in rows]
    predictions = model.run(instances)

    assert normal(predictions) == normal(expected_predictions(emu, model, instances))
    assert all(set(p) == {"value"} for p in predictions)
    weights = [float(r["weight_g"]) for r in rows]
    mean = sum(weights) / len(weights)
    baseline = sum(abs(w - mean) for w in weights) / len(weights)
    error = sum(abs(p["value"] - w) for p, w in zip(predictions, weights, strict=True)) / len(weights)
    assert error < 0.6 * baseline, (error, baseline)


# -- AutoML forecasting ------------------------------------------------------------------------------------


def test_forecasting_fits_the_series(emu: VertexEmulator, ws: Workspace) -> None:
    model = make(
        VertexAutoMLForecasting,
        emu,
        ws,
        "sales",
        dataset_source=[f"gs://{BUCKET}/sales.csv"],
        target_column="sales",
        column_names=["date", "store", "temp", "sales"],
        time_column="date",
        time_series_identifier_column="store",
        forecast_horizon=7,
        max_instances_per_request=2,
    )
    trained_and_deployed(model)

    days = [(1, 1, 4), (2, 3, 10), (3, 2, 0), (4, 1, 22)]
    instances: list[dict[str, Any]] = [
        {"date": f"2024-03-0{d}", "store": f"s{s}", "temp": t} for d, s, t in days
    ]
    predictions = model.run(instances)

    assert [set(p) for p in predictions] == [{"value"}] * 4
    want = [100 * int(i["store"][1]) + 3 * i["temp"] for i in instances]
    assert [p["value"] for p in predictions] == pytest.approx(want, abs=0.01)


# -- AutoML image, text, video: hash-based models, checked instance by instance ------------------------------


CLASSES = {"ids", "displayNames", "confidences"}
UNSTRUCTURED = [
    pytest.param(VertexAutoMLImage, {}, "image", CLASSES, id="image-classification"),
    pytest.param(
        VertexAutoMLImage,
        {"objective": "object_detection"},
        "image",
        {"ids", "displayNames", "confidences", "bboxes"},
        id="image-object-detection",
    ),
    pytest.param(VertexAutoMLText, {}, "text", CLASSES, id="text-classification"),
    pytest.param(
        VertexAutoMLText,
        {"objective": "extraction"},
        "text",
        {"ids", "displayNames", "textSegmentStartOffsets", "textSegmentEndOffsets", "confidences"},
        id="text-extraction",
    ),
    pytest.param(VertexAutoMLText, {"objective": "sentiment"}, "text", {"sentiment"}, id="text-sentiment"),
    pytest.param(VertexAutoMLVideo, {}, "video", CLASSES, id="video-classification"),
    pytest.param(
        VertexAutoMLVideo,
        {"objective": "object_tracking"},
        "video",
        {"ids", "displayNames", "confidences", "bboxes"},
        id="video-object-tracking",
    ),
]


def instances_for(kind: str, n: int) -> list[dict[str, Any]]:
    if kind == "image":
        return [{"content": f"aW1hZ2Ug{i:04d}"} for i in range(n)]
    if kind == "text":
        return [{"content": f"review number {i}: it was fine", "mimeType": "text/plain"} for i in range(n)]
    return [
        {
            "content": f"gs://{BUCKET}/clip-{i}.mp4",
            "mimeType": "video/mp4",
            "timeSegmentStart": "0.0s",
            "timeSegmentEnd": "inf",
        }
        for i in range(n)
    ]


SERVED = [case for case in UNSTRUCTURED if case.values[2] != "video"]
VIDEO = [case for case in UNSTRUCTURED if case.values[2] == "video"]


@pytest.mark.parametrize(("cls", "config", "kind", "keys"), VIDEO)
def test_video_models_are_served_by_batch_prediction_only(
    emu: VertexEmulator,
    ws: Workspace,
    cls: type[VertexModel[Any]],
    config: dict[str, Any],
    kind: str,
    keys: set[str],
) -> None:
    dataset = create_dataset(emu.url, f"{METADATA}{kind}_1.0.0.yaml")
    model = make(cls, emu, ws, f"{kind}-model", dataset=dataset, **config)
    train(model)
    assert model.wait(timeout=30).state is JobState.SUCCEEDED
    # Vertex serves no online predictions for AutoML video: no deploy to call, no endpoint created.
    assert not isinstance(model, Serving) and not hasattr(model, "deploy")
    assert emu.counts["CreateEndpoint"] == 0
    job = model.batch_predict(f"gs://{BUCKET}/clips.jsonl", f"gs://{BUCKET}/out")  # type: ignore[attr-defined]
    assert job.wait(timeout=30).state is JobState.SUCCEEDED


@pytest.mark.parametrize(("cls", "config", "kind", "keys"), SERVED)
def test_unstructured_family_life_cycle(
    emu: VertexEmulator,
    ws: Workspace,
    cls: type[VertexModel[Any]],
    config: dict[str, Any],
    kind: str,
    keys: set[str],
) -> None:
    # The dataset exists already here; test_image_dataset_created_from_source covers creating one.
    dataset = create_dataset(emu.url, f"{METADATA}{kind}_1.0.0.yaml")
    model = make(cls, emu, ws, f"{kind}-model", dataset=dataset, max_instances_per_request=2, **config)
    trained_and_deployed(model)

    instances = instances_for(kind, 9)
    predictions = model.run(instances)  # five chunks of at most two, concurrently

    assert len(predictions) == 9
    assert all(set(p) == keys for p in predictions), predictions[0]
    assert normal(predictions) == normal(expected_predictions(emu, model, instances))  # same order
    assert len({json.dumps(p, sort_keys=True) for p in predictions}) > 1  # not one answer for all
    assert emu.counts["Predict"] == 5


def test_image_dataset_created_from_source(emu: VertexEmulator, ws: Workspace) -> None:
    model = make(
        VertexAutoMLImage, emu, ws, "image-from-source", dataset_source=[f"gs://{BUCKET}/images.jsonl"]
    )
    train(model)
    assert model.wait(timeout=30).state is JobState.SUCCEEDED
    (dataset,) = emu.state.datasets.values()
    assert dataset.get("dataItemCount") in ("4", 4), dataset


# -- custom jobs ---------------------------------------------------------------------------------------------


CUSTOM = {
    "container_image_uri": "us-docker.pkg.dev/e2e/trainer:1",
    "args": ["--epochs=2"],
    "base_output_directory": f"gs://{BUCKET}/custom-out",
}


def test_custom_job_succeeds(emu: VertexEmulator, ws: Workspace) -> None:
    job = make(VertexCustomJob, emu, ws, "custom-ok", **CUSTOM)
    train(job, training_params={"lr": 0.1})
    seen: list[JobState] = []
    final = job.wait(timeout=30, on_update=lambda s: seen.append(s.state))
    assert final.state is JobState.SUCCEEDED
    assert final.outputs == {"outputDirectory": f"gs://{BUCKET}/custom-out"}
    assert seen[-1] is JobState.SUCCEEDED and len(seen) >= 2  # at least one live state before the end
    (doc,) = emu.state.jobs["customJobs"].values()
    pool = doc.doc["jobSpec"]["workerPoolSpecs"][0]
    assert pool["containerSpec"]["args"] == ["--epochs=2", "--lr=0.1"]
    assert load_job(ws, "custom-ok").refresh().state is JobState.SUCCEEDED


def test_custom_job_cancelled_while_running(emu: VertexEmulator, ws: Workspace) -> None:
    job = make(VertexCustomJob, emu, ws, "custom-long", labels=LONG, **CUSTOM)
    train(job)
    for status in job.watch(timeout=30):
        if status.state is JobState.RUNNING:
            break
    after = job.cancel()
    assert after.state in (JobState.CANCELLING, JobState.CANCELLED)
    final = job.wait(timeout=30)
    assert final.state is JobState.CANCELLED
    assert load_job(ws, "custom-long").refresh().state is JobState.CANCELLED


# -- batch predictions ------------------------------------------------------------------------------------


def test_batch_predict_with_a_trained_tabular_model(emu: VertexEmulator, ws: Workspace, bucket: Path) -> None:
    model = make(VertexAutoMLTabular, emu, ws, "fruit-batch", **tabular_config())
    train(model)
    assert model.wait(timeout=30).state is JobState.SUCCEEDED
    rows = fruit_rows()[:40]
    with (bucket / "instances.jsonl").open("w") as f:
        for row in rows:
            f.write(json.dumps(numeric(row, "fruit")) + "\n")

    job = batch_predict(model, f"gs://{BUCKET}/instances.jsonl", f"gs://{BUCKET}/batch-out")
    assert isinstance(job, VertexBatchPrediction)
    final = job.wait(timeout=30)

    assert final.state is JobState.SUCCEEDED
    out_uri = final.outputs["gcsOutputDirectory"]
    assert out_uri.startswith(f"gs://{BUCKET}/batch-out/")
    assert final.outputs["completionStats"]["successfulCount"] == len(rows)
    written = bucket / out_uri[len(f"gs://{BUCKET}/") :] / "predictions_00001.jsonl"
    lines = [json.loads(line) for line in written.read_text().splitlines()]
    assert len(lines) == len(rows)
    right = 0
    for line, row in zip(lines, rows, strict=True):
        scores = line["prediction"]["scores"]
        right += line["prediction"]["classes"][scores.index(max(scores))] == row["fruit"]
    assert right / len(rows) >= 0.9
    # Persisted next to the model, and reattachable from the checkpoint alone.
    again = load_job(ws, "fruit-batch.batch")
    assert isinstance(again, VertexBatchPrediction)
    assert again.refresh().state is JobState.SUCCEEDED
    # Calling again with the same arguments adopts the job instead of submitting a second one.
    batch_predict(model, f"gs://{BUCKET}/instances.jsonl", f"gs://{BUCKET}/batch-out")
    assert len(emu.state.jobs["batchPredictionJobs"]) == 1


# -- scripted failures and cancellation of a pipeline -------------------------------------------------------


def test_scripted_failure_ends_failed_with_the_message(emu: VertexEmulator, ws: Workspace) -> None:
    emu.state.script_next("fail", kind="trainingPipelines", message="Out of node hours (scripted).")
    model = make(VertexAutoMLTabular, emu, ws, "doomed", **tabular_config())
    train(model)
    final = model.wait(timeout=30)

    assert final.state is JobState.FAILED
    assert final.error is not None and "Out of node hours (scripted)." in final.error.message
    with pytest.raises(JobFailed, match="FAILED"):
        model.raise_for_status(final)
    with pytest.raises(Exception, match="no trained model"):
        model.deploy()
    assert load_job(ws, "doomed").refresh().state is JobState.FAILED


def test_outcome_label_fails_the_pipeline(emu: VertexEmulator, ws: Workspace) -> None:
    config = tabular_config(labels={"emulator-outcome": "fail"})
    model = make(VertexAutoMLTabular, emu, ws, "doomed-label", **config)
    train(model)
    final = model.wait(timeout=30)
    assert final.state is JobState.FAILED
    assert final.error is not None and final.error.message


def test_cancelling_a_running_pipeline_ends_cancelled_not_failed(emu: VertexEmulator, ws: Workspace) -> None:
    model = make(VertexAutoMLTabular, emu, ws, "long-fruit", **tabular_config(labels=LONG))
    train(model)
    for status in model.watch(timeout=30):
        if status.state is JobState.RUNNING:
            break
    model.cancel()
    final = model.wait(timeout=30)

    assert final.state is JobState.CANCELLED
    (pipeline,) = pipelines(emu.url, model.record.submission_key if model.record else None)
    assert pipeline.state.name == "PIPELINE_STATE_CANCELLED"
    assert not emu.state.models  # a cancelled pipeline uploads no model
    assert math.isfinite((final.end_time or final.polled_at).timestamp())
