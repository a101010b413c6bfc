"""Serving a trained SageMaker model: CreateModel + CreateEndpointConfig + CreateEndpoint, InvokeEndpoint.

Each resource is named after the job's submission key, so a retry, a rerun or another process deploying
the same job meets the resource that exists instead of creating (and billing) a second endpoint. SageMaker
answers a taken *model* / *endpoint config* / *endpoint* name with ``ValidationException``, the code it
uses for every bad request, so these creates are made safe by looking first and looking again after a
failed create (never by reading the message): a resource that exists under our name is adopted once its
``jobferry-key`` tag is checked. The endpoint's ``Creating -> InService`` is waited for with the engine's
poll loop. ``run`` sends chunks under InvokeEndpoint's 6 MB limit, at most ``concurrency_per_instance`` per
serving instance at once, in order, as JSON (``{"instances": [...]}``) or CSV (one row per instance).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from adapters._errors import (
    Conflict,
    JobNotFound,
    OutcomeUnknown,
    PermanentError,
    SpecError,
    TransientError,
    VendorError,
)
from checkpoint._errors import JobferryError

from .._jobs import JobRef, JobState, JobStatus
from .._serving import OnlinePredictions
from ._base import resource_name

if TYPE_CHECKING:
    from ._base import SageMakerModel

    _Base = SageMakerModel[Any]
else:
    _Base = object  # a mixin: the adapter's own base supplies SageMakerModel

__all__ = ["CONTENT_TYPES", "SageMakerServing"]

CONTENT_TYPES = ("application/json", "text/csv")
_ENDPOINT_STATES = {
    "Creating": JobState.PENDING,
    "Updating": JobState.RUNNING,
    "SystemUpdating": JobState.RUNNING,
    "RollingBack": JobState.RUNNING,
    "InService": JobState.SUCCEEDED,
    "Failed": JobState.FAILED,
    "Deleting": JobState.CANCELLING,
    "OutOfService": JobState.FAILED,
}


class SageMakerServing(OnlinePredictions, _Base):
    """deploy / undeploy / ``run`` for a SageMaker adapter whose job trains a model (mix in first)."""

    def model_artifacts(self) -> str:
        """The ``s3://`` URI of the trained model artefact."""
        raise JobferryError(f"{type(self).__name__} jobs produce no model to deploy")

    def inference_image(self) -> str:
        """The serving container's image."""
        raise JobferryError(f"{type(self).__name__} jobs produce no model to deploy")

    def execution_role(self) -> str:
        """The role the endpoint runs as: the config's, else the one the training job ran as."""
        if self.config is not None and self.config.role_arn:
            return str(self.config.role_arn)
        sm = self.aws.sagemaker
        job = self.api(
            "describe training job", lambda: sm.describe_training_job(TrainingJobName=self.job.job_id)
        )
        return str(job["RoleArn"])

    def _key(self) -> str:
        key = self.record.submission_key if self.record else None
        if not key:
            raise JobferryError(f"job {self.job.job_id} has no submission key to name its endpoint after")
        return key

    def _once(
        self, noun: str, name: str, describe: Callable[[], Any], create: Callable[[], Any]
    ) -> tuple[Any, bool]:
        """Describe, else create, exactly once; a failed create is followed by a look (it may have worked)."""

        def look() -> Any:
            try:
                return self.guard(f"describe {noun}", describe, job_id=name)
            except JobNotFound:
                return None

        def attempt() -> tuple[Any, bool]:
            found = look()
            if found is not None:
                return found, True
            try:
                return self.guard(f"create {noun}", create, create=True), False
            except OutcomeUnknown as exc:
                raise TransientError(str(exc), vendor=exc.vendor) from exc  # retried: the look comes first
            except PermanentError:
                found = look()  # a taken name answers ValidationException: is it there now?
                if found is not None:
                    return found, True
                raise

        got: tuple[Any, bool] = self.call(attempt, f"create {noun}")
        return got

    def _check_owner(self, arn: str, noun: str, name: str) -> None:
        owner = self.call(lambda: self.tagged_key(arn), f"list tags of {name}")
        if owner != self._key():
            # Only someone reusing our name by hand gets here: never serve (or bill) on theirs.
            raise Conflict(
                f"SageMaker {noun} {name} exists but carries submission key {owner!r}, not this job's "
                f"{self._key()!r}; delete it or deploy another job",
                vendor="sagemaker",
            )

    def deploy(
        self,
        instance_type: str = "ml.m5.large",
        instance_count: int = 1,
        content_type: str = "application/json",
        concurrency_per_instance: int = 4,
        *,
        machine_type: str | None = None,
        min_replica_count: int | None = None,
        max_replica_count: int | None = None,
        endpoint: str | None = None,
        traffic_percentage: int = 100,
        wait: bool = True,
    ) -> str:
        """Create the model, endpoint config and endpoint (each exactly once); wait until InService.

        Returns the endpoint's name. Deploying a job already deployed reuses its endpoint. The keyword
        arguments are ``jobferry deploy``'s flags (``--machine-type``, ``--min-replicas``, ...): SageMaker
        serves on a fixed instance count (``min == max``), all traffic to one variant, on an endpoint named
        after the job's submission key. ``wait=False`` returns once CreateEndpoint was accepted (the
        endpoint recorded as ``deploying``): ``run`` before it is InService says so, and ``deploy()`` again
        adopts it by its name and waits.
        """
        if machine_type is not None:
            instance_type = machine_type
        if min_replica_count is not None or max_replica_count is not None:
            low, high = min_replica_count or max_replica_count, max_replica_count or min_replica_count
            if low != high:
                raise SpecError(
                    f"SageMaker endpoints serve on a fixed instance count: give min and max replicas equal "
                    f"(got {min_replica_count!r} and {max_replica_count!r})"
                )
            instance_count = int(low or 1)
        if endpoint is not None:
            raise SpecError(
                f"endpoint {endpoint!r}: SageMaker endpoints are named after the job's submission key "
                "(so that a retry never creates a second one); leave the endpoint out"
            )
        if traffic_percentage != 100:
            raise SpecError(
                f"traffic_percentage {traffic_percentage!r}: a SageMaker deploy sends all traffic (100)"
            )
        if content_type not in CONTENT_TYPES:
            raise SpecError(f"content_type {content_type!r} is not one of {', '.join(CONTENT_TYPES)}")
        if not 1 <= instance_count <= 100:
            raise SpecError(f"instance_count must be 1..100, got {instance_count!r}")
        if not 1 <= concurrency_per_instance <= 64:
            raise SpecError(f"concurrency_per_instance must be 1..64, got {concurrency_per_instance!r}")
        if not instance_type.startswith("ml."):
            raise SpecError(f"instance_type {instance_type!r} is not a SageMaker instance type (ml.*)")
        key = self._key()
        sm = self.aws.sagemaker
        artefact, image, role = self.model_artifacts(), self.inference_image(), self.execution_role()
        tags = self.tags(key)
        model_name = resource_name(key, "model")
        config_name = resource_name(key, "config")
        endpoint_name = resource_name(key, "ep")
        model, existed = self._once(
            "model",
            model_name,
            lambda: sm.describe_model(ModelName=model_name),
            lambda: sm.create_model(
                ModelName=model_name,
                PrimaryContainer={"Image": image, "ModelDataUrl": artefact},
                ExecutionRoleArn=role,
                Tags=tags,
            ),
        )
        if existed:
            self._check_owner(str(model["ModelArn"]), "model", model_name)
        variant = {
            "VariantName": "AllTraffic",
            "ModelName": model_name,
            "InitialInstanceCount": instance_count,
            "InstanceType": instance_type,
            "InitialVariantWeight": 1.0,
        }
        config, existed = self._once(
            "endpoint config",
            config_name,
            lambda: sm.describe_endpoint_config(EndpointConfigName=config_name),
            lambda: sm.create_endpoint_config(
                EndpointConfigName=config_name, ProductionVariants=[variant], Tags=tags
            ),
        )
        if existed:
            self._check_owner(str(config["EndpointConfigArn"]), "endpoint config", config_name)
            # An endpoint config is immutable: it serves with the instances it was made with.
            instance_count = int(
                config["ProductionVariants"][0].get("InitialInstanceCount") or instance_count
            )
        serving, existed = self._once(
            "endpoint",
            endpoint_name,
            lambda: sm.describe_endpoint(EndpointName=endpoint_name),
            lambda: sm.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name, Tags=tags),
        )
        if existed:
            self._check_owner(str(serving["EndpointArn"]), "endpoint", endpoint_name)
        # Recorded before the wait: an interrupted deploy is undeployable, and a rerun adopts it.
        self.update_job(
            model=model_name,
            endpoint_config=config_name,
            endpoint=endpoint_name,
            content_type=content_type,
            serving_concurrency=str(instance_count * concurrency_per_instance),
            deploying=None if wait else "true",
        )
        if wait:
            self._await_in_service(endpoint_name)
        return endpoint_name

    def endpoint_status(self, name: str) -> JobStatus:
        """The endpoint's status as a JobStatus (``InService``: SUCCEEDED; ``Failed`` carries the reason)."""
        sm = self.aws.sagemaker
        found = self.guard("describe endpoint", lambda: sm.describe_endpoint(EndpointName=name), job_id=name)
        raw = str(found.get("EndpointStatus"))
        reason = found.get("FailureReason")
        from .._jobs import JobErrorInfo

        return JobStatus(
            state=_ENDPOINT_STATES.get(raw, JobState.UNKNOWN),
            raw_state=raw,
            error=JobErrorInfo(code=raw, message=str(reason)) if reason else None,
        )

    def _await_in_service(self, name: str) -> None:
        final = self.wait_for(
            f"endpoint {name}", lambda: self.endpoint_status(name), timeout=self.reach.operation_timeout
        )
        self._check_in_service(name, final)

    def _check_in_service(self, name: str, status: JobStatus) -> None:
        """Raise for an endpoint that ended other than InService; clear the ``deploying`` mark if it is."""
        if status.state is not JobState.SUCCEEDED:
            raise PermanentError(
                f"SageMaker endpoint {name} did not come InService: {status.summary()}", vendor="sagemaker"
            )
        if self.job.resources.get("deploying"):
            self.update_job(deploying=None)

    def undeploy(self, *, delete_endpoint: bool = True, wait: bool = True) -> None:
        """Delete the endpoint, its config and the model that :meth:`deploy` created (what exists of them).

        A SageMaker endpoint serves exactly one endpoint config, so undeploying is deleting it:
        ``delete_endpoint`` is there for the interface Vertex shares, and ``False`` is refused. The
        deletes take effect when SageMaker accepts them, so ``wait`` changes nothing.
        """
        del wait  # accepted for the Serving interface: nothing here waits
        if not delete_endpoint:
            raise SpecError(
                "delete_endpoint=False: a SageMaker endpoint cannot outlive its model; undeploy() deletes "
                "the endpoint, its config and the model (valid: delete_endpoint=True, the default)"
            )
        resources = self.job.resources
        if not resources.get("endpoint"):
            raise JobferryError(f"job {self.job.job_id} is not deployed; call deploy() first")
        sm = self.aws.sagemaker
        steps: list[tuple[str, str, Callable[[str], Any]]] = [
            ("endpoint", resources.get("endpoint", ""), lambda n: sm.delete_endpoint(EndpointName=n)),
            (
                "endpoint config",
                resources.get("endpoint_config", ""),
                lambda n: sm.delete_endpoint_config(EndpointConfigName=n),
            ),
            ("model", resources.get("model", ""), lambda n: sm.delete_model(ModelName=n)),
        ]
        for noun, name, delete in steps:
            if not name:
                continue

            def one(noun: str = noun, name: str = name, delete: Callable[[str], Any] = delete) -> None:
                # Already gone (an earlier undeploy, or deleted by hand) is what we want.
                with contextlib.suppress(JobNotFound):
                    self.guard(f"delete {noun}", lambda: delete(name), job_id=name)

            self.call(one, f"delete {noun} {name}")
        self.update_job(
            endpoint=None,
            endpoint_config=None,
            model=None,
            content_type=None,
            serving_concurrency=None,
            deploying=None,
        )

    # -- online predictions ------------------------------------------------------------------------------

    def prediction_target(self) -> JobRef:
        ref = self.job
        if not ref.resources.get("endpoint"):
            raise JobferryError(f"job {ref.job_id} is not deployed to an endpoint; call deploy() first")
        if ref.resources.get("deploying"):
            # Started with deploy(wait=False): one look tells InService from still Creating.
            endpoint = ref.resources["endpoint"]
            status = self.call(lambda: self.endpoint_status(endpoint), f"describe endpoint {endpoint}")
            if not status.is_terminal:
                raise self.deployment_in_progress(f"endpoint {endpoint} ({status.raw_state})")
            self._check_in_service(endpoint, status)
            ref = self.job
        _ = self.aws.runtime  # build the client here, not racing in the prediction threads
        return ref

    def prediction_concurrency(self) -> int:
        served = int(self.job.resources.get("serving_concurrency") or self.policies.max_concurrency)
        return max(1, min(self.policies.max_concurrency, served))

    def predict_chunk(
        self, ref: JobRef, instances: list[Any], parameters: dict[str, Any] | None
    ) -> list[Any]:
        content_type = ref.resources.get("content_type", "application/json")
        if content_type == "text/csv":
            if parameters:
                raise SpecError(
                    "parameters cannot travel in a text/csv request; deploy with application/json"
                )
            body = _csv_rows(instances)
        else:
            envelope: dict[str, Any] = {"instances": instances}
            if parameters is not None:
                envelope["parameters"] = parameters
            body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
        limit = self.policies.max_request_bytes
        if len(body) > limit:
            if len(instances) == 1:
                raise PermanentError(
                    f"one instance takes {len(body)} bytes, more than max_request_bytes={limit} "
                    "(InvokeEndpoint takes 6 MB)",
                    vendor="sagemaker",
                )
            half = len(instances) // 2
            return self.predict_chunk(ref, instances[:half], parameters) + self.predict_chunk(
                ref, instances[half:], parameters
            )
        runtime = self.aws.runtime
        endpoint = ref.resources["endpoint"]
        reply = self.guard(
            "invoke endpoint",
            lambda: runtime.invoke_endpoint(
                EndpointName=endpoint, ContentType=content_type, Accept=content_type, Body=body
            ),
        )
        try:
            raw = reply["Body"].read()
        except VendorError:
            raise
        except Exception as exc:  # the body streams after the headers: a broken read is a lost answer
            raise TransientError(
                f"SageMaker invoke endpoint: reading the answer failed: {exc}", vendor="sagemaker"
            ) from exc
        return _parse_predictions(raw, content_type)


def _csv_rows(instances: list[Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for instance in instances:
        if isinstance(instance, dict):
            raise SpecError("a text/csv instance is a list of values (one row), not an object")
        writer.writerow(instance if isinstance(instance, list | tuple) else [instance])
    return out.getvalue().encode()


def _parse_predictions(raw: bytes, content_type: str) -> list[Any]:
    text = raw.decode("utf-8")
    if content_type == "text/csv":
        rows = [line for line in text.splitlines() if line.strip()]
        return [_number(row) for row in rows]
    data = json.loads(text)
    if isinstance(data, dict):
        predictions = data.get("predictions")
        if isinstance(predictions, list):
            return predictions
    if isinstance(data, list):
        return data
    raise TransientError(
        f"SageMaker invoke endpoint answered JSON without predictions: {text[:200]}", vendor="sagemaker"
    )


def _number(row: str) -> Any:
    cells = next(csv.reader([row]))
    values: list[Any] = []
    for cell in cells:
        try:
            values.append(float(cell))
        except ValueError:
            values.append(cell)
    return values[0] if len(values) == 1 else values
