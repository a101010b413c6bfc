"""A SageMaker training job as an external job: ``CreateTrainingJob`` through boto3.

The job's name is derived from the submission key (:func:`~adapters.sagemaker._base.resource_name`), so a
create repeated after a lost response, a crash or a racing process answers ``ResourceInUse`` and the job
is adopted; the job is tagged with the key as well, and :meth:`find_job` falls back to ``Search`` on the
tag. ``DescribeTrainingJob`` is mapped by table from (``TrainingJobStatus``, ``SecondaryStatus``):
Stopping / Stopped are cancellation, never failure; ``FailureReason`` is carried. Outputs: the model
artefact (``ModelArtifacts.S3ModelArtifacts``) and the final metrics (``FinalMetricDataList``).

Training parameters (``TrainPluginInput.training_params``) join ``config.hyperparameters``; SageMaker
takes string values only, so anything else is sent as JSON (``0.1``, ``[64,32]``, ``true``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adapters._errors import Conflict, JobIdentityMismatch, JobNotFound, SpecError

from .._jobs import JobErrorInfo, JobRef, JobState, JobStatus, StateTable
from .._messages import TrainPluginInput
from ._base import TAG_KEY, SageMakerConfig, SageMakerModel, check_s3, resource_name
from ._serving import SageMakerServing

__all__ = [
    "TRAINING_STATES",
    "Channel",
    "SageMakerTrainingJob",
    "SageMakerTrainingJobConfig",
    "training_status",
]

#: TrainingJobStatus alone.
TRAINING_STATES = StateTable(
    {
        "InProgress": JobState.RUNNING,
        "Completed": JobState.SUCCEEDED,
        "Failed": JobState.FAILED,
        "Stopping": JobState.CANCELLING,
        "Stopped": JobState.CANCELLED,
    }
)
#: (TrainingJobStatus, SecondaryStatus) pairs that say more than the status alone.
SECONDARY_STATES: dict[tuple[str, str], JobState] = {
    ("InProgress", "Starting"): JobState.PENDING,
    ("InProgress", "Pending"): JobState.PENDING,
    ("InProgress", "LaunchingMLInstances"): JobState.PENDING,
    ("InProgress", "PreparingTrainingStack"): JobState.PENDING,
    ("InProgress", "Downloading"): JobState.RUNNING,
    ("InProgress", "DownloadingTrainingImage"): JobState.RUNNING,
    ("InProgress", "Training"): JobState.RUNNING,
    ("InProgress", "Uploading"): JobState.RUNNING,
    ("InProgress", "Restarting"): JobState.RUNNING,
    ("InProgress", "Updating"): JobState.RUNNING,
    ("InProgress", "Interrupted"): JobState.RUNNING,  # managed spot: waits for capacity, then resumes
    # The stopping condition (MaxRuntimeInSeconds / MaxWaitTimeInSeconds) ended it: expired, not stopped.
    ("Stopped", "MaxRuntimeExceeded"): JobState.EXPIRED,
    ("Stopped", "MaxWaitTimeExceeded"): JobState.EXPIRED,
    ("Failed", "MaxRuntimeExceeded"): JobState.EXPIRED,
    ("Failed", "MaxWaitTimeExceeded"): JobState.EXPIRED,
}


def map_state(status: str | None, secondary: str | None) -> JobState:
    """The uniform state of a (TrainingJobStatus, SecondaryStatus) pair: its entry, else the status'."""
    if status is not None and secondary is not None and (status, secondary) in SECONDARY_STATES:
        return SECONDARY_STATES[(status, secondary)]
    return TRAINING_STATES.map(status)


def _time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def training_status(job: dict[str, Any]) -> JobStatus:
    """A JobStatus from a DescribeTrainingJob answer."""
    status, secondary = job.get("TrainingJobStatus"), job.get("SecondaryStatus")
    outputs: dict[str, Any] = {}
    artefact = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if artefact:
        outputs["modelArtifacts"] = artefact
    metrics = {str(m["MetricName"]): m.get("Value") for m in job.get("FinalMetricDataList") or ()}
    if metrics:
        outputs["finalMetrics"] = metrics
    transitions = job.get("SecondaryStatusTransitions") or []
    message = transitions[-1].get("StatusMessage") if transitions else None
    reason = job.get("FailureReason")
    state = map_state(status, secondary)
    error = None
    if reason or state is JobState.FAILED:
        error = JobErrorInfo(code=str(secondary or status), message=str(reason or ""))
    return JobStatus(
        state=state,
        raw_state=f"{status}/{secondary}" if secondary else status,
        message=message or secondary,
        error=error,
        create_time=_time(job.get("CreationTime")),
        start_time=_time(job.get("TrainingStartTime")),
        end_time=_time(job.get("TrainingEndTime")),
        update_time=_time(job.get("LastModifiedTime")),
        outputs=outputs,
    )


class Channel(BaseModel):
    """One input channel: where its data is and how SageMaker hands it to the container.

    Attributes:
        s3_uri: the ``s3://`` prefix (or manifest) of the data.
        content_type: e.g. ``text/csv``.
        distribution: ``FullyReplicated`` or ``ShardedByS3Key``.
        input_mode: ``File``, ``Pipe`` or ``FastFile`` (default: the algorithm's).
    """

    model_config = ConfigDict(extra="forbid")

    s3_uri: str
    content_type: str | None = None
    distribution: str = Field(default="FullyReplicated", pattern="^(FullyReplicated|ShardedByS3Key)$")
    input_mode: str | None = Field(default=None, pattern="^(File|Pipe|FastFile)$")

    @field_validator("s3_uri")
    @classmethod
    def _s3(cls, value: str) -> str:
        return check_s3("channel s3_uri", value)


class SageMakerTrainingJobConfig(SageMakerConfig):
    """Settings of a SageMaker training job.

    Give either ``training_image`` (your container, or a built-in algorithm's image) or
    ``algorithm_name`` (a Marketplace / own algorithm resource), not both.

    Attributes:
        role_arn: the IAM role the job runs as (required).
        training_image: the training container's image URI.
        algorithm_name: the algorithm resource's name or ARN.
        training_input_mode: ``File`` (default), ``Pipe`` or ``FastFile``.
        instance_type: e.g. ``ml.m5.xlarge``.
        instance_count: instances of the cluster.
        volume_size_gb: the ML storage volume of each instance.
        volume_kms_key_id: a KMS key for that volume.
        max_runtime_seconds: the stopping condition (``MaxRuntimeInSeconds``).
        max_wait_seconds: with managed spot training, the most the job may wait plus run.
        use_spot_instances: managed spot training.
        channels: input channels by name (``train``, ``validation``, ...).
        output_path: ``s3://`` prefix for the model artefact.
        output_kms_key_id: a KMS key for the artefact.
        hyperparameters: the algorithm's hyperparameters (strings; training params are added).
        inference_image: the serving container for ``deploy`` (default: ``training_image``).
        environment: environment variables of the training container.
    """

    role_arn: str
    training_image: str | None = Field(default=None, min_length=1)
    algorithm_name: str | None = Field(default=None, min_length=1)
    training_input_mode: str = Field(default="File", pattern="^(File|Pipe|FastFile)$")
    instance_type: str = Field(default="ml.m5.large", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    instance_count: int = Field(default=1, ge=1, le=100)
    volume_size_gb: int = Field(default=30, ge=1, le=16384)
    volume_kms_key_id: str | None = None
    max_runtime_seconds: int = Field(default=86400, ge=1, le=2419200)
    max_wait_seconds: int | None = Field(default=None, ge=1)
    use_spot_instances: bool = False
    channels: dict[str, Channel] = Field(default_factory=dict)
    output_path: str
    output_kms_key_id: str | None = None
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    inference_image: str | None = Field(default=None, min_length=1)
    environment: dict[str, str] = Field(default_factory=dict)

    @field_validator("output_path")
    @classmethod
    def _output(cls, value: str) -> str:
        return check_s3("output_path", value)

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, channels: dict[str, Channel]) -> dict[str, Channel]:
        for name in channels:
            if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
                raise ValueError(f"channel name {name!r} must be 1-64 of letters, digits and -_.")
        if len(channels) > 20:
            raise ValueError(f"{len(channels)} channels given; SageMaker allows 20")
        return channels

    @model_validator(mode="after")
    def _one_program(self) -> SageMakerTrainingJobConfig:
        if (self.training_image is None) == (self.algorithm_name is None):
            raise ValueError(
                "give exactly one of training_image or algorithm_name "
                f"(got training_image={self.training_image!r}, algorithm_name={self.algorithm_name!r})"
            )
        if self.max_wait_seconds is not None and not self.use_spot_instances:
            raise ValueError("max_wait_seconds applies to managed spot training only: set use_spot_instances")
        if self.use_spot_instances and (self.max_wait_seconds or 0) < self.max_runtime_seconds:
            raise ValueError(
                "managed spot training needs max_wait_seconds >= max_runtime_seconds "
                f"({self.max_runtime_seconds})"
            )
        return self


def hyperparameters(given: dict[str, str], params: dict[str, Any] | None) -> dict[str, str]:
    """The config's hyperparameters and the training params, all as strings (JSON for non-strings)."""
    out = dict(given)
    for key, value in (params or {}).items():
        if not key or len(key) > 256:
            raise SpecError(f"training_params key {key!r} cannot be a SageMaker hyperparameter (1-256 chars)")
        out[key] = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        if len(out[key]) > 2500:
            raise SpecError(f"training_params {key!r} is {len(out[key])} characters; SageMaker allows 2500")
    if len(out) > 100:
        raise SpecError(f"{len(out)} hyperparameters; SageMaker allows 100")
    return out


class SageMakerTrainingJob(SageMakerServing, SageMakerModel[SageMakerTrainingJobConfig]):
    """A SageMaker training job: submit, status, cancel (StopTrainingJob), reattach; deploy and ``run``."""

    adapter_name: ClassVar[str] = "sagemaker-training-job"
    config_class: ClassVar[type[SageMakerTrainingJobConfig]] = SageMakerTrainingJobConfig
    input_fields: ClassVar[frozenset[str] | None] = frozenset({"training_params"})

    def job_spec(self, input: TrainPluginInput) -> dict[str, Any]:
        hyperparameters(self.require_config().hyperparameters, input.training_params)  # refuse before a claim
        return super().job_spec(input)

    def create_request(self, input: TrainPluginInput, submission_key: str) -> dict[str, Any]:
        """The ``CreateTrainingJob`` parameters (boto3's names)."""
        c = self.require_config()
        algorithm: dict[str, Any] = {"TrainingInputMode": c.training_input_mode}
        if c.training_image is not None:
            algorithm["TrainingImage"] = c.training_image
        else:
            algorithm["AlgorithmName"] = c.algorithm_name
        resources: dict[str, Any] = {
            "InstanceType": c.instance_type,
            "InstanceCount": c.instance_count,
            "VolumeSizeInGB": c.volume_size_gb,
        }
        if c.volume_kms_key_id:
            resources["VolumeKmsKeyId"] = c.volume_kms_key_id
        stopping: dict[str, Any] = {"MaxRuntimeInSeconds": c.max_runtime_seconds}
        if c.max_wait_seconds is not None:
            stopping["MaxWaitTimeInSeconds"] = c.max_wait_seconds
        output: dict[str, Any] = {"S3OutputPath": c.output_path}
        if c.output_kms_key_id:
            output["KmsKeyId"] = c.output_kms_key_id
        request: dict[str, Any] = {
            "TrainingJobName": resource_name(submission_key),
            "AlgorithmSpecification": algorithm,
            "RoleArn": c.role_arn,
            "OutputDataConfig": output,
            "ResourceConfig": resources,
            "StoppingCondition": stopping,
            "Tags": self.tags(submission_key),
        }
        hp = hyperparameters(c.hyperparameters, input.training_params)
        if hp:
            request["HyperParameters"] = hp
        if c.channels:
            request["InputDataConfig"] = [_channel(name, ch) for name, ch in c.channels.items()]
        if c.use_spot_instances:
            request["EnableManagedSpotTraining"] = True
        if c.environment:
            request["Environment"] = dict(c.environment)
        return request

    def _ref(self, name: str, arn: str | None) -> JobRef:
        return JobRef(
            adapter=self.adapter_name, job_id=name, resources={"training_job_arn": arn} if arn else {}
        )

    def submit_job(self, spec: dict[str, Any], submission_key: str) -> JobRef:
        request = self.create_request(TrainPluginInput.model_validate(spec["input"]), submission_key)
        name = request["TrainingJobName"]
        sm = self.aws.sagemaker
        try:
            reply = self.guard("create training job", lambda: sm.create_training_job(**request), create=True)
        except Conflict as exc:
            if exc.status != "ResourceInUse":
                raise
            # The name is ours (derived from the key): an earlier attempt created it. Adopt -- after making
            # sure the job carries our key, so a name someone else chose by hand is never taken over.
            return self._adopt(name, submission_key)
        return self._ref(name, reply.get("TrainingJobArn"))

    def _adopt(self, name: str, submission_key: str) -> JobRef:
        sm = self.aws.sagemaker
        job = self.guard("describe training job", lambda: sm.describe_training_job(TrainingJobName=name))
        arn = str(job.get("TrainingJobArn", ""))
        owner = self.tagged_key(arn) if arn else ""
        if owner != submission_key:
            raise JobIdentityMismatch(
                f"SageMaker training job {name} exists but carries submission key {owner!r}, "
                f"not {submission_key!r}",
                job_id=name,
                expected=submission_key,
                found=owner,
            )
        return self._ref(name, arn)

    def describe_job(self, ref: JobRef) -> JobStatus:
        sm = self.aws.sagemaker
        job = self.guard(
            "describe training job",
            lambda: sm.describe_training_job(TrainingJobName=ref.job_id),
            job_id=ref.job_id,
        )
        # DescribeTrainingJob carries no tags; the name, derived from the key and never reusable (training
        # jobs cannot be deleted), is the identity. submission_key stays None: "cannot tell from here".
        return training_status(job)

    def cancel_job(self, ref: JobRef) -> None:
        sm = self.aws.sagemaker
        self.guard(
            "stop training job", lambda: sm.stop_training_job(TrainingJobName=ref.job_id), job_id=ref.job_id
        )

    def find_job(self, submission_key: str) -> JobRef | None:
        name = resource_name(submission_key)
        sm = self.aws.sagemaker
        try:
            job = self.guard(
                "describe training job", lambda: sm.describe_training_job(TrainingJobName=name), job_id=name
            )
            arn = str(job.get("TrainingJobArn", ""))
            # Ours only if it carries our key: otherwise the create that follows meets ResourceInUse and
            # refuses, naming the key the job does carry.
            return self._ref(name, arn) if self.tagged_key(arn) == submission_key else None
        except JobNotFound:
            pass
        # Not under the derived name: a job tagged with the key under another name (Search is eventually
        # consistent, which is why the name comes first).
        expression = {"Filters": [{"Name": f"Tags.{TAG_KEY}", "Operator": "Equals", "Value": submission_key}]}
        reply = self.guard(
            "search training jobs",
            lambda: sm.search(Resource="TrainingJob", SearchExpression=expression, MaxResults=1),
        )
        for result in reply.get("Results") or ():
            job = result.get("TrainingJob") or {}
            if job.get("TrainingJobName"):
                return self._ref(str(job["TrainingJobName"]), job.get("TrainingJobArn"))
        return None

    # -- what deploy() needs --------------------------------------------------------------------------------

    def model_artifacts(self) -> str:
        status = self.record.last_status if self.record else None
        artefact = (status.outputs if status else {}).get("modelArtifacts")
        if not artefact or status is None or status.state is not JobState.SUCCEEDED:
            status = self.refresh()
            artefact = status.outputs.get("modelArtifacts")
        if status.state is not JobState.SUCCEEDED or not artefact:
            raise SpecError(
                f"training job {self.job.job_id} has no model to deploy: it is {status.summary()}"
            )
        return str(artefact)

    def inference_image(self) -> str:
        if self.config is None:
            # Reloaded from job.json (no job settings): serve with the image the job trained with.
            sm = self.aws.sagemaker
            job = self.api(
                "describe training job", lambda: sm.describe_training_job(TrainingJobName=self.job.job_id)
            )
            image = (job.get("AlgorithmSpecification") or {}).get("TrainingImage")
        else:
            image = self.config.inference_image or self.config.training_image
        if not image:
            raise SpecError("set inference_image to deploy a model trained by an algorithm resource")
        return str(image)


def _channel(name: str, ch: Channel) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": ch.s3_uri,
                "S3DataDistributionType": ch.distribution,
            }
        },
    }
    if ch.content_type:
        out["ContentType"] = ch.content_type
    if ch.input_mode:
        out["InputMode"] = ch.input_mode
    return out
