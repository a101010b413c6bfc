"""The emulator's resources and their life cycles, in memory and thread-safe.

Nothing runs in the background: a job's state is computed from its creation time and the clock whenever
it is read, and effects that happen "later" (a pipeline uploading its model, an operation finishing) sit
in a queue of timers that every request settles first. A job's effects of succeeding (model upload, batch
output) also run, once, whenever the job is first seen SUCCEEDED, so they never hinge on a timer's float
comparison; :attr:`Job.boundaries` is the one place phase times are computed. Resources store enums by
name; the wire layer turns them into numbers when the client asks.

Outcomes are scripted per job by the label ``emulator-outcome`` (``succeed``, ``fail`` or ``pause``) or for
the next jobs created by :meth:`State.script_next`; the label wins. The label ``emulator-seconds`` overrides
the running time (Vertex seconds).
"""

from __future__ import annotations

import collections
import copy
import csv
import heapq
import itertools
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import _automl, _storage
from ._config import EmulatorConfig
from ._filters import compile_filter
from ._wire import RPC_CODES, ApiError, invalid, not_found, precondition, rfc3339

Outcome = Literal["succeed", "fail", "pause"]
OUTCOMES: tuple[Outcome, ...] = ("succeed", "fail", "pause")
JOB_KINDS = ("trainingPipelines", "customJobs", "batchPredictionJobs")
TYPE_PREFIX = "type.googleapis.com/google.cloud.aiplatform.v1."
OUTCOME_LABEL = "emulator-outcome"
SECONDS_LABEL = "emulator-seconds"
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})


@dataclass(frozen=True)
class Script:
    """A scripted outcome waiting for the next job of ``kind`` (None: any job kind)."""

    outcome: Outcome
    kind: str | None = None
    message: str = "Job failed (scripted by the emulator)."


@dataclass
class Job:
    """A training pipeline, custom job or batch prediction job; its state is a function of time."""

    kind: str
    doc: dict[str, Any]
    created: float
    phases: list[tuple[str, float]]  # (state without prefix, clock seconds)
    outcome: Outcome
    message: str = ""
    cancelled_at: float | None = None
    cancel_seconds: float = 0.0
    predictor: _automl.Predictor | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    #: What succeeding does (upload the model, write batch output), called once with the end time.
    on_success: Callable[[float], None] | None = None
    succeeded_effects_done: bool = False

    @property
    def prefix(self) -> str:
        return "PIPELINE_STATE_" if self.kind == "trainingPipelines" else "JOB_STATE_"

    @property
    def boundaries(self) -> list[tuple[str, float, float]]:
        """(state, start, end) of every phase in clock seconds: the one source of truth for phase times.

        The ends are a running sum from ``created``, so each phase starts exactly where the previous one
        ended and :attr:`finish` is the very float at which :meth:`status` stops saying RUNNING.
        """
        out: list[tuple[str, float, float]] = []
        mark = self.created
        for state, seconds in self.phases:
            end = mark + seconds
            out.append((state, mark, end))
            mark = end
        return out

    @property
    def finish(self) -> float:
        """Clock time at which the job leaves RUNNING (or pauses)."""
        bounds = self.boundaries
        return bounds[-1][2] if bounds else self.created

    def status(self, now: float) -> tuple[str, float | None, float | None, float]:
        """(state, start time, end time, last transition time) at ``now``, all in clock seconds."""
        start: float | None = None
        end: float | None = None
        for state, begin, stop in self.boundaries:
            if state == "RUNNING":
                start = begin
                if self.outcome == "pause":
                    # A paused job runs half its time, then waits for ever.
                    paused = begin + (stop - begin) / 2
                    natural, changed = ("RUNNING", begin) if now < paused else ("PAUSED", paused)
                    break
            if now < stop:
                natural, changed = state, begin
                break
        else:
            end = self.finish
            natural, changed = ("SUCCEEDED" if self.outcome == "succeed" else "FAILED"), end
        if self.cancelled_at is not None and (end is None or self.cancelled_at < end):
            done = self.cancelled_at + self.cancel_seconds
            if now >= done:
                return "CANCELLED", start, done, done
            return "CANCELLING", start, None, self.cancelled_at
        return natural, start, end, changed


@dataclass
class Operation:
    """A long-running operation; ``apply`` runs once, when it is done, and returns its response."""

    name: str
    metadata: dict[str, Any]
    done_at: float
    apply: Callable[[float], dict[str, Any]]
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    applied: bool = False


@dataclass
class Deployed:
    """A model deployed on an endpoint."""

    id: str
    model: str
    doc: dict[str, Any]


def validate_labels(labels: Any) -> dict[str, str]:
    """The labels if they follow Google Cloud's label rules; else 400 INVALID_ARGUMENT."""
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise invalid("labels must be a map of strings")
    if len(labels) > 64:
        raise invalid(f"At most 64 labels are allowed, got {len(labels)}")

    def ok(text: str) -> bool:
        return len(text) <= 63 and all(
            c.isdigit() or c in "_-" or (c.isalpha() and not c.isupper()) for c in text
        )

    for key, value in labels.items():
        starts_ok = isinstance(key, str) and bool(key) and key[0].isalpha() and not key[0].isupper()
        if not starts_ok or not ok(key):
            raise invalid(
                f"Invalid label key {key!r}: lowercase letters, digits, '_' and '-'; starts with a letter"
            )
        if not isinstance(value, str) or not ok(value):
            raise invalid(f"Invalid label value {value!r} for key {key!r}")
    return dict(labels)


class State:
    """Every resource of the emulator.

    Args:
        config: the emulator configuration.
        clock: monotonic seconds; Vertex durations are divided by ``config.speedup`` on this clock.
    """

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._lock = threading.RLock()
        self._rng = random.Random(config.seed)
        # Timestamps are wall time: the clock's zero is pinned to the wall clock at start-up.
        self._epoch = time.time() - clock()
        self._seq = itertools.count()
        self._timers: list[tuple[float, int, Callable[[float], None]]] = []
        self._ids: set[str] = set()
        self._scripts: deque[Script] = deque()
        self.datasets: dict[str, dict[str, Any]] = {}
        #: Dataset name -> the ``importConfigs`` of every ImportData that completed on it, oldest first.
        self.imports: dict[str, list[dict[str, Any]]] = {}
        #: Dataset name -> its data items (identified as Vertex deduplicates them: by content / GCS path).
        self.data_items: dict[str, set[str]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.predictors: dict[str, _automl.Predictor] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.deployed: dict[str, list[Deployed]] = {}
        self._deploying: collections.defaultdict[str, set[str]] = collections.defaultdict(set)
        self.operations: dict[str, Operation] = {}
        self.jobs: dict[str, dict[str, Job]] = {kind: {} for kind in JOB_KINDS}

    # -- plumbing ---------------------------------------------------------------------------------------

    def wall(self, t: float) -> str:
        """The RFC 3339 timestamp of clock time ``t``."""
        return rfc3339(self._epoch + t)

    def seconds(self, vertex_seconds: float) -> float:
        """Clock seconds that stand for ``vertex_seconds`` of Vertex time."""
        return vertex_seconds / self.config.speedup

    def _new_id(self) -> str:
        # Vertex IDs are 19-digit numbers; seeded so runs are reproducible.
        while True:
            candidate = str(self._rng.randrange(10**18, 9 * 10**18))
            if candidate not in self._ids:
                self._ids.add(candidate)
                return candidate

    def project(self, project: str) -> str:
        """The project as Vertex names it in responses (its number, when one is configured)."""
        return self.config.project_numbers.get(project, project)

    def canonical(self, name: str) -> str:
        """``name`` with its project replaced by the configured project number, if any."""
        parts = name.split("/")
        if len(parts) >= 2 and parts[0] == "projects":
            parts[1] = self.project(parts[1])
        return "/".join(parts)

    def _at(self, t: float, action: Callable[[float], None]) -> None:
        heapq.heappush(self._timers, (t, next(self._seq), action))

    def settle(self) -> float:
        """Runs every timer that is due; returns the current clock time."""
        now = self.clock()
        with self._lock:
            while self._timers and self._timers[0][0] <= now:
                t, _, action = heapq.heappop(self._timers)
                action(t)
        return now

    def script_next(
        self, outcome: Outcome, kind: str | None = None, count: int = 1, message: str | None = None
    ) -> None:
        """Scripts the outcome of the next ``count`` jobs created (of ``kind``, or of any kind).

        Args:
            outcome: ``succeed``, ``fail`` (the job runs, then ends FAILED) or ``pause`` (it runs half its
                time, then stays PAUSED).
            kind: ``trainingPipelines``, ``customJobs`` or ``batchPredictionJobs``; None for any.
            count: how many jobs the script applies to.
            message: the error message of failed jobs.
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        if kind is not None and kind not in JOB_KINDS:
            raise ValueError(f"kind must be one of {JOB_KINDS}, not {kind!r}")
        with self._lock:
            for _ in range(count):
                self._scripts.append(Script(outcome, kind, message or Script.message))

    def _take_script(self, kind: str) -> Script | None:
        for script in list(self._scripts):
            if script.kind in (None, kind):
                self._scripts.remove(script)
                return script
        return None

    # -- generic jobs -----------------------------------------------------------------------------------

    def _outcome(self, kind: str, labels: dict[str, str]) -> tuple[Outcome, str]:
        label = labels.get(OUTCOME_LABEL)
        if label is not None:
            if label not in OUTCOMES:
                raise invalid(f"Label {OUTCOME_LABEL} must be one of {list(OUTCOMES)}, not {label!r}")
            return next(o for o in OUTCOMES if o == label), Script.message
        script = self._take_script(kind)
        return (script.outcome, script.message) if script else ("succeed", "")

    def _phases(self, kind: str, family: str, labels: dict[str, str]) -> list[tuple[str, float]]:
        durations = self.config.durations[family]
        running = durations.running
        if SECONDS_LABEL in labels:
            try:
                running = float(labels[SECONDS_LABEL])
            except ValueError:
                raise invalid(f"Label {SECONDS_LABEL} must be a number of seconds") from None
        pending, running = self.seconds(durations.pending), self.seconds(running)
        if kind == "customJobs":
            return [("QUEUED", pending / 2), ("PENDING", pending / 2), ("RUNNING", running)]
        return [("PENDING", pending), ("RUNNING", running)]

    def _add_job(self, parent: str, kind: str, body: dict[str, Any], family: str) -> Job:
        if not body.get("displayName"):
            raise invalid("displayName is required")
        labels = validate_labels(body.get("labels"))
        outcome, message = self._outcome(kind, labels)
        now = self.clock()
        id_ = self._new_id()
        doc = {k: v for k, v in body.items() if k not in ("name", "state", "error", "createTime")}
        doc.update(name=f"{parent}/{kind}/{id_}", labels=labels)
        job = Job(
            kind,
            doc,
            now,
            self._phases(kind, family, labels),
            outcome,
            message,
            cancel_seconds=self.seconds(self.config.cancel_seconds),
        )
        self.jobs[kind][doc["name"]] = job
        return job

    def _job(self, kind: str, name: str) -> Job:
        job = self.jobs[kind].get(self.canonical(name))
        if job is None:
            raise not_found(name)
        return job

    def _observe(self, job: Job, now: float) -> tuple[str, float | None, float | None, float]:
        """``job.status(now)``, after applying the effects of succeeding if the job is seen SUCCEEDED.

        The effects (model upload, batch output) run at most once, stamped with the job's end time, and do
        not depend on which comes first: the timer at :attr:`Job.finish` or a request that sees the job
        SUCCEEDED. Call with the lock held.
        """
        status = job.status(now)
        if status[0] == "SUCCEEDED" and not job.succeeded_effects_done:
            job.succeeded_effects_done = True
            if job.on_success is not None:
                end = status[2]
                job.on_success(job.finish if end is None else end)
        return status

    def _on_finish(self, job: Job) -> None:
        """Arms the timer that applies the job's effects when it ends, even if nobody polls it."""

        def fire(t: float) -> None:
            self._observe(job, max(t, job.finish))

        self._at(job.finish, fire)

    def render_job(self, job: Job, now: float) -> dict[str, Any]:
        """The job's JSON at ``now`` (a job seen SUCCEEDED has had its effects applied)."""
        state, start, end, changed = self._observe(job, now)
        doc = copy.deepcopy(job.doc)
        doc["state"] = job.prefix + state
        doc["createTime"] = self.wall(job.created)
        doc["updateTime"] = self.wall(changed)
        if start is not None and start <= now:
            doc["startTime"] = self.wall(start)
        if end is not None:
            doc["endTime"] = self.wall(end)
        if state == "FAILED":
            doc["error"] = {"code": RPC_CODES["INTERNAL"], "message": job.message}
        elif state == "CANCELLED":
            doc["error"] = {"code": RPC_CODES["CANCELLED"], "message": "CANCELED"}
        if state == "SUCCEEDED" and job.summary:
            doc["trainingTaskMetadata"] = job.summary
        return doc

    def get_job(self, kind: str, name: str) -> dict[str, Any]:
        """Gets a job (404 if unknown)."""
        now = self.settle()
        with self._lock:
            return self.render_job(self._job(kind, name), now)

    def list_jobs(
        self, kind: str, parent: str, filter_text: str, page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of the jobs under ``parent`` that match the filter, and the next page token."""
        now = self.settle()
        predicate = compile_filter(filter_text)
        prefix = self.canonical(parent) + f"/{kind}/"
        with self._lock:
            docs = [self.render_job(j, now) for n, j in self.jobs[kind].items() if n.startswith(prefix)]
        return self._page([d for d in docs if predicate(d)], page_size, page_token)

    def cancel_job(self, kind: str, name: str) -> None:
        """Requests cancellation; 400 FAILED_PRECONDITION if the job already ended."""
        now = self.settle()
        with self._lock:
            job = self._job(kind, name)
            state = self._observe(job, now)[0]
            if state in _TERMINAL or state == "CANCELLING":
                raise precondition(f"Cannot cancel {job.doc['name']} in state {job.prefix}{state}.")
            job.cancelled_at = now

    def delete_job(self, kind: str, name: str) -> dict[str, Any]:
        """Deletes an ended job (Vertex refuses to delete live ones); returns the delete operation."""
        now = self.settle()
        with self._lock:
            job = self._job(kind, name)
            state = self._observe(job, now)[0]
            if state not in _TERMINAL:
                raise precondition(
                    f"{job.doc['name']} is in state {job.prefix}{state} and cannot be deleted."
                )
            del self.jobs[kind][job.doc["name"]]
            return self._operation(job.doc["name"], "DeleteOperationMetadata", 0.0, _empty)

    # -- training pipelines -----------------------------------------------------------------------------

    def create_pipeline(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a training pipeline; AutoML tabular/forecasting data are fitted now."""
        now = self.settle()
        parent = self.canonical(parent)
        definition = body.get("trainingTaskDefinition")
        if not isinstance(definition, str) or not definition:
            raise invalid("trainingTaskDefinition is required")
        family, task = _automl.resolve_task(definition)
        # proto-plus turns an empty dict into an unset Value, which goes over the wire as null.
        inputs = body.get("trainingTaskInputs") or {}
        if not isinstance(inputs, dict):
            raise invalid("trainingTaskInputs must be an object")
        validate_labels(body.get("labels"))
        with self._lock:
            data = self._training_data(parent, body, family)
            job = self._add_job(parent, "trainingPipelines", body, family)
            try:
                job.predictor, job.summary = _automl.train(task, inputs, data)
            except _automl.TrainingError as exc:
                job.outcome, job.message = "fail", str(exc)
            if job.outcome == "succeed" and (family != "custom" or "modelToUpload" in body):
                job.on_success = lambda t: self._upload_model(job, t)
                self._on_finish(job)
            return self.render_job(job, now)

    def _training_data(self, parent: str, body: dict[str, Any], family: str) -> list[Path] | None:
        dataset_id = (body.get("inputDataConfig") or {}).get("datasetId")
        if not dataset_id:
            if family in ("tabular", "forecasting"):
                raise invalid("inputDataConfig.datasetId is required for AutoML tabular training")
            return None
        dataset = self.datasets.get(f"{parent}/datasets/{dataset_id}")
        if dataset is None:
            raise invalid(f"Dataset {parent}/datasets/{dataset_id} does not exist.")
        source = ((dataset.get("metadata") or {}).get("inputConfig") or {}).get("gcsSource") or {}
        uris = source.get("uri") or []
        uris = [uris] if isinstance(uris, str) else list(uris)
        return _storage.expand(uris, self.config.bucket_map) if uris else None

    def _upload_model(self, job: Job, t: float) -> None:
        # Called once, by _observe, when the pipeline is first seen SUCCEEDED (so not cancelled); it may
        # have been deleted since.
        if job.doc["name"] not in self.jobs["trainingPipelines"]:
            return
        parent = job.doc["name"].rsplit("/trainingPipelines/", 1)[0]
        upload = job.doc.get("modelToUpload") or {}
        model_id = str(job.doc.get("modelId") or self._new_id())
        name = f"{parent}/models/{model_id}"
        self.models[name] = {
            "name": name,
            "displayName": upload.get("displayName") or job.doc["displayName"],
            "description": upload.get("description", ""),
            "labels": upload.get("labels") or {},
            "trainingPipeline": job.doc["name"],
            "versionId": "1",
            "versionAliases": ["default"],
            "versionCreateTime": self.wall(t),
            "versionUpdateTime": self.wall(t),
            "createTime": self.wall(t),
            "updateTime": self.wall(t),
            "metadataSchemaUri": job.doc.get("trainingTaskDefinition", ""),
            "etag": f"emu-{model_id}",
        }
        if job.predictor is not None:
            self.predictors[name] = job.predictor
        job.doc["modelToUpload"] = {**upload, "name": name, "versionId": "1"}
        job.doc["modelId"] = model_id

    # -- custom and batch prediction jobs ---------------------------------------------------------------

    def create_custom_job(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a custom job (no model: custom jobs only run containers)."""
        now = self.settle()
        if not (body.get("jobSpec") or {}).get("workerPoolSpecs"):
            raise invalid("jobSpec.workerPoolSpecs is required")
        with self._lock:
            return self.render_job(
                self._add_job(self.canonical(parent), "customJobs", body, "custom_job"), now
            )

    def create_batch_job(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a batch prediction job; on success it writes predictions when the paths are local."""
        now = self.settle()
        model = self.canonical(str(body.get("model") or ""))
        if not model:
            raise invalid("model is required")
        if not (body.get("inputConfig") or {}).get("instancesFormat"):
            raise invalid("inputConfig.instancesFormat is required")
        with self._lock:
            if model not in self.models:
                raise invalid(f"Model {model} does not exist.")
            job = self._add_job(self.canonical(parent), "batchPredictionJobs", body, "batch_prediction")
            job.doc["model"] = model
            if job.outcome == "succeed":
                job.on_success = lambda t: self._write_batch(job, t)
                self._on_finish(job)
            return self.render_job(job, now)

    def _write_batch(self, job: Job, t: float) -> None:
        # Called once, by _observe, when the job is first seen SUCCEEDED.
        model = job.doc["model"]
        predictor = self.predictors.get(model) or _automl.HashPredictor("custom", ["x"])
        config_in, config_out = job.doc.get("inputConfig") or {}, job.doc.get("outputConfig") or {}
        prefix = (config_out.get("gcsDestination") or {}).get("outputUriPrefix", "")
        out_uri = f"{prefix.rstrip('/')}/prediction-{model.rsplit('/', 1)[-1]}-{self.wall(t)}"
        job.doc["outputInfo"] = {"gcsOutputDirectory": out_uri}
        uris = (config_in.get("gcsSource") or {}).get("uris") or []
        paths = _storage.expand(list(uris), self.config.bucket_map)
        out_dir = _storage.resolve_uri(out_uri, self.config.bucket_map) if prefix else None
        if paths is None or out_dir is None:
            return
        instances = list(_read_instances(paths, config_in["instancesFormat"]))
        out_dir.mkdir(parents=True, exist_ok=True)
        with (out_dir / "predictions_00001.jsonl").open("w", encoding="utf-8") as f:
            for instance in instances:
                f.write(json.dumps({"instance": instance, "prediction": predictor.predict(instance)}) + "\n")
        job.doc["completionStats"] = {"successfulCount": str(len(instances)), "failedCount": "0"}

    # -- models -----------------------------------------------------------------------------------------

    def get_model(self, name: str) -> dict[str, Any]:
        """Gets a model (404 if unknown)."""
        self.settle()
        with self._lock:
            model = self.models.get(self.canonical(name.split("@", 1)[0]))
            if model is None:
                raise not_found(name)
            return copy.deepcopy(model)

    # -- operations -------------------------------------------------------------------------------------

    def _operation(
        self,
        resource: str,
        metadata_type: str,
        vertex_seconds: float,
        apply: Callable[[float], dict[str, Any]],
    ) -> dict[str, Any]:
        now = self.clock()
        name = f"{resource}/operations/{self._new_id()}"
        metadata = {
            "@type": TYPE_PREFIX + metadata_type,
            "genericMetadata": {"createTime": self.wall(now), "updateTime": self.wall(now)},
        }
        op = Operation(name, metadata, now + self.seconds(vertex_seconds), apply)
        self.operations[name] = op
        self._at(op.done_at, lambda t: self._finish(op, t))
        self.settle()  # an operation with no delay is done in its own response
        return self.render_operation(op, self.clock())

    def _finish(self, op: Operation, t: float) -> None:
        if op.applied:
            return
        op.applied = True
        try:
            op.response = op.apply(t)
        except ApiError as exc:
            op.error = {"code": RPC_CODES.get(exc.status, RPC_CODES["INTERNAL"]), "message": exc.message}
        op.metadata["genericMetadata"]["updateTime"] = self.wall(t)

    def render_operation(self, op: Operation, now: float) -> dict[str, Any]:
        """The Operation JSON at ``now``."""
        doc: dict[str, Any] = {"name": op.name, "metadata": copy.deepcopy(op.metadata)}
        if op.applied and now >= op.done_at:
            doc["done"] = True
            if op.error is not None:
                doc["error"] = op.error
            else:
                doc["response"] = copy.deepcopy(op.response)
        return doc

    def get_operation(self, name: str) -> dict[str, Any]:
        """Gets an operation (404 if unknown)."""
        now = self.settle()
        with self._lock:
            op = self.operations.get(self.canonical(name))
            if op is None:
                raise not_found(name)
            return self.render_operation(op, now)

    # -- datasets ---------------------------------------------------------------------------------------

    def create_dataset(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Starts creating a dataset; returns the operation."""
        self.settle()
        if not body.get("displayName"):
            raise invalid("displayName is required")
        if not body.get("metadataSchemaUri"):
            raise invalid("metadataSchemaUri is required")
        labels = validate_labels(body.get("labels"))
        with self._lock:
            name = f"{self.canonical(parent)}/datasets/{self._new_id()}"

            def apply(t: float) -> dict[str, Any]:
                doc = {**body, "name": name, "labels": labels, "createTime": self.wall(t)}
                doc.update(updateTime=self.wall(t), etag=f"emu-{name.rsplit('/', 1)[-1]}")
                self.datasets[name] = doc
                return {"@type": TYPE_PREFIX + "Dataset", **copy.deepcopy(doc)}

            seconds = self.config.lro_seconds.get("CreateDataset", 0.0)
            return self._operation(name, "CreateDatasetOperationMetadata", seconds, apply)

    def import_data(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Starts importing data items into a dataset (ImportData); returns the operation.

        The import configs are recorded in :attr:`imports`; the dataset's ``dataItemCount`` then counts
        the distinct items of every import file: the rows of a CSV or JSON Lines file that can be read
        locally (``bucket_map``), one per URI otherwise. A listed file that is missing from a mapped
        bucket fails the operation, as on Vertex.
        """
        self.settle()
        configs = body.get("importConfigs")
        if not isinstance(configs, list) or not configs:
            raise invalid("importConfigs is required")
        for i, config in enumerate(configs):
            uris = ((config.get("gcsSource") or {}) if isinstance(config, dict) else {}).get("uris")
            if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and u for u in uris):
                raise invalid(f"importConfigs[{i}].gcsSource.uris is required")
            if not config.get("importSchemaUri"):
                raise invalid(f"importConfigs[{i}].importSchemaUri is required")
        configs = copy.deepcopy(configs)
        with self._lock:
            key = self.canonical(name)
            if key not in self.datasets:
                raise not_found(name)

            def apply(t: float) -> dict[str, Any]:
                doc = self.datasets.get(key)
                if doc is None:
                    raise not_found(key)
                items = {item for config in configs for item in self._import_items(config)}
                self.imports.setdefault(key, []).extend(copy.deepcopy(configs))
                known = self.data_items.setdefault(key, set())
                known |= items
                doc["dataItemCount"] = str(len(known))
                doc["updateTime"] = self.wall(t)
                return {"@type": TYPE_PREFIX + "ImportDataResponse"}

            seconds = self.config.lro_seconds.get("ImportData", 0.0)
            return self._operation(key, "ImportDataOperationMetadata", seconds, apply)

    def _import_items(self, config: dict[str, Any]) -> set[str]:
        items: set[str] = set()
        for uri in config["gcsSource"]["uris"]:
            paths = _storage.expand([uri], self.config.bucket_map)
            if paths is None:  # not readable here (unmapped bucket): count the file as one item
                items.add(uri)
                continue
            if not paths:
                raise not_found(uri)
            for path in paths:
                if not path.is_file():
                    raise not_found(uri)
                try:
                    lines = path.read_text(encoding="utf-8").splitlines()
                except (OSError, UnicodeDecodeError) as exc:
                    raise invalid(f"Cannot read import file {uri}: {exc}") from None
                items.update(_data_item(line) for line in lines)
        items.discard("")
        return items

    def get_dataset(self, name: str) -> dict[str, Any]:
        """Gets a dataset (404 if unknown or still being created)."""
        self.settle()
        with self._lock:
            doc = self.datasets.get(self.canonical(name))
            if doc is None:
                raise not_found(name)
            return copy.deepcopy(doc)

    def list_resources(
        self, collection: str, parent: str, filter_text: str, page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of the datasets, models or endpoints under ``parent`` that match the filter."""
        self.settle()
        predicate = compile_filter(filter_text)
        prefix = f"{self.canonical(parent)}/{collection}/"
        with self._lock:
            names = [n for n in self._store(collection) if n.startswith(prefix)]
            docs = [
                self._render_endpoint(n)
                if collection == "endpoints"
                else copy.deepcopy(self._store(collection)[n])
                for n in names
            ]
        return self._page([d for d in docs if predicate(d)], page_size, page_token)

    def _page(
        self, docs: list[dict[str, Any]], page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str]:
        return paginate(docs, page_size or self.config.default_page_size, page_token)

    def _store(self, collection: str) -> dict[str, dict[str, Any]]:
        return {"datasets": self.datasets, "models": self.models, "endpoints": self.endpoints}[collection]

    def delete_resource(self, collection: str, name: str) -> dict[str, Any]:
        """Deletes a dataset, model or endpoint (models and endpoints must not be deployed / in use)."""
        self.settle()
        with self._lock:
            key = self.canonical(name)
            store = self._store(collection)
            if key not in store:
                raise not_found(name)
            if collection == "endpoints" and self.deployed.get(key):
                raise precondition(f"Endpoint {key} has deployed models; undeploy them first.")
            if collection == "models" and any(d.model == key for ds in self.deployed.values() for d in ds):
                raise precondition(f"Model {key} is deployed to an endpoint; undeploy it first.")
            del store[key]
            self.imports.pop(key, None)
            self.data_items.pop(key, None)
            self.deployed.pop(key, None)
            self.predictors.pop(key, None)
            return self._operation(key, "DeleteOperationMetadata", 0.0, _empty)

    # -- endpoints --------------------------------------------------------------------------------------

    def create_endpoint(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Starts creating an endpoint; returns the operation."""
        self.settle()
        if not body.get("displayName"):
            raise invalid("displayName is required")
        labels = validate_labels(body.get("labels"))
        with self._lock:
            name = f"{self.canonical(parent)}/endpoints/{self._new_id()}"

            def apply(t: float) -> dict[str, Any]:
                doc = {k: v for k, v in body.items() if k not in ("deployedModels", "trafficSplit")}
                doc.update(name=name, labels=labels, createTime=self.wall(t), updateTime=self.wall(t))
                doc["etag"] = f"emu-{name.rsplit('/', 1)[-1]}"
                self.endpoints[name] = doc
                self.deployed[name] = []
                return {"@type": TYPE_PREFIX + "Endpoint", **self._render_endpoint(name)}

            seconds = self.config.lro_seconds.get("CreateEndpoint", 0.0)
            return self._operation(name, "CreateEndpointOperationMetadata", seconds, apply)

    def _render_endpoint(self, name: str) -> dict[str, Any]:
        doc = copy.deepcopy(self.endpoints[name])
        deployed = self.deployed.get(name, [])
        if deployed:
            doc["deployedModels"] = [copy.deepcopy(d.doc) for d in deployed]
        split = doc.get("trafficSplit") or {}
        if split:
            doc["trafficSplit"] = split
        return doc

    def _endpoint(self, name: str) -> str:
        key = self.canonical(name)
        if key not in self.endpoints:
            raise not_found(name)
        return key

    def get_endpoint(self, name: str) -> dict[str, Any]:
        """Gets an endpoint with its deployed models and traffic split."""
        self.settle()
        with self._lock:
            return self._render_endpoint(self._endpoint(name))

    def deploy_model(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """Starts deploying a model; the endpoint serves it once the operation is done."""
        self.settle()
        spec = body.get("deployedModel")
        if not isinstance(spec, dict) or not spec.get("model"):
            raise invalid("deployedModel.model is required")
        with self._lock:
            key = self._endpoint(endpoint)
            model = self.canonical(str(spec["model"]).split("@", 1)[0])
            if model not in self.models:
                raise invalid(f"Model {spec['model']} does not exist.")
            deployed_id = str(spec.get("id") or self._new_id())
            # Like Vertex: a client-chosen DeployedModel ID must be unused on the endpoint, counting
            # deployments still in flight; this is what makes a retried deploy safe for clients.
            taken = {d.id for d in self.deployed[key]} | self._deploying[key]
            if deployed_id in taken:
                raise ApiError(409, f"DeployedModel with ID {deployed_id} already exists on {key}.")
            self._deploying[key].add(deployed_id)
            split = body.get("trafficSplit")

            def apply(t: float) -> dict[str, Any]:
                self._deploying[key].discard(deployed_id)
                if key not in self.endpoints:
                    raise not_found(key)
                doc = {**spec, "id": deployed_id, "model": model, "createTime": self.wall(t)}
                doc.setdefault("displayName", self.models.get(model, {}).get("displayName", ""))
                doc["modelVersionId"] = "1"
                self.deployed[key].append(Deployed(deployed_id, model, doc))
                endpoint_doc = self.endpoints[key]
                if split:
                    endpoint_doc["trafficSplit"] = {
                        (deployed_id if k == "0" else k): int(v) for k, v in split.items()
                    }
                elif not endpoint_doc.get("trafficSplit"):
                    endpoint_doc["trafficSplit"] = {deployed_id: 100}
                endpoint_doc["updateTime"] = self.wall(t)
                return {"@type": TYPE_PREFIX + "DeployModelResponse", "deployedModel": copy.deepcopy(doc)}

            seconds = self.config.lro_seconds.get("DeployModel", 0.0)
            return self._operation(key, "DeployModelOperationMetadata", seconds, apply)

    def undeploy_model(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """Starts undeploying a model from an endpoint."""
        self.settle()
        deployed_id = str(body.get("deployedModelId") or "")
        with self._lock:
            key = self._endpoint(endpoint)
            if not any(d.id == deployed_id for d in self.deployed[key]):
                raise not_found(f"{key}/deployedModels/{deployed_id}")
            split = body.get("trafficSplit")

            def apply(t: float) -> dict[str, Any]:
                self.deployed[key] = [d for d in self.deployed.get(key, []) if d.id != deployed_id]
                endpoint_doc = self.endpoints.get(key)
                if endpoint_doc is not None:
                    remaining = {
                        k: int(v) for k, v in (split or endpoint_doc.get("trafficSplit") or {}).items()
                    }
                    remaining.pop(deployed_id, None)
                    if len(self.deployed[key]) == 1:
                        remaining = {self.deployed[key][0].id: 100}
                    endpoint_doc["trafficSplit"] = remaining
                    endpoint_doc["updateTime"] = self.wall(t)
                return {"@type": TYPE_PREFIX + "UndeployModelResponse"}

            seconds = self.config.lro_seconds.get("UndeployModel", 0.0)
            return self._operation(key, "UndeployModelOperationMetadata", seconds, apply)

    def predict(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """Online prediction through the deployed model with the most traffic."""
        self.settle()
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            raise invalid("instances must be a non-empty list")
        with self._lock:
            key = self._endpoint(endpoint)
            deployed = self.deployed.get(key) or []
            if not deployed:
                raise precondition(f"Endpoint {key} does not have any deployed models.")
            split = self.endpoints[key].get("trafficSplit") or {}
            chosen = max(deployed, key=lambda d: split.get(d.id, 0))
            predictor = self.predictors.get(chosen.model) or _automl.HashPredictor("custom", ["x"])
            model = self.models.get(chosen.model, {})
        return {
            "predictions": [predictor.predict(instance) for instance in instances],
            "deployedModelId": chosen.id,
            "model": chosen.model,
            "modelDisplayName": model.get("displayName", ""),
            "modelVersionId": "1",
        }


def _empty(t: float) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.protobuf.Empty"}


def _data_item(line: str) -> str:
    """What identifies the data item of one import-file line: its GCS path or content ("" for none)."""
    line = line.strip()
    if line.startswith("{"):
        try:
            doc = json.loads(line)
        except ValueError:
            return line
        if isinstance(doc, dict):
            for key in ("imageGcsUri", "videoGcsUri", "textGcsUri", "textContent"):
                if isinstance(doc.get(key), str):
                    return str(doc[key])
        return json.dumps(doc, sort_keys=True)
    # CSV: [ML_USE,]GCS_FILE_PATH[,LABEL...] (text may carry its content in place of the path).
    fields = next(csv.reader([line]), [])
    return next((f for f in fields if f.startswith("gs://")), line)


def _read_instances(paths: Iterable[Path], fmt: str) -> Iterable[Any]:
    for path in paths:
        text = path.read_text(encoding="utf-8")
        if fmt == "csv":
            yield from csv.DictReader(text.splitlines())
        else:
            yield from (json.loads(line) for line in text.splitlines() if line.strip())


def paginate(docs: list[dict[str, Any]], page_size: int, page_token: str) -> tuple[list[dict[str, Any]], str]:
    """(page, next page token); tokens are opaque offsets into the creation-ordered list."""
    try:
        start = int(page_token) if page_token else 0
    except ValueError:
        raise invalid(f"Invalid page token {page_token!r}") from None
    page = docs[start : start + page_size]
    end = start + len(page)
    return page, (str(end) if end < len(docs) else "")
