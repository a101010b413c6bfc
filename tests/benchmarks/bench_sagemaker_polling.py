"""Benchmark: watching 1,000 SageMaker training jobs -- jobferry's poll loop against boto3's own waiter.

Both sides are real code over real HTTP against the SageMaker emulator on 127.0.0.1, on virtual time:

* jobferry (twice: the default policy, and one capped at boto3's 120 s): one ``SageMakerTrainingJob``
  per job (a ``JobRecord`` naming it), all watched by one
  :class:`~adapters.JobWatcher` on a :class:`FakeClock` that also drives the emulator: the default
  :class:`PollPolicy` (adaptive: 5 s at first, then a tenth of the job's age, capped) under the default
  status-call rate limit.
* boto3: ``client.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=...)``, botocore's
  own waiter definition (read from botocore here: every 120 s, up to 180 attempts), with ``time.sleep``
  inside botocore's waiter module pointed at a FakeClock. A waiter holds no state across jobs, so each job
  is waited for on its own clock starting at its arrival (as 1,000 threads would, without 1,000 threads).

The SageMaker SDK's ``wait()`` (``Session.wait_for_job``, a fixed poll of 5 s) is not run -- jobferry uses
boto3 only, and the SDK is not installed -- so its figures are computed from that interval, marked
"modelled".

Workload: ``--jobs`` jobs, total durations log-uniform from 5 min to 8 h of SageMaker time (Starting 60 s,
Downloading 30 s, Uploading 30 s, Training the rest), arrivals uniform over ``--arrival-window`` s.
Calls are DescribeTrainingJob requests the emulator received; detection delay is virtual seconds from the
job's end (as the emulator computes it) to the call that saw it. A waiter that runs out of attempts
(jobs longer than 180 x 120 s = 6 h) raises WaiterError: counted as "gave up", no delay.

Usage: ``python tests/benchmarks/bench_sagemaker_polling.py [--jobs 1000] [--arrival-window 3600] [--json F]``
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
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
from adapters._watch import JobWatcher  # noqa: E402
from adapters.sagemaker import SageMakerTrainingJob  # noqa: E402
from adapters.sagemaker.emulator import SageMakerEmulator, TrainingPhases  # noqa: E402

PHASES = TrainingPhases(starting=60, downloading=30, training=0, uploading=30)
ROLE = "arn:aws:iam::123456789012:role/bench"
SDK_POLL = 5.0  # sagemaker.session.Session.wait_for_job(job, poll=5)


def workload(n: int, window: float, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    lo, hi = math.log(300), math.log(8 * 3600)
    return sorted((rng.uniform(0, window), math.exp(rng.uniform(lo, hi))) for _ in range(n))


def _request(name: str, seconds: float) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://bench/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bench/t"}},
            }
        ],
        "HyperParameters": {"emulator-seconds": f"{seconds:.3f}"},
    }


class SwitchableClock:
    """The emulator's clock, pointing at whichever FakeClock the side being measured runs on."""

    def __init__(self) -> None:
        self.current = FakeClock()

    def __call__(self) -> float:
        return self.current.now()


def create_jobs(
    emu: SageMakerEmulator, clock: SwitchableClock, jobs: list[tuple[float, float]]
) -> dict[str, float]:
    """Create the jobs in the emulator at their arrival times; return each job's end time."""
    ends: dict[str, float] = {}
    emu.put_object("s3://bench/t/a.csv", b"1,1\n2,2\n3,4\n")
    for i, (arrival, total) in enumerate(jobs):
        clock.current = FakeClock(arrival)
        name = f"bench-{i:05d}"
        emu.state.create_training_job(_request(name, total - 120))
        job = emu.state.training_jobs[name]
        ends[name] = job.created + sum(s for _, s in job.phases)
    return ends


def run_jobferry(
    jobs: list[tuple[float, float]], window: float, poll: PollPolicy | None = None
) -> dict[str, Any]:
    clock = SwitchableClock()
    with SageMakerEmulator(clock=clock, training=PHASES) as emu:
        ends = create_jobs(emu, clock, jobs)
        fake = FakeClock(0.0)
        clock.current = fake
        detected: dict[str, float] = {}
        watcher = JobWatcher(
            clock=fake,
            on_update=lambda m, s: detected.__setitem__(m.job.job_id, fake.now()) if s.is_terminal else None,
        )
        config = {"endpoint_url": emu.url, "credentials": CredentialRef.anonymous(), "role_arn": ROLE}
        config |= {"training_image": "img", "output_path": "s3://bench/out", "poll": poll or PollPolicy()}
        for (arrival, _), name in zip(jobs, ends, strict=True):
            model = SageMakerTrainingJob()
            model.clock = fake
            model.receive_config(config)
            model.record = JobRecord(
                adapter=model.adapter_name,
                adapter_version=model.adapter_version,
                job=JobRef(adapter=model.adapter_name, job_id=name),
            )
            watcher.add(model, first_poll_at=arrival)
        emu.app.log.reset()
        t0 = time.perf_counter()
        watcher.run(timeout=window + 48 * 3600)
        wall = time.perf_counter() - t0
        calls = emu.counts["DescribeTrainingJob"]
        times = sorted(e.time for e in emu.app.log.entries if e.method == "DescribeTrainingJob")
    delays = [detected[n] - end for n, end in ends.items()]
    return {"calls": calls, "delays": delays, "gave_up": 0, "wall_s": wall, "peak_per_min": _peak(times, 60)}


def run_waiter(jobs: list[tuple[float, float]]) -> dict[str, Any]:
    import boto3
    import botocore.waiter
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import WaiterError

    clock = SwitchableClock()
    with SageMakerEmulator(clock=clock, training=PHASES) as emu:
        ends = create_jobs(emu, clock, jobs)
        config = Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1, "mode": "standard"})
        client = boto3.client("sagemaker", endpoint_url=emu.url, region_name="us-east-1", config=config)
        waiter = client.get_waiter("training_job_completed_or_stopped")
        delay, attempts = waiter.config.delay, waiter.config.max_attempts
        emu.app.log.reset()
        delays: list[float] = []
        gave_up = 0
        real_sleep = botocore.waiter.time.sleep
        t0 = time.perf_counter()
        try:
            for (arrival, _), name in zip(jobs, ends, strict=True):
                fake = FakeClock(arrival)
                clock.current = fake
                botocore.waiter.time.sleep = fake.sleep  # type: ignore[assignment]
                try:
                    waiter.wait(TrainingJobName=name)
                    delays.append(fake.now() - ends[name])
                except WaiterError:
                    gave_up += 1
        finally:
            botocore.waiter.time.sleep = real_sleep  # type: ignore[assignment]
        wall = time.perf_counter() - t0
        calls = emu.counts["DescribeTrainingJob"]
        times = sorted(e.time for e in emu.app.log.entries if e.method == "DescribeTrainingJob")
    return {
        "calls": calls,
        "delays": delays,
        "gave_up": gave_up,
        "wall_s": wall,
        "waiter": {"delay": delay, "max_attempts": attempts},
        "peak_per_min": _peak(times, 60),
    }


def model_sdk(jobs: list[tuple[float, float]]) -> dict[str, Any]:
    calls = 0
    delays = []
    for _, total in jobs:
        # Polls at 0, 5, 10, ... s after the create; the first at or after the end sees it.
        seeing = math.ceil(total / SDK_POLL)
        calls += seeing + 1
        delays.append(seeing * SDK_POLL - total)
    return {"calls": calls, "delays": delays, "gave_up": 0, "modelled": True}


def _peak(times: list[float], width: float) -> int:
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def summary(name: str, got: dict[str, Any], n: int) -> dict[str, Any]:
    d = sorted(got["delays"])
    pct = lambda q: d[min(len(d) - 1, int(q * len(d)))] if d else float("nan")  # noqa: E731
    return {
        "side": name,
        "calls": got["calls"],
        "calls_per_job": got["calls"] / n,
        "detected": len(d),
        "gave_up": got["gave_up"],
        "delay_mean_s": statistics.fmean(d) if d else float("nan"),
        "delay_p50_s": pct(0.5),
        "delay_p95_s": pct(0.95),
        "delay_max_s": d[-1] if d else float("nan"),
        "peak_calls_per_min": got.get("peak_per_min"),
        "wall_s": got.get("wall_s"),
        "modelled": got.get("modelled", False),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--arrival-window", type=float, default=3600.0)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--json")
    args = parser.parse_args()
    jobs = workload(args.jobs, args.arrival_window, args.seed)
    waiter = run_waiter(jobs)
    rows = [
        summary(
            "jobferry JobWatcher (default PollPolicy)", run_jobferry(jobs, args.arrival_window), args.jobs
        ),
        summary(
            "jobferry JobWatcher (PollPolicy maximum=120)",
            run_jobferry(jobs, args.arrival_window, PollPolicy(maximum=120, floor_cap=60)),
            args.jobs,
        ),
        summary(
            f"boto3 waiter ({waiter['waiter']['delay']} s x {waiter['waiter']['max_attempts']})",
            waiter,
            args.jobs,
        ),
        summary("SageMaker SDK wait() (5 s poll, modelled)", model_sdk(jobs), args.jobs),
    ]
    print(f"{args.jobs} jobs, durations 5 min..8 h log-uniform, arrivals over {args.arrival_window:g} s")
    head = f"{'side':44} {'calls':>8} {'/job':>6} {'gave up':>7} {'delay p50':>9} {'p95':>7} {'max':>7}"
    head += f" {'peak/min':>8}"
    print(head)
    for r in rows:
        peak = "-" if r["peak_calls_per_min"] is None else str(r["peak_calls_per_min"])
        print(
            f"{r['side']:44} {r['calls']:>8} {r['calls_per_job']:>6.1f} {r['gave_up']:>7} "
            f"{r['delay_p50_s']:>8.1f}s {r['delay_p95_s']:>6.1f}s {r['delay_max_s']:>6.1f}s {peak:>8}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
