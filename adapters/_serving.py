"""Online predictions and deployment: capabilities an adapter has or has not, not duties to refuse.

Two small public protocols, checked with ``isinstance`` by the CLI and by users:

- :class:`Predicting` -- ``run(instances, parameters)`` answers online predictions (the local adapter:
  the entrypoint's ``predict``; Vertex AutoML: a deployed endpoint);
- :class:`Serving` -- :class:`Predicting` plus ``deploy(...)`` / ``undeploy()``.

An adapter gets ``run`` by mixing :class:`OnlinePredictions` into its model and implementing
``predict_chunk`` (one vendor call) and, if predictions go somewhere other than the job,
``prediction_target``. Chunking by count and JSON bytes, bounded concurrency, order, per-chunk retries and
the rate limiter are written once, here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from adapters._errors import PredictionError, VendorError
from checkpoint._errors import JobferryError

from ._chunking import Chunk, ChunkInstances, plan_chunks
from ._jobs import JobRef

if TYPE_CHECKING:
    from ._external import ExternalJobModel

    _Base = ExternalJobModel[Any]
else:
    _Base = object

__all__ = ["OnlinePredictions", "Predicting", "Serving"]


@runtime_checkable
class Predicting(Protocol):
    """An adapter that answers online predictions."""

    def run(self, instances: Sequence[Any], parameters: dict[str, Any] | None = None) -> list[Any]:
        """Predictions for ``instances``, in their order."""
        ...


@runtime_checkable
class Serving(Predicting, Protocol):
    """An adapter whose trained model is deployed to an endpoint before it predicts."""

    def deploy(self, *args: Any, wait: bool = True, **kwargs: Any) -> str:
        """Deploy the trained model; return where it serves.

        ``wait=False`` returns once the vendor accepted the deployment, with what is known of it recorded
        in the job: ``run`` before it finished says so in one line, and calling ``deploy()`` again (with
        the default ``wait=True``) adopts the deployment in flight and waits for it.
        """
        ...

    def undeploy(self, *args: Any, wait: bool = True, **kwargs: Any) -> None:
        """Undeploy what :meth:`deploy` deployed (Vertex: ``delete_endpoint=True`` deletes its endpoint).

        ``wait=False`` returns once the vendor accepted the undeploy (Vertex refuses it together with
        ``delete_endpoint``: the endpoint can only be deleted once the model is off it).
        """
        ...


class OnlinePredictions(_Base):
    """Mixin for an :class:`~adapters.ExternalJobModel` whose vendor serves predictions: gives ``run``.

    List it before the model's base: ``class MyModel(OnlinePredictions, ExternalJobModel[MyConfig])``.
    """

    #: The most instances the vendor's prediction call takes (``None``: no limit of its own). Gemini's
    #: ``generateContent`` answers one conversation per request, so its adapter says 1.
    instances_per_call: ClassVar[int | None] = None

    def predict_chunk(
        self, ref: JobRef, instances: list[Any], parameters: dict[str, Any] | None
    ) -> list[Any]:
        """Predictions for one chunk of instances, in their order (one vendor call, no retries).

        ``instances`` is a list; from :meth:`run` a :class:`~adapters._chunking.ChunkInstances` whose JSON
        an adapter that posts JSON reuses with :func:`~adapters._chunking.request_body`.
        """
        raise NotImplementedError

    def prediction_target(self) -> JobRef:
        """What ``predict_chunk`` is called with: the job by default (adapters may use a deployment)."""
        return self.job

    def deployment_in_progress(self, what: str) -> JobferryError:
        """The one-line error of ``run`` on a deployment started with ``deploy(wait=False)``, not yet done."""
        instance = self._plugin_instance_id or (
            self._checkpoint.plugin_instance_id if self._checkpoint else None
        )
        rerun = f"`jobferry deploy {instance}`" if instance else "deploy()"
        job = self.job.job_id
        return JobferryError(
            f"job {job}: the deployment of {what} is still in progress; run {rerun} to wait for it"
        )

    def prediction_concurrency(self) -> int:
        """Prediction requests in flight at once: the policy's; adapters may lower it to what serves them
        (SageMaker: the endpoint's instance count times the requests one instance takes)."""
        return self.policies.max_concurrency

    def run(self, instances: Sequence[Any], parameters: dict[str, Any] | None = None) -> list[Any]:
        """Predictions for ``instances``, in their order.

        Instances are cut into chunks by count and JSON size, sent concurrently (bounded), each chunk
        retried on its own; a chunk that fails for good raises PredictionError naming it.
        """
        policies = self.policies
        target = self.prediction_target()
        chunks = plan_chunks(
            instances,
            max_count=min(policies.max_instances_per_request, self.instances_per_call or 1 << 62),
            max_bytes=policies.max_request_bytes,
            parameters=parameters,
        )
        limiter = self.limiter(policies.predictions_per_minute, "predict")
        # The vendor's second prediction bucket counts bytes: each chunk takes its planned body's size.
        byte_limiter = self.limiter(policies.prediction_bytes_per_minute, "predict-bytes")

        def one(chunk: Chunk) -> list[Any]:
            part = ChunkInstances(instances[chunk.start : chunk.stop], chunk.encoded)

            def call() -> list[Any]:
                limiter.acquire()
                byte_limiter.acquire(max(1, min(chunk.nbytes, byte_limiter.capacity)))
                return self.predict_chunk(target, part, parameters)

            def failed(why: str) -> PredictionError:
                where = f"prediction chunk {chunk.index} (instances {chunk.start}..{chunk.stop - 1} of "
                return PredictionError(
                    f"{where}{len(instances)}) {why}",
                    chunk_index=chunk.index,
                    start=chunk.start,
                    stop=chunk.stop,
                )

            try:
                got: list[Any] = self.call(call, f"predict chunk {chunk.index}")
            except (VendorError, OSError) as exc:
                raise failed(f"failed: {exc}") from exc
            if len(got) != len(part):
                raise failed(f"returned {len(got)} predictions for {len(part)} instances")
            return got

        concurrency = self.prediction_concurrency()
        if len(chunks) <= 1 or concurrency == 1:
            return [p for chunk in chunks for p in one(chunk)]
        workers = min(concurrency, len(chunks))
        # Hand the chunks over rather than keep them: each one's encoded body is freed once it is sent.
        queue = deque(chunks)
        del chunks
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, (queue.popleft() for _ in range(len(queue)))))  # in input order
        return [p for part in results for p in part]
