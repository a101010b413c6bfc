"""An Airflow DAG that trains a fruit classifier with jobferry's local adapter, waits, deploys, predicts.

``train`` submits the job (exactly once: a retried or doubled try adopts it) and returns at once;
``wait`` defers to jobferry's trigger until the job ends (the triggerer polls; no worker slot is held);
``deploy`` is a no-op for the local adapter (it predicts from the job's own artifacts) and deploys to an
endpoint on adapters that serve (Vertex AI); ``predict`` runs online predictions through the job. The
later tasks find the job from ``train``'s XCom, which holds references only -- never a credential.

Put this file in your DAGs folder (or point ``AIRFLOW__CORE__DAGS_FOLDER`` here) on a machine with
``pip install 'jobferry[airflow]'`` and a checkout of this repository (the job runs
``examples/local/fruit_job.py``). The workspace is ``$JOBFERRY_WORKSPACE`` (default: the user data dir),
the local jobs live in ``$JOBFERRY_LOCAL_JOBS``. Try it without a scheduler:
``AIRFLOW__CORE__DAGS_FOLDER=examples/airflow airflow dags test jobferry_fruit_local``.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from adapters.airflow import (
    JobferryDeployOperator,
    JobferryJobSensor,
    JobferryPredictOperator,
    JobferryTrainOperator,
)

ROOT = Path(__file__).resolve().parents[2]
#: The local adapter polls its job's status file: cheap, so poll briskly.
POLL = {"initial": 0.2, "maximum": 2.0, "floor_cap": 2.0}
#: Where the later tasks find the job: train's XCom (references only).
WORKSPACE = "{{ ti.xcom_pull(task_ids='train')['workspace'] }}"
INSTANCE = "{{ ti.xcom_pull(task_ids='train')['plugin_instance'] }}"
SAMPLES = [
    {"weight_g": 129.1, "diameter_cm": 6.93, "hue": 0.093, "sugar_brix": 9.71},
    {"weight_g": 195.4, "diameter_cm": 6.78, "hue": 0.208, "sugar_brix": 9.85},
    {"weight_g": 113.0, "diameter_cm": 5.73, "hue": 0.15, "sugar_brix": 0.92},
]

with DAG(
    "jobferry_fruit_local",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["jobferry", "example"],
) as dag:
    train = JobferryTrainOperator(
        task_id="train",
        adapter="local",
        config={
            "entrypoint": "examples/local/fruit_job.py:train",  # predict: fruit_job.py:predict
            "cwd": str(ROOT),  # a worker's cwd is anywhere: relative paths resolve against this
            "jobs_dir": os.environ.get("JOBFERRY_LOCAL_JOBS"),
            "heartbeat_interval": 0.5,
            "heartbeat_timeout": 10.0,
        },
        input={
            "training_data_url": "examples/data/fruit.csv",
            "testing_holdout_percent": 0.25,
            "test_split_seed": 7,
        },
        plugin_instance="fruit-airflow",
        workspace=os.environ.get("JOBFERRY_WORKSPACE"),
        wait_for_completion=False,  # the sensor below waits, deferred
    )
    wait = JobferryJobSensor(task_id="wait", workspace=WORKSPACE, plugin_instance=INSTANCE, poll=POLL)
    deploy = JobferryDeployOperator(task_id="deploy", workspace=WORKSPACE, plugin_instance=INSTANCE)
    predict = JobferryPredictOperator(
        task_id="predict", workspace=WORKSPACE, plugin_instance=INSTANCE, instances=SAMPLES
    )
    train >> wait >> deploy >> predict
