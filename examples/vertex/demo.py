"""The main job: the whole Vertex AI AutoML tabular life cycle against the embedded emulator.

submit -> live progress -> the checkpoint (IDs and a credential reference, nothing else) -> deploy ->
predictions for a few rows of the bundled CSV. No cloud account and no credentials: the emulator serves the
Vertex AI REST API on 127.0.0.1 and the real ``google-cloud-aiplatform`` client talks to it.

Usage: ``python examples/vertex/demo.py [--workspace URL] [--speedup 600]``. With ``--endpoint URL`` it uses
an emulator you started yourself (``jobferry emulator``) instead of its own.

Its state lives only as long as its emulator: without ``--endpoint`` the checkpoint (which records the
emulator's address) goes to a temporary workspace removed at the end, so nothing in your default
workspace points at an emulator that is gone. It ends by printing the commands that carry on from the
shell with an emulator that stays up.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import shlex
import sys
import tempfile
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


@contextlib.contextmanager
def demo_workspace(url: str | None, own_emulator: bool) -> Iterator[str | None]:
    # A checkpoint records the emulator's address: with the demo's own emulator (gone at exit) it must not
    # land in the user's default workspace, where `jobferry status fruit-vertex` would find a dead port.
    if url or not own_emulator:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="jobferry-demo-") as folder:
        yield folder


def next_steps(instance: str, endpoint: str | None, workspace: str | None) -> list[str]:
    """The shell commands that carry on where the demo stops (run from the repository root)."""
    if endpoint:  # the user's emulator is still up, and the checkpoint is where they asked
        ws = f" -w {shlex.quote(workspace)}" if workspace else ""
        return [f"jobferry status {instance}{ws}", f"jobferry checkpoints show {instance}{ws}"]
    # The demo's own emulator is gone: start one where the spec's api_endpoint points, in the default
    # workspace (the demo's checkpoint is not there unless --workspace put it there).
    return [
        "jobferry emulator --port 8765 --bucket-map jobferry-demo=examples/data &  # the spec's endpoint",
        "jobferry train examples/vertex/fruit_tabular.toml --wait",
        f"jobferry status {instance}",
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workspace",
        default=None,
        help="workspace URL or path (default: a temporary folder, unless --endpoint: the default workspace)",
    )
    parser.add_argument("--speedup", type=float, default=600.0, help="emulated Vertex time per real second")
    parser.add_argument("--endpoint", default=None, help="use this running emulator instead of starting one")
    parser.add_argument("--rows", type=int, default=5, help="CSV rows to predict")
    args = parser.parse_args(argv)

    spec = load_spec(SPEC)
    started = time.monotonic()
    with (
        demo_workspace(args.workspace, args.endpoint is None) as ws_url,
        emulator(args.endpoint, args.speedup) as url,
    ):
        workspace = spec.resolve_workspace(ws_url)
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
    if args.endpoint is None:
        gone = "its temporary workspace" if args.workspace is None else "the checkpoint's endpoint"
        print(f"The demo's emulator and {gone} are gone. To carry on from the shell:")
    else:
        print("Next:")
    for command in next_steps(spec.plugin_instance, args.endpoint, args.workspace):
        print(f"   {command}")
    return {
        "job": job_json,
        "files": files,
        "predictions": predictions,
        "rows": rows,
        "state": final.state.value,
    }


if __name__ == "__main__":
    main()
