"""Who a vendor resource belongs to, end to end: every poll reports the key label, and a job's endpoint is
created exactly once under an ID derived from its submission key, even when the create's response is lost."""

from __future__ import annotations

from typing import Any

import pytest

from adapters import load_job
from adapters._jobs import JobState
from adapters.vertex import VertexAutoMLTabular, VertexCustomJob, VertexModel
from adapters.vertex._serving import endpoint_id_for
from adapters.vertex.emulator import VertexEmulator
from checkpoint import Workspace
from tests.e2e.conftest import PARENT, make, tabular_config, train

CUSTOM = {"container_image_uri": "us-docker.pkg.dev/e2e/trainer:1"}


def key_of(model: VertexModel[Any]) -> str:
    assert model.record is not None and model.record.submission_key
    return model.record.submission_key


def test_every_poll_reports_the_jobs_key(emu: VertexEmulator, ws: Workspace) -> None:
    job = make(VertexCustomJob, emu, ws, "custom-key", **CUSTOM)
    train(job)
    assert job.refresh().submission_key == key_of(job)
    assert job.wait(timeout=30).submission_key == key_of(job)
    # A process that has only the checkpoint reads the same key from the vendor.
    assert load_job(ws, "custom-key").refresh().submission_key == key_of(job)


def test_a_lost_endpoint_create_response_makes_one_endpoint(emu: VertexEmulator, ws: Workspace) -> None:
    model = make(VertexAutoMLTabular, emu, ws, "fruit-once", **tabular_config())
    train(model)
    assert model.wait(timeout=30).state is JobState.SUCCEEDED
    # Another process loads the job before any deploy is recorded: it knows of no endpoint.
    other = VertexAutoMLTabular.load_remote(ws, "fruit-once", use_cache=False)
    # The create takes effect, but its response never comes back.
    emu.faults.set("CreateEndpoint", drop_response_rate=1.0, max_faults=1)
    endpoint = model.deploy()
    assert endpoint == f"{PARENT}/endpoints/{endpoint_id_for(key_of(model), model.model_resource_name())}"
    assert list(emu.state.endpoints) == [endpoint]
    assert emu.counts["CreateEndpoint"] == 2  # the retry was refused with 409 and adopted the endpoint
    assert len(emu.state.deployed[endpoint]) == 1
    # The other process's deploy is refused the same way and reuses the endpoint and its deployment.
    assert other.deploy() == endpoint
    assert emu.counts["CreateEndpoint"] == 3 and emu.counts["DeployModel"] == 1
    assert list(emu.state.endpoints) == [endpoint] and len(emu.state.deployed[endpoint]) == 1


def test_an_emulator_restarted_with_the_same_seed_cannot_pass_off_a_new_job_as_an_old_one(
    bucket: Any, ws: Workspace
) -> None:
    from adapters import JobIdentityMismatch
    from tests.e2e.conftest import emulator
    from tests.storage_servers import free_port

    port = free_port()
    with emulator(bucket, port=port, seed=11) as first:
        old = make(VertexCustomJob, first, ws, "old-instance", **CUSTOM)
        train(old)
        old_name = old.job.job_id
    with emulator(bucket, port=port, seed=11) as second:  # same seed: it hands out the same IDs again
        new = make(VertexCustomJob, second, ws, "new-instance", **CUSTOM)
        train(new)
        assert new.job.job_id == old_name  # the name now belongs to another job
        with pytest.raises(JobIdentityMismatch, match=key_of(old)):
            load_job(ws, "old-instance").refresh()
        assert load_job(ws, "new-instance").refresh().submission_key == key_of(new)
