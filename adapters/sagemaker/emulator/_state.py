"""The emulator's resources and their life cycles, on an injected clock.

Training jobs: ``InProgress`` with SecondaryStatus ``Starting -> Downloading -> Training -> Uploading``, then
``Completed`` (the model is fitted on the ``train`` channel's CSV as the job completes), ``Failed`` (a
``FailureReason``), or ``Stopping -> Stopped`` after StopTrainingJob (``MaxRuntimeExceeded`` when the
stopping condition ends it). Endpoints: ``Creating -> InService`` (``Failed`` when the model cannot load).
Transform jobs: ``InProgress -> Completed`` writing ``<input>.out`` per input object.

Scripting: the tag or hyperparameter ``emulator-outcome`` = ``fail`` makes a job fail (AlgorithmError);
``emulator-seconds`` sets its Training phase in SageMaker seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._config import SageMakerEmulatorConfig
from ._model import LinearModel, TrainingError
from ._storage import Buckets, StorageError

OUTCOME_TAG = "emulator-outcome"
SECONDS_TAG = "emulator-seconds"


class ApiError(Exception):
    """An error answered in SageMaker's JSON shape: ``{"__type": code, "message": ...}``."""

    def __init__(
        self, code: str, message: str, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.headers = headers or {}


def validation(message: str) -> ApiError:
    return ApiError("ValidationException", message)


@dataclass
class TrainingJob:
    name: str
    arn: str
    request: dict[str, Any]
    created: float
    phases: list[tuple[str, float]]  # (secondary status, real seconds) while InProgress
    outcome: str
    stopped_at: float | None = None
    done: dict[str, Any] | None = None  # the fields the job ended with (status, secondary, times, outputs)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    forced: dict[str, str] | None = None  # a status reported as is (State.force_status)


@dataclass
class Endpoint:
    name: str
    arn: str
    config: str
    created: float
    tags: list[dict[str, str]]
    failure: str | None = None


@dataclass
class TransformJob:
    name: str
    arn: str
    request: dict[str, Any]
    created: float
    stopped_at: float | None = None
    done: dict[str, Any] | None = None


def _tag_map(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value", "")) for t in tags or ()}


class State:
    """Every resource of one emulated account and region."""

    def __init__(self, config: SageMakerEmulatorConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.buckets = Buckets(config.bucket_map, config.data_dir)
        self.training_jobs: dict[str, TrainingJob] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.endpoint_configs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.transform_jobs: dict[str, TransformJob] = {}
        self.tags: dict[str, list[dict[str, str]]] = {}
        self._loaded: dict[str, LinearModel] = {}

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.config.region}:{self.config.account}:{kind}/{name.lower()}"

    def real(self, sagemaker_seconds: float) -> float:
        """Real (clock) seconds for a SageMaker duration."""
        return sagemaker_seconds / self.config.speedup

    # -- training jobs --------------------------------------------------------------------------------------

    def create_training_job(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req["TrainingJobName"]
        with self.lock:
            if name in self.training_jobs:
                raise ApiError(
                    "ResourceInUse",
                    "Training job names must be unique within an AWS account and region, and a training job "
                    f"with this name already exists ({self.training_jobs[name].arn})",
                )
            tags = req.get("Tags") or []
            scripted = {**(req.get("HyperParameters") or {}), **_tag_map(tags)}
            phases = self.config.training
            training = phases.training
            if SECONDS_TAG in scripted:
                try:
                    training = float(scripted[SECONDS_TAG])
                except ValueError:
                    raise validation(f"{SECONDS_TAG} must be a number of seconds") from None
            job = TrainingJob(
                name=name,
                arn=self.arn("training-job", name),
                request=req,
                created=self.clock(),
                phases=[
                    ("Starting", self.real(phases.starting)),
                    ("Downloading", self.real(phases.downloading)),
                    ("Training", self.real(training)),
                    ("Uploading", self.real(phases.uploading)),
                ],
                outcome=scripted.get(OUTCOME_TAG, "succeed"),
            )
            self.training_jobs[name] = job
            self.tags[job.arn] = list(tags)
            return {"TrainingJobArn": job.arn}

    def _training_job(self, name: str) -> TrainingJob:
        job = self.training_jobs.get(name)
        if job is None:
            raise validation("Requested resource not found.")
        return job

    def _phase(self, job: TrainingJob, now: float) -> tuple[str, float, float] | None:
        """The current (secondary status, its start) while InProgress, None once the phases are over."""
        start = job.created
        for status, seconds in job.phases:
            if now < start + seconds:
                return status, start, start + seconds
            start += seconds
        return None

    def _settle_training(self, job: TrainingJob, now: float) -> None:
        if job.done is not None:
            return
        limit = job.request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
        started = job.created + job.phases[0][1]
        if job.stopped_at is not None:
            if now >= job.stopped_at + self.real(self.config.stop_seconds):
                end = job.stopped_at + self.real(self.config.stop_seconds)
                job.done = {"TrainingJobStatus": "Stopped", "SecondaryStatus": "Stopped", "end": end}
                job.transitions.append(
                    {"Status": "Stopped", "StartTime": end, "StatusMessage": "Training job stopped."}
                )
            return
        if (
            limit is not None
            and now >= started + self.real(float(limit))
            and self._phase(job, now) is not None
        ):
            end = started + self.real(float(limit))
            job.done = {
                "TrainingJobStatus": "Stopped",
                "SecondaryStatus": "MaxRuntimeExceeded",
                "end": end,
                "FailureReason": f"Training job exceeded MaxRuntimeInSeconds provided ({limit} s).",
            }
            return
        if self._phase(job, now) is not None:
            return
        end = job.created + sum(s for _, s in job.phases)
        if job.outcome == "fail":
            job.done = {
                "TrainingJobStatus": "Failed",
                "SecondaryStatus": "Failed",
                "end": end,
                "FailureReason": "AlgorithmError: the emulator was asked to fail this job "
                "(emulator-outcome=fail)",
            }
            return
        try:
            model = self._fit(job.request)
            out = job.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
            artefact = f"{out}/{job.name}/output/model.tar.gz"
            self.buckets.write(artefact, model.to_tar_gz())
        except (TrainingError, StorageError) as exc:
            job.done = {
                "TrainingJobStatus": "Failed",
                "SecondaryStatus": "Failed",
                "end": end,
                "FailureReason": f"ClientError: {exc}",
            }
            return
        job.done = {
            "TrainingJobStatus": "Completed",
            "SecondaryStatus": "Completed",
            "end": end,
            "ModelArtifacts": {"S3ModelArtifacts": artefact},
            "FinalMetricDataList": [
                {"MetricName": "train:mse", "Value": model.mse, "Timestamp": end},
                {"MetricName": "train:rows", "Value": float(model.rows), "Timestamp": end},
            ],
        }

    def _fit(self, req: dict[str, Any]) -> LinearModel:
        channels = {c["ChannelName"]: c for c in req.get("InputDataConfig") or ()}
        channel = channels.get("train") or next(iter(channels.values()), None)
        if channel is None:
            raise TrainingError("no input channel to train on (give a 'train' channel)")
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        data = b"".join(body for _, body in self.buckets.read_prefix(uri))
        return LinearModel.fit(data)

    def describe_training_job(self, name: str) -> dict[str, Any]:
        with self.lock:
            job = self._training_job(name)
            now = self.clock()
            self._settle_training(job, now)
            req = job.request
            out: dict[str, Any] = {
                "TrainingJobName": job.name,
                "TrainingJobArn": job.arn,
                "AlgorithmSpecification": req["AlgorithmSpecification"],
                "RoleArn": req["RoleArn"],
                "OutputDataConfig": req["OutputDataConfig"],
                "ResourceConfig": req["ResourceConfig"],
                "StoppingCondition": req["StoppingCondition"],
                "CreationTime": job.created,
                "LastModifiedTime": now,
                "ModelArtifacts": {"S3ModelArtifacts": ""},
            }
            for key in ("HyperParameters", "InputDataConfig", "Environment", "EnableManagedSpotTraining"):
                if key in req:
                    out[key] = req[key]
            transitions: list[dict[str, Any]] = []
            for status, start, end in self._walk(job, now):
                transitions.append(
                    {
                        "Status": status,
                        "StartTime": start,
                        "EndTime": end,
                        "StatusMessage": f"{status} (emulator)",
                    }
                )
            if job.done is not None:
                done = job.done
                out["TrainingJobStatus"] = done["TrainingJobStatus"]
                out["SecondaryStatus"] = done["SecondaryStatus"]
                out["TrainingEndTime"] = done["end"]
                for key in ("FailureReason", "ModelArtifacts", "FinalMetricDataList"):
                    if key in done:
                        out[key] = done[key]
                transitions.append(
                    {
                        "Status": done["SecondaryStatus"],
                        "StartTime": done["end"],
                        "StatusMessage": f"{done['SecondaryStatus']} (emulator)",
                    }
                )
            elif job.stopped_at is not None:
                out["TrainingJobStatus"] = "Stopping"
                out["SecondaryStatus"] = "Stopping"
            else:
                phase = self._phase(job, now)
                assert phase is not None
                out["TrainingJobStatus"] = "InProgress"
                out["SecondaryStatus"] = phase[0]
            if now >= job.created + job.phases[0][1]:
                out["TrainingStartTime"] = job.created + job.phases[0][1]
            out["SecondaryStatusTransitions"] = transitions
            out.update(job.forced or {})
            return out

    def _walk(self, job: TrainingJob, now: float) -> list[tuple[str, float, float | None]]:
        end_at = now
        if job.done is not None:
            end_at = min(now, job.done["end"])
        elif job.stopped_at is not None:
            end_at = job.stopped_at
        out: list[tuple[str, float, float | None]] = []
        start = job.created
        for status, seconds in job.phases:
            if start > end_at:
                break
            end = start + seconds
            out.append((status, start, end if end <= end_at else None))
            start = end
        return out

    def force_status(self, name: str, status: str | None, secondary: str | None = None) -> None:
        """Report ``status`` / ``secondary`` for the job as they are (None: back to its own), e.g. a status
        newer than the client knows; the job's own progress goes on underneath."""
        with self.lock:
            job = self._training_job(name)
            job.forced = (
                None
                if status is None
                else {"TrainingJobStatus": status, "SecondaryStatus": secondary or status}
            )

    def stop_training_job(self, name: str) -> None:
        with self.lock:
            job = self._training_job(name)
            self._settle_training(job, self.clock())
            if job.done is not None:
                raise validation(
                    "The request was rejected because the training job is in status "
                    f"{job.done['TrainingJobStatus']}."
                )
            if job.stopped_at is None:
                job.stopped_at = self.clock()

    # -- models, endpoint configs, endpoints -------------------------------------------------------------

    def create_model(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req["ModelName"]
        with self.lock:
            arn = self.arn("model", name)
            if name in self.models:
                raise validation(f'Cannot create already existing model "{arn}".')
            container = req.get("PrimaryContainer") or (req.get("Containers") or [None])[0]
            if not container or not container.get("Image"):
                raise validation("PrimaryContainer.Image is required.")
            self.models[name] = {**req, "ModelArn": arn, "CreationTime": self.clock()}
            self.tags[arn] = list(req.get("Tags") or [])
            return {"ModelArn": arn}

    def describe_model(self, name: str) -> dict[str, Any]:
        with self.lock:
            model = self.models.get(name)
            if model is None:
                raise validation(f'Could not find model "{self.arn("model", name)}".')
            return {k: v for k, v in model.items() if k != "Tags"}

    def delete_model(self, name: str) -> None:
        with self.lock:
            if self.models.pop(name, None) is None:
                raise validation(f'Could not find model "{self.arn("model", name)}".')

    def create_endpoint_config(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req["EndpointConfigName"]
        with self.lock:
            arn = self.arn("endpoint-config", name)
            if name in self.endpoint_configs:
                raise validation(f'Cannot create already existing endpoint configuration "{arn}".')
            variants = req.get("ProductionVariants") or []
            if not variants:
                raise validation("ProductionVariants must hold at least one variant.")
            for v in variants:
                if v.get("ModelName") not in self.models:
                    raise validation(f'Could not find model "{self.arn("model", str(v.get("ModelName")))}".')
            self.endpoint_configs[name] = {**req, "EndpointConfigArn": arn, "CreationTime": self.clock()}
            self.tags[arn] = list(req.get("Tags") or [])
            return {"EndpointConfigArn": arn}

    def describe_endpoint_config(self, name: str) -> dict[str, Any]:
        with self.lock:
            config = self.endpoint_configs.get(name)
            if config is None:
                raise validation(
                    f'Could not find endpoint configuration "{self.arn("endpoint-config", name)}".'
                )
            return {k: v for k, v in config.items() if k != "Tags"}

    def delete_endpoint_config(self, name: str) -> None:
        with self.lock:
            if self.endpoint_configs.pop(name, None) is None:
                raise validation(
                    f'Could not find endpoint configuration "{self.arn("endpoint-config", name)}".'
                )

    def create_endpoint(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req["EndpointName"]
        with self.lock:
            arn = self.arn("endpoint", name)
            if name in self.endpoints:
                raise validation(f'Cannot create already existing endpoint "{arn}".')
            config = self.endpoint_configs.get(req["EndpointConfigName"])
            if config is None:
                raise validation(f'Could not find endpoint configuration "{req["EndpointConfigName"]}".')
            failure = None
            try:
                self._load(self.models[config["ProductionVariants"][0]["ModelName"]])
            except (KeyError, TrainingError, StorageError, OSError) as exc:
                failure = (
                    "The primary container for production variant AllTraffic did not pass the ping "
                    f"health check: {exc}"
                )
            endpoint = Endpoint(
                name, arn, req["EndpointConfigName"], self.clock(), list(req.get("Tags") or []), failure
            )
            self.endpoints[name] = endpoint
            self.tags[arn] = endpoint.tags
            return {"EndpointArn": arn}

    def _endpoint_status(self, ep: Endpoint) -> str:
        if self.clock() < ep.created + self.real(self.config.endpoint_seconds):
            return "Creating"
        return "Failed" if ep.failure else "InService"

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        with self.lock:
            ep = self.endpoints.get(name)
            if ep is None:
                raise validation(f'Could not find endpoint "{self.arn("endpoint", name)}".')
            status = self._endpoint_status(ep)
            out: dict[str, Any] = {
                "EndpointName": ep.name,
                "EndpointArn": ep.arn,
                "EndpointConfigName": ep.config,
                "EndpointStatus": status,
                "CreationTime": ep.created,
                "LastModifiedTime": self.clock(),
            }
            if status == "Failed":
                out["FailureReason"] = ep.failure
            if status == "InService":
                config = self.endpoint_configs.get(ep.config) or {}
                out["ProductionVariants"] = [
                    {
                        "VariantName": v["VariantName"],
                        "CurrentInstanceCount": v.get("InitialInstanceCount", 1),
                    }
                    for v in config.get("ProductionVariants", [])
                ]
            return out

    def delete_endpoint(self, name: str) -> None:
        with self.lock:
            if self.endpoints.pop(name, None) is None:
                raise validation(f'Could not find endpoint "{self.arn("endpoint", name)}".')

    def _load(self, model: dict[str, Any]) -> LinearModel:
        container = model.get("PrimaryContainer") or model["Containers"][0]
        uri = container.get("ModelDataUrl")
        if not uri:
            raise TrainingError("the model has no ModelDataUrl")
        loaded = self._loaded.get(uri)
        if loaded is None:
            loaded = self._loaded[uri] = LinearModel.from_tar_gz(self.buckets.read(uri))
        return loaded

    def serving_model(self, endpoint: str) -> LinearModel:
        """The model an InService endpoint answers with."""
        with self.lock:
            ep = self.endpoints.get(endpoint)
            if ep is None:
                raise ApiError(
                    "ValidationError", f"Endpoint {endpoint} of account {self.config.account} not found."
                )
            if self._endpoint_status(ep) != "InService":
                raise ApiError(
                    "ValidationError",
                    f"Endpoint {endpoint} is not in service (status {self._endpoint_status(ep)}).",
                )
            config = self.endpoint_configs[ep.config]
            return self._load(self.models[config["ProductionVariants"][0]["ModelName"]])

    # -- transform jobs -------------------------------------------------------------------------------------

    def create_transform_job(self, req: dict[str, Any]) -> dict[str, Any]:
        name = req["TransformJobName"]
        with self.lock:
            if name in self.transform_jobs:
                raise ApiError(
                    "ResourceInUse",
                    "Job name must be unique within an AWS account and region, and a job with this name "
                    f"already exists ({self.transform_jobs[name].arn})",
                )
            if req.get("ModelName") not in self.models:
                raise validation(f'Could not find model "{self.arn("model", str(req.get("ModelName")))}".')
            job = TransformJob(name, self.arn("transform-job", name), req, self.clock())
            self.transform_jobs[name] = job
            self.tags[job.arn] = list(req.get("Tags") or [])
            return {"TransformJobArn": job.arn}

    def _settle_transform(self, job: TransformJob, now: float) -> None:
        if job.done is not None:
            return
        if job.stopped_at is not None:
            if now >= job.stopped_at + self.real(self.config.stop_seconds):
                job.done = {
                    "TransformJobStatus": "Stopped",
                    "end": job.stopped_at + self.real(self.config.stop_seconds),
                }
            return
        end = job.created + self.real(self.config.transform_seconds)
        if now < end:
            return
        req = job.request
        src = req["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        out = req["TransformOutput"]["S3OutputPath"].rstrip("/")
        try:
            model = self._load(self.models[req["ModelName"]])
            base = src.rstrip("/")
            for uri, body in self.buckets.read_prefix(src):
                rows = [r for r in body.decode("utf-8").splitlines() if r.strip()]
                answers = [repr(model.predict([float(c) for c in r.split(",")])) for r in rows]
                rel = uri[len(base) :].lstrip("/") or uri.rsplit("/", 1)[-1]
                self.buckets.write(f"{out}/{rel}.out", ("\n".join(answers) + "\n").encode())
        except (KeyError, TrainingError, StorageError, ValueError) as exc:
            job.done = {"TransformJobStatus": "Failed", "end": end, "FailureReason": f"ClientError: {exc}"}
            return
        job.done = {"TransformJobStatus": "Completed", "end": end}

    def describe_transform_job(self, name: str) -> dict[str, Any]:
        with self.lock:
            job = self.transform_jobs.get(name)
            if job is None:
                raise validation("Could not find requested job with name " + name)
            now = self.clock()
            self._settle_transform(job, now)
            req = job.request
            out: dict[str, Any] = {
                "TransformJobName": job.name,
                "TransformJobArn": job.arn,
                "ModelName": req["ModelName"],
                "TransformInput": req["TransformInput"],
                "TransformOutput": req["TransformOutput"],
                "TransformResources": req["TransformResources"],
                "CreationTime": job.created,
                "TransformStartTime": job.created,
            }
            if job.done is not None:
                out["TransformJobStatus"] = job.done["TransformJobStatus"]
                out["TransformEndTime"] = job.done["end"]
                if "FailureReason" in job.done:
                    out["FailureReason"] = job.done["FailureReason"]
            else:
                out["TransformJobStatus"] = "Stopping" if job.stopped_at is not None else "InProgress"
            return out

    def stop_transform_job(self, name: str) -> None:
        with self.lock:
            job = self.transform_jobs.get(name)
            if job is None:
                raise validation("Could not find requested job with name " + name)
            self._settle_transform(job, self.clock())
            if job.done is None and job.stopped_at is None:
                job.stopped_at = self.clock()

    # -- lists ---------------------------------------------------------------------------------------------

    def list_training_jobs(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        """ListTrainingJobs summaries (NameContains, StatusEquals), newest first."""
        with self.lock:
            out = []
            for job in sorted(self.training_jobs.values(), key=lambda j: j.created, reverse=True):
                if req.get("NameContains") and str(req["NameContains"]) not in job.name:
                    continue
                d = self.describe_training_job(job.name)
                if req.get("StatusEquals") and d["TrainingJobStatus"] != req["StatusEquals"]:
                    continue
                keys = (
                    "TrainingJobName",
                    "TrainingJobArn",
                    "CreationTime",
                    "TrainingEndTime",
                    "LastModifiedTime",
                )
                out.append({k: d[k] for k in (*keys, "TrainingJobStatus", "SecondaryStatus") if k in d})
            return out

    def list_transform_jobs(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        """ListTransformJobs summaries (NameContains, StatusEquals), newest first."""
        with self.lock:
            out = []
            for job in sorted(self.transform_jobs.values(), key=lambda j: j.created, reverse=True):
                if req.get("NameContains") and str(req["NameContains"]) not in job.name:
                    continue
                d = self.describe_transform_job(job.name)
                if req.get("StatusEquals") and d["TransformJobStatus"] != req["StatusEquals"]:
                    continue
                keys = ("TransformJobName", "TransformJobArn", "CreationTime", "TransformEndTime")
                out.append({k: d[k] for k in (*keys, "TransformJobStatus", "FailureReason") if k in d})
            return out

    def list_endpoints(self) -> list[dict[str, Any]]:
        """ListEndpoints summaries."""
        with self.lock:
            fields = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")
            return [{k: self.describe_endpoint(n)[k] for k in fields} for n in sorted(self.endpoints)]

    def list_models(self) -> list[dict[str, Any]]:
        """ListModels summaries."""
        with self.lock:
            return [
                {k: m[k] for k in ("ModelName", "ModelArn", "CreationTime")} for m in self.models.values()
            ]

    def add_tags(self, arn: str, tags: list[dict[str, str]]) -> list[dict[str, str]]:
        """AddTags: a key given again replaces its value."""
        with self.lock:
            if arn not in self.tags:
                raise validation(f"Resource {arn} not found.")
            merged = {**_tag_map(self.tags[arn]), **_tag_map(tags)}
            self.tags[arn][:] = [{"Key": k, "Value": v} for k, v in merged.items()]
            return list(tags)

    def delete_tags(self, arn: str, keys: list[str]) -> None:
        """DeleteTags."""
        with self.lock:
            if arn not in self.tags:
                raise validation(f"Resource {arn} not found.")
            self.tags[arn][:] = [t for t in self.tags[arn] if t.get("Key") not in set(keys)]

    # -- tags and search ------------------------------------------------------------------------------------

    def list_tags(self, arn: str) -> list[dict[str, str]]:
        with self.lock:
            if arn not in self.tags:
                raise validation(f"Resource {arn} not found.")
            return list(self.tags[arn])

    def search(self, resource: str, expression: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        """``Search`` over training or transform jobs: ``Tags.KEY`` Equals filters (ANDed), newest first."""
        kinds: dict[str, tuple[dict[str, Any], Callable[[str], dict[str, Any]]]] = {
            "TrainingJob": (self.training_jobs, self.describe_training_job),
            "TransformJob": (self.transform_jobs, self.describe_transform_job),
        }
        if resource not in kinds:
            raise validation(
                f"Resource {resource!r} is not searchable by this emulator (TrainingJob, TransformJob)."
            )
        filters = expression.get("Filters") or []
        for f in filters:
            if not str(f.get("Name", "")).startswith("Tags.") or f.get("Operator", "Equals") != "Equals":
                raise validation("this emulator's Search takes Tags.KEY Equals filters only")
        table, describe = kinds[resource]
        with self.lock:
            jobs = sorted(table.values(), key=lambda j: j.created, reverse=True)
            out = []
            for job in jobs:
                tags = _tag_map(self.tags.get(job.arn))
                if all(tags.get(f["Name"].removeprefix("Tags.")) == f.get("Value") for f in filters):
                    out.append({resource: {**describe(job.name), "Tags": self.tags.get(job.arn, [])}})
                if len(out) >= limit:
                    break
            return out
