"""Benchmark: watching 1,000 Vertex AI training pipelines from one process, through the real GAPIC client.

The same comparison as ``bench_polling.py``, but end to end: every status call is a real
``PipelineServiceClient.get_training_pipeline`` over HTTP (REST transport) to the offline Vertex AI
emulator on 127.0.0.1, which enforces Vertex's per-project quota (``--quota`` resource-management requests
per 60 s, default 600) and answers 429 RESOURCE_EXHAUSTED with ``Retry-After`` beyond it.

Time is virtual: one :class:`FakeClock` drives the emulator (job progress, quota windows) and the models
(polling, rate limiting, retry backoff), so it only advances when the watcher sleeps. Durations and quotas are
honoured in virtual time with no real waiting; only the HTTP calls cost real time.

Workload: ``--jobs`` AutoML tabular pipelines, durations log-uniform from 1 min to 2 h of Vertex time (30 s
PENDING, then RUNNING for the rest: the ``emulator-seconds`` label), created at arrival times uniform over
``--arrival-window`` s. Pipelines are created directly through the emulator's state API (no quota, no HTTP),
with the emulator's clock pinned to each job's arrival while it is created; during the measurement the
emulator's clock *is* ``fake.now``. One ``VertexAutoMLTabular`` per pipeline (its own client, as a user would
build it) with a ``JobRecord`` pointing at it, all watched by one :class:`JobWatcher`:

* jobferry: the default :class:`PollPolicy` and ``requests_per_minute=--quota`` (the default retry policy);
* baseline (the Vertex SDK's behaviour): every job polled every 5 s, no client-side limiter; a 429 is retried
  (``Retry-After`` honoured, unlimited attempts).

Each side runs in its own subprocess (its own emulator, clock and peak RSS). Figures come from the emulator's
request log: every GET the emulator received (429s included), 429s, and the peak calls in any 60-s window.
Detection delay = virtual seconds from the job's end (as the emulator computes it) to the poll that saw it.

Reference: the poller that knows each job's age and polls again after ``max(10% of age, 60 s)`` (from age
60 s), which meets the allowance ``max(10% of duration, 60 s)`` exactly (:func:`reference_polls`), computed
for the same jobs; its calls are printed with jobferry's ratio to them.

Goals: jobferry makes at most 1.25x the reference schedule's calls and at most a third of the baseline's,
gets zero 429s, and its p95 detection delay is within max(10% of the job's duration, 60 s).

Usage: ``python tests/benchmarks/bench_vertex_polling.py [--jobs 1000] [--arrival-window 3600]
[--json out.json]``
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from adapters._clock import FakeClock  # noqa: E402
from adapters._credentials import CredentialRef  # noqa: E402
from adapters._jobs import JobRecord, JobRef  # noqa: E402
from adapters._poll import PollPolicy  # noqa: E402
from adapters._retry import RetryPolicy  # noqa: E402
from adapters._watch import JobWatcher  # noqa: E402

FIXED_5S = PollPolicy(initial=5, maximum=5, multiplier=1, floor_cap=5, jitter=0)
#: The baseline retries a 429 until it gets through (Retry-After honoured, as google-api-core would).
RETRY_FOREVER = RetryPolicy(max_attempts=1_000_000, deadline=None)
PENDING_S = 30
PROJECT, LOCATION = "bench", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
SIDES = ("jobferry", "baseline")


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


def allowance(duration: float) -> float:
    """How late the end of a job of ``duration`` s may be noticed: ``max(10% of duration, 60 s)``."""
    return max(0.1 * duration, 60.0)


def reference_polls(duration: float) -> int:
    """Status calls of the reference poller for one job: the fewest that meet the allowance knowing only age.

    It polls at age 60 s, then again after ``max(10% of age, 60 s)``, until a poll finds the job done: the
    end is then seen at most ``max(10% of age, 60 s) <= allowance(duration)`` late, and no poller that
    cannot see the future meets that bound with longer intervals. No poll at age 0 (it cannot be done).
    """
    age, polls = 60.0, 1
    while age < duration:
        age += max(0.1 * age, 60.0)
        polls += 1
    return polls


class _PinnableClock:
    """The emulator's clock: ``fake.now()``, except while a pipeline is being created at its arrival time."""

    def __init__(self, fake: FakeClock) -> None:
        self.fake = fake
        self.pinned: float | None = None

    def __call__(self) -> float:
        return self.fake.now() if self.pinned is None else self.pinned


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def peak_per_window(times: list[float], window: float = 60.0) -> int:
    """Most entries in any half-open ``window``-second interval (times sorted)."""
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


def run_side(side: str, n: int, window: float, quota: int, seed: int) -> dict[str, Any]:
    """One side in this process: emulator + models on one FakeClock; returns the figures."""
    from adapters.vertex import VertexAutoMLTabular
    from adapters.vertex._automl import VertexAutoMLTabularConfig
    from adapters.vertex.emulator import EmulatorConfig, Phases, Quotas, VertexEmulator

    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    jobs = workload(n, window, seed)
    fake = FakeClock()
    emu_clock = _PinnableClock(fake)
    config = EmulatorConfig(
        speedup=1.0,
        durations={"tabular": Phases(pending=PENDING_S, running=3600)},
        lro_seconds={"CreateDataset": 0.0},
        quotas=Quotas(resource_management=quota, job_creation=None),
        log_size=5_000_000,
        seed=seed,
    )
    ours = side == "jobferry"
    t_setup = time.perf_counter()
    with VertexEmulator(config, clock=emu_clock) as emu:
        state = emu.state
        op = state.create_dataset(
            PARENT,
            {
                "displayName": "bench",
                "metadataSchemaUri": "gs://s/tabular_1.0.0.yaml",
                "metadata": {"inputConfig": {"gcsSource": {"uri": ["gs://unmapped/data.csv"]}}},
            },
        )
        dataset = op["response"]["name"]
        names: list[str] = []
        for arrival, total in jobs:
            emu_clock.pinned = arrival
            doc = state.create_pipeline(
                PARENT,
                {
                    "displayName": f"bench-{len(names)}",
                    "trainingTaskDefinition": "gs://google-cloud-aiplatform/schema/trainingjob/definition/"
                    "automl_tabular_1.0.0.yaml",
                    "trainingTaskInputs": {"targetColumn": "y", "predictionType": "classification"},
                    "inputDataConfig": {"datasetId": dataset.rsplit("/", 1)[-1]},
                    "modelToUpload": {"displayName": f"bench-{len(names)}"},
                    "labels": {"emulator-seconds": str(total - PENDING_S)},
                },
            )
            names.append(doc["name"])
        emu_clock.pinned = None
        ends = {name: state.jobs["trainingPipelines"][name].finish for name in names}

        model_config = VertexAutoMLTabularConfig(
            project=PROJECT,
            location=LOCATION,
            api_endpoint=emu.url,
            credentials=CredentialRef.anonymous(),
            target_column="y",
            dataset=dataset,
            poll=PollPolicy() if ours else FIXED_5S,
            requests_per_minute=float(quota) if ours else 1e12,
            retry=RetryPolicy() if ours else RETRY_FOREVER,
        )
        detected: dict[str, float] = {}
        watcher = JobWatcher(
            clock=fake,
            on_update=lambda m, s: detected.__setitem__(m.job.job_id, fake.now()) if s.is_terminal else None,
        )
        for (arrival, _), name in zip(jobs, names, strict=True):
            model = VertexAutoMLTabular()
            model.clock = fake
            model.receive_config(model_config)
            model.record = JobRecord(
                adapter=model.adapter_name,
                adapter_version=model.adapter_version,
                job=JobRef(adapter=model.adapter_name, job_id=name),
            )
            watcher.add(model, first_poll_at=arrival)
        setup_s = time.perf_counter() - t_setup
        emu.app.log.reset()
        t0 = time.perf_counter()
        final = watcher.run(timeout=window + 7200 + 48 * 3600)  # bounded: two days of virtual time
        wall = time.perf_counter() - t0
        entries = [e for e in emu.app.log.entries if e.method == "GetTrainingPipeline"]
        gets = emu.counts["GetTrainingPipeline"]
        other_methods = {k: v for k, v in emu.counts.items() if k != "GetTrainingPipeline"}

    durations = {name: float(t) for name, (_, t) in zip(names, jobs, strict=True)}
    delays: list[float] = []
    ratios: list[float] = []
    over = 0
    for name, end in ends.items():
        delay = detected[name] - end
        allowed = allowance(durations[name])
        delays.append(delay)
        ratios.append(delay / allowed)
        over += delay > allowed
    times_all = sorted(e.time for e in entries)
    times_ok = sorted(e.time for e in entries if e.status == 200)
    return {
        "get_calls": gets,
        "get_calls_logged": len(entries),
        "reference_calls": sum(reference_polls(d) for d in durations.values()),
        "http_429": sum(e.status == 429 for e in entries),
        "other_errors": sum(e.status not in (200, 429) for e in entries),
        "other_methods": other_methods,
        "delay_p50_s": statistics.median(delays),
        "delay_p95_s": percentile(delays, 0.95),
        "delay_max_s": max(delays),
        "delay_over_allowed_p95": percentile(ratios, 0.95),
        "jobs_over_allowed": over,
        "peak_calls_per_60s": peak_per_window(times_all),
        "peak_ok_calls_per_60s": peak_per_window(times_ok),
        "jobs_succeeded": sum(s.state.value == "SUCCEEDED" for s in final.values()),
        "virtual_hours": fake.now() / 3600,
        "watcher_polls": watcher.polls,
        "setup_s": setup_s,
        "wall_s": wall,
        "real_ms_per_get": wall / max(gets, 1) * 1000,
        "rss_start_mb": rss_start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_child(side: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [
        sys.executable, __file__, "--child", side, "--jobs", str(args.jobs),
        "--arrival-window", str(args.arrival_window), "--quota", str(args.quota), "--seed", str(args.seed),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{side} child failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--arrival-window", type=float, default=3600.0)
    parser.add_argument(
        "--quota", type=int, default=600, help="GETs per 60 s per project (emulator + limiter)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sides", default=",".join(SIDES), help="comma-separated: jobferry,baseline")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(run_side(args.child, args.jobs, args.arrival_window, args.quota, args.seed)))
        return

    started = time.perf_counter()
    sides = [s for s in args.sides.split(",") if s]
    results = {side: run_child(side, args) for side in sides}
    total_wall = time.perf_counter() - started
    print(
        f"{args.jobs} Vertex training pipelines, 1 min..2 h (log-uniform), arrivals over "
        f"{args.arrival_window:g} s; quota {args.quota} GETs/60 s; real GAPIC REST client -> emulator\n"
    )
    ours, base = results.get("jobferry"), results.get("baseline")
    keys = [k for k in (ours or base or {}) if k != "other_methods"]
    print(f"{'figure':26} {'jobferry':>12} {'SDK 5 s':>12} {'ratio':>8}")
    for key in keys:
        a = ours.get(key) if ours else None
        b = base.get(key) if base else None
        ratio = f"{a / b:8.3f}" if isinstance(a, int | float) and isinstance(b, int | float) and b else ""
        shown = [f"{v:12.2f}" if isinstance(v, float) else f"{v!s:>12}" for v in (a, b)]
        print(f"{key:26} {shown[0]} {shown[1]} {ratio}")
    print(f"\ntotal wall time (both subprocesses): {total_wall:.1f} s")
    goals: dict[str, bool] = {}
    if ours:
        ref = ours["reference_calls"]
        print(
            f"calls / reference schedule (polls at max(10% of age, 60 s), {ref} calls): "
            f"{ours['get_calls'] / ref:.3f} (goal <= 1.25)"
        )
        goals["calls at most 1.25x the reference schedule"] = ours["get_calls"] <= 1.25 * ref
        goals["zero 429s"] = ours["http_429"] == 0
        goals["p95 delay within max(10% of duration, 60 s)"] = ours["delay_over_allowed_p95"] <= 1.0
        goals[f"never above {args.quota} calls per 60 s"] = ours["peak_calls_per_60s"] <= args.quota
    if ours and base:
        goals["calls at most 1/3 of baseline"] = ours["get_calls"] <= base["get_calls"] / 3
    for goal, ok in goals.items():
        print(f"goal: {goal:46} {'ok' if ok else 'MISSED'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"args": {k: v for k, v in vars(args).items() if k not in ("json", "child")}}
        args.json.write_text(
            json.dumps(payload | results | {"total_wall_s": total_wall, "goals": goals}, indent=2)
        )


if __name__ == "__main__":
    main()
