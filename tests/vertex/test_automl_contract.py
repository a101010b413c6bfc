"""The conformance suite (:class:`adapters.testing.AdapterContract`) for each of the five AutoML adapters.

They run against :class:`~tests.vertex.conftest.FakeVertex` on a :class:`FakeClock`: a pipeline moves on by
the outcome the test asks for as it is read, so nothing sleeps for real. The adapters that serve online
(all but video) deploy the reloaded model before predicting; video is not ``Predicting`` and the suite
skips that test for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import responses

from adapters import Serving, TrainPluginInput
from adapters._clock import FakeClock
from adapters._external import ExternalJobModel
from adapters.testing import FAST_RETRY, AdapterContract
from adapters.vertex import VertexModel
from checkpoint import Workspace
from tests.vertex.conftest import FAMILIES, FakeVertex, Family, make

UNKNOWN_STATE = 99  # a PipelineState newer than this client


def _family(family_id: str) -> Family:
    return next(f for f in FAMILIES if f.id == family_id)


class AutoMLContract(AdapterContract):
    """The suite against the fake Vertex AI; subclasses name the family (adapter class and its config)."""

    family: ClassVar[Family]
    fake: FakeVertex
    clock: FakeClock

    @pytest.fixture(autouse=True)
    def _vertex(self) -> Iterator[None]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            self.fake = FakeVertex(mock)
            self.fake.op_polls = 0  # deploys are LROs done at once: nothing to wait for
            self.clock = FakeClock()
            yield

    def make_model(self, workspace: Workspace, plugin_instance_id: str) -> ExternalJobModel[Any]:
        config = {**self.family.config, "dataset": "123", "retry": FAST_RETRY.model_dump()}
        return make(self.family.cls, workspace, self.clock, plugin_instance_id, **config)

    def train_input(self, outcome: str) -> TrainPluginInput:
        # The fake takes the outcome from here: the pipeline body does not depend on it.
        self.fake.next_outcome = outcome
        return TrainPluginInput(training_data_url=f"gs://b/{outcome}.csv")  # one spec per outcome

    def count_jobs(self, model: ExternalJobModel[Any]) -> int:
        return len(self.fake.pipelines)

    def make_unknown_state(self, model: ExternalJobModel[Any]) -> str:
        self.fake.outcomes[model.job.job_id] = "fixed"
        self.fake.set_pipeline(model.job.job_id, state=UNKNOWN_STATE)
        return str(UNKNOWN_STATE)

    def prepare_predictions(self, model: ExternalJobModel[Any]) -> None:
        assert isinstance(model, Serving)
        model.deploy()

    def check_predictions(self, instances: list[Any], predictions: list[Any]) -> None:
        assert predictions == [{"echo": i} for i in instances]


class TestTabularContract(AutoMLContract):
    family = _family("tabular-classification")


class TestForecastingContract(AutoMLContract):
    family = _family("forecasting")


class TestImageContract(AutoMLContract):
    family = _family("image-single-label")


class TestTextContract(AutoMLContract):
    family = _family("text-classification")


class TestVideoContract(AutoMLContract):
    family = _family("video-classification")


def test_every_automl_adapter_runs_the_suite() -> None:
    from adapters import vertex

    automl = {getattr(vertex, n) for n in vertex.__all__ if n.startswith("VertexAutoML")}
    automl = {c for c in automl if isinstance(c, type) and issubclass(c, VertexModel)}
    covered = {c.family.cls for c in AutoMLContract.__subclasses__()}
    assert covered == automl and len(covered) == 5
