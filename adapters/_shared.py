"""One process-wide instance per distinct arguments: the vendors' clients, shared by every job that reaches
a vendor the same way (watching a thousand jobs must not open a thousand connection pools, nor resolve the
same credentials a thousand times)."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from pydantic import BaseModel

P = ParamSpec("P")
T = TypeVar("T")


def _key_part(value: Any) -> Any:
    if isinstance(value, BaseModel):  # a credential reference: equal references share
        return value.model_dump_json()
    return "" if value is None else value  # an endpoint left out is the default endpoint, like ""


def shared_per_arguments(build: Callable[P, T]) -> Callable[P, T]:
    """``build``, called once per distinct arguments (defaults filled in), its result kept (thread-safe)."""
    signature = inspect.signature(build)
    made: dict[tuple[Any, ...], T] = {}
    lock = threading.Lock()

    def shared(*args: P.args, **kwargs: P.kwargs) -> T:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        key = tuple(_key_part(value) for value in bound.arguments.values())
        with lock:
            found = made.get(key)
            if found is None:
                found = made[key] = build(*args, **kwargs)
            return found

    return shared


__all__ = ["shared_per_arguments"]
