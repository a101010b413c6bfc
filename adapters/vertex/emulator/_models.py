"""The model registry: uploaded models and the predictors that serve them.

Models are uploaded by training pipelines when they succeed; endpoints and batch prediction jobs read them.
A model name may carry a version or an alias (``models/123@1``, ``models/123@default``), as
``GetModelRequest.name`` and ``BatchPredictionJob.model`` allow; an unknown one is 404, as on Vertex.
"""

from __future__ import annotations

import copy
from typing import Any

from . import _automl
from ._runtime import Runtime
from ._wire import not_found

#: Family -> (supportedDeploymentResourcesTypes, supportedInputStorageFormats,
#: supportedOutputStorageFormats), as Vertex lists them on AutoML models. The SDK reads the first to choose
#: dedicated or automatic resources in ``deploy``; an empty list means the model serves no online
#: predictions (AutoML video).
CAPABILITIES: dict[str, tuple[list[str], list[str], list[str]]] = {
    "tabular": (["DEDICATED_RESOURCES"], ["jsonl", "csv", "bigquery"], ["jsonl", "csv", "bigquery"]),
    "forecasting": (["DEDICATED_RESOURCES"], ["csv", "bigquery"], ["csv", "bigquery"]),
    "image": (["AUTOMATIC_RESOURCES"], ["jsonl"], ["jsonl"]),
    "text": (["AUTOMATIC_RESOURCES"], ["jsonl"], ["jsonl"]),
    "video": ([], ["jsonl"], ["jsonl"]),
    # A custom container is served on machines the caller picks, and reads what the container reads.
    "custom": (
        ["DEDICATED_RESOURCES"],
        ["jsonl", "csv", "bigquery", "tf-record", "tf-record-gzip", "file-list"],
        ["jsonl", "csv", "bigquery"],
    ),
}


def capability_fields(family: str) -> dict[str, list[str]]:
    """The Model fields that declare how a model of ``family`` can be deployed and batch-predicted."""
    deploy, inputs, outputs = CAPABILITIES.get(family, CAPABILITIES["custom"])
    return {
        "supportedDeploymentResourcesTypes": list(deploy),
        "supportedInputStorageFormats": list(inputs),
        "supportedOutputStorageFormats": list(outputs),
    }


class Models:
    """Every model, by name, and the predictor of each trained one."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self.docs: dict[str, dict[str, Any]] = {}
        self.predictors: dict[str, _automl.Predictor] = {}

    def predictor(self, name: str) -> _automl.Predictor:
        """The predictor of model ``name``; models without one (custom containers) answer by hash."""
        return self.predictors.get(name) or _automl.HashPredictor("custom", ["x"])

    def render(self, name: str) -> dict[str, Any]:
        """The model's JSON (call with the lock held)."""
        return copy.deepcopy(self.docs[name])

    def resolve(self, name: str) -> str:
        """The stored (unversioned, canonical) name of ``name``, which may end in ``@version`` or
        ``@alias``; 404 if the model, version or alias is unknown. Call with the lock held."""
        base, _, version = name.partition("@")
        key = self._rt.canonical(base)
        model = self.docs.get(key)
        if model is None:
            raise not_found(name)
        if version:
            # Every version here is the model's only one; "default" always points at the default version.
            aliases = {str(a) for a in model.get("versionAliases") or []} | {"default"}
            if version != str(model.get("versionId") or "1") and version not in aliases:
                raise not_found(name)
        return key

    def get(self, name: str) -> dict[str, Any]:
        """Gets a model (404 if the model, or the version or alias it names, is unknown)."""
        self._rt.settle()
        with self._rt.lock:
            return copy.deepcopy(self.docs[self.resolve(name)])
