"""Google's high-level SDK and jobferry side by side on one emulator that fails 10 % of every call with 503.

Each side runs ``--cycles`` life cycles, one after another: train (dataset + AutoML tabular pipeline, waited
on) -> deploy -> predict -> undeploy. A failed step ends its life cycle (later steps are not attempted, so
they count as not passed). The SDK has no retry on create, cancel, delete and list (and none on most gets);
jobferry retries transient errors with backoff and reconciles creates by submission key.

Everything runs on 127.0.0.1 against the offline emulator (no network). The SDK's fixed 5 s job poll
(``_JOB_WAIT_TIME``) is shortened to 0.05 s so the run takes seconds; that changes how often it asks, not
how it handles errors.

Usage: ``python tests/benchmarks/bench_sdk_faults.py [--cycles 20] [--error-rate 0.1] [--seed 11]``
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from google.auth.credentials import AnonymousCredentials  # noqa: E402
from google.cloud import aiplatform  # noqa: E402
from google.cloud.aiplatform import jobs, training_jobs  # noqa: E402

from adapters import PluginRequest, TrainPluginInput  # noqa: E402
from adapters.vertex import VertexAutoMLTabular  # noqa: E402
from adapters.vertex.emulator import ROUTES, FaultSpec, Phases, Quotas, VertexEmulator  # noqa: E402
from checkpoint import Workspace  # noqa: E402

PROJECT, LOCATION, BUCKET = "bench-project", "us-central1", "bench-bucket"
DATA = ROOT / "examples" / "data" / "fruit.csv"
FEATURES = {"weight_g": "numeric", "diameter_cm": "numeric", "hue": "numeric", "sugar_brix": "numeric"}
INSTANCES = [{"weight_g": "129.1", "diameter_cm": "6.93", "hue": "0.093", "sugar_brix": "9.71"}]
STEPS = ("train", "deploy", "predict", "undeploy")


def run_cycle(steps: list[tuple[str, Callable[[], Any]]]) -> int:
    """Runs the steps in order until one raises; returns how many passed."""
    for passed, (_, action) in enumerate(steps):
        try:
            action()
        except Exception:
            return passed
    return len(steps)


def sdk_cycle(index: int) -> int:
    """One life cycle through Google's high-level SDK."""
    held: dict[str, Any] = {}

    def train() -> None:
        ds = aiplatform.TabularDataset.create(
            display_name=f"sdk-{index}", gcs_source=[f"gs://{BUCKET}/fruit.csv"]
        )
        job = aiplatform.AutoMLTabularTrainingJob(
            display_name=f"sdk-{index}", optimization_prediction_type="classification", column_specs=FEATURES
        )
        held["model"] = job.run(dataset=ds, target_column="fruit", sync=True)

    def deploy() -> None:
        held["endpoint"] = held["model"].deploy(machine_type="n1-standard-2")

    def predict() -> None:
        assert len(held["endpoint"].predict(instances=INSTANCES).predictions) == 1

    def undeploy() -> None:
        held["endpoint"].undeploy_all()

    return run_cycle([("train", train), ("deploy", deploy), ("predict", predict), ("undeploy", undeploy)])


def jobferry_cycle(index: int, url: str, workspace: Workspace) -> int:
    """One life cycle through jobferry's VertexAutoMLTabular."""
    model = VertexAutoMLTabular()
    model.receive_config(
        {
            "project": PROJECT,
            "location": LOCATION,
            "api_endpoint": url,
            "credentials": "anonymous",
            "dataset_source": [f"gs://{BUCKET}/fruit.csv"],
            "target_column": "fruit",
            "prediction_type": "classification",
            "column_names": [*FEATURES, "fruit"],
            "poll": {"initial": 0.05, "maximum": 0.3, "floor_cap": 0.3, "jitter": 0},
            "retry": {"initial": 0.01, "maximum": 0.05, "max_attempts": 10, "max_retry_after": 0.05},
            "requests_per_minute": 1_000_000,
            "submissions_per_minute": 1_000_000,
        }
    )
    model.bind(workspace, f"jf-{index:03d}")

    def train() -> None:
        model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
        model.raise_for_status(model.wait(timeout=60))

    def predict() -> None:
        assert len(model.run(INSTANCES)) == 1

    return run_cycle(
        [
            ("train", train),
            ("deploy", lambda: model.deploy(machine_type="n1-standard-2")),
            ("predict", predict),
            ("undeploy", model.undeploy),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--error-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the SDK logs every step at INFO on its own loggers
    training_jobs._JOB_WAIT_TIME = 0.05  # type: ignore[attr-defined]
    jobs._JOB_WAIT_TIME = 0.05  # type: ignore[attr-defined]
    methods = sorted({route.method for route in ROUTES})
    faults = {m: FaultSpec(error_rate=args.error_rate, codes=[503], retry_after=0.05) for m in methods}
    with tempfile.TemporaryDirectory() as tmp:
        bucket = Path(tmp) / "bucket"
        bucket.mkdir()
        shutil.copy(DATA, bucket / "fruit.csv")
        emu = VertexEmulator(
            speedup=8192.0,
            durations={"tabular": Phases(pending=512, running=2048)},
            lro_seconds={
                "CreateDataset": 2.0,
                "CreateEndpoint": 2.0,
                "DeployModel": 16.0,
                "UndeployModel": 4.0,
            },
            bucket_map={BUCKET: str(bucket)},
            quotas=Quotas(resource_management=None, job_creation=None, online_prediction=None),
            faults=faults,
            seed=args.seed,
        )
        with emu:
            aiplatform.init(
                project=PROJECT,
                location=LOCATION,
                api_endpoint=emu.url,
                api_transport="rest",
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            )
            rows = []
            for side, cycle in (
                ("Google SDK (aiplatform 2.7.0)", sdk_cycle),
                ("jobferry", lambda i: jobferry_cycle(i, emu.url, Workspace(Path(tmp) / "ws"))),
            ):
                started = time.monotonic()
                passed = [cycle(i) for i in range(args.cycles)]
                stopped = Counter(STEPS[p] for p in passed if p < len(STEPS))
                failed_at = ", ".join(f"{step} {stopped[step]}" for step in STEPS if stopped[step]) or "-"
                done = sum(p == len(STEPS) for p in passed)
                rows.append((side, sum(passed), done, failed_at, time.monotonic() - started))
            faulted = sum(1 for e in emu.app.log.entries if e.status == 503)
    total = args.cycles * len(STEPS)
    print(f"{args.cycles} life cycles each (train -> wait -> deploy -> predict -> undeploy),")
    print(f"{args.error_rate:.0%} 503s on every method ({faulted} injected in all)\n")
    print("| client | steps passed | life cycles completed | failed at | seconds |")
    print("|---|---|---|---|---|")
    for side, steps, cycles, failed_at, seconds in rows:
        print(f"| {side} | {steps}/{total} | {cycles}/{args.cycles} | {failed_at} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
