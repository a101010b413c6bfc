"""Soak test: VertexTuningJob's exactly-once promise under transient errors, lost responses and kills.

The tuning counterpart of ``soak_vertex.py`` (whose retry counting, settings, TOML writer and log summary it
reuses), against the offline Vertex AI emulator served from this process on 127.0.0.1.

Phase 1 (``--cycles``): life cycles -- train a Gemini tuning job on a small JSONL -> wait -> ``run()`` a few
prompts on the tuned endpoint -- each its own plugin instance, run concurrently against ONE emulator that
fails ``--error-rate`` of the calls of every method with 429 / 500 / 503 (before any effect) and drops
``--drop-rate`` of the responses of CreateTuningJob and GenerateContent after their effect. A TuningJob has
no client-chosen ID: a lost create is reconciled by the label look-up.

Phase 2 (``--kills``): ``jobferry train SPEC`` subprocesses SIGKILLed -- every other one from inside the
emulator right after CreateTuningJob took effect (before its response is written), the others at a seeded
random moment after their first request -- then ``jobferry train SPEC --wait --json`` is run to completion.

Counted: completed cycles; duplicate tuning jobs (more than one per plugin instance -- the tuned model's
display name -- or per ``jobferry-key`` label); lost job IDs (a job no checkpoint references, or a plugin
instance without a loadable checkpoint); wrong answers (a prompt answered out of order, twice or not at
all); unhandled exceptions. Goals: all completed, 0 duplicates, 0 lost, 0 wrong, 0 unhandled (exit 1 if
missed).

Usage: ``python tests/benchmarks/soak_tuning.py [--cycles 60] [--kills 12] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # runnable from a checkout

from adapters._spec import JobSpec  # noqa: E402
from adapters.vertex import VertexTuningJob  # noqa: E402
from adapters.vertex._base import LABEL_KEY  # noqa: E402
from adapters.vertex.emulator import EmulatorConfig, FaultSpec, Phases, Quotas, VertexEmulator  # noqa: E402
from checkpoint import Workspace  # noqa: E402
from tests.benchmarks.soak_vertex import (  # noqa: E402
    METHODS,
    CountingRetryPolicy,
    SoakSettings,
    _env,
    _snapshot,
    checkpoint_job_id,
    jobferry_command,
    log_summary,
    operation_kind,
    retry_fields,
    to_toml,
)

BUCKET = "jobferry-soak-tuning"
PROJECT = "jobferry-soak"
LOCATION = "us-central1"
TUNING_JOBS = "tuningJobs"
DROP_METHODS = frozenset({"CreateTuningJob", "GenerateContent"})
SLOW_METHODS = frozenset({"ListTuningJobs", "CreateTuningJob"})
QA = [(f"What is {a} plus {b}?", str(a + b)) for a in range(1, 6) for b in range(1, 5)]
PROMPTS = 4


def write_data(folder: Path) -> Path:
    """The training JSONL (20 arithmetic questions and their answers) in ``folder``, the soak's bucket."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for prompt, answer in QA:
        turns = [
            {"role": "user", "parts": [{"text": prompt}]},
            {"role": "model", "parts": [{"text": answer}]},
        ]
        lines.append(json.dumps({"contents": turns}) + "\n")
    (folder / "qa.jsonl").write_text("".join(lines))
    return folder


def emulator_config(settings: SoakSettings, data: Path, *, kills: bool = False) -> EmulatorConfig:
    """Faults on every method, lost responses on the create and on generate-content; latency for kills."""
    faults = {
        method: FaultSpec(
            error_rate=settings.kill_error_rate if kills else settings.error_rate,
            codes=list(settings.codes),
            retry_after=settings.retry_after,
            drop_response_rate=settings.drop_rate if method in DROP_METHODS else 0.0,
            latency=settings.kill_latency if kills and method in SLOW_METHODS else 0.0,
        )
        for method in METHODS
    }
    return EmulatorConfig(
        speedup=settings.speedup,
        durations={"tuning": Phases(pending=600, running=3600)},
        lro_seconds={},
        bucket_map={BUCKET: str(data)},
        faults=faults,
        quotas=Quotas(resource_management=None, job_creation=None, online_prediction=None),
        seed=settings.seed + (1 if kills else 0),
        log_size=5_000_000,
    )


def spec_dict(pid: str, url: str, settings: SoakSettings, workspace: str | None = None) -> dict[str, Any]:
    """The job spec of one plugin instance."""
    spec: dict[str, Any] = {
        "adapter": "vertex-tuning-job",
        "plugin_instance": pid,
        "config": {
            "project": PROJECT,
            "location": LOCATION,
            "api_endpoint": url,
            "credentials": "anonymous",
            "base_model": "gemini-2.0-flash-001",
            "training_dataset_uri": f"gs://{BUCKET}/qa.jsonl",
            "epoch_count": 2,
            "labels": {"soak": "tuning"},
            "call_timeout": 30.0,
            "requests_per_minute": 120_000.0,
            "predictions_per_minute": 120_000.0,
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


@dataclass
class Audit:
    """What the emulator holds against what the checkpoints say."""

    jobs: int = 0
    duplicate_jobs: int = 0
    duplicate_keys: int = 0
    lost_jobs: list[str] = field(default_factory=list)
    missing_checkpoints: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return len(self.lost_jobs) + len(self.missing_checkpoints)


def jobs_of(emu: VertexEmulator, pid: str | None = None) -> list[dict[str, Any]]:
    """The emulator's tuning jobs (name, tuned model display name, labels), all or one plugin instance's."""
    docs = [
        {
            "name": job.doc["name"],
            "instance": job.doc.get("tunedModelDisplayName"),
            "labels": job.doc.get("labels") or {},
        }
        for job in _snapshot(lambda: emu.state.jobs[TUNING_JOBS].values())
    ]
    return [d for d in docs if pid is None or d["instance"] == pid]


def audit(emu: VertexEmulator, workspace: Workspace, plugin_instances: Sequence[str]) -> Audit:
    """Group the tuning jobs by plugin instance and by submission key; match them with the checkpoints."""
    jobs = jobs_of(emu)
    per_instance = Counter(str(j["instance"]) for j in jobs)
    per_key = Counter(j["labels"].get(LABEL_KEY) for j in jobs)
    referenced: set[str] = set()
    missing = []
    for pid in plugin_instances:
        job_id, _, error = checkpoint_job_id(workspace, pid)
        if job_id is None:
            missing.append(f"{pid}: {error}")
        else:
            referenced.add(job_id)
    return Audit(
        jobs=len(jobs),
        duplicate_jobs=sum(n - 1 for n in per_instance.values() if n > 1),
        duplicate_keys=sum(n - 1 for key, n in per_key.items() if key and n > 1),
        lost_jobs=sorted(j["name"] for j in jobs if j["name"] not in referenced),
        missing_checkpoints=missing,
    )


# -- phase 1: life cycles ---------------------------------------------------------------------------------


@dataclass
class CycleResult:
    plugin_instance: str
    completed: bool = False
    wrong_answers: int = 0
    error: str | None = None
    traceback: str | None = None
    retries: dict[str, int] = field(default_factory=dict)


def run_cycle(index: int, url: str, workspace: Workspace, settings: SoakSettings) -> CycleResult:
    """train -> wait -> run prompts for plugin instance ``tune-{index}``; never raises."""
    pid = f"tune-{index:04d}"
    result = CycleResult(pid)
    policy = CountingRetryPolicy(**retry_fields(settings))
    asked = random.Random(settings.seed + index).sample(QA, PROMPTS)
    try:
        spec = JobSpec.from_dict(spec_dict(pid, url, settings))
        model = VertexTuningJob()
        model.receive_config(spec.adapter_config.model_copy(update={"retry": policy}))
        model.bind(workspace, pid)
        model.train(spec.train_request(workspace))
        model.raise_for_status(model.wait(timeout=settings.cycle_timeout))
        answers = model.run([p for p, _ in asked])
        result.wrong_answers = sum(got != want for got, (_, want) in zip(answers, asked, strict=True))
        result.completed = result.wrong_answers == 0
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        result.traceback = traceback.format_exc()
    result.retries = dict(Counter(operation_kind(e.what) for e in policy.events))
    return result


@dataclass
class Report:
    """One phase's figures."""

    runs: int
    completed: int
    unhandled: int
    wrong_answers: int
    audit: Audit
    retries: int
    emulator: dict[str, int]
    faults_injected: dict[str, int]
    errors: list[str]
    wall_seconds: float
    stages: dict[str, int] = field(default_factory=dict)

    @property
    def goals_met(self) -> bool:
        return (
            self.completed == self.runs
            and self.unhandled == 0
            and self.wrong_answers == 0
            and self.audit.duplicate_jobs == 0
            and self.audit.duplicate_keys == 0
            and self.audit.lost == 0
        )


def run_cycles(settings: SoakSettings, root: Path) -> Report:
    """Phase 1: ``settings.cycles`` life cycles on ``settings.workers`` threads against one emulator."""
    workspace = Workspace(str(root / "ws-cycles"))
    data = write_data(root / "bucket")
    started = time.monotonic()
    with VertexEmulator(emulator_config(settings, data)) as emu:
        with ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="soak-tuning") as pool:
            results = list(
                pool.map(lambda i: run_cycle(i, emu.url, workspace, settings), range(settings.cycles))
            )
        retries: Counter[str] = Counter()
        for r in results:
            retries.update(r.retries)
        return Report(
            runs=settings.cycles,
            completed=sum(r.completed for r in results),
            unhandled=sum(r.error is not None for r in results),
            wrong_answers=sum(r.wrong_answers for r in results),
            audit=audit(emu, workspace, [r.plugin_instance for r in results]),
            retries=sum(retries.values()),
            emulator=log_summary(emu),
            faults_injected=dict(sorted(emu.faults.injected.items())),
            errors=[f"{r.plugin_instance}: {r.error}\n{r.traceback}" for r in results if r.error],
            wall_seconds=time.monotonic() - started,
        )


# -- phase 2: kills ---------------------------------------------------------------------------------------


class KillSwitch:
    """Kills the armed process from inside the emulator, right after a CreateTuningJob took effect."""

    def __init__(self, emu: VertexEmulator) -> None:
        self.armed: dict[str, subprocess.Popen[bytes]] = {}  # tuned model display name -> process
        original: Callable[[str, dict[str, Any]], dict[str, Any]] = emu.state.create_tuning_job

        def create(parent: str, body: dict[str, Any]) -> dict[str, Any]:
            doc = original(parent, body)
            proc = self.armed.pop(str(body.get("tunedModelDisplayName")), None)
            if proc is not None:
                proc.kill()  # the job exists; its response never reaches the client
            return doc

        emu.state.create_tuning_job = create  # type: ignore[method-assign]  # routes look it up per request


def _stage(emu: VertexEmulator, workspace: Workspace, pid: str) -> str:
    if workspace.has_handle(pid, "default"):
        return "job.json persisted"
    if jobs_of(emu, pid):
        return "job created, job.json not persisted"
    if pid in workspace.list_instance_folders():
        return "intent written, nothing created"
    return "nothing written"


def run_kills(settings: SoakSettings, root: Path) -> Report:
    """Phase 2: killed ``jobferry train`` runs, then ``train --wait`` reruns; one job each, SUCCEEDED."""
    wsdir = root / "ws-kills"
    workspace = Workspace(str(wsdir))
    data = write_data(root / "bucket")
    rng = random.Random(settings.seed)
    started = time.monotonic()
    stages: Counter[str] = Counter()
    errors: list[str] = []
    with VertexEmulator(emulator_config(settings, data, kills=True)) as emu:
        switch = KillSwitch(emu)
        specs = []
        for i in range(settings.kills):
            pid = f"kill-{i:03d}"
            spec = root / f"{pid}.toml"
            spec.write_text(to_toml(spec_dict(pid, emu.url, settings, str(wsdir))))
            specs.append((pid, spec))
            baseline = sum(emu.counts.values())
            proc = subprocess.Popen(
                [*jobferry_command(), "train", str(spec)],
                env=_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if i % 2 == 0:
                switch.armed[pid] = proc
            else:
                spawned = time.monotonic()
                while (
                    sum(emu.counts.values()) == baseline
                    and proc.poll() is None
                    and time.monotonic() - spawned < 60
                ):
                    time.sleep(0.002)
                time.sleep(rng.uniform(0.0, 3 * settings.kill_latency))
                proc.kill()
            try:
                proc.wait(timeout=settings.rerun_timeout)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                switch.armed.pop(pid, None)
            time.sleep(2 * settings.kill_latency)  # let the killed process's in-flight requests settle
            stages[_stage(emu, workspace, pid) if proc.returncode == -9 else "finished before the kill"] += 1
        emu.faults.clear()

        def rerun(item: tuple[str, Path]) -> tuple[str, subprocess.CompletedProcess[str]]:
            pid, spec = item
            done = subprocess.run(
                [*jobferry_command(), "train", str(spec), "--wait", "--json"],
                env=_env(),
                capture_output=True,
                text=True,
                timeout=settings.rerun_timeout,
            )
            return pid, done

        with ThreadPoolExecutor(max_workers=settings.kill_workers) as pool:
            reruns = list(pool.map(rerun, specs))
        completed = 0
        for pid, done in reruns:
            events = [json.loads(x) for x in done.stdout.splitlines() if x.strip().startswith("{")]
            _, state, error = checkpoint_job_id(workspace, pid)
            ok = done.returncode == 0 and bool(events) and events[-1].get("state") == "SUCCEEDED"
            if ok and state == "SUCCEEDED" and len(jobs_of(emu, pid)) == 1:
                completed += 1
            else:
                errors.append(f"{pid}: rc={done.returncode} state={state} {error or ''} {done.stderr[-500:]}")
        return Report(
            runs=settings.kills,
            completed=completed,
            unhandled=len(errors),
            wrong_answers=0,
            audit=audit(emu, workspace, [pid for pid, _ in specs]),
            retries=0,
            emulator=log_summary(emu),
            faults_injected=dict(sorted(emu.faults.injected.items())),
            errors=errors,
            wall_seconds=time.monotonic() - started,
            stages=dict(stages),
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cycles", type=int, default=60, help="phase 1 life cycles (0: skip)")
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--kills", type=int, default=12, help="phase 2 killed runs (0: skip)")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--error-rate", type=float, default=0.3)
    parser.add_argument("--drop-rate", type=float, default=0.1)
    parser.add_argument("--json", metavar="PATH", help="write every figure to this JSON file")
    args = parser.parse_args(argv)
    settings = SoakSettings(
        cycles=args.cycles,
        workers=args.workers,
        kills=args.kills,
        seed=args.seed,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
    )
    import tempfile

    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="jobferry-soak-tuning-") as tmp:
        for name, phase, size in (
            ("cycles", run_cycles, settings.cycles),
            ("kills", run_kills, settings.kills),
        ):
            if not size:
                continue
            print(f"{name}: {size} ...", flush=True)
            report = phase(settings, Path(tmp))
            figures[name] = {**asdict(report), "lost": report.audit.lost, "goals_met": report.goals_met}
            a = report.audit
            print(
                f"  completed {report.completed}/{report.runs}, duplicate jobs {a.duplicate_jobs}, "
                f"duplicate keys {a.duplicate_keys}, lost {a.lost}, wrong answers {report.wrong_answers}, "
                f"unhandled {report.unhandled}, retries {report.retries}, emulator {report.emulator}, "
                f"{report.wall_seconds:.1f} s" + (f", kill stages {report.stages}" if report.stages else "")
            )
            for error in report.errors[:3]:
                print(f"  error: {error}")
    met = all(f["goals_met"] for f in figures.values())
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))
    print("goals " + ("met" if met else "MISSED"))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
