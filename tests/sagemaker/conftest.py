"""SageMaker tests: real boto3 against the SageMaker emulator on 127.0.0.1, on a FakeClock."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from adapters._clock import FakeClock
from adapters.sagemaker import SageMakerTrainingJob
from adapters.sagemaker.emulator import SageMakerEmulator
from adapters.testing import FAST_RETRY
from checkpoint import Workspace

ROLE = "arn:aws:iam::123456789012:role/trainer"
TRAIN_URI = "s3://jf-data/train/"


def training_csv(rows: int = 40, seed: int = 7) -> bytes:
    """``y = 3 x1 - 2 x2 + 0.5`` exactly: a fitted linear model recovers it."""
    rng = random.Random(seed)
    lines = []
    for _ in range(rows):
        x1, x2 = rng.random(), rng.random()
        lines.append(f"{3 * x1 - 2 * x2 + 0.5},{x1},{x2}")
    return ("\n".join(lines) + "\n").encode()


def expected(x1: float, x2: float) -> float:
    return 3 * x1 - 2 * x2 + 0.5


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emu(clock: FakeClock) -> Iterator[SageMakerEmulator]:
    with SageMakerEmulator(clock=clock.now) as emulator:
        emulator.put_object(TRAIN_URI + "part-0.csv", training_csv())
        yield emulator


def config(emu: SageMakerEmulator, **overrides: Any) -> dict[str, Any]:
    """A training job config reaching ``emu`` anonymously, with fast retries."""
    return {
        "endpoint_url": emu.url,
        "credentials": "anonymous",
        "role_arn": ROLE,
        "training_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/trainer:1",
        "output_path": "s3://jf-data/out",
        "channels": {"train": {"s3_uri": TRAIN_URI, "content_type": "text/csv"}},
        "retry": FAST_RETRY.model_dump(),
        **overrides,
    }


def make(
    emu: SageMakerEmulator, clock: FakeClock, ws: Workspace, pid: str = "trainer", **overrides: Any
) -> SageMakerTrainingJob:
    model = SageMakerTrainingJob()
    model.clock = clock
    model.receive_config(config(emu, **overrides))
    model.bind(ws, pid)
    return model


@pytest.fixture
def ws() -> Workspace:
    return Workspace(f"memory://sm-{random.randrange(1 << 40):x}")
