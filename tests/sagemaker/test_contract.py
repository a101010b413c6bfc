"""The shipped conformance suite (adapters.testing) for SageMakerTrainingJob, through real boto3 against the
emulator on a FakeClock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from adapters import Serving, TrainPluginInput
from adapters._clock import FakeClock
from adapters._external import ExternalJobModel
from adapters.sagemaker import SageMakerTrainingJob
from adapters.sagemaker.emulator import SageMakerEmulator
from adapters.testing import AdapterContract
from checkpoint import Workspace
from tests.sagemaker.conftest import TRAIN_URI, config, expected, training_csv

SECONDS = {"succeed": "600", "fail": "600", "slow": "1000000"}


class TestSageMakerTrainingContract(AdapterContract):
    emu: SageMakerEmulator
    clock: FakeClock

    @pytest.fixture(autouse=True)
    def _emulator(self) -> Iterator[None]:
        self.clock = FakeClock()
        with SageMakerEmulator(clock=self.clock.now, speedup=100) as emu:
            emu.put_object(TRAIN_URI + "part-0.csv", training_csv())
            self.emu = emu
            yield

    def make_model(self, workspace: Workspace, plugin_instance_id: str) -> ExternalJobModel[Any]:
        model = SageMakerTrainingJob()
        model.clock = self.clock
        model.receive_config(config(self.emu))
        model.bind(workspace, plugin_instance_id)
        return model

    def train_input(self, outcome: str) -> TrainPluginInput:
        # Hyperparameters script the emulator and make one spec per outcome.
        params = {
            "emulator-outcome": outcome if outcome == "fail" else "succeed",
            "emulator-seconds": SECONDS[outcome],
        }
        return TrainPluginInput(training_params=params)

    def count_jobs(self, model: ExternalJobModel[Any]) -> int:
        return len(self.emu.state.training_jobs)

    def make_unknown_state(self, model: ExternalJobModel[Any]) -> str:
        self.emu.state.force_status(model.job.job_id, "Hibernating", "Dreaming")
        return "Hibernating/Dreaming"

    def instances(self) -> list[Any]:
        return [[i / 10, 1 - i / 10] for i in range(7)]

    def prepare_predictions(self, model: ExternalJobModel[Any]) -> None:
        assert isinstance(model, Serving)
        model.deploy()

    def check_predictions(self, instances: list[Any], predictions: list[Any]) -> None:
        assert predictions == pytest.approx([expected(a, b) for a, b in instances], abs=1e-6)
