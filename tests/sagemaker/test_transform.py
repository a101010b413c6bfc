"""SageMakerBatchTransform through real boto3 against the emulator: a job of its own."""

from __future__ import annotations

from typing import Any

import pytest

from adapters import PluginRequest, TrainPluginInput
from adapters._clock import FakeClock
from adapters._errors import InvalidJobSpec
from adapters._jobs import JobState
from adapters.sagemaker import SageMakerBatchTransform
from adapters.sagemaker.emulator import SageMakerEmulator
from adapters.testing import FAST_RETRY
from checkpoint import Workspace
from tests.sagemaker.conftest import ROLE, expected, make


@pytest.fixture
def model_name(emu: SageMakerEmulator, clock: FakeClock, ws: Workspace) -> str:
    """A SageMaker model holding the artefact of a training job that ran on the emulator."""
    trainer = make(emu, clock, ws, pid="trainer")
    trainer.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
    artefact = trainer.wait(timeout=10_000).outputs["modelArtifacts"]
    trainer.aws.sagemaker.create_model(
        ModelName="scorer", PrimaryContainer={"Image": "img", "ModelDataUrl": artefact}, ExecutionRoleArn=ROLE
    )
    return "scorer"


def transform(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace, **overrides: Any
) -> SageMakerBatchTransform:
    job = SageMakerBatchTransform()
    job.clock = clock
    job.receive_config(
        {
            "endpoint_url": emu.url,
            "credentials": "anonymous",
            "model_name": "scorer",
            "input_uri": "s3://jf-data/score/",
            "content_type": "text/csv",
            "output_path": "s3://jf-data/scored",
            "retry": FAST_RETRY.model_dump(),
            **overrides,
        }
    )
    job.bind(ws, "scoring")
    return job


def test_transform_writes_predictions(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace, model_name: str
) -> None:
    emu.put_object("s3://jf-data/score/a.csv", b"0.0,0.0\n1.0,0.0\n")
    emu.put_object("s3://jf-data/score/b.csv", b"0.5,0.5\n")
    job = transform(emu, clock, ws)
    job.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
    req = next(iter(emu.state.transform_jobs.values())).request
    assert req["ModelName"] == model_name and req["TransformInput"]["SplitType"] == "Line"
    final = job.wait(timeout=10_000)
    assert final.state is JobState.SUCCEEDED and final.outputs == {"outputPath": "s3://jf-data/scored"}
    a = [float(x) for x in emu.get_object("s3://jf-data/scored/a.csv.out").split()]
    b = [float(x) for x in emu.get_object("s3://jf-data/scored/b.csv.out").split()]
    assert a == pytest.approx([expected(0, 0), expected(1, 0)]) and b == pytest.approx([expected(0.5, 0.5)])


def test_transform_stop_is_cancelled(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace, model_name: str
) -> None:
    emu.put_object("s3://jf-data/score/a.csv", b"0.0,0.0\n")
    job = transform(emu, clock, ws)
    job.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
    job.cancel()
    assert job.wait(timeout=10_000).state is JobState.CANCELLED


def test_transform_lost_create_response_and_rerun_make_one_job(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace, model_name: str
) -> None:
    emu.put_object("s3://jf-data/score/a.csv", b"0.0,0.0\n")
    emu.faults.set("CreateTransformJob", drop_response_rate=1.0, max_faults=1)
    transform(emu, clock, ws).train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
    again = transform(emu, clock, ws)
    again.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
    assert again.adopted and len(emu.state.transform_jobs) == 1


def test_transform_of_an_unknown_model_is_refused(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace
) -> None:
    job = transform(emu, clock, ws, model_name="nope")
    with pytest.raises(InvalidJobSpec, match="Could not find model"):
        job.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
    assert emu.state.transform_jobs == {}
