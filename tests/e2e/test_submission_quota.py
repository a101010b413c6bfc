"""Vertex's separate submission bucket (60 job / LRO submissions a minute per project and region), modelled
by jobferry's limiter and enforced by the emulator, both on one injected clock: no real sleeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters._clock import FakeClock
from adapters._errors import QuotaExceeded
from adapters.vertex import VertexCustomJob
from adapters.vertex.emulator import Quotas
from checkpoint import Workspace

from .conftest import BUCKET, emulator, make, train

CUSTOM = {
    "container_image_uri": "us-docker.pkg.dev/e2e/trainer:1",
    "base_output_directory": f"gs://{BUCKET}/o",
}
#: Only the submission quota, as Vertex sets it.
SUBMISSIONS_ONLY = Quotas(resource_management=None, job_creation=60, online_prediction=None)


def submit(emu: Any, ws: Workspace, clock: FakeClock, count: int, start: int = 0, **config: Any) -> None:
    for i in range(start, start + count):
        job = make(VertexCustomJob, emu, ws, f"job-{i}", **CUSTOM, **config)
        job.clock = clock
        train(job, training_params={"i": i})


def test_creates_wait_for_the_submission_bucket_and_meet_no_429(bucket: Path, ws: Workspace) -> None:
    clock = FakeClock(start=1000.0)
    with emulator(bucket, clock=clock.now, quotas=SUBMISSIONS_ONLY) as emu:
        submit(emu, ws, clock, 61, submissions_per_minute=60)
        statuses = [e.status for e in emu.app.log.entries if e.method == "CreateCustomJob"]
    assert statuses == [200] * 61  # the vendor never had to refuse one
    # 61 creates cannot fit in one minute: the 61st went once the first had left it (plus the safety
    # margin), paced rather than in one burst, and not much later.
    assert 1060.0 <= clock.now() < 1070.0


def test_without_the_bucket_the_vendor_refuses_the_61st(bucket: Path, ws: Workspace) -> None:
    clock = FakeClock(start=1000.0)
    with emulator(bucket, clock=clock.now, quotas=SUBMISSIONS_ONLY) as emu:
        submit(emu, ws, clock, 60, submissions_per_minute=1_000_000)
        with pytest.raises(QuotaExceeded):
            submit(emu, ws, clock, 1, start=60, submissions_per_minute=1_000_000)
        statuses = [e.status for e in emu.app.log.entries if e.method == "CreateCustomJob"]
    assert statuses[:60] == [200] * 60 and set(statuses[60:]) == {429}
