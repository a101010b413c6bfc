"""Serving a trained Vertex AI model: deploy to an endpoint (exactly once), online predictions, undeploy.

A capability, mixed only into the adapters whose models Vertex serves online (AutoML tabular,
forecasting, image and text): it makes them :class:`~adapters.Serving`. Custom jobs and batch predictions
have no model to serve, and AutoML video models are served by batch prediction only.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from adapters._errors import Conflict, OutcomeUnknown, PermanentError, SpecError, TransientError
from checkpoint._errors import JobferryError

from .._chunking import request_body
from .._jobs import JobRef
from .._serving import OnlinePredictions
from ._base import LABEL_KEY, VertexModel
from ._client import to_json_dict, to_message, wire_size

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


class VertexServing(OnlinePredictions, _Base):
    """Deploy / undeploy / ``run`` for a Vertex model adapter (mix in before the adapter's base)."""

    def deploy_resources(self, machine_type: str, min_replicas: int, max_replicas: int) -> dict[str, Any]:
        """How the model is served (dedicated machines; AutoML image/text models override)."""
        return {
            "dedicatedResources": {
                "machineSpec": {"machineType": machine_type},
                "minReplicaCount": min_replicas,
                "maxReplicaCount": max_replicas,
            }
        }

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
    ) -> str:
        """Deploy the trained model to ``endpoint`` (created, exactly once, when not given).

        Returns the endpoint's resource name. Deploying a model already deployed there reuses it.
        """
        if not 0 <= traffic_percentage <= 100:
            raise SpecError(f"traffic_percentage must be 0..100, got {traffic_percentage!r}")
        if not 1 <= min_replica_count <= max_replica_count:
            raise SpecError(
                "need 1 <= min_replica_count <= max_replica_count, "
                f"got {min_replica_count!r}, {max_replica_count!r}"
            )
        model = self.model_resource_name()
        endpoint_name = endpoint or self.job.resources.get("endpoint") or self._endpoint_for_job(model)
        for deployed in self._get_endpoint(endpoint_name).deployed_models:
            if deployed.model == model:
                self.update_job(model=model, endpoint=endpoint_name, deployed_model_id=deployed.id)
                return endpoint_name
        key = (self.record.submission_key if self.record else None) or model
        deployed_id = deployed_model_id_for(key, model, endpoint_name)
        body = {
            # Our own deterministic ID makes deploying idempotent: a retry after a lost response is refused
            # with ALREADY_EXISTS instead of deploying (and billing) a second copy.
            "id": deployed_id,
            "model": model,
            "displayName": self.display_name(key),
            **self.deploy_resources(machine_type, min_replica_count, max_replica_count),
        }
        request = to_message(
            self.vertex.v1.DeployModelRequest,
            {"endpoint": endpoint_name, "deployedModel": body, "trafficSplit": {"0": traffic_percentage}},
        )

        def attempt() -> Any:
            try:
                return self.guard(
                    "deploy model", lambda: self.vertex.endpoints.deploy_model(request=request), create=True
                )
            except OutcomeUnknown as exc:
                raise TransientError(str(exc), vendor=exc.vendor) from exc  # retried; the ID guards it
            except Conflict:
                return None  # our ID is taken: an earlier attempt's deployment exists or is under way

        operation = self.call(attempt, "deploy model")
        if operation is not None:
            response = self.wait_operation(operation, "deploy model")
            deployed_id = str(response.deployed_model.id or deployed_id)
        else:
            self._await_deployed(endpoint_name, deployed_id)
        self.update_job(model=model, endpoint=endpoint_name, deployed_model_id=deployed_id)
        return endpoint_name

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

        def attempt() -> Any:
            try:
                create = self.vertex.endpoints.create_endpoint
                return self.guard("create endpoint", lambda: create(request=request), create=True)
            except OutcomeUnknown as exc:
                raise TransientError(str(exc), vendor=exc.vendor) from exc  # retried; the ID guards it
            except Conflict:
                return None  # our ID is taken: an earlier attempt or run created it (or is creating it)

        operation = self.call(attempt, "create endpoint")
        if operation is None:
            return self._adopt_endpoint(f"{parent}/endpoints/{endpoint_id}", key)
        return str(self.wait_operation(operation, "create endpoint").name)

    def _adopt_endpoint(self, name: str, key: str | None) -> str:
        """The endpoint an earlier create under our ID made, once readable (its create may be in flight)."""

        def readable() -> Any:
            try:
                return self.guard("get endpoint", lambda: self.vertex.endpoints.get_endpoint(name=name))
            except PermanentError as exc:
                if exc.code == 404:
                    return None
                raise

        found = self.wait_until(f"endpoint {name}", readable, timeout=self.reach.operation_timeout)
        owner = found.labels.get(LABEL_KEY, "")
        if key and owner != key:
            # Only a hash collision or someone reusing our ID by hand gets here: never serve on theirs.
            raise Conflict(
                f"Vertex AI endpoint {name} exists but carries submission key {owner!r}, not this job's "
                f"{key!r}; deploy to an explicit endpoint instead",
                vendor="vertex",
            )
        return str(found.name)

    def undeploy(self) -> None:
        """Undeploy the model from its endpoint (the endpoint itself is kept)."""
        endpoint = self.job.resources.get("endpoint")
        deployed = self.job.resources.get("deployed_model_id")
        if not endpoint or not deployed:
            raise JobferryError(f"job {self.job.job_id} is not deployed; call deploy() first")
        operation = self.call(
            lambda: self.guard(
                "undeploy model",
                lambda: self.vertex.endpoints.undeploy_model(endpoint=endpoint, deployed_model_id=deployed),
            ),
            "undeploy model",
        )
        self.wait_operation(operation, "undeploy model")
        self.update_job(deployed_model_id=None)

    # -- online predictions ------------------------------------------------------------------------------

    def prediction_target(self) -> JobRef:
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
