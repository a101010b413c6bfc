"""Training pipelines: fitting the AutoML model at creation, uploading it to the registry on success."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import _automl, _storage
from ._datasets import Datasets
from ._jobs import Job, Jobs
from ._labels import validate_labels
from ._models import Models, capability_fields
from ._runtime import Runtime
from ._wire import invalid


class Pipelines:
    """Creates training pipelines (as :class:`Job` of kind ``trainingPipelines``) and their effects."""

    def __init__(self, runtime: Runtime, jobs: Jobs, datasets: Datasets, models: Models) -> None:
        self._rt = runtime
        self._jobs = jobs
        self._datasets = datasets
        self._models = models

    def create(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a training pipeline; AutoML tabular/forecasting data are fitted now."""
        now = self._rt.settle()
        parent = self._rt.canonical(parent)
        definition = body.get("trainingTaskDefinition")
        if not isinstance(definition, str) or not definition:
            raise invalid("trainingTaskDefinition is required")
        family, task = _automl.resolve_task(definition)
        # proto-plus turns an empty dict into an unset Value, which goes over the wire as null.
        inputs = body.get("trainingTaskInputs") or {}
        if not isinstance(inputs, dict):
            raise invalid("trainingTaskInputs must be an object")
        validate_labels(body.get("labels"))
        with self._rt.lock:
            data = self._training_data(parent, body, family)
            job = self._jobs.add(parent, "trainingPipelines", body, family)
            try:
                job.predictor, job.summary = _automl.train(task, inputs, data)
            except _automl.TrainingError as exc:
                job.outcome, job.message = "fail", str(exc)
            if job.outcome == "succeed" and (family != "custom" or "modelToUpload" in body):
                job.on_success = lambda t: self._upload_model(job, t)
                self._jobs.arm(job)
            return self._jobs.render(job, now)

    def _training_data(self, parent: str, body: dict[str, Any], family: str) -> list[Path] | None:
        dataset_id = (body.get("inputDataConfig") or {}).get("datasetId")
        if not dataset_id:
            if family in ("tabular", "forecasting"):
                raise invalid("inputDataConfig.datasetId is required for AutoML tabular training")
            return None
        dataset = self._datasets.docs.get(f"{parent}/datasets/{dataset_id}")
        if dataset is None:
            raise invalid(f"Dataset {parent}/datasets/{dataset_id} does not exist.")
        source = ((dataset.get("metadata") or {}).get("inputConfig") or {}).get("gcsSource") or {}
        uris = source.get("uri") or []
        uris = [uris] if isinstance(uris, str) else list(uris)
        return _storage.expand(uris, self._rt.config.bucket_map) if uris else None

    def _upload_model(self, job: Job, t: float) -> None:
        # Called once, by Jobs.observe, when the pipeline is first seen SUCCEEDED (so not cancelled); it
        # may have been deleted since.
        if job.doc["name"] not in self._jobs.jobs["trainingPipelines"]:
            return
        parent = job.doc["name"].rsplit("/trainingPipelines/", 1)[0]
        upload = job.doc.get("modelToUpload") or {}
        model_id = str(job.doc.get("modelId") or self._rt.new_id())
        name = f"{parent}/models/{model_id}"
        self._models.docs[name] = {
            "name": name,
            "displayName": upload.get("displayName") or job.doc["displayName"],
            "description": upload.get("description", ""),
            "labels": upload.get("labels") or {},
            "trainingPipeline": job.doc["name"],
            "versionId": "1",
            "versionAliases": ["default"],
            "versionCreateTime": self._rt.wall(t),
            "versionUpdateTime": self._rt.wall(t),
            "createTime": self._rt.wall(t),
            "updateTime": self._rt.wall(t),
            "metadataSchemaUri": job.doc.get("trainingTaskDefinition", ""),
            "etag": f"emu-{model_id}",
            # What the SDK reads to pick deployment resources and batch formats (per AutoML family).
            **capability_fields(_automl.resolve_task(job.doc["trainingTaskDefinition"])[0]),
        }
        if job.predictor is not None:
            self._models.predictors[name] = job.predictor
        job.doc["modelToUpload"] = {**upload, "name": name, "versionId": "1"}
        job.doc["modelId"] = model_id
