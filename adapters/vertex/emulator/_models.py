"""The model registry: uploaded models and the predictors that serve them.

Models are uploaded by training pipelines when they succeed; endpoints and batch prediction jobs read them.
"""

from __future__ import annotations

import copy
from typing import Any

from . import _automl
from ._runtime import Runtime
from ._wire import not_found


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

    def get(self, name: str) -> dict[str, Any]:
        """Gets a model (404 if unknown)."""
        self._rt.settle()
        with self._rt.lock:
            model = self.docs.get(self._rt.canonical(name.split("@", 1)[0]))
            if model is None:
                raise not_found(name)
            return copy.deepcopy(model)
