"""jobferry's Apache Airflow provider: deferrable operators and a trigger over jobferry's job handle.

Install with ``pip install 'jobferry[airflow]'``. Airflow finds the provider through the
``apache_airflow_provider`` entry point (:func:`adapters.airflow._provider.get_provider_info`).

The names below are loaded on first access (PEP 562): Airflow imports this package from *every*
``import airflow`` (provider discovery), and that import must not in turn import Airflow or a vendor SDK.

- :class:`JobferryTrainOperator` -- submit (exactly once) a job spec, then defer (or wait) until it ends;
- :class:`JobferryJobSensor` -- wait, deferred, for a job submitted elsewhere (``jobferry train``);
- :class:`JobferryDeployOperator` -- deploy a trained job's model (Serving adapters), deferred;
- :class:`JobferryBatchPredictOperator` -- a batch prediction with a trained job's model (deferred);
- :class:`JobferryPredictOperator` -- online predictions through a trained job;
- :class:`JobferryJobTrigger` -- the trigger: polls through jobferry's engine off the event loop;
- :class:`JobferryDeployTrigger` -- the deploy operator's trigger (the deployment, off the event loop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters._lazy import lazy_exports

if TYPE_CHECKING:
    from ._operators import JobferryJobSensor, JobferryTrainOperator
    from ._serving_ops import JobferryBatchPredictOperator, JobferryDeployOperator, JobferryPredictOperator
    from ._trigger import JobferryDeployTrigger, JobferryJobTrigger

_LAZY = {
    "JobferryTrainOperator": "._operators",
    "JobferryJobSensor": "._operators",
    "JobferryDeployOperator": "._serving_ops",
    "JobferryPredictOperator": "._serving_ops",
    "JobferryBatchPredictOperator": "._serving_ops",
    "JobferryJobTrigger": "._trigger",
    "JobferryDeployTrigger": "._trigger",
}


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)


__all__ = [
    "JobferryBatchPredictOperator",
    "JobferryDeployOperator",
    "JobferryDeployTrigger",
    "JobferryJobSensor",
    "JobferryJobTrigger",
    "JobferryPredictOperator",
    "JobferryTrainOperator",
]
