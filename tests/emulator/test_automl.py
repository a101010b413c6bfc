"""AutoML tabular really fits: naive Bayes for classification, least squares for regression."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.vertex.emulator import LinearModel, NaiveBayes, VertexEmulator

from .conftest import (
    AUTOMATIC,
    DEDICATED,
    PARENT,
    SCHEMA,
    FakeClock,
    as_dict,
    create_dataset,
    make_clients,
    pipeline_body,
)


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _train_and_deploy(tmp_path: Path, clock: FakeClock, kind: str, definition: str = "") -> tuple[Any, str]:
    emu = VertexEmulator(clock=clock, lro_seconds={}, bucket_map={"data": str(tmp_path)}).start()
    clients = make_clients(emu.url)
    body = pipeline_body(create_dataset(clients, "gs://data/train.csv"), kind=kind)
    if definition:
        body["training_task_definition"] = definition
        body["training_task_inputs"] = {"targetColumn": "y", "timeColumn": "t"}
    p = clients.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=body)
    clock.advance(1e6)
    p = clients.pipeline.get_training_pipeline(name=p.name)
    assert p.state.name == "PIPELINE_STATE_SUCCEEDED", p.error.message
    endpoint = clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e"}).result()
    clients.endpoint.deploy_model(
        endpoint=endpoint.name,
        deployed_model={"model": p.model_to_upload.name, "dedicated_resources": DEDICATED},
        traffic_split={"0": 100},
    ).result()
    return (emu, clients), endpoint.name


def _predict(handles: Any, endpoint: str, instances: list[dict[str, Any]]) -> list[Any]:
    predictions: list[Any] = as_dict(handles[1].prediction.predict(endpoint=endpoint, instances=instances))[
        "predictions"
    ]
    return predictions


def test_classification_separates_clear_classes(tmp_path: Path, clock: FakeClock) -> None:
    rows = [{"x": i % 5, "color": "red", "y": "small"} for i in range(20)]
    rows += [{"x": 50 + i % 5, "color": "blue", "y": "large"} for i in range(20)]
    _write(tmp_path / "train.csv", rows)
    handles, endpoint = _train_and_deploy(tmp_path, clock, "classification")
    try:
        # Numbers and strings are both valid tabular instance values; null stands for a missing value.
        instances = [{"x": 1, "color": "red"}, {"x": "52", "color": "blue"}, {"x": 49, "color": None}]
        out = _predict(handles, endpoint, instances)
        assert [p["classes"] for p in out] == [["large", "small"]] * 3
        winners = [p["classes"][max(range(2), key=lambda i: p["scores"][i])] for p in out]
        assert winners == ["small", "large", "large"]
        assert all(abs(sum(p["scores"]) - 1) < 1e-9 for p in out)
    finally:
        handles[0].stop()


def test_regression_recovers_the_line(tmp_path: Path, clock: FakeClock) -> None:
    rows = [{"x": x, "z": (x * 7) % 3, "y": 3 * x + 2 + (0.1 if x % 2 else -0.1)} for x in range(30)]
    _write(tmp_path / "train.csv", rows)
    handles, endpoint = _train_and_deploy(tmp_path, clock, "regression")
    try:
        out = _predict(handles, endpoint, [{"x": 100, "z": 1}, {"x": "-4", "z": 0}])
        assert out[0]["value"] == pytest.approx(302, abs=0.5)
        assert out[1]["value"] == pytest.approx(-10, abs=0.5)
    finally:
        handles[0].stop()


def test_forecasting_answers_a_value(tmp_path: Path, clock: FakeClock) -> None:
    rows = [{"t": f"2024-01-{d:02d}", "x": d, "y": 2 * d} for d in range(1, 29)]
    _write(tmp_path / "train.csv", rows)
    definition = SCHEMA + "automl_time_series_forecasting_1.0.0.yaml"
    handles, endpoint = _train_and_deploy(tmp_path, clock, "regression", definition)
    try:
        assert _predict(handles, endpoint, [{"x": 40}])[0]["value"] == pytest.approx(80, abs=0.1)
    finally:
        handles[0].stop()


def test_bad_target_column_fails_the_pipeline(tmp_path: Path, clock: FakeClock) -> None:
    _write(tmp_path / "train.csv", [{"a": 1, "b": 2}, {"a": 2, "b": 3}])
    with VertexEmulator(clock=clock, lro_seconds={}, bucket_map={"data": str(tmp_path)}) as emu:
        clients = make_clients(emu.url)
        body = pipeline_body(create_dataset(clients, "gs://data/train.csv"), target="missing")
        p = clients.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=body)
        assert p.state.name == "PIPELINE_STATE_PENDING"  # Vertex validates data at run time, not on create
        clock.advance(1e6)
        failed = clients.pipeline.get_training_pipeline(name=p.name)
        assert failed.state.name == "PIPELINE_STATE_FAILED" and "missing" in failed.error.message


@pytest.mark.parametrize(
    ("leaf", "key"),
    [
        ("automl_image_classification_1.0.0.yaml", "displayNames"),
        ("automl_text_sentiment_1.0.0.yaml", "sentiment"),
        ("automl_text_extraction_1.0.0.yaml", "textSegmentStartOffsets"),
        ("automl_image_object_detection_1.0.0.yaml", "bboxes"),
    ],
)
def test_other_families_answer_in_their_shape(clock: FakeClock, leaf: str, key: str) -> None:
    with VertexEmulator(clock=clock, lro_seconds={}) as emu:
        clients = make_clients(emu.url)
        body = {"display_name": "x", "training_task_definition": SCHEMA + leaf, "training_task_inputs": {}}
        p = clients.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=body)
        clock.advance(1e6)
        model = clients.pipeline.get_training_pipeline(name=p.name).model_to_upload.name
        ep = clients.endpoint.create_endpoint(parent=PARENT, endpoint={"display_name": "e"}).result()
        spec = {"model": model, "automatic_resources": AUTOMATIC}
        clients.endpoint.deploy_model(endpoint=ep.name, deployed_model=spec).result()
        first = _predict((emu, clients), ep.name, [{"content": "gs://b/1.jpg"}])
        again = _predict((emu, clients), ep.name, [{"content": "gs://b/1.jpg"}])
        assert key in first[0] and first == again


def test_models_directly() -> None:
    rows = [{"a": "1", "b": "x", "y": "p"}, {"a": "2", "b": "x", "y": "p"}, {"a": "9", "b": "z", "y": "q"}]
    rows.append({"a": "10", "b": "z", "y": "q"})
    nb = NaiveBayes.fit(rows, "y", {"a": "numeric", "b": "categorical"})
    assert nb.predict({"a": 1.5, "b": "x"})["scores"][0] > 0.99
    lm = LinearModel.fit([{"a": str(i), "y": str(2 * i)} for i in range(5)], "y", {"a": "numeric"})
    assert lm.predict({"a": 10})["value"] == pytest.approx(20)
    assert lm.predict({})["value"] == pytest.approx(4)  # missing -> the training mean of a (2)


def test_batch_prediction_writes_predictions_locally(tmp_path: Path, clock: FakeClock) -> None:
    rows = [{"x": i, "y": "low" if i < 10 else "high"} for i in range(20)]
    _write(tmp_path / "train.csv", rows)
    (tmp_path / "in.jsonl").write_text('{"x": 1}\n{"x": 18}\n')
    with VertexEmulator(clock=clock, lro_seconds={}, bucket_map={"data": str(tmp_path)}) as emu:
        clients = make_clients(emu.url)
        body = pipeline_body(create_dataset(clients, "gs://data/train.csv"))
        p = clients.pipeline.create_training_pipeline(parent=PARENT, training_pipeline=body)
        clock.advance(1e6)
        model = clients.pipeline.get_training_pipeline(name=p.name).model_to_upload.name
        job = clients.job.create_batch_prediction_job(
            parent=PARENT,
            batch_prediction_job={
                "display_name": "b",
                "model": model,
                "input_config": {"instances_format": "jsonl", "gcs_source": {"uris": ["gs://data/in.jsonl"]}},
                "output_config": {
                    "predictions_format": "jsonl",
                    "gcs_destination": {"output_uri_prefix": "gs://data/out"},
                },
            },
        )
        clock.advance(1e6)
        done = clients.job.get_batch_prediction_job(name=job.name)
        assert done.state.name == "JOB_STATE_SUCCEEDED"
        assert done.completion_stats.successful_count == 2
        out_dir = done.output_info.gcs_output_directory
        assert out_dir.startswith("gs://data/out/prediction-")
        lines = (
            (tmp_path / out_dir.removeprefix("gs://data/") / "predictions_00001.jsonl")
            .read_text()
            .splitlines()
        )
        winners = []
        for line in lines:
            p_ = json.loads(line)["prediction"]
            winners.append(p_["classes"][p_["scores"].index(max(p_["scores"]))])
        assert winners == ["low", "high"]
