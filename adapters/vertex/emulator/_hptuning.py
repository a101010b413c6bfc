"""Hyperparameter tuning jobs: trials in waves on the clock, with measurements computed from the parameters.

The job's running time is split into ``ceil(maxTrialCount / parallelTrialCount)`` waves; the trials of a
wave are ACTIVE during it and SUCCEEDED, with a ``finalMeasurement``, once it ends. Trial ``n`` (1-based)
takes, for each parameter, a point of a low-discrepancy sequence over the parameter's range (Weyl sequence,
offset per parameter): ``u = frac(n * phi + k * sqrt(2))`` for the ``k``-th parameter, ``phi`` the golden
ratio. A double is ``min + u * (max - min)``; an integer that, rounded; a categorical or discrete parameter
its value at index ``floor(u * len(values))``. Every metric of the study is then the same deterministic
function of the trial's positions ``p_k`` in [0, 1] (``u`` itself, or ``index / (len - 1)``)::

    metric = round(1 - mean_k((p_k - 0.3) ** 2), 6)

so a test can check which trial is best. Each trial names a CustomJob of its own (``trials[].customJob``).
"""

from __future__ import annotations

import math
from typing import Any

from ._jobs import Job, Jobs
from ._runtime import Runtime
from ._wire import invalid

_PHI = (1 + math.sqrt(5)) / 2
_KINDS = ("doubleValueSpec", "integerValueSpec", "categoricalValueSpec", "discreteValueSpec")
_GOALS = {"1": "MAXIMIZE", "2": "MINIMIZE", "MAXIMIZE": "MAXIMIZE", "MINIMIZE": "MINIMIZE"}
_ALGORITHMS = {"0", "2", "3", "ALGORITHM_UNSPECIFIED", "GRID_SEARCH", "RANDOM_SEARCH"}
#: The optimum every metric of the emulator's studies peaks at (a position in each parameter's range).
OPTIMUM = 0.3


def _number(value: Any, what: str) -> float:
    try:
        return float(value)  # int64 fields arrive as JSON strings
    except (TypeError, ValueError):
        raise invalid(f"{what} must be a number, got {value!r}") from None


def check_study(study: Any) -> list[dict[str, Any]]:
    """Validate ``studySpec`` as Vertex does; return its parameter specs."""
    if not isinstance(study, dict):
        raise invalid("studySpec is required")
    metrics = study.get("metrics") or []
    if not metrics:
        raise invalid("studySpec.metrics must name at least one metric")
    for metric in metrics:
        if not metric.get("metricId"):
            raise invalid("studySpec.metrics[].metricId is required")
        if str(metric.get("goal", "")) not in _GOALS:
            raise invalid(f"studySpec.metrics[].goal of {metric['metricId']!r} must be MAXIMIZE or MINIMIZE")
    if str(study.get("algorithm", "0")) not in _ALGORITHMS:
        raise invalid(f"Unknown studySpec.algorithm {study.get('algorithm')!r}")
    params = study.get("parameters") or []
    if not params:
        raise invalid("studySpec.parameters must name at least one parameter")
    for spec in params:
        pid = spec.get("parameterId")
        if not pid:
            raise invalid("studySpec.parameters[].parameterId is required")
        kinds = [k for k in _KINDS if k in spec]
        if len(kinds) != 1:
            raise invalid(f"parameter {pid!r} must have exactly one of {', '.join(_KINDS)}")
        value_spec = spec[kinds[0]] or {}
        if kinds[0] in ("doubleValueSpec", "integerValueSpec"):
            low = _number(value_spec.get("minValue", 0), f"{pid}.minValue")
            high = _number(value_spec.get("maxValue", 0), f"{pid}.maxValue")
            if low > high:
                raise invalid(f"parameter {pid!r}: minValue {low} is greater than maxValue {high}")
        elif not value_spec.get("values"):
            raise invalid(f"parameter {pid!r}: {kinds[0]}.values must not be empty")
    return list(params)


def trial_parameters(params: list[dict[str, Any]], n: int) -> tuple[list[dict[str, Any]], list[float]]:
    """Trial ``n``'s parameter values (REST JSON) and their positions in [0, 1] (see the module doc)."""
    values: list[dict[str, Any]] = []
    positions: list[float] = []
    for k, spec in enumerate(params):
        u = (n * _PHI + k * math.sqrt(2)) % 1.0
        value: Any
        if "doubleValueSpec" in spec or "integerValueSpec" in spec:
            integer = "integerValueSpec" in spec
            vs = spec["integerValueSpec" if integer else "doubleValueSpec"]
            low, high = float(vs.get("minValue", 0)), float(vs.get("maxValue", 0))
            value = low + u * (high - low)
            if integer:
                value = round(value)
                position = (value - low) / (high - low) if high > low else 0.0
            else:
                value, position = round(value, 9), u
        else:
            choices = (spec.get("categoricalValueSpec") or spec.get("discreteValueSpec") or {})["values"]
            index = min(int(u * len(choices)), len(choices) - 1)
            value = choices[index]
            position = index / (len(choices) - 1) if len(choices) > 1 else 0.0
        values.append({"parameterId": spec["parameterId"], "value": value})
        positions.append(position)
    return values, positions


def measurement(positions: list[float]) -> float:
    """Every metric's value for a trial at ``positions`` (see the module doc)."""
    return round(1 - sum((p - OPTIMUM) ** 2 for p in positions) / len(positions), 6)


class HyperparameterTuningJobs:
    """Creates hyperparameter tuning jobs (kind ``hyperparameterTuningJobs``) and renders their trials."""

    def __init__(self, runtime: Runtime, jobs: Jobs) -> None:
        self._rt = runtime
        self._jobs = jobs

    def create(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a hyperparameter tuning job (validated as Vertex does, before any effect)."""
        now = self._rt.settle()
        params = check_study(body.get("studySpec"))
        trials = int(_number(body.get("maxTrialCount", 0), "maxTrialCount"))
        parallel = int(_number(body.get("parallelTrialCount", 0), "parallelTrialCount"))
        if trials < 1:
            raise invalid("maxTrialCount must be greater than 0")
        if parallel < 1:
            raise invalid("parallelTrialCount must be greater than 0")
        if int(_number(body.get("maxFailedTrialCount", 0), "maxFailedTrialCount")) < 0:
            raise invalid("maxFailedTrialCount must not be negative")
        if not (body.get("trialJobSpec") or {}).get("workerPoolSpecs"):
            raise invalid("trialJobSpec.workerPoolSpecs is required")
        with self._rt.lock:
            parent = self._rt.canonical(parent)
            job = self._jobs.add(parent, "hyperparameterTuningJobs", body, "hyperparameter_tuning")
            plan = [trial_parameters(params, n) for n in range(1, trials + 1)]
            ids = [self._rt.new_id() for _ in plan]
            job.on_render = lambda doc, state, at: self._trials(
                job, parent, plan, ids, parallel, doc, state, at
            )
            return self._jobs.render(job, now)

    def _trials(
        self,
        job: Job,
        parent: str,
        plan: list[tuple[list[dict[str, Any]], list[float]]],
        job_ids: list[str],
        parallel: int,
        doc: dict[str, Any],
        state: str,
        now: float,
    ) -> None:
        bounds = {s: (b, e) for s, b, e in job.boundaries}
        run_start, run_end = bounds.get("RUNNING", (job.finish, job.finish))
        if state == "PAUSED":
            now = min(now, run_start + (run_end - run_start) / 2)
        if job.cancelled_at is not None:
            now = min(now, job.cancelled_at)
        waves = math.ceil(len(plan) / parallel)
        share = (run_end - run_start) / waves
        metrics = [m["metricId"] for m in doc["studySpec"]["metrics"]]
        out: list[dict[str, Any]] = []
        for i, (values, positions) in enumerate(plan):
            wave = i // parallel
            begin, end = run_start + wave * share, run_start + (wave + 1) * share
            if now < begin or (state in ("PENDING", "QUEUED")):
                break  # not requested yet
            trial: dict[str, Any] = {
                "id": str(i + 1),
                "parameters": values,
                "startTime": self._rt.wall(begin),
                "customJob": f"{parent}/customJobs/{job_ids[i]}",
            }
            done = now >= end or state == "SUCCEEDED"
            if done:
                value = measurement(positions)
                trial.update(
                    state="SUCCEEDED",
                    endTime=self._rt.wall(end),
                    finalMeasurement={
                        "stepCount": "1",
                        "metrics": [{"metricId": m, "value": value} for m in metrics],
                    },
                )
            elif state in ("FAILED", "CANCELLED"):
                trial.update(state="INFEASIBLE", infeasibleReason=f"the tuning job ended {state}")
            else:
                trial["state"] = "STOPPING" if state == "CANCELLING" else "ACTIVE"
            out.append(trial)
        if out:
            doc["trials"] = out
