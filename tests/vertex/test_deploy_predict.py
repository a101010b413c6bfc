"""Deploying a trained AutoML model to an endpoint (LROs polled via /ui/), online predictions, undeploy."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest

from adapters import Predicting, Serving
from adapters._clock import FakeClock
from adapters._errors import PredictionError
from adapters.vertex import VertexModel
from adapters.vertex._serving import deployed_model_id_for, endpoint_id_for
from checkpoint import Workspace
from checkpoint._errors import JobferryError
from tests.vertex.conftest import ALT, FAMILIES, PARENT, TYPE, FakeVertex, Family, labels_of, make, train

TABULAR = FAMILIES[0]
IMAGE = next(f for f in FAMILIES if f.id == "image-single-label")
LIMIT = 1_500_000


def succeeded(
    family: Family, fake: FakeVertex, ws: Workspace, clock: FakeClock, **config: Any
) -> VertexModel[Any]:
    """A model of ``family`` whose pipeline succeeded (model 555), with no calls recorded yet."""
    model = make(family.cls, ws, clock, dataset="123", **{**family.config, **config})
    train(model)
    fake.succeed(model.job.job_id)
    model.refresh()
    fake.calls.clear()
    clock.sleeps.clear()
    return model


@pytest.fixture(params=[f for f in FAMILIES if issubclass(f.cls, Serving)], ids=lambda f: f.id)
def family(request: pytest.FixtureRequest) -> Family:
    """Every AutoML family that Vertex serves online (all but video), in turn."""
    fam: Family = request.param
    return fam


def test_serving_is_a_capability_video_and_jobs_do_not_have() -> None:
    from adapters.vertex import VertexAutoMLVideo, VertexBatchPrediction, VertexCustomJob

    served = {f.cls for f in FAMILIES if isinstance(f.cls(), Serving)}
    assert {c.__name__ for c in served} == {
        "VertexAutoMLTabular",
        "VertexAutoMLForecasting",
        "VertexAutoMLImage",
        "VertexAutoMLText",
    }
    for cls in (VertexAutoMLVideo, VertexCustomJob, VertexBatchPrediction):
        model = cls()
        assert not isinstance(model, Serving) and not isinstance(model, Predicting)
        assert not hasattr(model, "deploy") and not hasattr(model, "run")
    # Video models still have batch predictions.
    assert callable(VertexAutoMLVideo.batch_predict)


def resources_for(family: Family) -> dict[str, Any]:
    if family.automatic_resources:
        return {"automaticResources": {"minReplicaCount": 1, "maxReplicaCount": 2}}
    return {
        "dedicatedResources": {
            "machineSpec": {"machineType": "n1-standard-8"},
            "minReplicaCount": 1,
            "maxReplicaCount": 2,
        }
    }


def test_deploy_creates_the_endpoint_then_deploys_then_predicts(
    family: Family, fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    model = succeeded(family, fake, ws, clock)
    fake.fail("GET", r"^/ui/.*/operations/", 503, message="operations backend unavailable")

    endpoint = model.deploy(machine_type="n1-standard-8", max_replica_count=2)

    (endpoint_name,) = fake.endpoints
    key = labels_of(model)["jobferry-key"]
    endpoint_id = endpoint_id_for(key, f"{PARENT}/models/555")
    assert endpoint == endpoint_name == f"{PARENT}/endpoints/{endpoint_id}"
    create_op, deploy_op = fake.operations
    # Exactly one endpoint create, under the ID derived from the key, then one deploy to it; no look-up.
    assert fake.writes() == ["POST /endpoints", f"POST /endpoints/{endpoint_id}:deployModel"]
    assert not fake.of("GET", r"/endpoints$")
    (create,) = fake.of("POST", r"/endpoints$")
    assert create.query == {"endpointId": endpoint_id, "$alt": ALT}
    assert create.body == {"displayName": "inst", "labels": labels_of(model)}
    # The 503 on the create operation was retried by our policy, on the fake clock, until it answered.
    create_polls = fake.of("GET", re.escape(create_op) + "$")
    assert create_polls[0].status == 503 and create_polls[-1].status == 200 and clock.sleeps
    assert fake.operations[create_op]["done"] and fake.operations[deploy_op]["done"]
    (deploy,) = fake.of("POST", r":deployModel$")
    assert deploy.query == {"$alt": ALT}
    deployed_id = deployed_model_id_for(key, f"{PARENT}/models/555", endpoint)
    assert deploy.body == {
        "deployedModel": {
            "id": deployed_id,
            "model": f"{PARENT}/models/555",
            "displayName": "inst",
            **resources_for(family),
        },
        "trafficSplit": {"0": 100},
    }
    assert fake.endpoints[endpoint]["deployedModels"][0]["id"] == deployed_id
    assert model.job.resources == {
        "dataset": f"{PARENT}/datasets/123",
        "model": f"{PARENT}/models/555",
        "endpoint": endpoint,
        "deployed_model_id": deployed_id,
    }
    # ... and so does the checkpoint, for a model loaded elsewhere.
    fresh: VertexModel[Any] = family.cls.load_remote(ws, "inst", use_cache=False)
    assert fresh.job.resources == model.job.resources

    fresh.clock = clock
    fake.calls.clear()
    assert fresh.run([{"x": 1}, {"x": 2}], parameters={"confidenceThreshold": 0.5}) == [
        {"echo": {"x": 1}},
        {"echo": {"x": 2}},
    ]
    (predict,) = fake.calls
    # No enum-encoding query: PredictResponse has no enum field (see VertexClients.rest_predict).
    assert predict.path == f"/v1/{endpoint}:predict" and predict.query == {}
    assert predict.body == {"instances": [{"x": 1}, {"x": 2}], "parameters": {"confidenceThreshold": 0.5}}


@pytest.mark.parametrize("status", [None, 503])
def test_a_lost_deploy_response_deploys_once(
    fake: FakeVertex, ws: Workspace, clock: FakeClock, status: int | None
) -> None:
    model = succeeded(TABULAR, fake, ws, clock)
    mine = f"{PARENT}/endpoints/4"
    fake.endpoints[mine] = {"name": mine}
    fake.drop_after_effect("POST", r":deployModel$", status=status)
    assert model.deploy(endpoint=mine) == mine
    deployed = fake.endpoints[mine]["deployedModels"]
    assert len(deployed) == 1  # the retry was refused with 409: no second, billed copy
    deploys = fake.of("POST", r":deployModel$")
    assert len(deploys) == 2 and deploys[0].body == deploys[1].body
    assert model.job.resources["deployed_model_id"] == deployed[0]["id"]


def test_an_explicit_endpoint_is_used_as_is(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    model = succeeded(TABULAR, fake, ws, clock)
    mine = f"{PARENT}/endpoints/4"
    theirs = {"id": "77", "model": f"{PARENT}/models/9"}
    fake.endpoints[mine] = {"name": mine, "deployedModels": [theirs], "trafficSplit": {"77": 100}}
    assert model.deploy(endpoint=mine, traffic_percentage=30) == mine
    (op,) = fake.operations
    assert fake.writes() == ["POST /endpoints/4:deployModel"]  # no lookup by label, no endpoint created
    assert not fake.of("GET", r"/endpoints$") and fake.operations[op]["done"]
    (deploy,) = fake.of("POST", r":deployModel$")
    # Vertex wants a split that adds up to 100: the model already there keeps the other 70%.
    assert deploy.body["trafficSplit"] == {"0": 30, "77": 70}
    assert len(fake.endpoints[mine]["deployedModels"]) == 2


def test_redeploy_reuses_the_deployed_model(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    model = succeeded(IMAGE, fake, ws, clock)
    endpoint = model.deploy()
    resources = dict(model.job.resources)
    fake.calls.clear()
    assert model.deploy() == endpoint
    assert fake.writes() == []  # nothing created or deployed again
    assert model.job.resources == resources
    # A fresh model, loaded from the checkpoint, reuses it too.
    fresh: VertexModel[Any] = IMAGE.cls.load_remote(ws, "inst", use_cache=False)
    fresh.clock = clock
    fake.calls.clear()
    assert fresh.deploy() == endpoint
    assert fake.writes() == []
    assert len(fake.endpoints[endpoint]["deployedModels"]) == 1


def test_undeploy(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    model = succeeded(TABULAR, fake, ws, clock)
    endpoint = model.deploy()
    deployed_id = model.job.resources["deployed_model_id"]
    fake.calls.clear()
    model.undeploy()
    op = list(fake.operations)[-1]
    assert fake.writes() == [f"POST /endpoints/{endpoint.rsplit('/', 1)[1]}:undeployModel"]
    assert fake.operations[op]["done"]  # the undeploy operation was waited for
    (undeploy,) = fake.of("POST", r":undeployModel$")
    assert undeploy.body == {"deployedModelId": deployed_id}
    assert fake.endpoints[endpoint]["deployedModels"] == []
    assert model.job.resources == {
        "dataset": f"{PARENT}/datasets/123",
        "model": f"{PARENT}/models/555",
        "endpoint": endpoint,
    }
    with pytest.raises(JobferryError, match="not deployed"):
        model.run([{"x": 1}])
    with pytest.raises(JobferryError, match="not deployed"):
        model.undeploy()


def test_deploy_before_the_model_exists(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    model = make(TABULAR.cls, ws, clock, dataset="123", **TABULAR.config)
    train(model)
    with pytest.raises(JobferryError, match="no trained model yet"):
        model.deploy()
    assert not fake.of("GET", r"/endpoints")


def test_failed_deploy_operation_is_mapped(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    from adapters._errors import InvalidJobSpec

    model = succeeded(TABULAR, fake, ws, clock)
    endpoint = f"{PARENT}/endpoints/4"
    fake.endpoints[endpoint] = {"name": endpoint}
    fake.op_polls = 0
    real = fake._new_operation

    def failing(resource: str, result: dict[str, Any]) -> dict[str, Any]:
        op = real(resource, result)
        if result.get("@type") == TYPE + "DeployModelResponse":
            op.pop("response")
            op["error"] = {"code": 3, "message": "machine type not supported"}
        return op

    fake._new_operation = failing  # type: ignore[method-assign]
    with pytest.raises(InvalidJobSpec, match="machine type not supported"):
        model.deploy(endpoint=endpoint)
    assert "deployed_model_id" not in model.job.resources


# -- predictions ---------------------------------------------------------------------------------------------


def deployed(fake: FakeVertex, ws: Workspace, clock: FakeClock, **config: Any) -> VertexModel[Any]:
    model = succeeded(TABULAR, fake, ws, clock, **config)
    model.deploy()
    fake.calls.clear()
    return model


@pytest.mark.parametrize(
    ("text", "count"),
    [("x" * 1000, 5000), ("é" * 500, 1500)],
    ids=["ascii-1KB", "non-ascii-1KB"],
)
def test_predictions_chunked_under_the_payload_limit(
    fake: FakeVertex, ws: Workspace, clock: FakeClock, text: str, count: int
) -> None:
    model = deployed(fake, ws, clock, max_instances_per_request=100_000)
    instances = [{"id": i, "text": text} for i in range(count)]
    predictions = model.run(instances)
    calls = fake.of("POST", r":predict$")
    assert len(calls) > 1
    assert max(c.size for c in calls) < LIMIT, [c.size for c in calls]
    sent = sorted((c.body["instances"] for c in calls), key=lambda part: part[0]["id"])
    assert [i["id"] for part in sent for i in part] == list(range(count))
    assert [p["echo"]["id"] for p in predictions] == list(range(count))


def test_predictions_chunked_by_instance_count(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    model = deployed(fake, ws, clock, max_instances_per_request=100)
    predictions = model.run([{"id": i} for i in range(250)])
    calls = fake.of("POST", r":predict$")
    assert sorted(len(c.body["instances"]) for c in calls) == [50, 100, 100]
    assert [p["echo"]["id"] for p in predictions] == list(range(250))


def test_prediction_bytes_have_their_own_bucket(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    # Vertex's second prediction quota counts bytes (1.5 GB a minute); here 5 kB, on the injected clock.
    model = deployed(
        fake, ws, clock, max_instances_per_request=10, max_concurrency=1, prediction_bytes_per_minute=5_000
    )
    instances = [{"id": i, "pad": "x" * 120} for i in range(40)]  # four chunks of about 1.4 kB each
    start = clock.now()
    assert [p["echo"]["id"] for p in model.run(instances)] == list(range(40))
    sizes = [c.size for c in fake.of("POST", r":predict$")]
    assert len(sizes) == 4 and sum(sizes) > 5_000 and sum(sizes[:3]) < 5_000
    # Four chunks are more than the minute's bytes: the fourth waited for the first to leave the window.
    assert clock.now() - start >= 60.0


def test_predictions_are_concurrent_and_in_input_order(
    fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    model = deployed(fake, ws, clock, max_instances_per_request=10, max_concurrency=4)
    lock = threading.Lock()
    state = {"in_flight": 0, "peak": 0}
    threads: set[int] = set()

    def slow_echo(instance: Any) -> Any:
        if instance["id"] % 10 == 0:  # once per chunk
            with lock:
                state["in_flight"] += 1
                state["peak"] = max(state["peak"], state["in_flight"])
                threads.add(threading.get_ident())
            time.sleep(0.03 if instance["id"] == 0 else 0.01)  # the first chunk finishes last
            with lock:
                state["in_flight"] -= 1
        return instance["id"] * 2

    fake.predict = slow_echo
    assert model.run([{"id": i} for i in range(80)]) == [i * 2 for i in range(80)]
    assert len(fake.of("POST", r":predict$")) == 8
    assert state["peak"] > 1 and len(threads) > 1


def test_a_503_on_one_chunk_is_retried_for_that_chunk_only(
    fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    model = deployed(fake, ws, clock, max_instances_per_request=10, max_concurrency=4)
    fake.fail("POST", r":predict$", 503, message="prediction backend unavailable")
    predictions = model.run([{"id": i} for i in range(50)])
    assert [p["echo"]["id"] for p in predictions] == list(range(50))
    calls = fake.of("POST", r":predict$")
    assert len(calls) == 6
    firsts = [c.body["instances"][0]["id"] for c in calls]
    (retried,) = [f for f in set(firsts) if firsts.count(f) == 2]
    assert sorted(set(firsts)) == [0, 10, 20, 30, 40]
    assert [c.status for c in calls if c.body["instances"][0]["id"] == retried] == [503, 200]
    assert len(clock.sleeps) == 1


def test_a_chunk_failing_for_good_names_the_chunk(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    model = deployed(fake, ws, clock, max_instances_per_request=10, max_concurrency=1)
    fake.fail("POST", r":predict$", 400, message="instance 3 has no field 'size'")
    with pytest.raises(PredictionError, match=r"chunk 0 \(instances 0..9 of 20\).*no field 'size'"):
        model.run([{"id": i} for i in range(20)])
    assert len(fake.of("POST", r":predict$")) == 1


def test_an_instance_too_big_for_one_request(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    model = deployed(fake, ws, clock)
    with pytest.raises(PredictionError, match="instance 0"):
        model.run([{"text": "x" * (LIMIT + 10)}])
    assert fake.of("POST", r":predict$") == []


def test_undeploy_from_a_shared_endpoint_hands_its_traffic_on(
    fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    model = succeeded(TABULAR, fake, ws, clock)
    shared = f"{PARENT}/endpoints/4"
    others = [{"id": "77", "model": f"{PARENT}/models/9"}, {"id": "78", "model": f"{PARENT}/models/10"}]
    fake.endpoints[shared] = {"name": shared, "deployedModels": others, "trafficSplit": {"77": 60, "78": 40}}
    model.deploy(endpoint=shared, traffic_percentage=50)
    mine = model.job.resources["deployed_model_id"]
    assert fake.endpoints[shared]["trafficSplit"] == {mine: 50, "77": 30, "78": 20}
    fake.calls.clear()
    model.undeploy()
    (undeploy,) = fake.of("POST", r":undeployModel$")
    # Vertex undeploys a model with traffic only if the request moves it: 50% goes 3:2 to the others.
    assert undeploy.body == {"deployedModelId": mine, "trafficSplit": {"77": 60, "78": 40}}
    with pytest.raises(JobferryError, match="not deployed"):
        model.undeploy()


def test_delete_endpoint_is_refused_before_any_effect(
    fake: FakeVertex, ws: Workspace, clock: FakeClock
) -> None:
    from adapters._errors import SpecError

    model = succeeded(TABULAR, fake, ws, clock)
    theirs = f"{PARENT}/endpoints/4"
    fake.endpoints[theirs] = {"name": theirs, "labels": {"team": "x"}}
    model.deploy(endpoint=theirs)
    fake.calls.clear()
    with pytest.raises(SpecError, match="jobferry did not create it for this job"):
        model.undeploy(delete_endpoint=True)
    assert fake.writes() == [] and model.job.resources["deployed_model_id"]
    model.undeploy()
    assert model.job.resources["endpoint"] == theirs and theirs in fake.endpoints


def test_undeploy_deletes_its_own_endpoint_once(fake: FakeVertex, ws: Workspace, clock: FakeClock) -> None:
    model = succeeded(TABULAR, fake, ws, clock)
    endpoint = model.deploy()
    endpoint_id = endpoint.rsplit("/", 1)[1]
    fake.calls.clear()
    fake.drop_after_effect("DELETE", r"/endpoints/[^/:]+$")  # deleted, but the answer is lost
    model.undeploy(delete_endpoint=True)
    assert endpoint not in fake.endpoints
    # The retried delete found it gone (404): done, not an error.
    assert fake.writes() == [
        f"POST /endpoints/{endpoint_id}:undeployModel",
        f"DELETE /endpoints/{endpoint_id}",
        f"DELETE /endpoints/{endpoint_id}",
    ]
    assert "endpoint" not in model.job.resources and "deployed_model_id" not in model.job.resources
    with pytest.raises(JobferryError, match="not deployed"):
        model.undeploy(delete_endpoint=True)
