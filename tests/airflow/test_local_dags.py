"""The train operator and the sensor in real Airflow (``dag.test()``: deferral, the trigger run from its
serialized form, resumption) on the local adapter, offline."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from adapters import PluginRequest, PluginRequestContext, TrainPluginInput
from adapters.airflow import JobferryJobSensor, JobferryJobTrigger, JobferryTrainOperator
from adapters.local import LocalProcessModel
from checkpoint import Workspace

from .helpers import (
    FAST_POLL,
    FRUIT_INPUT,
    assert_references_only,
    local_config,
    local_jobs,
    one_task_dag,
    xcom,
)

SyncDag = Callable[[Any], Any]


def _train_kwargs(tmp_path: Path, pid: str, **extra: Any) -> dict[str, Any]:
    return {
        "adapter": "local",
        "config": local_config(tmp_path / "jobs", **extra.pop("config", {})),
        "input": extra.pop("input", FRUIT_INPUT),
        "workspace": str(tmp_path / "ws"),
        "plugin_instance": pid,
        **extra,
    }


def test_train_defers_then_resumes_and_xcom_holds_references_only(sync_dag: SyncDag, tmp_path: Path) -> None:
    dag = sync_dag(
        one_task_dag("jf_local_deferred", JobferryTrainOperator, **_train_kwargs(tmp_path, "fruit"))
    )
    run = dag.test()
    assert run.state == "success"
    result = xcom(run, "job")
    assert_references_only(result)
    assert result["state"] == "SUCCEEDED" and result["adapter"] == "local"
    assert result["plugin_instance"] == "fruit" and result["outputs"]["test_accuracy"] > 0.5
    assert len(local_jobs(tmp_path / "jobs")) == 1


def test_execute_defers_with_a_trigger_that_carries_only_where_the_job_is(tmp_path: Path) -> None:
    op = JobferryTrainOperator(task_id="t", **_train_kwargs(tmp_path, "fruit-defer"))
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, JobferryJobTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "adapters.airflow._trigger.JobferryJobTrigger"
    assert set(kwargs) == {
        "workspace",
        "plugin_instance",
        "handle",
        "poll",
        "requests_per_minute",
        "cancel_on_kill",
    }
    assert kwargs["plugin_instance"] == "fruit-defer"
    json.dumps(kwargs)  # JSON-safe
    assert deferred.value.method_name == "execute_complete"


def test_not_deferrable_waits_in_the_worker(sync_dag: SyncDag, tmp_path: Path) -> None:
    kwargs = _train_kwargs(tmp_path, "fruit-sync", deferrable=False)
    run = sync_dag(one_task_dag("jf_local_sync", JobferryTrainOperator, **kwargs)).test()
    assert run.state == "success"
    assert xcom(run, "job")["state"] == "SUCCEEDED"


def test_a_failed_job_fails_the_task_with_its_message(tmp_path: Path) -> None:
    config = {"entrypoint": "tests/airflow/jobs.py:fail"}
    waiting = JobferryTrainOperator(
        task_id="t", **_train_kwargs(tmp_path, "boom-wait", config=config, deferrable=False)
    )
    with pytest.raises(AirflowException, match="out of cheese"):
        waiting.execute({})
    deferring = JobferryTrainOperator(task_id="t", **_train_kwargs(tmp_path, "boom-defer", config=config))
    with pytest.raises(TaskDeferred) as deferred:
        deferring.execute({})
    event = asyncio.run(anext(deferred.value.trigger.run()))
    assert event.payload["status"] == "failed" and "out of cheese" in event.payload["message"]
    assert event.payload["result"]["state"] == "FAILED"
    with pytest.raises(AirflowException, match="out of cheese"):
        deferring.execute_complete({}, event.payload)


def test_a_spec_file_is_the_same_as_jobferry_train(tmp_path: Path) -> None:
    spec = tmp_path / "fruit.toml"
    config = local_config(tmp_path / "jobs")
    poll = config.pop("poll")
    lines = ['adapter = "local"', 'plugin_instance = "from-spec"', "", "[config]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in config.items()]
    lines += ["", "[config.poll]"] + [f"{k} = {v}" for k, v in poll.items()]
    lines += ["", "[input]", 'training_data_url = "examples/data/fruit.csv"']
    spec.write_text("\n".join(lines) + "\n")
    op = JobferryTrainOperator(task_id="t", spec=str(spec), workspace=str(tmp_path / "ws"), deferrable=False)
    result = op.execute({})
    assert result["plugin_instance"] == "from-spec" and result["state"] == "SUCCEEDED"


def test_retried_and_concurrent_tries_make_exactly_one_job(tmp_path: Path) -> None:
    # Two workers running the same try at once, then a retry: one job, the same one for all three.
    kwargs = _train_kwargs(tmp_path, "once", deferrable=False)
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(JobferryTrainOperator(task_id="t", **kwargs).execute({}))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    results.append(JobferryTrainOperator(task_id="t", **kwargs).execute({}))  # the retry
    assert len({r["job_id"] for r in results}) == 1
    assert len(local_jobs(tmp_path / "jobs")) == 1


def test_the_sensor_watches_a_job_submitted_elsewhere(sync_dag: SyncDag, tmp_path: Path) -> None:
    # As `jobferry train` on a laptop would: submit, publish the job.json, and go away.
    ws = Workspace(tmp_path / "ws")
    model = LocalProcessModel()
    model.receive_config(local_config(tmp_path / "jobs"))
    request = PluginRequest[TrainPluginInput](
        data=TrainPluginInput(**FRUIT_INPUT),
        context=PluginRequestContext(plugin_instance_id="laptop", workspace=ws.url),
    )
    model.train(request)
    dag = one_task_dag(
        "jf_local_sensor", JobferryJobSensor, workspace=ws.url, plugin_instance="laptop", poll=FAST_POLL
    )
    run = sync_dag(dag).test()
    assert run.state == "success"
    result = xcom(run, "job")
    assert result["job_id"] == model.job.job_id and result["state"] == "SUCCEEDED"
