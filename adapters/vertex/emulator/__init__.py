"""An offline, stateful Vertex AI emulator that the real ``google.cloud.aiplatform_v1`` clients talk to.

Standard library and pydantic only at import: nothing here imports ``google.*`` or ``grpc`` until a gRPC
server is asked for (``emu.grpc_target``, or the foreground server, which serves both). Every gRPC call is
transcoded to the REST request the REST client would send, so both fronts share one state. Three ways to
run it:

- :class:`VertexEmulator` -- a context manager for tests (127.0.0.1, ephemeral port, daemon thread);
- :func:`run_server` / :func:`main` -- the foreground server of ``python -m adapters.vertex.emulator``;
- :func:`mount_in_responses` -- in-process, through a ``responses.RequestsMock``.

Point a client at it with ``transport="rest"``, ``client_options={"api_endpoint": emu.url}`` and
``credentials=AnonymousCredentials()``; or over gRPC with a transport on
``grpc.insecure_channel(emu.grpc_target)``.

Scripting outcomes: the label ``emulator-outcome`` (``succeed`` | ``fail`` | ``pause``) on a pipeline or job,
or ``emu.state.script_next("fail", kind="trainingPipelines", count=1, message=...)`` for the next jobs
created (the label wins); the label ``emulator-seconds`` overrides the running time in Vertex seconds.

Faults, per method name (``counts`` uses the same names): ``EmulatorConfig(faults={...})`` or at run time
``emu.faults.set("GetTrainingPipeline", error_rate=1.0, codes=[503], retry_after=2, max_faults=3)``, with
``latency`` (real seconds) and ``drop_response_rate`` (the effect happens, the response is lost).
"""

from ._app import ROUTES, EmulatorApp, Route
from ._automl import TASKS, HashPredictor, LinearModel, NaiveBayes, TrainingError
from ._config import FAMILIES, EmulatorConfig, FaultSpec, Phases, Quotas
from ._faults import Decision, Faults, LogEntry, QuotaTracker, RequestLog
from ._responses import mount_in_responses
from ._server import VertexEmulator, main, run_server
from ._state import JOB_KINDS, OUTCOME_LABEL, OUTCOMES, SECONDS_LABEL, Outcome, State
from ._wire import ApiError, ResponseDropped

__all__ = [
    "FAMILIES",
    "JOB_KINDS",
    "OUTCOMES",
    "OUTCOME_LABEL",
    "ROUTES",
    "SECONDS_LABEL",
    "TASKS",
    "ApiError",
    "Decision",
    "EmulatorApp",
    "EmulatorConfig",
    "FaultSpec",
    "Faults",
    "HashPredictor",
    "LinearModel",
    "LogEntry",
    "NaiveBayes",
    "Outcome",
    "Phases",
    "QuotaTracker",
    "Quotas",
    "RequestLog",
    "ResponseDropped",
    "Route",
    "State",
    "TrainingError",
    "VertexEmulator",
    "main",
    "mount_in_responses",
    "run_server",
]
