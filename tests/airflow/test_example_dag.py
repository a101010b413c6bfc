"""examples/airflow/fruit_local_dag.py runs in real Airflow: train -> wait (deferred) -> deploy -> predict."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .helpers import ROOT, assert_references_only, local_jobs, xcom


def _load_dag(path: Path) -> Any:
    # Imported after the test's environment is set: the DAG reads $JOBFERRY_WORKSPACE when it is parsed.
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def _record_triggers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The classpaths of the triggers ``dag.test()`` runs (Airflow's in-process triggerer), in order."""
    from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor

    seen: list[str] = []
    original = InProcessTestSupervisor.run_trigger_in_process.__func__  # type: ignore[attr-defined]

    def spy(cls: Any, *, trigger: Any, ti: Any) -> Any:
        seen.append(trigger.serialize()[0])
        return original(cls, trigger=trigger, ti=ti)

    monkeypatch.setattr(InProcessTestSupervisor, "run_trigger_in_process", classmethod(spy))
    return seen


def test_the_local_example_dag_trains_waits_deploys_and_predicts(
    sync_dag: Callable[[Any], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dag = sync_dag(_load_dag(ROOT / "examples" / "airflow" / "fruit_local_dag.py"))
    triggers = _record_triggers(monkeypatch)
    run = dag.test()
    assert run.state == "success"
    assert triggers == ["adapters.airflow._trigger.JobferryJobTrigger"]  # the sensor deferred
    trained, waited = xcom(run, "train"), xcom(run, "wait")
    assert_references_only(trained)
    assert_references_only(waited)
    assert waited["job_id"] == trained["job_id"] and waited["state"] == "SUCCEEDED"
    assert xcom(run, "deploy")["endpoint"] is None  # the local adapter predicts without deploying
    labels = [p["label"] for p in xcom(run, "predict")]
    assert labels == ["orange", "pear", "lemon"]
    assert len(local_jobs(tmp_path / "default-local-jobs")) == 1


def test_the_vertex_example_dag_trains_deploys_and_predicts_on_the_emulator(
    sync_dag: Callable[[Any], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.e2e.conftest import emulator

    with emulator(tmp_path, bucket_map={"jobferry-demo": str(ROOT / "examples" / "data")}) as emu:
        monkeypatch.setenv("JOBFERRY_VERTEX_ENDPOINT", emu.url)
        dag = sync_dag(_load_dag(ROOT / "examples" / "airflow" / "fruit_vertex_dag.py"))
        triggers = _record_triggers(monkeypatch)
        run = dag.test()
        assert run.state == "success"
        trained = xcom(run, "train")
        assert_references_only(trained)
        assert trained["adapter"] == "vertex-automl-tabular" and trained["state"] == "SUCCEEDED"
        assert xcom(run, "deploy")["endpoint"].startswith(
            "projects/jobferry-demo/locations/us-central1/endpoints/"
        )
        predictions = xcom(run, "predict")
        assert len(predictions) == 3
        batch = xcom(run, "batch_predict")
        assert_references_only(batch)
        assert batch["state"] == "SUCCEEDED" and batch["plugin_instance"] == "fruit-vertex.batch"
        assert batch["outputs"]["gcsOutputDirectory"].startswith("gs://jobferry-demo-predictions/fruit/")
        assert len(emu.state.jobs["trainingPipelines"]) == 1
        assert len(emu.state.jobs["batchPredictionJobs"]) == 1
        # train, deploy and batch_predict deferred, and resumed, through Airflow's own machinery
        assert sorted(triggers) == [
            "adapters.airflow._trigger.JobferryDeployTrigger",
            "adapters.airflow._trigger.JobferryJobTrigger",
            "adapters.airflow._trigger.JobferryJobTrigger",
        ]
