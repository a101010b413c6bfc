"""A Vertex AI Pipelines run (a compiled Kubeflow Pipelines spec) as an external job: ``vertex-pipeline-job``.

Not the AutoML TrainingPipeline of :mod:`._pipeline`: this is ``PipelineService.CreatePipelineJob``. Its
create takes a client-chosen ``pipeline_job_id``, which jobferry derives from the submission key
(:func:`pipeline_job_id_for`): a retried create after a lost response, or a rerun that never learnt of the
first create, is answered 409 ALREADY_EXISTS and adopted by one get of that name -- exactly-once on the
vendor's side, with no label look-up and no window in which the job is not yet listed. The label stays, for
people, list filters and the identity check of every poll.

The spec is read and checked before anything is claimed or sent: a local path or an fsspec URL (``gs://``
through gcsfs), JSON or YAML, either the pipeline IR itself (``root``, ``pipelineInfo``, ...) or a
``PipelineJob`` document that holds it under ``pipelineSpec``. Its content (read once, and sent as read)
is part of the job's identity: editing the file submits a new run. ``TrainPluginInput.training_params``
become parameter values, over the config's ``parameter_values``.

While it runs, ``jobDetail.taskDetails`` is the job's progress (the fraction of its tasks that are done)
and its message names the tasks running.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from adapters._errors import SpecError, TransientError
from checkpoint._errors import MissingDependency

from .._jobs import JobRef
from .._messages import TrainPluginInput
from ._base import PIPELINE_STATES, VertexConfig
from ._client import to_message
from ._resources import ResourceKind, VertexJobModel

__all__ = ["VertexPipelineJob", "VertexPipelineJobConfig", "pipeline_job_id_for"]

#: ``CreatePipelineJobRequest.pipeline_job_id``: fewer than 128 characters of ``[a-z0-9-]`` (REST.md).
PIPELINE_JOB_ID = re.compile(r"[a-z][a-z0-9-]{0,126}")
_DONE_TASKS = frozenset({"SUCCEEDED", "SKIPPED", "FAILED", "CANCELLED", "NOT_TRIGGERED"})


def pipeline_job_id_for(submission_key: str) -> str:
    """The client-chosen ID of the pipeline job submitted under ``submission_key``.

    ``jobferry-`` and 32 hex digits of a SHA-256 of the key: a lowercase letter first, 41 characters of
    ``[a-z0-9-]`` (Vertex allows under 128), whatever characters the key holds, and 128 bits, so two keys
    share an ID with odds of about ``n**2 / 2**129`` over ``n`` jobs.
    """
    digest = hashlib.sha256("\x00".join(("pipeline-job", submission_key)).encode()).hexdigest()
    return f"jobferry-{digest[:32]}"


def _read_text(location: str) -> str:
    """The text at a local path or fsspec URL, or a SpecError naming it."""
    import fsspec

    try:
        with fsspec.open(location, "rt", encoding="utf-8") as handle:
            text: str = handle.read()
    except (OSError, ValueError, ImportError) as exc:
        raise SpecError(f"pipeline_spec {location!r} cannot be read: {exc}") from None
    return text


def load_pipeline_spec(location: str) -> dict[str, Any]:
    """The compiled pipeline IR at ``location`` (JSON or YAML), checked: an object with a ``root``.

    A ``PipelineJob`` document (``{"pipelineSpec": {...}, "runtimeConfig": ...}``, as older KFP compilers
    wrote) gives its ``pipelineSpec``.
    """
    text = _read_text(location)
    try:
        doc: Any = json.loads(text)
    except ValueError:
        try:
            import yaml
        except ImportError:
            raise MissingDependency("reading a YAML pipeline spec", "vertex", "yaml") from None
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            at = f" at line {where.line + 1}" if where is not None else ""
            raise SpecError(f"pipeline_spec {location!r} is neither JSON nor YAML{at}") from None
    if isinstance(doc, dict) and isinstance(doc.get("pipelineSpec"), dict):
        doc = doc["pipelineSpec"]
    if not isinstance(doc, dict) or not isinstance(doc.get("root"), dict):
        raise SpecError(
            f"pipeline_spec {location!r} is not a compiled KFP pipeline: it needs a 'root' (or a "
            "'pipelineSpec' holding one); compile it with kfp.compiler.Compiler().compile(...)"
        )
    return doc


def _declared_parameters(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    params = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    return params if isinstance(params, dict) else {}


class VertexPipelineJobConfig(VertexConfig):
    """Settings of a Vertex AI Pipelines run.

    Give ``pipeline_spec`` or ``template_uri``, not both.

    Attributes:
        pipeline_spec: the compiled pipeline (JSON or YAML): a local path or an fsspec URL (``gs://``).
        template_uri: a template in Vertex's registry (``https://{region}-kfp.pkg.dev/...``).
        parameter_values: the pipeline's input parameters (training params are merged over them).
        pipeline_root: ``gs://`` output directory of the run (``runtimeConfig.gcsOutputDirectory``); needed
            unless the spec has a ``defaultPipelineRoot``.
        network: the VPC network to peer with, ``projects/{number}/global/networks/{name}``.
    """

    pipeline_spec: str | None = Field(default=None, min_length=1)
    template_uri: str | None = Field(default=None, min_length=1)
    parameter_values: dict[str, Any] = Field(default_factory=dict)
    pipeline_root: str | None = None
    network: str | None = None

    @field_validator("pipeline_root")
    @classmethod
    def _root_on_gcs(cls, uri: str | None) -> str | None:
        if uri is not None and (not uri.startswith("gs://") or len(uri) <= len("gs://")):
            raise ValueError(f"pipeline_root must be a gs:// URI, got {uri!r}")
        return uri

    @field_validator("template_uri")
    @classmethod
    def _template_in_registry(cls, uri: str | None) -> str | None:
        if uri is not None and not uri.startswith("https://"):
            raise ValueError(
                f"template_uri must be a template registry URI (https://REGION-kfp.pkg.dev/...), "
                f"got {uri!r}; "
                "give a compiled file as pipeline_spec"
            )
        return uri

    @model_validator(mode="after")
    def _one_source(self) -> VertexPipelineJobConfig:
        if (self.pipeline_spec is None) == (self.template_uri is None):
            given = "both" if self.pipeline_spec else "neither"
            raise ValueError(
                f"give either pipeline_spec (a compiled pipeline file) or template_uri, not {given}"
            )
        return self


def _task_progress(data: dict[str, Any]) -> tuple[float | None, str | None]:
    details = (data.get("jobDetail") or {}).get("taskDetails") or []
    # The pipeline's own root task has no parent; its tasks are what progress counts.
    tasks = [t for t in details if t.get("parentTaskId")] or details[1:]
    if not tasks:
        return None, None
    done = sum(1 for t in tasks if t.get("state") in _DONE_TASKS)
    running = [str(t.get("taskName")) for t in tasks if t.get("state") == "RUNNING"]
    note = f"{done}/{len(tasks)} tasks done" + (f", running: {', '.join(running)}" if running else "")
    return done / len(tasks), note


def _pipeline_job_outputs(data: dict[str, Any]) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    directory = (data.get("runtimeConfig") or {}).get("gcsOutputDirectory")
    if directory:
        outputs["outputDirectory"] = directory
    details = (data.get("jobDetail") or {}).get("taskDetails") or []
    tasks = {str(t["taskName"]): t.get("state") for t in details if t.get("parentTaskId") and "taskName" in t}
    if tasks:
        outputs["tasks"] = tasks
    return outputs


PIPELINE_JOB = ResourceKind(
    "pipeline job",
    "pipelines",
    "pipeline_job",
    "PipelineJob",
    PIPELINE_STATES,
    _pipeline_job_outputs,
    progress=_task_progress,
)


class VertexPipelineJob(VertexJobModel[VertexPipelineJobConfig]):
    """A Vertex AI Pipelines run: submit (exactly once by its client-chosen ID), status, cancel, reattach."""

    adapter_name: ClassVar[str] = "vertex-pipeline-job"
    kind: ClassVar[ResourceKind] = PIPELINE_JOB
    config_class: ClassVar[type[VertexPipelineJobConfig]] = VertexPipelineJobConfig
    # Training parameters become pipeline parameter values; everything else is config.
    input_fields: ClassVar[frozenset[str] | None] = frozenset({"training_params"})
    # A retried create is answered 409 under the same ID and adopted in submit_job: no look-up first.
    idempotent_create: ClassVar[bool] = True

    # -- the request --------------------------------------------------------------------------------------

    def pipeline_spec(self) -> dict[str, Any] | None:
        """The compiled pipeline the config names (read and checked), or None for a template."""
        location = self.require_config().pipeline_spec
        return None if location is None else load_pipeline_spec(location)

    def parameter_values(self, input: TrainPluginInput, spec: dict[str, Any] | None) -> dict[str, Any]:
        """The config's parameter values with the training params over them, checked against the spec."""
        values = {**self.require_config().parameter_values, **(input.training_params or {})}
        declared = _declared_parameters(spec) if spec is not None else {}
        if declared:
            unknown = sorted(set(values) - set(declared))
            if unknown:
                raise SpecError(
                    f"parameter(s) {', '.join(unknown)} are not inputs of the pipeline "
                    f"(its inputs: {', '.join(sorted(declared)) or 'none'})"
                )
            missing = sorted(
                name
                for name, p in declared.items()
                if name not in values and "defaultValue" not in p and not p.get("isOptional")
            )
            if missing:
                raise SpecError(f"the pipeline needs a value for parameter(s) {', '.join(missing)}")
        return values

    def job_spec(self, input: TrainPluginInput) -> dict[str, Any]:
        """The engine's spec plus the pipeline's content, after checking all of it (before any effect)."""
        self.check_input(input)
        spec = self.pipeline_spec()
        self.parameter_values(input, spec)
        if (
            spec is not None
            and not spec.get("defaultPipelineRoot")
            and self.require_config().pipeline_root is None
        ):
            raise SpecError(
                "the pipeline has no defaultPipelineRoot: give pipeline_root (a gs:// output directory)"
            )
        job = super().job_spec(input)
        if spec is not None:
            # The content is part of the job (hashed with the rest), and what is sent: the file is read
            # once, so an edit between this check and the create cannot slip through unchecked.
            job["pipelineSpec"] = spec
        return job

    def pipeline_job_body(
        self, input: TrainPluginInput, submission_key: str, spec: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The REST JSON of the PipelineJob to create (``spec``: the compiled pipeline, else read now)."""
        config = self.require_config()
        if spec is None:
            spec = self.pipeline_spec()
        runtime: dict[str, Any] = {}
        values = self.parameter_values(input, spec)
        if values:
            runtime["parameterValues"] = values
        if config.pipeline_root is not None:
            runtime["gcsOutputDirectory"] = config.pipeline_root
        fields: dict[str, Any] = {"runtimeConfig": runtime}
        if spec is not None:
            fields["pipelineSpec"] = spec
        else:
            fields["templateUri"] = config.template_uri
        if config.service_account:
            fields["serviceAccount"] = config.service_account
        if config.network:
            fields["network"] = config.network
        return self.resource_body(submission_key, **fields)

    def create_body(self, spec: dict[str, Any], submission_key: str) -> dict[str, Any]:
        pipeline = spec.get("pipelineSpec")
        return self.pipeline_job_body(
            TrainPluginInput.model_validate(spec["input"]), submission_key, pipeline
        )

    # -- exactly once by the client-chosen ID -------------------------------------------------------------

    def job_name(self, submission_key: str) -> str:
        """The resource name the pipeline job of ``submission_key`` gets."""
        return f"{self.vertex.parent}/pipelineJobs/{pipeline_job_id_for(submission_key)}"

    def _get_named(self, name: str, submission_key: str) -> Any | None:
        get = self.vertex.pipelines.get_pipeline_job
        timeout = self.reach.call_timeout
        return self.read_own("pipeline job", name, lambda: get(name=name, timeout=timeout), submission_key)

    def submit_job(self, spec: dict[str, Any], submission_key: str) -> JobRef:
        body = self.create_body(spec, submission_key)
        message = to_message(self.vertex.v1.PipelineJob, body)
        job_id = pipeline_job_id_for(submission_key)
        parent, timeout = self.vertex.parent, self.reach.call_timeout
        create = self.vertex.pipelines.create_pipeline_job
        created = self.create_or_taken(
            "create pipeline job",
            lambda: create(parent=parent, pipeline_job=message, pipeline_job_id=job_id, timeout=timeout),
        )
        if created is None:  # 409: an earlier attempt or run created it; adopt it by name
            name = self.job_name(submission_key)
            created = self._get_named(name, submission_key)
            if created is None:
                # Taken, then gone (deleted in between): the retry creates it afresh under the same ID.
                raise TransientError(
                    f"Vertex AI pipeline job {name} was taken, then not found", vendor="vertex"
                )
        return self._ref(created, body)

    def find_job(self, submission_key: str) -> JobRef | None:
        # One get by the name the key gives: no label filter, no list, nothing that could lag behind.
        found = self._get_named(self.job_name(submission_key), submission_key)
        return None if found is None else self._ref(found)
