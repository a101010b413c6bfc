"""Serving a trained Vertex AI model: deploy to an endpoint (exactly once), online predictions, undeploy.

A capability, mixed only into the adapters whose models Vertex serves online (AutoML tabular,
forecasting, image and text): it makes them :class:`~adapters.Serving`. Custom jobs and batch predictions
have no model to serve, and AutoML video models are served by batch prediction only.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from adapters._errors import Conflict, PermanentError, SpecError
from checkpoint._errors import JobferryError

from .._chunking import request_body
from .._jobs import JobRef
from .._serving import OnlinePredictions
from ._base import LABEL_KEY, VertexModel
from ._client import to_json_dict, to_message, wire_size
from ._traffic import split_for_deploy, split_for_undeploy

if TYPE_CHECKING:
    _Base = VertexModel[Any]
else:
    _Base = object  # a mixin: the adapter's own base supplies VertexModel

__all__ = ["VertexServing", "deployed_model_id_for", "endpoint_id_for"]


def deployed_model_id_for(*parts: str) -> str:
    """A DeployedModel ID (Vertex allows 1-10 digits) derived from what is deployed where."""
    digest = int(hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:15], 16)
    return str(1_000_000_000 + digest % 9_000_000_000)


def endpoint_id_for(submission_key: str, model: str) -> str:
    """The client-chosen ID (``CreateEndpointRequest.endpoint_id``) of the endpoint a job's model gets.

    Vertex takes either a lowercase letter then up to 62 of ``[a-z0-9-]``, ending in a letter or digit,
    or up to 9 digits without a leading zero (the request's docstring in ``aiplatform_v1``). We use the
    letter form, ``jf-`` and 32 hex digits of a SHA-256 of the key and the model: 128 bits, so two of
    ``n`` endpoints in a project and region share an ID with odds of about ``n**2 / 2**129`` (nil), where
    the 9-digit form (9e8 IDs) would make a collision likely by about 35,000 endpoints.
    """
    digest = hashlib.sha256("\x00".join(("endpoint", submission_key, model)).encode()).hexdigest()
    return f"jf-{digest[:32]}"


#: ``Model.supportedDeploymentResourcesTypes`` values (the enum's names; the client may send integers).
_DEDICATED = "DEDICATED_RESOURCES"
_AUTOMATIC = "AUTOMATIC_RESOURCES"


class VertexServing(OnlinePredictions, _Base):
    """Deploy / undeploy / ``run`` for a Vertex model adapter (mix in before the adapter's base)."""

    def deployment_types(self, model: str) -> list[str]:
        """The trained model's ``supportedDeploymentResourcesTypes``, by name (one read of the model)."""
        models = self.vertex.models
        found = self.call(lambda: self.guard("get model", lambda: models.get_model(name=model)), "get model")
        return [getattr(t, "name", str(t)) for t in found.supported_deployment_resources_types]

    def deploy_resources(
        self, model: str, machine_type: str, min_replicas: int, max_replicas: int
    ) -> dict[str, Any]:
        """How the model is served, as the model declares it (``supportedDeploymentResourcesTypes``).

        Dedicated machines (``machine_type``) when it lists DEDICATED_RESOURCES, Google-managed ones
        otherwise when it lists AUTOMATIC_RESOURCES; a model that lists neither cannot be deployed (Vertex:
        no types listed means no endpoint and no online predictions) and is refused here, before any
        endpoint is created.
        """
        types = self.deployment_types(model)
        if _DEDICATED in types:
            return {
                "dedicatedResources": {
                    "machineSpec": {"machineType": machine_type},
                    "minReplicaCount": min_replicas,
                    "maxReplicaCount": max_replicas,
                }
            }
        if _AUTOMATIC in types:
            return {"automaticResources": {"minReplicaCount": min_replicas, "maxReplicaCount": max_replicas}}
        listed = ", ".join(types) if types else "none"
        raise SpecError(
            f"Vertex AI model {model} cannot be deployed to an endpoint: its "
            f"supportedDeploymentResourcesTypes lists {listed} (jobferry deploys with "
            f"{_DEDICATED} or {_AUTOMATIC}); use batch_predict() instead"
        )

    def _get_endpoint(self, name: str) -> Any:
        endpoints = self.vertex.endpoints
        return self.call(
            lambda: self.guard("get endpoint", lambda: endpoints.get_endpoint(name=name)), "get endpoint"
        )

    def deploy(
        self,
        endpoint: str | None = None,
        machine_type: str = "n1-standard-4",
        min_replica_count: int = 1,
        max_replica_count: int = 1,
        traffic_percentage: int = 100,
        *,
        wait: bool = True,
    ) -> str:
        """Deploy the trained model to ``endpoint`` (created, exactly once, when not given).

        ``traffic_percentage`` is the share of the endpoint's traffic the model gets; the models already
        there keep the rest, rescaled in proportion to what they carry, so that the split adds up to 100
        as Vertex requires. A new endpoint takes the model at 100%. Returns the endpoint's resource name.
        Deploying a model already deployed there reuses it.

        ``wait=False`` still waits for a new endpoint (a short LRO), then returns once Vertex accepted the
        DeployModel LRO, recording its deterministic deployed-model ID as ``deploying_model_id``: ``run``
        before it is there says so, and ``deploy()`` again adopts it (ALREADY_EXISTS on that ID), waits
        and records ``deployed_model_id``.
        """
        if isinstance(traffic_percentage, bool) or not isinstance(traffic_percentage, int):
            raise SpecError(f"traffic_percentage must be an integer 0..100, got {traffic_percentage!r}")
        if not 0 <= traffic_percentage <= 100:
            raise SpecError(f"traffic_percentage must be 0..100, got {traffic_percentage!r}")
        if not 1 <= min_replica_count <= max_replica_count:
            raise SpecError(
                "need 1 <= min_replica_count <= max_replica_count, "
                f"got {min_replica_count!r}, {max_replica_count!r}"
            )
        model = self.model_resource_name()
        given = endpoint or self.job.resources.get("endpoint")
        if given is None and traffic_percentage != 100:
            raise SpecError(
                f"traffic_percentage={traffic_percentage} needs an endpoint with other models serving; a new "
                "endpoint takes the model at 100% (traffic_percentage=100), or give endpoint=..."
            )
        # Read before any write: a model that declares no deployment is refused with no endpoint made.
        resources = self.deploy_resources(model, machine_type, min_replica_count, max_replica_count)
        endpoint_name = given or self._endpoint_for_job(model)
        current = self._get_endpoint(endpoint_name)
        for deployed in current.deployed_models:
            if deployed.model == model:
                self._record_deployed(endpoint_name, str(deployed.id), model)
                return endpoint_name
        split = split_for_deploy(
            dict(current.traffic_split),
            [str(d.id) for d in current.deployed_models],
            traffic_percentage,
            endpoint_name,
        )
        key = (self.record.submission_key if self.record else None) or model
        deployed_id = deployed_model_id_for(key, model, endpoint_name)
        body = {
            # Our own deterministic ID makes deploying idempotent: a retry after a lost response is refused
            # with ALREADY_EXISTS instead of deploying (and billing) a second copy.
            "id": deployed_id,
            "model": model,
            "displayName": self.display_name(key),
            **resources,
        }
        request = to_message(
            self.vertex.v1.DeployModelRequest,
            {"endpoint": endpoint_name, "deployedModel": body, "trafficSplit": split},
        )

        # None: our ID is taken, an earlier attempt's deployment exists or is under way.
        deploy_model = self.vertex.endpoints.deploy_model
        operation = self.call(
            lambda: self.create_or_taken("deploy model", lambda: deploy_model(request=request)),
            "deploy model",
        )
        if not wait:
            # Accepted (or in flight from an earlier attempt): what is known, so predict and undeploy can
            # tell a deployment under way from none, and a later deploy() adopts it under the same ID.
            self.update_job(model=model, endpoint=endpoint_name, deploying_model_id=deployed_id)
            return endpoint_name
        if operation is not None:
            response = self.wait_operation(operation, "deploy model")
            deployed_id = str(response.deployed_model.id or deployed_id)
        else:
            self._await_deployed(endpoint_name, deployed_id)
        self._record_deployed(endpoint_name, deployed_id, model)
        return endpoint_name

    def _record_deployed(self, endpoint_name: str, deployed_id: str, model: str | None = None) -> None:
        """Record a deployment that is there (``model``: also record it; a ``None`` would remove it)."""
        known = {"model": model} if model else {}
        self.update_job(
            **known, endpoint=endpoint_name, deployed_model_id=deployed_id, deploying_model_id=None
        )

    def _await_deployed(self, endpoint_name: str, deployed_id: str) -> None:
        """Poll the endpoint until the deployment an earlier attempt started is there."""

        def there() -> bool | None:
            current = self.guard(
                "get endpoint", lambda: self.vertex.endpoints.get_endpoint(name=endpoint_name)
            )
            return any(d.id == deployed_id for d in current.deployed_models) or None

        timeout = self.reach.operation_timeout
        self.wait_until(f"deployed model {deployed_id} on {endpoint_name}", there, timeout=timeout)

    def _endpoint_for_job(self, model: str) -> str:
        """Create this job's endpoint (an LRO) under an ID derived from its submission key, exactly once.

        Vertex answers a second create with that ID 409 ALREADY_EXISTS, so a retry after a lost
        response, or a re-run that never learnt of the first create (another process, a checkpoint saved
        before the deploy was recorded), adopts the endpoint instead of creating (and billing) another.
        The label stays, for people and list filters; no look-up by label is needed any more.
        """
        key = self.record.submission_key if self.record else None
        parent = self.vertex.parent
        endpoint_id = endpoint_id_for(key or "", model)
        request = to_message(
            self.vertex.v1.CreateEndpointRequest,
            {"parent": parent, "endpoint": self.resource_body(key or "none"), "endpointId": endpoint_id},
        )

        create = self.vertex.endpoints.create_endpoint
        operation = self.call(
            lambda: self.create_or_taken("create endpoint", lambda: create(request=request)),
            "create endpoint",
        )
        if operation is None:
            return self._adopt_endpoint(f"{parent}/endpoints/{endpoint_id}", key)
        return str(self.wait_operation(operation, "create endpoint").name)

    def _adopt_endpoint(self, name: str, key: str | None) -> str:
        """The endpoint an earlier create under our ID made, once readable (its create may be in flight)."""
        get = self.vertex.endpoints.get_endpoint
        try:
            found = self.wait_until(
                f"endpoint {name}",
                lambda: self.read_own("endpoint", name, lambda: get(name=name), key),
                timeout=self.reach.operation_timeout,
            )
        except Conflict as exc:
            raise Conflict(f"{exc}; deploy to an explicit endpoint instead", vendor="vertex") from None
        return str(found.name)

    def undeploy(self, *, delete_endpoint: bool = False, wait: bool = True) -> None:
        """Undeploy the model from its endpoint; with ``delete_endpoint``, then delete the endpoint too.

        On an endpoint shared with other models, the model's traffic is handed to them first (in the
        undeploy request, in proportion to what they carry), as Vertex requires. ``delete_endpoint`` deletes
        only an endpoint jobferry created for this job (it carries the job's submission key) that nothing
        else is deployed on; otherwise it is refused before anything is undeployed. Calling it again after
        an undeploy (``deployed_model_id`` gone, the endpoint still recorded) deletes the endpoint.

        ``wait=False`` returns once Vertex accepted the UndeployModel LRO; it is refused with
        ``delete_endpoint`` (the endpoint is deleted only once the model is off it), before any call.
        """
        if delete_endpoint and not wait:
            raise SpecError(
                "delete_endpoint with wait=False: the endpoint can be deleted only once the undeploy is "
                "done; undeploy with wait=False alone, or wait (the default) to delete the endpoint too"
            )
        endpoint = self.job.resources.get("endpoint")
        deploying = self.job.resources.get("deploying_model_id")
        if deploying and endpoint and not self.job.resources.get("deployed_model_id"):
            # deploy(wait=False) left it in flight: undeploy only once it is there, never lose track of it.
            if not self._deployed_on(endpoint, deploying):
                raise self.deployment_in_progress(f"deployed model {deploying} on {endpoint}")
            self._record_deployed(endpoint, deploying)
        deployed = self.job.resources.get("deployed_model_id")
        if not endpoint or not (deployed or delete_endpoint):
            raise JobferryError(f"job {self.job.job_id} is not deployed; call deploy() first")
        try:
            current = self._get_endpoint(endpoint)
        except PermanentError as exc:
            if exc.code != 404 or not delete_endpoint:
                raise
            self.update_job(endpoint=None, deployed_model_id=None)  # deleted already (a lost response)
            return
        others = [str(d.id) for d in current.deployed_models if str(d.id) != deployed]
        if delete_endpoint:
            self._check_deletable(current, others)
        if deployed and any(str(d.id) == deployed for d in current.deployed_models):
            body: dict[str, Any] = {"endpoint": endpoint, "deployedModelId": deployed}
            if others:
                body["trafficSplit"] = split_for_undeploy(dict(current.traffic_split), others)
            request = to_message(self.vertex.v1.UndeployModelRequest, body)
            operation = self.call(
                lambda: self.guard(
                    "undeploy model",
                    lambda: self.vertex.endpoints.undeploy_model(request=request),
                    submits=True,
                ),
                "undeploy model",
            )
            if wait:
                self.wait_operation(operation, "undeploy model")
        self.update_job(deployed_model_id=None)
        if delete_endpoint:
            self.delete_once("endpoint", lambda: self.vertex.endpoints.delete_endpoint(name=endpoint))
            self.update_job(endpoint=None)

    def _check_deletable(self, current: Any, others: list[str]) -> None:
        """Refuse (SpecError) to delete an endpoint jobferry did not create for this job, or a shared one."""
        key = self.record.submission_key if self.record else None
        owner = current.labels.get(LABEL_KEY, "")
        if not key or owner != key:
            raise SpecError(
                f"will not delete endpoint {current.name}: jobferry did not create it for this job (its "
                f"{LABEL_KEY} label is {owner!r}); undeploy without delete_endpoint, and delete it yourself"
            )
        if others:
            raise SpecError(
                f"will not delete endpoint {current.name}: other models are deployed on it "
                f"({', '.join(others)}); undeploy them first, or undeploy without delete_endpoint"
            )

    # -- online predictions ------------------------------------------------------------------------------

    def _deployed_on(self, endpoint_name: str, deployed_id: str) -> bool:
        """Whether ``deployed_id`` is on the endpoint now (one read)."""
        current = self._get_endpoint(endpoint_name)
        return any(str(d.id) == deployed_id for d in current.deployed_models)

    def prediction_target(self) -> JobRef:
        ref = self.job
        deploying = ref.resources.get("deploying_model_id")
        if deploying and ref.resources.get("endpoint") and not ref.resources.get("deployed_model_id"):
            # Started with deploy(wait=False): one look at the endpoint tells done from still under way.
            endpoint = ref.resources["endpoint"]
            if not self._deployed_on(endpoint, deploying):
                raise self.deployment_in_progress(f"deployed model {deploying} on {endpoint}")
            self._record_deployed(endpoint, deploying)
            ref = self.job
        if not ref.resources.get("endpoint") or not ref.resources.get("deployed_model_id"):
            raise JobferryError(f"job {ref.job_id} is not deployed to an endpoint; call deploy() first")
        _ = self.vertex.predictions  # build the client here, not racing in the prediction threads
        return ref

    def predict_chunk(
        self, ref: JobRef, instances: list[Any], parameters: dict[str, Any] | None
    ) -> list[Any]:
        reach = self.reach
        endpoint = ref.resources["endpoint"]
        if reach.transport == "rest":
            # Compact JSON, exactly what the chunks were planned on (and encoded by the planner), posted as
            # is (see rest_predict).
            data = request_body(instances, parameters)
            size = len(data)
        else:
            body: dict[str, Any] = {"instances": instances}
            if parameters is not None:
                body["parameters"] = parameters
            request = to_message(self.vertex.v1.PredictRequest, body)
            size = wire_size(request)
        limit = self.policies.max_request_bytes
        if size > limit:
            if len(instances) == 1:
                raise PermanentError(
                    f"one instance takes {size} bytes as a Vertex AI request, more than "
                    f"max_request_bytes={limit}",
                    vendor="vertex",
                )
            half = len(instances) // 2
            return self.predict_chunk(ref, instances[:half], parameters) + self.predict_chunk(
                ref, instances[half:], parameters
            )
        if reach.transport == "rest":
            timeout = reach.call_timeout
            reply = self.guard("predict", lambda: self.vertex.rest_predict(endpoint, data, timeout))
            rest_predictions: list[Any] = reply.get("predictions", [])
            return rest_predictions
        request.endpoint = endpoint
        response = self.guard(
            "predict", lambda: self.vertex.predictions.predict(request=request, timeout=reach.call_timeout)
        )
        predictions: list[Any] = to_json_dict(response).get("predictions", [])
        return predictions
