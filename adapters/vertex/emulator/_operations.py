"""Long-running operations: what creating, importing, deploying and deleting return.

An operation's effect (``apply``) runs once, from a timer, when its configured Vertex time has passed;
with no delay it is done in its own response.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._runtime import Runtime
from ._wire import RPC_CODES, ApiError, not_found

#: The ``@type`` prefix of Vertex messages embedded in operation metadata and responses.
TYPE_PREFIX = "type.googleapis.com/google.cloud.aiplatform.v1."


@dataclass
class Operation:
    """A long-running operation; ``apply`` runs once, when it is done, and returns its response."""

    name: str
    metadata: dict[str, Any]
    done_at: float
    apply: Callable[[float], dict[str, Any]]
    response: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    applied: bool = False


class Operations:
    """Every operation, by name."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self.operations: dict[str, Operation] = {}

    def start(
        self,
        resource: str,
        metadata_type: str,
        vertex_seconds: float,
        apply: Callable[[float], dict[str, Any]],
    ) -> dict[str, Any]:
        """Starts an operation on ``resource`` that runs ``apply`` when done; returns its JSON.

        Call with the lock held. An ``ApiError`` raised by ``apply`` becomes the operation's error.
        """
        now = self._rt.clock()
        name = f"{resource}/operations/{self._rt.new_id()}"
        metadata = {
            "@type": TYPE_PREFIX + metadata_type,
            "genericMetadata": {"createTime": self._rt.wall(now), "updateTime": self._rt.wall(now)},
        }
        op = Operation(name, metadata, now + self._rt.seconds(vertex_seconds), apply)
        self.operations[name] = op
        self._rt.at(op.done_at, lambda t: self._finish(op, t))
        self._rt.settle()  # an operation with no delay is done in its own response
        return self.render(op, self._rt.clock())

    def _finish(self, op: Operation, t: float) -> None:
        if op.applied:
            return
        op.applied = True
        try:
            op.response = op.apply(t)
        except ApiError as exc:
            op.error = {"code": RPC_CODES.get(exc.status, RPC_CODES["INTERNAL"]), "message": exc.message}
        op.metadata["genericMetadata"]["updateTime"] = self._rt.wall(t)

    def render(self, op: Operation, now: float) -> dict[str, Any]:
        """The Operation JSON at ``now``."""
        doc: dict[str, Any] = {"name": op.name, "metadata": copy.deepcopy(op.metadata)}
        if op.applied and now >= op.done_at:
            doc["done"] = True
            if op.error is not None:
                doc["error"] = op.error
            else:
                doc["response"] = copy.deepcopy(op.response)
        return doc

    def get(self, name: str) -> dict[str, Any]:
        """Gets an operation (404 if unknown)."""
        now = self._rt.settle()
        with self._rt.lock:
            op = self.operations.get(self._rt.canonical(name))
            if op is None:
                raise not_found(name)
            return self.render(op, now)

    def list_(self, resource: str, page_size: int, page_token: str) -> tuple[list[dict[str, Any]], str]:
        """The operations of ``resource`` (a location lists every operation under it), one page."""
        now = self._rt.settle()
        prefix = self._rt.canonical(resource).rstrip("/") + "/"
        with self._rt.lock:
            docs = [self.render(op, now) for name, op in self.operations.items() if name.startswith(prefix)]
        return self._rt.page(docs, page_size, page_token)

    def cancel(self, name: str) -> None:
        """Best-effort cancel, as Vertex: a pending operation ends CANCELLED; a done one is kept."""
        now = self._rt.settle()
        with self._rt.lock:
            op = self._op(name)
            if not op.applied:
                op.applied = True  # its effect never happens
                op.done_at = now
                op.error = {"code": RPC_CODES["CANCELLED"], "message": "Operation was cancelled."}

    def delete(self, name: str) -> None:
        """Forget an operation (its effect, if any, stays); 404 if unknown."""
        with self._rt.lock:
            self._op(name)
            del self.operations[self._rt.canonical(name)]

    def _op(self, name: str) -> Operation:
        op = self.operations.get(self._rt.canonical(name))
        if op is None:
            raise not_found(name)
        return op


def empty(t: float) -> dict[str, Any]:
    """The response of an operation that returns nothing (a delete)."""
    return {"@type": "type.googleapis.com/google.protobuf.Empty"}
