"""Batch prediction jobs: on success they write predictions, when input and output paths are local."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import _storage
from ._jobs import Job, Jobs
from ._models import Models
from ._runtime import Runtime
from ._wire import ApiError, invalid


class BatchPredictions:
    """Creates batch prediction jobs (as :class:`Job` of kind ``batchPredictionJobs``) and their effects."""

    def __init__(self, runtime: Runtime, jobs: Jobs, models: Models) -> None:
        self._rt = runtime
        self._jobs = jobs
        self._models = models

    def create(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        """Creates a batch prediction job; on success it writes predictions when the paths are local."""
        now = self._rt.settle()
        requested = str(body.get("model") or "")
        if not requested:
            raise invalid("model is required")
        if not (body.get("inputConfig") or {}).get("instancesFormat"):
            raise invalid("inputConfig.instancesFormat is required")
        with self._rt.lock:
            # The model may name a version or alias (models/123@1), as the SDK's batch_predict sends it.
            try:
                model = self._models.resolve(requested)
            except ApiError:
                raise invalid(f"Model {requested} does not exist.") from None
            job = self._jobs.add(self._rt.canonical(parent), "batchPredictionJobs", body, "batch_prediction")
            job.doc["model"] = model
            if "@" in requested:
                job.doc["modelVersionId"] = str(self._models.docs[model].get("versionId") or "1")
            if job.outcome == "succeed":
                job.on_success = lambda t: self._write(job, t)
                self._jobs.arm(job)
            return self._jobs.render(job, now)

    def _write(self, job: Job, t: float) -> None:
        # Called once, by Jobs.observe, when the job is first seen SUCCEEDED.
        model = job.doc["model"]
        predictor = self._models.predictor(model)
        config_in, config_out = job.doc.get("inputConfig") or {}, job.doc.get("outputConfig") or {}
        prefix = (config_out.get("gcsDestination") or {}).get("outputUriPrefix", "")
        # Documented: prediction-<model-display-name>-<job create time, ISO 8601 with milliseconds>.
        display = self._models.docs.get(model, {}).get("displayName") or model.rsplit("/", 1)[-1]
        out_uri = f"{prefix.rstrip('/')}/prediction-{display}-{self._rt.wall(job.created)[:23]}Z"
        job.doc["outputInfo"] = {"gcsOutputDirectory": out_uri}
        uris = (config_in.get("gcsSource") or {}).get("uris") or []
        paths = _storage.expand(list(uris), self._rt.config.bucket_map)
        out_dir = _storage.resolve_uri(out_uri, self._rt.config.bucket_map) if prefix else None
        if paths is None or out_dir is None:
            return
        instances = list(_read_instances(paths, config_in["instancesFormat"]))
        out_dir.mkdir(parents=True, exist_ok=True)
        with (out_dir / "predictions_00001.jsonl").open("w", encoding="utf-8") as f:
            for instance in instances:
                f.write(json.dumps({"instance": instance, "prediction": predictor.predict(instance)}) + "\n")
        job.doc["completionStats"] = {"successfulCount": str(len(instances)), "failedCount": "0"}


def _read_instances(paths: Iterable[Path], fmt: str) -> Iterable[Any]:
    for path in paths:
        text = path.read_text(encoding="utf-8")
        if fmt == "csv":
            yield from csv.DictReader(text.splitlines())
        else:
            yield from (json.loads(line) for line in text.splitlines() if line.strip())
