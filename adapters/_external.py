"""ExternalJobModel: the TrainableModel face of a job that runs on a third-party service.

The model composes three parts and writes only what joins them:

- the adapter's **vendor contract** -- ``connect``, ``submit_job``, ``describe_job`` (one call, no
  retries), ``cancel_job``, ``find_job`` (by submission key) -- reached through a validated, typed
  :class:`~adapters._connection.Connection`;
- a :class:`~adapters._handle.JobHandle` for the job, which owns the one poll loop;
- :class:`~adapters._submission.Submitter`, exactly-once submission.

Its own part is the checkpoint record (``job.json``) and the original contract's ``train`` /
``train_status``. Online predictions are a capability (:mod:`adapters._serving`), not part of the base.

The **protected engine API** for adapters -- documented, stable, no leading underscore -- is
``call`` (a vendor call with the retry policy), ``poll_call`` (rate-limited too), ``wait_for`` (the poll
loop over any status check), ``limiter``, ``update_job`` (merge resources into the job record and
persist it), ``persist``, ``location`` (where the checkpoint goes), ``connection`` and ``policies``.
Names starting with ``_`` are the engine's own.
"""

from __future__ import annotations

import functools
import logging
import warnings
from abc import abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from adapters._errors import JobFailed, QuotaExceeded, SpecError, TransientError
from checkpoint import ModelCheckpoint, StatusLog, Workspace, validate_name
from checkpoint._errors import JobferryError

from ._claim import Claims
from ._clock import SYSTEM_CLOCK, Clock
from ._connection import (
    Connection,
    ExternalJobConfig,
    Policies,
    connection_class_of,
    connection_from,
    connection_from_record,
    describe_validation,
    job_fields,
)
from ._handle import JobHandle
from ._jobs import JobRecord, JobRef, JobState, JobStatus
from ._messages import (
    InvocableResponse,
    PluginRequest,
    Task,
    TaskState,
    TrainPluginInput,
    TrainPluginOutput,
)
from ._poll import RateLimiter, limiter_for
from ._retry import RetryEvent
from ._submission import (
    IntentStore,
    Submitter,
    check_identity,
    describe_or_none,
    new_submission_key,
    spec_hash,
)
from .trainable_model import TrainableModel

log = logging.getLogger(__name__)

__all__ = [
    "JOB_FILE",
    "AdapterDeprecationWarning",
    "ExternalJobConfig",
    "ExternalJobModel",
    "new_submission_key",
    "spec_hash",
]

JOB_FILE = "job.json"

ConfigT = TypeVar("ConfigT", bound=ExternalJobConfig)
_T = TypeVar("_T")
_C = TypeVar("_C", bound=Connection)


@functools.cache
def _default_policies() -> Policies:
    # Built on first use, not at import: a model's validator is built when it is first validated.
    return Policies()


class AdapterDeprecationWarning(DeprecationWarning):
    """An adapter whose vendor service is deprecated: the message gives the vendor's dates and where to go.

    Warned when such an adapter is instantiated (so also when a checkpoint of it is loaded); the CLI
    prints it as one ``notice:`` line on stderr.
    """


class ExternalJobModel(TrainableModel[ConfigT], Generic[ConfigT]):
    """A TrainableModel whose training runs on an external service.

    Subclasses set :attr:`adapter_name` and :attr:`config_class` (whose bases declare the connection:
    see :mod:`adapters._connection`) and implement the vendor contract below.
    """

    adapter_name: ClassVar[str]
    adapter_version: ClassVar[str] = "0.1.0"
    config_class: ClassVar[type[ExternalJobConfig]] = ExternalJobConfig
    vendor: ClassVar[str] = "external"
    #: The ``TrainPluginInput`` fields this adapter reads (``plugin_instance`` is always allowed); ``None``
    #: means it hands the whole input on (the local adapter's entrypoint). A field set that the adapter
    #: never reads is refused: silently ignoring a holdout split or a seed would train something else.
    input_fields: ClassVar[frozenset[str] | None] = None
    #: True when the vendor refuses a second create for the same submission key (a client-chosen ID
    #: derived from it) and ``submit_job`` then adopts the existing job: a create whose outcome is unknown
    #: is retried as it is, with no look-up by key first (``find_job`` still serves reruns).
    idempotent_create: ClassVar[bool] = False

    #: Time source and sleeper; replace with a FakeClock in tests.
    clock: Clock = SYSTEM_CLOCK

    #: Set by adapters of a service the vendor deprecated: its dates and the migration path, one sentence.
    deprecation: ClassVar[str | None] = None

    def __init__(self) -> None:
        super().__init__()
        if self.deprecation:
            warnings.warn(AdapterDeprecationWarning(self.deprecation), stacklevel=2)
        self.record: JobRecord | None = None
        self._client: Any = None
        self._connection: Connection | None = None
        self._policies: Policies | None = None
        self._workspace: Workspace | None = None
        self._plugin_instance_id: str | None = None
        self._first_contact = False  # True while train() submits: see call()
        #: True when the last ``train`` adopted a job already submitted for the same spec.
        self.adopted = False
        #: Called with a progress line while ``train`` waits for another process submitting the same spec.
        self.on_submission_wait: Callable[[str], None] | None = None
        #: Called with ``(what, status)`` at each observation while :meth:`wait_for` waits (deploy, ...).
        self.on_operation_update: Callable[[str, JobStatus], None] | None = None
        #: Called before each retry of a vendor call (a terminal shows "retrying (n), last error ...").
        self.on_retry: Callable[[RetryEvent], None] | None = None

    # -- the vendor contract ----------------------------------------------------------------------------

    @abstractmethod
    def connect(self) -> Any:
        """Build an authenticated client from :attr:`connection` (called lazily, once, on first use)."""

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

    def job_spec(self, input: TrainPluginInput) -> dict[str, Any]:
        """What defines the job, for the spec hash: the training input and the config's job fields.

        Connection settings and policies are left out (see :mod:`adapters._connection`): changing how we
        reach or talk to the vendor adopts the running job instead of submitting another.
        """
        self.check_input(input)
        config = self.require_config()
        return {
            "adapter": self.adapter_name,
            "config": config.model_dump(mode="json", by_alias=False, include=set(job_fields(type(config)))),
            "input": input.model_dump(mode="json", by_alias=False, exclude={"plugin_instance"}),
        }

    def check_input(self, input: TrainPluginInput) -> None:
        """Refuse (SpecError) an input field this adapter would ignore, naming the field and the adapter."""
        if self.input_fields is None:
            return
        given = input.model_dump(exclude_none=True, by_alias=False, exclude={"plugin_instance"})
        ignored = sorted(name for name in given if name not in self.input_fields)
        if ignored:
            reads = ", ".join(sorted(self.input_fields)) or "none of them"
            raise SpecError(
                f"adapter {self.adapter_name} does not read input field(s) {', '.join(ignored)} "
                f"(it reads: {reads}); remove them, or set the equivalent in its config"
            )

    def preflight(self, input: TrainPluginInput) -> dict[str, Any]:
        """What ``train`` would submit, checked as far as can be without a vendor call or a write.

        Validates the input (:meth:`check_input`), checks that the credential reference resolves (an
        environment variable is set, a key file exists; nothing is read from it) and returns the job spec
        ``submit_job`` would receive with the connection it would use. Adapters extend it with their own
        checks (the local adapter imports its entrypoint). Raises the error ``train`` would raise.
        """
        spec = self.job_spec(input)
        connection = self.connection
        key_file = connection.credentials.key_file_path()
        return {
            "adapter": self.adapter_name,
            "jobSpec": spec,
            "connection": connection.model_dump(mode="json", exclude={"credentials"}, exclude_none=True),
            "credentials": connection.credentials.describe(),
            "credentialsFile": str(key_file) if key_file else None,
        }

    def quota_key(self) -> str:
        """What the vendor's quotas are counted per (e.g. a project and region); shared limiters use it."""
        return ""

    # -- configuration and connection -------------------------------------------------------------------

    @classmethod
    def connection_class(cls) -> type[Connection]:
        """The adapter's connection model (declared by its config's bases)."""
        return connection_class_of(cls.config_class)

    def receive_config(self, config: Any) -> None:
        """Accept the config as a ``config_class`` instance or a plain dict (validated into one)."""
        self._client = None  # a new config may point elsewhere: reconnect on next use
        self._connection = None
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
            raise SpecError(describe_validation(self.config_class.__name__, exc)) from None

    def require_config(self) -> ConfigT:
        """The full config (job fields included), or a clear error when the model has none."""
        if self.config is None:
            if self.record is not None:
                raise SpecError(
                    f"{type(self).__name__} was loaded from its checkpoint, which keeps only how to reach "
                    "the job, not its training settings: pass plugin_instance_config when loading, or call "
                    f"receive_config({self.config_class.__name__}(...))"
                )
            raise SpecError(
                f"{type(self).__name__} has no config: pass plugin_instance_config when loading, or call "
                f"receive_config({self.config_class.__name__}(...))"
            )
        return self.config

    @property
    def connection(self) -> Connection:
        """How to reach the vendor: from the config, or (validated) from the job record it was loaded from."""
        if self._connection is None:
            if self.config is not None:
                self._connection = connection_from(self.config, self.connection_class())
            elif self.record is not None:
                self._connection = connection_from_record(
                    self.connection_class(), self.record.connection, self.record.credentials, JOB_FILE
                )
            else:
                self.require_config()  # raises: nothing says how to reach the vendor
        assert self._connection is not None
        return self._connection

    def connection_as(self, kind: type[_C]) -> _C:
        """:attr:`connection`, typed as the adapter's own connection class."""
        connection = self.connection
        if not isinstance(connection, kind):
            got = type(connection).__name__
            raise TypeError(f"{type(self).__name__}'s connection is a {got}, not a {kind.__name__}")
        return connection

    @property
    def policies(self) -> Policies:
        """Retry, poll, quota and chunking settings: the config's, or those set on a reloaded job.

        Assigning one changes only this process's copy (``job.json`` never holds policies).
        """
        if self.config is not None:
            return self.config
        return self._policies or self.default_policies()

    @policies.setter
    def policies(self, value: Policies) -> None:
        if self.config is not None:
            update = {name: getattr(value, name) for name in Policies.model_fields}
            self.config = self.config.model_copy(update=update)
        else:
            self._policies = Policies.model_validate(value.model_dump(include=set(Policies.model_fields)))

    def default_policies(self) -> Policies:
        """The policies of a model reloaded without a config (adapters may tune them to their vendor)."""
        return _default_policies()

    @property
    def client(self) -> Any:
        """The vendor client, built on first use."""
        if self._client is None:
            self._client = self.connect()
        return self._client

    # -- where the job's checkpoint lives ---------------------------------------------------------------

    def bind(self, workspace: Workspace | str, plugin_instance_id: str) -> None:
        """Set the workspace and plugin instance that ``train`` persists the job to."""
        self._plugin_instance_id = _valid_instance(plugin_instance_id)
        self._workspace = Workspace.coerce(workspace)

    @property
    def is_bound(self) -> bool:
        """Whether the model knows where its checkpoint goes."""
        return self._workspace is not None or self._checkpoint is not None

    def location(self, request: PluginRequest[Any] | None = None) -> tuple[Workspace, str]:
        """The workspace and plugin instance the job's checkpoint goes to (``request`` wins over binding).

        Raises SpecError when no plugin instance is known.
        """
        ctx = request.context if request is not None else None
        data = request.data if request is not None else None
        pid = self._plugin_instance_id
        # A given ID wins, and "" is given (and refused), not absent: it must not fall back to another.
        if ctx is not None and ctx.plugin_instance_id is not None:
            pid = ctx.plugin_instance_id
        if pid is None and isinstance(data, TrainPluginInput) and data.plugin_instance is not None:
            pid = data.plugin_instance
        if pid is None and self._checkpoint is not None:
            pid = self._checkpoint.plugin_instance_id
        if pid is None:
            raise SpecError(
                "no plugin instance to persist the job to: give request.context.plugin_instance_id, "
                "TrainPluginInput.plugin_instance, or call bind(workspace, plugin_instance_id)"
            )
        # Validated before any workspace is opened: opening a local one creates its folder.
        pid = _valid_instance(pid)
        ws: Workspace | None = self._workspace
        if ctx is not None and ctx.workspace:
            ws = Workspace.coerce(ctx.workspace)
        if ws is None and self._checkpoint is not None:
            ws = self._checkpoint.workspace
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
            raise JobferryError(describe_validation(f"job record {path}", exc)) from None
        self._adopt_record(record)

    def _adopt_record(self, record: JobRecord) -> None:
        if record.adapter != self.adapter_name:
            raise JobferryError(
                f"job record is for adapter {record.adapter!r}, not {self.adapter_name!r} "
                f"({type(self).__name__}); load it with that adapter"
            )
        self.record = record
        if self.config is None:
            self._connection = None
            _ = self.connection  # validate it now: a bad job.json fails at load, naming the field

    def persist(self, handle: str | None = None) -> str:
        """Publish ``job.json``; a model loaded from a named handle stays on it, new jobs go to "default"."""
        ws, pid = self.location()
        if handle is None:
            same = self._checkpoint is not None and self._checkpoint.plugin_instance_id == pid
            handle = self._checkpoint.handle if same and self._checkpoint else ModelCheckpoint.DEFAULT_HANDLE
        return self.save_remote(ws, pid, handle, set_as_default=handle == ModelCheckpoint.DEFAULT_HANDLE)

    def update_job(self, **resources: str | None) -> None:
        """Merge ``resources`` into the job reference (``None`` removes one) and persist when bound."""
        ref = self.job
        merged = {**ref.resources, **{k: v for k, v in resources.items() if v is not None}}
        for name in [k for k, v in resources.items() if v is None]:
            merged.pop(name, None)
        assert self.record is not None
        self.record = self.record.model_copy(update={"job": ref.model_copy(update={"resources": merged})})
        if self.is_bound:
            self.persist()

    # -- vendor calls, wrapped --------------------------------------------------------------------------

    def limiter(self, per_minute: float, kind: str) -> RateLimiter:
        """The process-wide limiter of a quota of this vendor: ``"status"``, ``"submit"`` or ``"predict"``."""
        return limiter_for((self.vendor, self.quota_key(), kind), per_minute, self.clock)

    def take_submission(self) -> None:
        """Wait for room in the vendor's submission quota (and its resource-management one) and take it.

        Adapters call it right before each create / submit / LRO-starting request, retries included: the
        vendor counts every attempt. Both limiters are the process-wide ones of :meth:`quota_key`.
        """
        self.limiter(self.policies.submissions_per_minute, "submit").acquire()
        self.limiter(self.policies.requests_per_minute, "status").acquire()

    def call(self, fn: Callable[[], _T], what: str) -> _T:
        """One vendor call under the retry policy (transient errors retried, the rest raised).

        While ``train`` submits (a first contact), a service that cannot be reached at all
        (``ServiceUnreachable``) is given up on after 2 attempts unless the policy says otherwise: a stopped
        emulator or a wrong endpoint is reported at once, while a job that exists keeps being retried.
        """
        policy = self.policies.retry
        if self._first_contact and policy.unreachable_attempts is None:
            policy = policy.model_copy(update={"unreachable_attempts": 2})
        return policy.call(fn, what=what, clock=self.clock, on_retry=self._retried)

    def _retried(self, event: RetryEvent) -> None:
        # Retries are part of the instance's story (`jobferry events`): post them to its status log.
        if self.is_bound:
            ws, pid = self.location()
            retry = {"what": event.what, "attempt": event.attempt, "error": str(event.error)}
            try:
                StatusLog(ws, pid).append({"retry": {**retry, "sleep": round(event.sleep, 3)}})
            except (OSError, JobferryError) as exc:  # a convenience, like the statuses: never fail a call
                log.warning("could not post a retry of %s/%s: %s", ws.url, pid, exc)
        if self.on_retry is not None:
            self.on_retry(event)

    def poll_call(self, fn: Callable[[], _T], what: str, *, prepaid: bool = False) -> _T:
        """A status call: within the status quota (the shared rate limiter), under the retry policy.

        ``prepaid``: the caller has already taken the first attempt's acquisition from the limiter (the
        Airflow trigger does, with ``try_acquire`` on its event loop, so that no thread waits in the
        limiter); retries still acquire, each being one more request.

        A quota refusal (429 / RESOURCE_EXHAUSTED) halves the process's status rate and every call within
        quota wins a little back (AIMD, :meth:`~adapters._poll.RateLimiter.throttled`), never above
        ``requests_per_minute``: processes that share a project settle below its quota unaided.
        """
        limiter = self.limiter(self.policies.requests_per_minute, "status")
        paid = [prepaid]

        def limited() -> _T:
            if paid[0]:
                paid[0] = False
            else:
                limiter.acquire()
            admitted = self.clock.now()
            try:
                result = fn()
            except TransientError as exc:
                # AIMD: a quota refusal cuts this process's status rate; successes win it back slowly.
                if isinstance(exc, QuotaExceeded) or exc.code == 429:
                    limiter.throttled(admitted)
                raise
            limiter.succeeded()
            return result

        return self.call(limited, what)

    def wait_for(self, name: str, check: Callable[[], JobStatus], *, timeout: float) -> JobStatus:
        """Poll ``check`` (one status call, rate-limited and retried here) until it reports an end.

        The same poll loop, policy, clock and limiter as a job's own wait; JobTimeout after ``timeout``.
        """
        handle = JobHandle(
            name, lambda: self.poll_call(check, name), poll=self.policies.poll, clock=self.clock
        )
        final: JobStatus | None = None
        for final in handle.watch(timeout):
            if self.on_operation_update is not None:
                self.on_operation_update(name, final)
        assert final is not None
        return final

    def wait_until(self, name: str, probe: Callable[[], _T | None], *, timeout: float) -> _T:
        """Poll ``probe`` (one vendor call) with :meth:`wait_for` until it returns something; return it."""
        seen: list[_T] = []

        def check() -> JobStatus:
            got = probe()
            if got is None:
                return JobStatus(state=JobState.RUNNING)
            seen.append(got)
            return JobStatus(state=JobState.SUCCEEDED)

        self.wait_for(name, check, timeout=timeout)
        return seen[-1]

    @property
    def job(self) -> JobRef:
        """The job this model tracks."""
        if self.record is None or self.record.job is None:
            raise JobferryError(f"{type(self).__name__} has no job: call train() or load a job checkpoint")
        return self.record.job

    def refresh(self, *, prepaid: bool = False) -> JobStatus:
        """Describe the job once (rate-limited, retried), record the status and return it.

        ``prepaid``: the caller took the status limiter's acquisition for this call (see :meth:`poll_call`).
        """
        ref = self.job
        status: JobStatus = self.poll_call(
            lambda: self.describe_job(ref), f"describe {ref.job_id}", prepaid=prepaid
        )
        assert self.record is not None
        check_identity(status, ref, self.record.submission_key)
        # Persist on a change of state, not of progress: a checkpoint write per poll would cost more than
        # the poll itself on a remote workspace.
        changed = not status.same_state(self.record.last_status)
        self.record = self.record.model_copy(update={"last_status": status})
        if changed and self.is_bound:
            self.persist()
        return status

    def _cancel_own(self) -> None:
        # Identity first: never cancel a job that this checkpoint did not submit.
        self.refresh()
        ref = self.job
        self.call(lambda: self.cancel_job(ref), f"cancel {ref.job_id}")

    def handle(self, *, prepaid: bool = False) -> JobHandle:
        """A handle on the job: ``refresh`` records and posts every observation, ``cancel`` cancels it.

        ``prepaid``: whoever calls the handle's ``refresh`` takes the status limiter's acquisition first
        (``self.limiter(...).try_acquire()``), e.g. on an event loop that must not wait in a thread.
        """
        ref = self.job
        return JobHandle(
            f"job {ref.job_id}",
            (lambda: self.refresh(prepaid=True)) if prepaid else self.refresh,
            cancel=self._cancel_own,
            poll=self.policies.poll,
            clock=self.clock,
            last=self.record.last_status if self.record else None,
            on_change=self._post,
            job_id=ref.job_id,
        )

    # -- the TrainableModel contract --------------------------------------------------------------------

    def train(
        self, input: PluginRequest[TrainPluginInput], *, new: bool = False
    ) -> InvocableResponse[TrainPluginOutput]:
        """Submit the job and return at once with a running Task carrying the job reference.

        The job reference is persisted to the plugin instance's ``default`` handle before this returns. A
        job already submitted for the same spec (running, or succeeded) is adopted instead of creating
        another, unless ``new`` is set. Everything is validated before anything is written or called.
        """
        ws, pid = self.location(input)
        data = input.data or TrainPluginInput()
        spec = self.job_spec(data)
        connection = self.connection
        self.bind(ws, pid)
        digest = spec_hash(spec)
        claims = Claims(ws, pid, digest, self.adapter_name, self.policies.claim)
        submitter = Submitter(
            self,
            IntentStore(ws, pid),
            self.call,
            claims=claims,
            clock=self.clock,
            on_wait=self.on_submission_wait,
        )
        self._first_contact = True
        try:
            got = submitter.submit(spec, digest, new=new)
        finally:
            self._first_contact = False
        self.record = JobRecord(
            adapter=self.adapter_name,
            adapter_version=self.adapter_version,
            job=got.ref,
            connection=connection.model_dump(mode="json", exclude={"credentials"}, exclude_none=True),
            credentials=connection.credentials,
            submission_key=got.key,
            spec_hash=digest,
            last_status=got.status,
        )
        # The job reference is safe before anything else happens.
        try:
            archive = self.persist(ModelCheckpoint.DEFAULT_HANDLE)
        except BaseException:
            submitter.abandon(got)  # the job exists: a rerun finds it by the claim's key at once
            raise
        submitter.complete(got)
        ref = got.ref
        self.adopted = got.adopted
        verb = "adopted (already submitted for this spec)" if self.adopted else "submitted"
        log.info("job %s %s for %s/%s", ref.job_id, verb, ws.url, pid)
        return self._response(TaskState.running, archive, message=f"job {ref.job_id} {verb}")

    def describe_once(self, ref: JobRef) -> JobStatus | None:
        """Describe ``ref`` with retries; ``None`` if the vendor no longer knows it."""
        return describe_or_none(self, self.call, ref)

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
                raise SpecError(describe_validation("remote_status_input (not a job record)", exc)) from None
        if input.context is not None and input.context.plugin_instance_id is not None:
            self.bind(*self.location(input))  # "" is refused here, before the vendor is polled
        status = self.refresh()
        archive = None
        if self.is_bound:
            _, pid = self.location()
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

    # -- waiting: the job handle's poll loop --------------------------------------------------------------

    def watch(self, timeout: float | None = None) -> Iterator[JobStatus]:
        """Yield the job's status each time it changes, until it ends (or ``timeout`` seconds pass).

        Raises JobTimeout when ``timeout`` runs out first; the job itself goes on.
        """
        yield from self.handle().watch(timeout)

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

    def _post(self, status: JobStatus) -> None:
        if not self.is_bound:
            return
        ws, pid = self.location()
        response = self._response(
            status.state.task_state, f"{pid}/{ModelCheckpoint.DEFAULT_HANDLE}.zip", status=status
        )
        try:
            response.post_update(StatusLog(ws, pid))
        except (OSError, JobferryError) as exc:  # the status log is a convenience; never fail a wait on it
            log.warning("could not post status of %s/%s: %s", ws.url, pid, exc)

    def cancel(self) -> JobStatus:
        """Ask the vendor to cancel the job; return the status seen right after."""
        self.handle().cancel()
        return self.refresh()


def _valid_instance(plugin_instance_id: str) -> str:
    # Checked before anything is written: a bad ID (``..``, ``a/b``) must not become a path.
    return validate_name(plugin_instance_id, "plugin instance ID")
