"""A SageMaker batch transform job as its own external job: CreateTransformJob / Describe / Stop.

Named after the submission key like a training job (``ResourceInUse`` on a retried create is adopted),
tagged with it, and found by ``Search`` on the tag when not under that name. Its output is the
``s3://`` prefix the predictions were written to (one ``.out`` object per input object).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from adapters._errors import Conflict, JobIdentityMismatch, JobNotFound

from .._jobs import JobErrorInfo, JobRef, JobState, JobStatus, StateTable
from ._base import TAG_KEY, SageMakerConfig, SageMakerModel, check_name, check_s3, resource_name
from ._training import _time

__all__ = ["TRANSFORM_STATES", "SageMakerBatchTransform", "SageMakerBatchTransformConfig"]

TRANSFORM_STATES = StateTable(
    {
        "InProgress": JobState.RUNNING,
        "Completed": JobState.SUCCEEDED,
        "Failed": JobState.FAILED,
        "Stopping": JobState.CANCELLING,
        "Stopped": JobState.CANCELLED,
    }
)


class SageMakerBatchTransformConfig(SageMakerConfig):
    """Settings of a batch transform job.

    Attributes:
        model_name: the SageMaker model to run (e.g. what ``SageMakerTrainingJob.deploy`` created, or one
            of your own).
        input_uri: the ``s3://`` prefix of the input objects.
        content_type: the input's MIME type, e.g. ``text/csv``.
        split_type: how objects are cut into records: ``None``, ``Line``, ``RecordIO`` or ``TFRecord``.
        output_path: the ``s3://`` prefix for the results.
        accept: the results' MIME type.
        assemble_with: ``None`` or ``Line``.
        instance_type, instance_count: the transform cluster.
        max_payload_mb: the largest mini-batch sent to the container (0..100 MB).
        batch_strategy: ``MultiRecord`` or ``SingleRecord``.
        max_concurrent_transforms: requests in flight per instance (0: the container's choice).
    """

    model_name: str
    input_uri: str
    content_type: str | None = None
    split_type: str = Field(default="Line", pattern="^(None|Line|RecordIO|TFRecord)$")
    output_path: str
    accept: str | None = None
    assemble_with: str = Field(default="Line", pattern="^(None|Line)$")
    instance_type: str = Field(default="ml.m5.large", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    instance_count: int = Field(default=1, ge=1, le=100)
    max_payload_mb: int | None = Field(default=None, ge=0, le=100)
    batch_strategy: str | None = Field(default=None, pattern="^(MultiRecord|SingleRecord)$")
    max_concurrent_transforms: int | None = Field(default=None, ge=0)

    @field_validator("model_name")
    @classmethod
    def _model(cls, value: str) -> str:
        return check_name("model_name", value)

    @field_validator("input_uri", "output_path")
    @classmethod
    def _s3(cls, value: str) -> str:
        return check_s3("input_uri / output_path", value)


def transform_status(job: dict[str, Any]) -> JobStatus:
    """A JobStatus from a DescribeTransformJob answer."""
    raw = job.get("TransformJobStatus")
    reason = job.get("FailureReason")
    out = (job.get("TransformOutput") or {}).get("S3OutputPath")
    state = TRANSFORM_STATES.map(raw)
    return JobStatus(
        state=state,
        raw_state=raw,
        error=JobErrorInfo(code=str(raw), message=str(reason or ""))
        if reason or state is JobState.FAILED
        else None,
        create_time=_time(job.get("CreationTime")),
        start_time=_time(job.get("TransformStartTime")),
        end_time=_time(job.get("TransformEndTime")),
        outputs={"outputPath": out} if out and state is JobState.SUCCEEDED else {},
    )


class SageMakerBatchTransform(SageMakerModel[SageMakerBatchTransformConfig]):
    """A SageMaker batch transform job: submit, status, stop, reattach."""

    adapter_name: ClassVar[str] = "sagemaker-batch-transform"
    config_class: ClassVar[type[SageMakerBatchTransformConfig]] = SageMakerBatchTransformConfig
    input_fields: ClassVar[frozenset[str] | None] = frozenset()

    def create_request(self, submission_key: str) -> dict[str, Any]:
        """The ``CreateTransformJob`` parameters (boto3's names)."""
        c = self.require_config()
        data_input: dict[str, Any] = {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": c.input_uri}},
            "SplitType": c.split_type,
        }
        if c.content_type:
            data_input["ContentType"] = c.content_type
        output: dict[str, Any] = {"S3OutputPath": c.output_path, "AssembleWith": c.assemble_with}
        if c.accept:
            output["Accept"] = c.accept
        request: dict[str, Any] = {
            "TransformJobName": resource_name(submission_key, "tf"),
            "ModelName": c.model_name,
            "TransformInput": data_input,
            "TransformOutput": output,
            "TransformResources": {"InstanceType": c.instance_type, "InstanceCount": c.instance_count},
            "Tags": self.tags(submission_key),
        }
        if c.max_payload_mb is not None:
            request["MaxPayloadInMB"] = c.max_payload_mb
        if c.batch_strategy:
            request["BatchStrategy"] = c.batch_strategy
        if c.max_concurrent_transforms is not None:
            request["MaxConcurrentTransforms"] = c.max_concurrent_transforms
        return request

    def _ref(self, name: str, arn: str | None) -> JobRef:
        return JobRef(
            adapter=self.adapter_name, job_id=name, resources={"transform_job_arn": arn} if arn else {}
        )

    def submit_job(self, spec: dict[str, Any], submission_key: str) -> JobRef:
        request = self.create_request(submission_key)
        name = request["TransformJobName"]
        sm = self.aws.sagemaker
        try:
            reply = self.guard(
                "create transform job", lambda: sm.create_transform_job(**request), create=True
            )
        except Conflict as exc:
            if exc.status != "ResourceInUse":
                raise
            job = self.guard(
                "describe transform job", lambda: sm.describe_transform_job(TransformJobName=name)
            )
            arn = str(job.get("TransformJobArn", ""))
            owner = self.tagged_key(arn) if arn else ""
            if owner != submission_key:
                raise JobIdentityMismatch(
                    f"SageMaker transform job {name} exists but carries submission key {owner!r}",
                    job_id=name,
                    expected=submission_key,
                    found=owner,
                ) from None
            return self._ref(name, arn)
        return self._ref(name, reply.get("TransformJobArn"))

    def describe_job(self, ref: JobRef) -> JobStatus:
        sm = self.aws.sagemaker
        job = self.guard(
            "describe transform job",
            lambda: sm.describe_transform_job(TransformJobName=ref.job_id),
            job_id=ref.job_id,
        )
        return transform_status(job)

    def cancel_job(self, ref: JobRef) -> None:
        sm = self.aws.sagemaker
        self.guard(
            "stop transform job",
            lambda: sm.stop_transform_job(TransformJobName=ref.job_id),
            job_id=ref.job_id,
        )

    def find_job(self, submission_key: str) -> JobRef | None:
        name = resource_name(submission_key, "tf")
        sm = self.aws.sagemaker
        try:
            job = self.guard(
                "describe transform job",
                lambda: sm.describe_transform_job(TransformJobName=name),
                job_id=name,
            )
            arn = str(job.get("TransformJobArn", ""))
            return self._ref(name, arn) if self.tagged_key(arn) == submission_key else None  # as training's
        except JobNotFound:
            pass
        expression = {"Filters": [{"Name": f"Tags.{TAG_KEY}", "Operator": "Equals", "Value": submission_key}]}
        reply = self.guard(
            "search transform jobs",
            lambda: sm.search(Resource="TransformJob", SearchExpression=expression, MaxResults=1),
        )
        for result in reply.get("Results") or ():
            job = result.get("TransformJob") or {}
            if job.get("TransformJobName"):
                return self._ref(str(job["TransformJobName"]), job.get("TransformJobArn"))
        return None
