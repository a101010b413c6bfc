"""jobferry's Apache Airflow provider: deferrable operators and a trigger over jobferry's job handle.

Install with ``pip install 'jobferry[airflow]'``. Airflow finds the provider through the
``apache_airflow_provider`` entry point (:func:`adapters.airflow._provider.get_provider_info`).

The names below are loaded on first access (PEP 562): Airflow imports this package from *every*
``import airflow`` (provider discovery), and that import must not in turn import Airflow or a vendor SDK.

- :class:`JobferryTrainOperator` -- submit (exactly once) a job spec, then defer (or wait) until it ends;
- :class:`JobferryJobSensor` -- wait, deferred, for a job submitted elsewhere (``jobferry train``);
- :class:`JobferryDeployOperator` -- deploy a trained job's model (adapters with the Serving capability);
- :class:`JobferryPredictOperator` -- online predictions through a trained job;
- :class:`JobferryJobTrigger` -- the trigger: polls through jobferry's engine off the event loop.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._operators import JobferryJobSensor, JobferryTrainOperator
    from ._serving_ops import JobferryDeployOperator, JobferryPredictOperator
    from ._trigger import JobferryJobTrigger

_LAZY = {
    "JobferryTrainOperator": "._operators",
    "JobferryJobSensor": "._operators",
    "JobferryDeployOperator": "._serving_ops",
    "JobferryPredictOperator": "._serving_ops",
    "JobferryJobTrigger": "._trigger",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'adapters.airflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "JobferryDeployOperator",
    "JobferryJobSensor",
    "JobferryJobTrigger",
    "JobferryPredictOperator",
    "JobferryTrainOperator",
]
