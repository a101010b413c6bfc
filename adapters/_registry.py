"""The adapter registry: adapters by name, imported lazily from a dotted path (like fsspec's registry).

Built-in adapters are listed below; third parties register through the entry-point group
``jobferry.adapters`` (``name = "package.module:Class"``) or by calling :func:`register_adapter`. Nothing is
imported until an adapter is asked for, so a missing optional extra only matters to its own adapter.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters._errors import SpecError
from checkpoint._errors import MissingDependency

if TYPE_CHECKING:
    from ._external import ExternalJobModel

ENTRY_POINT_GROUP = "jobferry.adapters"


@dataclass(frozen=True)
class AdapterEntry:
    """Where an adapter lives: ``module:Class``, the extra it needs, and a one-line description."""

    target: str
    extra: str | None = None
    description: str = ""
    source: str = "builtin"


_BUILTIN: dict[str, AdapterEntry] = {
    "local": AdapterEntry(
        "adapters.local:LocalProcessModel", None, "a detached local process running your training entrypoint"
    ),
    "vertex-automl-tabular": AdapterEntry(
        "adapters.vertex:VertexAutoMLTabular", "vertex", "Vertex AI AutoML tabular classification/regression"
    ),
    "vertex-automl-forecasting": AdapterEntry(
        "adapters.vertex:VertexAutoMLForecasting", "vertex", "Vertex AI AutoML time-series forecasting"
    ),
    "vertex-automl-image": AdapterEntry(
        "adapters.vertex:VertexAutoMLImage", "vertex", "Vertex AI AutoML image classification/detection"
    ),
    "vertex-automl-text": AdapterEntry(
        "adapters.vertex:VertexAutoMLText", "vertex", "Vertex AI AutoML text classification/extraction"
    ),
    "vertex-automl-video": AdapterEntry(
        "adapters.vertex:VertexAutoMLVideo", "vertex", "Vertex AI AutoML video classification/tracking"
    ),
    "vertex-custom-job": AdapterEntry(
        "adapters.vertex:VertexCustomJob", "vertex", "Vertex AI custom training job (container or package)"
    ),
    "vertex-tuning-job": AdapterEntry(
        "adapters.vertex:VertexTuningJob", "vertex", "Vertex AI Gemini supervised tuning job"
    ),
    "vertex-pipeline-job": AdapterEntry(
        "adapters.vertex:VertexPipelineJob", "vertex", "Vertex AI Pipelines run (a compiled KFP pipeline)"
    ),
    "vertex-hyperparameter-tuning-job": AdapterEntry(
        "adapters.vertex:VertexHyperparameterTuningJob",
        "vertex",
        "Vertex AI hyperparameter tuning job (trials are custom jobs)",
    ),
    "vertex-batch-prediction": AdapterEntry(
        "adapters.vertex:VertexBatchPrediction", "vertex", "Vertex AI batch prediction job"
    ),
    "sagemaker-training-job": AdapterEntry(
        "adapters.sagemaker:SageMakerTrainingJob", "sagemaker", "Amazon SageMaker training job (boto3)"
    ),
    "sagemaker-batch-transform": AdapterEntry(
        "adapters.sagemaker:SageMakerBatchTransform", "sagemaker", "Amazon SageMaker batch transform job"
    ),
}

_lock = threading.Lock()
_registry: dict[str, AdapterEntry] = dict(_BUILTIN)
_entry_points_loaded = False


def _load_entry_points() -> None:
    global _entry_points_loaded
    with _lock:
        if _entry_points_loaded:
            return
        _entry_points_loaded = True
        # Imported here: importlib.metadata alone costs more than this module, and only a look-up needs it.
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            _registry.setdefault(
                ep.name, AdapterEntry(ep.value, None, "", source=f"entry point ({ep.group})")
            )


def register_adapter(
    name: str, target: str, *, extra: str | None = None, description: str = "", clobber: bool = False
) -> None:
    """Register ``target`` (``"package.module:Class"``) under ``name``.

    Raises ValueError if ``name`` is taken (unless ``clobber``) or ``target`` is not ``module:Class``.
    """
    if ":" not in target or not all(target.split(":", 1)):
        raise ValueError(f"adapter target {target!r} must look like 'package.module:ClassName'")
    with _lock:
        if name in _registry and not clobber and _registry[name].target != target:
            raise ValueError(f"adapter name {name!r} is already registered to {_registry[name].target!r}")
        _registry[name] = AdapterEntry(target, extra, description, source="register_adapter")


def list_adapters() -> dict[str, AdapterEntry]:
    """Every registered adapter by name (built-in, entry points, and registered at run time)."""
    _load_entry_points()
    with _lock:
        return dict(sorted(_registry.items()))


def get_adapter(name: str) -> type[ExternalJobModel]:  # type: ignore[type-arg]
    """Import and return the adapter class registered as ``name``.

    Raises:
        SpecError: no adapter has that name (the message lists the known ones).
        MissingDependency: the adapter's optional extra is not installed (with the pip command).
    """
    known = list_adapters()
    entry = known.get(name)
    if entry is None:
        raise SpecError(f"unknown adapter {name!r}; known adapters: {', '.join(known) or 'none'}")
    module_name, _, attr = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if entry.extra is not None and (exc.name or "").split(".")[0] not in ("adapters", "checkpoint"):
            raise MissingDependency(f"the {name!r} adapter", entry.extra, exc.name or module_name) from exc
        raise
    try:
        cls: type[ExternalJobModel] = getattr(module, attr)  # type: ignore[type-arg]
    except AttributeError:
        raise SpecError(f"adapter {name!r} points at {entry.target!r}, which does not exist") from None
    return cls
