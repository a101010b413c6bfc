"""A Vertex AI HyperparameterTuningJob as an external job: ``vertex-hyperparameter-tuning-job``.

Each trial is a CustomJob built from the same settings as :class:`~adapters.vertex.VertexCustomJob` (the
config extends :class:`~adapters.vertex.VertexCustomJobConfig`: container or Python package, machines,
replicas, accelerators, outputs); Vertex adds each trial's parameters to the program's arguments as
``--parameter_id=value``. The study is declared in the config like the ``aiplatform`` SDK's
``metric_spec`` / ``parameter_spec``::

    metrics = { accuracy = "maximize" }
    [config.parameters.learning_rate]
    type = "double"; min = 0.0001; max = 0.1; scale = "log"
    [config.parameters.optimizer]
    type = "categorical"; values = ["adam", "sgd"]

A tuning job has no client-chosen ID: it is created exactly once by label and look-up, like a custom job.
Its outputs, once it succeeds: ``bestTrial`` (ID, parameters and final measurement, best by the study's
first metric and its goal) and ``trials`` (every trial's state, parameters and final metrics).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adapters._errors import SpecError

from .._messages import TrainPluginInput
from ._base import JOB_STATES
from ._custom import CustomJobSpecModel, VertexCustomJobConfig
from ._resources import ResourceKind

__all__ = [
    "StudyParameter",
    "VertexHyperparameterTuningJob",
    "VertexHyperparameterTuningJobConfig",
    "best_trial",
]

_PARAMETER_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_SCALES = {"linear": "UNIT_LINEAR_SCALE", "log": "UNIT_LOG_SCALE", "reverse_log": "UNIT_REVERSE_LOG_SCALE"}
_ALGORITHMS = {"bayesian": "ALGORITHM_UNSPECIFIED", "grid": "GRID_SEARCH", "random": "RANDOM_SEARCH"}
_ENDED_TRIALS = frozenset({"SUCCEEDED", "INFEASIBLE"})


class StudyParameter(BaseModel):
    """One parameter of the study.

    Attributes:
        type: ``double`` or ``integer`` (a range ``min``..``max``), ``categorical`` (string ``values``) or
            ``discrete`` (numeric ``values``, increasing).
        min, max: the range of a double or integer parameter.
        values: the values of a categorical or discrete parameter.
        scale: how the range is searched: ``linear``, ``log`` or ``reverse_log`` (numbers only; the log
            scales need values above 0).
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["double", "integer", "categorical", "discrete"]
    min: float | None = None
    max: float | None = None
    values: list[str] | list[float] | None = None
    scale: Literal["linear", "log", "reverse_log"] | None = None

    @model_validator(mode="after")
    def _fits_its_type(self) -> StudyParameter:
        ranged = self.type in ("double", "integer")
        if ranged:
            if self.min is None or self.max is None or self.values is not None:
                raise ValueError(f"a {self.type} parameter takes min and max (no values)")
            if self.min > self.max or (self.type == "double" and self.min == self.max):
                raise ValueError(f"min ({self.min:g}) must be below max ({self.max:g})")
            if self.type == "integer" and not (self.min.is_integer() and self.max.is_integer()):
                raise ValueError(
                    f"an integer parameter's min and max must be whole, got {self.min}, {self.max}"
                )
        else:
            if not self.values or self.min is not None or self.max is not None:
                raise ValueError(f"a {self.type} parameter takes values (a non-empty list; no min or max)")
            if len(set(self.values)) != len(self.values):
                raise ValueError(f"values must be distinct, got {self.values!r}")
            numbers = all(isinstance(v, int | float) for v in self.values)
            if self.type == "categorical" and numbers:
                raise ValueError(f"categorical values are strings, got {self.values!r}; use type 'discrete'")
            if self.type == "discrete":
                if not numbers:
                    raise ValueError(f"discrete values are numbers, got {self.values!r}")
                if list(self.values) != sorted(self.values):
                    raise ValueError(f"discrete values must be increasing, got {self.values!r}")
        if self.scale is not None:
            if self.type == "categorical":
                raise ValueError("a categorical parameter has no scale")
            low = self.min if ranged else min(float(v) for v in self.values or [])
            if self.scale != "linear" and (low is None or low <= 0):
                raise ValueError(f"a {self.scale} scale needs values above 0, got a low end of {low}")
        return self

    def to_rest(self, parameter_id: str) -> dict[str, Any]:
        """The ``StudySpec.ParameterSpec`` REST JSON."""
        spec: dict[str, Any] = {"parameterId": parameter_id}
        if self.type == "double":
            spec["doubleValueSpec"] = {"minValue": self.min, "maxValue": self.max}
        elif self.type == "integer":
            assert self.min is not None and self.max is not None
            spec["integerValueSpec"] = {"minValue": int(self.min), "maxValue": int(self.max)}
        elif self.type == "categorical":
            spec["categoricalValueSpec"] = {"values": list(self.values or [])}
        else:
            spec["discreteValueSpec"] = {"values": [float(v) for v in self.values or []]}
        if self.scale is not None:
            spec["scaleType"] = _SCALES[self.scale]
        return spec


class VertexHyperparameterTuningJobConfig(VertexCustomJobConfig):
    """Settings of a Vertex AI HyperparameterTuningJob: the trial's custom job settings, and the study.

    Attributes:
        metrics: metric ID -> ``maximize`` or ``minimize`` (the first one picks the best trial).
        parameters: parameter ID -> :class:`StudyParameter`; each becomes ``--ID=value`` for the trial.
        algorithm: ``bayesian`` (Vertex's default), ``grid`` (integer, categorical and discrete parameters
            only) or ``random``.
        max_trial_count: trials in all.
        parallel_trial_count: trials at once (at most ``max_trial_count``).
        max_failed_trial_count: failed trials before the job fails (0: Vertex decides).
    """

    metrics: dict[str, Literal["maximize", "minimize"]] = Field(min_length=1)
    parameters: dict[str, StudyParameter] = Field(min_length=1)
    algorithm: Literal["bayesian", "grid", "random"] = "bayesian"
    max_trial_count: int = Field(ge=1)
    parallel_trial_count: int = Field(default=1, ge=1)
    max_failed_trial_count: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _study_fits(self) -> VertexHyperparameterTuningJobConfig:
        for name in [*self.metrics, *self.parameters]:
            if not _PARAMETER_ID.fullmatch(name):
                raise ValueError(
                    f"metric or parameter ID {name!r} must start with a letter or '_' and hold only letters, "
                    "digits, '_', '.' or '-' (it becomes a --ID=value argument)"
                )
        if self.parallel_trial_count > self.max_trial_count:
            raise ValueError(
                f"parallel_trial_count ({self.parallel_trial_count}) must not exceed max_trial_count "
                f"({self.max_trial_count})"
            )
        if self.algorithm == "grid":
            doubles = [k for k, p in self.parameters.items() if p.type == "double"]
            if doubles:
                raise ValueError(
                    f"grid search takes integer, categorical and discrete parameters only; "
                    f"{', '.join(doubles)} are double"
                )
        return self

    def study_spec(self) -> dict[str, Any]:
        """The ``StudySpec`` REST JSON."""
        return {
            "metrics": [{"metricId": k, "goal": goal.upper()} for k, goal in self.metrics.items()],
            "parameters": [p.to_rest(k) for k, p in self.parameters.items()],
            "algorithm": _ALGORITHMS[self.algorithm],
        }


def _trial_row(trial: dict[str, Any], integers: set[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for p in trial.get("parameters") or []:
        value = p.get("value")
        # google.protobuf.Value carries numbers as doubles: give integer parameters back as ints.
        if p.get("parameterId") in integers and isinstance(value, float) and value.is_integer():
            value = int(value)
        params[str(p.get("parameterId"))] = value
    row: dict[str, Any] = {"id": str(trial.get("id", "")), "state": trial.get("state"), "parameters": params}
    final = trial.get("finalMeasurement")
    if final:
        row["finalMeasurement"] = {
            "stepCount": int(final.get("stepCount", 0)),
            "metrics": {str(m.get("metricId")): m.get("value") for m in final.get("metrics") or []},
        }
    return row


def best_trial(data: dict[str, Any]) -> dict[str, Any] | None:
    """The best succeeded trial of a tuning job's REST JSON by its study's first metric and goal."""
    metrics = (data.get("studySpec") or {}).get("metrics") or []
    if not metrics:
        return None
    metric, goal = str(metrics[0].get("metricId")), metrics[0].get("goal")
    rows = _rows(data)
    scored = [
        r
        for r in rows
        if r.get("state") == "SUCCEEDED"
        and isinstance(r.get("finalMeasurement", {}).get("metrics", {}).get(metric), int | float)
    ]
    if not scored:
        return None
    sign = -1.0 if goal in ("MINIMIZE", 2) else 1.0
    # The highest score wins; among equals, the earliest trial (Vertex numbers trials from 1).
    return max(
        scored,
        key=lambda r: (sign * r["finalMeasurement"]["metrics"][metric], -_trial_number(r["id"])),
    )


def _trial_number(trial_id: str) -> int:
    return int(trial_id) if trial_id.isdigit() else 0


def _rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    params = (data.get("studySpec") or {}).get("parameters") or []
    integers = {str(p.get("parameterId")) for p in params if "integerValueSpec" in p}
    return [_trial_row(t, integers) for t in data.get("trials") or []]


def _tuning_outputs(data: dict[str, Any]) -> dict[str, Any]:
    rows = _rows(data)
    if not rows:
        return {}
    outputs: dict[str, Any] = {"trials": rows}
    best = best_trial(data)
    if best is not None:
        outputs["bestTrial"] = best
    return outputs


def _trial_progress(data: dict[str, Any]) -> tuple[float | None, str | None]:
    total = int(data.get("maxTrialCount") or 0)
    trials = data.get("trials") or []
    if total <= 0 or not trials:
        return None, None
    ended = sum(1 for t in trials if t.get("state") in _ENDED_TRIALS)
    active = sum(1 for t in trials if t.get("state") == "ACTIVE")
    note = f"{ended}/{total} trials done" + (f", {active} running" if active else "")
    return ended / total, note


HYPERPARAMETER_TUNING_JOB = ResourceKind(
    "hyperparameter tuning job",
    "jobs",
    "hyperparameter_tuning_job",
    "HyperparameterTuningJob",
    JOB_STATES,
    _tuning_outputs,
    progress=_trial_progress,
)


class VertexHyperparameterTuningJob(CustomJobSpecModel[VertexHyperparameterTuningJobConfig]):
    """A Vertex AI HyperparameterTuningJob: submit, status (trials as progress), cancel and reattach."""

    adapter_name: ClassVar[str] = "vertex-hyperparameter-tuning-job"
    kind: ClassVar[ResourceKind] = HYPERPARAMETER_TUNING_JOB
    config_class: ClassVar[type[VertexHyperparameterTuningJobConfig]] = VertexHyperparameterTuningJobConfig
    # Training parameters become every trial's fixed arguments, next to the study's parameters.
    input_fields: ClassVar[frozenset[str] | None] = frozenset({"training_params"})

    def job_spec(self, input: TrainPluginInput) -> dict[str, Any]:
        """The engine's spec, after refusing a training param that the study tunes (before any effect)."""
        tuned = sorted(set(input.training_params or {}) & set(self.require_config().parameters))
        if tuned:
            raise SpecError(
                f"training_params {', '.join(tuned)} are tuned by the study (its parameters); Vertex gives "
                "every trial its own value, so remove them from training_params"
            )
        return super().job_spec(input)

    def tuning_job_body(self, input: TrainPluginInput, submission_key: str) -> dict[str, Any]:
        """The REST JSON of the HyperparameterTuningJob to create."""
        config = self.require_config()
        fields: dict[str, Any] = {
            "studySpec": config.study_spec(),
            "maxTrialCount": config.max_trial_count,
            "parallelTrialCount": config.parallel_trial_count,
            "trialJobSpec": self.custom_job_spec(input),
        }
        if config.max_failed_trial_count:
            fields["maxFailedTrialCount"] = config.max_failed_trial_count
        return self.resource_body(submission_key, **fields)

    def create_body(self, spec: dict[str, Any], submission_key: str) -> dict[str, Any]:
        return self.tuning_job_body(TrainPluginInput.model_validate(spec["input"]), submission_key)
