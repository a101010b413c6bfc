"""Benchmark: ``save_remote`` + ``load_remote`` latency of a job checkpoint (``job.json`` only).

The checkpoint of an external-job model is one small file: a :class:`JobRecord` (job reference, connection
fields, credential reference, submission key, last status). This times, for a ``VertexAutoMLTabular``
holding such a record, on a local workspace (a temporary folder) and on a ``memory://`` workspace:

* ``save_remote`` (write job.json, zip, publish the handle and ``default``) and ``load_remote`` with
  ``use_cache=False`` (download, unzip, read job.json, rebuild the config from the connection fields),
  median and p95 over ``--runs`` round trips cycling over 5 handles; every load is checked to return the
  same record;
* ``load_remote`` with ``use_cache=True`` once the model is cached (the cache-hit path), mean over
  ``--runs`` calls, and the first (missing) cached load for comparison.

For reference, ``bench_checkpoint.py``'s goal for a 10-file, 10 KB checkpoint is a local save + load under
20 ms median; a job checkpoint should be well within it.

Usage: ``python tests/benchmarks/bench_job_checkpoint.py [--runs 300] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from adapters._credentials import CredentialRef  # noqa: E402
from adapters._jobs import JobRecord, JobRef, JobState, JobStatus  # noqa: E402
from adapters.vertex import VertexAutoMLTabular  # noqa: E402
from adapters.vertex._automl import VertexAutoMLTabularConfig  # noqa: E402

PARENT = "projects/bench/locations/us-central1"
PLUGIN_INSTANCE = "job-bench"


def job_model() -> VertexAutoMLTabular:
    """A VertexAutoMLTabular with a realistic JobRecord (as after train() + a few polls); no client built."""
    model = VertexAutoMLTabular()
    model.receive_config(
        VertexAutoMLTabularConfig(
            project="bench",
            api_endpoint="http://127.0.0.1:9",
            credentials=CredentialRef.anonymous(),
            target_column="fruit",
            dataset=f"{PARENT}/datasets/123",
        )
    )
    now = datetime.now(UTC)
    model.record = JobRecord(
        adapter=model.adapter_name,
        adapter_version=model.adapter_version,
        job=JobRef(
            adapter=model.adapter_name,
            job_id=f"{PARENT}/trainingPipelines/4567890123456789012",
            resources={"dataset": f"{PARENT}/datasets/123", "model": f"{PARENT}/models/987"},
        ),
        connection={"project": "bench", "location": "us-central1", "api_endpoint": "http://127.0.0.1:9"},
        credentials=CredentialRef.anonymous(),
        submission_key="jf" + "0" * 32,
        spec_hash="ab" * 32,
        last_status=JobStatus(
            state=JobState.RUNNING,
            raw_state="PIPELINE_STATE_RUNNING",
            message="fruit-vertex",
            create_time=now,
            start_time=now,
            update_time=now,
        ),
    )
    return model


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def bench_workspace(label: str, ws: str, runs: int) -> dict[str, Any]:
    model = job_model()
    save, load, both = [], [], []
    for i in range(runs):
        handle = f"h{i % 5}"
        t0 = time.perf_counter()
        model.save_remote(ws, PLUGIN_INSTANCE, handle)
        t1 = time.perf_counter()
        loaded = VertexAutoMLTabular.load_remote(ws, PLUGIN_INSTANCE, handle, use_cache=False)
        t2 = time.perf_counter()
        assert loaded.record == model.record, "the loaded job record differs from the saved one"
        save.append((t1 - t0) * 1000)
        load.append((t2 - t1) * 1000)
        both.append((t2 - t0) * 1000)
    t0 = time.perf_counter()
    first = VertexAutoMLTabular.load_remote(ws, PLUGIN_INSTANCE, "h0", use_cache=True)  # a miss: fills it
    miss_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    for _ in range(runs):
        hit = VertexAutoMLTabular.load_remote(ws, PLUGIN_INSTANCE, "h0", use_cache=True)
    hit_us = (time.perf_counter() - t0) / runs * 1e6
    assert hit is first, "use_cache=True did not return the cached model"
    job_json = model.record.model_dump_json(indent=2, exclude_none=True) if model.record else ""
    return {
        "workspace": label,
        "job_json_bytes": len(job_json.encode()),
        "save_ms_median": statistics.median(save),
        "save_ms_p95": p95(save),
        "load_ms_median": statistics.median(load),
        "load_ms_p95": p95(load),
        "save_load_ms_median": statistics.median(both),
        "save_load_ms_p95": p95(both),
        "cached_load_first_miss_ms": miss_ms,
        "cache_hit_us": hit_us,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        bench_workspace("warm-up", str(Path(tmp) / "warm"), 10)  # imports (fsspec, zip) and first-use costs
        results = {
            "local": bench_workspace("local", str(Path(tmp) / "ws"), args.runs),
            "memory": bench_workspace("memory", "memory://bench-job-checkpoint", args.runs),
        }
    print(f"job checkpoint (job.json only) of a VertexAutoMLTabular, {args.runs} round trips per workspace\n")
    print(f"{'figure':28} {'local':>12} {'memory://':>12} {'ratio':>8}")
    for key in results["local"]:
        a, b = results["local"][key], results["memory"][key]
        if isinstance(a, str):
            continue
        print(f"{key:28} {a:12.3f} {b:12.3f} {a / b if b else float('nan'):8.2f}")
    goals = {"local save + load under 20 ms median": results["local"]["save_load_ms_median"] < 20}
    for goal, ok in goals.items():
        print(f"\ngoal (bench_checkpoint's): {goal:40} {'ok' if ok else 'MISSED'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": args.runs, **results, "goals": goals}, indent=2))


if __name__ == "__main__":
    main()
