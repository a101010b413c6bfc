"""The emulator's resources and their life cycles, in memory and thread-safe: the facade over the families.

Each resource family lives in its own module and shares one :class:`~._runtime.Runtime` (lock, clock, IDs,
timers): jobs (:mod:`._jobs`, with the kinds' effects in :mod:`._pipelines` and :mod:`._batch`), long-running
operations (:mod:`._operations`), datasets (:mod:`._datasets`), models (:mod:`._models`) and endpoints
(:mod:`._endpoints`). :class:`State` is what the app routes to and what tests inspect; it adds only what
spans families: listing and deleting datasets, models and endpoints alike. Resources store enums by name;
the wire layer turns them into numbers when the client asks.

Outcomes are scripted per job by the label ``emulator-outcome`` (``succeed``, ``fail`` or ``pause``) or for
the next jobs created by :meth:`State.script_next`; the label wins. The label ``emulator-seconds`` overrides
the running time (Vertex seconds).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from ._batch import BatchPredictions
from ._config import EmulatorConfig
from ._datasets import Datasets
from ._endpoints import Deployed, Endpoints
from ._filters import compile_filter
from ._hptuning import HyperparameterTuningJobs
from ._jobs import JOB_KINDS, OUTCOME_LABEL, OUTCOMES, SECONDS_LABEL, Job, Jobs, Outcome, Script
from ._kfp import PipelineJobs
from ._labels import validate_labels
from ._models import Models
from ._operations import TYPE_PREFIX, Operation, Operations, empty
from ._pipelines import Pipelines
from ._runtime import Runtime, paginate
from ._tuning import TuningJobs
from ._wire import not_found, precondition

# Re-exported: these names lived here before the families got their own modules.
__all__ = [
    "JOB_KINDS",
    "OUTCOMES",
    "OUTCOME_LABEL",
    "SECONDS_LABEL",
    "TYPE_PREFIX",
    "Deployed",
    "Job",
    "Operation",
    "Outcome",
    "Script",
    "State",
    "paginate",
    "validate_labels",
]


class Collection(Protocol):
    """A resource family that List* and Delete* treat alike (datasets, models, endpoints)."""

    @property
    def docs(self) -> dict[str, dict[str, Any]]:
        """Resource name -> its stored JSON."""
        ...

    def render(self, name: str) -> dict[str, Any]:
        """The JSON of the stored resource ``name``, as Get returns it (call with the lock held)."""
        ...


class State:
    """Every resource of the emulator.

    The attributes are the families' own stores (the same objects), for assertions: read and mutate
    them, don't rebind them.

    Args:
        config: the emulator configuration.
        clock: monotonic seconds; Vertex durations are divided by ``config.speedup`` on this clock.
    """

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._runtime = Runtime(config, clock)
        self._lock = self._runtime.lock
        self._operations = Operations(self._runtime)
        self._jobs = Jobs(self._runtime, self._operations)
        self._datasets = Datasets(self._runtime, self._operations)
        self._models = Models(self._runtime)
        self._endpoints = Endpoints(self._runtime, self._operations, self._models)
        self._pipelines = Pipelines(self._runtime, self._jobs, self._datasets, self._models)
        self._batch = BatchPredictions(self._runtime, self._jobs, self._models)
        self._tuning = TuningJobs(self._runtime, self._jobs, self._models, self._endpoints)
        self._pipeline_jobs = PipelineJobs(self._runtime, self._jobs)
        self._hptuning = HyperparameterTuningJobs(self._runtime, self._jobs)
        self._collections: dict[str, Collection] = {
            "datasets": self._datasets,
            "models": self._models,
            "endpoints": self._endpoints,
        }
        self.datasets: dict[str, dict[str, Any]] = self._datasets.docs
        #: Dataset name -> the ``importConfigs`` of every ImportData that completed on it, oldest first.
        self.imports: dict[str, list[dict[str, Any]]] = self._datasets.imports
        #: Dataset name -> its data items (identified as Vertex deduplicates them: by content / GCS path).
        self.data_items: dict[str, set[str]] = self._datasets.data_items
        self.models: dict[str, dict[str, Any]] = self._models.docs
        self.predictors = self._models.predictors
        self.endpoints: dict[str, dict[str, Any]] = self._endpoints.docs
        self.deployed: dict[str, list[Deployed]] = self._endpoints.deployed
        self.operations: dict[str, Operation] = self._operations.operations
        self.jobs: dict[str, dict[str, Job]] = self._jobs.jobs
        #: Tuned Gemini model name -> what its tuning job learnt (answers generateContent).
        self.tuned = self._tuning.tuned

    # -- plumbing ---------------------------------------------------------------------------------------

    def wall(self, t: float) -> str:
        """The RFC 3339 timestamp of clock time ``t``."""
        return self._runtime.wall(t)

    def seconds(self, vertex_seconds: float) -> float:
        """Clock seconds that stand for ``vertex_seconds`` of Vertex time."""
        return self._runtime.seconds(vertex_seconds)

    def project(self, project: str) -> str:
        """The project as Vertex names it in responses (its number, when one is configured)."""
        return self._runtime.project(project)

    def canonical(self, name: str) -> str:
        """``name`` with its project replaced by the configured project number, if any."""
        return self._runtime.canonical(name)

    def settle(self) -> float:
        """Runs every timer that is due; returns the current clock time."""
        return self._runtime.settle()

    def script_next(
        self, outcome: Outcome, kind: str | None = None, count: int = 1, message: str | None = None
    ) -> None:
        """Scripts the outcome of the next ``count`` jobs created (see :meth:`Jobs.script_next`)."""
        self._jobs.script_next(outcome, kind, count, message)

    # -- jobs -------------------------------------------------------------------------------------------

    def render_job(self, job: Job, now: float) -> dict[str, Any]:
        """The job's JSON at ``now`` (a job seen SUCCEEDED has had its effects applied)."""
        return self._jobs.render(job, now)

    def get_job(self, kind: str, name: str) -> dict[str, Any]:
        """Gets a job (404 if unknown)."""
        return self._jobs.get(kind, name)

    def list_jobs(
        self, kind: str, parent: str, filter_text: str, page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of the jobs under ``parent`` that match the filter, and the next page token."""
        return self._jobs.list_page(kind, parent, filter_text, page_size, page_token)

    def cancel_job(self, kind: str, name: str) -> None:
        """Requests cancellation; 400 FAILED_PRECONDITION if the job already ended."""
        self._jobs.cancel(kind, name)

    def delete_job(self, kind: str, name: str) -> dict[str, Any]:
        """Deletes an ended job (Vertex refuses to delete live ones); returns the delete operation."""
        return self._jobs.delete(kind, name)

    def create_pipeline(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a training pipeline; AutoML tabular/forecasting data are fitted now."""
        return self._pipelines.create(parent, body)

    def create_custom_job(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a custom job (no model: custom jobs only run containers)."""
        return self._jobs.create_custom_job(parent, body)

    def create_batch_job(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a batch prediction job; on success it writes predictions when the paths are local."""
        return self._batch.create(parent, body)

    def create_tuning_job(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a Gemini tuning job; on success a tuned model is deployed on an endpoint of its own."""
        return self._tuning.create(parent, body)

    def generate_content(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """``generateContent`` on an endpoint serving a tuned Gemini model."""
        return self._tuning.generate_content(endpoint, body)

    def create_pipeline_job(self, parent: str, body: dict[str, Any], job_id: str = "") -> dict[str, Any]:
        """Creates a Vertex AI Pipelines job (under the client's ``pipelineJobId``: 409 when it is taken)."""
        return self._pipeline_jobs.create(parent, body, job_id)

    def create_hyperparameter_tuning_job(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a hyperparameter tuning job; its trials run in waves with computed measurements."""
        return self._hptuning.create(parent, body)

    # -- operations -------------------------------------------------------------------------------------

    def render_operation(self, op: Operation, now: float) -> dict[str, Any]:
        """The Operation JSON at ``now``."""
        return self._operations.render(op, now)

    def get_operation(self, name: str) -> dict[str, Any]:
        """Gets an operation (404 if unknown)."""
        return self._operations.get(name)

    def list_operations(
        self, resource: str, page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str]:
        """The operations under ``resource``, one page."""
        return self._operations.list_(resource, page_size, page_token)

    def cancel_operation(self, name: str) -> None:
        """Best-effort cancel of an operation."""
        self._operations.cancel(name)

    def delete_operation(self, name: str) -> None:
        """Forget an operation."""
        self._operations.delete(name)

    # -- datasets, models, endpoints --------------------------------------------------------------------

    def create_dataset(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Starts creating a dataset; returns the operation."""
        return self._datasets.create(parent, body)

    def import_data(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Starts importing data items into a dataset (ImportData); returns the operation."""
        return self._datasets.import_data(name, body)

    def get_dataset(self, name: str) -> dict[str, Any]:
        """Gets a dataset (404 if unknown or still being created)."""
        return self._datasets.get(name)

    def get_model(self, name: str) -> dict[str, Any]:
        """Gets a model (404 if unknown)."""
        return self._models.get(name)

    def create_endpoint(self, parent: str, body: dict[str, Any], endpoint_id: str = "") -> dict[str, Any]:
        """Starts creating an endpoint (under the client's ``endpoint_id``, if any); returns the operation."""
        return self._endpoints.create(parent, body, endpoint_id)

    def get_endpoint(self, name: str) -> dict[str, Any]:
        """Gets an endpoint with its deployed models and traffic split."""
        return self._endpoints.get(name)

    def deploy_model(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """Starts deploying a model; the endpoint serves it once the operation is done."""
        return self._endpoints.deploy_model(endpoint, body)

    def undeploy_model(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """Starts undeploying a model from an endpoint."""
        return self._endpoints.undeploy_model(endpoint, body)

    def predict(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """Online prediction through the deployed model with the most traffic."""
        return self._endpoints.predict(endpoint, body)

    def list_resources(
        self, collection: str, parent: str, filter_text: str, page_size: int, page_token: str
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of the datasets, models or endpoints under ``parent`` that match the filter."""
        self.settle()
        predicate = compile_filter(filter_text)
        prefix = f"{self.canonical(parent)}/{collection}/"
        with self._lock:
            family = self._collections[collection]
            names = [n for n in family.docs if n.startswith(prefix)]
            docs = [family.render(n) for n in names]
        return self._runtime.page([d for d in docs if predicate(d)], page_size, page_token)

    def delete_resource(self, collection: str, name: str) -> dict[str, Any]:
        """Deletes a dataset, model or endpoint (models and endpoints must not be deployed / in use)."""
        self.settle()
        with self._lock:
            key = self.canonical(name)
            store = self._collections[collection].docs
            if key not in store:
                raise not_found(name)
            if collection == "endpoints" and self.deployed.get(key):
                raise precondition(f"Endpoint {key} has deployed models; undeploy them first.")
            if collection == "models" and any(d.model == key for ds in self.deployed.values() for d in ds):
                raise precondition(f"Model {key} is deployed to an endpoint; undeploy it first.")
            del store[key]
            # Names differ by collection, so only the deleted resource's own extras go.
            self.imports.pop(key, None)
            self.data_items.pop(key, None)
            self.deployed.pop(key, None)
            self.predictors.pop(key, None)
            self.tuned.pop(key, None)
            return self._operations.start(key, "DeleteOperationMetadata", 0.0, empty)
