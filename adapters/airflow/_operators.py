"""JobferryTrainOperator (submit exactly once, then defer) and JobferryJobSensor (defer on a job
submitted elsewhere). Both end in :class:`JobferryJobTrigger`, or wait in the worker with
``deferrable=False``, and return the same references (:mod:`adapters.airflow._results`).

Exactly once: ``execute()`` calls ``model.train()``, whose workspace claim makes one submission per spec
across task retries, zombie re-runs and two workers running the same try -- a later ``train()`` of the same
spec adopts the job that is running or succeeded (a job that *failed* is not adopted: retrying a task
whose training failed trains again). The operator adds no bookkeeping of its own.

``cancel_on_kill`` (default **False**) cancels the vendor job when a user marks the task failed or
succeeded, or clears it, while it runs: deferred, the trigger's ``on_kill`` does it (Airflow calls that
only on such a user action, never when a triggerer restarts or hands the trigger on, nor on a trigger
timeout); waiting in the worker (``deferrable=False``), the operator's ``on_kill`` does. Off by default
because a cleared task's next try adopts the job that is still running (the claim): training hours are
not thrown away unless asked. Set it for "mark failed means stop paying".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from ._results import event_result, public_url, result_of
from ._trigger import JobferryJobTrigger, apply_policies

if TYPE_CHECKING:
    from adapters._external import ExternalJobModel
    from adapters._jobs import JobStatus
    from adapters._spec import JobSpec

__all__ = ["JobferryJobSensor", "JobferryTrainOperator"]


class _JobWaitOperator(BaseOperator):
    """What the train operator and the sensor share: wait for a job (deferred or not) and report it."""

    def __init__(
        self,
        *,
        workspace: str | None = None,
        plugin_instance: str | None = None,
        deferrable: bool = True,
        poll: dict[str, float] | None = None,
        requests_per_minute: float | None = None,
        wait_timeout: float | None = None,
        cancel_on_kill: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.workspace = workspace
        self.plugin_instance = plugin_instance
        self.deferrable = deferrable
        self.poll = poll
        self.requests_per_minute = requests_per_minute
        self.wait_timeout = wait_timeout
        self.cancel_on_kill = cancel_on_kill
        self._model: ExternalJobModel[Any] | None = None

    def _wait(self, model: ExternalJobModel[Any], workspace: str, plugin_instance: str) -> dict[str, Any]:
        """Defer to the trigger (raises TaskDeferred), or poll in the worker; return the references."""
        self._model = model
        self._apply_policies(model)
        if self.deferrable:
            # Policies are never saved in job.json, so the trigger carries the ones this task polls with
            # (the spec's config, or the operator's overrides): the triggerer polls the same way.
            policies = model.policies
            self.defer(
                trigger=JobferryJobTrigger(
                    workspace=workspace,
                    plugin_instance=plugin_instance,
                    poll=policies.poll.model_dump(),
                    requests_per_minute=policies.requests_per_minute,
                    cancel_on_kill=self.cancel_on_kill,
                ),
                method_name="execute_complete",
                timeout=None if self.wait_timeout is None else timedelta(seconds=self.wait_timeout),
            )
        final = model.wait(timeout=self.wait_timeout)
        return self._finish(model, final, workspace, plugin_instance)

    def _apply_policies(self, model: ExternalJobModel[Any]) -> None:
        apply_policies(model, self.poll, self.requests_per_minute)

    def _finish(
        self, model: ExternalJobModel[Any], status: JobStatus, workspace: str, plugin_instance: str
    ) -> dict[str, Any]:
        result = result_of(model, status, public_url(workspace), plugin_instance, "default")
        if status.state.value != "SUCCEEDED":
            raise AirflowException(f"job {model.job.job_id} ended {status.summary()}")
        return result

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resumed from the trigger: return the job's references, or raise with the vendor's message."""
        return event_result(event)

    def on_kill(self) -> None:
        if self.cancel_on_kill and self._model is not None:
            self.log.info("cancelling job %s (cancel_on_kill=True)", self._model.job.job_id)
            self._model.cancel()


class JobferryTrainOperator(_JobWaitOperator):
    """Train a model on a managed service through jobferry; the task ends when the job does.

    Give either ``spec`` -- the path of a job spec TOML file, as for ``jobferry train`` -- or ``adapter``,
    ``config`` and ``input`` (the same three sections, as dicts). ``workspace`` and ``plugin_instance``
    override the spec's, and ``config_overrides`` its top-level config fields (an endpoint per
    environment, a faster poll). Overriding a field that defines the job (not only how it is reached)
    makes it another job: a new submission, not an adoption. With ``wait_for_completion=False`` the task
    returns right after the submission (chain a :class:`JobferryJobSensor`).

    Returns (XCom): the job's references -- ``job_id``, ``adapter``, ``plugin_instance``, ``handle``,
    ``workspace``, ``state``, ``resources``, ``outputs`` -- never its credentials or connection.

    Raises:
        AirflowException: the job ended FAILED, CANCELLED or EXPIRED (with the vendor's message).
    """

    template_fields: Sequence[str] = (
        "spec",
        "adapter",
        "config",
        "config_overrides",
        "input",
        "workspace",
        "plugin_instance",
    )

    def __init__(
        self,
        *,
        spec: str | None = None,
        adapter: str | None = None,
        config: dict[str, Any] | None = None,
        input: dict[str, Any] | None = None,
        config_overrides: dict[str, Any] | None = None,
        wait_for_completion: bool = True,
        **kwargs: Any,
    ) -> None:
        if (spec is None) == (adapter is None):
            raise ValueError("give either spec (a job spec file) or adapter (with config and input)")
        super().__init__(**kwargs)
        self.spec = spec
        self.adapter = adapter
        self.config = config
        self.input = input
        self.config_overrides = config_overrides
        self.wait_for_completion = wait_for_completion

    def job_spec(self) -> JobSpec:
        """The validated job spec (parsed at run time, not when the DAG file is parsed)."""
        from adapters._spec import JobSpec, load_spec

        if self.spec is not None:
            data = load_spec(self.spec).model_dump()
            source = self.spec
        else:
            data = {"adapter": self.adapter, "config": self.config or {}, "input": self.input or {}}
            source = f"<{self.task_id}>"
        if self.config_overrides:
            data["config"] = {**data["config"], **self.config_overrides}
        if self.plugin_instance is not None:
            data["plugin_instance"] = self.plugin_instance
        if self.workspace is not None:
            data["workspace"] = self.workspace
        return JobSpec.from_dict(data, source)

    def execute(self, context: Any) -> dict[str, Any]:
        spec = self.job_spec()
        ws = spec.resolve_workspace()
        model = spec.build_model(ws)
        self._model = model
        response = model.train(spec.train_request(ws))  # exactly once: the claim; a retry adopts
        self.log.info("%s", response.status.status_message)
        status = model.record.last_status if model.record else None
        if status is not None and status.is_terminal:
            return self._finish(model, status, ws.url, spec.plugin_instance)
        if not self.wait_for_completion:
            status = status or model.refresh()
            return result_of(model, status, public_url(ws.url), spec.plugin_instance, "default")
        return self._wait(model, ws.url, spec.plugin_instance)


class JobferryJobSensor(_JobWaitOperator):
    """Wait for a jobferry job submitted elsewhere (``jobferry train`` on a laptop, another DAG).

    The job is found by ``workspace`` + ``plugin_instance`` (its ``job.json`` names the adapter). Returns
    the same references as :class:`JobferryTrainOperator` and raises the same way.
    """

    template_fields: Sequence[str] = ("workspace", "plugin_instance")

    def __init__(self, *, workspace: str, plugin_instance: str, **kwargs: Any) -> None:
        super().__init__(workspace=workspace, plugin_instance=plugin_instance, **kwargs)

    def execute(self, context: Any) -> dict[str, Any]:
        from adapters._loading import load_job
        from checkpoint import Workspace

        assert self.workspace is not None and self.plugin_instance is not None
        ws = Workspace.coerce(self.workspace).url
        model = load_job(ws, self.plugin_instance)
        self._model = model
        self._apply_policies(model)
        status = model.refresh()
        if status.is_terminal:
            return self._finish(model, status, ws, self.plugin_instance)
        return self._wait(model, ws, self.plugin_instance)
