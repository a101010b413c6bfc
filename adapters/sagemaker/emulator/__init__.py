"""An offline, stateful SageMaker emulator that real boto3 clients drive over HTTP.

Standard library and pydantic only: nothing here imports boto3. It speaks SageMaker's JSON 1.1 protocol
(``X-Amz-Target: SageMaker.CreateTrainingJob`` ...) and the runtime's ``InvokeEndpoint`` on one
127.0.0.1 port, so one ``endpoint_url`` serves both clients:

- :class:`SageMakerEmulator` -- a context manager for tests (ephemeral port, daemon thread);
- :func:`run_server` / :func:`main` -- ``jobferry emulator sagemaker``.

Training jobs progress on the injected clock (``speedup`` divides SageMaker's durations): InProgress with
SecondaryStatus Starting -> Downloading -> Training -> Uploading, then Completed (a linear model really
fitted on the ``train`` channel's CSV, label first; the artefact written as ``model.tar.gz``), Failed or,
after StopTrainingJob, Stopping -> Stopped. A taken name answers ``ResourceInUse``; ``Search`` filters on
tags; endpoints go Creating -> InService and answer InvokeEndpoint from the fitted model (JSON or CSV);
transform jobs write ``.out`` objects. S3 is a map of buckets to local folders (see ``_storage``).

Scripting: the tag or hyperparameter ``emulator-outcome=fail``, ``emulator-seconds=N``. Faults per
operation: ``emu.faults.set("DescribeTrainingJob", error_rate=1.0, codes=[503], max_faults=2)``
(429 is answered as ``ThrottlingException``), with ``drop_response_rate`` for lost responses; quotas:
``throttle_per_window={"DescribeTrainingJob": 10}``.
"""

from ._app import FAULT_ERRORS, SageMakerApp
from ._config import FaultSpec, SageMakerEmulatorConfig, TrainingPhases
from ._model import LinearModel, TrainingError
from ._server import SageMakerEmulator, main, run_server
from ._state import OUTCOME_TAG, SECONDS_TAG, ApiError, State
from ._storage import Buckets

__all__ = [
    "FAULT_ERRORS",
    "OUTCOME_TAG",
    "SECONDS_TAG",
    "ApiError",
    "Buckets",
    "FaultSpec",
    "LinearModel",
    "SageMakerApp",
    "SageMakerEmulator",
    "SageMakerEmulatorConfig",
    "State",
    "TrainingError",
    "TrainingPhases",
    "main",
    "run_server",
]
