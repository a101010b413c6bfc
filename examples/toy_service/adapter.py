"""ToyTrain: a complete jobferry adapter for a small JSON-over-HTTP training service (stdlib only)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any, ClassVar
from urllib.parse import urlencode

from pydantic import Field

import adapters as jf

S = jf.JobState
STATES = jf.StateTable(
    dict(QUEUED=S.QUEUED, RUNNING=S.RUNNING, DONE=S.SUCCEEDED, ERROR=S.FAILED, CANCELLED=S.CANCELLED)
)
ERRORS: dict[int, type[jf.VendorError]] = {400: jf.InvalidJobSpec, 401: jf.AuthError, 403: jf.AuthError}
ERRORS.update(dict.fromkeys((429, 500, 502, 503, 504), jf.TransientError))


class ToyTrainConnection(jf.Connection):  # how to reach the service: saved in job.json, not in the spec
    base_url: str = Field(pattern=r"^https?://")
    timeout: float = Field(default=30.0, gt=0)
    credentials: jf.CredentialRef = Field(default_factory=jf.CredentialRef.anonymous)  # ToyTrain needs none


class ToyTrainConfig(ToyTrainConnection, jf.ExternalJobConfig):
    """No job fields of its own: the training input is the whole job."""


class ToyTrainModel(jf.OnlinePredictions, jf.ExternalJobModel[ToyTrainConfig]):
    """Train on ToyTrain, follow the job and predict; each contract method is one HTTP call."""

    adapter_name: ClassVar[str] = "toy-train"
    vendor: ClassVar[str] = "toy-train"
    config_class: ClassVar[type[jf.ExternalJobConfig]] = ToyTrainConfig

    def connect(self) -> urllib.request.OpenerDirector:
        return urllib.request.build_opener()

    def submit_job(self, spec: dict[str, Any], submission_key: str) -> jf.JobRef:
        body = {"spec": spec, "labels": {"jobferry-key": submission_key}}
        job = self._http("POST", "/v1/jobs", body, create=True)
        return jf.JobRef(adapter=self.adapter_name, job_id=job["id"])

    def describe_job(self, ref: jf.JobRef) -> jf.JobStatus:
        job = self._http("GET", f"/v1/jobs/{ref.job_id}")
        err = {k: str(v) for k, v in (job.get("error") or {}).items() if v is not None}  # code, message
        return jf.JobStatus(
            state=STATES.map(job.get("state")),
            raw_state=job.get("state"),
            progress=job.get("progress"),
            error=jf.JobErrorInfo.model_validate(err) if err else None,
            outputs=job.get("outputs") or {},
        )

    def cancel_job(self, ref: jf.JobRef) -> None:
        self._http("POST", f"/v1/jobs/{ref.job_id}:cancel")

    def find_job(self, submission_key: str) -> jf.JobRef | None:
        jobs = self._http("GET", "/v1/jobs?" + urlencode({"label": f"jobferry-key:{submission_key}"}))["jobs"]
        return jf.JobRef(adapter=self.adapter_name, job_id=jobs[0]["id"]) if jobs else None

    def predict_chunk(
        self, ref: jf.JobRef, instances: list[Any], parameters: dict[str, Any] | None
    ) -> list[Any]:
        body = {"instances": instances, "parameters": parameters}
        return list(self._http("POST", f"/v1/jobs/{ref.job_id}:predict", body)["predictions"])

    def _http(self, method: str, path: str, body: Any = None, *, create: bool = False) -> Any:
        """One request and its JSON answer. The one place HTTP failures become jobferry errors."""
        config, what = self.connection_as(ToyTrainConnection), f"toy-train: {method} {path}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(config.base_url.rstrip("/") + path, data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with self.client.open(request, timeout=config.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:  # the service answered with an error status
            try:
                message = str(json.loads(exc.read())["error"]["message"])
            except (ValueError, KeyError, TypeError, OSError):
                message = str(exc.reason)
            text = f"{what}: HTTP {exc.code}: {message}"
            if exc.code == 404:
                raise jf.JobNotFound(text, vendor=self.vendor) from None
            after = float(wait) if (wait := exc.headers.get("Retry-After", "")).isdigit() else None
            raise ERRORS.get(exc.code, jf.PermanentError)(  # a status not in ERRORS is permanent
                text, vendor=self.vendor, code=exc.code, vendor_message=message, retry_after=after
            ) from None
        except (OSError, http.client.HTTPException, ValueError) as exc:  # sent, but no usable answer?
            unknown = create and not isinstance(exc, urllib.error.URLError)  # URLError: nothing was sent
            kind = jf.OutcomeUnknown if unknown else jf.TransientError  # the job may have been created
            raise kind(f"{what}: no usable response: {exc!r}", vendor=self.vendor) from exc
