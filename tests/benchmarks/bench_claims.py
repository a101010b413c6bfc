"""Benchmark: exactly once across processes, per workspace backend (issue 10's evidence).

Three figures, on the shared folder vendor of :mod:`tests.race_vendor` (a create is invisible until it
returns, and nothing but jobferry's claim stops two creates with one label):

1. **Races**: ``--racers`` processes (threads for ``memory://``, which is per process) call ``train()`` on
   one spec at the same moment, ``--rounds`` times per vendor create latency. Goal: exactly 1 vendor job
   per round, and every racer returns that job.
2. **Kill points**: the claim holder is SIGKILLed at each of 5 points of ``train()``, then 4 racers rerun
   it. Goal: exactly 1 vendor job each time, none lost (``job.json`` names it).
Before them, the baseline: the same races on a local workspace with the claim switched off (the intent
record and label look-up only, as before issue 10).

3. **Claim overhead**: median ms of ``train()`` for a fresh spec with a 0 ms vendor (claim, intent, create,
   ``job.json``, release), and of the claim's own reads and writes alone.

``gs://`` runs against gcp-storage-emulator with our ``ifGenerationMatch=0`` shim and ``s3://`` against
moto's server (see ``tests/storage_servers.py``): both on 127.0.0.1, started here.

Usage: ``python tests/benchmarks/bench_claims.py [--rounds 20] [--racers 8] [--latencies 0,0.05,0.5]
[--backends local,memory,gs,s3] [--json out.json]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests import storage_servers  # noqa: E402  (sets the gcsfs switch before gcsfs is imported)
from tests.race_vendor import KILL_POINTS, RaceModel, RacerPool, created_jobs  # noqa: E402

FAST = {"takeover_settle_seconds": 0.0, "check_interval": 0.01, "wait_seconds": 120.0}


def config(jobs: Path, latency: float) -> dict[str, Any]:
    return {"jobs_dir": str(jobs), "create_latency": latency, "claim": FAST}


@contextlib.contextmanager
def backend(name: str, tmp: Path) -> Iterator[tuple[str, dict[str, Any], dict[str, str]]]:
    """(workspace URL, storage options, env for subprocesses) of one backend."""
    if name == "local":
        yield str(tmp / "ws-local"), {}, {}
    elif name == "memory":
        yield f"memory://bench-{uuid.uuid4().hex}", {}, {}
    elif name == "gs":
        with storage_servers.gcs_emulator() as server:
            yield server.url, server.storage_options, server.env
    elif name == "s3":
        with storage_servers.s3_moto() as server:
            yield server.url, server.storage_options, server.env
    else:
        raise SystemExit(f"unknown backend {name!r}: choose from local, memory, gs, s3")


def thread_round(url: str, instance: str, cfg: dict[str, Any], n: int) -> list[dict[str, Any]]:
    from adapters import PluginRequest, TrainPluginInput
    from checkpoint import Workspace

    ws, barrier, out = Workspace(url), threading.Barrier(n), []

    def run() -> None:
        model = RaceModel()
        model.receive_config(cfg)
        model.bind(ws, instance)
        barrier.wait()
        model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
        out.append({"job_id": model.job.job_id, "adopted": model.adopted})

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def races(name: str, args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    rows = []
    with backend(name, tmp) as (url, _opts, env):
        pool = None if name == "memory" else RacerPool(args.racers, env=env, quiet=True)
        try:
            for latency in args.latencies:
                per_round, same, failures = [], 0, 0
                for i in range(args.rounds):
                    jobs = tmp / f"jobs-{name}-{latency}-{i}"
                    cfg, instance = config(jobs, latency), f"race-{latency}-{i}".replace(".", "_")
                    if pool is None:
                        answers = thread_round(url, instance, cfg, args.racers)
                    else:
                        answers = pool.round(url, instance, cfg)
                    failures += sum("error" in a for a in answers)
                    per_round.append(len(created_jobs(jobs)))
                    same += len({a.get("job_id") for a in answers}) == 1 and all(
                        "job_id" in a for a in answers
                    )
                rows.append(
                    {
                        "backend": name,
                        "latency_ms": latency * 1000,
                        "rounds": args.rounds,
                        "jobs_per_round_min": min(per_round),
                        "jobs_per_round_max": max(per_round),
                        "rounds_all_same_job": same,
                        "racer_errors": failures,
                    }
                )
                print(
                    f"race  {name:6} latency {latency * 1000:5.0f} ms: {args.rounds} rounds x {args.racers} "
                    f"racers, vendor jobs per round {min(per_round)}..{max(per_round)}, all racers same job "
                    f"in {same}/{args.rounds}, errors {failures}",
                    flush=True,
                )
        finally:
            if pool is not None:
                pool.close()
    return rows


def baseline(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    """The same races on a local workspace without the claim (intent and label look-up only)."""
    rows = []
    with RacerPool(args.racers, env={"JF_RACE_NO_CLAIM": "1"}, quiet=True) as pool:
        for latency in args.latencies:
            per_round = []
            for i in range(args.baseline_rounds):
                jobs = tmp / f"base-{latency}-{i}"
                pool.round(
                    str(tmp / "ws-base"), f"base-{latency}-{i}".replace(".", "_"), config(jobs, latency)
                )
                per_round.append(len(created_jobs(jobs)))
            rows.append({"latency_ms": latency * 1000, "jobs_per_round": per_round})
            print(
                f"base  local  latency {latency * 1000:5.0f} ms, NO claim: {args.baseline_rounds} rounds, "
                f"vendor jobs per round {min(per_round)}..{max(per_round)} "
                f"(mean {statistics.mean(per_round):.1f})",
                flush=True,
            )
    return rows


def kills(name: str, tmp: Path) -> list[dict[str, Any]]:
    rows = []
    with backend(name, tmp) as (url, _opts, env), RacerPool(4, env=env, quiet=True) as pool:
        for point in KILL_POINTS:
            jobs, instance = tmp / f"kill-{name}-{point}", f"kill-{point}"
            cfg = config(jobs, 0.05)
            start = str(time.time())
            proc = subprocess.run(
                [sys.executable, "-m", "tests.race_vendor", url, instance, json.dumps(cfg), start],
                cwd=ROOT,
                env={**os.environ, **env, "JF_RACE_KILL_AT": point},
                capture_output=True,
            )
            reruns = pool.round(url, instance, cfg)
            ids = {r.get("job_id") for r in reruns}
            made = len(created_jobs(jobs))
            rows.append(
                {
                    "backend": name,
                    "point": point,
                    "killed": proc.returncode == -9,
                    "vendor_jobs": made,
                    "rerun_jobs": len(ids),
                    "errors": sum("error" in r for r in reruns),
                }
            )
            print(
                f"kill  {name:6} {point:15} killed={proc.returncode == -9} vendor jobs {made}, "
                f"4 reruns returned {len(ids)} distinct job(s)",
                flush=True,
            )
    return rows


def overhead(name: str, tmp: Path, n: int = 30) -> dict[str, Any]:
    from adapters import PluginRequest, TrainPluginInput
    from adapters._claim import ClaimPolicy, Claims, ClaimState
    from checkpoint import Workspace

    with backend(name, tmp) as (url, opts, _env):
        ws = Workspace(url, storage_options=opts)
        trains, claims = [], []
        for i in range(n):
            model = RaceModel()
            model.receive_config(config(tmp / f"ovh-{name}", 0.0) | {"name": f"spec-{i}"})
            model.bind(ws, f"ovh-{i}")
            began = time.perf_counter()
            model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
            trains.append((time.perf_counter() - began) * 1000)
            c = Claims(ws, f"claim-{i}", "d" * 64, "race-files", ClaimPolicy())
            began = time.perf_counter()
            mine = c.take("jfkey", after=c.current())
            assert mine is not None
            c.release(mine, ClaimState.DONE)
            claims.append((time.perf_counter() - began) * 1000)
    row = {
        "backend": name,
        "train_ms_median": statistics.median(trains),
        "claim_ms_median": statistics.median(claims),
    }
    print(
        f"cost  {name:6} train() median {row['train_ms_median']:.1f} ms; the claim's own look + create + "
        f"release median {row['claim_ms_median']:.1f} ms",
        flush=True,
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--racers", type=int, default=8)
    parser.add_argument("--latencies", default="0,0.05,0.5", type=lambda s: [float(x) for x in s.split(",")])
    parser.add_argument("--backends", default="local,memory,gs,s3", type=lambda s: s.split(","))
    parser.add_argument("--baseline-rounds", type=int, default=5, help="rounds without the claim (0: none)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report: dict[str, Any] = {"races": [], "kills": [], "overhead": [], "baseline": []}
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if args.baseline_rounds:
            report["baseline"] = baseline(args, tmp)
        for name in args.backends:
            report["races"] += races(name, args, tmp)
        for name in args.backends:
            if name != "memory":  # a killed process takes its memory:// workspace with it
                report["kills"] += kills(name, tmp)
        for name in args.backends:
            report["overhead"].append(overhead(name, tmp))
    ok = all(r["jobs_per_round_max"] == 1 == r["jobs_per_round_min"] for r in report["races"]) and all(
        r["vendor_jobs"] == 1 and r["rerun_jobs"] == 1 for r in report["kills"]
    )
    print(f"goal: exactly 1 vendor job in every round and after every kill: {'met' if ok else 'MISSED'}")
    print(f"({time.monotonic() - began:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
