"""The conformance suite every adapter inherits, shipped in the package (like fsspec's ``tests/abstract``).

Third-party adapter authors use it as jobferry's own adapters do: a pytest module subclasses
:class:`AdapterContract` and implements its hooks, and every test below then runs against that adapter:
the life cycle, reattaching from a fresh model, the status-check protocol, cancel, a failed job, an
unknown vendor state, retries, exactly-once submission and (for adapters with the
:class:`~adapters.Predicting` capability) predictions in order. It needs ``pytest``
(``pip install 'jobferry[dev]'``).

Faults are injected generically by wrapping the adapter's own vendor methods (and the engine's protected
``persist``) on the instance, so the suite needs nothing from an adapter but the hooks and only public or
protected API.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from adapters import (
    InvocableResponse,
    PluginRequest,
    PluginRequestContext,
    TaskState,
    TrainPluginInput,
    TrainPluginOutput,
)
from adapters._errors import JobFailed, OutcomeUnknown, PermanentError, TransientError
from adapters._external import ExternalJobModel
from adapters._jobs import JobRecord, JobState
from adapters._retry import RetryPolicy
from adapters._serving import Predicting
from checkpoint import Workspace

# Retries in the suite are fast but real: tiny backoff, no reliance on wall-clock sleeps.
FAST_RETRY = RetryPolicy(max_attempts=5, initial=0.001, maximum=0.005, deadline=30)
JOB_JSON_KEYS = {
    "format",
    "adapter",
    "adapterVersion",
    "job",
    "connection",
    "credentials",
    "submissionKey",
    "specHash",
    "lastStatus",
}


class Crash(BaseException):
    """Stands in for the process dying (not an Exception, so nothing catches it on the way)."""


class AdapterContract:
    """Behaviour every adapter must have. Subclasses implement the hooks."""

    # -- hooks ------------------------------------------------------------------------------------------

    def make_model(self, workspace: Workspace, plugin_instance_id: str) -> ExternalJobModel[Any]:
        """A configured model bound to ``workspace`` / ``plugin_instance_id`` (use FAST_RETRY)."""
        raise NotImplementedError

    def train_input(self, outcome: str) -> TrainPluginInput:
        """Input for a job that will ``"succeed"``, ``"fail"`` or run ``"slow"`` (long enough to cancel)."""
        raise NotImplementedError

    def count_jobs(self, model: ExternalJobModel[Any]) -> int:
        """How many jobs exist at the vendor for this test (to check exactly-once)."""
        raise NotImplementedError

    def make_unknown_state(self, model: ExternalJobModel[Any]) -> str:
        """Make the vendor report a state the adapter does not know; return that raw state."""
        raise NotImplementedError

    def instances(self) -> list[Any]:
        """Prediction instances for a trained model."""
        return [{"x": i} for i in range(7)]

    def check_predictions(self, instances: list[Any], predictions: list[Any]) -> None:
        """Assert ``predictions`` answer ``instances`` in order."""
        assert len(predictions) == len(instances)

    def prepare_predictions(self, model: ExternalJobModel[Any]) -> None:
        """Make a trained model, reloaded from its checkpoint, ready to ``run`` (e.g. deploy it; optional)."""

    def wait(self, model: ExternalJobModel[Any]) -> Any:
        """Wait for the job to end (adapters on a fake clock need nothing more)."""
        return model.wait(timeout=120)

    # -- fixtures ---------------------------------------------------------------------------------------

    @pytest.fixture
    def ws(self) -> Workspace:
        return Workspace(f"memory://contract-{uuid.uuid4().hex}")

    @pytest.fixture
    def pid(self) -> str:
        return f"inst-{uuid.uuid4().hex[:8]}"

    def _request(self, ws: Workspace, pid: str, outcome: str) -> PluginRequest[TrainPluginInput]:
        return PluginRequest[TrainPluginInput](
            data=self.train_input(outcome),
            context=PluginRequestContext(plugin_instance_id=pid, workspace=ws.url),
        )

    @staticmethod
    def _wrap(
        model: ExternalJobModel[Any],
        method: str,
        before: list[BaseException] | None = None,
        after: list[BaseException] | None = None,
    ) -> dict[str, int]:
        """Make ``model.<method>`` raise ``before`` errors first, or ``after`` errors after the real call."""
        real: Callable[..., Any] = getattr(model, method)
        count = {"calls": 0}
        before, after = list(before or []), list(after or [])

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            count["calls"] += 1
            if before:
                raise before.pop(0)
            result = real(*args, **kwargs)
            if after:
                raise after.pop(0)
            return result

        setattr(model, method, wrapper)
        return count

    # -- the life cycle -------------------------------------------------------------------------------------

    def test_train_returns_running_and_persists_the_job_first(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        response = model.train(self._request(ws, pid, "slow"))
        assert response.status.state is TaskState.running
        assert response.status.remote_status_input is not None
        assert response.status.remote_status_input["job"]["jobId"] == model.job.job_id
        assert ws.list_handles(pid) == ["default"]
        assert response.data is not None and response.data.archive_path == f"{pid}/default.zip"

    def test_checkpoint_holds_only_references(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        model.train(self._request(ws, pid, "succeed"))
        fresh = type(model).load_remote(ws, pid, use_cache=False)
        assert fresh.checkpoint is not None
        files = sorted(p.name for p in fresh.checkpoint.folder_path_on_disk().iterdir())
        assert files == ["job.json"]
        record = json.loads((fresh.checkpoint.folder_path_on_disk() / "job.json").read_text())
        assert set(record) <= JOB_JSON_KEYS
        assert record["adapter"] == model.adapter_name and record["submissionKey"]
        assert "kind" in record["credentials"]

    def test_life_cycle_to_success(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        model.train(self._request(ws, pid, "succeed"))
        final = self.wait(model)
        assert final.state is JobState.SUCCEEDED
        assert model.raise_for_status() is not None
        status = model.train_status(PluginRequest[TrainPluginInput](is_status_check=True))
        assert status.status.state is TaskState.succeeded
        assert status.data is not None and status.data.training_results == final.outputs
        # The checkpoint now records the final status for anyone loading it later.
        again = type(model).load_remote(ws, pid, use_cache=False)
        assert again.record is not None and again.record.last_status is not None
        assert again.record.last_status.state is JobState.SUCCEEDED

    def test_reattach_from_a_fresh_model(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        model.train(self._request(ws, pid, "succeed"))
        fresh = type(model).load_remote(ws, pid, use_cache=False)
        self.adopt_test_settings(fresh, model)
        assert fresh.job == model.job
        assert self.wait(fresh).state is JobState.SUCCEEDED

    def adopt_test_settings(self, fresh: ExternalJobModel[Any], like: ExternalJobModel[Any]) -> None:
        """Give a model loaded from a checkpoint the test's clock and policies (hook)."""
        fresh.clock = like.clock
        fresh.policies = like.policies

    def test_status_check_protocol_from_another_model(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        running = model.train(self._request(ws, pid, "slow"))
        other = self.make_model(ws, pid)  # a fresh model, as in another process
        check = PluginRequest[TrainPluginInput](status=running.status, is_status_check=True)
        answer: InvocableResponse[TrainPluginOutput] = other.train_status(check)
        assert answer.status.state is TaskState.running
        assert answer.status.remote_status_input is not None
        assert answer.status.remote_status_input["job"] == running.status.remote_status_input["job"]  # type: ignore[index]
        assert other.job == model.job
        model.cancel()

    def test_cancel_is_cancelled_not_failed(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        model.train(self._request(ws, pid, "slow"))
        model.cancel()
        final = self.wait(model)
        assert final.state is JobState.CANCELLED
        with pytest.raises(JobFailed):
            model.raise_for_status(final)

    def test_failed_job(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        model.train(self._request(ws, pid, "fail"))
        final = self.wait(model)
        assert final.state is JobState.FAILED
        assert final.error is not None and final.error.message
        with pytest.raises(JobFailed, match=model.job.job_id):
            model.raise_for_status(final)
        status = model.train_status(PluginRequest[TrainPluginInput]())
        assert status.status.state is TaskState.failed

    def test_unknown_vendor_state_is_unknown_with_raw_kept(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        model.train(self._request(ws, pid, "slow"))
        raw = self.make_unknown_state(model)
        status = model.refresh()
        assert status.state is JobState.UNKNOWN and status.raw_state == raw
        assert not status.is_terminal
        model.cancel()

    # -- retries ----------------------------------------------------------------------------------------

    def test_transient_describe_errors_are_retried(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        model.train(self._request(ws, pid, "slow"))
        count = self._wrap(model, "describe_job", before=[TransientError("503", code=503)] * 2)
        assert not model.refresh().is_terminal
        assert count["calls"] == 3
        model.cancel()

    def test_permanent_errors_are_not_retried(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        model.train(self._request(ws, pid, "slow"))
        count = self._wrap(model, "describe_job", before=[PermanentError("403 nope", code=403)])
        with pytest.raises(PermanentError, match="nope"):
            model.refresh()
        assert count["calls"] == 1
        model.cancel()

    # -- exactly once -------------------------------------------------------------------------------------

    def test_lost_create_response_is_adopted_not_duplicated(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        self._wrap(model, "submit_job", after=[OutcomeUnknown("connection reset after send")])
        model.train(self._request(ws, pid, "succeed"))
        assert self.count_jobs(model) == 1
        assert self.wait(model).state is JobState.SUCCEEDED

    def test_transient_error_after_the_effect_is_not_duplicated(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        self._wrap(model, "submit_job", after=[TransientError("503 after create", code=503)])
        model.train(self._request(ws, pid, "succeed"))
        assert self.count_jobs(model) == 1

    def test_rerun_adopts_and_new_forces_a_fresh_job(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        first = model.train(self._request(ws, pid, "slow"))
        again = self.make_model(ws, pid).train(self._request(ws, pid, "slow"))
        assert again.status.remote_status_input == first.status.remote_status_input or (
            again.status.remote_status_input is not None
            and first.status.remote_status_input is not None
            and again.status.remote_status_input["job"] == first.status.remote_status_input["job"]
        )
        assert self.count_jobs(model) == 1
        forced = self.make_model(ws, pid)
        forced.train(self._request(ws, pid, "slow"), new=True)
        assert forced.job != model.job and self.count_jobs(model) == 2
        model.cancel()
        forced.cancel()

    def test_crash_between_create_and_persist_then_rerun(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        self._wrap(model, "persist", before=[Crash()])
        with pytest.raises(Crash):
            model.train(self._request(ws, pid, "succeed"))
        assert ws.list_handles(pid) == []  # nothing was persisted: the job reference lives only at the vendor
        rerun = self.make_model(ws, pid)
        rerun.train(self._request(ws, pid, "succeed"))
        assert self.count_jobs(rerun) == 1
        assert ws.list_handles(pid) == ["default"]
        assert self.wait(rerun).state is JobState.SUCCEEDED

    def test_job_record_round_trips(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        model.train(self._request(ws, pid, "slow"))
        assert model.record is not None
        assert JobRecord.model_validate_json(model.record.model_dump_json()) == model.record
        model.cancel()

    # -- predictions -------------------------------------------------------------------------------------

    def test_predictions_in_order(self, ws: Workspace, pid: str) -> None:
        model = self.make_model(ws, pid)
        if not isinstance(model, Predicting):
            pytest.skip(f"adapter {model.adapter_name} has no online predictions (not Predicting)")
        model.train(self._request(ws, pid, "succeed"))
        self.wait(model)
        fresh = type(model).load_remote(ws, pid, use_cache=False)
        self.adopt_test_settings(fresh, model)
        self.prepare_predictions(fresh)
        instances = self.instances()
        self.check_predictions(instances, fresh.run(instances))
