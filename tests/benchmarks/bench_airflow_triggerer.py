"""Benchmark: 1,000 deferred Vertex AI training jobs on one Airflow triggerer-like event loop.

Each side runs the real trigger coroutines -- ``run()`` of jobferry's ``JobferryJobTrigger`` and of the
Google provider's ``CustomJobTrigger`` (apache-airflow-providers-google) -- on one asyncio loop in its own
process (a triggerer's TriggerRunner), against the offline Vertex AI emulator in another process, which
enforces Vertex's per-project quota (``--quota`` status calls per 60 s, default 600) and answers 429
RESOURCE_EXHAUSTED beyond it. Then the many-triggerers case: ``--processes`` jobferry processes (default 4)
sharing the same jobs on one project, with no coordinator (AIMD on 429s).

Time: everything runs on one virtual clock, ``--speedup`` times real time (default 30): the emulator's
clock (job phases, quota windows) and jobferry's models (poll intervals, rate limiter, retry backoff).
The provider's trigger sleeps ``poll_interval`` real seconds, so it gets its default (10 s) divided by the
speed-up: 10 virtual seconds. Every figure below is in virtual (Vertex) seconds except the loop lag, which is
real milliseconds: the largest lateness of a canary coroutine that wakes every 10 ms.

Workload, as in ``bench_vertex_polling.py``: ``--jobs`` custom jobs, durations log-uniform from 1 min to 2 h
(30 s PENDING, then RUNNING), arriving uniformly over ``--arrival-window`` s; each job's trigger starts at its
arrival (the task defers as the job is created). Jobs are created through the emulator's state API (no
quota); each trigger finds its job as it would in Airflow (jobferry: the job's checkpoint in a workspace;
the provider: its job ID). Both sides reach the emulator over gRPC: jobferry's configured ``transport =
"grpc"``; the provider's async hook has only its client construction patched (``get_job_service_client``
returns a ``JobServiceAsyncClient`` on an insecure channel to 127.0.0.1, one per trigger as the hook builds
it), everything else is the provider's own code, with an anonymous ``google_cloud_default`` connection.

The provider is not in jobferry's dependencies (2.1 GB with ray): give its site-packages with
``--google-site DIR`` (``pip install --no-deps --target DIR apache-airflow-providers-google`` plus the few
modules its import needs), or its side is skipped.

Goals: jobferry 0 x 429, at most 1/4 of the provider's status calls, loop lag p99 < 50 ms; with
``--processes`` triggerers on one project, fewer than 1% of the calls refused and every job detected within
2x its allowance, max(10% of its duration, 60 s).

Usage: ``python tests/benchmarks/bench_airflow_triggerer.py [--jobs 1000] [--speedup 30] [--processes 4]
[--google-site DIR] [--json out.json]``
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PENDING_S = 30
PROJECT, LOCATION = "bench", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
PROVIDER_POLL_S = 10.0  # CustomJobTrigger's default poll_interval
#: Real seconds each process gets to build its triggers before virtual time 0.
SETUP_S = float(os.environ.get("BENCH_SETUP_S", "75"))
CANARY_S = 0.01
#: A fake secret in every job's container env, as users pass tokens to their trainers: does it reach XCom?
SECRET = "hf_" + "Zq8LmN3vR7tY2wX5cB9kJ4pD6sF1gH0aE"


def workload(n: int, window: float, seed: int) -> list[tuple[float, int]]:
    """(arrival, total Vertex seconds) per job, sorted by arrival; whole seconds, as labels carry them."""
    rng = random.Random(seed)
    jobs = [
        (
            rng.uniform(0, window),
            max(2 * PENDING_S, round(math.exp(rng.uniform(math.log(60), math.log(7200))))),
        )
        for _ in range(n)
    ]
    return sorted(jobs)


class ScaledClock:
    """Virtual seconds since ``m0`` (a ``time.monotonic()`` value, the same in every process) at ``speed``."""

    def __init__(self, m0: float, speed: float) -> None:
        self.m0, self.speed = m0, speed

    def now(self) -> float:
        return (time.monotonic() - self.m0) * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)

    def real_delay(self, virtual: float) -> float:
        """Real seconds from now until virtual time ``virtual``."""
        return self.m0 + virtual / self.speed - time.monotonic()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else float("nan")


def peak_per_window(times: list[float], window: float = 60.0) -> int:
    """Most entries in any half-open ``window``-second interval (times sorted)."""
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


# -- the emulator process ------------------------------------------------------------------------------


class _PinnableClock:
    def __init__(self, clock: ScaledClock) -> None:
        self.clock, self.pinned = clock, None

    def __call__(self) -> float:
        return self.clock.now() if self.pinned is None else self.pinned


def serve(args: argparse.Namespace) -> None:
    """Create the jobs (each at its arrival), print where they are, serve until stdin closes, dump the log."""
    from adapters.vertex.emulator import EmulatorConfig, Phases, Quotas, VertexEmulator

    jobs = workload(args.jobs, args.arrival_window, args.seed)
    clock = _PinnableClock(ScaledClock(args.m0, args.speedup))
    config = EmulatorConfig(
        speedup=1.0,  # the clock itself runs fast: quota windows and phases are both in virtual seconds
        durations={"custom_job": Phases(pending=PENDING_S, running=3600)},
        quotas=Quotas(resource_management=args.quota, job_creation=None),
        log_size=5_000_000,
        seed=args.seed,
    )
    with VertexEmulator(config, clock=clock) as emu:
        target = emu.grpc_target
        names: list[str] = []
        for arrival, total in jobs:
            clock.pinned = arrival
            doc = emu.state.create_custom_job(
                PARENT,
                {
                    "displayName": f"bench-{len(names)}",
                    "jobSpec": {
                        "workerPoolSpecs": [
                            {
                                "machineSpec": {"machineType": "n1-standard-4"},
                                "replicaCount": "1",
                                "containerSpec": {
                                    "imageUri": "us-docker.pkg.dev/bench/trainer:1",
                                    "env": [{"name": "HF_TOKEN", "value": SECRET}],
                                },
                            }
                        ]
                    },
                    "labels": {"emulator-seconds": str(total - PENDING_S)},
                },
            )
            names.append(doc["name"])
        clock.pinned = None
        finish = {name: emu.state.jobs["customJobs"][name].finish for name in names}
        print(json.dumps({"grpc": target, "url": emu.url, "names": names, "finish": finish}), flush=True)
        sys.stdin.read()  # the parent closes our stdin when the side is done
        # Only from virtual time 0 on: before it, each triggerer's warm-up call.
        entries = [
            (e.time, e.status) for e in emu.app.log.entries if e.method == "GetCustomJob" and e.time >= 0
        ]
    Path(args.out).write_text(json.dumps({"entries": entries}))


# -- a triggerer process -------------------------------------------------------------------------------


async def _canary(stop: asyncio.Event, lags: list[float]) -> None:
    loop = asyncio.get_running_loop()
    last = loop.time()
    while not stop.is_set():
        await asyncio.sleep(CANARY_S)
        now = loop.time()
        lags.append(max(0.0, now - last - CANARY_S))
        last = now


def _jobferry_triggers(args: argparse.Namespace, mine: list[dict[str, Any]], clock: ScaledClock) -> list[Any]:
    from adapters._external import ExternalJobModel
    from adapters._jobs import JobRecord, JobRef
    from adapters.airflow import JobferryJobTrigger
    from adapters.vertex import VertexCustomJob
    from checkpoint import Workspace

    # The one patch on jobferry's side: its models read the benchmark's virtual clock.
    ExternalJobModel.clock = clock  # type: ignore[assignment,misc]
    ws = Workspace(Path(tempfile.mkdtemp(prefix="bench-airflow-")) / "ws")
    config = {
        "project": PROJECT,
        "location": LOCATION,
        "api_endpoint": f"grpc://{args.grpc}",
        "transport": "grpc",
        "credentials": "anonymous",
        "container_image_uri": "us-docker.pkg.dev/bench/trainer:1",
        "requests_per_minute": float(args.quota),
    }
    triggers = []
    for job in mine:
        model = VertexCustomJob()
        model.receive_config(config)
        model.bind(ws, job["pid"])
        connection = model.connection
        model.record = JobRecord(
            adapter=model.adapter_name,
            adapter_version=model.adapter_version,
            job=JobRef(adapter=model.adapter_name, job_id=job["name"]),
            connection=connection.model_dump(mode="json", exclude={"credentials"}, exclude_none=True),
            credentials=connection.credentials,
        )
        model.persist()  # what the train operator leaves behind before it defers
        triggers.append(JobferryJobTrigger(ws.url, job["pid"]))
    if mine:
        # Warm up before virtual time 0, as a running triggerer is: the vendor SDK imported, the gRPC channel
        # open (seconds of real time, which the speed-up would turn into many virtual minutes).
        from adapters._loading import load_job

        load_job(ws.url, mine[0]["pid"]).refresh()
    return triggers


def _google_triggers(args: argparse.Namespace, mine: list[dict[str, Any]], clock: ScaledClock) -> list[Any]:
    import grpc
    from airflow.providers.google.cloud.hooks.vertex_ai.custom_job import CustomJobAsyncHook
    from airflow.providers.google.cloud.triggers.vertex_ai import CustomJobTrigger
    from google.cloud.aiplatform_v1 import JobServiceAsyncClient
    from google.cloud.aiplatform_v1.services.job_service.transports import JobServiceGrpcAsyncIOTransport

    target = args.grpc

    async def get_job_service_client(self: Any, region: str | None = None) -> Any:
        # The only patch: the client reaches 127.0.0.1 without TLS (the hook would dial Google with TLS).
        channel = grpc.aio.insecure_channel(target)
        return JobServiceAsyncClient(transport=JobServiceGrpcAsyncIOTransport(channel=channel))

    CustomJobAsyncHook.get_job_service_client = get_job_service_client  # type: ignore[method-assign]
    return [
        CustomJobTrigger(
            project_id=PROJECT,
            location=LOCATION,
            custom_job_id=job["name"].rsplit("/", 1)[-1],
            poll_interval=PROVIDER_POLL_S / clock.speed,  # type: ignore[arg-type]  # its default, in virtual s
        )
        for job in mine
    ]


def trigger_process(args: argparse.Namespace) -> None:
    """One triggerer: every job's trigger started on one loop at its arrival; print the figures."""
    spec = json.loads(Path(args.jobs_file).read_text())
    mine = spec["jobs"][args.shard :: args.shards]
    clock = ScaledClock(args.m0, args.speedup)
    build = _jobferry_triggers if args.worker == "jobferry" else _google_triggers
    triggers = build(args, mine, clock)
    if clock.real_delay(0) < 1:
        print(f"warning: setup ran {-clock.real_delay(0):.1f} s past virtual time 0", file=sys.stderr)

    detected: dict[str, float] = {}
    outcome: dict[str, str] = {}
    lags: list[float] = []
    errors: list[str] = []
    leaked: dict[str, bool] = {}

    async def one(job: dict[str, Any], trigger: Any) -> None:
        await asyncio.sleep(max(0.0, clock.real_delay(job["arrival"])))
        event = await anext(trigger.run())
        detected[job["name"]] = clock.now()
        outcome[job["name"]] = str(event.payload.get("status"))
        leaked[job["name"]] = SECRET in json.dumps(event.payload, default=str)
        if outcome[job["name"]] != "success" and len(errors) < 3:
            errors.append(str(event.payload.get("message"))[:1500])

    async def main() -> None:
        stop = asyncio.Event()
        canary = asyncio.ensure_future(_canary(stop, lags))
        await asyncio.gather(*(one(job, t) for job, t in zip(mine, triggers, strict=True)))
        stop.set()
        await canary

    started = time.perf_counter()
    asyncio.run(main())
    print(
        json.dumps(
            {
                "detected": detected,
                "outcome": outcome,
                "lag_p99_ms": percentile(lags, 0.99) * 1000,
                "lag_max_ms": max(lags, default=0.0) * 1000,
                "wall_s": time.perf_counter() - started,
                "polls": sum(getattr(t, "polls", 0) for t in triggers),
                "errors": errors,
                "leaked": sum(leaked.values()),
            }
        )
    )


# -- the parent: one side = one emulator + N triggerer processes ----------------------------------------


def _env(google_site: Path | None, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(ROOT)] + ([str(google_site)] if google_site else [])
    env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="ERROR",
        AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT=json.dumps(
            {"conn_type": "google_cloud_platform", "extra": {"is_anonymous": True, "project": PROJECT}}
        ),
    )
    return env


def run_side(side: str, processes: int, args: argparse.Namespace) -> dict[str, Any]:
    jobs = workload(args.jobs, args.arrival_window, args.seed)
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-airflow-{side}-"))
    env = _env(args.google_site, tmp / "airflow-home")
    m0 = time.monotonic() + SETUP_S
    common = [
        "--jobs",
        str(args.jobs),
        "--arrival-window",
        str(args.arrival_window),
        "--seed",
        str(args.seed),
    ]
    common += ["--speedup", str(args.speedup), "--quota", str(args.quota), "--m0", repr(m0)]
    log_file = tmp / "log.json"
    emu = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--out", str(log_file), *common],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert emu.stdout is not None and emu.stdin is not None
    where = json.loads(emu.stdout.readline())
    spec = [
        {"name": name, "arrival": arrival, "total": total, "pid": f"job-{i}"}
        for i, (name, (arrival, total)) in enumerate(zip(where["names"], jobs, strict=True))
    ]
    (tmp / "jobs.json").write_text(json.dumps({"jobs": spec}))
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                side,
                "--jobs-file",
                str(tmp / "jobs.json"),
                "--grpc",
                where["grpc"],
                "--shard",
                str(i),
                "--shards",
                str(processes),
                *common,
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for i in range(processes)
    ]
    outs = []
    for worker in workers:
        out, _ = worker.communicate()
        if worker.returncode != 0:
            raise RuntimeError(f"{side} triggerer failed (exit {worker.returncode})")
        outs.append(json.loads(out.strip().splitlines()[-1]))
        for error in outs[-1]["errors"]:
            print(f"  {side} error event: {error}", file=sys.stderr)
    emu.stdin.close()
    emu.wait()
    entries = json.loads(log_file.read_text())["entries"]

    detected = {k: v for o in outs for k, v in o["detected"].items()}
    outcome = {k: v for o in outs for k, v in o["outcome"].items()}
    delays, ratios = [], []
    for job in spec:
        if outcome.get(job["name"]) != "success":
            continue
        delay = detected[job["name"]] - where["finish"][job["name"]]
        delays.append(delay)
        ratios.append(delay / max(0.1 * job["total"], 60.0))
    times = sorted(t for t, _ in entries)
    refused = sum(status == 429 for _, status in entries)
    return {
        "processes": processes,
        "status_calls": len(entries),
        "http_429": refused,
        "refused_pct": 100 * refused / max(1, len(entries)),
        "jobs_succeeded": sum(v == "success" for v in outcome.values()),
        "jobs_error_event": sum(v == "error" for v in outcome.values()),
        "delay_p50_s": statistics.median(delays) if delays else float("nan"),
        "delay_p95_s": percentile(delays, 0.95),
        "delay_max_s": max(delays, default=float("nan")),
        "delay_over_allowance_max": max(ratios, default=float("nan")),
        "jobs_over_2x_allowance": sum(r > 2 for r in ratios),
        "peak_calls_per_60s": peak_per_window(times),
        "events_with_the_secret": sum(o["leaked"] for o in outs),
        "loop_lag_p99_ms": max(o["lag_p99_ms"] for o in outs),
        "loop_lag_max_ms": max(o["lag_max_ms"] for o in outs),
        "wall_s": max(o["wall_s"] for o in outs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--arrival-window", type=float, default=3600.0)
    parser.add_argument("--quota", type=int, default=600, help="status calls per 60 s per project")
    parser.add_argument("--speedup", type=float, default=30.0)
    parser.add_argument("--processes", type=int, default=4, help="jobferry triggerers sharing the project")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--google-site", type=Path, default=None, help="site-packages holding the provider")
    parser.add_argument("--sides", default="jobferry,google,multi")
    parser.add_argument("--json", type=Path, default=None)
    # internal: the emulator and triggerer processes
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=("jobferry", "google"), help=argparse.SUPPRESS)
    parser.add_argument("--m0", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--jobs-file", help=argparse.SUPPRESS)
    parser.add_argument("--grpc", help=argparse.SUPPRESS)
    parser.add_argument("--shard", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--shards", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    if args.worker:
        trigger_process(args)
        return

    sides = [s for s in args.sides.split(",") if s]
    if "google" in sides and args.google_site is None:
        print("apache-airflow-providers-google not given (--google-site): its side is skipped\n")
        sides.remove("google")
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    for side in sides:
        if side == "multi":
            results[f"jobferry x{args.processes}"] = run_side("jobferry", args.processes, args)
        else:
            results[side] = run_side(side, 1, args)
        print(f"  {side} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    total_wall = time.perf_counter() - started

    print(
        f"{args.jobs} deferred Vertex AI custom jobs, 1 min..2 h (log-uniform), arrivals over "
        f"{args.arrival_window:g} s; quota {args.quota} status calls/60 s; "
        f"emulator x{args.speedup:g} over gRPC\n"
    )
    names = list(results)
    labels = {"jobferry": "jobferry (1 loop)", "google": "provider 10 s"}
    print(f"{'figure':26}" + "".join(f"{labels.get(n, n):>20}" for n in names))
    for key in next(iter(results.values())):
        cells = [results[n][key] for n in names]
        print(f"{key:26}" + "".join(f"{v:20.2f}" if isinstance(v, float) else f"{v!s:>20}" for v in cells))
    print(f"\ntotal wall time: {total_wall:.0f} s")
    goals: dict[str, bool] = {}
    ours, theirs, multi = (
        results.get("jobferry"),
        results.get("google"),
        results.get(f"jobferry x{args.processes}"),
    )
    if ours:
        goals["jobferry: every job seen to its end"] = ours["jobs_succeeded"] == args.jobs
        goals["jobferry: 0 x 429"] = ours["http_429"] == 0
        goals["jobferry: loop lag p99 < 50 ms"] = ours["loop_lag_p99_ms"] < 50
    if ours and theirs:
        # The provider's trigger ends with an error event at its first 429 (the task fails), so its measured
        # calls stop short of its jobs' ends; a fixed 10 s loop needs ceil(d / 10) + 1 calls to follow a job
        # of d seconds to its end (computed from the workload, not measured).
        workload_ = workload(args.jobs, args.arrival_window, args.seed)
        needed = sum(math.ceil(t / PROVIDER_POLL_S) + 1 for _, t in workload_)
        print(
            f"provider: {theirs['jobs_error_event']} of {args.jobs} triggers ended on a 429 (their tasks "
            f"fail); to follow every job to its end at {PROVIDER_POLL_S:g} s it needs {needed} calls "
            "(computed)"
        )
        ratio = ours["status_calls"] / theirs["status_calls"]
        goals[f"jobferry: <= 1/4 of the provider's status calls (measured: {ratio:.2f})"] = ratio <= 0.25
        ratio = ours["status_calls"] / needed
        goals[f"jobferry: <= 1/4 of the calls it needs to follow every job ({ratio:.2f})"] = ratio <= 0.25
    if multi:
        goals[f"{args.processes} triggerers: < 1% refused"] = multi["refused_pct"] < 1
        goals[f"{args.processes} triggerers: every job within 2x its allowance"] = (
            multi["jobs_over_2x_allowance"] == 0 and multi["jobs_succeeded"] == args.jobs
        )
    for goal, ok in goals.items():
        print(f"goal: {goal:70} {'ok' if ok else 'MISSED'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"args": {k: str(v) for k, v in vars(args).items() if k in ("jobs", "speedup", "quota")}}
        args.json.write_text(json.dumps(payload | results | {"goals": goals, "wall_s": total_wall}, indent=2))


if __name__ == "__main__":
    main()
