"""The steps users chain after training: deploy a trained job's model, and predict through it.

Both find the job by workspace + plugin instance (``job.json`` names the adapter), so they work on a job
trained by :class:`~adapters.airflow.JobferryTrainOperator`, by ``jobferry train`` or by a notebook.

Deploying runs in the worker: an adapter's ``deploy`` already waits for the vendor's long-running
operation through jobferry's poll loop (minutes on Vertex AI), exactly once per job and endpoint.
A deferrable deploy (the operation polled by a trigger) is not built yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from ._results import public_url, scrub

if TYPE_CHECKING:
    from adapters._external import ExternalJobModel

__all__ = ["JobferryDeployOperator", "JobferryPredictOperator"]


def _load(workspace: str, plugin_instance: str) -> tuple[ExternalJobModel[Any], str]:
    from adapters._loading import load_job
    from checkpoint import Workspace

    url = Workspace.coerce(workspace).url
    return load_job(url, plugin_instance), url


class JobferryDeployOperator(BaseOperator):
    """Deploy the model a jobferry job trained (adapters with the ``Serving`` capability).

    ``deploy_kwargs`` go to the adapter's ``deploy`` (Vertex: ``endpoint``, ``machine_type``,
    ``min_replica_count``, ...). An adapter that predicts without deploying (the local adapter) is left as
    it is and the task succeeds with ``"endpoint": None``; one that cannot predict at all fails the task.

    Returns (XCom): ``{"job_id", "adapter", "plugin_instance", "workspace", "endpoint"}``.
    """

    template_fields: Sequence[str] = ("workspace", "plugin_instance", "deploy_kwargs")

    def __init__(
        self,
        *,
        workspace: str,
        plugin_instance: str,
        deploy_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workspace = workspace
        self.plugin_instance = plugin_instance
        self.deploy_kwargs = deploy_kwargs

    def execute(self, context: Any) -> dict[str, Any]:
        from adapters._serving import Predicting, Serving

        model, url = _load(self.workspace, self.plugin_instance)
        endpoint: str | None = None
        if isinstance(model, Serving):
            endpoint = model.deploy(**(self.deploy_kwargs or {}))
            self.log.info("job %s deployed to %s", model.job.job_id, endpoint)
        elif isinstance(model, Predicting):
            self.log.info("adapter %s predicts without deploying; nothing to do", model.adapter_name)
        else:
            raise AirflowException(f"adapter {model.adapter_name} neither deploys nor predicts")
        result: dict[str, Any] = scrub(
            {
                "job_id": model.job.job_id,
                "adapter": model.adapter_name,
                "plugin_instance": self.plugin_instance,
                "workspace": public_url(url),
                "endpoint": endpoint,
            }
        )
        return result


class JobferryPredictOperator(BaseOperator):
    """Online predictions through a trained jobferry job; returns them (in order) as the task's XCom.

    XCom lives in Airflow's metadata database: keep ``instances`` small (a few thousand rows at most) and
    use the vendor's batch prediction for anything larger.
    """

    template_fields: Sequence[str] = ("workspace", "plugin_instance", "instances", "parameters")

    def __init__(
        self,
        *,
        workspace: str,
        plugin_instance: str,
        instances: list[Any],
        parameters: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workspace = workspace
        self.plugin_instance = plugin_instance
        self.instances = instances
        self.parameters = parameters

    def execute(self, context: Any) -> list[Any]:
        from adapters._serving import Predicting

        model, _ = _load(self.workspace, self.plugin_instance)
        if not isinstance(model, Predicting):
            raise AirflowException(f"adapter {model.adapter_name} does not answer online predictions")
        predictions: list[Any] = scrub(model.run(list(self.instances), self.parameters))
        return predictions
