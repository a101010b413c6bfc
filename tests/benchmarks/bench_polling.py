"""Benchmark: watching 1,000 jobs of mixed durations from one process, against fixed 5-second polling.

Jobs run on the in-memory fake vendor on a fake clock (no real sleeping): durations are log-uniform from
1 minute to 2 hours, and submissions arrive uniformly over ``--arrival-window`` seconds. Both sides watch
the same jobs with :class:`adapters._watch.JobWatcher`:

* jobferry: the default :class:`PollPolicy` and a 600-requests-per-minute limiter for the project;
* baseline: every job polled every 5 s, no limiter (the Vertex AI SDK's behaviour).

Goals (issue 3): at most a third of the baseline's calls; p95 detection delay at most
max(10% of the job's duration, 60 s); never more than 600 calls in any 60-second window.

Usage: ``python tests/benchmarks/bench_polling.py [--jobs 1000] [--arrival-window 3600] [--json out.json]``
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from adapters._clock import FakeClock  # noqa: E402
from adapters._jobs import JobRecord, JobRef  # noqa: E402
from adapters._poll import PollPolicy  # noqa: E402
from adapters._retry import RetryPolicy  # noqa: E402
from adapters._watch import JobWatcher  # noqa: E402
from tests.fake_vendor import VENDORS, FakeConfig, FakeJob, FakeModel, FakeVendor  # noqa: E402

FIXED_5S = PollPolicy(initial=5, maximum=5, multiplier=1, floor_cap=5, jitter=0)


def workload(n: int, window: float, seed: int) -> list[tuple[float, float, float]]:
    """(arrival, queued seconds, running seconds) per job."""
    rng = random.Random(seed)
    jobs = []
    for _ in range(n):
        duration = math.exp(rng.uniform(math.log(60), math.log(7200)))
        queued = min(30.0, duration * 0.1)
        jobs.append((rng.uniform(0, window), queued, duration - queued))
    return jobs


def simulate(
    label: str, jobs: list[tuple[float, float, float]], poll: PollPolicy, rpm: float
) -> dict[str, Any]:
    clock = FakeClock()
    vendor = FakeVendor(clock=clock)
    name = f"bench-{label}"
    VENDORS[name] = vendor
    get_times: list[float] = []
    real_get = vendor.get

    def counting_get(job_id: str) -> FakeJob:
        get_times.append(clock.now())
        return real_get(job_id)

    vendor.get = counting_get  # type: ignore[method-assign]
    config = FakeConfig(vendor_name=name, poll=poll, requests_per_minute=rpm, retry=RetryPolicy())
    detected: dict[str, float] = {}
    watcher = JobWatcher(
        clock=clock,
        on_update=lambda m, s: detected.__setitem__(m.job.job_id, clock.now()) if s.is_terminal else None,
    )
    ends: dict[str, tuple[float, float]] = {}
    for i, (arrival, queued, running) in enumerate(jobs):
        job_id = f"job-{i}"
        vendor.jobs[job_id] = FakeJob(
            job_id, f"key{i}", {}, [("QUEUED", queued), ("TRAINING", running), ("DONE", 0.0)], arrival
        )
        ends[job_id] = (arrival + queued + running, queued + running)
        model = FakeModel()
        model.clock = clock
        model.receive_config(config)
        model.record = JobRecord(
            adapter="fake", adapter_version="bench", job=JobRef(adapter="fake", job_id=job_id)
        )
        watcher.add(model, first_poll_at=arrival)
    t0 = time.perf_counter()
    watcher.run()
    wall = time.perf_counter() - t0
    delays, over = [], 0
    ratios = []
    for job_id, (end, duration) in ends.items():
        delay = detected[job_id] - end
        allowed = max(0.1 * duration, 60.0)
        delays.append(delay)
        ratios.append(delay / allowed)
        over += delay > allowed
    get_times.sort()
    peak_window = max((bisect.bisect_left(get_times, t + 60) - i for i, t in enumerate(get_times)), default=0)
    delays.sort()
    ratios.sort()
    return {
        "calls": len(get_times),
        "delay_p50_s": statistics.median(delays),
        "delay_p95_s": delays[int(0.95 * len(delays)) - 1],
        "delay_max_s": delays[-1],
        "delay_over_allowed_p95": ratios[int(0.95 * len(ratios)) - 1],
        "jobs_over_allowed": over,
        "peak_calls_per_60s": peak_window,
        "simulated_hours": clock.now() / 3600,
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--arrival-window", type=float, default=3600.0)
    parser.add_argument("--quota", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    jobs = workload(args.jobs, args.arrival_window, args.seed)
    ours = simulate("jobferry", jobs, PollPolicy(), args.quota)
    base = simulate("fixed5s", jobs, FIXED_5S, 1e12)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.jobs} jobs, durations 1 min..2 h (log-uniform), arrivals over {args.arrival_window:g} s\n")
    print(f"{'figure':26} {'jobferry':>12} {'fixed 5 s':>12} {'ratio':>8}")
    for key in ours:
        a, b = ours[key], base[key]
        ratio = f"{a / b:8.3f}" if isinstance(a, int | float) and b else ""
        print(f"{key:26} {a:12.2f} {b:12.2f} {ratio}")
    print(f"\npeak RSS: {rss:.0f} MB")
    goals = {
        "calls at most 1/3 of baseline": ours["calls"] <= base["calls"] / 3,
        "p95 delay within max(10% of duration, 60 s)": ours["delay_over_allowed_p95"] <= 1.0,
        f"never above {args.quota:g} calls per 60 s": ours["peak_calls_per_60s"] <= args.quota,
    }
    for goal, ok in goals.items():
        print(f"goal: {goal:46} {'ok' if ok else 'MISSED'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"jobferry": ours, "fixed5s": base, "peak_rss_mb": rss, "goals": goals}, indent=2)
        )


if __name__ == "__main__":
    main()
