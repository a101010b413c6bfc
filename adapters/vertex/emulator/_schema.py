"""What a deployed model accepts: deployment resources it supports and prediction instances it can read.

Vertex refuses a deploy whose resources the model does not declare (``supportedDeploymentResourcesTypes``)
and an online prediction whose instance does not fit the model's trained schema; the emulator answers both
with Google's 400, naming the field or column, so clients cannot rely on garbage being accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _automl
from ._wire import invalid, precondition

_RESOURCES = {
    "DEDICATED_RESOURCES": "dedicatedResources",
    "AUTOMATIC_RESOURCES": "automaticResources",
    "SHARED_RESOURCES": "sharedResources",
}


def check_deployable(model: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
    """Raises the 400 Vertex gives for ``deployedModel`` ``spec`` of ``model``; returns if it deploys."""
    supported = [str(t) for t in model.get("supportedDeploymentResourcesTypes") or []]
    name = model.get("name", "")
    if not supported:
        # The field's documentation: no types listed -> no endpoint, no online predictions.
        raise precondition(f"Model {name} does not support deployment to an endpoint (online prediction).")
    given = [field for field in _RESOURCES.values() if spec.get(field)]
    allowed = [_RESOURCES[t] for t in supported if t in _RESOURCES]
    if not given:
        raise invalid(f"deployedModel.{' or deployedModel.'.join(allowed)} is required for model {name}.")
    for field in given:
        if field not in allowed:
            raise invalid(f"Model {name} does not support deployedModel.{field}; it supports {allowed}.")
    dedicated = spec.get("dedicatedResources")
    if dedicated:
        if not (dedicated.get("machineSpec") or {}).get("machineType"):
            raise invalid("deployedModel.dedicatedResources.machineSpec.machineType is required.")
        if int(dedicated.get("minReplicaCount") or 0) < 1:
            raise invalid("deployedModel.dedicatedResources.minReplicaCount must be at least 1.")
    for field in ("dedicatedResources", "automaticResources"):
        resources = spec.get(field) or {}
        low, high = int(resources.get("minReplicaCount") or 0), int(resources.get("maxReplicaCount") or 0)
        if high and high < low:
            raise invalid(f"deployedModel.{field}.maxReplicaCount must not be below minReplicaCount.")


def columns(predictor: _automl.Predictor) -> dict[str, str] | None:
    """Column -> ``numeric`` / ``categorical`` of a trained tabular model; None for other models."""
    if isinstance(predictor, _automl.NaiveBayes):
        return {
            **dict.fromkeys(predictor.numeric, "numeric"),
            **dict.fromkeys(predictor.categorical, "categorical"),
        }
    if isinstance(predictor, _automl.LinearModel):
        return {
            **dict.fromkeys(predictor.weights, "numeric"),
            **dict.fromkeys(predictor.one_hot, "categorical"),
        }
    return None


def check_instances(predictor: _automl.Predictor, instances: list[Any]) -> None:
    """Raises a 400 naming the first instance (and column) the model cannot read.

    Tabular models need every trained column (null or "" stands for a missing value; extra keys are
    ignored, as for a CSV carrying the target); numeric columns need numbers or numeric strings. AutoML
    image, text and video instances are JSON objects; custom containers take anything.
    """
    schema = columns(predictor)
    task = getattr(predictor, "task", "")
    if schema is None and task == "custom":
        return
    for i, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise invalid(
                f"Prediction failed: instances[{i}] must be a JSON object (got {type(instance).__name__})."
            )
        for column, kind in (schema or {}).items():
            if column not in instance:
                raise invalid(f'Prediction failed: instances[{i}] is missing the column "{column}".')
            value = instance[column]
            if value is None or value == "":
                continue
            if isinstance(value, dict | list):
                raise invalid(f'Prediction failed: instances[{i}] column "{column}" must be a scalar.')
            if kind == "numeric" and _automl.number(value) is None:
                raise invalid(
                    f'Prediction failed: instances[{i}] column "{column}" is numeric; '
                    f"{value!r} is not a number."
                )
