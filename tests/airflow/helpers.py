"""DAGs, configs and XCom look-ups shared by the provider's tests."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FAST_POLL = {"initial": 0.05, "maximum": 0.2, "floor_cap": 0.2, "jitter": 0.0}
#: Strings that must never reach XCom (the job record's credential reference and connection).
SECRET_KEYS = ("credentials", "connection", "private_key", "token")


def local_config(jobs_dir: Path, entrypoint: str = "examples/local/fruit_job.py:train") -> dict[str, Any]:
    """The local adapter's config: the repository as the job's cwd, fast heartbeats and polls."""
    return {
        "entrypoint": entrypoint,
        "cwd": str(ROOT),
        "jobs_dir": str(jobs_dir),
        "heartbeat_interval": 0.2,
        "heartbeat_timeout": 10.0,
        "poll": FAST_POLL,
    }


FRUIT_INPUT: dict[str, Any] = {
    "training_data_url": "examples/data/fruit.csv",
    "testing_holdout_percent": 0.25,
    "test_split_seed": 7,
    "training_params": {"step_delay": 0.0},
}


def local_jobs(jobs_dir: Path) -> list[Path]:
    """The local adapter's job directories: one per job ever submitted (the vendor's side of the count)."""
    return sorted(p for p in jobs_dir.iterdir() if p.is_dir()) if jobs_dir.is_dir() else []


def one_task_dag(dag_id: str, operator: type[Any], **kwargs: Any) -> Any:
    """A DAG holding one task ``task_id="job"`` of ``operator``."""
    from airflow.sdk import DAG

    with DAG(dag_id, schedule=None, start_date=datetime(2025, 1, 1), catchup=False) as dag:
        operator(task_id="job", **kwargs)
    return dag


def xcom(dag_run: Any, task_id: str) -> Any:
    """The ``return_value`` XCom of ``task_id`` in ``dag_run``, read from the metadata DB."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key="return_value")
            .one()
        )
        value = row.value
    return json.loads(value) if isinstance(value, str | bytes) else value


def assert_references_only(result: dict[str, Any]) -> None:
    """The task's XCom holds the job's references and nothing that reaches or unlocks the vendor."""
    assert {"job_id", "adapter", "plugin_instance", "workspace", "state", "outputs"} <= set(result)
    text = json.dumps(result)
    for key in SECRET_KEYS:
        assert f'"{key}"' not in text, f"{key} in XCom: {text}"
