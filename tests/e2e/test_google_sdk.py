"""Google's high-level SDK (``google.cloud.aiplatform``) through its documented happy paths, over REST,
against the emulator: every step must pass. The steps passed / total are printed and quoted in the README.

The SDK polls jobs every fixed 5 s (``_JOB_WAIT_TIME``); the test shortens that module constant so the run
takes seconds, which changes how often the SDK asks, not what it asks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform
from google.cloud.aiplatform import jobs, training_jobs

from adapters.vertex.emulator import VertexEmulator
from tests.e2e.conftest import BUCKET, LOCATION, LONG, PROJECT, emulator

FEATURES = {"weight_g": "numeric", "diameter_cm": "numeric", "hue": "numeric", "sugar_brix": "numeric"}
GOOD = {"weight_g": "129.1", "diameter_cm": "6.93", "hue": "0.093", "sugar_brix": "9.71"}
WORKER_POOL = [
    {
        "machine_spec": {"machine_type": "n1-standard-4"},
        "replica_count": 1,
        "container_spec": {"image_uri": "us-docker.pkg.dev/p/r/trainer:1"},
    }
]


class Steps:
    """Runs named steps, records which pass; a failing step is recorded, not raised, so all are counted."""

    def __init__(self) -> None:
        self.passed: list[str] = []
        self.failed: list[tuple[str, str]] = []

    def run(self, name: str, action: Callable[[], Any]) -> Any:
        try:
            result = action()
        except Exception as exc:
            self.failed.append((name, repr(exc)[:600]))
            return None
        self.passed.append(name)
        return result

    def summary(self) -> str:
        total = len(self.passed) + len(self.failed)
        return f"Google SDK steps passed: {len(self.passed)}/{total}"


@pytest.fixture
def sdk_emu(bucket: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VertexEmulator]:
    monkeypatch.setattr(training_jobs, "_JOB_WAIT_TIME", 0.05)
    monkeypatch.setattr(jobs, "_JOB_WAIT_TIME", 0.05)
    with emulator(bucket) as emu:
        aiplatform.init(
            project=PROJECT,
            location=LOCATION,
            api_endpoint=emu.url,
            api_transport="rest",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            staging_bucket=f"gs://{BUCKET}/staging",
        )
        yield emu


def _raises(error: type[Exception], action: Callable[[], Any], match: str = "") -> None:
    # Not pytest.raises: its failure is a BaseException, which would escape Steps.run uncounted.
    try:
        result = action()
    except error as exc:
        if match not in str(exc):
            raise AssertionError(f"{error.__name__} without {match!r}: {exc}") from exc
        return
    raise AssertionError(f"expected {error.__name__}, got {result!r}")


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


def test_google_sdk_happy_paths(
    sdk_emu: VertexEmulator, bucket: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = Steps()
    csv = f"gs://{BUCKET}/fruit.csv"
    team = {"team": "fruit"}
    ds = steps.run(
        "TabularDataset.create",
        lambda: aiplatform.TabularDataset.create(display_name="fruit", gcs_source=[csv], labels=team),
    )

    def training_job(name: str, labels: dict[str, str]) -> Any:
        return aiplatform.AutoMLTabularTrainingJob(
            display_name=name,
            optimization_prediction_type="classification",
            column_specs=FEATURES,
            labels=labels,
        )

    job = training_job("fruit-train", team)
    model = steps.run(
        "AutoMLTabularTrainingJob.run(sync=True) -> models/ID@1",
        lambda: job.run(dataset=ds, target_column="fruit", model_display_name="fruit-model", sync=True),
    )
    steps.run(
        "Model declares DEDICATED_RESOURCES",
        lambda: (
            _expect("csv" in model.supported_input_storage_formats, "input formats")
            or _expect(len(model.supported_deployment_resources_types) == 1, "deployment types")
        ),
    )
    steps.run(
        "Model@7 is NotFound",
        lambda: _raises(exceptions.NotFound, lambda: aiplatform.Model(f"{model.name}@7")),
    )
    endpoint = steps.run("model.deploy(machine_type)", lambda: model.deploy(machine_type="n1-standard-2"))

    def deployed_on_dedicated() -> None:
        deployed = endpoint.list_models()
        _expect(len(deployed) == 1, "one deployed model")
        _expect(deployed[0].dedicated_resources.machine_spec.machine_type == "n1-standard-2", "machine type")

    steps.run("deployed with dedicated resources", deployed_on_dedicated)

    def predict() -> None:
        predictions = endpoint.predict(instances=[GOOD, {**GOOD, "weight_g": 300}]).predictions
        _expect(len(predictions) == 2 and set(predictions[0]["classes"]) >= {"orange"}, "predictions")

    steps.run("endpoint.predict", predict)
    steps.run(
        "endpoint.predict refuses a bad cell",
        lambda: _raises(
            exceptions.BadRequest, lambda: endpoint.predict(instances=[{**GOOD, "hue": "heavy"}]), '"hue"'
        ),
    )
    steps.run("endpoint.undeploy_all", lambda: endpoint.undeploy_all())
    steps.run("endpoint.delete", lambda: endpoint.delete())

    def batch() -> None:
        out = f"gs://{BUCKET}/preds"
        batch_job = model.batch_predict(
            job_display_name="fruit-batch",
            gcs_source=csv,
            gcs_destination_prefix=out,
            instances_format="csv",
            machine_type="n1-standard-2",
            labels=team,
            sync=True,
        )
        folder = batch_job.output_info.gcs_output_directory
        _expect(folder.startswith(f"{out}/prediction-fruit-model-"), folder)
        local = bucket / folder.removeprefix(f"gs://{BUCKET}/")
        _expect((local / "predictions_00001.jsonl").exists(), "predictions written")

    steps.run("model.batch_predict(sync=True)", batch)

    def run_and_cancel() -> None:
        slow = training_job("fruit-slow", {**team, **LONG})
        slow.run(dataset=ds, target_column="fruit", sync=False)
        slow.wait_for_resource_creation()
        slow.cancel()
        _raises(RuntimeError, lambda: slow.wait())
        _expect(slow.state.name == "PIPELINE_STATE_CANCELLED", slow.state.name)

    steps.run("run(sync=False) + cancel()", run_and_cancel)
    custom = aiplatform.CustomJob(display_name="fruit-custom", worker_pool_specs=WORKER_POOL, labels=team)
    steps.run("CustomJob.run", lambda: custom.run(sync=True))
    steps.run(
        "CustomJob succeeded",
        lambda: _expect(custom.state.name == "JOB_STATE_SUCCEEDED", str(custom.state)),
    )

    def forecasting() -> None:
        series = aiplatform.TimeSeriesDataset.create(
            display_name="sales", gcs_source=[f"gs://{BUCKET}/sales.csv"]
        )
        forecast = aiplatform.AutoMLForecastingTrainingJob(
            display_name="sales-train",
            optimization_objective="minimize-rmse",
            column_specs={"date": "timestamp", "store": "categorical", "temp": "numeric"},
        ).run(
            dataset=series,
            target_column="sales",
            time_column="date",
            time_series_identifier_column="store",
            unavailable_at_forecast_columns=["sales"],
            available_at_forecast_columns=["date", "temp"],
            forecast_horizon=7,
            data_granularity_unit="day",
            data_granularity_count=1,
            sync=True,
        )
        _expect(forecast.version_id == "1", "forecasting model version")

    steps.run("AutoMLForecastingTrainingJob.run(sync=True)", forecasting)

    def image() -> Any:
        images = aiplatform.ImageDataset.create(
            display_name="pets",
            gcs_source=f"gs://{BUCKET}/images.jsonl",
            import_schema_uri=aiplatform.schema.dataset.ioformat.image.single_label_classification,
        )
        return aiplatform.AutoMLImageTrainingJob(display_name="pets-train").run(
            dataset=images, budget_milli_node_hours=8000, sync=True
        )

    pets = steps.run("ImageDataset.create + AutoMLImageTrainingJob.run(sync=True)", image)

    def image_serving() -> None:
        served = pets.deploy()  # AUTOMATIC_RESOURCES: the SDK sends automaticResources, no machine type
        _expect(len(served.predict(instances=[{"content": "aGVsbG8="}]).predictions) == 1, "image prediction")
        served.undeploy_all()
        served.delete()

    steps.run("image model.deploy() + predict + undeploy + delete", image_serving)

    def lists() -> None:
        flt = 'labels.team="fruit"'
        _expect(len(aiplatform.TabularDataset.list(filter=flt)) == 1, "datasets")
        _expect(len(aiplatform.AutoMLTabularTrainingJob.list(filter=flt)) == 2, "pipelines")
        _expect(len(aiplatform.CustomJob.list(filter=flt)) == 1, "custom jobs")
        _expect(len(aiplatform.BatchPredictionJob.list(filter=flt)) == 1, "batch jobs")
        _expect(len(aiplatform.Model.list(filter='display_name="fruit-model"')) == 1, "models")
        _expect(not aiplatform.Model.list(filter='labels.team="none"'), "no models")
        states = 'state="PIPELINE_STATE_CANCELLED" AND labels.team="fruit"'
        _expect(len(aiplatform.AutoMLTabularTrainingJob.list(filter=states)) == 1, "cancelled pipelines")

    steps.run("list with label / display_name / state filters", lists)

    def deletes() -> None:
        for resource in (model, ds, job, custom):
            resource.delete()
        for batch_job in aiplatform.BatchPredictionJob.list(filter='labels.team="fruit"'):
            batch_job.delete()
        _expect(not aiplatform.BatchPredictionJob.list(), "batch jobs deleted")

    steps.run("delete model, dataset, pipeline, custom job, batch job", deletes)
    missing = f"projects/{PROJECT}/locations/{LOCATION}"

    def not_found() -> None:
        _raises(exceptions.NotFound, lambda: aiplatform.Model(model.resource_name))
        # Endpoint() reads the resource lazily: list_models() is its first GET.
        _raises(exceptions.NotFound, lambda: aiplatform.Endpoint(endpoint.resource_name).list_models())
        _raises(exceptions.NotFound, lambda: aiplatform.TabularDataset(ds.resource_name))
        _raises(exceptions.NotFound, lambda: aiplatform.AutoMLTabularTrainingJob.get(job.resource_name))
        _raises(exceptions.NotFound, lambda: aiplatform.CustomJob.get(custom.resource_name))
        _raises(
            exceptions.NotFound, lambda: aiplatform.BatchPredictionJob(f"{missing}/batchPredictionJobs/1")
        )

    steps.run("NotFound for every resource type", not_found)
    with capsys.disabled():
        print(f"\n{steps.summary()}")
    assert not steps.failed, steps.failed
