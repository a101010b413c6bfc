"""What every SageMaker adapter shares: the connection, the config, the error boundary, names and tags.

SageMaker resource names are chosen by the caller and unique per account and region, so each resource
jobferry creates is named after the submission key (:func:`resource_name`): a retried create meets
``ResourceInUse`` (training and transform jobs) and the existing resource is adopted -- exactly-once on the
vendor's side, before the workspace claim is even consulted. Every resource is also tagged with the key
(``jobferry-key``), so ``Search`` finds it by tag too.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import ClassVar, TypeVar

from pydantic import Field, field_validator, model_validator

from .._connection import Connection, ExternalJobConfig, Policies
from .._credentials import AnonymousRef, AwsDefaultRef, AwsRef, CredentialRef
from .._external import ExternalJobModel
from ._client import SageMakerClients, shared_clients
from ._errors import CallContext, sagemaker_errors

T = TypeVar("T")

TAG_KEY = "jobferry-key"
TAG_VERSION = "jobferry-version"
#: SageMaker's rule for training job, transform job, model, endpoint and endpoint config names.
NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_REGION_RE = re.compile(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d")
_TAG_KEY_RE = re.compile(r"[\w.:/=+@ -]{1,128}")
_ROLE_ARN_RE = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
#: The payload limit of InvokeEndpoint (6 MB); requests are planned a little under it.
INVOKE_LIMIT_BYTES = 6 * 1024 * 1024


def resource_name(submission_key: str, suffix: str = "") -> str:
    """A valid SageMaker name for the resource of ``submission_key`` (``suffix``: ``model``, ``ep``...).

    ``jf-`` + the key's characters kept by the name rule, then the suffix; a key too long or changed by
    the cleaning gets a hash instead, so two keys never share a name.
    """
    clean = re.sub(r"[^a-zA-Z0-9]+", "-", submission_key).strip("-")
    tail = f"-{suffix}" if suffix else ""
    name = f"{clean}{tail}" if clean.startswith("jf") else f"jf-{clean}{tail}"
    if clean != submission_key or len(name) > 63:
        digest = hashlib.sha256(submission_key.encode()).hexdigest()[:32]
        name = f"jf-{digest}{tail}"
    assert NAME_RE.match(name), name
    return name


def check_name(field: str, value: str) -> str:
    """``value`` if it is a valid SageMaker name, else ValueError naming the rule."""
    if not NAME_RE.match(value):
        raise ValueError(
            f"{field} {value!r} is not a SageMaker name: 1-63 letters, digits and hyphens, starting and "
            "ending with a letter or digit"
        )
    return value


def check_s3(field: str, uri: str) -> str:
    """``uri`` if it is an ``s3://bucket/...`` URI."""
    if not uri.startswith("s3://") or len(uri.removeprefix("s3://").split("/", 1)[0]) < 3:
        raise ValueError(f"{field} must be an s3://BUCKET/... URI, got {uri!r}")
    return uri


class SageMakerConnection(Connection):
    """How to reach SageMaker (saved in ``job.json``; changing any of it never submits a new job).

    Attributes:
        region: the AWS region, e.g. ``us-east-1``.
        endpoint_url: an override of ``https://api.sagemaker.{region}.amazonaws.com``: the emulator's
            ``http://127.0.0.1:PORT``.
        runtime_endpoint_url: an override of the runtime endpoint (InvokeEndpoint); default
            ``endpoint_url`` (the emulator serves both).
        credentials: an AWS credential *reference* (the default chain by default), or ``anonymous``
            for the emulator.
        call_timeout: seconds one call may take to answer.
        connect_timeout: seconds to open a connection.
        operation_timeout: seconds to wait for an endpoint to come InService (deploys take 5-15 min).
    """

    region: str = Field(default="us-east-1")
    endpoint_url: str | None = None
    runtime_endpoint_url: str | None = None
    credentials: CredentialRef = Field(default_factory=AwsDefaultRef)
    call_timeout: float = Field(default=60.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    operation_timeout: float = Field(default=3600.0, gt=0)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION_RE.fullmatch(value):
            raise ValueError(f"region {value!r} is not an AWS region (e.g. 'us-east-1', 'eu-west-2')")
        return value

    @field_validator("endpoint_url", "runtime_endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"endpoint URL {value!r} must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _aws_credentials(self) -> SageMakerConnection:
        # Refused at config time: a Google reference can never sign an AWS request.
        if not isinstance(self.credentials, AwsRef | AnonymousRef):
            raise ValueError(
                f"credentials {self.credentials.kind!r} is not an AWS kind; give 'aws', 'aws-profile:NAME', "
                "'aws-role:ROLE_ARN', 'aws-web-identity:ROLE_ARN' or 'anonymous' (the emulator)"
            )
        return self


class SageMakerConfig(SageMakerConnection, ExternalJobConfig):
    """Settings common to every SageMaker adapter: the connection's, and these, which are the job's.

    Attributes:
        role_arn: the IAM role SageMaker runs the job as (``RoleArn`` / ``ExecutionRoleArn``); training
            jobs require it.
        tags: tags for every resource created (jobferry adds ``jobferry-key`` and ``jobferry-version``).
        max_request_bytes: InvokeEndpoint's 6 MB limit, less room for the envelope.
    """

    role_arn: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    max_request_bytes: int = Field(default=INVOKE_LIMIT_BYTES - 64 * 1024, ge=1024, le=INVOKE_LIMIT_BYTES)

    @field_validator("role_arn")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None and not _ROLE_ARN_RE.fullmatch(value):
            raise ValueError(f"role_arn {value!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        if len(tags) > 48:
            raise ValueError(f"{len(tags)} tags given; SageMaker allows 50 and jobferry adds 2")
        for key, value in tags.items():
            if not _TAG_KEY_RE.fullmatch(key) or key.startswith("aws:") or key.startswith("jobferry-"):
                raise ValueError(
                    f"tag key {key!r} must be 1-128 of letters, digits, spaces and _.:/=+-@, and not start "
                    "with 'aws:' or 'jobferry-'"
                )
            if len(value) > 256:
                raise ValueError(f"tag {key!r}'s value is {len(value)} characters; at most 256")
        return tags


ConfigT = TypeVar("ConfigT", bound=SageMakerConfig)
_RELOADED_POLICIES = Policies(max_request_bytes=SageMakerConfig.model_fields["max_request_bytes"].default)


class SageMakerModel(ExternalJobModel[ConfigT]):
    """Base of the SageMaker adapters: clients, the error boundary, names and tags."""

    vendor: ClassVar[str] = "sagemaker"

    @property
    def reach(self) -> SageMakerConnection:
        """The typed connection (from the config, or validated from ``job.json``)."""
        return self.connection_as(SageMakerConnection)

    def connect(self) -> SageMakerClients:
        c = self.reach
        pool = max(16, self.policies.max_concurrency)
        return shared_clients(
            c.region,
            c.credentials,
            c.endpoint_url,
            c.runtime_endpoint_url,
            call_timeout=c.call_timeout,
            connect_timeout=c.connect_timeout,
            max_pool_connections=pool,
        )

    @property
    def aws(self) -> SageMakerClients:
        """The boto3 clients (built on first use)."""
        clients: SageMakerClients = self.client
        return clients

    def default_policies(self) -> Policies:
        # A model reloaded without its config still chunks predictions to InvokeEndpoint's limit.
        return _RELOADED_POLICIES

    def quota_key(self) -> str:
        return f"{self.reach.region}/{self.reach.endpoint_url or ''}"

    def guard(self, what: str, fn: Callable[[], T], *, job_id: str | None = None, create: bool = False) -> T:
        """Run one vendor call inside the error boundary (no retry here; callers wrap it in one)."""
        c = self.reach
        ctx = CallContext(
            what,
            c.region,
            c.credentials.describe(),
            job_id=job_id,
            is_create=create,
            endpoint=c.endpoint_url or "",
        )
        with sagemaker_errors(ctx):
            return fn()

    def api(self, what: str, fn: Callable[[], T], *, job_id: str | None = None) -> T:
        """One vendor call inside the error boundary, under the retry policy (for calls outside a poll or
        a create, which have their own retries)."""
        return self.call(lambda: self.guard(what, fn, job_id=job_id), what)

    def tags(self, submission_key: str) -> list[dict[str, str]]:
        """The user's tags plus the submission key and jobferry's version, as SageMaker's Tag list."""
        from .. import __version__

        own = self.config.tags if self.config is not None else {}
        merged = {**own, TAG_KEY: submission_key, TAG_VERSION: __version__}
        return [{"Key": k, "Value": v} for k, v in merged.items()]

    def tagged_key(self, arn: str) -> str:
        """The submission key tagged on the resource ``arn`` ('' when it has none): one ListTags call."""
        sm = self.aws.sagemaker
        reply = self.guard("list tags", lambda: sm.list_tags(ResourceArn=arn, MaxResults=100))
        for tag in reply.get("Tags") or ():
            if tag.get("Key") == TAG_KEY:
                return str(tag.get("Value", ""))
        return ""
