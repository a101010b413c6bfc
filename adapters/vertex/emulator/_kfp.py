"""Vertex AI Pipelines (KFP) pipeline jobs: a client-chosen ID, and task details that move on the clock.

A PipelineJob is created under the client's ``pipelineJobId`` when it gives one (a taken ID is 409
ALREADY_EXISTS, in Google's error shape, before any effect). Its tasks are the compiled spec's
``root.dag.tasks``, run one after another in dependency order (``dependentTasks``), splitting the job's
running time evenly; ``jobDetail.taskDetails`` reports the pipeline's own root task and each of them as they
stand at the time of the read. A ``templateUri`` whose file the emulator can read (a local path, or a mapped
``gs://`` bucket) fills ``pipelineSpec`` as Vertex does; any other template runs as one task.
"""

from __future__ import annotations

import json
import re
from typing import Any

from . import _storage
from ._jobs import Job, Jobs
from ._runtime import Runtime
from ._wire import invalid

#: ``CreatePipelineJobRequest.pipeline_job_id``: under 128 characters of ``[a-z0-9-]`` (the field's
#: documentation in ``aiplatform_v1``); Vertex also wants it to start with a letter.
PIPELINE_JOB_ID = re.compile(r"[a-z][a-z0-9-]{0,127}")


def task_order(spec: dict[str, Any]) -> list[str]:
    """The names of the spec's root DAG tasks, each after the tasks it depends on (spec order otherwise)."""
    tasks = ((spec.get("root") or {}).get("dag") or {}).get("tasks") or {}
    if not isinstance(tasks, dict):
        raise invalid("pipelineSpec.root.dag.tasks must be an object")
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise invalid(f"pipelineSpec.root.dag.tasks has a dependency cycle through {name!r}")
        visiting.add(name)
        for dep in (tasks.get(name) or {}).get("dependentTasks") or []:
            if dep not in tasks:
                raise invalid(
                    f"task {name!r} depends on {dep!r}, which is not in pipelineSpec.root.dag.tasks"
                )
            visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in tasks:
        visit(name)
    return order


class PipelineJobs:
    """Creates pipeline jobs (as :class:`Job` of kind ``pipelineJobs``) and renders their task details."""

    def __init__(self, runtime: Runtime, jobs: Jobs) -> None:
        self._rt = runtime
        self._jobs = jobs

    def create(self, parent: str, body: dict[str, Any], job_id: str = "") -> dict[str, Any]:
        """Creates a pipeline job under ``job_id`` (the client's ``pipelineJobId``) or a new ID."""
        now = self._rt.settle()
        if job_id and not PIPELINE_JOB_ID.fullmatch(job_id):
            raise invalid(
                f"Invalid pipeline_job_id {job_id!r}: it must be a lowercase letter followed by fewer than "
                "128 lowercase letters, digits or hyphens in all."
            )
        body = dict(body)
        spec = self._spec(body)
        runtime = body.get("runtimeConfig") or {}
        if not isinstance(runtime, dict):
            raise invalid("runtimeConfig must be an object")
        if not runtime.get("gcsOutputDirectory") and not spec.get("defaultPipelineRoot"):
            raise invalid(
                "runtimeConfig.gcsOutputDirectory is required when the pipeline spec has no "
                "defaultPipelineRoot."
            )
        values = runtime.get("parameterValues") or {}
        declared = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
        unknown = sorted(set(values) - set(declared)) if declared else []
        if unknown:
            raise invalid(
                f"The pipeline parameter(s) {unknown} are not defined in the pipeline spec (defined: "
                f"{sorted(declared)})."
            )
        tasks = task_order(spec) if spec.get("root") else []
        if not body.get("displayName"):
            info = spec.get("pipelineInfo") or {}
            body["displayName"] = str(info.get("name") or "pipeline")
        with self._rt.lock:
            job = self._jobs.add(self._rt.canonical(parent), "pipelineJobs", body, "pipeline_job", job_id)
            root = str((spec.get("pipelineInfo") or {}).get("name") or "pipeline")
            names = tasks or ["template"]
            job.on_render = lambda doc, state, at: self._details(job, root, names, doc, state, at)
            return self._jobs.render(job, now)

    def _spec(self, body: dict[str, Any]) -> dict[str, Any]:
        spec = body.get("pipelineSpec")
        template = body.get("templateUri")
        if spec and template:
            raise invalid("Give either pipelineSpec or templateUri, not both.")
        if spec:
            if not isinstance(spec, dict) or not isinstance(spec.get("root"), dict):
                raise invalid("pipelineSpec must be a compiled KFP pipeline (an object with a root).")
            return spec
        if not template:
            raise invalid("pipelineSpec or templateUri is required.")
        path = _storage.resolve_uri(str(template), self._rt.config.bucket_map)
        if path is None or not path.is_file():
            return {}  # a registry template the emulator cannot read: it runs as one task
        try:
            loaded = json.loads(path.read_text())
        except ValueError:
            raise invalid(f"The template {template} is not a compiled pipeline in JSON.") from None
        if not isinstance(loaded, dict) or not isinstance(loaded.get("root"), dict):
            raise invalid(f"The template {template} is not a compiled KFP pipeline (no root).")
        body["pipelineSpec"] = loaded
        return loaded

    def _details(
        self, job: Job, root: str, names: list[str], doc: dict[str, Any], state: str, now: float
    ) -> None:
        bounds = {s: (b, e) for s, b, e in job.boundaries}
        run_start, run_end = bounds.get("RUNNING", (job.finish, job.finish))
        if state == "PAUSED":
            now = min(now, run_start + (run_end - run_start) / 2)  # a paused job stops where it paused
        share = (run_end - run_start) / len(names)
        details: list[dict[str, Any]] = []
        for i, name in enumerate(names):
            begin, end = run_start + i * share, run_start + (i + 1) * share
            task_state = _task_state(job, state, now, begin, end, last=i == len(names) - 1)
            detail: dict[str, Any] = {
                "taskId": str(i + 2),
                "parentTaskId": "1",
                "taskName": name,
                "createTime": self._rt.wall(job.created),
                "state": task_state,
            }
            if task_state not in ("PENDING", "CANCEL_PENDING") and now >= begin:
                detail["startTime"] = self._rt.wall(begin)
            if task_state in ("SUCCEEDED", "FAILED"):
                detail["endTime"] = self._rt.wall(end)
            if task_state == "FAILED":
                detail["error"] = {"code": 13, "message": job.message}
            details.append(detail)
        root_detail: dict[str, Any] = {
            "taskId": "1",
            "taskName": root,
            "createTime": self._rt.wall(job.created),
            "state": _ROOT_STATES.get(state, state),
        }
        for field in ("startTime", "endTime"):
            if field in doc:
                root_detail[field] = doc[field]
        doc["jobDetail"] = {"taskDetails": [root_detail, *details]}


#: PipelineState (without prefix) -> the root task's PipelineTaskDetail.State.
_ROOT_STATES = {"QUEUED": "PENDING", "PENDING": "PENDING", "PAUSED": "RUNNING"}


def _task_state(job: Job, state: str, now: float, begin: float, end: float, *, last: bool) -> str:
    """A task's PipelineTaskDetail.State, from the job's state and the task's slot of its running time."""
    if state in ("CANCELLING", "CANCELLED") and job.cancelled_at is not None:
        at = job.cancelled_at
        if at >= end:
            return "SUCCEEDED"
        if state == "CANCELLED":
            return "CANCELLED"
        return "CANCEL_PENDING" if at < begin else "CANCELLING"
    if state == "SUCCEEDED":
        return "SUCCEEDED"
    if state == "FAILED":
        return "FAILED" if last else "SUCCEEDED"
    if now >= end:
        return "SUCCEEDED"
    return "RUNNING" if now >= begin else "PENDING"
