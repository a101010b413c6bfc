"""A job's endpoint is created exactly once on the vendor side: its ID is derived from the submission key.

A retried create (its response lost) or a second deploy of the same job that never heard of the first
sends the same ``endpointId``; Vertex refuses it with 409 ALREADY_EXISTS and the endpoint is adopted.
"""

from __future__ import annotations

from typing import Any

import pytest

from adapters._clock import FakeClock
from adapters._errors import Conflict
from adapters.vertex import VertexModel
from adapters.vertex._serving import endpoint_id_for
from checkpoint import Workspace
from tests.vertex.conftest import PARENT, FakeVertex, labels_of
from tests.vertex.test_deploy_predict import IMAGE, TABULAR, succeeded


def our_endpoint(model: VertexModel[Any]) -> str:
    """The name of the endpoint ``model``'s job gets (its ID derived from the submission key)."""
    return f"{PARENT}/endpoints/{endpoint_id_for(labels_of(model)['jobferry-key'], f'{PARENT}/models/555')}"


def test_an_endpoint_already_created_under_our_id_is_adopted(
    fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    model = succeeded(IMAGE, fake, ws, clock)
    existing = our_endpoint(model)
    fake.endpoints[existing] = {"name": existing, "labels": labels_of(model)}
    assert model.deploy() == existing
    # The create was refused with 409 ALREADY_EXISTS: that endpoint was fetched and deployed to.
    (create,) = fake.of("POST", r"/endpoints$")
    assert create.status == 409
    assert fake.writes() == ["POST /endpoints", f"POST /endpoints/{existing.rsplit('/', 1)[1]}:deployModel"]
    assert fake.first("POST /endpoints") < fake.first(f"GET /endpoints/{existing.rsplit('/', 1)[1]}")
    assert len(fake.endpoints) == 1 and len(fake.endpoints[existing]["deployedModels"]) == 1
    assert model.job.resources["endpoint"] == existing


def test_an_endpoint_under_our_id_with_another_key_is_refused(
    fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    model = succeeded(TABULAR, fake, ws, clock)
    theirs = our_endpoint(model)
    fake.endpoints[theirs] = {"name": theirs, "labels": {"jobferry-key": "jfsomeoneelse"}}
    with pytest.raises(Conflict, match="jfsomeoneelse"):
        model.deploy()
    assert not fake.of("POST", r":deployModel$") and "endpoint" not in model.job.resources


@pytest.mark.parametrize("status", [None, 503], ids=["connection-dropped", "503-after-effect"])
def test_a_lost_endpoint_create_response_makes_one_endpoint(
    fake: FakeVertex, ws: Workspace, clock: FakeClock, status: int | None
) -> None:
    model = succeeded(TABULAR, fake, ws, clock)
    fake.drop_after_effect("POST", r"/endpoints$", status=status)
    endpoint = model.deploy()
    assert list(fake.endpoints) == [endpoint] == [our_endpoint(model)]
    # The retried create carried the same ID and was refused with 409: adopted, not created twice.
    creates = fake.of("POST", r"/endpoints$")
    assert [c.query["endpointId"] for c in creates] == [endpoint.rsplit("/", 1)[1]] * 2
    assert creates[1].status == 409
    assert len(fake.of("POST", r":deployModel$")) == 1
    assert len(fake.endpoints[endpoint]["deployedModels"]) == 1


def test_two_deploys_of_the_same_job_make_one_endpoint(
    fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    model = succeeded(TABULAR, fake, ws, clock)
    # A second process loaded the job before the first deploy was recorded: it knows of no endpoint.
    other: VertexModel[Any] = TABULAR.cls.load_remote(ws, "inst", use_cache=False)
    other.clock = clock
    assert "endpoint" not in other.job.resources
    endpoint = model.deploy()
    assert other.deploy() == endpoint
    assert list(fake.endpoints) == [endpoint]
    assert len(fake.endpoints[endpoint]["deployedModels"]) == 1
    assert [c.status for c in fake.of("POST", r"/endpoints$")] == [200, 409]
    assert other.job.resources == model.job.resources
