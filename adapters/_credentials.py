"""Credential references: how an adapter finds its credentials, never the credentials themselves.

A checkpoint holds job IDs and a :class:`CredentialRef`; the reference names *where* credentials come
from (application default credentials, the path of a service-account key file, an environment variable
naming such a path, an impersonation chain, or none at all) and is resolved only when a model loads.
Key material is refused wherever a reference is expected, so it cannot reach a checkpoint by mistake.

Each kind is its own small frozen model (:class:`ApplicationDefaultRef`, :class:`ServiceAccountFileRef`,
:class:`EnvVarRef`, :class:`ImpersonationRef`, :class:`AnonymousRef`), so a kind takes exactly its own
fields; :class:`CredentialRef`, their base, validates as the union discriminated on ``kind`` (from its
wire form or its string form), wherever it is used: ``CredentialRef.model_validate`` and fields typed
``CredentialRef`` both produce the right kind.

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

Nothing here imports Google modules: resolving a reference into Google credentials is
:func:`adapters.vertex._google_auth.resolve_google`'s job. What counts as key material is
:func:`checkpoint._secrets.looks_like_secret`'s call, the same detector the checkpoint guard uses.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import CoreSchema

from adapters._errors import CredentialError
from checkpoint._secrets import looks_like_secret

__all__ = [
    "DEFAULT_SCOPES",
    "KINDS",
    "AnonymousRef",
    "ApplicationDefaultRef",
    "AwsAssumeRoleRef",
    "AwsDefaultRef",
    "AwsProfileRef",
    "AwsRef",
    "AwsWebIdentityRef",
    "CredentialKind",
    "CredentialRef",
    "EnvVarRef",
    "ImpersonationRef",
    "InvalidCredentialRef",
    "ScopedRef",
    "ServiceAccountFileRef",
    "describe_key_material",
]

CredentialKind = Literal[
    "application_default",
    "service_account_file",
    "env_var",
    "impersonation",
    "anonymous",
    "aws_default",
    "aws_profile",
    "aws_assume_role",
    "aws_web_identity",
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
# Bare AWS key material, as pasted where a reference belongs (a profile name, a role ARN).
_AWS_KEY_ID = re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}")
_AWS_SECRET = re.compile(r"[A-Za-z0-9/+]{40}")

_VALID_STRINGS = (
    "'adc' (or 'application-default'), 'anonymous', 'file:/path/to/key.json', 'env:VARIABLE', "
    "'impersonate:SERVICE_ACCOUNT_EMAIL', 'aws' (the AWS default chain), 'aws-profile:NAME', "
    "'aws-role:arn:aws:iam::ACCOUNT:role/NAME', 'aws-web-identity:arn:aws:iam::ACCOUNT:role/NAME'"
)
_NO_KEYS = (
    "a credential reference holds only where credentials come from (e.g. 'file:/keys/sa.json' or "
    "'env:GOOGLE_APPLICATION_CREDENTIALS'), never the key itself"
)
_VALID_KINDS = ", ".join(repr(k) for k in KINDS)


class InvalidCredentialRef(CredentialError, ValueError):
    """A credential reference that is malformed (or is key material instead of a reference).

    A :class:`~checkpoint._errors.CredentialError` and a ``ValueError``; inside pydantic validation it
    surfaces as a ``ValidationError`` carrying the same message.
    """


def describe_key_material(text: str) -> str | None:
    """What key material ``text`` looks like, or ``None`` if it may stand where a reference is expected.

    Secrets are :func:`~checkpoint._secrets.looks_like_secret`'s to recognise; on top of that a reference
    is never a JSON document nor (a piece of) a PEM block, so those are refused even when incomplete.
    """
    what = looks_like_secret(text)
    if what is None and _AWS_KEY_ID.fullmatch(text.strip()):
        what = "an AWS access key ID"
    if what is None and _AWS_SECRET.fullmatch(text.strip()) and re.search(r"[/+]", text):
        what = "an AWS secret access key"
    if text.lstrip().startswith("{"):
        return f"JSON ({what})" if what else "JSON (the content of a key file)"
    if what is None and ("-----BEGIN" in text or "PRIVATE KEY" in text):
        return "a PEM block"
    return what


def _show(value: object) -> str:
    """A safe, short rendering of a bad value for an error message: key material is never echoed."""
    if isinstance(value, str):
        what = describe_key_material(value)
        if what is not None:
            return f"<{len(value)} characters that look like {what}, not shown>"
        if len(value) > 100:
            return repr(value[:60]) + f"... ({len(value)} characters)"
        return repr(value)
    text = repr(value)
    if describe_key_material(text) is not None:
        return f"<a {type(value).__name__} that looks like key material, not shown>"
    return text if len(text) <= 100 else text[:60] + f"... ({type(value).__name__})"


def _reject_key_material(field: str, value: str) -> None:
    what = describe_key_material(value)
    if what is not None:
        raise InvalidCredentialRef(
            f"{field} looks like {what} ({len(value)} characters, not shown), not a reference; {_NO_KEYS}"
        )


def _check_text(
    field: str, value: str, pattern: re.Pattern[str], valid: str, longest: int | None = None
) -> None:
    """Refuse key material, then a value that is not ``valid`` (what would be, with an example)."""
    _reject_key_material(field, value)
    if (longest is not None and len(value) > longest) or not pattern.fullmatch(value):
        raise InvalidCredentialRef(f"{field} {_show(value)} is not {valid}")


def _check_email(field: str, value: str) -> None:
    valid = "a service-account email (e.g. 'trainer@my-project.iam.gserviceaccount.com')"
    _check_text(field, value, _EMAIL, valid, longest=254)


def _scope_tuple(scopes: Sequence[str] | None) -> tuple[str, ...] | None:
    if scopes is None:
        return None
    if isinstance(scopes, str):
        return (scopes,)
    return tuple(scopes)


# ------------------------------------------------------------------------------------------ the base


class CredentialRef(BaseModel):
    """Where credentials come from; safe to store in a checkpoint.

    Build one with :meth:`application_default`, :meth:`service_account_file`, :meth:`env_var`,
    :meth:`impersonation`, :meth:`anonymous` or :meth:`parse`; it also validates from a dict (its wire
    form) or from a string in :meth:`parse`'s syntax, into the subclass of its ``kind``. Resolve one into
    Google credentials with :func:`adapters.vertex._google_auth.resolve_google`.

    Every kind has ``kind``; the kinds but anonymous (see :class:`ScopedRef`) also take ``scopes`` and
    ``quota_project``; each kind's own fields are documented on its class.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        hide_input_in_errors=True,  # a rejected value may be key material: never echo it
        defer_build=True,  # CredentialRef's schema is the union of kinds, defined below it
    )

    kind: CredentialKind

    def __new__(cls, *args: Any, **data: Any) -> CredentialRef:
        # ``CredentialRef(kind=...)`` builds the right kind; Python then runs that kind's ``__init__``.
        if cls is CredentialRef:
            if args:
                raise TypeError("CredentialRef takes keyword arguments only")
            return CredentialRef.model_validate(data)
        return super().__new__(cls)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[BaseModel], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        if cls is not CredentialRef:
            return handler(source)  # a kind: its own model schema
        return handler.generate_schema(_AnyCredentialRef)

    # ----------------------------------------------------------------------------------- validation

    @model_validator(mode="before")
    @classmethod
    def _check_fields(cls, data: Any) -> Any:
        """Fields of other kinds, and missing required ones, named in a message (runs for each kind)."""
        if not isinstance(data, dict):
            return data
        own: dict[str, str] = {}
        for name, info in cls.model_fields.items():
            own[name] = own[info.alias or name] = name
        data = {key: value for key, value in data.items() if not (value is None and key in _ALL_FIELDS)}
        kind = cls.model_fields["kind"].default
        for key in data:
            if key not in own and key in _ALL_FIELDS:
                takes = ", ".join(repr(f) for f in cls.model_fields if f != "kind") or "no other fields"
                raise InvalidCredentialRef(
                    f"field {_ALL_FIELDS[key]!r} does not apply to a credential reference of kind "
                    f"{kind!r} (it takes {takes})"
                )
        given = {own[key] for key in data if key in own}
        for name, info in cls.model_fields.items():
            if info.is_required() and name not in given:
                raise InvalidCredentialRef(f"a credential reference of kind {kind!r} needs {name!r}")
        return data

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if value is not None}

    # --------------------------------------------------------------------------------- constructors

    @classmethod
    def application_default(
        cls, *, scopes: Sequence[str] | None = None, quota_project: str | None = None
    ) -> ApplicationDefaultRef:
        """Application default credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud, metadata server)."""
        return _build(ApplicationDefaultRef, {"scopes": _scope_tuple(scopes), "quota_project": quota_project})

    @classmethod
    def service_account_file(
        cls,
        path: str | os.PathLike[str],
        *,
        scopes: Sequence[str] | None = None,
        quota_project: str | None = None,
    ) -> ServiceAccountFileRef:
        """A service-account JSON key file, by path; the file is read only when resolved."""
        return _build(
            ServiceAccountFileRef,
            {"path": path, "scopes": _scope_tuple(scopes), "quota_project": quota_project},
        )

    @classmethod
    def env_var(
        cls, name: str, *, scopes: Sequence[str] | None = None, quota_project: str | None = None
    ) -> EnvVarRef:
        """An environment variable holding a key file's path, looked up when resolved."""
        return _build(
            EnvVarRef, {"name": name, "scopes": _scope_tuple(scopes), "quota_project": quota_project}
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
    ) -> ImpersonationRef:
        """Impersonate ``target_principal`` using ``source`` (application default credentials if None)."""
        return _build(
            ImpersonationRef,
            {
                "target_principal": target_principal,
                "source": source,
                "delegates": None if delegates is None else tuple(delegates),
                "lifetime": lifetime,
                "scopes": _scope_tuple(scopes),
                "quota_project": quota_project,
            },
        )

    @classmethod
    def anonymous(cls) -> AnonymousRef:
        """No credentials at all (emulators, public data)."""
        return AnonymousRef()

    @classmethod
    def parse(cls, text: str) -> CredentialRef:
        """Parse a CLI / TOML string: ``adc``, ``application-default``, ``anonymous``, ``file:PATH``,
        ``env:VAR`` or ``impersonate:EMAIL`` (impersonating with application default credentials).

        Raises:
            InvalidCredentialRef: the string is none of these (the message lists them), or is key material.
        """
        return _build(CredentialRef, _parse_to_dict(text))

    # ------------------------------------------------------------------------------- presentation

    def _repr_head(self) -> str:
        return self.kind

    def _summary(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        extras = [
            f"{field}={value!r}"
            for field in ("delegates", "lifetime", "scopes", "quota_project")
            if (value := getattr(self, field, None)) is not None
        ]
        return f"CredentialRef({', '.join([self._repr_head(), *extras])})"

    def __str__(self) -> str:
        return self.describe()

    def describe(self) -> str:
        """A one-line human description, e.g. ``service-account key file /keys/sa.json``."""
        return self._summary()

    def key_file_path(self) -> Path | None:
        """The key file this reference points at, checked to exist now; None for kinds without one.

        Raises:
            CredentialError: the environment variable is unset or empty (or holds key material instead
                of a path), or the file does not exist or is not a file.
        """
        return None


# ----------------------------------------------------------------------------------------- the kinds


class ScopedRef(CredentialRef):
    """The fields of every kind that yields real credentials (all but anonymous).

    Fields:
        scopes: OAuth scopes to request; overrides the resolver's.
        quota_project: the project billed for quota.
    """

    scopes: tuple[str, ...] | None = None
    quota_project: str | None = None

    @field_validator("scopes", mode="after")
    @classmethod
    def _check_scopes(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise InvalidCredentialRef("scopes is empty; leave it out to use the default scopes")
        for scope in value or ():
            _check_text(
                "scope",
                scope,
                _SCOPE,
                "an OAuth scope (e.g. 'https://www.googleapis.com/auth/cloud-platform')",
            )
        return value

    @field_validator("quota_project", mode="after")
    @classmethod
    def _check_quota_project(cls, value: str | None) -> str | None:
        if value is not None:
            _check_text(
                "quota_project", value, _QUOTA_PROJECT, "a Google Cloud project ID (e.g. 'my-project')"
            )
        return value

    def describe(self) -> str:
        text = self._summary()
        if self.scopes:
            text += f" with scopes {' '.join(self.scopes)}"
        if self.quota_project:
            text += f", quota project {self.quota_project}"
        return text


class ApplicationDefaultRef(ScopedRef):
    """Application default credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud, metadata server)."""

    kind: Literal["application_default"] = "application_default"

    def _summary(self) -> str:
        return "application default credentials"


class ServiceAccountFileRef(ScopedRef):
    """A service-account JSON key file. ``path``: the key file's path (never its content)."""

    kind: Literal["service_account_file"] = "service_account_file"
    path: str

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

    def _repr_head(self) -> str:
        return f"service_account_file={self.path!r}"

    def _summary(self) -> str:
        return f"service-account key file {self.path}"

    def key_file_path(self) -> Path:
        return _existing_file(self.path, f"service-account key file {self.path}")


class EnvVarRef(ScopedRef):
    """An environment variable holding a key file's path. ``name``: the variable."""

    kind: Literal["env_var"] = "env_var"
    name: str

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

    def _repr_head(self) -> str:
        return f"env_var={self.name!r}"

    def _summary(self) -> str:
        return f"service-account key file named by ${self.name}"

    def key_file_path(self) -> Path:
        raw = os.environ.get(self.name, "")
        if not raw.strip():
            raise CredentialError(
                f"environment variable {self.name} is not set (or is empty); credential reference "
                f"'env:{self.name}' needs it to hold the path of a service-account key file"
            )
        what = describe_key_material(raw)
        if what is not None:
            raise CredentialError(
                f"environment variable {self.name} holds {what} ({len(raw)} characters, not shown), "
                f"not a path; credential reference 'env:{self.name}' needs it to hold the path of a "
                "service-account key file"
            )
        return _existing_file(raw, f"service-account key file {raw} (from ${self.name})")


class ImpersonationRef(ScopedRef):
    """Impersonating a service account.

    Fields:
        target_principal: the service-account email to impersonate.
        source: the credentials that impersonate (default: application default).
        delegates: service-account emails of a delegation chain.
        lifetime: token lifetime in seconds (1 to 43200; Google's default is 3600).
    """

    kind: Literal["impersonation"] = "impersonation"
    target_principal: str
    source: CredentialRef = Field(default_factory=ApplicationDefaultRef)
    delegates: tuple[str, ...] | None = None
    lifetime: int | None = None

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
    def _check_source(self) -> ImpersonationRef:
        if isinstance(self.source, AnonymousRef):
            raise InvalidCredentialRef(
                "an impersonation source cannot be 'anonymous': impersonating needs real credentials"
            )
        depth = 0
        ref: CredentialRef = self
        while isinstance(ref, ImpersonationRef):
            depth += 1
            ref = ref.source
        if depth > MAX_IMPERSONATION_DEPTH:
            raise InvalidCredentialRef(
                f"impersonation chained more than {MAX_IMPERSONATION_DEPTH} deep; use 'delegates' instead"
            )
        return self

    def _repr_head(self) -> str:
        return f"impersonation={self.target_principal!r}, source={self.source!r}"

    def _summary(self) -> str:
        text = f"service account {self.target_principal} impersonated via {self.source.describe()}"
        if self.delegates:
            text += f" through {', '.join(self.delegates)}"
        if self.lifetime is not None:
            text += f" for {self.lifetime}s tokens"
        return text


class AnonymousRef(CredentialRef):
    """No credentials at all (emulators, public data); takes no other field."""

    kind: Literal["anonymous"] = "anonymous"

    def _summary(self) -> str:
        return "anonymous (no credentials)"


# ------------------------------------------------------------------------------------ the AWS kinds

_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
_PROFILE = re.compile(r"[A-Za-z0-9_.@+-]{1,128}")
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}")
DEFAULT_SESSION_NAME: Final = "jobferry"


def _check_role_arn(field: str, value: Any) -> Any:
    if isinstance(value, str):
        _check_text(
            field, value, _ROLE_ARN, "an IAM role ARN (e.g. 'arn:aws:iam::123456789012:role/trainer')"
        )
    return value


class AwsRef(CredentialRef):
    """The base of the AWS kinds: credentials that boto3 resolves (:mod:`adapters.sagemaker._aws_auth`)."""


class AwsDefaultRef(AwsRef):
    """boto3's default credential chain (environment, shared files, SSO, container and instance roles)."""

    kind: Literal["aws_default"] = "aws_default"

    def _summary(self) -> str:
        return "the AWS default credential chain"


class AwsProfileRef(AwsRef):
    """A named profile of the shared AWS config files. ``profile``: its name (never its keys)."""

    kind: Literal["aws_profile"] = "aws_profile"
    profile: str

    @field_validator("profile", mode="before")
    @classmethod
    def _check_profile(cls, value: Any) -> Any:
        if isinstance(value, str):
            valid = "a profile name (letters, digits and _ . @ + -, e.g. 'training')"
            _check_text("aws_profile profile", value, _PROFILE, valid)
        return value

    def _repr_head(self) -> str:
        return f"aws_profile={self.profile!r}"

    def _summary(self) -> str:
        return f"AWS profile {self.profile}"


class _AwsRoleRef(AwsRef):
    role_arn: str
    session_name: str = DEFAULT_SESSION_NAME

    @field_validator("role_arn", mode="before")
    @classmethod
    def _check_arn(cls, value: Any) -> Any:
        return _check_role_arn(f"{cls.model_fields['kind'].default} role_arn", value)

    @field_validator("session_name", mode="before")
    @classmethod
    def _check_session(cls, value: Any) -> Any:
        if isinstance(value, str):
            valid = "a RoleSessionName (2-64 of letters, digits, _+=,.@-)"
            _check_text("session_name", value, _SESSION_NAME, valid)
        return value


class AwsAssumeRoleRef(_AwsRoleRef):
    """Assuming an IAM role through STS ``AssumeRole``.

    Fields:
        role_arn: the role to assume.
        external_id: the ``ExternalId`` the role's trust policy asks for (an identifier, not a secret).
        session_name: the ``RoleSessionName`` (default ``jobferry``).
        duration_seconds: the session's lifetime (900 to 43200; STS's default is 3600).
        source: the AWS credentials that assume the role (default: the default chain).
    """

    kind: Literal["aws_assume_role"] = "aws_assume_role"
    external_id: str | None = None
    duration_seconds: int | None = None
    source: CredentialRef = Field(default_factory=AwsDefaultRef)

    @field_validator("external_id", mode="before")
    @classmethod
    def _check_external_id(cls, value: Any) -> Any:
        if isinstance(value, str):
            valid = "an ExternalId (2-1224 of letters, digits, _+=,.@:/-)"
            _check_text("external_id", value, _EXTERNAL_ID, valid)
        return value

    @field_validator("duration_seconds", mode="after")
    @classmethod
    def _check_duration(cls, value: int | None) -> int | None:
        if value is not None and not 900 <= value <= 43200:
            raise InvalidCredentialRef(f"duration_seconds {value} is out of range: give 900 to 43200")
        return value

    @model_validator(mode="after")
    def _aws_source(self) -> AwsAssumeRoleRef:
        if not isinstance(self.source, AwsDefaultRef | AwsProfileRef | AwsAssumeRoleRef | AwsWebIdentityRef):
            raise InvalidCredentialRef(
                f"an aws_assume_role source must be an AWS credential kind, not {self.source.kind!r}"
            )
        return self

    def _repr_head(self) -> str:
        return f"aws_assume_role={self.role_arn!r}, source={self.source!r}"

    def _summary(self) -> str:
        text = f"IAM role {self.role_arn} (session {self.session_name}) assumed via {self.source.describe()}"
        return text + (" with an external ID" if self.external_id else "")


class AwsWebIdentityRef(_AwsRoleRef):
    """Assuming an IAM role with a web identity token (``AssumeRoleWithWebIdentity``; EKS, GitHub OIDC).

    Fields:
        role_arn: the role to assume.
        token_file: the file holding the OIDC token (default: ``$AWS_WEB_IDENTITY_TOKEN_FILE`` when
            resolved); the path only, the token is read when credentials are needed.
        session_name: the ``RoleSessionName`` (default ``jobferry``).
    """

    kind: Literal["aws_web_identity"] = "aws_web_identity"
    token_file: str | None = None

    @field_validator("token_file", mode="before")
    @classmethod
    def _check_token_file(cls, value: Any) -> Any:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, str):
            _reject_key_material("aws_web_identity token_file", value)
            if not value.strip() or len(value) > MAX_PATH_CHARS or _CONTROL.search(value):
                raise InvalidCredentialRef(
                    f"aws_web_identity token_file {_show(value)} is not a file path; give the token file's "
                    "path, never the token"
                )
        return value

    def _repr_head(self) -> str:
        return f"aws_web_identity={self.role_arn!r}"

    def _summary(self) -> str:
        where = self.token_file or "$AWS_WEB_IDENTITY_TOKEN_FILE"
        return f"IAM role {self.role_arn} (session {self.session_name}) by web identity token {where}"


_KIND_UNION = (
    ApplicationDefaultRef
    | ServiceAccountFileRef
    | EnvVarRef
    | ImpersonationRef
    | AnonymousRef
    | AwsDefaultRef
    | AwsProfileRef
    | AwsAssumeRoleRef
    | AwsWebIdentityRef
)
_KIND_MODELS: Final[tuple[type[CredentialRef], ...]] = get_args(_KIND_UNION)
assert tuple(m.model_fields["kind"].default for m in _KIND_MODELS) == KINDS

# Every field name and alias of any kind (but ``kind``), mapped to the field's name.
_ALL_FIELDS: Final[dict[str, str]] = {
    key: name
    for model in _KIND_MODELS
    for name, info in model.model_fields.items()
    if name != "kind"
    for key in (name, info.alias or name)
}


def _prepare(data: Any) -> Any:
    """Before the union picks a kind: a string is parsed, and a missing or unknown kind is explained."""
    if isinstance(data, str):
        data = _parse_to_dict(data)
    if isinstance(data, dict):
        kind = data.get("kind")
        if kind is None:
            raise InvalidCredentialRef(f"a credential reference needs 'kind', one of {_VALID_KINDS}")
        if not isinstance(kind, str) or kind not in KINDS:
            raise InvalidCredentialRef(
                f"unknown credential kind {_show(kind)}; valid kinds are {_VALID_KINDS}"
            )
    return data


_AnyCredentialRef = Annotated[
    Annotated[_KIND_UNION, Field(discriminator="kind")],
    BeforeValidator(_prepare),
]


# -------------------------------------------------------------------------------------------- helpers

_R = TypeVar("_R", bound=CredentialRef)


def _build(model: type[_R], data: dict[str, Any]) -> _R:
    """``model`` validated from ``data``, a ValidationError turned into InvalidCredentialRef."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidCredentialRef(_validation_message(exc)) from None


def _existing_file(raw: str, where: str) -> Path:
    path = Path(raw).expanduser()
    if not path.exists():
        raise CredentialError(f"{where} does not exist")
    if not path.is_file():
        raise CredentialError(f"{where} is not a file")
    return path


def _parse_to_dict(text: str) -> dict[str, Any]:
    if not isinstance(text, str):
        raise InvalidCredentialRef(
            f"a credential reference string must be a str, not {type(text).__name__}; valid forms: "
            + _VALID_STRINGS
        )
    what = describe_key_material(text)
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
    if keyword in ("aws", "aws-default", "aws_default"):
        return {"kind": "aws_default"}
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
    if sep and prefix == "aws-profile":
        return {"kind": "aws_profile", "profile": rest}
    if sep and prefix in ("aws-role", "aws-assume-role"):
        return {"kind": "aws_assume_role", "role_arn": rest}
    if sep and prefix == "aws-web-identity":
        return {"kind": "aws_web_identity", "role_arn": rest}
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
