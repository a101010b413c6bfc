"""LocalProcessModel: the external-job engine with a detached local process as the "vendor".

The offline mode of jobferry and the reference adapter: every part of the vendor contract is a few file
operations on a job directory (see :mod:`adapters.local._jobdir`), so the engine's exactly-once flow,
polling, cancelling and predictions can be exercised without any cloud.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, ValidationError, field_validator, model_validator

from adapters._errors import (
    Conflict,
    InvalidJobSpec,
    JobNotFound,
    PermanentError,
    SpecError,
    TransientError,
    VendorError,
)
from checkpoint import InvalidName, validate_name

from .._connection import Connection, ExternalJobConfig, describe_validation, job_fields
from .._credentials import CredentialRef
from .._external import ExternalJobModel
from .._jobs import JobErrorInfo, JobRef, JobState, JobStatus, StateTable
from .._messages import InvocableResponse, PluginRequest, TrainPluginInput, TrainPluginOutput
from .._serving import OnlinePredictions
from ._entrypoints import EntryPoint, EntrypointError, parse_entrypoint
from ._jobdir import (
    LOG,
    TERMINAL_RAW_STATES,
    JobDir,
    ProcessIdentity,
    atomic_write_json,
    now_iso,
)

ENV_JOBS_DIR = "JOBFERRY_LOCAL_JOBS"
VENDOR = "local"

#: The worker's raw states; anything else found in state.json is UNKNOWN (raw value kept).
STATES = StateTable(
    {
        "QUEUED": JobState.QUEUED,
        "RUNNING": JobState.RUNNING,
        "SUCCEEDED": JobState.SUCCEEDED,
        "FAILED": JobState.FAILED,
        "CANCELLED": JobState.CANCELLED,
    }
)

# OSErrors worth retrying: the resource is busy or briefly unavailable, not wrong.
_TRANSIENT_ERRNOS = frozenset(
    {errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.ETIMEDOUT, errno.ESTALE, errno.EMFILE, errno.ENFILE}
)


class LocalEntrypointError(PermanentError):
    """The predict entrypoint raised, or returned something that is not a list of predictions."""


def default_jobs_dir() -> Path:
    """``$JOBFERRY_LOCAL_JOBS``, or ``local-jobs`` in the user data directory."""
    env = os.environ.get(ENV_JOBS_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("jobferry", appauthor=False)) / "local-jobs"


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError(f"{value!r} is blank; leave it out for the default")
    return value


class LocalConnection(Connection):
    """How to reach local jobs (saved in ``job.json``; none of it changes what a job computes).

    Attributes:
        jobs_dir: where job directories live; default ``$JOBFERRY_LOCAL_JOBS`` or the user data dir.
        predict_entrypoint: the prediction function; default: ``predict`` in the entrypoint's module.
        grace_period: seconds between SIGTERM and SIGKILL when cancelling.
        heartbeat_interval: seconds between the worker's heartbeats.
        heartbeat_timeout: a worker unheard of for this long (when its pid cannot be checked) is dead.
    """

    credentials: CredentialRef = Field(default_factory=CredentialRef.anonymous)
    jobs_dir: str | None = None
    predict_entrypoint: str | None = None
    grace_period: float = Field(default=10.0, ge=0, allow_inf_nan=False)
    heartbeat_interval: float = Field(default=2.0, gt=0, allow_inf_nan=False)
    heartbeat_timeout: float = Field(default=30.0, gt=0, allow_inf_nan=False)

    @field_validator("predict_entrypoint")
    @classmethod
    def _check_predict_entrypoint(cls, value: str | None) -> str | None:
        if value is not None:
            parse_entrypoint(value, "predict")
            value = value.strip()
        return value

    @field_validator("jobs_dir")
    @classmethod
    def _jobs_dir_not_blank(cls, value: str | None) -> str | None:
        return _not_blank(value)

    @model_validator(mode="after")
    def _check_heartbeat(self) -> LocalConnection:
        if self.heartbeat_timeout <= self.heartbeat_interval:
            raise ValueError(
                f"heartbeat_timeout ({self.heartbeat_timeout:g}) must exceed heartbeat_interval "
                f"({self.heartbeat_interval:g}), or every job would look dead between two beats"
            )
        return self

    def resolved_jobs_dir(self) -> Path:
        """The absolute jobs directory (the default filled in)."""
        return (Path(self.jobs_dir).expanduser() if self.jobs_dir else default_jobs_dir()).resolve()


class LocalJobConfig(LocalConnection, ExternalJobConfig):
    """Settings of the local-process adapter (the connection's, and these, which define the job).

    Attributes:
        entrypoint: ``package.module:function`` or ``path/to/train.py[:function]`` (default ``train``); a
            relative script path is relative to ``cwd``.
        python: the interpreter that runs the job (it must be able to import jobferry); default: this one.
        cwd: the job's working directory; default: the current one, made absolute when submitting.
        env: extra environment variables for the job (never written to the job directory).
    """

    entrypoint: str
    python: str | None = None
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("entrypoint")
    @classmethod
    def _check_entrypoint(cls, value: str) -> str:
        parse_entrypoint(value)
        return value.strip()

    @field_validator("python", "cwd")
    @classmethod
    def _non_empty(cls, value: str | None) -> str | None:
        return _not_blank(value)

    @field_validator("env")
    @classmethod
    def _check_env(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name or "=" in name or "\0" in name:
                raise ValueError(f"environment variable name {name!r} is not valid")
        return value

    def resolved(self) -> LocalJobConfig:
        """A copy with ``jobs_dir`` and ``cwd`` made absolute (defaults filled in)."""
        cwd = Path(self.cwd or os.getcwd()).expanduser().resolve()
        return self.model_copy(update={"cwd": str(cwd), "jobs_dir": str(self.resolved_jobs_dir())})

    def train_entry(self) -> EntryPoint:
        """The parsed training entrypoint."""
        return parse_entrypoint(self.entrypoint)

    def predict_entry(self) -> EntryPoint:
        """The parsed prediction entrypoint (default: ``predict`` next to the training function)."""
        if self.predict_entrypoint:
            return parse_entrypoint(self.predict_entrypoint, "predict")
        return self.train_entry().with_function("predict")


@contextlib.contextmanager
def _os_errors(what: str) -> Iterator[None]:
    """Translate OSErrors at the boundary: busy/briefly unavailable -> TransientError, else permanent."""
    try:
        yield
    except VendorError:
        raise
    except OSError as exc:
        status = errno.errorcode.get(exc.errno or 0)
        message = f"{what}: {exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
        if exc.errno in _TRANSIENT_ERRNOS:
            raise TransientError(message, vendor=VENDOR, status=status, vendor_message=str(exc)) from exc
        raise PermanentError(message, vendor=VENDOR, status=status, vendor_message=str(exc)) from exc


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _params(spec: dict[str, Any]) -> dict[str, Any]:
    """The entrypoint's ``params``: the TrainPluginInput fields, snake_case (job_spec stores camelCase)."""
    raw = dict(spec.get("input") or {})
    try:
        known = TrainPluginInput.model_validate(raw)
    except ValidationError as exc:
        raise InvalidJobSpec(describe_validation("training input of the job", exc), vendor=VENDOR) from None
    params = known.model_dump(mode="json", by_alias=False, exclude={"plugin_instance"})
    aliases = {f.alias or n for n, f in TrainPluginInput.model_fields.items()} | set(
        TrainPluginInput.model_fields
    )
    # Keys that are not TrainPluginInput fields (a hand-made spec) are passed on as they are.
    params.update({k: v for k, v in raw.items() if k not in aliases})
    return params


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# Job directories whose worker is a child of this process not yet reaped and recorded by _reap.
_REAPING: set[str] = set()
_REAPING_LOCK = threading.Lock()


def _reap(proc: subprocess.Popen[bytes], job: JobDir) -> None:
    # Runs in a daemon thread of the submitting process: waitpid() so the ended worker does not stay a
    # zombie, and record how it ended when it could not (SIGKILL leaves no exit_code of its own).
    try:
        code = proc.wait()
        with contextlib.suppress(OSError):
            job.write_exit_code(code, only_if_missing=True)
    finally:
        with _REAPING_LOCK:
            _REAPING.discard(str(job.path))


def _being_reaped(job: JobDir) -> bool:
    with _REAPING_LOCK:
        return str(job.path) in _REAPING


def _mark_cancelled(job: JobDir, message: str = "cancelled") -> None:
    """Write CANCELLED for a job whose worker is gone without having written an outcome."""
    state = job.read_state() or {}
    if state.get("state") in TERMINAL_RAW_STATES:
        return
    now = now_iso()
    state.update(state="CANCELLED", message=message, end_time=now, update_time=now)
    job.write_state(state)


def _escalate(job: JobDir, worker: ProcessIdentity, grace: float) -> None:
    """SIGKILL the worker's process group if it outlives ``grace`` seconds after SIGTERM; record CANCELLED."""
    deadline = time.monotonic() + grace
    while worker.is_running() and time.monotonic() < deadline:
        time.sleep(0.05)
    if worker.is_running():
        # Checked just before: the identity (pid + start time) still matches, so the group is the worker's.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(worker.pid, signal.SIGKILL)
        end = time.monotonic() + 5.0
        while worker.is_running() and time.monotonic() < end:
            time.sleep(0.05)
    if worker.is_running() is False:
        with contextlib.suppress(OSError):
            _mark_cancelled(job, "cancelled (killed after the grace period)" if grace else "cancelled")


class LocalProcessModel(OnlinePredictions, ExternalJobModel[LocalJobConfig]):
    """Runs training in a detached local process and predicts in this one.

    The job is the directory ``<jobs_dir>/<submission_key>``; the worker outlives the process that
    submitted it, and any process that can read the directory can follow, cancel or use the job.
    """

    adapter_name: ClassVar[str] = "local"
    vendor: ClassVar[str] = VENDOR
    config_class: ClassVar[type[LocalJobConfig]] = LocalJobConfig
    states: ClassVar[StateTable] = STATES

    def __init__(self) -> None:
        super().__init__()
        self._predict_fns: dict[tuple[str, str], Callable[..., Any]] = {}
        self._predict_lock = threading.Lock()
        self._succeeded: set[str] = set()  # jobs seen SUCCEEDED: terminal, so never asked again

    # -- configuration -----------------------------------------------------------------------------------

    def train(
        self, input: PluginRequest[TrainPluginInput], *, new: bool = False
    ) -> InvocableResponse[TrainPluginOutput]:
        """Submit (or adopt) the job; ``jobs_dir`` and ``cwd`` are made absolute first.

        They are saved in the job record, so a model reloaded in another process or another working
        directory reaches the same job and the same entrypoint.
        """
        self.receive_config(self.require_config().resolved())
        return super().train(input, new=new)

    def job_spec(self, input: TrainPluginInput) -> dict[str, Any]:
        """The training input and the config fields that change what the job computes.

        A script entrypoint's content is part of it: editing the script and training again runs the new
        code instead of adopting the job the old code ran (or is running).
        """
        config = self.require_config().resolved()
        spec = super().job_spec(input)
        spec["config"] = config.model_dump(
            mode="json", by_alias=False, include=set(job_fields(LocalJobConfig))
        )
        entry = config.train_entry().resolved(Path(str(config.cwd)))
        if entry.is_script:
            with contextlib.suppress(OSError):
                spec["entrypoint_sha256"] = hashlib.sha256(Path(entry.target).read_bytes()).hexdigest()
        return spec

    def preflight(self, input: TrainPluginInput) -> dict[str, Any]:
        """The base checks, then the entrypoint: its script or module imports and has the function.

        The training data, when it is a local path, must exist: relative paths resolve against ``cwd``
        (the current directory by default), not the spec file's folder.
        """
        found = super().preflight(input)
        config = self.require_config().resolved()
        cwd = Path(str(config.cwd))
        entry = config.train_entry()
        try:
            entry.load(cwd)
        except EntrypointError as exc:
            raise SpecError(
                f"config.entrypoint = {config.entrypoint!r}: {exc} (relative paths resolve against {cwd}, "
                "the current directory unless config.cwd is set; not the spec file's folder)"
            ) from None
        found["entrypoint"] = str(entry.resolved(cwd))
        found["cwd"] = str(cwd)
        url = input.training_data_url
        if url and "://" not in url:
            path = (cwd / os.path.expanduser(url)).resolve()
            if not path.exists():
                raise SpecError(
                    f"input.training_data_url = {url!r}: {path} does not exist (relative paths resolve "
                    f"against {cwd}, the current directory unless config.cwd is set)"
                )
            found["trainingData"] = str(path)
        return found

    def connect(self) -> Path:
        """Nothing to connect to: make sure the jobs directory exists and return it."""
        jobs = self.jobs_dir
        with _os_errors(f"create jobs directory {jobs}"):
            jobs.mkdir(parents=True, exist_ok=True)
        return jobs

    @property
    def jobs_dir(self) -> Path:
        """The absolute jobs directory of the current config.

        Read from the config each time rather than from the cached ``client``: a later
        ``receive_config`` with another ``jobs_dir`` must not keep using the old one.
        """
        return self.local.resolved_jobs_dir()

    @property
    def local(self) -> LocalConnection:
        """The typed connection (jobs directory, heartbeat and cancel settings)."""
        return self.connection_as(LocalConnection)

    # -- the vendor contract -----------------------------------------------------------------------------

    def _key(self, submission_key: str) -> str:
        try:
            return validate_name(submission_key, "submission key")
        except InvalidName as exc:
            raise InvalidJobSpec(str(exc), vendor=VENDOR) from None

    def _ref(self, path: Path) -> JobRef:
        return JobRef(adapter=self.adapter_name, job_id=path.name, resources={"job_dir": str(path)})

    def _job(self, ref: JobRef) -> JobDir:
        """The job directory of ``ref``; JobNotFound if it does not exist."""
        given = ref.resources.get("job_dir")
        path = Path(given) if given else self.jobs_dir / self._key(ref.job_id)
        if not path.is_dir():
            raise JobNotFound(
                f"local job {ref.job_id} does not exist (no directory {path})",
                job_id=ref.job_id,
                vendor=VENDOR,
            )
        return JobDir(path)

    def find_job(self, submission_key: str) -> JobRef | None:
        """The job directory named ``submission_key``, if there is one."""
        path = self.jobs_dir / self._key(submission_key)
        with _os_errors(f"look up job {submission_key}"):
            return self._ref(path) if path.is_dir() else None

    def submit_job(self, spec: dict[str, Any], submission_key: str) -> JobRef:
        """Create the job directory (once per key) and start its detached worker.

        The directory is assembled under a temporary name and renamed into place, so a job directory is
        never seen without its spec and state; the rename fails if the key exists, which makes this
        idempotent. A worker that cannot be started rolls the directory back, so a retry starts afresh.
        """
        key = self._key(submission_key)
        config = self.require_config().resolved()
        jobs = self.connect()
        final = jobs / key
        cwd = Path(str(config.cwd))
        python = config.python or sys.executable
        with _os_errors(f"create job {key}"):
            if final.is_dir():
                return self._ref(final)
            created = self._create_dir(jobs, key, self._spec_file(spec, key, config, python))
        if not created:
            return self._ref(final)
        job = JobDir(final)
        try:
            proc = self._spawn(job, config, python, cwd)
        except BaseException as exc:
            self._roll_back(job)
            if isinstance(exc, FileNotFoundError | NotADirectoryError | PermissionError):
                what = f"interpreter {python!r}" if exc.filename in (python, None) else f"{exc.filename}"
                raise InvalidJobSpec(
                    f"cannot start the worker of job {key}: {what}: {exc.strerror or exc} (cwd {cwd})",
                    vendor=VENDOR,
                ) from exc
            if isinstance(exc, OSError):
                with _os_errors(f"start the worker of job {key}"):
                    raise
            raise
        with contextlib.suppress(OSError):  # the worker writes it too, once it runs
            job.write_identity(ProcessIdentity.of(proc.pid))
        with _REAPING_LOCK:
            _REAPING.add(str(job.path))
        threading.Thread(target=_reap, args=(proc, job), name=f"jobferry-reap-{key}", daemon=True).start()
        return self._ref(final)

    @staticmethod
    def _spec_file(spec: dict[str, Any], key: str, config: LocalJobConfig, python: str) -> dict[str, Any]:
        cwd = Path(str(config.cwd))
        return {
            "format": 1,
            "submission_key": key,
            "entrypoint": str(config.train_entry().resolved(cwd)),
            "predict_entrypoint": str(config.predict_entry().resolved(cwd)),
            "cwd": str(cwd),
            "python": python,
            "env_names": sorted(config.env),  # names only: values may be secrets
            "params": _params(spec),
            "heartbeat_interval": config.heartbeat_interval,
            "heartbeat_timeout": config.heartbeat_timeout,
            "grace_period": config.grace_period,
            "create_time": now_iso(),
        }

    @staticmethod
    def _create_dir(jobs: Path, key: str, spec_file: dict[str, Any]) -> bool:
        """Assemble the job directory and rename it into place; False if ``key`` already exists."""
        staging = jobs / f".staging-{key}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            atomic_write_json(staging / "spec.json", spec_file)
            atomic_write_json(
                staging / "state.json", {"state": "QUEUED", "create_time": spec_file["create_time"]}
            )
            (staging / "artifacts").mkdir()
            try:
                os.rename(staging, jobs / key)  # fails if the (non-empty) job directory exists
            except OSError as exc:
                if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) or (jobs / key).is_dir():
                    return False
                raise
            return True
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    @staticmethod
    def _spawn(job: JobDir, config: LocalJobConfig, python: str, cwd: Path) -> subprocess.Popen[bytes]:
        env = {**os.environ, **config.env}
        path = config.env.get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
        # The cwd first, so `package.module` entrypoints of the project import as they do for the user.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(cwd), path) if p)
        env["PYTHONUNBUFFERED"] = "1"  # log.txt follows the job live
        env["JOBFERRY_JOB_DIR"] = str(job.path)
        with open(job.file(LOG), "ab") as log:
            return subprocess.Popen(
                [python, "-m", "adapters.local._worker", str(job.path)],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: no SIGINT/SIGHUP from our terminal, and one process group to signal.
                start_new_session=True,
                close_fds=True,
            )

    @staticmethod
    def _roll_back(job: JobDir) -> None:
        # Renamed away first so that nobody sees a half-deleted job directory.
        trash = job.path.with_name(f".failed-{job.path.name}-{uuid.uuid4().hex[:8]}")
        with contextlib.suppress(OSError):
            os.rename(job.path, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def describe_job(self, ref: JobRef) -> JobStatus:
        """Read the job's state, checking that a job not yet ended still has a live worker."""
        with _os_errors(f"describe job {ref.job_id}"):
            return self._describe(self._job(ref))

    def _describe(self, job: JobDir) -> JobStatus:
        spec = job.read_spec() or {}
        state = job.read_state() or {}
        note: str | None = None
        dead: str | None = None
        if state.get("state") not in TERMINAL_RAW_STATES:
            alive, note = self._liveness(job, spec, state)
            if not alive:
                # Re-read: the worker may have written its outcome and exited between our two looks.
                state = job.read_state() or {}
                if state.get("state") not in TERMINAL_RAW_STATES:
                    dead = note
        raw = state.get("state")
        raw_state = str(raw) if raw is not None else None
        job_state = self.states.map(raw_state)
        message = state.get("message")
        error = state.get("error")
        cancelling = job.cancel_requested()
        if dead is not None:
            if cancelling:
                job_state, message, error = JobState.CANCELLED, "cancelled (the worker stopped)", None
            else:
                job_state, message = JobState.FAILED, dead
                error = {"code": "WORKER_DIED", "message": dead}
        elif not job_state.is_terminal and cancelling:
            job_state = JobState.CANCELLING
        elif note and not job_state.is_terminal:
            message = f"{message}; {note}" if message else note
        progress = state.get("progress")
        if isinstance(progress, int | float) and not isinstance(progress, bool):
            progress = min(1.0, max(0.0, float(progress)))  # never let a bad report break describe
        else:
            progress = None
        outputs = state.get("outputs") if isinstance(state.get("outputs"), dict) else {}
        return JobStatus(
            state=job_state,
            raw_state=raw_state,
            progress=progress,
            message=str(message) if message is not None else None,
            error=JobErrorInfo.model_validate(error) if isinstance(error, dict) else None,
            create_time=_time(state.get("create_time") or spec.get("create_time")),
            start_time=_time(state.get("start_time")),
            # A dead worker's end is its last sign of life (stable across polls, unlike "now").
            end_time=_time(state.get("end_time")) or (job.heartbeat_time() if dead else None),
            update_time=_time(state.get("update_time")),
            outputs={**(outputs or {}), "artifacts_dir": str(job.artifacts), "log_file": str(job.file(LOG))},
            submission_key=str(spec.get("submission_key") or ""),
        )

    @staticmethod
    def _now() -> datetime:
        return datetime.now(UTC)

    def _liveness(self, job: JobDir, spec: dict[str, Any], state: dict[str, Any]) -> tuple[bool, str | None]:
        """Is the worker of an unfinished job alive? (alive, note); the note says why not, or what is odd.

        The pid file is trusted when it can be checked (same host, and on Linux the start time rules out
        a reused pid); the heartbeat decides only when it cannot be. A worker whose pid is verified alive
        but whose heartbeat is stale is reported as running, with a note: a C extension holding the GIL
        or a stopped (SIGSTOP) process is slow, not dead, and a FAILED that later turns SUCCEEDED would
        break the promise that terminal states are final.
        """
        timeout = float(spec.get("heartbeat_timeout") or self.local.heartbeat_timeout)
        worker = job.read_identity()
        beat = job.heartbeat_age()
        running = worker.is_running() if worker is not None else None
        if running is True:
            if beat is not None and beat > timeout:
                return True, f"worker unresponsive: no heartbeat for {beat:.0f} s"
            return True, None
        if running is False:
            if _being_reaped(job):
                # Our own child, ended a moment ago: wait for our reaper to record how, so that the
                # FAILED status, once reported, says why and never changes.
                return True, None
            return False, f"worker died ({_describe_exit(job.read_exit_code())}){self._last_words(job)}"
        if beat is not None:
            if beat <= timeout:
                return True, None
            return False, f"worker died (no heartbeat for {beat:.0f} s){self._last_words(job)}"
        created = _time(state.get("create_time") or spec.get("create_time"))
        age = (self._now() - created).total_seconds() if created else timeout + 1
        if age <= timeout:
            return True, None  # just submitted: the worker is starting
        return False, f"worker died (it never started within {timeout:g} s){self._last_words(job)}"

    @staticmethod
    def _last_words(job: JobDir) -> str:
        code = job.read_exit_code()
        if code is not None and code < 0:
            return ""  # killed by a signal: the log's last line is not why
        tail = job.log_tail()
        return f"; last log line: {tail}" if tail else ""

    def cancel_job(self, ref: JobRef) -> None:
        """SIGTERM the worker's process group; SIGKILL it after the grace period (in the background).

        A finished job is left as it is. A worker that is already gone gets CANCELLED written for it.
        The wait for the grace period runs in a non-daemon thread: the caller is not blocked, and the
        process does not exit before the escalation is done.
        """
        with _os_errors(f"cancel job {ref.job_id}"):
            job = self._job(ref)
            if (job.read_state() or {}).get("state") in TERMINAL_RAW_STATES:
                return
            job.request_cancel()  # the worker polls for it too (a worker on another host, or starting)
            worker = job.read_identity()
            running = worker.is_running() if worker is not None else None
            if worker is not None and running:
                try:
                    os.killpg(worker.pid, signal.SIGTERM)
                except ProcessLookupError:
                    running = False
                else:
                    grace = float((job.read_spec() or {}).get("grace_period", self.local.grace_period))
                    threading.Thread(
                        target=_escalate, args=(job, worker, grace), name=f"jobferry-cancel-{ref.job_id}"
                    ).start()
            if running is False:
                _mark_cancelled(job)

    def predict_chunk(
        self, ref: JobRef, instances: list[Any], parameters: dict[str, Any] | None
    ) -> list[Any]:
        """``predict(artifacts_dir, instances, parameters)`` from the predict entrypoint, in this process."""
        with _os_errors(f"predict with job {ref.job_id}"):
            job = self._job(ref)
        if ref.job_id not in self._succeeded:
            status = self.describe_job(ref)
            if status.state is not JobState.SUCCEEDED:
                raise Conflict(
                    f"job {ref.job_id} is {status.summary()}, not SUCCEEDED: it has no trained model to "
                    "predict with",
                    vendor=VENDOR,
                )
            self._succeeded.add(ref.job_id)
        predict, entry = self._predict_fn(job)
        try:
            result = predict(job.artifacts, list(instances), parameters)
        except Exception as exc:
            raise LocalEntrypointError(
                f"predict entrypoint {entry} raised {type(exc).__name__}: {exc}", vendor=VENDOR
            ) from exc
        if not isinstance(result, list | tuple):
            raise LocalEntrypointError(
                f"predict entrypoint {entry} returned a {type(result).__name__}; expected a list",
                vendor=VENDOR,
            )
        return list(result)

    def _predict_fn(self, job: JobDir) -> tuple[Callable[..., Any], str]:
        config = self.config
        spec = job.read_spec() or {}
        cwd = Path((config.cwd if config else None) or spec.get("cwd") or os.getcwd())
        # An explicit predict_entrypoint wins; else the one recorded when the job was submitted.
        override = self.local.predict_entrypoint
        if override:
            entry = parse_entrypoint(override, "predict")
        elif spec.get("predict_entrypoint"):
            entry = parse_entrypoint(str(spec["predict_entrypoint"]), "predict")
        elif config is not None:
            entry = config.predict_entry()
        else:
            raise InvalidJobSpec(
                f"job {job.path.name} records no predict entrypoint; give predict_entrypoint in the config",
                vendor=VENDOR,
            )
        entry = entry.resolved(cwd)
        key = (str(entry), str(cwd))
        with self._predict_lock:  # run() calls predict_chunk from several threads
            fn = self._predict_fns.get(key)
            if fn is None:
                try:
                    fn = self._predict_fns[key] = entry.load(cwd)
                except EntrypointError as exc:
                    raise InvalidJobSpec(str(exc), vendor=VENDOR) from exc
        return fn, str(entry)
