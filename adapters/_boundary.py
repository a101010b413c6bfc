"""The vendor-neutral half of translating vendor exceptions at an adapter's boundary.

Each vendor's ``_errors`` module keeps its own mapping table (which of its SDK's exceptions and codes mean
what); what every vendor shares lives here once: the block that translates whatever its SDK raises, and
the transport outcomes -- nothing sent (unreachable, connect timeout) versus sent with no answer (a create
whose outcome is unknown).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ._errors import OutcomeUnknown, ServiceUnreachable, TransientError, VendorError


class CallFacts(Protocol):
    """What every vendor's call context says about a failing call (each vendor adds where it ran)."""

    @property
    def what(self) -> str: ...
    @property
    def is_create(self) -> bool: ...
    @property
    def endpoint(self) -> str: ...


ContextT = TypeVar("ContextT", bound=CallFacts)


@dataclass(frozen=True)
class Boundary:
    """One vendor's names for the messages: ``vendor`` (the errors' field) and ``product`` (for people)."""

    vendor: str
    product: str

    def unreachable(self, ctx: CallFacts, default_host: str, cause: str) -> ServiceUnreachable:
        """Connection refused or no such host: nothing was sent, so a retry can never duplicate."""
        where = ctx.endpoint or default_host
        return ServiceUnreachable(
            f"cannot reach {self.product} at {where} — is it running? ({ctx.what}: {cause})",
            vendor=self.vendor,
        )

    def cannot_connect(self, ctx: CallFacts, exc: BaseException) -> TransientError:
        """A connect timeout: the request was never sent."""
        return TransientError(f"{self.product} {ctx.what}: cannot connect: {exc}", vendor=self.vendor)

    def lost_response(self, ctx: CallFacts, detail: object) -> OutcomeUnknown:
        """A create sent whose answer never came: it may have been applied (reconciled by submission key)."""
        return OutcomeUnknown(
            f"{self.product} {ctx.what}: the request may have been applied but no response came ({detail})",
            vendor=self.vendor,
        )

    def connection_failed(self, ctx: CallFacts, exc: BaseException) -> TransientError | OutcomeUnknown:
        """The connection broke after sending: an unknown outcome on a create, else worth a retry."""
        if ctx.is_create:
            return self.lost_response(ctx, exc)
        return TransientError(f"{self.product} {ctx.what}: connection failed: {exc}", vendor=self.vendor)


@contextmanager
def translated(
    translate: Callable[[BaseException, ContextT], BaseException], ctx: ContextT
) -> Iterator[None]:
    """Raise ``translate(exc, ctx)`` (from ``exc``) for any exception of the block; jobferry's own pass."""
    try:
        yield
    except VendorError:
        raise
    except Exception as exc:
        mapped = translate(exc, ctx)
        if mapped is exc:
            raise
        raise mapped from exc


__all__ = ["Boundary", "CallFacts", "translated"]
