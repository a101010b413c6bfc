"""Endpoints, the models deployed on them and their online predictions."""

from __future__ import annotations

import collections
import copy
import re
from dataclasses import dataclass
from typing import Any

from ._labels import validate_labels
from ._models import Models
from ._operations import TYPE_PREFIX, Operations
from ._runtime import Runtime
from ._schema import check_deployable, check_instances
from ._wire import ApiError, invalid, not_found, precondition

#: ``CreateEndpointRequest.endpoint_id``: a letter, then up to 62 of ``[a-z0-9-]`` ending in a letter or
#: digit; or up to 9 digits with no leading zero (the field's documentation in ``aiplatform_v1``).
ENDPOINT_ID = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?|[1-9][0-9]{0,8}")


def check_traffic_split(split: Any, known: set[str], endpoint: str, *, new_model: bool) -> dict[str, int]:
    """A request's ``trafficSplit`` as ``{id: percent}`` if Vertex would take it; else 400 INVALID_ARGUMENT.

    Keys are DeployedModel IDs on ``endpoint`` (and ``"0"``, the model being deployed, when
    ``new_model``); values are percentages 0..100 that must add up to 100 (the request fields' documentation).
    """
    if not isinstance(split, dict):
        raise invalid("trafficSplit must be a map of DeployedModel IDs to percentages")
    out: dict[str, int] = {}
    for key, value in split.items():
        if not (new_model and key == "0") and key not in known:
            raise invalid(
                f"trafficSplit names DeployedModel {key!r}, which is not deployed on {endpoint}"
                + (' (use "0" for the model being deployed)' if new_model else "")
            )
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
            raise invalid(f"trafficSplit[{key!r}] must be a percentage 0..100, got {value!r}")
        percent = int(value)
        if percent > 100:
            raise invalid(f"trafficSplit[{key!r}] must be a percentage 0..100, got {value!r}")
        out[key] = percent
    if sum(out.values()) != 100:
        raise invalid(f"trafficSplit must add up to 100, got {sum(out.values())} ({out})")
    return out


def already_exists(name: str) -> ApiError:
    """A 409 ALREADY_EXISTS for a create whose resource name is taken."""
    return ApiError(409, f'The resource "{name}" already exists.')


@dataclass
class Deployed:
    """A model deployed on an endpoint."""

    id: str
    model: str
    doc: dict[str, Any]


class Endpoints:
    """Every endpoint, by name, with its deployed models."""

    def __init__(self, runtime: Runtime, operations: Operations, models: Models) -> None:
        self._rt = runtime
        self._operations = operations
        self._models = models
        self.docs: dict[str, dict[str, Any]] = {}
        self.deployed: dict[str, list[Deployed]] = {}
        #: Endpoint name -> DeployedModel IDs whose DeployModel operation is still in flight.
        self._deploying: collections.defaultdict[str, set[str]] = collections.defaultdict(set)
        #: Endpoint names whose CreateEndpoint operation is still in flight.
        self._creating: set[str] = set()

    def create(self, parent: str, body: dict[str, Any], endpoint_id: str = "") -> dict[str, Any]:
        """Starts creating an endpoint (named ``endpoint_id`` when the client chose one); returns the
        operation. A chosen ID that is taken, by an endpoint or a create still in flight, is 409."""
        self._rt.settle()
        if not body.get("displayName"):
            raise invalid("displayName is required")
        if endpoint_id and not ENDPOINT_ID.fullmatch(endpoint_id):
            raise invalid(
                f"Invalid endpoint_id {endpoint_id!r}: it must be a lowercase letter followed by up to 62 "
                "lowercase letters, digits or hyphens, ending in a letter or digit; or up to 9 digits "
                "with no leading zero."
            )
        labels = validate_labels(body.get("labels"))
        with self._rt.lock:
            name = f"{self._rt.canonical(parent)}/endpoints/{endpoint_id or self._rt.new_id()}"
            if name in self.docs or name in self._creating:
                raise already_exists(name)
            self._creating.add(name)

            def apply(t: float) -> dict[str, Any]:
                self._creating.discard(name)
                doc = {k: v for k, v in body.items() if k not in ("deployedModels", "trafficSplit")}
                doc.update(name=name, labels=labels, createTime=self._rt.wall(t), updateTime=self._rt.wall(t))
                doc["etag"] = f"emu-{name.rsplit('/', 1)[-1]}"
                self.docs[name] = doc
                self.deployed[name] = []
                return {"@type": TYPE_PREFIX + "Endpoint", **self.render(name)}

            seconds = self._rt.config.lro_seconds.get("CreateEndpoint", 0.0)
            return self._operations.start(name, "CreateEndpointOperationMetadata", seconds, apply)

    def render(self, name: str) -> dict[str, Any]:
        """The endpoint's JSON with its deployed models and traffic split (call with the lock held)."""
        doc = copy.deepcopy(self.docs[name])
        deployed = self.deployed.get(name, [])
        if deployed:
            doc["deployedModels"] = [copy.deepcopy(d.doc) for d in deployed]
        split = doc.get("trafficSplit") or {}
        if split:
            doc["trafficSplit"] = split
        return doc

    def _find(self, name: str) -> str:
        key = self._rt.canonical(name)
        if key not in self.docs:
            raise not_found(name)
        return key

    def get(self, name: str) -> dict[str, Any]:
        """Gets an endpoint with its deployed models and traffic split."""
        self._rt.settle()
        with self._rt.lock:
            return self.render(self._find(name))

    def deploy_model(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """Starts deploying a model; the endpoint serves it once the operation is done."""
        self._rt.settle()
        spec = body.get("deployedModel")
        if not isinstance(spec, dict) or not spec.get("model"):
            raise invalid("deployedModel.model is required")
        with self._rt.lock:
            key = self._find(endpoint)
            try:
                model = self._models.resolve(str(spec["model"]))
            except ApiError:
                raise invalid(f"Model {spec['model']} does not exist.") from None
            check_deployable(self._models.docs[model], spec)
            deployed_id = str(spec.get("id") or self._rt.new_id())
            # Like Vertex: a client-chosen DeployedModel ID must be unused on the endpoint, counting
            # deployments still in flight; this is what makes a retried deploy safe for clients.
            taken = {d.id for d in self.deployed[key]} | self._deploying[key]
            if deployed_id in taken:
                raise ApiError(409, f"DeployedModel with ID {deployed_id} already exists on {key}.")
            # Vertex: a non-empty split overwrites the endpoint's; it must add up to 100 and name only
            # the new model ("0") and models deployed there. An empty one leaves the split as it is.
            known = {d.id for d in self.deployed[key]}
            given = body.get("trafficSplit")
            split = check_traffic_split(given, known, key, new_model=True) if given else None
            self._deploying[key].add(deployed_id)

            def apply(t: float) -> dict[str, Any]:
                self._deploying[key].discard(deployed_id)
                if key not in self.docs:
                    raise not_found(key)
                doc = {**spec, "id": deployed_id, "model": model, "createTime": self._rt.wall(t)}
                doc.setdefault("displayName", self._models.docs.get(model, {}).get("displayName", ""))
                doc["modelVersionId"] = "1"
                self.deployed[key].append(Deployed(deployed_id, model, doc))
                endpoint_doc = self.docs[key]
                if split:
                    endpoint_doc["trafficSplit"] = {
                        (deployed_id if k == "0" else k): v for k, v in split.items()
                    }
                elif not endpoint_doc.get("trafficSplit"):
                    endpoint_doc["trafficSplit"] = {deployed_id: 100}
                endpoint_doc["updateTime"] = self._rt.wall(t)
                return {"@type": TYPE_PREFIX + "DeployModelResponse", "deployedModel": copy.deepcopy(doc)}

            seconds = self._rt.config.lro_seconds.get("DeployModel", 0.0)
            return self._operations.start(key, "DeployModelOperationMetadata", seconds, apply)

    def undeploy_model(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """Starts undeploying a model from an endpoint.

        As on Vertex, a model is undeployed only if it carries no traffic, or if the request's
        ``trafficSplit`` (which then replaces the endpoint's, adding up to 100 over the models that stay)
        takes its traffic away; the last model of an endpoint goes in any case, leaving the split empty.
        """
        self._rt.settle()
        deployed_id = str(body.get("deployedModelId") or "")
        with self._rt.lock:
            key = self._find(endpoint)
            ids = {d.id for d in self.deployed[key]}
            if deployed_id not in ids:
                raise not_found(f"{key}/deployedModels/{deployed_id}")
            given = body.get("trafficSplit")
            current = {k: int(v) for k, v in (self.docs[key].get("trafficSplit") or {}).items()}
            split = check_traffic_split(given, ids, key, new_model=False) if given else None
            staying = ids - {deployed_id}
            if staying and (split if split is not None else current).get(deployed_id, 0):
                share = (split if split is not None else current)[deployed_id]
                raise precondition(
                    f"DeployedModel {deployed_id} has {share}% of the traffic of {key}; set trafficSplit "
                    "to move it to the other deployed models before undeploying it."
                )

            def apply(t: float) -> dict[str, Any]:
                self.deployed[key] = [d for d in self.deployed.get(key, []) if d.id != deployed_id]
                endpoint_doc = self.docs.get(key)
                if endpoint_doc is not None:
                    remaining = dict(split if split is not None else endpoint_doc.get("trafficSplit") or {})
                    remaining.pop(deployed_id, None)
                    endpoint_doc["trafficSplit"] = remaining if self.deployed[key] else {}
                    endpoint_doc["updateTime"] = self._rt.wall(t)
                return {"@type": TYPE_PREFIX + "UndeployModelResponse"}

            seconds = self._rt.config.lro_seconds.get("UndeployModel", 0.0)
            return self._operations.start(key, "UndeployModelOperationMetadata", seconds, apply)

    def predict(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """Online prediction through the deployed model with the most traffic."""
        self._rt.settle()
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            raise invalid("instances must be a non-empty list")
        with self._rt.lock:
            key = self._find(endpoint)
            deployed = self.deployed.get(key) or []
            if not deployed:
                raise precondition(f"Endpoint {key} does not have any deployed models.")
            split = self.docs[key].get("trafficSplit") or {}
            chosen = max(deployed, key=lambda d: split.get(d.id, 0))
            predictor = self._models.predictor(chosen.model)
            model = self._models.docs.get(chosen.model, {})
        check_instances(predictor, instances)
        return {
            "predictions": [predictor.predict(instance) for instance in instances],
            "deployedModelId": chosen.id,
            "model": chosen.model,
            "modelDisplayName": model.get("displayName", ""),
            "modelVersionId": "1",
        }
