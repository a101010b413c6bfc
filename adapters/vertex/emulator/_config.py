"""EmulatorConfig: every knob of the Vertex AI emulator, validated by pydantic.

Durations are in "Vertex time" (what the real service would take) and are divided by ``speedup``;
quotas, latency and retry-after values are in real (clock) seconds.
"""

from __future__ import annotations

import secrets

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: The job families whose run time can be configured, keyed as in :attr:`EmulatorConfig.durations`.
FAMILIES = (
    "tabular",
    "forecasting",
    "image",
    "text",
    "video",
    "custom",
    "custom_job",
    "batch_prediction",
    "tuning",
    "pipeline_job",
    "hyperparameter_tuning",
)

#: Job and long-running-operation submissions: they count against Vertex's separate submission quota
#: (60 a minute per project and region) as well as the resource-management one. Creates of the newer job
#: kinds are listed too, so that they are counted as soon as the emulator serves them.
JOB_CREATIONS = frozenset(
    {
        "CreateTrainingPipeline",
        "CreateCustomJob",
        "CreateBatchPredictionJob",
        "CreateHyperparameterTuningJob",
        "CreatePipelineJob",
        "CreateTuningJob",
        "CreateDataset",
        "ImportData",
        "CreateEndpoint",
        "DeployModel",
        "UndeployModel",
        "DeleteDataset",
        "DeleteEndpoint",
        "DeleteModel",
        "DeleteTrainingPipeline",
        "DeleteCustomJob",
        "DeleteBatchPredictionJob",
    }
)

#: Methods that count against the online-prediction quota instead of the resource-management one.
PREDICTIONS = frozenset({"Predict", "GenerateContent"})

FAULT_CODES = frozenset({400, 403, 404, 409, 429, 500, 503, 504})


def resolve_seed(seed: int | None) -> int:
    """``seed``, or a fresh one from the system's randomness when it is None."""
    return secrets.randbits(63) if seed is None else seed


class Phases(BaseModel):
    """How long a job waits before it starts and how long it then runs, in Vertex seconds."""

    model_config = ConfigDict(extra="forbid")

    pending: float = Field(default=300.0, ge=0)
    running: float = Field(default=3600.0, ge=0)


def _default_durations() -> dict[str, Phases]:
    # Rough medians of what the real service takes; tests pass a large speedup instead of editing these.
    return {
        "tabular": Phases(pending=600, running=3600),
        "forecasting": Phases(pending=600, running=5400),
        "image": Phases(pending=600, running=7200),
        "text": Phases(pending=600, running=7200),
        "video": Phases(pending=600, running=7200),
        "custom": Phases(pending=120, running=1200),
        "custom_job": Phases(pending=120, running=600),
        "batch_prediction": Phases(pending=300, running=900),
        "tuning": Phases(pending=300, running=3600),
        "pipeline_job": Phases(pending=60, running=1800),
        "hyperparameter_tuning": Phases(pending=120, running=3600),
    }


def _default_lro_seconds() -> dict[str, float]:
    # Deploying really takes 10-20 minutes; dataset and endpoint creation a few seconds.
    return {"CreateDataset": 5.0, "CreateEndpoint": 5.0, "DeployModel": 600.0, "UndeployModel": 60.0}


class FaultSpec(BaseModel):
    """Faults injected into one method.

    Attributes:
        error_rate: the probability (seeded RNG) that a call fails with one of ``codes`` before any effect.
        codes: HTTP codes to fail with, chosen uniformly; 429 and 503 carry a ``Retry-After`` header.
        retry_after: the ``Retry-After`` value in seconds.
        latency: real seconds slept before the call is handled.
        drop_response_rate: the probability that the call takes effect but its response is never written
            (the connection is closed; under ``responses`` a ``requests`` ConnectionError is raised).
        max_faults: stop injecting after this many errors and drops together (None: never stop).
    """

    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(default=0.0, ge=0, le=1)
    codes: list[int] = Field(default_factory=lambda: [503], min_length=1)
    retry_after: float = Field(default=1.0, ge=0)
    latency: float = Field(default=0.0, ge=0)
    drop_response_rate: float = Field(default=0.0, ge=0, le=1)
    max_faults: int | None = Field(default=None, ge=0)

    @field_validator("codes")
    @classmethod
    def _known_codes(cls, codes: list[int]) -> list[int]:
        unknown = sorted(set(codes) - FAULT_CODES)
        if unknown:
            raise ValueError(f"unsupported fault codes {unknown}; use some of {sorted(FAULT_CODES)}")
        return codes


class Quotas(BaseModel):
    """Requests allowed per project per window (None: unlimited); the defaults are Vertex's.

    Attributes:
        resource_management: every request but predictions (get, list, create, delete, ...).
        job_creation: job and long-running-operation submissions (:data:`JOB_CREATIONS`), on top.
        online_prediction: prediction requests.
    """

    model_config = ConfigDict(extra="forbid")

    resource_management: int | None = Field(default=600, ge=1)
    job_creation: int | None = Field(default=60, ge=1)
    online_prediction: int | None = Field(default=30_000, ge=1)
    window_seconds: float = Field(default=60.0, gt=0)


class EmulatorConfig(BaseModel):
    """The emulator's configuration.

    Attributes:
        speedup: Vertex durations are divided by this (3600 makes a two-hour job take two seconds).
        durations: pending and running time per family (see :data:`FAMILIES`).
        lro_seconds: Vertex seconds until an operation of that method is done (absent: done at once).
        cancel_seconds: Vertex seconds a cancelled job spends CANCELLING.
        bucket_map: ``gs://bucket/...`` URIs whose bucket is listed here are read from (and batch
            predictions written to) the mapped local folder.
        faults: fault injection per method name (e.g. ``"GetTrainingPipeline"``).
        quotas: per-project request quotas.
        max_predict_bytes: the largest Predict request body (Vertex: 1.5 MiB).
        seed: seeds the RNG behind fault rates and resource IDs; None (the default) draws a fresh random
            seed at every start (:func:`resolve_seed`), since a restarted emulator that replayed its IDs
            would hand a new job an old job's resource name. Give one for a reproducible run; a running
            emulator's ``app.config.seed`` is the one it drew, to replay a run.
        project_numbers: project ID -> number; names in responses then use the number, as Vertex does.
        default_page_size: list page size when the request sets none.
        log_size: how many (time, method, status) entries the request log keeps.
    """

    model_config = ConfigDict(extra="forbid")

    speedup: float = Field(default=1.0, gt=0)
    durations: dict[str, Phases] = Field(default_factory=_default_durations)
    lro_seconds: dict[str, float] = Field(default_factory=_default_lro_seconds)
    cancel_seconds: float = Field(default=30.0, ge=0)
    bucket_map: dict[str, str] = Field(default_factory=dict)
    faults: dict[str, FaultSpec] = Field(default_factory=dict)
    quotas: Quotas = Field(default_factory=Quotas)
    max_predict_bytes: int = Field(default=1_572_864, ge=1)
    seed: int | None = None
    project_numbers: dict[str, str] = Field(default_factory=dict)
    default_page_size: int = Field(default=100, ge=1)
    log_size: int = Field(default=100_000, ge=0)

    @field_validator("durations")
    @classmethod
    def _complete_durations(cls, given: dict[str, Phases]) -> dict[str, Phases]:
        unknown = sorted(set(given) - set(FAMILIES))
        if unknown:
            raise ValueError(f"unknown families {unknown}; families are {list(FAMILIES)}")
        # A partial mapping overrides only the families it names.
        return {**_default_durations(), **given}
