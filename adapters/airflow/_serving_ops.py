"""The steps users chain after training: deploy a trained job's model, batch and online predictions.

All find the trained job by workspace + plugin instance (``job.json`` names the adapter), so they work on
a job trained by :class:`~adapters.airflow.JobferryTrainOperator`, by ``jobferry train`` or by a notebook.

- Deploying is deferrable (the default): :class:`~adapters.airflow._trigger.JobferryDeployTrigger` runs
  the adapter's ``deploy`` -- exactly once per job and endpoint, waiting for the vendor's long-running
  operations through jobferry's poll loop -- on the triggerer, so no worker slot waits for minutes of
  provisioning. ``deferrable=False`` deploys in the worker.
- A batch prediction is a vendor job of its own, submitted exactly once (``batch_predict``, its claim),
  then waited for like training: deferred to :class:`~adapters.airflow.JobferryJobTrigger`.
- Online predictions are one short step in the worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from ._operators import _JobWaitOperator
from ._results import deployment_result, event_result, scrub
from ._trigger import JobferryDeployTrigger, apply_policies

if TYPE_CHECKING:
    from adapters._external import ExternalJobModel

__all__ = ["JobferryBatchPredictOperator", "JobferryDeployOperator", "JobferryPredictOperator"]


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
    ``deferrable`` (default True) waits for the deployment on the triggerer; ``wait_timeout`` bounds that
    wait (Airflow's defer timeout: the task fails, the deployment goes on at the vendor). ``poll`` and
    ``requests_per_minute`` set how the operations are polled, as for training.

    Returns (XCom): ``{"job_id", "adapter", "plugin_instance", "workspace", "endpoint"}``.
    """

    template_fields: Sequence[str] = ("workspace", "plugin_instance", "deploy_kwargs")

    def __init__(
        self,
        *,
        workspace: str,
        plugin_instance: str,
        deploy_kwargs: dict[str, Any] | None = None,
        deferrable: bool = True,
        poll: dict[str, float] | None = None,
        requests_per_minute: float | None = None,
        wait_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workspace = workspace
        self.plugin_instance = plugin_instance
        self.deploy_kwargs = deploy_kwargs
        self.deferrable = deferrable
        self.poll = poll
        self.requests_per_minute = requests_per_minute
        self.wait_timeout = wait_timeout

    def execute(self, context: Any) -> dict[str, Any]:
        from adapters._serving import Predicting, Serving

        model, url = _load(self.workspace, self.plugin_instance)
        if not isinstance(model, Serving):
            if not isinstance(model, Predicting):
                raise AirflowException(f"adapter {model.adapter_name} neither deploys nor predicts")
            self.log.info("adapter %s predicts without deploying; nothing to do", model.adapter_name)
            return deployment_result(model, url, self.plugin_instance, None)
        if self.deferrable:
            self.defer(
                trigger=JobferryDeployTrigger(
                    workspace=url,
                    plugin_instance=self.plugin_instance,
                    poll=self.poll,
                    requests_per_minute=self.requests_per_minute,
                    deploy_kwargs=self.deploy_kwargs,
                ),
                method_name="execute_complete",
                timeout=None if self.wait_timeout is None else timedelta(seconds=self.wait_timeout),
            )
        apply_policies(model, self.poll, self.requests_per_minute)
        endpoint = model.deploy(**(self.deploy_kwargs or {}))
        self.log.info("job %s deployed to %s", model.job.job_id, endpoint)
        return deployment_result(model, url, self.plugin_instance, endpoint)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resumed from the trigger: where the model serves, or raise with the reason it does not."""
        return event_result(event)


class JobferryBatchPredictOperator(_JobWaitOperator):
    """A batch prediction with a trained job's model: submitted exactly once, then waited for (deferred).

    ``source`` (URIs of the instances) and ``destination`` (where predictions go) are the vendor's (Vertex:
    ``gs://...`` or ``bq://...``); ``options`` are more settings of the adapter's batch prediction (Vertex:
    ``machine_type``, ``predictions_format``, ...). The batch job is published to ``batch_plugin_instance``
    (default: the trained job's plugin instance + ``".batch"``), so ``jobferry status`` and a
    :class:`~adapters.airflow.JobferryJobSensor` find it too. A retried task adopts the job already
    submitted. ``deferrable``, ``wait_timeout``, ``cancel_on_kill``, ``poll`` and ``requests_per_minute``
    are as for :class:`~adapters.airflow.JobferryTrainOperator`.

    Returns (XCom): the batch job's references; ``outputs`` says where the predictions are.
    """

    template_fields: Sequence[str] = ("workspace", "plugin_instance", "source", "destination", "options")

    def __init__(
        self,
        *,
        workspace: str,
        plugin_instance: str,
        source: str | list[str],
        destination: str,
        batch_plugin_instance: str | None = None,
        options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(workspace=workspace, plugin_instance=plugin_instance, **kwargs)
        self.source = source
        self.destination = destination
        self.batch_plugin_instance = batch_plugin_instance
        self.options = options

    def execute(self, context: Any) -> dict[str, Any]:
        assert self.workspace is not None and self.plugin_instance is not None
        trained, url = _load(self.workspace, self.plugin_instance)
        submit = getattr(trained, "batch_predict", None)
        if not callable(submit):
            raise AirflowException(f"adapter {trained.adapter_name} has no batch prediction")
        job = submit(
            self.source,
            self.destination,
            plugin_instance_id=self.batch_plugin_instance,
            **(self.options or {}),
        )
        _, pid = job.location()
        self._model = job
        status = job.record.last_status if job.record else None
        if status is not None and status.is_terminal:
            return self._finish(job, status, url, pid)
        return self._wait(job, url, pid)


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
