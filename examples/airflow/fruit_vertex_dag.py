"""The same pipeline on Vertex AI: AutoML tabular training -> deploy -> online predictions, and a batch
prediction of the whole file beside them.

The spec is ``examples/vertex/fruit_tabular.toml``, the file ``jobferry train`` takes. As written it
targets the offline Vertex AI emulator (``jobferry emulator --port 8765 --bucket-map
jobferry-demo=examples/data``); ``$JOBFERRY_VERTEX_ENDPOINT`` points it at another one. For real Vertex AI,
edit the spec as its header says and drop ``config_overrides``.

``train`` submits exactly once and defers to jobferry's trigger (the triggerer polls; no worker slot is
held during training); ``deploy`` deploys the trained model (exactly once per job and endpoint), deferred
too; ``predict`` answers through the endpoint; ``batch_predict`` submits a BatchPredictionJob (exactly
once) and defers until it ends.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from adapters.airflow import (
    JobferryBatchPredictOperator,
    JobferryDeployOperator,
    JobferryPredictOperator,
    JobferryTrainOperator,
)

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "vertex" / "fruit_tabular.toml"
WORKSPACE = "{{ ti.xcom_pull(task_ids='train')['workspace'] }}"
INSTANCE = "{{ ti.xcom_pull(task_ids='train')['plugin_instance'] }}"
#: Rows of examples/data/fruit.csv without their label: an orange, a pear, a lemon.
SAMPLES = [
    {"weight_g": "129.1", "diameter_cm": "6.93", "hue": "0.093", "sugar_brix": "9.71"},
    {"weight_g": "195.4", "diameter_cm": "6.78", "hue": "0.208", "sugar_brix": "9.85"},
    {"weight_g": "113.0", "diameter_cm": "5.73", "hue": "0.15", "sugar_brix": "0.92"},
]

with DAG(
    "jobferry_fruit_vertex",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["jobferry", "example", "vertex"],
) as dag:
    train = JobferryTrainOperator(
        task_id="train",
        spec=str(SPEC),
        workspace=os.environ.get("JOBFERRY_WORKSPACE"),
        config_overrides={
            "api_endpoint": os.environ.get("JOBFERRY_VERTEX_ENDPOINT", "http://127.0.0.1:8765"),
            # The emulator runs an hour of training in seconds: poll it every fraction of a second.
            "poll": {"initial": 0.1, "maximum": 0.5, "floor_cap": 0.5},
        },
    )
    deploy = JobferryDeployOperator(
        task_id="deploy",
        workspace=WORKSPACE,
        plugin_instance=INSTANCE,
        deploy_kwargs={"machine_type": "n1-standard-2"},
    )
    predict = JobferryPredictOperator(
        task_id="predict", workspace=WORKSPACE, plugin_instance=INSTANCE, instances=SAMPLES
    )
    batch = JobferryBatchPredictOperator(
        task_id="batch_predict",
        workspace=WORKSPACE,
        plugin_instance=INSTANCE,
        source="gs://jobferry-demo/fruit.csv",
        destination="gs://jobferry-demo-predictions/fruit",
        options={"instances_format": "csv"},
    )
    train >> deploy >> predict
    train >> batch
