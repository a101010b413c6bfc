"""The main job: the whole Vertex AI AutoML tabular life cycle against the embedded emulator.

submit -> live progress -> the checkpoint (IDs and a credential reference, nothing else) -> deploy ->
predictions for a few rows of the bundled CSV. No cloud account and no credentials: the emulator serves the
Vertex AI REST API on 127.0.0.1 and the real ``google-cloud-aiplatform`` client talks to it.

Usage: ``python examples/vertex/demo.py [--workspace URL] [--speedup 600]``. With ``--endpoint URL`` it uses
an emulator you started yourself (``jobferry emulator``) instead of its own.
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
from adapters.vertex import VertexAutoMLTabular  # noqa: E402
from adapters.vertex.emulator import VertexEmulator  # noqa: E402

SPEC = HERE / "fruit_tabular.toml"
DATA = ROOT / "examples" / "data" / "fruit.csv"


@contextlib.contextmanager
def emulator(url: str | None, speedup: float) -> Iterator[str]:
    if url:
        yield url
        return
    with VertexEmulator(speedup=speedup, bucket_map={"jobferry-demo": str(DATA.parent)}) as emu:
        yield emu.url


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default=None, help="workspace URL or path (default: local folder)")
    parser.add_argument("--speedup", type=float, default=600.0, help="emulated Vertex time per real second")
    parser.add_argument("--endpoint", default=None, help="use this running emulator instead of starting one")
    parser.add_argument("--rows", type=int, default=5, help="CSV rows to predict")
    args = parser.parse_args(argv)

    spec = load_spec(SPEC)
    workspace = spec.resolve_workspace(args.workspace)
    started = time.monotonic()
    with emulator(args.endpoint, args.speedup) as url:
        print(f"Vertex AI emulator: {url}   workspace: {workspace.url}")
        config = spec.adapter_config.model_copy(
            # The emulator runs an hour of training in seconds: poll it every fraction of a second.
            update={"api_endpoint": url, "poll": PollPolicy(initial=0.25, maximum=1.0, floor_cap=1.0)}
        )
        model = VertexAutoMLTabular()
        model.receive_config(config)
        model.bind(workspace, spec.plugin_instance)

        # 1. submit: returns at once with the job reference, already persisted to the workspace.
        response = model.train(spec.train_request(workspace))
        print(f"\n1. submitted  {model.job.job_id}\n   {response.status.status_message}")

        # 2. live progress until the pipeline ends.
        def show(status: JobStatus) -> None:
            print(f"   [{time.monotonic() - started:5.1f}s] {status.summary()}", flush=True)

        print("\n2. training")
        final = model.wait(timeout=300, on_update=show)
        model.raise_for_status(final)

        # 3. the checkpoint, as another process sees it: IDs and a credential reference, nothing else.
        again = load_job(workspace, spec.plugin_instance)
        assert again.checkpoint is not None and again.record is not None
        job_json = json.loads((again.checkpoint.folder_path_on_disk() / "job.json").read_text())
        files = sorted(p.name for p in again.checkpoint.folder_path_on_disk().iterdir())
        print(f"\n3. checkpoint {spec.plugin_instance}/default.zip holds {files}:")
        print("   " + json.dumps(job_json, indent=2).replace("\n", "\n   "))

        # 4. deploy the trained model to an endpoint (LROs polled with the same policies).
        endpoint = model.deploy(machine_type="n1-standard-2")
        print(f"\n4. deployed   {model.job.resources['model']}\n   to         {endpoint}")

        # 5. online predictions for a few rows of the bundled CSV.
        with open(DATA, newline="", encoding="utf-8-sig") as f:
            rows = [row for _, row in zip(range(args.rows), csv.DictReader(f), strict=False)]
        instances = [{k: v for k, v in row.items() if k != "fruit"} for row in rows]
        predictions = model.run(instances)
        print("\n5. predictions")
        for row, pred in zip(rows, predictions, strict=True):
            best = max(range(len(pred["scores"])), key=lambda i: pred["scores"][i])
            print(f"   {row['fruit']:>7} -> {pred['classes'][best]:<7} ({pred['scores'][best]:.3f})")
    print(f"\ndone in {time.monotonic() - started:.1f} s")
    return {
        "job": job_json,
        "files": files,
        "predictions": predictions,
        "rows": rows,
        "state": final.state.value,
    }


if __name__ == "__main__":
    main()
