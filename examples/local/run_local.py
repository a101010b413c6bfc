"""Local quickstart: train in a detached local process, watch it, reload it elsewhere, predict.

Run it from anywhere with ``python examples/local/run_local.py [--workspace URL] [--jobs-dir DIR]``. The job
directory (spec, state, log, artifacts) lives under ``--jobs-dir`` (default ``$JOBFERRY_LOCAL_JOBS`` or
the user data directory). Run it twice: the second run adopts the job the first one trained instead of
training again (``--new`` forces a fresh job).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from adapters import PluginRequest, PluginRequestContext, TrainPluginInput  # noqa: E402
from adapters._jobs import JobStatus  # noqa: E402
from adapters._poll import PollPolicy  # noqa: E402
from adapters.local import LocalJobConfig, LocalProcessModel  # noqa: E402
from checkpoint import Workspace  # noqa: E402

DATA = "examples/data/fruit.csv"  # relative to the job's cwd, the repository root


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the example; return what it printed, for tests."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workspace", default=None, help="workspace URL or path (default: local folder)")
    parser.add_argument("--jobs-dir", default=None, help="where local jobs live")
    parser.add_argument("--instance", default="fruit-local", help="plugin instance ID")
    parser.add_argument("--step-delay", type=float, default=0.05, help="seconds per class, to see progress")
    parser.add_argument("--new", action="store_true", help="train a new job even if one exists")
    args = parser.parse_args(argv)
    workspace = Workspace(args.workspace)

    config = LocalJobConfig(
        entrypoint="examples/local/fruit_job.py:train",  # predict defaults to fruit_job.py:predict
        cwd=str(ROOT),
        jobs_dir=args.jobs_dir,
        poll=PollPolicy(initial=0.1, maximum=1.0, floor_cap=1.0),
        heartbeat_interval=0.5,
        heartbeat_timeout=10.0,
    )
    model = LocalProcessModel()
    model.receive_config(config)
    request = PluginRequest[TrainPluginInput](
        data=TrainPluginInput(
            training_data_url=DATA,
            testing_holdout_percent=0.25,
            test_split_seed=7,
            training_params={"step_delay": args.step_delay},
        ),
        context=PluginRequestContext(plugin_instance_id=args.instance, workspace=workspace.url),
    )
    response = model.train(request, new=args.new)
    print(f"workspace: {workspace.url}")
    print(response.status.status_message)
    print(f"  job directory: {model.job.resources['job_dir']}")

    def show(status: JobStatus) -> None:
        print(f"  {status.summary()}")

    final = model.wait(timeout=120, on_update=show)
    model.raise_for_status(final)

    # As another process would: load the job from the workspace and predict through it.
    fresh = LocalProcessModel.load_remote(workspace, args.instance, use_cache=False)
    with open(ROOT / DATA, newline="", encoding="utf-8-sig") as f:
        rows = [row for _, row in zip(range(6), csv.DictReader(f), strict=False)]
    instances = [{k: v for k, v in row.items() if k != "fruit"} for row in rows]
    predictions = fresh.run(instances)
    print(f"reloaded job {fresh.job.job_id}; predictions:")
    for row, pred in zip(rows, predictions, strict=True):
        print(f"  {row['fruit']:>7} -> {pred['label']:<7} ({pred['scores'][pred['label']]:.3f})")
    return {
        "job_id": model.job.job_id,
        "reloaded_job_id": fresh.job.job_id,
        "outputs": final.outputs,
        "labels": [row["fruit"] for row in rows],
        "predictions": predictions,
    }


if __name__ == "__main__":
    main()
