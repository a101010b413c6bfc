"""A vendor that separate processes share, with a create latency: for racing ``train()`` across processes.

Jobs are files in a folder (``{jobs_dir}/{job_id}.json``), each written atomically once its create
"returns" -- so, as on Vertex, a create in flight is invisible to the label look-up, and nothing stops two
creates with the same label: only jobferry's claim does. Register it with
``register_adapter(ADAPTER_NAME, TARGET)``; :func:`main` is the racing process
(``python -m tests.race_vendor``).

``JF_RACE_NO_CLAIM=1`` skips the claim (intent + label look-up only, as before it existed): the baseline.
Kill points (``JF_RACE_KILL_AT``) SIGKILL the process at one step of ``train()``: ``after-claim``,
``before-create``, ``after-create``, ``before-persist``, ``after-persist``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from adapters._connection import Connection, ExternalJobConfig
from adapters._credentials import CredentialRef
from adapters._errors import JobNotFound
from adapters._external import ExternalJobModel
from adapters._jobs import JobRef, JobState, JobStatus

ADAPTER_NAME = "race-files"
TARGET = "tests.race_vendor:RaceModel"
KILL_POINTS = ("after-claim", "before-create", "after-create", "before-persist", "after-persist")


class RaceConnection(Connection):
    """Where the shared vendor keeps its jobs, and how long a create takes."""

    jobs_dir: str
    create_latency: float = Field(default=0.0, ge=0)
    credentials: CredentialRef = Field(default_factory=CredentialRef.anonymous)


class RaceConfig(RaceConnection, ExternalJobConfig):
    """The job is its name."""

    name: str = "race"


def _kill_if(point: str) -> None:
    if os.environ.get("JF_RACE_KILL_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


class RaceModel(ExternalJobModel[RaceConfig]):
    """Each method is one call to the shared folder."""

    adapter_name: ClassVar[str] = ADAPTER_NAME
    vendor: ClassVar[str] = "race"
    config_class: ClassVar[type[ExternalJobConfig]] = RaceConfig

    @property
    def race(self) -> RaceConnection:
        return self.connection_as(RaceConnection)

    def connect(self) -> Path:
        path = Path(self.race.jobs_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def quota_key(self) -> str:
        return self.race.jobs_dir

    def job_spec(self, input: Any) -> dict[str, Any]:
        return {"name": self.require_config().name, "input": input.model_dump(mode="json")}

    def submit_job(self, spec: dict[str, Any], submission_key: str) -> JobRef:
        _kill_if("before-create")
        time.sleep(self.race.create_latency)  # the vendor's create latency: the job appears only after it
        job_id = uuid.uuid4().hex[:12]
        folder: Path = self.client
        partial = folder / f".{job_id}.partial"
        partial.write_text(json.dumps({"key": submission_key, "spec": spec, "pid": os.getpid()}))
        os.replace(partial, folder / f"{job_id}.json")
        _kill_if("after-create")
        return JobRef(adapter=ADAPTER_NAME, job_id=job_id)

    def _read(self, job_id: str) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.client / f"{job_id}.json").read_text())
        except FileNotFoundError:
            raise JobNotFound(f"race job {job_id} not found", job_id=job_id, vendor="race") from None
        return data

    def describe_job(self, ref: JobRef) -> JobStatus:
        job = self._read(ref.job_id)
        return JobStatus(state=JobState.RUNNING, raw_state="RUNNING", submission_key=job["key"])

    def cancel_job(self, ref: JobRef) -> None:
        self._read(ref.job_id)

    def find_job(self, submission_key: str) -> JobRef | None:
        folder: Path = self.client
        for path in sorted(folder.glob("*.json")):
            if json.loads(path.read_text())["key"] == submission_key:
                return JobRef(adapter=ADAPTER_NAME, job_id=path.stem)
        return None


def created_jobs(jobs_dir: str | Path) -> list[dict[str, Any]]:
    """Every job the shared vendor holds."""
    return [json.loads(p.read_text()) for p in sorted(Path(jobs_dir).glob("*.json"))]


def _install_kill_points() -> None:
    if os.environ.get("JF_RACE_NO_CLAIM"):  # the baseline: what happens without the claim
        from adapters import _submission

        def unclaimed(self: _submission.Submitter, spec: Any, digest: str, *, new: bool) -> Any:
            return self._unclaimed(spec, digest, new=new)

        _submission.Submitter.submit = unclaimed  # type: ignore[method-assign]
    point = os.environ.get("JF_RACE_KILL_AT")
    if point in ("after-claim",):
        from adapters import _claim

        take = _claim.Claims.take

        def take_then_die(self: _claim.Claims, *args: Any, **kwargs: Any) -> Any:
            got = take(self, *args, **kwargs)
            if got is not None:
                _kill_if("after-claim")
            return got

        _claim.Claims.take = take_then_die  # type: ignore[method-assign]
    elif point in ("before-persist", "after-persist"):
        from adapters import _submission

        if point == "before-persist":
            persist = RaceModel.persist

            def die_then_persist(self: RaceModel, *args: Any, **kwargs: Any) -> str:
                _kill_if("before-persist")
                return persist(self, *args, **kwargs)

            RaceModel.persist = die_then_persist  # type: ignore[method-assign,assignment]
        else:
            complete = _submission.Submitter.complete

            def die_then_complete(self: _submission.Submitter, *args: Any, **kwargs: Any) -> None:
                _kill_if("after-persist")
                complete(self, *args, **kwargs)

            _submission.Submitter.complete = die_then_complete  # type: ignore[method-assign]


def train_once(workspace: str, instance: str, config: dict[str, Any], start_at: float) -> dict[str, Any]:
    """Train the race spec once, starting at wall time ``start_at``; what this process got."""
    from adapters import PluginRequest, TrainPluginInput
    from checkpoint import Workspace

    model = RaceModel()
    model.receive_config(config)
    model.bind(Workspace(workspace), instance)
    time.sleep(max(0.0, start_at - time.time()))  # every racer starts at the same moment
    began = time.perf_counter()
    model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
    took = time.perf_counter() - began
    return {"job_id": model.job.job_id, "adopted": model.adopted, "pid": os.getpid(), "seconds": took}


def main(argv: list[str]) -> int:
    """``python -m tests.race_vendor WORKSPACE INSTANCE CONFIG_JSON START_AT``: train once, print the job.

    ``python -m tests.race_vendor --serve``: a racer that stays up, reading one JSON request per line
    (``{"workspace", "instance", "config", "start_at"}``) and answering each with one JSON line.
    """
    _install_kill_points()
    if argv == ["--serve"]:
        print(json.dumps({"ready": os.getpid()}), flush=True)
        for line in sys.stdin:
            req = json.loads(line)
            try:
                got = train_once(req["workspace"], req["instance"], req["config"], req["start_at"])
            except Exception as exc:  # report, and stay up for the next round
                got = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(got), flush=True)
        return 0
    workspace, instance, config, start_at = argv[0], argv[1], json.loads(argv[2]), float(argv[3])
    print(json.dumps(train_once(workspace, instance, config, start_at)))
    return 0


class RacerPool:
    """``n`` racing processes that stay up between rounds (a process start costs more than a round)."""

    def __init__(
        self, n: int, env: dict[str, str] | None = None, cwd: str | Path | None = None, *, quiet: bool = False
    ) -> None:
        import subprocess

        root = Path(__file__).resolve().parent.parent
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.race_vendor", "--serve"],
                cwd=cwd or root,
                env={**os.environ, **(env or {})},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL if quiet else None,
                text=True,
            )
            for _ in range(n)
        ]
        for proc in self.procs:
            assert proc.stdout is not None
            ready = proc.stdout.readline()
            if not ready:
                raise RuntimeError("a racer did not start")

    def round(
        self, workspace: str, instance: str, config: dict[str, Any], *, n: int | None = None
    ) -> list[dict[str, Any]]:
        """All (or ``n``) racers train the same spec at the same moment; their answers."""
        racers = self.procs[: n or len(self.procs)]
        request = {
            "workspace": workspace,
            "instance": instance,
            "config": config,
            "start_at": time.time() + 0.3,
        }
        for proc in racers:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
        answers = []
        for proc in racers:
            assert proc.stdout is not None
            answers.append(json.loads(proc.stdout.readline()))
        return answers

    def close(self) -> None:
        """Stop every racer."""
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in self.procs:
            proc.wait(timeout=30)

    def __enter__(self) -> RacerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
