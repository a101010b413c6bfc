"""The trigger's contract with Airflow (rebuilt from its serialized form; one event) and what XCom holds."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowException
from airflow.sdk.module_loading import import_string

from adapters import load_job
from adapters._jobs import JobState
from adapters.airflow import (
    JobferryBatchPredictOperator,
    JobferryDeployTrigger,
    JobferryJobTrigger,
    JobferryTrainOperator,
)
from adapters.airflow._results import REDACTED, job_result, public_url

from .helpers import local_config

PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"


def test_the_trigger_is_rebuilt_from_its_json_serialized_form() -> None:
    trigger = JobferryJobTrigger("file:///ws", "fruit", "V1", poll={"initial": 2.0}, requests_per_minute=60)
    classpath, kwargs = trigger.serialize()
    rebuilt = import_string(classpath)(**json.loads(json.dumps(kwargs)))
    assert isinstance(rebuilt, JobferryJobTrigger)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_the_deploy_trigger_is_rebuilt_from_its_json_serialized_form() -> None:
    trigger = JobferryDeployTrigger("file:///ws", "fruit", deploy_kwargs={"machine_type": "n1-standard-2"})
    classpath, kwargs = trigger.serialize()
    assert classpath == "adapters.airflow._trigger.JobferryDeployTrigger"
    rebuilt = import_string(classpath)(**json.loads(json.dumps(kwargs)))
    assert isinstance(rebuilt, JobferryDeployTrigger)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_a_batch_prediction_on_an_adapter_without_one_fails_the_task_and_writes_nothing(
    tmp_path: Path,
) -> None:
    _slow_job(tmp_path, "local", cancel_on_kill=True)
    op = JobferryBatchPredictOperator(
        task_id="b",
        workspace=str(tmp_path / "ws"),
        plugin_instance="local",
        source="x.csv",
        destination="out",
    )
    with pytest.raises(AirflowException, match="adapter local has no batch prediction"):
        op.execute({})
    assert sorted(p.name for p in (tmp_path / "ws").iterdir() if "batch" in p.name) == []
    load_job(tmp_path / "ws", "local").cancel()


def test_a_job_that_cannot_be_found_is_one_error_event(tmp_path: Path) -> None:
    trigger = JobferryJobTrigger(str(tmp_path / "ws"), "nothing-here")

    async def events() -> list[object]:
        return [event async for event in trigger.run()]

    (event,) = asyncio.run(events())
    assert event.payload["status"] == "error"  # type: ignore[attr-defined]
    assert "nothing-here" in event.payload["message"]  # type: ignore[attr-defined]


def test_xcom_results_are_scrubbed_of_key_material_and_url_passwords() -> None:
    result = job_result(
        workspace="s3://AKIDEXAMPLE:s3cr3t@bucket/ws",
        plugin_instance="p",
        handle="default",
        adapter="x",
        job_id="j",
        resources={},
        state="SUCCEEDED",
        outputs={"model": "gs://b/m", "leak": PEM},
    )
    assert result["workspace"] == "s3://bucket/ws"
    assert result["outputs"] == {"model": "gs://b/m", "leak": REDACTED}
    assert public_url("/plain/path") == "/plain/path"


def _slow_job(tmp_path: Path, pid: str, cancel_on_kill: bool) -> JobferryTrainOperator:
    op = JobferryTrainOperator(
        task_id="t",
        adapter="local",
        config=local_config(tmp_path / "jobs", entrypoint="tests/airflow/jobs.py:slow"),
        input={"training_params": {"seconds": 60}},
        workspace=str(tmp_path / "ws"),
        plugin_instance=pid,
        wait_for_completion=False,
        cancel_on_kill=cancel_on_kill,
    )
    op.execute({})
    return op


def test_on_kill_cancels_the_job_only_when_asked(tmp_path: Path) -> None:
    kept = _slow_job(tmp_path, "kept", cancel_on_kill=False)  # the default
    kept.on_kill()
    assert not load_job(tmp_path / "ws", "kept").refresh().is_terminal
    cancelled = _slow_job(tmp_path, "cancelled", cancel_on_kill=True)
    cancelled.on_kill()
    assert load_job(tmp_path / "ws", "cancelled").wait(timeout=30).state is JobState.CANCELLED
    load_job(tmp_path / "ws", "kept").cancel()  # tidy up the job left running
