"""Turning a :class:`~adapters._credentials.CredentialRef` into google-auth credentials.

It lives with the Vertex adapters, the only code that needs Google credentials, so the reference itself
stays vendor-neutral. google-auth is imported on the first call, never at import time: importing
``adapters`` or ``adapters.vertex`` imports nothing from ``google``. One resolver per kind, chosen by
:func:`functools.singledispatch` on the reference's class.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import singledispatch
from typing import TYPE_CHECKING, Any

from adapters._errors import CredentialError
from checkpoint._errors import MissingDependency

from .._credentials import (
    DEFAULT_SCOPES,
    AnonymousRef,
    ApplicationDefaultRef,
    CredentialRef,
    EnvVarRef,
    ImpersonationRef,
    ScopedRef,
    ServiceAccountFileRef,
    describe_key_material,
)

if TYPE_CHECKING:
    import google.auth.credentials

__all__ = ["resolve_google"]


@dataclass(frozen=True)
class _GoogleAuth:
    """The google-auth entry points, looked up at call time (tests monkeypatch ``google.auth.default``).

    Bound as Any: google-auth's callables are untyped, and may be absent when type-checking.
    """

    default: Any
    anonymous: Any
    service_account: Any
    impersonated: Any
    errors: tuple[type[BaseException], ...]


def _google_auth() -> _GoogleAuth:
    try:
        import google.auth
        import google.auth.credentials
        import google.auth.exceptions
        import google.auth.impersonated_credentials
        import google.oauth2.service_account
    except ImportError as exc:
        raise MissingDependency("Google credentials", "vertex", "google.auth") from exc
    return _GoogleAuth(
        default=google.auth.default,
        anonymous=google.auth.credentials.AnonymousCredentials,
        service_account=google.oauth2.service_account.Credentials,
        impersonated=google.auth.impersonated_credentials.Credentials,
        errors=(google.auth.exceptions.GoogleAuthError, ValueError, TypeError),
    )


def resolve_google(
    ref: CredentialRef, scopes: Sequence[str] = DEFAULT_SCOPES
) -> google.auth.credentials.Credentials:
    """Google credentials for ``ref`` (nothing is refreshed, so no network call is made, except that
    application default credentials may probe the metadata server).

    ``scopes`` applies unless the reference names its own.

    Raises:
        MissingDependency: google-auth is not installed (``pip install 'jobferry[vertex]'``).
        CredentialError: the credentials cannot be loaded; the message names the reference, never
            key material.
    """
    credentials: google.auth.credentials.Credentials = _resolve(ref, tuple(scopes), _google_auth())
    return credentials


@singledispatch
def _resolve(ref: CredentialRef, scopes: tuple[str, ...], auth: _GoogleAuth) -> Any:
    raise CredentialError(f"no way to resolve {type(ref).__name__} into Google credentials")


def _wanted(ref: ScopedRef, scopes: tuple[str, ...]) -> list[str]:
    return list(ref.scopes if ref.scopes is not None else scopes)


@_resolve.register(AnonymousRef)
def _anonymous(ref: AnonymousRef, scopes: tuple[str, ...], auth: _GoogleAuth) -> Any:
    return auth.anonymous()


@_resolve.register(ApplicationDefaultRef)
def _application_default(ref: ApplicationDefaultRef, scopes: tuple[str, ...], auth: _GoogleAuth) -> Any:
    try:
        credentials, _project = auth.default(scopes=_wanted(ref, scopes), quota_project_id=ref.quota_project)
    except Exception as exc:  # DefaultCredentialsError, or whatever a malformed ADC file raises
        message = (
            f"application default credentials could not be loaded ({_reason(exc)}); set "
            "GOOGLE_APPLICATION_CREDENTIALS to a key file path, run 'gcloud auth application-default "
            "login', or use another credential reference"
        )
        if _withheld(exc):
            raise CredentialError(message) from None
        raise CredentialError(message) from exc
    return credentials


@_resolve.register(ServiceAccountFileRef)
@_resolve.register(EnvVarRef)
def _key_file(ref: ServiceAccountFileRef | EnvVarRef, scopes: tuple[str, ...], auth: _GoogleAuth) -> Any:
    path = ref.key_file_path()
    try:
        return auth.service_account.from_service_account_file(
            str(path), scopes=_wanted(ref, scopes), quota_project_id=ref.quota_project
        )
    except Exception as exc:  # only parses one file: JSON, key or field errors
        # The file's content may be in the exception (JSONDecodeError.doc) or its chain: cut it.
        where = f"service-account key file {path}"
        if isinstance(ref, EnvVarRef):
            where += f" (from ${ref.name})"
        raise CredentialError(
            f"{where} is not a valid service-account JSON key ({_reason(exc)}); "
            "download a JSON key for the service account from the Google Cloud console"
        ) from None


@_resolve.register(ImpersonationRef)
def _impersonation(ref: ImpersonationRef, scopes: tuple[str, ...], auth: _GoogleAuth) -> Any:
    source = _resolve(ref.source, DEFAULT_SCOPES, auth)  # the source's own scopes, if any, win
    kwargs: dict[str, Any] = {
        "source_credentials": source,
        "target_principal": ref.target_principal,
        "target_scopes": _wanted(ref, scopes),
        "delegates": list(ref.delegates) if ref.delegates else None,
        "quota_project_id": ref.quota_project,
    }
    if ref.lifetime is not None:
        kwargs["lifetime"] = ref.lifetime
    try:
        return auth.impersonated(**kwargs)
    except auth.errors as exc:
        raise CredentialError(f"cannot impersonate: {ref.describe()} ({_reason(exc)})") from exc


def _withheld(exc: BaseException) -> bool:
    """Whether ``exc`` (or anything it chains to) might carry key material in its text or attributes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, json.JSONDecodeError):  # .doc holds the whole file
            return True
        # In a repr a dict's keys are single-quoted: quote them as JSON does, so the probes see them.
        args = repr(current.args).replace("'", '"')
        if describe_key_material(str(current)) or describe_key_material(args):
            return True
        current = current.__cause__ or current.__context__
    return False


def _reason(exc: BaseException) -> str:
    """``Type: message`` of a vendor exception, with the message withheld if it might hold key material."""
    text = str(exc)
    if describe_key_material(text) is not None or len(text) > 500:
        text = "(message withheld: it may contain key material)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
