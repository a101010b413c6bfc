"""Gemini supervised tuning on Vertex AI (GenAiTuningService ``tuningJobs``) as an external job.

A TuningJob has no client-chosen ID, so exactly-once is the engine's label + look-up: the job carries the
submission key in its labels, and a create whose response was lost is adopted by listing
``labels.jobferry-key="KEY"`` before any second create. The datasets are JSON Lines in Gemini's format
(:mod:`._tuning_data`); a file that can be read here (a local file for the emulator, or a ``gs://`` object
readable with the job's Google credentials) has its first lines checked before anything is claimed or
sent, and a bad line is refused naming the file, the line and the field.

Vertex deploys the tuned model itself: the job's outputs are the tuned ``model`` and its ``endpoint``, and
``run()`` sends one ``generateContent`` request per prompt to that endpoint -- concurrent, in order, each
retried on its own, within the prediction rate limit (the one ``run`` of :mod:`adapters._serving`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from adapters._errors import PermanentError, SpecError
from checkpoint._errors import JobferryError

from .._credentials import AnonymousRef, CredentialRef
from .._jobs import JobRef
from .._messages import TrainPluginInput
from .._serving import OnlinePredictions
from ._base import JOB_STATES, VertexConfig
from ._client import insecure_target, to_json_dict, to_message, wire_size
from ._resources import ResourceKind, VertexJobModel
from ._tuning_data import DatasetProblem, read_examples

__all__ = ["ADAPTER_SIZES", "VertexTuningJob", "VertexTuningJobConfig", "check_dataset"]

log = logging.getLogger(__name__)

#: ``SupervisedHyperParameters.AdapterSize`` by its number of adapters (the LoRA rank).
_SIZE_NAMES = ("ONE", "TWO", "FOUR", "EIGHT", "SIXTEEN", "THIRTY_TWO")
ADAPTER_SIZES = {2**i: f"ADAPTER_SIZE_{name}" for i, name in enumerate(_SIZE_NAMES)}
#: How many lines of a dataset are checked up front (the whole file is Vertex's to check).
CHECK_LINES = 1000
_HEAD_BYTES = 4 << 20
_LOOPBACK = ("http://127.0.0.1", "http://localhost", "http://[::1]", "grpc://")


def _is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


class VertexTuningJobConfig(VertexConfig):
    """Settings of a Gemini supervised tuning job.

    Attributes:
        base_model: the Gemini model to tune, e.g. ``gemini-2.0-flash-001``.
        training_dataset_uri: the training examples, JSON Lines in Gemini's format, on ``gs://`` (the
            training input's ``training_data_url`` may give it instead). A local path or ``file://`` URI
            reaches only the emulator.
        validation_dataset_uri: validation examples in the same format (Vertex allows up to 256).
        epoch_count: passes over the training data (Vertex picks when unset).
        adapter_size: the LoRA adapter size: 1, 2, 4, 8, 16 or 32, or Vertex's name for it
            (``ADAPTER_SIZE_FOUR``); Vertex picks when unset.
        learning_rate_multiplier: scales Vertex's recommended learning rate (> 0).
        tuned_model_display_name: the tuned model's display name (default: ``display_name``, the plugin
            instance, or one derived from the submission key).
        description: the tuning job's description.
        check_gcs_datasets: also read the first lines of ``gs://`` datasets (through gcsfs, with the
            application's Google credentials) and refuse a bad one before submitting. Off by default:
            offline, or without access, gcsfs retries for about a minute before giving up. Local files
            are always checked. Not part of the job (changing it submits nothing new).
    """

    base_model: str = Field(min_length=1)
    training_dataset_uri: str | None = Field(default=None, min_length=1)
    validation_dataset_uri: str | None = Field(default=None, min_length=1)
    epoch_count: int | None = Field(default=None, ge=1)
    adapter_size: Literal[1, 2, 4, 8, 16, 32] | None = None
    learning_rate_multiplier: float | None = Field(default=None, gt=0)
    tuned_model_display_name: str | None = Field(default=None, min_length=1, max_length=128)
    description: str | None = None
    check_gcs_datasets: bool = False

    @field_validator("adapter_size", mode="before")
    @classmethod
    def _adapter_size_by_name(cls, size: Any) -> Any:
        # Vertex's enum names are accepted too: ADAPTER_SIZE_FOUR (or FOUR) is 4.
        if isinstance(size, str):
            by_name = {name: n for n, name in ADAPTER_SIZES.items()}
            upper = size.upper()
            return by_name.get(upper, by_name.get(f"ADAPTER_SIZE_{upper}", size))
        return size

    @field_validator("training_dataset_uri", "validation_dataset_uri")
    @classmethod
    def _dataset_uri(cls, uri: str | None) -> str | None:
        if uri is not None and "://" in uri and not uri.startswith(("gs://", "file://")):
            raise ValueError(
                f"a tuning dataset is a gs:// URI (or, for the emulator, a local path), not {uri!r}"
            )
        return uri


def _read_head(uri: str, credentials: CredentialRef, read_gcs: bool) -> list[str] | None:
    """The first lines of ``uri`` when they can be read here, else None (Vertex checks the file itself)."""
    if _is_local(uri):
        path = Path(uri.removeprefix("file://"))
        try:
            with open(path, encoding="utf-8-sig") as f:
                return list(itertools.islice(f, CHECK_LINES))
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"cannot read tuning dataset {uri!r}: {exc}") from None
    if not read_gcs or isinstance(credentials, AnonymousRef):
        return None  # anonymous credentials read no bucket (the emulator's gs:// data is its own)
    try:
        from checkpoint import Workspace

        folder, _, name = uri.removeprefix("gs://").rpartition("/")
        head = Workspace(f"gs://{folder}", storage_options={"timeout": 30}).read_range(name, 0, _HEAD_BYTES)
    except Exception as exc:  # unreadable here (access, network, no gcsfs): Vertex will tell
        log.warning("tuning dataset %s not checked before submission: %s", uri, exc)
        return None
    lines = head.decode("utf-8-sig", errors="replace").splitlines(keepends=True)
    if len(head) == _HEAD_BYTES and lines and not lines[-1].endswith("\n"):
        lines.pop()  # cut mid-line by the byte limit
    return lines[:CHECK_LINES]


def check_dataset(field: str, uri: str, credentials: CredentialRef, *, read_gcs: bool = False) -> None:
    """SpecError naming ``field``, the file, the line and what is wrong, if its first lines are not Gemini
    tuning examples; nothing when they are or when the file is not read here (``gs://`` unless
    ``read_gcs``, or unreadable)."""
    lines = _read_head(uri, credentials, read_gcs)
    if lines is None:
        return
    try:
        read_examples(lines)
    except DatasetProblem as exc:
        raise SpecError(
            f"{field} {uri!r} is not a Gemini tuning dataset: {exc} (each line is "
            '{"contents": [{"role": "user", "parts": [{"text": ...}]}, {"role": "model", ...}]})'
        ) from None


def _tuning_outputs(data: dict[str, Any]) -> dict[str, Any]:
    tuned = data.get("tunedModel") or {}
    return {k: tuned[k] for k in ("model", "endpoint") if tuned.get(k)}


TUNING_JOB = ResourceKind("tuning job", "tuning", "tuning_job", "TuningJob", JOB_STATES, _tuning_outputs)


class VertexTuningJob(OnlinePredictions, VertexJobModel[VertexTuningJobConfig]):
    """A Gemini supervised tuning job: submit, status, cancel, reattach; ``run`` prompts the tuned model."""

    adapter_name: ClassVar[str] = "vertex-tuning-job"
    kind: ClassVar[ResourceKind] = TUNING_JOB
    config_class: ClassVar[type[VertexTuningJobConfig]] = VertexTuningJobConfig
    input_fields: ClassVar[frozenset[str] | None] = frozenset({"training_data_url"})
    #: ``generateContent`` answers one conversation per request.
    instances_per_call: ClassVar[int | None] = 1

    # -- the request --------------------------------------------------------------------------------------

    def training_uri(self, input: TrainPluginInput) -> str:
        """The training dataset: ``config.training_dataset_uri`` or the input's ``training_data_url``."""
        config = self.require_config()
        given = config.training_dataset_uri
        url = input.training_data_url
        if given and url and given != url:
            raise SpecError(
                f"two training datasets given: config.training_dataset_uri {given!r} and the input's "
                f"training_data_url {url!r}; give one"
            )
        uri = given or url
        if not uri:
            raise SpecError(
                "VertexTuningJob needs training data: set config.training_dataset_uri (a gs:// JSON Lines "
                "file in Gemini's format) or the training input's training_data_url"
            )
        return uri

    def job_spec(self, input: TrainPluginInput) -> dict[str, Any]:
        """The engine's spec, after checking the datasets (before any intent is written or call made)."""
        config = self.require_config()
        reach = self.reach
        datasets = {"training_dataset_uri": self.training_uri(input)}
        if config.validation_dataset_uri:
            datasets["validation_dataset_uri"] = config.validation_dataset_uri
        emulator = (reach.api_endpoint or "").startswith(_LOOPBACK) or insecure_target(
            reach.api_endpoint or "", reach.transport, reach.credentials
        ) is not None
        for field, uri in datasets.items():
            if _is_local(uri) and not emulator:
                raise SpecError(
                    f"{field} {uri!r} is a local file; Vertex AI reads tuning datasets from Cloud Storage: "
                    "upload it and give its gs:// URI"
                )
            check_dataset(field, uri, reach.credentials, read_gcs=config.check_gcs_datasets)
        spec = super().job_spec(input)
        spec["config"].pop("check_gcs_datasets", None)  # how we check, not what is tuned
        return spec

    def create_body(self, spec: dict[str, Any], submission_key: str) -> dict[str, Any]:
        config = self.require_config()
        input = TrainPluginInput.model_validate(spec["input"])
        hyper: dict[str, Any] = {}
        if config.epoch_count is not None:
            hyper["epochCount"] = str(config.epoch_count)  # int64: a JSON string
        if config.learning_rate_multiplier is not None:
            hyper["learningRateMultiplier"] = config.learning_rate_multiplier
        if config.adapter_size is not None:
            hyper["adapterSize"] = ADAPTER_SIZES[config.adapter_size]
        supervised: dict[str, Any] = {"trainingDatasetUri": self.training_uri(input)}
        if config.validation_dataset_uri:
            supervised["validationDatasetUri"] = config.validation_dataset_uri
        if hyper:
            supervised["hyperParameters"] = hyper
        # A TuningJob has no displayName: the name people see is the tuned model's.
        body: dict[str, Any] = {
            "baseModel": config.base_model,
            "supervisedTuningSpec": supervised,
            "tunedModelDisplayName": config.tuned_model_display_name or self.display_name(submission_key),
            "labels": self.labels(submission_key),
        }
        if config.description:
            body["description"] = config.description
        if config.service_account:
            body["serviceAccount"] = config.service_account
        if (encryption := self.encryption_spec()) is not None:
            body["encryptionSpec"] = encryption
        return body

    # -- the tuned model ------------------------------------------------------------------------------------

    def tuned_model(self) -> tuple[str, str]:
        """The tuned model's and its endpoint's resource names (recorded in the job once known)."""
        ref = self.job
        model, endpoint = ref.resources.get("model"), ref.resources.get("endpoint")
        if model and endpoint:
            return model, endpoint
        status = self.record.last_status if self.record else None
        outputs = status.outputs if status is not None else {}
        if not outputs.get("endpoint"):
            status = self.refresh()
            outputs = status.outputs
        if not outputs.get("endpoint") or not outputs.get("model"):
            state = status.state.value if status is not None else "unknown"
            raise JobferryError(
                f"tuning job {ref.job_id} has no tuned model endpoint yet (state {state}); "
                "wait() for it first"
            )
        self.update_job(model=outputs["model"], endpoint=outputs["endpoint"])
        return str(outputs["model"]), str(outputs["endpoint"])

    def model_resource_name(self) -> str:
        return self.tuned_model()[0]

    # -- generate content ----------------------------------------------------------------------------------

    @staticmethod
    def request_body(instance: Any, parameters: dict[str, Any] | None) -> dict[str, Any]:
        """The ``GenerateContentRequest`` JSON for one instance: a prompt string, or a request object
        (``contents`` and optionally ``systemInstruction``, ``generationConfig``, ``safetySettings``, ...).
        ``parameters`` is the ``generationConfig`` (the instance's own keys win)."""
        if isinstance(instance, str):
            body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": instance}]}]}
        elif (
            isinstance(instance, dict)
            and isinstance(instance.get("contents"), list)
            and "model" not in instance
        ):
            body = dict(instance)
        else:
            raise SpecError(
                f"a tuned Gemini model takes a prompt string or a request object with 'contents' (and no "
                f"'model'), got {instance!r:.80}"
            )
        if parameters:
            body["generationConfig"] = {**parameters, **(body.get("generationConfig") or {})}
        return body

    def run(self, instances: Sequence[Any], parameters: dict[str, Any] | None = None) -> list[Any]:
        """The tuned model's answer (the first candidate's text; ``None`` when it gave none) to each
        instance, in order. Every instance is checked first: a bad one is refused before any request."""
        from google.protobuf import json_format

        for i, instance in enumerate(instances):
            try:
                to_message(self.vertex.v1.GenerateContentRequest, self.request_body(instance, parameters))
            except SpecError as exc:
                raise SpecError(f"instance {i}: {exc}") from None
            except (ValueError, json_format.Error) as exc:  # a field the API does not have, a wrong type
                raise SpecError(f"instance {i} is not a GenerateContentRequest: {exc}") from None
        return super().run(instances, parameters)

    def prediction_target(self) -> JobRef:
        self.tuned_model()
        _ = self.vertex.predictions  # build the client here, not racing in the prediction threads
        return self.job

    def predict_chunk(
        self, ref: JobRef, instances: list[Any], parameters: dict[str, Any] | None
    ) -> list[Any]:
        return [self._generate(ref.resources["endpoint"], i, parameters) for i in instances]

    def _generate(self, endpoint: str, instance: Any, parameters: dict[str, Any] | None) -> str | None:
        request = to_message(self.vertex.v1.GenerateContentRequest, self.request_body(instance, parameters))
        limit = self.policies.max_request_bytes
        if (size := wire_size(request)) > limit:
            raise PermanentError(
                f"one prompt takes {size} bytes as a Vertex AI request, more than max_request_bytes={limit}",
                vendor="vertex",
            )
        request.model = endpoint
        timeout = self.reach.call_timeout
        response = self.guard(
            "generate content",
            lambda: self.vertex.predictions.generate_content(request=request, timeout=timeout),
        )
        candidates = to_json_dict(response).get("candidates") or []
        if not candidates:
            return None
        parts = (candidates[0].get("content") or {}).get("parts") or []
        texts = [str(p["text"]) for p in parts if "text" in p]
        return "".join(texts) if texts else None
