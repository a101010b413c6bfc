"""Credential references: how an adapter finds its credentials, never the credentials themselves.

A checkpoint holds job IDs and a :class:`CredentialRef`; the reference names *where* credentials come
from (application default credentials, the path of a service-account key file, an environment variable
naming such a path, an impersonation chain, or none at all) and is resolved only when a model loads.
Key material is refused wherever a reference is expected, so it cannot reach a checkpoint by mistake.

Wire form (camelCase, ``None`` fields left out)::

    {"kind": "application_default"}
    {"kind": "application_default", "scopes": ["https://..."], "quotaProject": "my-project"}
    {"kind": "service_account_file", "path": "/keys/sa.json"}
    {"kind": "env_var", "name": "GOOGLE_APPLICATION_CREDENTIALS"}
    {"kind": "impersonation", "targetPrincipal": "sa@proj.iam.gserviceaccount.com",
     "source": {"kind": "application_default"}, "delegates": [...], "lifetime": 600}
    {"kind": "anonymous"}

String form (CLI flags, TOML values; also accepted wherever the model validates)::

    adc | application-default | anonymous | file:/keys/sa.json | env:VAR
    impersonate:sa@proj.iam.gserviceaccount.com

No Google module is imported until :meth:`CredentialRef.resolve_google` is called.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

from checkpoint._errors import CredentialError, MissingDependency

if TYPE_CHECKING:
    import google.auth.credentials

__all__ = ["DEFAULT_SCOPES", "KINDS", "CredentialKind", "CredentialRef", "InvalidCredentialRef"]

CredentialKind = Literal[
    "application_default", "service_account_file", "env_var", "impersonation", "anonymous"
]
KINDS: Final[tuple[str, ...]] = get_args(CredentialKind)

DEFAULT_SCOPES: Final[tuple[str, ...]] = ("https://www.googleapis.com/auth/cloud-platform",)
"""Scopes requested when neither the reference nor the caller names any."""

MAX_PATH_CHARS: Final = 4096
MAX_IMPERSONATION_DEPTH: Final = 3
MAX_LIFETIME_SECONDS: Final = 43200  # 12 h, the IAM Credentials API's ceiling

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EMAIL = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"
)
_QUOTA_PROJECT = re.compile(r"[a-z0-9][a-z0-9.:_-]{0,99}")
_SCOPE = re.compile(r"\S{1,512}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BASE64ISH = re.compile(r"[A-Za-z0-9+/=_-]{64,}")
_SECRET_MARKERS = re.compile(r"-----BEGIN|PRIVATE KEY|[\"']private_key[\"']")

_VALID_STRINGS = (
    "'adc' (or 'application-default'), 'anonymous', 'file:/path/to/key.json', 'env:VARIABLE', "
    "'impersonate:SERVICE_ACCOUNT_EMAIL'"
)
_NO_KEYS = (
    "a credential reference holds only where credentials come from (e.g. 'file:/keys/sa.json' or "
    "'env:GOOGLE_APPLICATION_CREDENTIALS'), never the key itself"
)

# Which optional fields each kind takes, besides ``kind`` (the first ones listed are required).
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "application_default": (),
    "service_account_file": ("path",),
    "env_var": ("name",),
    "impersonation": ("target_principal", "source"),
    "anonymous": (),
}
_ALLOWED: Final[dict[str, tuple[str, ...]]] = {
    "application_default": ("scopes", "quota_project"),
    "service_account_file": ("path", "scopes", "quota_project"),
    "env_var": ("name", "scopes", "quota_project"),
    "impersonation": ("target_principal", "source", "delegates", "lifetime", "scopes", "quota_project"),
    "anonymous": (),
}
_OPTIONAL_FIELDS: Final = (
    "scopes",
    "quota_project",
    "path",
    "name",
    "target_principal",
    "source",
    "delegates",
    "lifetime",
)


class InvalidCredentialRef(CredentialError, ValueError):
    """A credential reference that is malformed (or is key material instead of a reference).

    A :class:`~checkpoint._errors.CredentialError` and a ``ValueError``; inside pydantic validation it
    surfaces as a ``ValidationError`` carrying the same message.
    """


def _looks_like_key_material(value: str) -> str | None:
    """What kind of key material ``value`` looks like, or ``None`` if it looks like an ordinary string."""
    stripped = value.lstrip()
    if stripped.startswith("{"):
        return "JSON (the content of a key file)"
    if "-----BEGIN" in value:
        return "a PEM block"
    if _SECRET_MARKERS.search(value):
        return "key material"
    if _BASE64ISH.fullmatch(stripped.rstrip()):
        text = stripped.rstrip()
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                head = decode(text + "=" * (-len(text) % 4))[:64].lstrip()
            except (binascii.Error, ValueError):
                continue
            if head.startswith(b"{") or b"-----BEGIN" in head:
                return "base64-encoded key material"
    return None


def _show(value: object) -> str:
    """A safe, short rendering of a bad value for an error message: key material is never echoed."""
    if isinstance(value, str):
        what = _looks_like_key_material(value)
        if what is not None:
            return f"<{len(value)} characters that look like {what}, not shown>"
        if len(value) > 100:
            return repr(value[:60]) + f"... ({len(value)} characters)"
        return repr(value)
    text = repr(value)
    if _SECRET_MARKERS.search(text):
        return f"<a {type(value).__name__} that looks like key material, not shown>"
    return text if len(text) <= 100 else text[:60] + f"... ({type(value).__name__})"


def _reject_key_material(field: str, value: str) -> None:
    what = _looks_like_key_material(value)
    if what is not None:
        raise InvalidCredentialRef(
            f"{field} looks like {what} ({len(value)} characters, not shown), not a reference; {_NO_KEYS}"
        )


def _withheld(exc: BaseException) -> bool:
    """Whether ``exc`` (or anything it chains to) might carry key material in its text or attributes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, json.JSONDecodeError):  # .doc holds the whole file
            return True
        if _SECRET_MARKERS.search(str(current)) or _SECRET_MARKERS.search(repr(current.args)):
            return True
        current = current.__cause__ or current.__context__
    return False


def _reason(exc: BaseException) -> str:
    """``Type: message`` of a vendor exception, with the message withheld if it might hold key material."""
    text = str(exc)
    if _SECRET_MARKERS.search(text) or len(text) > 500:
        text = "(message withheld: it may contain key material)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class CredentialRef(BaseModel):
    """Where credentials come from; safe to store in a checkpoint. Resolve with :meth:`resolve_google`.

    Build one with :meth:`application_default`, :meth:`service_account_file`, :meth:`env_var`,
    :meth:`impersonation`, :meth:`anonymous` or :meth:`parse`; it also validates from a dict (its wire
    form) or from a string in :meth:`parse`'s syntax.

    Fields (each kind takes only its own; the rest stay ``None`` and are left out of the JSON):
        kind: which source.
        scopes: OAuth scopes to request (all kinds but anonymous); overrides ``resolve_google``'s.
        quota_project: the project billed for quota (all kinds but anonymous).
        path: service_account_file: the key file's path (never its content).
        name: env_var: the variable that holds a key file's path.
        target_principal: impersonation: the service-account email to impersonate.
        source: impersonation: the credentials that impersonate (default: application default).
        delegates: impersonation: service-account emails of a delegation chain.
        lifetime: impersonation: token lifetime in seconds (1 to 43200; Google's default is 3600).
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        hide_input_in_errors=True,  # a rejected value may be key material: never echo it
    )

    kind: CredentialKind
    scopes: tuple[str, ...] | None = None
    quota_project: str | None = None
    path: str | None = None
    name: str | None = None
    target_principal: str | None = None
    source: CredentialRef | None = None
    delegates: tuple[str, ...] | None = None
    lifetime: int | None = None

    # ----------------------------------------------------------------------------------- validation

    @model_validator(mode="before")
    @classmethod
    def _from_string_or_dict(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = _parse_to_dict(data)
        if not isinstance(data, dict):
            return data
        kind = data.get("kind")
        if kind is None:
            raise InvalidCredentialRef(
                "a credential reference needs 'kind', one of " + ", ".join(repr(k) for k in KINDS)
            )
        if kind not in KINDS:
            raise InvalidCredentialRef(
                f"unknown credential kind {_show(kind)}; valid kinds are " + ", ".join(repr(k) for k in KINDS)
            )
        if kind == "impersonation" and data.get("source") is None:
            data = {**data, "source": {"kind": "application_default"}}
        return data

    @field_validator("path", mode="before")
    @classmethod
    def _check_path(cls, value: Any) -> Any:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            return value
        _reject_key_material("service_account_file path", value)
        if len(value) > MAX_PATH_CHARS:
            raise InvalidCredentialRef(
                f"service_account_file path is {len(value)} characters long (not shown); a key file path "
                f"is at most {MAX_PATH_CHARS}; {_NO_KEYS}"
            )
        if not value.strip():
            raise InvalidCredentialRef("service_account_file path is empty; give the key file's path")
        if _CONTROL.search(value):
            raise InvalidCredentialRef(
                f"service_account_file path {_show(value)} contains a line break or control character"
            )
        return value

    @field_validator("name", mode="before")
    @classmethod
    def _check_env_name(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        _reject_key_material("env_var name", value)
        if not _ENV_NAME.fullmatch(value) or len(value) > 255:
            hint = "; leave out the leading '$'" if value.startswith("$") else ""
            raise InvalidCredentialRef(
                f"env_var name {_show(value)} is not an environment variable name: use letters, digits "
                f"and '_', not starting with a digit (e.g. 'GOOGLE_APPLICATION_CREDENTIALS'){hint}"
            )
        return value

    @field_validator("target_principal", mode="before")
    @classmethod
    def _check_principal(cls, value: Any) -> Any:
        if isinstance(value, str):
            _check_email("impersonation target_principal", value)
        return value

    @field_validator("delegates", mode="after")
    @classmethod
    def _check_delegates(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for delegate in value or ():
            _check_email("impersonation delegate", delegate)
        return value

    @field_validator("scopes", mode="after")
    @classmethod
    def _check_scopes(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise InvalidCredentialRef("scopes is empty; leave it out to use the default scopes")
        for scope in value or ():
            _reject_key_material("scope", scope)
            if not _SCOPE.fullmatch(scope):
                raise InvalidCredentialRef(
                    f"scope {_show(scope)} is not an OAuth scope "
                    "(e.g. 'https://www.googleapis.com/auth/cloud-platform')"
                )
        return value

    @field_validator("quota_project", mode="after")
    @classmethod
    def _check_quota_project(cls, value: str | None) -> str | None:
        if value is not None:
            _reject_key_material("quota_project", value)
            if not _QUOTA_PROJECT.fullmatch(value):
                raise InvalidCredentialRef(
                    f"quota_project {_show(value)} is not a Google Cloud project ID (e.g. 'my-project')"
                )
        return value

    @field_validator("lifetime", mode="after")
    @classmethod
    def _check_lifetime(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_LIFETIME_SECONDS:
            raise InvalidCredentialRef(
                f"impersonation lifetime {value} is out of range: "
                f"give seconds from 1 to {MAX_LIFETIME_SECONDS}"
            )
        return value

    @model_validator(mode="after")
    def _check_kind_fields(self) -> CredentialRef:
        allowed = _ALLOWED[self.kind]
        for field in _REQUIRED[self.kind]:
            if getattr(self, field) is None:
                raise InvalidCredentialRef(f"a credential reference of kind {self.kind!r} needs {field!r}")
        for field in _OPTIONAL_FIELDS:
            if field not in allowed and getattr(self, field) is not None:
                takes = ", ".join(repr(f) for f in allowed) or "no other fields"
                raise InvalidCredentialRef(
                    f"field {field!r} does not apply to a credential reference of kind {self.kind!r} "
                    f"(it takes {takes})"
                )
        if self.kind == "impersonation":
            assert self.source is not None
            if self.source.kind == "anonymous":
                raise InvalidCredentialRef(
                    "an impersonation source cannot be 'anonymous': impersonating needs real credentials"
                )
            if self._impersonation_depth() > MAX_IMPERSONATION_DEPTH:
                raise InvalidCredentialRef(
                    f"impersonation chained more than {MAX_IMPERSONATION_DEPTH} deep; use 'delegates' instead"
                )
        return self

    def _impersonation_depth(self) -> int:
        depth = 0
        ref: CredentialRef | None = self
        while ref is not None and ref.kind == "impersonation":
            depth += 1
            ref = ref.source
        return depth

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if value is not None}

    # --------------------------------------------------------------------------------- constructors

    @classmethod
    def _build(cls, data: dict[str, Any]) -> CredentialRef:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidCredentialRef(_validation_message(exc)) from None

    @classmethod
    def application_default(
        cls, *, scopes: Sequence[str] | None = None, quota_project: str | None = None
    ) -> CredentialRef:
        """Application default credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud, metadata server)."""
        return cls._build(
            {"kind": "application_default", "scopes": _scope_tuple(scopes), "quota_project": quota_project}
        )

    @classmethod
    def service_account_file(
        cls,
        path: str | os.PathLike[str],
        *,
        scopes: Sequence[str] | None = None,
        quota_project: str | None = None,
    ) -> CredentialRef:
        """A service-account JSON key file, by path; the file is read only when resolved."""
        return cls._build(
            {
                "kind": "service_account_file",
                "path": path,
                "scopes": _scope_tuple(scopes),
                "quota_project": quota_project,
            }
        )

    @classmethod
    def env_var(
        cls, name: str, *, scopes: Sequence[str] | None = None, quota_project: str | None = None
    ) -> CredentialRef:
        """An environment variable holding a key file's path, looked up when resolved."""
        return cls._build(
            {"kind": "env_var", "name": name, "scopes": _scope_tuple(scopes), "quota_project": quota_project}
        )

    @classmethod
    def impersonation(
        cls,
        target_principal: str,
        source: CredentialRef | None = None,
        *,
        delegates: Sequence[str] | None = None,
        lifetime: int | None = None,
        scopes: Sequence[str] | None = None,
        quota_project: str | None = None,
    ) -> CredentialRef:
        """Impersonate ``target_principal`` using ``source`` (application default credentials if None)."""
        return cls._build(
            {
                "kind": "impersonation",
                "target_principal": target_principal,
                "source": source if source is not None else cls.application_default(),
                "delegates": None if delegates is None else tuple(delegates),
                "lifetime": lifetime,
                "scopes": _scope_tuple(scopes),
                "quota_project": quota_project,
            }
        )

    @classmethod
    def anonymous(cls) -> CredentialRef:
        """No credentials at all (emulators, public data)."""
        return cls(kind="anonymous")

    @classmethod
    def parse(cls, text: str) -> CredentialRef:
        """Parse a CLI / TOML string: ``adc``, ``application-default``, ``anonymous``, ``file:PATH``,
        ``env:VAR`` or ``impersonate:EMAIL`` (impersonating with application default credentials).

        Raises:
            InvalidCredentialRef: the string is none of these (the message lists them), or is key material.
        """
        return cls._build(_parse_to_dict(text))

    # ------------------------------------------------------------------------------- presentation

    def __repr__(self) -> str:
        if self.kind == "service_account_file":
            head = f"service_account_file={self.path!r}"
        elif self.kind == "env_var":
            head = f"env_var={self.name!r}"
        elif self.kind == "impersonation":
            head = f"impersonation={self.target_principal!r}, source={self.source!r}"
        else:
            head = self.kind
        extras = [
            f"{field}={value!r}"
            for field in ("delegates", "lifetime", "scopes", "quota_project")
            if (value := getattr(self, field)) is not None
        ]
        return f"CredentialRef({', '.join([head, *extras])})"

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        """A one-line human description, e.g. ``service-account key file /keys/sa.json``."""
        if self.kind == "application_default":
            text = "application default credentials"
        elif self.kind == "service_account_file":
            text = f"service-account key file {self.path}"
        elif self.kind == "env_var":
            text = f"service-account key file named by ${self.name}"
        elif self.kind == "impersonation":
            assert self.source is not None
            text = f"service account {self.target_principal} impersonated via {self.source.describe()}"
            if self.delegates:
                text += f" through {', '.join(self.delegates)}"
            if self.lifetime is not None:
                text += f" for {self.lifetime}s tokens"
        else:
            text = "anonymous (no credentials)"
        if self.scopes:
            text += f" with scopes {' '.join(self.scopes)}"
        if self.quota_project:
            text += f", quota project {self.quota_project}"
        return text

    # --------------------------------------------------------------------------------- resolution

    def key_file_path(self) -> Path | None:
        """The key file this reference points at, checked to exist now; None for other kinds.

        Raises:
            CredentialError: the environment variable is unset or empty (or holds key material instead
                of a path), or the file does not exist or is not a file.
        """
        if self.kind == "service_account_file":
            assert self.path is not None
            where = f"service-account key file {self.path}"
            raw = self.path
        elif self.kind == "env_var":
            assert self.name is not None
            raw = os.environ.get(self.name, "")
            if not raw.strip():
                raise CredentialError(
                    f"environment variable {self.name} is not set (or is empty); credential reference "
                    f"'env:{self.name}' needs it to hold the path of a service-account key file"
                )
            what = _looks_like_key_material(raw)
            if what is not None:
                raise CredentialError(
                    f"environment variable {self.name} holds {what} ({len(raw)} characters, not shown), "
                    f"not a path; credential reference 'env:{self.name}' needs it to hold the path of a "
                    "service-account key file"
                )
            where = f"service-account key file {raw} (from ${self.name})"
        else:
            return None
        path = Path(raw).expanduser()
        if not path.exists():
            raise CredentialError(f"{where} does not exist")
        if not path.is_file():
            raise CredentialError(f"{where} is not a file")
        return path

    def resolve_google(self, scopes: Sequence[str] = DEFAULT_SCOPES) -> google.auth.credentials.Credentials:
        """Google credentials for this reference (nothing is refreshed, so no network call is made,
        except that application default credentials may probe the metadata server).

        ``scopes`` applies unless the reference names its own.

        Raises:
            MissingDependency: google-auth is not installed (``pip install 'jobferry[vertex]'``).
            CredentialError: the credentials cannot be loaded; the message names the reference, never
                key material.
        """
        try:
            import google.auth
            import google.auth.credentials
            import google.auth.exceptions
            import google.auth.impersonated_credentials
            import google.oauth2.service_account
        except ImportError as exc:
            raise MissingDependency("Google credentials", "vertex", "google.auth") from exc

        # Bound as Any: google-auth's callables are untyped, and may be absent when type-checking.
        anonymous_cls: Any = google.auth.credentials.AnonymousCredentials
        default: Any = google.auth.default
        service_account_cls: Any = google.oauth2.service_account.Credentials
        impersonated_cls: Any = google.auth.impersonated_credentials.Credentials
        credentials: google.auth.credentials.Credentials

        wanted = list(self.scopes if self.scopes is not None else scopes)
        if self.kind == "anonymous":
            credentials = anonymous_cls()
            return credentials

        if self.kind == "application_default":
            try:
                credentials, _project = default(scopes=wanted, quota_project_id=self.quota_project)
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

        if self.kind in ("service_account_file", "env_var"):
            path = self.key_file_path()
            assert path is not None
            try:
                credentials = service_account_cls.from_service_account_file(
                    str(path), scopes=wanted, quota_project_id=self.quota_project
                )
                return credentials
            except Exception as exc:  # only parses one file: JSON, key or field errors
                # The file's content may be in the exception (JSONDecodeError.doc) or its chain: cut it.
                where = f"service-account key file {path}"
                if self.kind == "env_var":
                    where += f" (from ${self.name})"
                raise CredentialError(
                    f"{where} is not a valid service-account JSON key ({_reason(exc)}); "
                    "download a JSON key for the service account from the Google Cloud console"
                ) from None

        assert self.kind == "impersonation" and self.source is not None and self.target_principal
        source = self.source.resolve_google(self.source.scopes or DEFAULT_SCOPES)
        kwargs: dict[str, Any] = {
            "source_credentials": source,
            "target_principal": self.target_principal,
            "target_scopes": wanted,
            "delegates": list(self.delegates) if self.delegates else None,
            "quota_project_id": self.quota_project,
        }
        if self.lifetime is not None:
            kwargs["lifetime"] = self.lifetime
        try:
            credentials = impersonated_cls(**kwargs)
        except (google.auth.exceptions.GoogleAuthError, ValueError, TypeError) as exc:
            raise CredentialError(f"cannot impersonate: {self.describe()} ({_reason(exc)})") from exc
        return credentials


def _scope_tuple(scopes: Sequence[str] | None) -> tuple[str, ...] | None:
    if scopes is None:
        return None
    if isinstance(scopes, str):
        return (scopes,)
    return tuple(scopes)


def _check_email(field: str, value: str) -> None:
    _reject_key_material(field, value)
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise InvalidCredentialRef(
            f"{field} {_show(value)} is not a service-account email "
            "(e.g. 'trainer@my-project.iam.gserviceaccount.com')"
        )


def _parse_to_dict(text: str) -> dict[str, Any]:
    if not isinstance(text, str):
        raise InvalidCredentialRef(
            f"a credential reference string must be a str, not {type(text).__name__}; valid forms: "
            + _VALID_STRINGS
        )
    what = _looks_like_key_material(text)
    if what is not None:
        raise InvalidCredentialRef(
            f"credential reference looks like {what} ({len(text)} characters, not shown); {_NO_KEYS}; "
            f"valid forms: {_VALID_STRINGS}"
        )
    stripped = text.strip()
    keyword = stripped.lower()
    if keyword in ("adc", "application-default", "application_default"):
        return {"kind": "application_default"}
    if keyword == "anonymous":
        return {"kind": "anonymous"}
    prefix, sep, rest = stripped.partition(":")
    prefix = prefix.lower()
    if sep and prefix == "file":
        if rest.startswith("///"):  # file:///abs/path URL form
            rest = rest[2:]
        if not rest:
            raise InvalidCredentialRef(f"{_show(text)} names no key file; write 'file:/path/to/key.json'")
        return {"kind": "service_account_file", "path": rest}
    if sep and prefix == "env":
        return {"kind": "env_var", "name": rest}
    if sep and prefix in ("impersonate", "impersonation"):
        return {"kind": "impersonation", "target_principal": rest}
    raise InvalidCredentialRef(f"unknown credential reference {_show(text)}; valid forms: {_VALID_STRINGS}")


def _validation_message(exc: ValidationError) -> str:
    parts: list[str] = []
    for error in exc.errors(include_input=False, include_url=False):
        cause = (error.get("ctx") or {}).get("error")
        message = str(cause) if isinstance(cause, BaseException) else error["msg"]
        loc = ".".join(str(p) for p in error["loc"])
        parts.append(message if isinstance(cause, InvalidCredentialRef) or not loc else f"{loc}: {message}")
    return "; ".join(parts) if parts else "invalid credential reference"
