"""What the operators return (and so what XCom holds): a job's references, never a secret.

Both the trigger's event and the worker-side wait end here, so a deferred and a non-deferred run return
the same dict. The job record's ``credentials`` (a *reference*, but still not the task's business) and
its ``connection`` are left out on purpose; any string that still looks like key material (a vendor
putting a token into a job's outputs) is replaced, because XCom is readable by anyone who can see the DAG.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from checkpoint._secrets import looks_like_secret

if TYPE_CHECKING:
    from adapters._external import ExternalJobModel
    from adapters._jobs import JobStatus

__all__ = ["REDACTED", "deployment_result", "event_result", "job_result", "public_url", "result_of", "scrub"]

REDACTED = "<redacted: looked like a secret>"


def public_url(url: str) -> str:
    """``url`` without a ``user:password@`` part (a workspace URL may carry one)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def scrub(value: Any) -> Any:
    """``value`` (JSON data) with every string that looks like credential material replaced."""
    if isinstance(value, str):
        return REDACTED if looks_like_secret(value) else value
    if isinstance(value, dict):
        return {str(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def job_result(
    *,
    workspace: str,
    plugin_instance: str,
    handle: str,
    adapter: str,
    job_id: str,
    resources: dict[str, str],
    state: str,
    outputs: dict[str, Any],
    message: str | None = None,
) -> dict[str, Any]:
    """The references of one job, JSON-safe and scrubbed: what a task returns and an event carries."""
    result: dict[str, Any] = {
        "job_id": job_id,
        "adapter": adapter,
        "plugin_instance": plugin_instance,
        "handle": handle,
        "workspace": public_url(workspace),
        "state": state,
        "resources": dict(resources),
        "outputs": outputs,
    }
    if message:
        result["message"] = message
    scrubbed: dict[str, Any] = scrub(result)
    return scrubbed


def result_of(
    model: ExternalJobModel[Any], status: JobStatus, workspace: str, plugin_instance: str, handle: str
) -> dict[str, Any]:
    """:func:`job_result` of a model (an ExternalJobModel) and its last status."""
    ref = model.job
    return job_result(
        workspace=workspace,
        plugin_instance=plugin_instance,
        handle=handle,
        adapter=ref.adapter,
        job_id=ref.job_id,
        resources=ref.resources,
        state=status.state.value,
        outputs=status.outputs,
        message=(status.error.message if status.error else status.message),
    )


def deployment_result(
    model: ExternalJobModel[Any], workspace: str, plugin_instance: str, endpoint: str | None
) -> dict[str, Any]:
    """What a deploy returns: the job and where its model serves (``None``: it predicts undeployed)."""
    result: dict[str, Any] = scrub(
        {
            "job_id": model.job.job_id,
            "adapter": model.adapter_name,
            "plugin_instance": plugin_instance,
            "workspace": public_url(workspace),
            "endpoint": endpoint,
        }
    )
    return result


def event_result(event: dict[str, Any] | None) -> dict[str, Any]:
    """A trigger event's ``result``, or AirflowException with its message if the work did not succeed."""
    from airflow.sdk.exceptions import AirflowException

    if not event or "status" not in event:
        raise AirflowException(f"jobferry trigger sent no usable event: {event!r}")
    if event["status"] != "success":
        raise AirflowException(event.get("message") or f"jobferry job {event['status']}")
    result: dict[str, Any] = event["result"]
    return result
