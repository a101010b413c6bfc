"""SageMakerEmulatorConfig: every knob of the SageMaker emulator, validated by pydantic.

Durations are in "SageMaker time" (what the real service would take) and are divided by ``speedup``;
quota windows, latency and retry-after values are in real (clock) seconds. Faults reuse the Vertex
emulator's generic injector (:class:`adapters.vertex.emulator.FaultSpec`), keyed by SageMaker operation
names (``DescribeTrainingJob``, ``InvokeEndpoint``, ...).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ...vertex.emulator import FaultSpec

__all__ = ["FaultSpec", "SageMakerEmulatorConfig", "TrainingPhases"]


class TrainingPhases(BaseModel):
    """SageMaker seconds a training job spends in each SecondaryStatus while InProgress."""

    model_config = ConfigDict(extra="forbid")

    starting: float = Field(default=120.0, ge=0)
    downloading: float = Field(default=60.0, ge=0)
    training: float = Field(default=600.0, ge=0)
    uploading: float = Field(default=30.0, ge=0)


class SageMakerEmulatorConfig(BaseModel):
    """The emulator's configuration.

    Attributes:
        speedup: SageMaker durations are divided by this (3600 makes a 15-minute job take 0.25 s).
        training: the phases of a training job (a tag or hyperparameter ``emulator-seconds`` overrides
            the Training phase).
        endpoint_seconds: Creating -> InService.
        transform_seconds: a transform job's InProgress time.
        stop_seconds: Stopping -> Stopped.
        bucket_map: ``s3://bucket`` -> a local folder; unmapped buckets live under ``data_dir``.
        data_dir: where unmapped buckets live (default: a temporary folder per emulator).
        faults: fault injection per operation name.
        throttle_per_window: requests per operation allowed per ``throttle_window`` (None: unlimited);
            beyond it the answer is ``ThrottlingException`` ("Rate exceeded").
        throttle_window: the quota window, real seconds.
        region, account: what ARNs carry.
        seed: seeds fault draws.
        max_invoke_bytes: InvokeEndpoint's payload limit (6 MB).
    """

    model_config = ConfigDict(extra="forbid")

    speedup: float = Field(default=1.0, gt=0)
    training: TrainingPhases = Field(default_factory=TrainingPhases)
    endpoint_seconds: float = Field(default=300.0, ge=0)
    transform_seconds: float = Field(default=300.0, ge=0)
    stop_seconds: float = Field(default=30.0, ge=0)
    bucket_map: dict[str, str] = Field(default_factory=dict)
    data_dir: str | None = None
    faults: dict[str, FaultSpec] = Field(default_factory=dict)
    throttle_per_window: dict[str, int] = Field(default_factory=dict)
    throttle_window: float = Field(default=1.0, gt=0)
    region: str = "us-east-1"
    account: str = Field(default="123456789012", pattern=r"^\d{12}$")
    seed: int = 0
    max_invoke_bytes: int = Field(default=6 * 1024 * 1024, ge=1)
