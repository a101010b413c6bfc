"""The conformance suite against the in-memory fake vendor, on a fake clock."""

from __future__ import annotations

import uuid
from typing import Any

from adapters import TrainPluginInput
from adapters._clock import FakeClock
from adapters._external import ExternalJobModel
from adapters._poll import PollPolicy
from adapters.testing import FAST_RETRY, AdapterContract
from checkpoint import Workspace
from tests.fake_vendor import VENDORS, FakeConfig, FakeJob, FakeModel, FakeVendor

SCRIPTS = {
    "succeed": [("QUEUED", 5.0), ("TRAINING", 30.0), ("DONE", 0.0)],
    "fail": [("QUEUED", 5.0), ("TRAINING", 10.0), ("ERROR", 0.0)],
    "slow": [("QUEUED", 5.0), ("TRAINING", 10_000.0), ("DONE", 0.0)],
}


class TestFakeContract(AdapterContract):
    def make_model(self, workspace: Workspace, plugin_instance_id: str) -> ExternalJobModel[Any]:
        name = getattr(self, "_vendor_name", None)
        if name is None:
            name = self._vendor_name = f"v-{uuid.uuid4().hex[:8]}"
            VENDORS[name] = FakeVendor(clock=FakeClock())
        model = FakeModel()
        model.clock = VENDORS[name].clock
        model.receive_config(
            FakeConfig(
                vendor_name=name, retry=FAST_RETRY, poll=PollPolicy(initial=1, maximum=10, floor_cap=10)
            )
        )
        model.bind(workspace, plugin_instance_id)
        return model

    def train_input(self, outcome: str) -> TrainPluginInput:
        # The script rides in training_params; the fake adapter reads it from there.
        return TrainPluginInput(training_params={"script": SCRIPTS[outcome]})

    def count_jobs(self, model: ExternalJobModel[Any]) -> int:
        return len(model.client.jobs)

    def make_unknown_state(self, model: ExternalJobModel[Any]) -> str:
        job: FakeJob = model.client.jobs[model.job.job_id]
        job.script = [("REBOOTING", 10_000.0), ("DONE", 0.0)]
        return "REBOOTING"
