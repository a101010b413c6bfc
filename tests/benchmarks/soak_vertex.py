"""Soak test: VertexAutoMLTabular's exactly-once promise under transient errors, lost responses and kills.

Everything runs on 127.0.0.1 against the offline Vertex AI emulator (``adapters.vertex.emulator``) served
from this process; no cloud account, no network.

Phase 1 (``--cycles``): full life cycles -- train -> wait -> deploy -> predict a few rows -- each with its
own plugin instance in one workspace, run concurrently (``--workers`` threads) against ONE emulator that
fails ``--error-rate`` of the calls of every method with 429 / 500 / 503 (before any effect) and drops
``--drop-rate`` of the responses of CreateTrainingPipeline, CreateDataset, CreateEndpoint and DeployModel
after their effect (the connection is closed without a byte).

Phase 2 (``--kills``): ``jobferry train SPEC`` subprocesses (talking to the emulator of this process) are
SIGKILLed at a seeded random moment between process start and shortly after the pipeline's create, then
``jobferry train SPEC --wait`` is run to completion. Each plugin instance must end with exactly one
pipeline and a loadable checkpoint that reports SUCCEEDED. Kill moments: a seeded quarter fall uniformly in
start-up [0, first request], the rest uniformly over [first request, exit + 25 %]; the window is measured
by calibration runs (same concurrency) and rescaled to unkilled runs interleaved with the kills (the
machine's load drifts; a killed run's own times are censored by the kill).
Creates and lists get a little latency (the pipeline create twice as much) so the window is hittable. A
kill is classified by what exists once in-flight requests have settled: intent record, pipeline,
checkpoint.

Phase 3 (``--job-cycles``): life cycles -- train -> wait -> outputs -- of the two adapters of Vertex AI
Pipelines and hyperparameter tuning (``vertex-pipeline-job`` with a compiled pipeline,
``vertex-hyperparameter-tuning-job`` with a small study), alternating, on ``--workers`` threads, under the
same fault mix, with the responses of CreatePipelineJob and CreateHyperparameterTuningJob dropped after
their effect. Counted per adapter: completed, duplicate jobs (per plugin instance or per key), lost jobs,
unhandled; and the ListPipelineJobs calls, which must be 0 (pipeline jobs are adopted by their
client-chosen ID: the 409, or one get).

Counted: completed cycles, duplicate pipelines (more than one pipeline for one plugin instance, or for one
``jobferry-key`` label), lost job IDs (a pipeline no checkpoint's job.json references, or a plugin instance
without a loadable checkpoint), unhandled exceptions (anything escaping a cycle or a failed rerun), retries
(``on_retry`` events of the RetryPolicy, and the emulator's faulted / dropped responses), requests per
method. Also reported, not goals: duplicate datasets, endpoints and deployments per plugin instance.

Goals: 100 % completed, 0 duplicate pipelines, 0 lost, 0 unhandled; the exit code is 1 when one is missed.

Usage: ``python tests/benchmarks/soak_vertex.py [--cycles 200] [--kills 50] [--job-cycles 100]
[--json out.json]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import PrivateAttr

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # runnable from a checkout

from adapters._clock import SYSTEM_CLOCK, Clock  # noqa: E402
from adapters._loading import load_job  # noqa: E402
from adapters._retry import RetryEvent, RetryPolicy  # noqa: E402
from adapters._spec import JobSpec  # noqa: E402
from adapters.vertex import VertexAutoMLTabular  # noqa: E402
from adapters.vertex._base import LABEL_KEY  # noqa: E402
from adapters.vertex.emulator import ROUTES, EmulatorConfig, FaultSpec, Phases, Quotas, VertexEmulator  # noqa: E402
from checkpoint import Workspace  # noqa: E402

T = TypeVar("T")

DATA = ROOT / "examples" / "data" / "fruit.csv"
BUCKET = "jobferry-soak"
PROJECT = "jobferry-soak"
LOCATION = "us-central1"
COLUMNS = ["weight_g", "diameter_cm", "hue", "sugar_brix", "fruit"]
TARGET = "fruit"
METHODS: tuple[str, ...] = tuple(sorted({route.method for route in ROUTES}))
#: Creates whose responses are dropped after their effect.
DROP_METHODS = frozenset(
    {
        "CreateTrainingPipeline",
        "CreateDataset",
        "CreateEndpoint",
        "DeployModel",
        "CreatePipelineJob",
        "CreateHyperparameterTuningJob",
    }
)
#: Methods slowed down in phase 2, so that the window between start-up and the persist is hittable.
SLOW_METHODS = frozenset(
    {"ListDatasets", "CreateDataset", "ListTrainingPipelines", "CreateTrainingPipeline", "GetOperation"}
)
PIPELINES = "trainingPipelines"
STAGES = (
    "before create (no intent yet)",
    "before create (intent written)",
    "between create (sent) and persist",
    "after persist (still running)",
    "process had exited",
)


@dataclass(frozen=True)
class SoakSettings:
    """Sizes, fault mix and policies of one soak run (the defaults are the full soak)."""

    cycles: int = 200
    workers: int = 8
    kills: int = 50
    job_cycles: int = 100
    kill_workers: int = 2
    calibration_runs: int = 4
    recalibrate_every: int = 5
    seed: int = 20240611
    error_rate: float = 0.3
    codes: tuple[int, ...] = (429, 500, 503)
    retry_after: float = 0.01
    drop_rate: float = 0.1
    speedup: float = 14_400.0
    lro_real_seconds: float = 0.05
    deploy_real_seconds: float = 0.1
    rows: int = 5
    retry_initial: float = 0.005
    retry_maximum: float = 0.05
    # 12 attempts lose a create about once in 1,000 under this mix: an attempt of a create is a lookup
    # *and* a create (about 0.7 * 0.63 ~ 0.44 success), so 0.56 ** 12 ~ 1e-3 per create; 16 makes it ~1e-4.
    max_attempts: int = 16
    deadline: float = 60.0
    # Retry-After goes over the wire in whole seconds (0.01 is sent as "1"): cap what the client honours.
    max_retry_after: float = 0.02
    poll_initial: float = 0.05
    poll_maximum: float = 0.25
    kill_latency: float = 0.2
    kill_error_rate: float = 0.1
    cycle_timeout: float = 300.0
    rerun_timeout: float = 180.0


# -- retry counting ---------------------------------------------------------------------------------------


class CountingRetryPolicy(RetryPolicy):
    """A RetryPolicy that records every ``on_retry`` event of every call made under it."""

    _events: list[RetryEvent] = PrivateAttr(default_factory=list)

    @property
    def events(self) -> list[RetryEvent]:
        """The retry events so far (appended from any thread)."""
        return self._events

    def call(
        self,
        fn: Callable[[], T],
        *,
        what: str = "call",
        clock: Clock = SYSTEM_CLOCK,
        on_retry: Callable[[RetryEvent], None] | None = None,
        rng: random.Random | None = None,
    ) -> T:
        def count(event: RetryEvent) -> None:
            self._events.append(event)
            if on_retry is not None:
                on_retry(event)

        return super().call(fn, what=what, clock=clock, on_retry=count, rng=rng)


_IDS = re.compile(r"\s+(jf[0-9a-f]{32}|projects/\S+|\d+)$")


def operation_kind(what: str) -> str:
    """``what`` of a retry event without the key or resource name it ends with."""
    return _IDS.sub("", what)


def retry_fields(settings: SoakSettings) -> dict[str, Any]:
    """The ``[config.retry]`` table of the specs."""
    return {
        "initial": settings.retry_initial,
        "maximum": settings.retry_maximum,
        "max_attempts": settings.max_attempts,
        "deadline": settings.deadline,
        "max_retry_after": settings.max_retry_after,
    }


# -- the emulator and the specs ---------------------------------------------------------------------------


def emulator_config(settings: SoakSettings, *, kills: bool = False) -> EmulatorConfig:
    """The emulator of phase 1 (``kills=False``) or phase 2: fast jobs, short LROs, faults everywhere."""
    lro = settings.lro_real_seconds * settings.speedup
    faults: dict[str, FaultSpec] = {}
    for method in METHODS:
        faults[method] = FaultSpec(
            error_rate=settings.kill_error_rate if kills else settings.error_rate,
            codes=list(settings.codes),
            retry_after=settings.retry_after,
            drop_response_rate=settings.drop_rate if method in DROP_METHODS else 0.0,
            latency=_kill_latency(settings, method) if kills else 0.0,
        )
    return EmulatorConfig(
        speedup=settings.speedup,
        # an hour of "Vertex time" for AutoML tabular: about 0.3 s at the default speedup
        durations={"tabular": Phases(pending=600, running=3600)},
        lro_seconds={
            "CreateDataset": lro,
            "CreateEndpoint": lro,
            "DeployModel": settings.deploy_real_seconds * settings.speedup,
            "UndeployModel": lro,
        },
        bucket_map={BUCKET: str(DATA.parent)},
        faults=faults,
        # Vertex's 600 requests a minute would turn the soak into a quota test; faults are what we test.
        quotas=Quotas(resource_management=None, job_creation=None, online_prediction=None),
        seed=settings.seed + (1 if kills else 0),
        log_size=5_000_000,
    )


def _kill_latency(settings: SoakSettings, method: str) -> float:
    # The create itself is slowest: a kill while it is in flight is the case reconciliation exists for.
    if method == "CreateTrainingPipeline":
        return 2 * settings.kill_latency
    return settings.kill_latency if method in SLOW_METHODS else 0.0


def spec_dict(
    plugin_instance: str, url: str, settings: SoakSettings, workspace: str | None = None
) -> dict[str, Any]:
    """The job spec (what a TOML spec file parses to) of one plugin instance."""
    spec: dict[str, Any] = {
        "adapter": "vertex-automl-tabular",
        "plugin_instance": plugin_instance,
        "config": {
            "project": PROJECT,
            "location": LOCATION,
            "api_endpoint": url,
            "credentials": "anonymous",
            "dataset_source": [f"gs://{BUCKET}/{DATA.name}"],
            "target_column": TARGET,
            "prediction_type": "classification",
            "optimization_objective": "minimize-log-loss",
            "column_names": COLUMNS,
            "labels": {"soak": "vertex"},
            "call_timeout": 30.0,
            # The emulator is ours: do not let the client-side quota limiter throttle the soak.
            "requests_per_minute": 120_000.0,
            "submissions_per_minute": 120_000.0,
            "retry": retry_fields(settings),
            "poll": {
                "initial": settings.poll_initial,
                "maximum": settings.poll_maximum,
                "floor_cap": settings.poll_maximum,
            },
        },
        "input": {},
    }
    if workspace is not None:
        spec["workspace"] = workspace
    return spec


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def to_toml(data: Mapping[str, Any], table: str = "") -> str:
    """A minimal TOML writer for spec dicts: scalars and lists inline, nested dicts as [tables]."""
    lines = [f"[{table}]"] if table else []
    subtables = []
    for key, value in data.items():
        if isinstance(value, dict) and key not in ("labels",):
            subtables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    text = "\n".join(lines) + "\n"
    for key, value in subtables:
        text += "\n" + to_toml(value, f"{table}.{key}" if table else key)
    return text


def sample_instances(rows: int) -> list[dict[str, str]]:
    """The first ``rows`` rows of fruit.csv without the target column."""
    with open(DATA, newline="") as f:
        reader = csv.DictReader(f)
        return [
            {k: v for k, v in row.items() if k != TARGET} for _, row in zip(range(rows), reader, strict=False)
        ]


# -- auditing the emulator and the workspace --------------------------------------------------------------


def _snapshot(items: Callable[[], Iterable[T]]) -> list[T]:
    # Server threads may add resources meanwhile; a dict changing during a copy raises RuntimeError.
    for _ in range(100):
        try:
            return list(items())
        except RuntimeError:
            time.sleep(0.001)
    return list(items())


def pipelines_of(emu: VertexEmulator, plugin_instance: str | None = None) -> list[dict[str, Any]]:
    """The emulator's training pipelines (name, displayName, labels), all or one plugin instance's."""
    jobs = _snapshot(lambda: emu.state.jobs[PIPELINES].values())
    docs = [
        {
            "name": job.doc["name"],
            "displayName": job.doc.get("displayName"),
            "labels": job.doc.get("labels") or {},
        }
        for job in jobs
    ]
    return [d for d in docs if plugin_instance is None or d["displayName"] == plugin_instance]


def checkpoint_job_id(
    workspace: Workspace, plugin_instance: str
) -> tuple[str | None, str | None, str | None]:
    """(job ID, last state, error) of a plugin instance's checkpoint, loaded as another process would."""
    try:
        model = load_job(workspace, plugin_instance)
    except Exception as exc:
        return None, None, f"{type(exc).__name__}: {exc}"
    record = model.record
    if record is None or record.job is None:
        return None, None, "checkpoint holds no job"
    state = record.last_status.state.value if record.last_status else None
    return record.job.job_id, state, None


@dataclass
class Audit:
    """What the emulator holds against what the checkpoints say."""

    pipelines: int = 0
    duplicate_pipelines: int = 0
    duplicate_keys: int = 0
    lost_pipelines: list[str] = field(default_factory=list)
    missing_checkpoints: list[str] = field(default_factory=list)
    duplicate_datasets: int = 0
    duplicate_endpoints: int = 0
    duplicate_deployments: int = 0
    duplicated: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return len(self.lost_pipelines) + len(self.missing_checkpoints)


def audit(emu: VertexEmulator, workspace: Workspace, plugin_instances: Sequence[str]) -> Audit:
    """Group the emulator's resources by plugin instance (display name) and by submission key."""
    result = Audit()
    pipelines = pipelines_of(emu)
    result.pipelines = len(pipelines)
    per_instance = Counter(str(p["displayName"]) for p in pipelines)
    per_key = Counter(p["labels"].get(LABEL_KEY) for p in pipelines)
    result.duplicate_pipelines = sum(n - 1 for n in per_instance.values() if n > 1)
    result.duplicate_keys = sum(n - 1 for key, n in per_key.items() if key and n > 1)
    referenced: set[str] = set()
    for pid in plugin_instances:
        job_id, _, error = checkpoint_job_id(workspace, pid)
        if job_id is None:
            result.missing_checkpoints.append(f"{pid}: {error}")
        else:
            referenced.add(job_id)
    result.lost_pipelines = sorted(p["name"] for p in pipelines if p["name"] not in referenced)

    datasets = Counter(str(d.get("displayName")) for d in _snapshot(lambda: emu.state.datasets.values()))
    endpoints = _snapshot(lambda: emu.state.endpoints.items())
    per_endpoint = Counter(str(doc.get("displayName")) for _, doc in endpoints)
    deployments: Counter[str] = Counter()
    for name, doc in endpoints:
        deployments[str(doc.get("displayName"))] += len(emu.state.deployed.get(name) or [])
    for kind, counter in (("pipelines", per_instance), ("datasets", datasets), ("endpoints", per_endpoint)):
        for pid, n in counter.items():
            if n > 1:
                result.duplicated.setdefault(pid, {})[kind] = n
    for pid, n in deployments.items():
        if n > 1:
            result.duplicated.setdefault(pid, {})["deployments"] = n
    result.duplicate_datasets = sum(n - 1 for n in datasets.values() if n > 1)
    result.duplicate_endpoints = sum(n - 1 for n in per_endpoint.values() if n > 1)
    result.duplicate_deployments = sum(n - 1 for n in deployments.values() if n > 1)
    return result


def log_summary(emu: VertexEmulator) -> dict[str, int]:
    """Responses in the emulator's log: ok, errors (4xx/5xx, faulted or not) and dropped."""
    entries = emu.app.log.entries
    dropped = Counter(e.method for e in entries if e.status == 0)
    return {
        **{f"dropped {method}": n for method, n in sorted(dropped.items())},
        "ok": sum(1 for e in entries if 200 <= e.status < 300),
        "errors": sum(1 for e in entries if e.status >= 400),
        "dropped": sum(1 for e in entries if e.status == 0),
        "requests": sum(emu.counts.values()),
    }


# -- phase 1: life cycles ---------------------------------------------------------------------------------


@dataclass
class CycleResult:
    """One life cycle."""

    plugin_instance: str
    completed: bool = False
    job_id: str | None = None
    error: str | None = None
    traceback: str | None = None
    retries: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def run_cycle(
    index: int, url: str, workspace: Workspace, settings: SoakSettings, instances: list[dict[str, str]]
) -> CycleResult:
    """train -> wait -> deploy -> predict for plugin instance ``soak-{index}``; never raises."""
    pid = f"soak-{index:04d}"
    result = CycleResult(pid)
    policy = CountingRetryPolicy(**retry_fields(settings))
    started = time.monotonic()
    try:
        spec = JobSpec.from_dict(spec_dict(pid, url, settings))
        model = VertexAutoMLTabular()
        model.receive_config(spec.adapter_config.model_copy(update={"retry": policy}))
        model.bind(workspace, pid)
        model.train(spec.train_request(workspace))
        result.job_id = model.job.job_id
        model.raise_for_status(model.wait(timeout=settings.cycle_timeout))
        model.deploy(machine_type="n1-standard-2")
        predictions = model.run(instances)
        if len(predictions) != len(instances) or not all(
            isinstance(p, dict) and p.get("classes") and p.get("scores") for p in predictions
        ):
            raise AssertionError(f"unexpected predictions for {len(instances)} rows: {predictions!r:.300}")
        result.completed = True
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        result.traceback = traceback.format_exc()
    result.retries = dict(Counter(operation_kind(e.what) for e in policy.events))
    result.seconds = time.monotonic() - started
    return result


@dataclass
class CycleReport:
    """Phase 1's figures."""

    cycles: int
    completed: int
    unhandled: int
    audit: Audit
    retries: int
    retries_by_call: dict[str, int]
    emulator: dict[str, int]
    requests_by_method: dict[str, int]
    faults_injected: dict[str, int]
    errors: list[str]
    cycle_seconds_median: float
    cycle_seconds_max: float
    wall_seconds: float

    @property
    def goals_met(self) -> bool:
        return (
            self.completed == self.cycles
            and self.audit.duplicate_pipelines == 0
            and self.audit.duplicate_keys == 0
            and self.audit.lost == 0
            and self.unhandled == 0
        )


def run_cycles(
    settings: SoakSettings, root: Path, progress: Callable[[str], None] | None = None
) -> CycleReport:
    """Phase 1: ``settings.cycles`` life cycles on ``settings.workers`` threads against one emulator."""
    workspace = Workspace(str(root / "ws-cycles"))
    instances = sample_instances(settings.rows)
    started = time.monotonic()
    with VertexEmulator(emulator_config(settings)) as emu:
        JobSpec.from_dict(spec_dict("warm-up", emu.url, settings))  # import the adapter once, not per thread
        results: list[CycleResult] = []
        with ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="soak") as pool:
            futures = [
                pool.submit(run_cycle, i, emu.url, workspace, settings, instances)
                for i in range(settings.cycles)
            ]
            for n, future in enumerate(futures, 1):
                results.append(future.result())
                if progress is not None and (n % 25 == 0 or n == len(futures)):
                    done = sum(r.completed for r in results)
                    progress(f"  cycles: {n}/{len(futures)} finished, {done} completed")
        wall = time.monotonic() - started
        the_audit = audit(emu, workspace, [r.plugin_instance for r in results])
        retries: Counter[str] = Counter()
        for r in results:
            retries.update(r.retries)
        seconds = sorted(r.seconds for r in results) or [0.0]
        return CycleReport(
            cycles=settings.cycles,
            completed=sum(r.completed for r in results),
            unhandled=sum(r.error is not None for r in results),
            audit=the_audit,
            retries=sum(retries.values()),
            retries_by_call=dict(retries.most_common()),
            emulator=log_summary(emu),
            requests_by_method=dict(sorted(emu.counts.items())),
            faults_injected=dict(sorted(emu.faults.injected.items())),
            errors=[f"{r.plugin_instance}: {r.error}\n{r.traceback}" for r in results if r.error],
            cycle_seconds_median=seconds[len(seconds) // 2],
            cycle_seconds_max=seconds[-1],
            wall_seconds=wall,
        )


# -- phase 2: kills ---------------------------------------------------------------------------------------


def jobferry_command() -> list[str]:
    """How to run the ``jobferry`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("jobferry")
    if script.exists():
        return [str(script)]
    found = shutil.which("jobferry")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from adapters._cli import main; sys.exit(main())"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "JOBFERRY_WORKSPACE"}
    env["NO_COLOR"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def write_spec(path: Path, plugin_instance: str, url: str, settings: SoakSettings, workspace: Path) -> Path:
    """Write the TOML spec of one kill run."""
    path.write_text(to_toml(spec_dict(plugin_instance, url, settings, str(workspace))))
    return path


@dataclass
class Window:
    """When (seconds after spawn) a ``jobferry train`` reaches the emulator, creates, and exits."""

    first_request: float
    create: float
    exit: float

    def moment(self, fraction: float, startup: bool) -> float:
        """The kill moment at ``fraction`` (0..1) of start-up, or of [first request, exit + 25 %]."""
        if startup:
            return fraction * self.first_request
        span = 1.25 * max(0.1, self.exit - self.first_request)
        return self.first_request + fraction * span


class WindowEstimate:
    """The current kill window: medians of the calibration runs, the first ones and those run since.

    The machine's load changes while the soak runs, so a window fixed up front drifts; unkilled runs are
    interleaved with the kills to follow it (a killed run's own times are censored by the kill, so they
    would shrink the window). The seeded part is the fraction of the window each kill uses.
    """

    def __init__(self, calibration: Sequence[Window]) -> None:
        self._lock = threading.Lock()
        self._calibration = Window(
            statistics.median(w.first_request for w in calibration),
            statistics.median(w.create for w in calibration),
            statistics.median(w.exit for w in calibration),
        )
        self._seen: list[tuple[float, float]] = []

    def observe(self, *, create: float | None, exit: float) -> None:
        """Record an unkilled run's create and exit times (seconds after spawn)."""
        with self._lock:
            self._seen.append((exit if create is None else create, exit))

    def current(self) -> Window:
        """The calibrated window, rescaled to the latest unkilled runs once there are a few."""
        cal = self._calibration
        with self._lock:
            seen = self._seen[-9:]
        if len(seen) < 2:
            return cal
        create = statistics.median(c for c, _ in seen)
        exit_ = statistics.median(e for _, e in seen)
        # The first request cannot be attributed to one of several concurrent runs: scale the calibrated one.
        first = cal.first_request * exit_ / cal.exit
        return Window(min(first, create), create, max(exit_, create + 0.1))


def _spawn_train(spec: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*jobferry_command(), "train", str(spec)],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _created_after(emu: VertexEmulator, plugin_instance: str, t0: float) -> float | None:
    # The emulator's clock is time.monotonic, the same clock as this process's (CLOCK_MONOTONIC).
    created = [
        j.created
        for j in _snapshot(lambda: emu.state.jobs[PIPELINES].values())
        if j.doc.get("displayName") == plugin_instance
    ]
    return min(created) - t0 if created else None


def calibrate(
    emu: VertexEmulator, settings: SoakSettings, root: Path, workspace: Path
) -> tuple[list[Window], list[str]]:
    """Run ``calibration_runs`` unkilled ``jobferry train`` (``kill_workers`` at a time) and time them."""
    windows: list[Window] = []
    pids: list[str] = []
    runs = max(1, settings.calibration_runs)
    for batch_start in range(0, runs, settings.kill_workers):
        spawned: list[tuple[str, float, subprocess.Popen[bytes]]] = []
        for i in range(batch_start, min(runs, batch_start + settings.kill_workers)):
            pid = f"calibrate-{i:02d}"
            spec = write_spec(root / f"{pid}.toml", pid, emu.url, settings, workspace)
            pids.append(pid)
            spawned.append((pid, time.monotonic(), _spawn_train(spec)))
        first_seen = min(t0 for _, t0, _ in spawned)
        exits: dict[str, float] = {}
        deadline = time.monotonic() + settings.rerun_timeout
        while len(exits) < len(spawned) and time.monotonic() < deadline:
            for pid, t0, proc in spawned:
                if pid not in exits and proc.poll() is not None:
                    exits[pid] = time.monotonic() - t0
            time.sleep(0.005)
        # Requests of the batch cannot be told apart: its first request stands for each run's.
        entries = [e.time for e in emu.app.log.entries if e.time >= first_seen]
        for pid, t0, proc in spawned:
            _, err = proc.communicate(timeout=settings.rerun_timeout)
            if proc.returncode != 0:
                raise RuntimeError(
                    f"calibration run {pid} failed ({proc.returncode}): {err.decode()[-2000:]}"
                )
            t_exit = exits.get(pid, settings.rerun_timeout)
            first = (min(entries) - t0) if entries else t_exit / 2
            created = _created_after(emu, pid, t0)
            windows.append(Window(max(0.05, first), created if created is not None else t_exit, t_exit))
    return windows, pids


def recalibrate(
    index: int,
    window: WindowEstimate,
    emu: VertexEmulator,
    settings: SoakSettings,
    root: Path,
    workspace: Path,
) -> str:
    """One unkilled ``jobferry train`` among the kills: its create and exit times update ``window``."""
    pid = f"recalibrate-{index:02d}"
    spec = write_spec(root / f"{pid}.toml", pid, emu.url, settings, workspace)
    t0 = time.monotonic()
    proc = _spawn_train(spec)
    deadline = t0 + settings.rerun_timeout
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    ended = time.monotonic() - t0
    _, err = proc.communicate(timeout=settings.rerun_timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"recalibration run {pid} failed ({proc.returncode}): {err.decode()[-2000:]}")
    window.observe(create=_created_after(emu, pid, t0), exit=ended)
    return pid


@dataclass
class KillResult:
    """One kill run and its rerun."""

    plugin_instance: str
    kill_at: float
    startup: bool = False
    fraction: float = 0.0
    ended_at: float = 0.0
    stage: str = ""
    rerun_code: int | None = None
    pipelines: int = 0
    checkpoint_state: str | None = None
    completed: bool = False
    error: str | None = None


def run_kill(
    index: int,
    draw: tuple[bool, float],
    window: WindowEstimate,
    emu: VertexEmulator,
    settings: SoakSettings,
    root: Path,
    workspace: Path,
) -> KillResult:
    """SIGKILL ``jobferry train`` at the drawn moment, classify it, rerun with --wait and check the result.

    ``draw`` is (in start-up?, fraction of that part of the window), from the seeded RNG.
    """
    pid = f"kill-{index:04d}"
    startup, fraction = draw
    kill_at = window.current().moment(fraction, startup)
    result = KillResult(pid, kill_at, startup, fraction)
    ws = Workspace(str(workspace))
    try:
        spec = write_spec(root / f"{pid}.toml", pid, emu.url, settings, workspace)
        command = [*jobferry_command(), "train", str(spec)]
        t0 = time.monotonic()
        proc = _spawn_train(spec)
        exited = True
        try:
            proc.wait(timeout=kill_at)
        except subprocess.TimeoutExpired:
            exited = False
            proc.send_signal(signal.SIGKILL)
        ended = time.monotonic() - t0
        _, first_err = proc.communicate(timeout=30)
        if exited and proc.returncode != 0:
            raise RuntimeError(
                f"the first run failed on its own ({proc.returncode}): {first_err.decode()[-1500:]}"
            )
        # Let requests already sent finish on the server (the emulator applies them even if no one listens).
        time.sleep(2 * settings.kill_latency + 0.3)
        intents = ws.list_records(f"{pid}/intents")
        has_pipeline = bool(pipelines_of(emu, pid))
        has_checkpoint = checkpoint_job_id(ws, pid)[0] is not None
        result.ended_at = ended
        if exited:
            result.stage = STAGES[4]
        elif has_checkpoint:
            result.stage = STAGES[3]
        elif has_pipeline:
            result.stage = STAGES[2]
        elif intents:
            result.stage = STAGES[1]
        else:
            result.stage = STAGES[0]

        rerun = subprocess.run(
            [*command, "--wait"],
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            timeout=settings.rerun_timeout,
            check=False,
        )
        result.rerun_code = rerun.returncode
        result.pipelines = len(pipelines_of(emu, pid))
        job_id, state, error = checkpoint_job_id(ws, pid)
        result.checkpoint_state = state
        if rerun.returncode != 0:
            result.error = f"rerun exited {rerun.returncode}: {rerun.stderr.decode()[-1500:]}"
        elif error is not None:
            result.error = f"checkpoint: {error}"
        result.completed = (
            rerun.returncode == 0 and result.pipelines == 1 and state == "SUCCEEDED" and job_id is not None
        )
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    return result


@dataclass
class KillReport:
    """Phase 2's figures."""

    kills: int
    completed: int
    unhandled: int
    stages: dict[str, int]
    audit: Audit
    window: dict[str, dict[str, float]]
    emulator: dict[str, int]
    requests_by_method: dict[str, int]
    errors: list[str]
    wall_seconds: float
    runs: list[dict[str, Any]]

    @property
    def goals_met(self) -> bool:
        return (
            self.completed == self.kills
            and self.audit.duplicate_pipelines == 0
            and self.audit.duplicate_keys == 0
            and self.audit.lost == 0
            and self.unhandled == 0
        )


@contextmanager
def _quiet_disconnects(emu: VertexEmulator) -> Iterator[None]:
    # A killed client leaves the server writing to a closed socket; socketserver prints each such
    # traceback to stderr. They are expected here, so keep the report readable.
    server = getattr(emu, "_server", None)
    original = getattr(server, "handle_error", None)
    if server is not None:
        server.handle_error = lambda request, client_address: None
    try:
        yield
    finally:
        if server is not None and original is not None:
            server.handle_error = original


def run_kills(
    settings: SoakSettings, root: Path, progress: Callable[[str], None] | None = None
) -> KillReport:
    """Phase 2: ``settings.kills`` killed ``jobferry train`` runs, each rerun to completion."""
    workspace = root / "ws-kills"
    specs = root / "specs"
    specs.mkdir(parents=True, exist_ok=True)
    rng = random.Random(settings.seed)
    started = time.monotonic()
    with VertexEmulator(emulator_config(settings, kills=True)) as emu, _quiet_disconnects(emu):
        calibration, calibration_pids = calibrate(emu, settings, specs, workspace)
        window = WindowEstimate(calibration)
        first = window.current()
        if progress is not None:
            progress(
                f"  kill window (calibration): first request {first.first_request:.2f} s, "
                f"create {first.create:.2f} s, exit {first.exit:.2f} s after spawn"
            )
        draws = [(rng.random() < 0.25, rng.random()) for _ in range(settings.kills)]
        results: list[KillResult] = []
        extra_pids: list[str] = []
        recalibration_errors: list[str] = []
        with ThreadPoolExecutor(max_workers=settings.kill_workers, thread_name_prefix="kill") as pool:
            futures = []
            recalibrations = []
            for i, draw in enumerate(draws):
                if i and i % settings.recalibrate_every == 0:
                    recalibrations.append(
                        pool.submit(
                            recalibrate,
                            i // settings.recalibrate_every,
                            window,
                            emu,
                            settings,
                            specs,
                            workspace,
                        )
                    )
                futures.append(pool.submit(run_kill, i, draw, window, emu, settings, specs, workspace))
            for n, future in enumerate(futures, 1):
                results.append(future.result())
                if progress is not None and (n % 10 == 0 or n == len(futures)):
                    progress(
                        f"  kills: {n}/{len(futures)} done, {sum(r.completed for r in results)} completed"
                    )
            for recalibration in recalibrations:
                try:
                    extra_pids.append(recalibration.result())
                except Exception as exc:
                    recalibration_errors.append(f"recalibration: {type(exc).__name__}: {exc}")
        wall = time.monotonic() - started
        pids = [*calibration_pids, *extra_pids, *(r.plugin_instance for r in results)]
        the_audit = audit(emu, Workspace(str(workspace)), pids)
        stages = Counter(r.stage for r in results)
        return KillReport(
            kills=settings.kills,
            completed=sum(r.completed for r in results),
            unhandled=sum(r.error is not None for r in results) + len(recalibration_errors),
            stages={stage: stages.get(stage, 0) for stage in STAGES},
            audit=the_audit,
            window={"calibration": asdict(first), "final": asdict(window.current())},
            emulator=log_summary(emu),
            requests_by_method=dict(sorted(emu.counts.items())),
            errors=[
                *(
                    f"{r.plugin_instance} (kill at {r.kill_at:.2f} s, {r.stage}): {r.error}"
                    for r in results
                    if r.error
                ),
                *recalibration_errors,
            ],
            wall_seconds=wall,
            runs=[asdict(r) for r in results],
        )


# -- report -----------------------------------------------------------------------------------------------


# -- phase 3: pipeline jobs and hyperparameter tuning jobs -----------------------------------------------

#: adapter -> the emulator collection its jobs live in.
JOB_ADAPTERS = {
    "vertex-pipeline-job": "pipelineJobs",
    "vertex-hyperparameter-tuning-job": "hyperparameterTuningJobs",
}
PIPELINE_SPEC: dict[str, Any] = {
    "pipelineInfo": {"name": "soak"},
    "schemaVersion": "2.1.0",
    "root": {
        "dag": {"tasks": {"prepare": {}, "train": {"dependentTasks": ["prepare"]}}},
        "inputDefinitions": {"parameters": {"run": {"parameterType": "NUMBER_INTEGER"}}},
    },
}
STUDY: dict[str, Any] = {
    "container_image_uri": "gcr.io/jobferry-soak/trainer:1",
    "metrics": {"accuracy": "maximize"},
    "parameters": {
        "learning_rate": {"type": "double", "min": 0.001, "max": 0.1, "scale": "log"},
        "optimizer": {"type": "categorical", "values": ["adam", "sgd"]},
    },
    "max_trial_count": 4,
    "parallel_trial_count": 2,
}


def job_spec_dict(
    adapter: str, plugin_instance: str, url: str, settings: SoakSettings, spec: Path
) -> dict[str, Any]:
    """The job spec of one plugin instance of ``adapter`` (phase 3)."""
    base = spec_dict(plugin_instance, url, settings)
    config = {k: v for k, v in base["config"].items() if k in _REACH}
    if adapter == "vertex-pipeline-job":
        config |= {"pipeline_spec": str(spec), "pipeline_root": f"gs://{BUCKET}/root"}
    else:
        config |= STUDY
    return {**base, "adapter": adapter, "config": config, "input": {"training_params": {"run": 1}}}


#: The settings of phase 1's specs that phase 3 keeps: how to reach the emulator and the policies.
_REACH = ("project", "location", "api_endpoint", "credentials", "labels", "call_timeout")
_REACH += ("requests_per_minute", "retry", "poll")


def run_job_cycle(
    index: int, url: str, workspace: Workspace, settings: SoakSettings, spec: Path
) -> tuple[str, CycleResult]:
    """train -> wait -> outputs for ``jobs-{index}``, of one of :data:`JOB_ADAPTERS`; never raises."""
    adapter = sorted(JOB_ADAPTERS)[index % len(JOB_ADAPTERS)]
    pid = f"jobs-{index:04d}"
    result = CycleResult(pid)
    policy = CountingRetryPolicy(**retry_fields(settings))
    started = time.monotonic()
    try:
        job = JobSpec.from_dict(job_spec_dict(adapter, pid, url, settings, spec))
        model = job.adapter_class()
        model.receive_config(job.adapter_config.model_copy(update={"retry": policy}))
        model.bind(workspace, pid)
        model.train(job.train_request(workspace))
        result.job_id = model.job.job_id
        final = model.raise_for_status(model.wait(timeout=settings.cycle_timeout))
        wanted = "tasks" if adapter == "vertex-pipeline-job" else "bestTrial"
        if wanted not in final.outputs:
            raise AssertionError(f"{adapter} succeeded without {wanted}: {final.outputs!r:.300}")
        result.completed = True
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        result.traceback = traceback.format_exc()
    result.retries = dict(Counter(operation_kind(e.what) for e in policy.events))
    result.seconds = time.monotonic() - started
    return adapter, result


@dataclass
class JobCycleReport:
    """Phase 3's figures, per adapter."""

    cycles: int
    by_adapter: dict[str, dict[str, Any]]
    pipeline_job_lists: int
    retries: int
    emulator: dict[str, int]
    faults_injected: dict[str, int]
    errors: list[str]
    wall_seconds: float

    @property
    def goals_met(self) -> bool:
        return self.pipeline_job_lists == 0 and all(
            row["completed"] == row["cycles"]
            and row["duplicates"] == 0
            and row["duplicate_keys"] == 0
            and row["lost"] == 0
            and row["unhandled"] == 0
            for row in self.by_adapter.values()
        )


def audit_jobs(
    emu: VertexEmulator, workspace: Workspace, results: Sequence[tuple[str, CycleResult]]
) -> dict[str, dict[str, Any]]:
    """Per adapter: its jobs in the emulator against its checkpoints (duplicates, lost)."""
    out: dict[str, dict[str, Any]] = {}
    for adapter, collection in JOB_ADAPTERS.items():
        mine = [r for a, r in results if a == adapter]
        jobs = [j.doc for j in _snapshot(emu.state.jobs[collection].values)]
        per_instance = Counter(str(d.get("displayName")) for d in jobs)
        per_key = Counter((d.get("labels") or {}).get(LABEL_KEY) for d in jobs)
        referenced: set[str] = set()
        missing: list[str] = []
        for r in mine:
            job_id, _, error = checkpoint_job_id(workspace, r.plugin_instance)
            if job_id is None:
                missing.append(f"{r.plugin_instance}: {error}")
            else:
                referenced.add(job_id)
        unreferenced = [str(d["name"]) for d in jobs if d["name"] not in referenced]
        out[adapter] = {
            "cycles": len(mine),
            "completed": sum(r.completed for r in mine),
            "jobs": len(jobs),
            "duplicates": sum(n - 1 for n in per_instance.values() if n > 1),
            "duplicate_keys": sum(n - 1 for k, n in per_key.items() if k and n > 1),
            "lost": len(unreferenced) + len(missing),
            "unhandled": sum(r.error is not None for r in mine),
        }
    return out


def run_job_cycles(
    settings: SoakSettings, root: Path, progress: Callable[[str], None] | None = None
) -> JobCycleReport:
    """Phase 3: ``settings.job_cycles`` life cycles of the pipeline and tuning adapters, alternating."""
    workspace = Workspace(str(root / "ws-jobs"))
    spec = root / "pipeline.json"
    spec.write_text(json.dumps(PIPELINE_SPEC))
    started = time.monotonic()
    with VertexEmulator(emulator_config(settings)) as emu:
        results: list[tuple[str, CycleResult]] = []
        with ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="soak-jobs") as pool:
            futures = [
                pool.submit(run_job_cycle, i, emu.url, workspace, settings, spec)
                for i in range(settings.job_cycles)
            ]
            for n, future in enumerate(futures, 1):
                results.append(future.result())
                if progress is not None and (n % 25 == 0 or n == len(futures)):
                    done = sum(r.completed for _, r in results)
                    progress(f"  job cycles: {n}/{len(futures)} finished, {done} completed")
        wall = time.monotonic() - started
        retries = sum(sum(r.retries.values()) for _, r in results)
        return JobCycleReport(
            cycles=settings.job_cycles,
            by_adapter=audit_jobs(emu, workspace, results),
            pipeline_job_lists=emu.counts["ListPipelineJobs"],
            retries=retries,
            emulator=log_summary(emu),
            faults_injected=dict(sorted(emu.faults.injected.items())),
            errors=[f"{r.plugin_instance}: {r.error}\n{r.traceback}" for _, r in results if r.error],
            wall_seconds=wall,
        )


def job_report_rows(report: JobCycleReport) -> list[tuple[str, str, str, str]]:
    """Phase 3's rows of the report table."""
    rows = [_row("phase 3: pipeline / tuning job life cycles", report.cycles)]
    for adapter, row in report.by_adapter.items():
        rows += [
            _row(f"  {adapter}: completed", f"{row['completed']} of {row['cycles']}", "all",
                 row["completed"] == row["cycles"]),
            _row(f"  {adapter}: duplicate jobs", f"{row['duplicates']} (same key: {row['duplicate_keys']})",
                 "0", row["duplicates"] == 0 and row["duplicate_keys"] == 0),
            _row(f"  {adapter}: lost jobs", row["lost"], "0", row["lost"] == 0),
            _row(f"  {adapter}: unhandled", row["unhandled"], "0", row["unhandled"] == 0),
        ]  # fmt: skip
    drops = {k[len("dropped ") :]: v for k, v in report.emulator.items() if k.startswith("dropped ")}
    rows += [
        _row("  ListPipelineJobs calls", report.pipeline_job_lists, "0", report.pipeline_job_lists == 0),
        _row("  creates dropped after their effect", ", ".join(f"{k} {v}" for k, v in drops.items()) or "0"),
        _row("  retries used (on_retry)", report.retries),
        _row("  wall time", f"{report.wall_seconds:.1f} s"),
    ]
    return rows


def _row(name: str, value: Any, goal: str = "", ok: bool | None = None) -> tuple[str, str, str, str]:
    mark = "" if ok is None else ("ok" if ok else "MISSED")
    return name, str(value), goal, mark


def report_rows(cycles: CycleReport | None, kills: KillReport | None) -> list[tuple[str, str, str, str]]:
    """The rows of the report table: (figure, value, goal, ok/MISSED)."""
    rows: list[tuple[str, str, str, str]] = []
    if cycles is not None:
        a = cycles.audit
        pct = 100.0 * cycles.completed / cycles.cycles if cycles.cycles else 100.0
        rows += [
            _row("phase 1: life cycles", cycles.cycles),
            _row(
                "  completed", f"{cycles.completed} ({pct:.1f} %)", "100 %", cycles.completed == cycles.cycles
            ),
            _row(
                "  duplicate pipelines",
                f"{a.duplicate_pipelines} (same key: {a.duplicate_keys})",
                "0",
                a.duplicate_pipelines == 0 and a.duplicate_keys == 0,
            ),
            _row(
                "  lost job IDs",
                f"{a.lost} ({len(a.lost_pipelines)} unreferenced pipelines, "
                f"{len(a.missing_checkpoints)} missing checkpoints)",
                "0",
                a.lost == 0,
            ),
            _row("  unhandled exceptions", cycles.unhandled, "0", cycles.unhandled == 0),
            _row("  retries used (on_retry)", cycles.retries),
            _row(
                "  emulator responses",
                f"{cycles.emulator['ok']} ok, {cycles.emulator['errors']} errors, "
                f"{cycles.emulator['dropped']} dropped",
            ),
            _row("  pipelines in emulator", a.pipelines),
            _row(
                "  duplicate datasets / endpoints / deployments",
                f"{a.duplicate_datasets} / {a.duplicate_endpoints} / {a.duplicate_deployments}",
                "(not a goal)",
            ),
            _row(
                "  cycle time median / max",
                f"{cycles.cycle_seconds_median:.2f} s / {cycles.cycle_seconds_max:.2f} s",
            ),
            _row("  wall time", f"{cycles.wall_seconds:.1f} s"),
        ]
    if kills is not None:
        a = kills.audit
        rows += [
            _row("phase 2: killed `jobferry train`", kills.kills),
            *(_row(f"  killed {stage}", n) for stage, n in kills.stages.items()),
            _row(
                "  completed after rerun", kills.completed, str(kills.kills), kills.completed == kills.kills
            ),
            _row(
                "  duplicate pipelines",
                f"{a.duplicate_pipelines} (same key: {a.duplicate_keys})",
                "0",
                a.duplicate_pipelines == 0 and a.duplicate_keys == 0,
            ),
            _row("  lost job IDs", a.lost, "0", a.lost == 0),
            _row("  unhandled (failed reruns)", kills.unhandled, "0", kills.unhandled == 0),
            _row(
                "  emulator responses",
                f"{kills.emulator['ok']} ok, {kills.emulator['errors']} errors, "
                f"{kills.emulator['dropped']} dropped",
            ),
            _row(
                "  duplicate datasets / endpoints / deployments",
                f"{a.duplicate_datasets} / {a.duplicate_endpoints} / {a.duplicate_deployments}",
                "(not a goal)",
            ),
            _row(
                "  kill window (final medians)",
                f"first request {kills.window['final']['first_request']:.2f} s, "
                f"create {kills.window['final']['create']:.2f} s, exit {kills.window['final']['exit']:.2f} s",
            ),
            _row("  wall time", f"{kills.wall_seconds:.1f} s"),
        ]
    return rows


def format_table(rows: Sequence[tuple[str, str, str, str]]) -> str:
    """Aligned columns."""
    header = ("figure", "value", "goal", "")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(3)]
    lines = []
    for row in (header, *rows):
        lines.append(
            "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3]
        )
    return "\n".join(line.rstrip() for line in lines)


def to_json(settings: SoakSettings, cycles: CycleReport | None, kills: KillReport | None) -> dict[str, Any]:
    """Everything measured, as JSON-ready data."""
    out: dict[str, Any] = {"settings": asdict(settings)}
    for name, report in (("cycles", cycles), ("kills", kills)):
        if report is not None:
            data = asdict(report)
            data["audit"]["lost"] = report.audit.lost
            data["goals_met"] = report.goals_met
            out[name] = data
    out["goals_met"] = all(r.goals_met for r in (cycles, kills) if r is not None)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    defaults = SoakSettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cycles", type=int, default=defaults.cycles, help="phase 1 life cycles (0: skip)")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="phase 1 threads")
    parser.add_argument("--kills", type=int, default=defaults.kills, help="phase 2 killed runs (0: skip)")
    parser.add_argument("--kill-workers", type=int, default=defaults.kill_workers, help="phase 2 at once")
    parser.add_argument(
        "--job-cycles", type=int, default=defaults.job_cycles, help="phase 3 life cycles (0: skip)"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--error-rate", type=float, default=defaults.error_rate)
    parser.add_argument("--drop-rate", type=float, default=defaults.drop_rate)
    parser.add_argument("--max-attempts", type=int, default=defaults.max_attempts)
    parser.add_argument("--json", metavar="PATH", help="write every figure to this JSON file")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR (kept) instead of a temporary folder")
    args = parser.parse_args(argv)
    settings = SoakSettings(
        cycles=args.cycles,
        workers=args.workers,
        kills=args.kills,
        kill_workers=args.kill_workers,
        job_cycles=args.job_cycles,
        seed=args.seed,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        max_attempts=args.max_attempts,
    )

    def say(text: str) -> None:
        print(text, flush=True)

    import tempfile

    with tempfile.TemporaryDirectory(prefix="jobferry-soak-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        cycles = kills = None
        if settings.cycles:
            say(f"phase 1: {settings.cycles} life cycles on {settings.workers} threads ...")
            cycles = run_cycles(settings, root, say)
        if settings.kills:
            say(
                f"phase 2: {settings.kills} killed `jobferry train` runs, "
                f"{settings.kill_workers} at a time ..."
            )
            kills = run_kills(settings, root, say)
        jobs = None
        if settings.job_cycles:
            say(
                f"phase 3: {settings.job_cycles} pipeline / tuning job life cycles on "
                f"{settings.workers} threads ..."
            )
            jobs = run_job_cycles(settings, root, say)
    say("")
    say(format_table(report_rows(cycles, kills) + (job_report_rows(jobs) if jobs is not None else [])))
    for error in (jobs.errors if jobs is not None else [])[:5]:
        say(f"\nerror (phase 3): {error}")
    for report in (cycles, kills):
        if report is not None and report.audit.duplicated:
            say("\nduplicated resources per plugin instance (first 10):")
            for pid, kinds in list(report.audit.duplicated.items())[:10]:
                say(f"  {pid}: {kinds}")
        for error in (report.errors if report is not None else [])[:5]:
            say(f"\nerror: {error}")
    for name, report in (("phase 1", cycles), ("phase 2", kills)):
        if report is not None:
            drops = {k[len("dropped ") :]: v for k, v in report.emulator.items() if k.startswith("dropped ")}
            say(
                f"\nresponses dropped after the effect ({name}): "
                + ", ".join(f"{k} {v}" for k, v in drops.items())
            )
    if cycles is not None:
        say("\nretries by call: " + ", ".join(f"{k} {v}" for k, v in cycles.retries_by_call.items()))
        say(
            "requests by method (phase 1): "
            + ", ".join(f"{k} {v}" for k, v in cycles.requests_by_method.items())
        )
    data = to_json(settings, cycles, kills)
    if jobs is not None:
        data["jobs"] = {**asdict(jobs), "goals_met": jobs.goals_met}
        data["goals_met"] = data["goals_met"] and jobs.goals_met
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2, default=str))
        say(f"\nwrote {args.json}")
    say("\ngoals " + ("met" if data["goals_met"] else "MISSED"))
    return 0 if data["goals_met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
