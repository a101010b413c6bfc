"""The shipped conformance suite against the offline emulator, in-process (``responses``) on a FakeClock.

The emulator's clock is the test's :class:`FakeClock`: a model's poll sleeps advance it, so a job moves on
(pending, running, then its outcome) without any real sleep. The outcome a contract test asks for reaches
the emulator as its scripting labels (``emulator-outcome``, ``emulator-seconds``), added to the create
request on the emulator's side, so that the adapter sends exactly what it would send to Vertex.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
import responses

from adapters import TrainPluginInput
from adapters._clock import FakeClock
from adapters._external import ExternalJobModel
from adapters.testing import FAST_RETRY, AdapterContract
from adapters.vertex.emulator import (
    OUTCOME_LABEL,
    SECONDS_LABEL,
    EmulatorApp,
    EmulatorConfig,
    Phases,
    mount_in_responses,
)
from checkpoint import Workspace
from tests.vertex.conftest import BASE

#: Jobs wait 10 s of fake time, then run 60 s; "slow" ones run for ever, in effect.
SPEEDUP = 1.0
PHASES = Phases(pending=10, running=60)
SLOW_SECONDS = "100000000"
UNKNOWN_STATE = 99  # a state number newer than this client


def emulator_app(clock: FakeClock, **fields: Any) -> EmulatorApp:
    """An emulator on ``clock`` whose new job families take :data:`PHASES`."""
    durations = {"pipeline_job": PHASES, "hyperparameter_tuning": PHASES}
    config = EmulatorConfig(speedup=SPEEDUP, durations=durations, seed=11, **fields)
    return EmulatorApp(config, clock=clock.now, sleep=clock.sleep)


def script_outcomes(app: EmulatorApp, create: str, outcome: Callable[[], str | None]) -> None:
    """Make ``app.state.<create>`` label each new job with the outcome ``outcome()`` names, if any."""
    state = app.state
    original: Callable[..., dict[str, Any]] = getattr(state, create)

    def scripted(parent: str, body: dict[str, Any], *args: Any) -> dict[str, Any]:
        wanted = outcome()
        if wanted is not None:
            labels = dict(body.get("labels") or {})
            labels[OUTCOME_LABEL] = "succeed" if wanted == "slow" else wanted
            if wanted == "slow":
                labels[SECONDS_LABEL] = SLOW_SECONDS
            body = {**body, "labels": labels}
        return original(parent, body, *args)

    setattr(state, create, scripted)  # the routes look the handler up on every request


class EmulatedContract(AdapterContract):
    """The suite against the emulator; subclasses name the collection, the model class and its config."""

    collection: ClassVar[str]
    create_method: ClassVar[str]
    model_class: ClassVar[type[ExternalJobModel[Any]]]
    app: EmulatorApp
    clock: FakeClock
    outcome: str | None = None

    def base_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @pytest.fixture(autouse=True)
    def _emulator(self) -> Iterator[None]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            self.clock = FakeClock()
            self.app = emulator_app(self.clock)
            mount_in_responses(mock, BASE, self.app)
            script_outcomes(self.app, self.create_method, lambda: self.outcome)
            yield

    def make_model(self, workspace: Workspace, plugin_instance_id: str) -> ExternalJobModel[Any]:
        model = self.model_class()
        model.receive_config(
            {
                "project": "p",
                "api_endpoint": BASE,
                "credentials": {"kind": "anonymous"},
                "retry": FAST_RETRY.model_dump(),
                **self.base_config(),
            }
        )
        model.clock = self.clock
        model.bind(workspace, plugin_instance_id)
        return model

    def train_input(self, outcome: str) -> TrainPluginInput:
        self.outcome = outcome
        return TrainPluginInput(training_params={"outcome": outcome})  # one spec per outcome

    def count_jobs(self, model: ExternalJobModel[Any]) -> int:
        return len(self.app.state.jobs[self.collection])

    def make_unknown_state(self, model: ExternalJobModel[Any]) -> str:
        job = self.app.state.jobs[self.collection][model.job.job_id]
        previous = job.on_render

        def unknown(doc: dict[str, Any], state: str, now: float) -> None:
            if previous is not None:
                previous(doc, state, now)
            doc["state"] = UNKNOWN_STATE

        job.on_render = unknown
        return str(UNKNOWN_STATE)
