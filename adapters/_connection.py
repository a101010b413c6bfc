"""Which config fields define a job and which only say how to reach its vendor -- declared once.

An adapter's config is built from three kinds of settings, each a pydantic model of its own:

- :class:`Connection` and its vendor subclasses (project, region, endpoint, transport, credential
  reference, timeouts): how to *reach* the vendor. Saved in ``job.json`` and validated again when a job
  is reloaded, so a reloaded model always has a complete, typed connection.
- :class:`Policies`: how jobferry *talks* to the vendor (retries, polling, quotas, chunking). Neither part
  of the job nor saved; a reloaded model uses the defaults unless given a config.
- everything else the adapter's config adds: what the job *is*. Only these fields make the spec hash, so
  changing a connection setting or a policy adopts the running job instead of submitting another.

An adapter declares nothing beyond its config's bases: ``class MyConfig(MyConnection,
ExternalJobConfig)`` (the connection first, so that its defaults win). The connection class is found
in the config's bases (:func:`connection_class_of`), and the spec hash, ``job.json``'s connection and
derived jobs' inherited settings all come from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters._errors import SpecError
from checkpoint._secrets import looks_like_secret

from ._claim import ClaimPolicy
from ._credentials import CredentialRef
from ._poll import PollPolicy
from ._retry import RetryPolicy

__all__ = [
    "Connection",
    "ExternalJobConfig",
    "Policies",
    "connection_class_of",
    "describe_validation",
    "job_fields",
]


class Connection(BaseModel):
    """How to reach a vendor; saved in ``job.json``. Vendors subclass it with their own fields.

    Attributes:
        credentials: a reference to the credentials (never the key itself).
    """

    # Built on first use, not at import (see adapters._messages.CamelModel).
    model_config = ConfigDict(extra="forbid", defer_build=True)

    credentials: CredentialRef = Field(default_factory=CredentialRef.application_default)


class Policies(BaseModel):
    """How jobferry talks to a vendor: never part of the job, never saved.

    Attributes:
        retry: the retry policy of every vendor call.
        poll: the polling policy of ``wait`` / ``watch`` and of every wait on the vendor.
        requests_per_minute: the vendor's resource-management quota (status calls, look-ups, creates),
            shared by every job in this process.
        submissions_per_minute: the vendor's quota for job and long-running-operation submissions
            (creates, deploys, undeploys, deletes); a submission also counts as a resource-management
            request, as on Vertex AI (60 a minute per project and region).
        predictions_per_minute: the vendor's quota for prediction requests.
        prediction_bytes_per_minute: the vendor's quota for prediction request bytes (Vertex: 1.5 GB).
        max_instances_per_request: the most instances one prediction request carries.
        max_request_bytes: the largest prediction request body.
        max_concurrency: prediction requests in flight at once.
        claim: how long the claim on a spec lasts and how long processes that lost it wait.
    """

    # Built on first use, not at import (see adapters._messages.CamelModel).
    model_config = ConfigDict(extra="forbid", defer_build=True)

    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    poll: PollPolicy = Field(default_factory=PollPolicy)
    requests_per_minute: float = Field(default=600.0, gt=0)
    submissions_per_minute: float = Field(default=60.0, gt=0)
    predictions_per_minute: float = Field(default=30_000.0, gt=0)
    prediction_bytes_per_minute: float = Field(default=1_500_000_000.0, gt=0)
    max_instances_per_request: int = Field(default=100, ge=1)
    max_request_bytes: int = Field(default=1_500_000, ge=1024)
    max_concurrency: int = Field(default=8, ge=1, le=256)
    claim: ClaimPolicy = Field(default_factory=ClaimPolicy)


class ExternalJobConfig(Policies, Connection):
    """The base of every adapter's config: a connection and the policies; adapters add the job's fields.

    A vendor with more to its connection than credentials puts it in a :class:`Connection` subclass and
    lists that as the first base: ``class VertexConfig(VertexConnection, ExternalJobConfig)``.
    """


def connection_class_of(config_class: type[BaseModel]) -> type[Connection]:
    """The :class:`Connection` model among ``config_class``'s bases (the most derived one)."""
    for base in config_class.__mro__:
        if isinstance(base, type) and issubclass(base, Connection) and not issubclass(base, Policies):
            return base
    raise TypeError(f"{config_class.__name__} has no Connection among its bases")


def job_fields(config_class: type[BaseModel]) -> frozenset[str]:
    """The fields of ``config_class`` that define the job: all but the connection's and the policies'."""
    not_job = set(Policies.model_fields)
    if issubclass(config_class, Connection):
        not_job |= set(connection_class_of(config_class).model_fields)
    return frozenset(set(config_class.model_fields) - not_job)


def connection_from(config: BaseModel, connection_class: type[Connection]) -> Connection:
    """The connection part of a validated config, as a validated ``connection_class``."""
    fields = set(connection_class.model_fields)
    values = {name: getattr(config, name) for name in fields}
    return connection_class.model_validate(values)


def connection_from_record(
    connection_class: type[Connection], settings: dict[str, Any], credentials: CredentialRef, where: str
) -> Connection:
    """The connection saved in a job record, validated; unknown (older) keys are ignored."""
    known = {k: v for k, v in settings.items() if k in connection_class.model_fields}
    try:
        return connection_class.model_validate({**known, "credentials": credentials})
    except ValidationError as exc:
        raise SpecError(describe_validation(f"connection in {where}", exc)) from None


_SECRET_FIELDS = ("credential", "secret", "token", "password", "private_key", "api_key")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple | set):
        for v in value:
            yield from _strings(v)


def shown_value(path: str, value: Any) -> str:
    """``value`` as an error message may show it: never a byte of anything that could be a secret."""
    for text in _strings(value):
        kind = looks_like_secret(text)
        if kind is not None:
            return f"(not shown: it looks like {kind})"
    if any(word in path.lower() for word in _SECRET_FIELDS):
        return "(not shown)"  # a credential field's value is never echoed, even when it looks harmless
    shown = repr(value)
    return shown if len(shown) <= 80 else f"{shown[:77]}..."


def describe_validation(what: str, exc: ValidationError) -> str:
    """A pydantic error as jobferry prints it: the field path and the bad value, one line each.

    Values that look like secrets (and any value of a credential field) are never shown.
    """
    lines = [f"invalid {what}:"]
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"]) or "(root)"
        lines.append(f"  {path} = {shown_value(path, err.get('input'))}: {err['msg']}")
    return "\n".join(lines)
