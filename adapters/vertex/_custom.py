"""A Vertex AI CustomJob as an external job: your container (or Python package) on Vertex's machines.

The job is created through JobService (``POST .../customJobs``), labelled with the submission key so a lost
create response is adopted by listing ``labels.jobferry-key="KEY"`` instead of creating a second, billed job.

Training parameters: each ``TrainPluginInput.training_params`` entry becomes one more command-line argument,
``--key=value``, after ``config.args`` (strings as they are, anything else as JSON: ``--lr=0.1``,
``--layers=[64,32]``, ``--shuffle=true``). The job's outputs are files: Vertex gives the container
``AIP_MODEL_DIR`` / ``AIP_CHECKPOINT_DIR`` under ``base_output_directory``. A custom job uploads no model, so
there is nothing to deploy or predict with; upload the artifacts as a Model separately.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, TypeVar

from pydantic import Field, field_validator, model_validator

from adapters._errors import SpecError

from .._messages import TrainPluginInput
from ._base import JOB_STATES, VertexConfig
from ._client import aiplatform_v1
from ._resources import ResourceKind, VertexJobModel

__all__ = ["CustomJobSpecModel", "VertexCustomJob", "VertexCustomJobConfig"]


def _check_gcs(field: str, uri: str) -> str:
    if not uri.startswith("gs://") or len(uri) <= len("gs://"):
        raise ValueError(f"{field} must be a gs:// URI, got {uri!r}")
    return uri


class VertexCustomJobConfig(VertexConfig):
    """Settings of a Vertex AI CustomJob.

    Give either a container (``container_image_uri`` with optional ``command``) or a Python package
    (``python_package_uris`` + ``python_module`` + ``executor_image_uri``), not both.

    Attributes:
        container_image_uri: the training container's image.
        command: the container's entrypoint override.
        args: arguments for the container or the Python module (training params are appended).
        env: environment variables of the training process.
        python_package_uris: ``gs://`` URIs of the Python source distributions to install.
        python_module: the module to run (``python -m``), e.g. ``trainer.task``.
        executor_image_uri: the prebuilt training image that runs the package.
        machine_type: the machine of every replica.
        replica_count: replicas in all; the first is the chief (pool 0), the rest form worker pool 1.
        accelerator_type: e.g. ``NVIDIA_TESLA_T4`` (Vertex's AcceleratorType name); requires a count.
        accelerator_count: accelerators per replica; > 0 exactly when ``accelerator_type`` is set.
        boot_disk_size_gb: boot disk size of every replica.
        base_output_directory: ``gs://`` prefix for the job's outputs (``AIP_MODEL_DIR`` lives under it).
        timeout_seconds: the longest the job may run.
        restart_job_on_worker_restart: restart the whole job when a worker restarts.
        network: the VPC network to peer with, ``projects/{number}/global/networks/{name}``.
    """

    container_image_uri: str | None = Field(default=None, min_length=1)
    command: list[str] = Field(default_factory=list)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    python_package_uris: list[str] = Field(default_factory=list)
    python_module: str | None = Field(default=None, min_length=1)
    executor_image_uri: str | None = Field(default=None, min_length=1)
    machine_type: str = Field(default="n1-standard-4", min_length=1)
    replica_count: int = Field(default=1, ge=1)
    accelerator_type: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$")
    accelerator_count: int = Field(default=0, ge=0)
    boot_disk_size_gb: int | None = Field(default=None, ge=1)
    base_output_directory: str | None = None
    timeout_seconds: int | None = Field(default=None, ge=1)
    restart_job_on_worker_restart: bool = False
    # Not (yet) in VertexConfig although every job kind can use it; see the report on the base layer.
    network: str | None = None

    @field_validator("python_package_uris")
    @classmethod
    def _packages_on_gcs(cls, uris: list[str]) -> list[str]:
        return [_check_gcs("python_package_uris", u) for u in uris]

    @field_validator("base_output_directory")
    @classmethod
    def _output_on_gcs(cls, uri: str | None) -> str | None:
        return None if uri is None else _check_gcs("base_output_directory", uri)

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not name or "=" in name:
                raise ValueError(f"environment variable name {name!r} must be non-empty and hold no '='")
        return env

    @model_validator(mode="after")
    def _one_program_and_matching_accelerators(self) -> VertexCustomJobConfig:
        package = {
            "python_package_uris": self.python_package_uris or None,
            "python_module": self.python_module,
            "executor_image_uri": self.executor_image_uri,
        }
        given = {k: v for k, v in package.items() if v is not None}
        if self.container_image_uri is not None and given:
            raise ValueError(
                f"give either container_image_uri ({self.container_image_uri!r}) or a Python package "
                f"({', '.join(f'{k}={v!r}' for k, v in given.items())}), not both"
            )
        if self.container_image_uri is None:
            if not given:
                raise ValueError(
                    "give container_image_uri, or python_package_uris + python_module + executor_image_uri"
                )
            missing = [k for k in package if k not in given]
            if missing:
                raise ValueError(
                    f"a Python package job needs {', '.join(missing)} too "
                    f"(given: {', '.join(f'{k}={v!r}' for k, v in given.items())})"
                )
            if self.command:
                raise ValueError(
                    f"command ({self.command!r}) applies to container_image_uri only; a Python package job "
                    "runs python_module"
                )
        if (self.accelerator_type is None) != (self.accelerator_count == 0):
            raise ValueError(
                f"accelerator_count must be > 0 exactly when accelerator_type is set; got "
                f"accelerator_type={self.accelerator_type!r}, accelerator_count={self.accelerator_count!r}"
            )
        return self


def training_args(params: dict[str, Any] | None) -> list[str]:
    """``--key=value`` arguments for training params: strings as they are, anything else as JSON."""
    out = []
    for key, value in (params or {}).items():
        if not key or "=" in key or key.startswith("-") or any(c.isspace() for c in key):
            raise SpecError(
                f"training_params key {key!r} cannot be a --key=value argument "
                "(it must be non-empty, not start with '-', and hold no '=' or whitespace)"
            )
        shown = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        out.append(f"--{key}={shown}")
    return out


def _custom_outputs(data: dict[str, Any]) -> dict[str, Any]:
    prefix = ((data.get("jobSpec") or {}).get("baseOutputDirectory") or {}).get("outputUriPrefix")
    return {"outputDirectory": prefix} if prefix else {}


CUSTOM_JOB = ResourceKind("custom job", "jobs", "custom_job", "CustomJob", JOB_STATES, _custom_outputs)


CustomT = TypeVar("CustomT", bound=VertexCustomJobConfig)


class CustomJobSpecModel(VertexJobModel[CustomT]):
    """What builds a ``CustomJobSpec`` from a :class:`VertexCustomJobConfig`: the custom job's own, and
    each trial's of a hyperparameter tuning job (``trialJobSpec``)."""

    # -- the request --------------------------------------------------------------------------------------

    def job_spec(self, input: TrainPluginInput) -> dict[str, Any]:
        """The engine's spec, after checking what only the request can show (before any intent is written)."""
        training_args(input.training_params)
        accelerator = self.require_config().accelerator_type
        if accelerator is not None:
            # The client would only say "invalid enum value" without naming the field.
            known = [n for n in aiplatform_v1().AcceleratorType.__members__ if not n.endswith("_UNSPECIFIED")]
            if accelerator not in known:
                raise SpecError(f"accelerator_type {accelerator!r} is not one of: {', '.join(known)}")
        return super().job_spec(input)

    def _machine_spec(self) -> dict[str, Any]:
        config = self.require_config()
        spec: dict[str, Any] = {"machineType": config.machine_type}
        if config.accelerator_type is not None:
            spec["acceleratorType"] = config.accelerator_type
            spec["acceleratorCount"] = config.accelerator_count
        return spec

    def _program(self, input: TrainPluginInput) -> dict[str, Any]:
        config = self.require_config()
        args = [*config.args, *training_args(input.training_params)]
        env = [{"name": k, "value": v} for k, v in config.env.items()]
        if config.container_image_uri is not None:
            container: dict[str, Any] = {"imageUri": config.container_image_uri}
            if config.command:
                container["command"] = list(config.command)
            if args:
                container["args"] = args
            if env:
                container["env"] = env
            return {"containerSpec": container}
        package: dict[str, Any] = {
            "executorImageUri": config.executor_image_uri,
            "packageUris": list(config.python_package_uris),
            "pythonModule": config.python_module,
        }
        if args:
            package["args"] = args
        if env:
            package["env"] = env
        return {"pythonPackageSpec": package}

    def worker_pool_specs(self, input: TrainPluginInput) -> list[dict[str, Any]]:
        """The chief (one replica) and, when ``replica_count`` > 1, one pool of the other replicas."""
        config = self.require_config()
        pool: dict[str, Any] = {"machineSpec": self._machine_spec(), **self._program(input)}
        if config.boot_disk_size_gb is not None:
            pool["diskSpec"] = {"bootDiskSizeGb": config.boot_disk_size_gb}
        pools = [{**pool, "replicaCount": 1}]
        if config.replica_count > 1:
            pools.append({**pool, "replicaCount": config.replica_count - 1})
        return pools

    def custom_job_spec(self, input: TrainPluginInput) -> dict[str, Any]:
        """The REST JSON of the ``CustomJobSpec`` (worker pools, service account, outputs, scheduling)."""
        config = self.require_config()
        job_spec: dict[str, Any] = {"workerPoolSpecs": self.worker_pool_specs(input)}
        if config.service_account:
            job_spec["serviceAccount"] = config.service_account
        if config.network:
            job_spec["network"] = config.network
        if config.base_output_directory:
            job_spec["baseOutputDirectory"] = {"outputUriPrefix": config.base_output_directory}
        scheduling: dict[str, Any] = {}
        if config.timeout_seconds is not None:
            scheduling["timeout"] = f"{config.timeout_seconds}s"
        if config.restart_job_on_worker_restart:
            scheduling["restartJobOnWorkerRestart"] = True
        if scheduling:
            job_spec["scheduling"] = scheduling
        return job_spec


class VertexCustomJob(CustomJobSpecModel[VertexCustomJobConfig]):
    """A Vertex AI CustomJob: submit, status, cancel and reattach; no model to deploy (not Serving)."""

    adapter_name: ClassVar[str] = "vertex-custom-job"
    kind: ClassVar[ResourceKind] = CUSTOM_JOB
    config_class: ClassVar[type[VertexCustomJobConfig]] = VertexCustomJobConfig
    # Training parameters become the container's arguments; everything else about the job is config.
    input_fields: ClassVar[frozenset[str] | None] = frozenset({"training_params"})

    def custom_job_body(self, input: TrainPluginInput, submission_key: str) -> dict[str, Any]:
        """The REST JSON of the CustomJob to create."""
        return self.resource_body(submission_key, jobSpec=self.custom_job_spec(input))

    def create_body(self, spec: dict[str, Any], submission_key: str) -> dict[str, Any]:
        return self.custom_job_body(TrainPluginInput.model_validate(spec["input"]), submission_key)
