"""ExternalJobModel: a TrainableModel whose training runs on a third-party service.

A vendor adapter implements five small methods -- ``submit_job``, ``describe_job`` (one vendor call, no
retries), ``cancel_job``, ``predict_chunk`` and ``find_job`` (by submission key) -- plus ``connect`` to build
its client. Everything else is written once here: exactly-once submission, persistence of the job reference
before ``train`` returns, retries, adaptive rate-limited polling, chunked concurrent predictions and status
reporting.

Exactly-once submission::

    1. intent record {submission key, spec hash} -> workspace   (before any vendor call)
    2. create at the vendor, labelled with the key                (retried; before each retry and after a
                                                                   lost response: look the key up first)
    3. job.json (job reference + credential reference) -> the plugin instance's "default" handle
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import uuid
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from checkpoint import ModelCheckpoint, StatusLog, Workspace
from checkpoint._errors import (
    JobFailed,
    JobferryError,
    JobNotFound,
    JobTimeout,
    OutcomeUnknown,
    PredictionError,
    SpecError,
    TransientError,
    VendorError,
)

from ._chunking import Chunk, plan_chunks
from ._clock import SYSTEM_CLOCK, Clock
from ._credentials import CredentialRef
from ._jobs import JobRecord, JobRef, JobState, JobStatus
from ._messages import (
    InvocableResponse,
    PluginRequest,
    Task,
    TaskState,
    TrainPluginInput,
    TrainPluginOutput,
)
from ._poll import PollPolicy, RateLimiter, limiter_for
from ._retry import RetryPolicy
from .trainable_model import TrainableModel

log = logging.getLogger(__name__)

JOB_FILE = "job.json"
INTENTS_DIR = "intents"
ADOPTABLE = frozenset(
    {JobState.QUEUED, JobState.PENDING, JobState.RUNNING, JobState.PAUSED, JobState.UNKNOWN}
    | {JobState.CANCELLING, JobState.SUCCEEDED}
)


class ExternalJobConfig(BaseModel):
    """Settings every external-job adapter shares; adapters subclass it with their own fields.

    Attributes:
        credentials: a reference to the credentials (never the key itself).
        retry: the retry policy of every vendor call.
        poll: the polling policy of ``wait`` / ``watch``.
        requests_per_minute: the vendor's quota for status calls, shared by every job in this process.
        predictions_per_minute: the vendor's quota for prediction requests.
        max_instances_per_request: the most instances one prediction request carries.
        max_request_bytes: the largest prediction request body.
        max_concurrency: prediction requests in flight at once.
    """

    model_config = ConfigDict(extra="forbid")

    credentials: CredentialRef = Field(default_factory=CredentialRef.application_default)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    poll: PollPolicy = Field(default_factory=PollPolicy)
    requests_per_minute: float = Field(default=600.0, gt=0)
    predictions_per_minute: float = Field(default=30_000.0, gt=0)
    max_instances_per_request: int = Field(default=100, ge=1)
    max_request_bytes: int = Field(default=1_500_000, ge=1024)
    max_concurrency: int = Field(default=8, ge=1, le=256)


ConfigT = TypeVar("ConfigT", bound=ExternalJobConfig)
_T = TypeVar("_T")


def spec_hash(spec: dict[str, Any]) -> str:
    """A stable hash of a job spec (canonical JSON, sorted keys)."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def new_submission_key() -> str:
    """A client-generated key that is also a valid Google Cloud label value (lowercase, 34 chars)."""
    return "jf" + uuid.uuid4().hex


class _Reconcile(TransientError):
    """A create whose outcome is unknown: retry, but only after looking the submission key up."""


class ExternalJobModel(TrainableModel[ConfigT], Generic[ConfigT]):
    """A TrainableModel whose training runs on an external service.

    Subclasses set :attr:`adapter_name` and :attr:`config_class`, list in :attr:`connection_fields` the
    config fields needed to reach an existing job again (they are saved in ``job.json``), and implement
    the vendor contract below. Names starting with ``_`` are the engine's own (``_call`` is its retry
    wrapper, ``_persist`` its checkpoint write): an adapter must not override them.
    """

    adapter_name: ClassVar[str]
    adapter_version: ClassVar[str] = "0.1.0"
    config_class: ClassVar[type[ExternalJobConfig]] = ExternalJobConfig
    connection_fields: ClassVar[tuple[str, ...]] = ()
    vendor: ClassVar[str] = "external"

    #: Time source and sleeper; replace with a FakeClock in tests.
    clock: Clock = SYSTEM_CLOCK

    def __init__(self) -> None:
        super().__init__()
        self.record: JobRecord | None = None
        self._client: Any = None
        self._workspace: Workspace | None = None
        self._plugin_instance_id: str | None = None
        #: True when the last ``train`` adopted a job already submitted for the same spec.
        self.adopted = False

    # -- the vendor contract ----------------------------------------------------------------------------

    @abstractmethod
    def connect(self) -> Any:
        """Build an authenticated client (called lazily, once, on first use)."""

    @abstractmethod
    def submit_job(self, spec: dict[str, Any], submission_key: str) -> JobRef:
        """Create the job at the vendor, labelled with ``submission_key``.

        Raise TransientError / PermanentError for failures whose outcome is known, and OutcomeUnknown when
        the job may have been created (a timeout, a dropped connection after the request was sent).
        """

    @abstractmethod
    def describe_job(self, ref: JobRef) -> JobStatus:
        """One vendor call, no retries: the job's status mapped to :class:`JobStatus`."""

    @abstractmethod
    def cancel_job(self, ref: JobRef) -> None:
        """Ask the vendor to cancel the job."""

    @abstractmethod
    def find_job(self, submission_key: str) -> JobRef | None:
        """The job labelled with ``submission_key``, or ``None`` if there is none."""

    @abstractmethod
    def predict_chunk(
        self, ref: JobRef, instances: list[Any], parameters: dict[str, Any] | None
    ) -> list[Any]:
        """Predictions for one chunk of instances, in their order (one vendor call, no retries)."""

    def job_spec(self, input: TrainPluginInput) -> dict[str, Any]:
        """What defines the job, for the spec hash: by default the training input and the config."""
        config = self.require_config()
        # The shared settings (credentials, policies, quotas, chunking) change how we talk to the vendor,
        # not what the job is: changing them must adopt the running job, not submit another.
        not_spec = set(ExternalJobConfig.model_fields)
        return {
            "adapter": self.adapter_name,
            "config": config.model_dump(mode="json", by_alias=False, exclude=not_spec),
            "input": input.model_dump(mode="json", by_alias=False, exclude={"plugin_instance"}),
        }

    def quota_key(self) -> str:
        """What the vendor's quotas are counted per (e.g. a project and region); shared limiters use it."""
        return ""

    # -- configuration ----------------------------------------------------------------------------------

    def receive_config(self, config: Any) -> None:
        """Accept the config as a ``config_class`` instance or a plain dict (validated into one)."""
        self._client = None  # a new config may point elsewhere: reconnect on next use
        if config is None:
            self.config = None
            return
        if isinstance(config, self.config_class):
            self.config = config  # type: ignore[assignment]
            return
        data = config.model_dump() if isinstance(config, BaseModel) else config
        try:
            self.config = self.config_class.model_validate(data)  # type: ignore[assignment]
        except ValidationError as exc:
            raise SpecError(_describe_validation(self.config_class.__name__, exc)) from None

    def require_config(self) -> ConfigT:
        """The config, or a clear error when the model has none."""
        if self.config is None:
            raise SpecError(
                f"{type(self).__name__} has no config: pass plugin_instance_config when loading, or call "
                f"receive_config({self.config_class.__name__}(...))"
            )
        return self.config

    @property
    def client(self) -> Any:
        """The vendor client, built on first use."""
        if self._client is None:
            self._client = self.connect()
        return self._client

    # -- where the job's checkpoint lives -------------------------------------------------------------------

    def bind(self, workspace: Workspace | str, plugin_instance_id: str) -> None:
        """Set the workspace and plugin instance that ``train`` persists the job to."""
        self._workspace = Workspace.coerce(workspace)
        self._plugin_instance_id = plugin_instance_id

    def _where(self, request: PluginRequest[Any] | None = None) -> tuple[Workspace, str]:
        ctx = request.context if request is not None else None
        ws: Workspace | None = self._workspace
        pid = self._plugin_instance_id
        if ctx is not None and ctx.workspace:
            ws = Workspace.coerce(ctx.workspace)
        if ctx is not None and ctx.plugin_instance_id:
            pid = ctx.plugin_instance_id
        data = request.data if request is not None else None
        if pid is None and isinstance(data, TrainPluginInput) and data.plugin_instance:
            pid = data.plugin_instance
        if self._checkpoint is not None:
            ws = ws or self._checkpoint.workspace
            pid = pid or self._checkpoint.plugin_instance_id
        if pid is None:
            raise SpecError(
                "no plugin instance to persist the job to: give request.context.plugin_instance_id, "
                "TrainPluginInput.plugin_instance, or call bind(workspace, plugin_instance_id)"
            )
        return ws or Workspace(), pid

    # -- persistence: job.json is the whole checkpoint --------------------------------------------------

    def save_to_folder(self, checkpoint_path: Path) -> None:
        """Write ``job.json`` (and nothing else)."""
        if self.record is None:
            raise JobferryError(f"{type(self).__name__} has no job to save; call train() first")
        (checkpoint_path / JOB_FILE).write_text(self.record.model_dump_json(indent=2, exclude_none=True))

    def load_from_folder(self, checkpoint_path: Path) -> None:
        """Read ``job.json``; the client is rebuilt lazily, on first use."""
        path = checkpoint_path / JOB_FILE
        try:
            record = JobRecord.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise JobferryError(
                f"{checkpoint_path} holds no {JOB_FILE}: not an external-job checkpoint"
            ) from None
        except ValidationError as exc:
            raise JobferryError(f"{path} is not a valid job record: {exc}") from None
        self._adopt_record(record)

    def _adopt_record(self, record: JobRecord) -> None:
        if record.adapter != self.adapter_name:
            raise JobferryError(
                f"job record is for adapter {record.adapter!r}, not {self.adapter_name!r} "
                f"({type(self).__name__}); load it with that adapter"
            )
        self.record = record
        if self.config is None:
            # Enough of a config to reach the job again: its connection fields and credential reference.
            # Validate when we can (nested models come back as models); a config with required training
            # fields cannot validate from connection fields alone, so fall back to an unvalidated one.
            values = {**record.connection, "credentials": record.credentials}
            try:
                self.config = self.config_class.model_validate(values)  # type: ignore[assignment]
            except ValidationError:
                self.config = self.config_class.model_construct(**values)  # type: ignore[assignment]

    def _connection(self) -> dict[str, Any]:
        config = self.require_config()
        return {f: getattr(config, f) for f in self.connection_fields if getattr(config, f, None) is not None}

    def _persist(self, handle: str | None = None) -> str:
        ws, pid = self._where()
        if handle is None:
            # Keep a model loaded from a named handle on that handle; new jobs go to "default".
            same = self._checkpoint is not None and self._checkpoint.plugin_instance_id == pid
            handle = self._checkpoint.handle if same and self._checkpoint else ModelCheckpoint.DEFAULT_HANDLE
        return self.save_remote(ws, pid, handle, set_as_default=handle == ModelCheckpoint.DEFAULT_HANDLE)

    # -- vendor calls, wrapped --------------------------------------------------------------------------

    def _limiter(self, per_minute: float, kind: str) -> RateLimiter:
        return limiter_for((self.vendor, self.quota_key(), kind), per_minute, self.clock)

    def _call(self, fn: Callable[[], _T], what: str) -> _T:
        return self.require_config().retry.call(fn, what=what, clock=self.clock)

    @property
    def job(self) -> JobRef:
        """The job this model tracks."""
        if self.record is None or self.record.job is None:
            raise JobferryError(f"{type(self).__name__} has no job: call train() or load a job checkpoint")
        return self.record.job

    def refresh(self) -> JobStatus:
        """Describe the job once (rate-limited, retried), record the status and return it."""
        ref = self.job
        config = self.require_config()

        def describe() -> JobStatus:
            self._limiter(config.requests_per_minute, "status").acquire()
            return self.describe_job(ref)

        status: JobStatus = self._call(describe, f"describe {ref.job_id}")
        assert self.record is not None
        # Persist on a change of state, not of progress: a checkpoint write per poll would cost more than
        # the poll itself on a remote workspace.
        changed = not status.same_state(self.record.last_status)
        self.record = self.record.model_copy(update={"last_status": status})
        if changed and (self._workspace is not None or self._checkpoint is not None):
            self._persist()
        return status

    # -- the TrainableModel contract --------------------------------------------------------------------

    def train(
        self, input: PluginRequest[TrainPluginInput], *, new: bool = False
    ) -> InvocableResponse[TrainPluginOutput]:
        """Submit the job and return at once with a running Task carrying the job reference.

        The job reference is persisted to the plugin instance's ``default`` handle before this returns. A
        job already submitted for the same spec (running, or succeeded) is adopted instead of creating
        another, unless ``new`` is set.
        """
        ws, pid = self._where(input)
        self.bind(ws, pid)
        data = input.data or TrainPluginInput()
        spec = self.job_spec(data)
        digest = spec_hash(spec)
        intents = _Intents(ws, pid)

        adopted = None if new else self._adoptable(intents, digest)
        last_status: JobStatus | None = None
        if adopted is not None:
            ref, key, last_status = adopted
        else:
            key = (None if new else intents.pending_key(digest)) or new_submission_key()
            intents.write(key, digest, self.adapter_name, None)
            ref = self._create_exactly_once(spec, key)
        self.record = JobRecord(
            adapter=self.adapter_name,
            adapter_version=self.adapter_version,
            job=ref,
            connection=self._connection(),
            credentials=self.require_config().credentials,
            submission_key=key,
            spec_hash=digest,
            last_status=last_status,
        )
        # The job reference is safe before anything else happens.
        archive = self._persist(ModelCheckpoint.DEFAULT_HANDLE)
        intents.write(key, digest, self.adapter_name, ref)
        self.adopted = adopted is not None
        verb = "adopted (already submitted for this spec)" if self.adopted else "submitted"
        log.info("job %s %s for %s/%s", ref.job_id, verb, ws.url, pid)
        return self._response(TaskState.running, archive, message=f"job {ref.job_id} {verb}")

    def _adoptable(self, intents: _Intents, digest: str) -> tuple[JobRef, str, JobStatus] | None:
        """The newest job submitted for this spec, with its status, if it may be adopted."""
        for intent in intents.for_spec(digest):  # newest first
            key = intent["submissionKey"]
            if not intent.get("job"):
                # Crashed (or lost the response) between create and persist: is the job there after all?
                found = self._call(functools.partial(self.find_job, key), f"find job {key}")
                if found is None:
                    continue
                status = self.describe_once(found)
                if status is not None and status.state in ADOPTABLE:
                    return found, key, status
                # It was created but ended badly: remember it, so the key is not reused, and start afresh.
                intents.write(key, digest, self.adapter_name, found)
                return None
            ref = JobRef.model_validate(intent["job"])
            status = self.describe_once(ref)
            if status is None or status.state not in ADOPTABLE:
                return None  # the newest job for this spec is gone or ended badly: submit afresh
            return ref, key, status
        return None

    def describe_once(self, ref: JobRef) -> JobStatus | None:
        """Describe ``ref`` with retries; ``None`` if the vendor no longer knows it."""
        try:
            status: JobStatus = self._call(lambda: self.describe_job(ref), f"describe {ref.job_id}")
        except JobNotFound:
            return None
        return status

    def _create_exactly_once(self, spec: dict[str, Any], key: str) -> JobRef:
        attempts = 0

        def attempt() -> JobRef:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                # Before any retry of a create, look the key up: the failed attempt may have created it.
                found = self.find_job(key)
                if found is not None:
                    log.info("adopted job %s created by an earlier attempt (key %s)", found.job_id, key)
                    return found
            try:
                return self.submit_job(spec, key)
            except OutcomeUnknown as exc:
                raise _Reconcile(str(exc), vendor=exc.vendor, code=exc.code, status=exc.status) from exc

        try:
            ref: JobRef = self._call(attempt, f"create job {key}")
        except _Reconcile as exc:
            found = self._call(lambda: self.find_job(key), f"find job {key}")
            if found is not None:
                return found
            raise OutcomeUnknown(
                f"could not tell whether job {key} was created ({exc}); run train again: it looks the "
                "submission key up before creating anything",
                vendor=exc.vendor,
            ) from exc
        return ref

    def train_status(self, input: PluginRequest[TrainPluginInput]) -> InvocableResponse[TrainPluginOutput]:
        """Poll the job once and report it as a Task (the original's ``is_status_check`` protocol).

        The job comes from ``input.status.remote_status_input`` when given (so a fresh model in another
        process can answer), else from this model's own record.
        """
        remote = input.status.remote_status_input if input.status else None
        if remote:
            try:
                self._adopt_record(JobRecord.model_validate(remote))
            except ValidationError as exc:
                raise SpecError(f"remote_status_input is not a job record: {exc}") from None
        if input.context is not None and input.context.plugin_instance_id:
            self.bind(*self._where(input))
        status = self.refresh()
        archive = None
        if self._workspace is not None or self._checkpoint is not None:
            _, pid = self._where()
            archive = f"{pid}/{ModelCheckpoint.DEFAULT_HANDLE}.zip"
        return self._response(status.state.task_state, archive, status=status)

    def _response(
        self,
        state: TaskState,
        archive: str | None,
        *,
        status: JobStatus | None = None,
        message: str | None = None,
    ) -> InvocableResponse[TrainPluginOutput]:
        assert self.record is not None
        pid = self._plugin_instance_id or (self._checkpoint.plugin_instance_id if self._checkpoint else None)
        output = TrainPluginOutput(
            plugin_instance_id=pid,
            archive_path=archive,
            training_progress={"state": status.state.value, "progress": status.progress} if status else None,
            training_results=status.outputs if status and status.state is JobState.SUCCEEDED else None,
        )
        task = Task(
            state=state,
            status_message=message or (status.summary() if status else None),
            status_code=(status.error.code if status and status.error else None),
            remote_status_input=self.record.model_dump(mode="json", exclude_none=True),
            remote_status_output=status.model_dump(mode="json", exclude_none=True) if status else None,
        )
        return InvocableResponse[TrainPluginOutput](data=output, status=task)

    # -- waiting -----------------------------------------------------------------------------------------

    def watch(self, timeout: float | None = None) -> Iterator[JobStatus]:
        """Yield the job's status each time it changes, until it ends (or ``timeout`` seconds pass).

        Raises JobTimeout when ``timeout`` runs out first; the job itself goes on.
        """
        config = self.require_config()
        schedule = config.poll.schedule()
        started = self.clock.now()
        age_at_start = self._age()
        last: JobStatus | None = None
        while True:
            status = self.refresh()
            if not status.same_observation(last):
                last = status
                self._post(status)
                yield status
            if status.is_terminal:
                return
            now = self.clock.now()
            if timeout is not None and now - started >= timeout:
                raise JobTimeout(
                    f"job {self.job.job_id} still {status.state.value} after {timeout:g} s",
                    job_id=self.job.job_id,
                    last_status=status,
                )
            interval = schedule.next_interval(
                state=status.state.value + (status.raw_state or ""),
                elapsed=age_at_start + (now - started),
                hint=status.poll_hint,
            )
            if timeout is not None:
                interval = min(interval, started + timeout - now)  # one last look at the deadline
            self.clock.sleep(interval)

    def wait(
        self, timeout: float | None = None, on_update: Callable[[JobStatus], object] | None = None
    ) -> JobStatus:
        """Poll until the job ends and return its final status.

        ``on_update`` is called with every change. Raises JobTimeout when ``timeout`` seconds pass first.
        A job that ends without success is returned, not raised: check ``status.state`` (or use
        :meth:`raise_for_status`).
        """
        final: JobStatus | None = None
        for status in self.watch(timeout):
            final = status
            if on_update is not None:
                on_update(status)
        assert final is not None
        return final

    def raise_for_status(self, status: JobStatus | None = None) -> JobStatus:
        """Raise JobFailed unless the job (or ``status``) succeeded."""
        status = status or (self.record.last_status if self.record else None) or self.refresh()
        if status.state is not JobState.SUCCEEDED:
            raise JobFailed(
                f"job {self.job.job_id} ended {status.summary()}", job_id=self.job.job_id, last_status=status
            )
        return status

    def _age(self) -> float:
        status = self.record.last_status if self.record else None
        created = status.create_time if status else None
        if created is None:
            return 0.0
        return max(0.0, (datetime.now(UTC) - created).total_seconds())

    def _post(self, status: JobStatus) -> None:
        if self._workspace is None and self._checkpoint is None:
            return
        ws, pid = self._where()
        response = self._response(
            status.state.task_state, f"{pid}/{ModelCheckpoint.DEFAULT_HANDLE}.zip", status=status
        )
        try:
            response.post_update(StatusLog(ws, pid))
        except (OSError, JobferryError) as exc:  # the status log is a convenience; never fail a wait on it
            log.warning("could not post status of %s/%s: %s", ws.url, pid, exc)

    def cancel(self) -> JobStatus:
        """Ask the vendor to cancel the job; return the status seen right after."""
        ref = self.job
        self._call(lambda: self.cancel_job(ref), f"cancel {ref.job_id}")
        return self.refresh()

    # -- predictions ---------------------------------------------------------------------------------------

    def prediction_target(self) -> JobRef:
        """What ``predict_chunk`` is called with: the job by default (adapters may use a deployment)."""
        return self.job

    def run(self, instances: Sequence[Any], parameters: dict[str, Any] | None = None) -> list[Any]:
        """Predictions for ``instances``, in their order.

        Instances are cut into chunks by count and JSON size, sent concurrently (bounded), each chunk
        retried on its own; a chunk that fails for good raises PredictionError naming it.
        """
        config = self.require_config()
        target = self.prediction_target()
        chunks = plan_chunks(
            instances,
            max_count=config.max_instances_per_request,
            max_bytes=config.max_request_bytes,
            parameters=parameters,
        )
        limiter = self._limiter(config.predictions_per_minute, "predict")

        def one(chunk: Chunk) -> list[Any]:
            part = list(instances[chunk.start : chunk.stop])

            def call() -> list[Any]:
                limiter.acquire()
                return self.predict_chunk(target, part, parameters)

            def failed(why: str) -> PredictionError:
                where = f"prediction chunk {chunk.index} (instances {chunk.start}..{chunk.stop - 1} of "
                return PredictionError(
                    f"{where}{len(instances)}) {why}",
                    chunk_index=chunk.index,
                    start=chunk.start,
                    stop=chunk.stop,
                )

            try:
                got: list[Any] = self._call(call, f"predict chunk {chunk.index}")
            except (VendorError, OSError) as exc:
                raise failed(f"failed: {exc}") from exc
            if len(got) != len(part):
                raise failed(f"returned {len(got)} predictions for {len(part)} instances")
            return got

        if len(chunks) <= 1 or config.max_concurrency == 1:
            return [p for chunk in chunks for p in one(chunk)]
        with ThreadPoolExecutor(max_workers=min(config.max_concurrency, len(chunks))) as pool:
            results = list(pool.map(one, chunks))  # map keeps input order
        return [p for part in results for p in part]


class _Intents:
    """Intent records under ``{plugin_instance_id}/intents/``: one per submission key."""

    def __init__(self, workspace: Workspace, plugin_instance_id: str) -> None:
        self.workspace = workspace
        self.dir = f"{plugin_instance_id}/{INTENTS_DIR}"

    def write(self, key: str, digest: str, adapter: str, ref: JobRef | None) -> None:
        record = {
            "submissionKey": key,
            "specHash": digest,
            "adapter": adapter,
            "job": ref.model_dump(mode="json") if ref else None,
            "writtenAt": datetime.now(UTC).isoformat(),
        }
        self.workspace.write_bytes(f"{self.dir}/{key}.json", json.dumps(record).encode())

    def all(self) -> list[dict[str, Any]]:
        out = []
        for name in self.workspace.list_records(self.dir):
            raw = self.workspace.read_bytes(f"{self.dir}/{name}")
            if raw:
                out.append(json.loads(raw))
        return sorted(out, key=lambda r: r.get("writtenAt", ""), reverse=True)

    def for_spec(self, digest: str) -> list[dict[str, Any]]:
        """Intents for this spec, newest first."""
        return [r for r in self.all() if r.get("specHash") == digest]

    def pending_key(self, digest: str) -> str | None:
        """The key of an intent for this spec that never got a job (reuse it: same label, same job)."""
        for r in self.for_spec(digest):
            if not r.get("job"):
                return str(r["submissionKey"])
        return None


def _describe_validation(what: str, exc: ValidationError) -> str:
    lines = [f"invalid {what}:"]
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"]) or "(root)"
        value = err.get("input")
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        lines.append(f"  {path} = {shown[:80]}: {err['msg']}")
    return "\n".join(lines)
