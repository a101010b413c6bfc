"""A SageMaker training job's whole life cycle against the embedded SageMaker emulator, through boto3.

submit -> live progress (SecondaryStatus) -> the checkpoint (IDs and a credential reference, nothing else)
-> deploy (model, endpoint config, endpoint) -> predictions through InvokeEndpoint, JSON and CSV ->
undeploy. No AWS account and no credentials: the emulator speaks SageMaker's API on 127.0.0.1, real boto3
talks to it, and the "trained model" is a linear model it really fits on the channel's CSV.

Usage: ``python examples/sagemaker/sagemaker_demo.py [--workspace URL] [--speedup 600]``. With
``--endpoint URL`` it uses an emulator you started yourself (``jobferry emulator sagemaker``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # runnable from a checkout

from adapters import JobStatus, PollPolicy, load_job  # noqa: E402
from adapters._spec import load_spec  # noqa: E402
from adapters.sagemaker import SageMakerTrainingJob  # noqa: E402
from adapters.sagemaker.emulator import SageMakerEmulator  # noqa: E402

SPEC = HERE / "house_prices.toml"
DATA = HERE / "data" / "house_prices.csv"


@contextlib.contextmanager
def emulator(url: str | None, speedup: float) -> Iterator[str]:
    if url:
        yield url
        return
    with SageMakerEmulator(speedup=speedup, bucket_map={"jobferry-demo": str(DATA.parent)}) as emu:
        yield emu.url


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default=None, help="workspace URL or path (default: local folder)")
    parser.add_argument(
        "--speedup", type=float, default=600.0, help="emulated SageMaker time per real second"
    )
    parser.add_argument("--endpoint", default=None, help="use this running emulator instead of starting one")
    parser.add_argument("--rows", type=int, default=5, help="CSV rows to predict")
    args = parser.parse_args(argv)

    spec = load_spec(SPEC)
    workspace = spec.resolve_workspace(args.workspace)
    started = time.monotonic()
    with emulator(args.endpoint, args.speedup) as url:
        print(f"SageMaker emulator: {url}   workspace: {workspace.url}")
        config = spec.adapter_config.model_copy(
            # The emulator runs a quarter of an hour in about a second: poll it every fraction of one.
            update={"endpoint_url": url, "poll": PollPolicy(initial=0.1, maximum=0.5, floor_cap=0.5)}
        )
        model = SageMakerTrainingJob()
        model.receive_config(config)
        model.bind(workspace, spec.plugin_instance)

        # 1. submit: CreateTrainingJob under a name derived from the submission key; persisted at once.
        response = model.train(spec.train_request(workspace))
        print(f"\n1. submitted  {model.job.job_id}\n   {response.status.status_message}")

        # 2. live progress until the job ends.
        def show(status: JobStatus) -> None:
            print(f"   [{time.monotonic() - started:5.1f}s] {status.summary()}", flush=True)

        print("\n2. training")
        final = model.wait(timeout=300, on_update=show)
        model.raise_for_status(final)
        print(f"   artefact {final.outputs['modelArtifacts']}\n   metrics  {final.outputs['finalMetrics']}")

        # 3. the checkpoint, as another process sees it: IDs and a credential reference, nothing else.
        again = load_job(workspace, spec.plugin_instance)
        assert again.checkpoint is not None
        job_json = json.loads((again.checkpoint.folder_path_on_disk() / "job.json").read_text())
        files = sorted(p.name for p in again.checkpoint.folder_path_on_disk().iterdir())
        print(f"\n3. checkpoint {spec.plugin_instance}/default.zip holds {files}:")
        print("   " + json.dumps(job_json, indent=2).replace("\n", "\n   "))

        # 4. deploy: CreateModel + CreateEndpointConfig + CreateEndpoint, waited for InService.
        endpoint = model.deploy(instance_type="ml.m5.large", instance_count=2)
        print(f"\n4. deployed   {model.job.resources['model']}\n   to         {endpoint}")

        # 5. online predictions for a few rows of the CSV (features only), as JSON.
        with open(DATA, newline="") as f:
            rows = [[float(c) for c in row] for _, row in zip(range(args.rows), csv.reader(f), strict=False)]
        predictions = model.run([row[1:] for row in rows])
        print("\n5. predictions (JSON)")
        for row, pred in zip(rows, predictions, strict=True):
            print(f"   price {row[0]:>9,.0f}  predicted {pred:>9,.0f}")
        model.undeploy()

        # 6. the same model served for CSV requests, then everything jobferry created is deleted.
        model.deploy(content_type="text/csv")
        csv_predictions = model.run([row[1:] for row in rows])
        print(f"\n6. predictions (CSV) agree: {csv_predictions == predictions}")
        model.undeploy()
        print(f"   undeployed: endpoint, endpoint config and model deleted ({model.job.resources})")
    print(f"\ndone in {time.monotonic() - started:.1f} s")
    return {
        "job": job_json,
        "files": files,
        "rows": rows,
        "predictions": predictions,
        "csv_predictions": csv_predictions,
        "state": final.state.value,
    }


if __name__ == "__main__":
    main()
