"""CredentialRef: references round-trip, key material is refused, and resolution works offline."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError

from adapters._credentials import (
    AnonymousRef,
    ApplicationDefaultRef,
    CredentialRef,
    EnvVarRef,
    ImpersonationRef,
    InvalidCredentialRef,
    ServiceAccountFileRef,
)
from adapters._errors import CredentialError
from adapters.vertex._google_auth import resolve_google
from checkpoint._errors import JobferryError, MissingDependency

ROOT = Path(__file__).resolve().parents[1]
PYTHON = "/work/venv/bin/python" if Path("/work/venv/bin/python").exists() else sys.executable
SA_EMAIL = "trainer@my-project.iam.gserviceaccount.com"
TARGET = "runner@other-project.iam.gserviceaccount.com"
PEM_HEADER = "-----BEGIN " + "PRIVATE KEY-----"  # composed so no file holds a literal key header
SECRET_MARKER = "PRIVATE " + "KEY"

ALL_REFS = [
    CredentialRef.application_default(),
    CredentialRef.application_default(
        scopes=["https://www.googleapis.com/auth/devstorage.read_only"], quota_project="my-project"
    ),
    CredentialRef.service_account_file("/keys/sa.json"),
    CredentialRef.service_account_file(Path("relative/key file.json"), quota_project="my-project"),
    CredentialRef.env_var("GOOGLE_APPLICATION_CREDENTIALS"),
    CredentialRef.impersonation(TARGET),
    CredentialRef.impersonation(
        TARGET,
        CredentialRef.env_var("JF_KEY"),
        delegates=["hop@my-project.iam.gserviceaccount.com"],
        lifetime=600,
        scopes=["https://www.googleapis.com/auth/cloud-platform"],
    ),
    CredentialRef.impersonation(TARGET, CredentialRef.impersonation(SA_EMAIL)),
    CredentialRef.anonymous(),
]


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _key_info(private_key_pem: str, **overrides: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "type": "service_account",
        "project_id": "my-project",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": private_key_pem,
        "client_email": SA_EMAIL,
        "client_id": "123456789012345678901",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    info.update(overrides)
    return info


@pytest.fixture
def key_file(tmp_path: Path, private_key_pem: str) -> Path:
    path = tmp_path / "keys" / "sa.json"
    path.parent.mkdir()
    path.write_text(json.dumps(_key_info(private_key_pem)))
    return path


def _key_fragments(private_key_pem: str) -> list[str]:
    """Pieces of the key that must never show up anywhere: its base64 lines and its header."""
    body = [line for line in private_key_pem.splitlines() if line and not line.startswith("-----")]
    return [SECRET_MARKER, PEM_HEADER, *body]


def _assert_no_key(text: str, private_key_pem: str) -> None:
    for fragment in _key_fragments(private_key_pem):
        assert fragment not in text


# ------------------------------------------------------------------------------------ model & JSON


@pytest.mark.parametrize("ref", ALL_REFS, ids=repr)
def test_round_trips_through_json(ref: CredentialRef) -> None:
    wire = ref.model_dump_json()
    assert CredentialRef.model_validate_json(wire) == ref
    assert CredentialRef.model_validate(json.loads(wire)) == ref
    assert CredentialRef.model_validate(ref.model_dump()) == ref
    assert hash(CredentialRef.model_validate_json(wire)) == hash(ref)
    assert "null" not in wire  # fields a kind does not take are left out


def test_wire_form_is_camel_case() -> None:
    ref = CredentialRef.impersonation(
        TARGET, delegates=["hop@my-project.iam.gserviceaccount.com"], lifetime=600, quota_project="my-project"
    )
    assert json.loads(ref.model_dump_json()) == {
        "kind": "impersonation",
        "targetPrincipal": TARGET,
        "source": {"kind": "application_default"},
        "delegates": ["hop@my-project.iam.gserviceaccount.com"],
        "lifetime": 600,
        "quotaProject": "my-project",
    }
    assert json.loads(CredentialRef.service_account_file("/keys/sa.json").model_dump_json()) == {
        "kind": "service_account_file",
        "path": "/keys/sa.json",
    }
    wire = json.loads(CredentialRef.env_var("JF_KEY").model_dump_json())
    assert wire == {"kind": "env_var", "name": "JF_KEY"}
    assert CredentialRef.anonymous().model_dump() == {"kind": "anonymous"}


def test_validates_from_dict_with_either_spelling() -> None:
    camel = {"kind": "impersonation", "targetPrincipal": TARGET}
    snake = {"kind": "impersonation", "target_principal": TARGET}
    expected = CredentialRef.impersonation(TARGET)
    assert CredentialRef.model_validate(camel) == expected
    assert CredentialRef.model_validate(snake) == expected
    assert expected.source == CredentialRef.application_default()


_KIND_CLASSES = {
    "application_default": ApplicationDefaultRef,
    "service_account_file": ServiceAccountFileRef,
    "env_var": EnvVarRef,
    "impersonation": ImpersonationRef,
    "anonymous": AnonymousRef,
}


@pytest.mark.parametrize("ref", ALL_REFS, ids=repr)
def test_each_kind_is_its_own_class(ref: CredentialRef) -> None:
    assert type(ref) is _KIND_CLASSES[ref.kind]
    assert isinstance(ref, CredentialRef)
    wire = ref.model_dump(mode="json")
    assert type(CredentialRef.model_validate(wire)) is type(ref)
    assert type(CredentialRef.model_validate_json(ref.model_dump_json())) is type(ref)
    assert CredentialRef.model_validate(ref) is ref
    assert CredentialRef(**wire) == ref  # the base builds the right kind, too
    assert type(ref).model_validate(wire) == ref  # and so does the kind's own class


class _Config(BaseModel):
    credentials: CredentialRef = Field(default_factory=CredentialRef.application_default)


@pytest.mark.parametrize("ref", ALL_REFS, ids=repr)
def test_a_field_typed_credential_ref_holds_any_kind(ref: CredentialRef) -> None:
    config = _Config(credentials=ref)
    assert config.credentials is ref
    wire = config.model_dump(mode="json")
    assert wire == {"credentials": ref.model_dump(mode="json")}  # every field of the kind, nested too
    again = _Config.model_validate_json(config.model_dump_json())
    assert again == config and type(again.credentials) is type(ref)
    assert _Config.model_validate({"credentials": ref.model_dump()}).credentials == ref
    assert _Config().credentials == CredentialRef.application_default()
    from_string = _Config.model_validate({"credentials": "env:JF_KEY"})
    assert from_string.credentials == CredentialRef.env_var("JF_KEY")


def test_a_field_typed_credential_ref_explains_a_bad_reference() -> None:
    with pytest.raises(ValidationError, match=r"unknown credential kind 'bogus'.*'anonymous'"):
        _Config.model_validate({"credentials": {"kind": "bogus"}})
    with pytest.raises(ValidationError, match="kind 'service_account_file' needs 'path'"):
        _Config.model_validate({"credentials": {"kind": "service_account_file"}})
    with pytest.raises(ValidationError, match="unknown credential reference 'gcloud'"):
        _Config.model_validate({"credentials": "gcloud"})


def test_a_kind_takes_only_its_own_fields() -> None:
    assert set(AnonymousRef.model_fields) == {"kind"}
    assert set(EnvVarRef.model_fields) == {"kind", "name", "scopes", "quota_project"}
    with pytest.raises(ValidationError, match="'lifetime' does not apply"):
        ServiceAccountFileRef.model_validate({"path": "/k.json", "lifetime": 60})
    # None stands for "not given", as in the wire form, which leaves None fields out.
    assert CredentialRef.model_validate({"kind": "anonymous", "path": None}) == CredentialRef.anonymous()
    assert CredentialRef.model_validate(
        {"kind": "impersonation", "targetPrincipal": TARGET, "source": None}
    ) == CredentialRef.impersonation(TARGET)


def test_frozen() -> None:
    ref = CredentialRef.service_account_file("/keys/sa.json")
    with pytest.raises(ValidationError):
        ref.path = "/elsewhere.json"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("adc", CredentialRef.application_default()),
        ("application-default", CredentialRef.application_default()),
        ("  ADC ", CredentialRef.application_default()),
        ("anonymous", CredentialRef.anonymous()),
        ("file:/keys/sa.json", CredentialRef.service_account_file("/keys/sa.json")),
        ("file:///keys/sa.json", CredentialRef.service_account_file("/keys/sa.json")),
        ("file:keys/sa.json", CredentialRef.service_account_file("keys/sa.json")),
        ("env:GOOGLE_APPLICATION_CREDENTIALS", CredentialRef.env_var("GOOGLE_APPLICATION_CREDENTIALS")),
        (f"impersonate:{TARGET}", CredentialRef.impersonation(TARGET)),
    ],
)
def test_parse(text: str, expected: CredentialRef) -> None:
    assert CredentialRef.parse(text) == expected
    # A string is also accepted wherever the model validates (TOML values, nested config fields).
    assert CredentialRef.model_validate(text) == expected


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("gcloud", "'gcloud'"),
        ("file:", "'file:'"),
        ("env:1BAD", "'1BAD'"),
        ("env:$HOME", "'$HOME'"),
        ("env:MY-VAR", "'MY-VAR'"),
        ("impersonate:not-an-email", "'not-an-email'"),
        ("impersonate:", "''"),
        ("", "''"),
    ],
)
def test_parse_rejects_bad_strings_naming_them(text: str, named: str) -> None:
    with pytest.raises(InvalidCredentialRef) as info:
        CredentialRef.parse(text)
    message = str(info.value)
    assert named in message
    assert isinstance(info.value, CredentialError)
    assert isinstance(info.value, JobferryError)
    assert isinstance(info.value, ValueError)
    if text.startswith("env:"):
        assert "GOOGLE_APPLICATION_CREDENTIALS" in message  # an example of a valid name
    elif text.startswith("impersonate:"):
        assert "iam.gserviceaccount.com" in message
    elif text != "file:":
        for form in ("'adc'", "'anonymous'", "'file:", "'env:", "'impersonate:"):
            assert form in message


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "env_var"},
        {"kind": "service_account_file"},
        {"kind": "impersonation"},
        {"kind": "anonymous", "path": "/keys/sa.json"},
        {"kind": "application_default", "name": "X"},
        {"kind": "service_account_file", "path": "/k.json", "lifetime": 60},
        {"kind": "bogus"},
        {},
        {"kind": "anonymous", "unexpected": 1},
        {"kind": "impersonation", "targetPrincipal": TARGET, "lifetime": 0},
        {"kind": "impersonation", "targetPrincipal": TARGET, "lifetime": 50000},
        {"kind": "impersonation", "targetPrincipal": TARGET, "delegates": ["nope"]},
        {"kind": "impersonation", "targetPrincipal": TARGET, "source": {"kind": "anonymous"}},
        {"kind": "application_default", "scopes": []},
        {"kind": "application_default", "scopes": ["has space"]},
        {"kind": "application_default", "quotaProject": "Bad Project"},
    ],
)
def test_model_rejects_bad_dicts(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CredentialRef.model_validate(data)


def test_model_errors_name_the_problem() -> None:
    with pytest.raises(ValidationError, match="kind 'env_var' needs 'name'"):
        CredentialRef.model_validate({"kind": "env_var"})
    with pytest.raises(ValidationError, match="'path' does not apply to a credential reference of kind"):
        CredentialRef.model_validate({"kind": "anonymous", "path": "/k.json"})
    with pytest.raises(ValidationError, match=r"unknown credential kind 'bogus'.*'service_account_file'"):
        CredentialRef.model_validate({"kind": "bogus"})
    with pytest.raises(InvalidCredentialRef, match="lifetime 0 is out of range"):
        CredentialRef.impersonation(TARGET, lifetime=0)


def test_impersonation_depth_is_bounded() -> None:
    three = CredentialRef.impersonation(
        "a@p.iam.gserviceaccount.com",
        CredentialRef.impersonation("b@p.iam.gserviceaccount.com", CredentialRef.impersonation(TARGET)),
    )
    with pytest.raises(InvalidCredentialRef, match="more than 3 deep"):
        CredentialRef.impersonation("d@p.iam.gserviceaccount.com", three)


# ------------------------------------------------------------------------------------ key material


def _key_material_inputs(private_key_pem: str) -> list[str]:
    import base64

    info_json = json.dumps(_key_info(private_key_pem))
    return [
        info_json,
        "  " + info_json,
        private_key_pem,
        "/keys/" + private_key_pem,
        base64.b64encode(info_json.encode()).decode(),
    ]


def test_key_material_is_refused_and_never_echoed(private_key_pem: str) -> None:
    for material in _key_material_inputs(private_key_pem):
        attempts = [
            lambda m=material: CredentialRef.service_account_file(m),
            lambda m=material: CredentialRef.env_var(m),
            lambda m=material: CredentialRef.impersonation(m),
            lambda m=material: CredentialRef.parse(m),
            lambda m=material: CredentialRef.parse("file:" + m),
            lambda m=material: CredentialRef.parse("env:" + m),
            lambda m=material: CredentialRef.application_default(quota_project=m),
        ]
        for attempt in attempts:
            with pytest.raises(InvalidCredentialRef) as info:
                attempt()
            assert "not shown" in str(info.value)
            _assert_no_key(str(info.value), private_key_pem)
        for data in (
            {"kind": "service_account_file", "path": material},
            {"kind": "env_var", "name": material},
            {"kind": "impersonation", "targetPrincipal": material},
            material,
        ):
            with pytest.raises(ValidationError) as verr:
                CredentialRef.model_validate(data)
            _assert_no_key(str(verr.value), private_key_pem)
            _assert_no_key(repr(verr.value.errors(include_input=False)), private_key_pem)


def test_key_material_is_what_the_checkpoint_guard_calls_a_secret() -> None:
    """One detector: whatever the checkpoint secret guard flags is refused as a reference too."""
    from checkpoint._secrets import looks_like_secret

    aws = "aws_secret_access_key = " + "Ab1/" * 10
    oauth = json.dumps({"client_secret": "fake-secret", "refresh_token": "1//" + "x" * 30})
    for material in (aws, oauth, "/keys/" + aws):
        assert looks_like_secret(material) is not None
        with pytest.raises(InvalidCredentialRef, match="not shown") as info:
            CredentialRef.service_account_file(material)
        assert "Ab1/Ab1/" not in str(info.value) and "fake-secret" not in str(info.value)
        with pytest.raises(ValidationError) as verr:
            CredentialRef.model_validate(material)
        assert "Ab1/Ab1/" not in str(verr.value) and "fake-secret" not in str(verr.value)


def test_overlong_path_is_refused() -> None:
    with pytest.raises(InvalidCredentialRef, match="4097 characters long"):
        CredentialRef.service_account_file("/" + "a" * 4096)
    assert CredentialRef.service_account_file("/" + "a" * 4095).path is not None


def test_path_with_line_break_is_refused() -> None:
    with pytest.raises(InvalidCredentialRef, match="line break"):
        CredentialRef.service_account_file("/keys/sa.json\n")


def test_repr_str_and_describe() -> None:
    assert repr(CredentialRef.service_account_file("/keys/sa.json")) == (
        "CredentialRef(service_account_file='/keys/sa.json')"
    )
    assert repr(CredentialRef.env_var("JF_KEY")) == "CredentialRef(env_var='JF_KEY')"
    assert repr(CredentialRef.anonymous()) == "CredentialRef(anonymous)"
    assert repr(CredentialRef.application_default(quota_project="my-project")) == (
        "CredentialRef(application_default, quota_project='my-project')"
    )
    assert repr(CredentialRef.impersonation(TARGET, lifetime=60)) == (
        f"CredentialRef(impersonation={TARGET!r}, source=CredentialRef(application_default), lifetime=60)"
    )
    assert CredentialRef.service_account_file("/keys/sa.json").describe() == (
        "service-account key file /keys/sa.json"
    )
    assert str(CredentialRef.env_var("JF_KEY")) == "service-account key file named by $JF_KEY"
    assert CredentialRef.impersonation(TARGET).describe() == (
        f"service account {TARGET} impersonated via application default credentials"
    )
    for ref in ALL_REFS:
        assert "\n" not in ref.describe()


# ------------------------------------------------------------------------------------- resolution


def test_key_file_path(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert CredentialRef.service_account_file(key_file).key_file_path() == key_file
    monkeypatch.setenv("JF_TEST_KEY", str(key_file))
    assert CredentialRef.env_var("JF_TEST_KEY").key_file_path() == key_file
    others = [CredentialRef.application_default(), CredentialRef.anonymous()]
    others.append(CredentialRef.impersonation(TARGET))
    for ref in others:
        assert ref.key_file_path() is None


def test_key_file_path_expands_user(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(key_file.parent.parent))
    ref = CredentialRef.service_account_file("~/keys/sa.json")
    assert ref.path == "~/keys/sa.json"  # stored as given; expanded only when resolved
    assert ref.key_file_path() == key_file


def test_missing_file_names_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere" / "sa.json"
    ref = CredentialRef.service_account_file(missing)
    for call in (ref.key_file_path, lambda: resolve_google(ref)):
        with pytest.raises(CredentialError, match="does not exist") as info:
            call()
        assert str(missing) in str(info.value)
    monkeypatch.setenv("JF_TEST_KEY", str(missing))
    with pytest.raises(CredentialError) as info:
        resolve_google(CredentialRef.env_var("JF_TEST_KEY"))
    assert str(missing) in str(info.value) and "JF_TEST_KEY" in str(info.value)
    with pytest.raises(CredentialError, match="not a file"):
        CredentialRef.service_account_file(tmp_path).key_file_path()


@pytest.mark.parametrize("value", [None, "", "   "])
def test_unset_env_var_names_the_variable(value: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv("JF_TEST_UNSET_KEY", raising=False)
    else:
        monkeypatch.setenv("JF_TEST_UNSET_KEY", value)
    ref = CredentialRef.env_var("JF_TEST_UNSET_KEY")
    for call in (ref.key_file_path, lambda: resolve_google(ref)):
        with pytest.raises(CredentialError, match="JF_TEST_UNSET_KEY is not set"):
            call()


def test_env_var_holding_key_content_is_refused(
    private_key_pem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JF_TEST_KEY", json.dumps(_key_info(private_key_pem)))
    with pytest.raises(CredentialError, match="JF_TEST_KEY holds JSON") as info:
        resolve_google(CredentialRef.env_var("JF_TEST_KEY"))
    _assert_no_key(str(info.value), private_key_pem)


def test_resolves_a_real_key_file(
    key_file: Path, private_key_pem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.oauth2 import service_account

    monkeypatch.setenv("JF_TEST_KEY", str(key_file))
    refs = [
        CredentialRef.service_account_file(key_file),
        CredentialRef.parse(f"file:{key_file}"),
        CredentialRef.env_var("JF_TEST_KEY"),
        CredentialRef.parse("env:JF_TEST_KEY"),
    ]
    for ref in refs:
        credentials = resolve_google(ref)
        assert isinstance(credentials, service_account.Credentials)
        assert credentials.service_account_email == SA_EMAIL
        assert credentials.scopes == ["https://www.googleapis.com/auth/cloud-platform"]
        assert not credentials.valid  # nothing was refreshed: no network
        shown = (ref.model_dump_json(), repr(ref), str(ref), ref.describe(), json.dumps(ref.model_dump()))
        for text in shown:
            _assert_no_key(text, private_key_pem)


def test_scopes_and_quota_project(key_file: Path) -> None:
    read_only = "https://www.googleapis.com/auth/devstorage.read_only"
    credentials = resolve_google(CredentialRef.service_account_file(key_file), scopes=[read_only])
    assert credentials.scopes == [read_only]
    ref = CredentialRef.service_account_file(key_file, scopes=[read_only], quota_project="billing-project")
    credentials = resolve_google(ref)  # the reference's own scopes win over the default
    assert credentials.scopes == [read_only]
    assert credentials.quota_project_id == "billing-project"


@pytest.mark.parametrize(
    "content",
    [
        "not json at all " + SECRET_MARKER,
        "{" + PEM_HEADER + "\nTOPSECRETBYTES",
        "[]",
        "{}",
    ],
)
def test_malformed_key_file_does_not_echo_content(tmp_path: Path, content: str) -> None:
    path = tmp_path / "sa.json"
    path.write_text(content)
    with pytest.raises(CredentialError) as info:
        resolve_google(CredentialRef.service_account_file(path))
    message = str(info.value)
    assert str(path) in message
    assert "TOPSECRETBYTES" not in message and SECRET_MARKER not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_key_file_with_broken_private_key_does_not_echo_it(tmp_path: Path, private_key_pem: str) -> None:
    lines = private_key_pem.splitlines()
    broken = "\n".join([lines[0], *(line[::-1] for line in lines[1:-1]), lines[-1]])
    for info_dict in (
        _key_info(broken),
        {k: v for k, v in _key_info(private_key_pem).items() if k != "token_uri"},
        {k: v for k, v in _key_info(private_key_pem).items() if k != "client_email"},
        _key_info(private_key_pem, private_key=12345),
    ):
        path = tmp_path / "sa.json"
        path.write_text(json.dumps(info_dict))
        with pytest.raises(CredentialError) as info:
            resolve_google(CredentialRef.service_account_file(path))
        _assert_no_key(str(info.value), private_key_pem)
        _assert_no_key(str(info.value), broken)
        assert info.value.__cause__ is None


def test_anonymous_resolves_to_anonymous_credentials() -> None:
    from google.auth.credentials import AnonymousCredentials

    assert isinstance(resolve_google(CredentialRef.anonymous()), AnonymousCredentials)


def test_adc_via_environment(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from google.oauth2 import service_account

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    credentials = resolve_google(CredentialRef.application_default(quota_project="billing-project"))
    assert isinstance(credentials, service_account.Credentials)
    assert credentials.service_account_email == SA_EMAIL
    assert credentials.quota_project_id == "billing-project"


def test_adc_passes_scopes_and_quota_project(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth
    from google.auth.credentials import AnonymousCredentials

    calls: list[dict[str, Any]] = []
    sentinel = AnonymousCredentials()

    def fake_default(**kwargs: Any) -> tuple[Any, str | None]:
        calls.append(kwargs)
        return sentinel, "my-project"

    monkeypatch.setattr(google.auth, "default", fake_default)
    ref = CredentialRef.application_default(scopes=["https://example.com/scope"], quota_project="qp-project")
    assert resolve_google(ref) is sentinel
    assert calls == [{"scopes": ["https://example.com/scope"], "quota_project_id": "qp-project"}]
    assert resolve_google(CredentialRef.application_default(), ["s1"]) is sentinel
    assert calls[-1] == {"scopes": ["s1"], "quota_project_id": None}


def test_adc_failure_becomes_credential_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    def no_credentials(**kwargs: Any) -> Any:
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    with pytest.raises(CredentialError, match="application default credentials could not be loaded") as info:
        resolve_google(CredentialRef.application_default())
    assert "Your default credentials were not found" in str(info.value)
    assert isinstance(info.value.__cause__, DefaultCredentialsError)


def test_adc_with_malformed_file_does_not_echo_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "adc.json"
    path.write_text("{" + PEM_HEADER + "\nTOPSECRETBYTES")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    with pytest.raises(CredentialError) as info:
        resolve_google(CredentialRef.application_default())
    assert "TOPSECRETBYTES" not in str(info.value) and SECRET_MARKER not in str(info.value)
    assert info.value.__cause__ is None


def test_impersonation_builds_without_network(key_file: Path) -> None:
    from google.auth import impersonated_credentials
    from google.oauth2 import service_account

    ref = CredentialRef.impersonation(
        TARGET,
        CredentialRef.service_account_file(key_file),
        delegates=["hop@my-project.iam.gserviceaccount.com"],
        lifetime=900,
        scopes=["https://www.googleapis.com/auth/devstorage.read_only"],
    )
    credentials = resolve_google(ref)
    assert isinstance(credentials, impersonated_credentials.Credentials)
    assert credentials.service_account_email == TARGET
    assert credentials._target_scopes == ["https://www.googleapis.com/auth/devstorage.read_only"]
    assert credentials._delegates == ["hop@my-project.iam.gserviceaccount.com"]
    assert credentials._lifetime == 900
    source = credentials._source_credentials
    assert isinstance(source, service_account.Credentials)
    assert source.service_account_email == SA_EMAIL
    assert not credentials.valid


def test_impersonation_with_default_source(monkeypatch: pytest.MonkeyPatch, key_file: Path) -> None:
    from google.auth import impersonated_credentials

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    credentials = resolve_google(CredentialRef.parse(f"impersonate:{TARGET}"))
    assert isinstance(credentials, impersonated_credentials.Credentials)
    assert credentials.service_account_email == TARGET


def test_impersonation_source_failure_names_the_source(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(CredentialError, match="does not exist") as info:
        resolve_google(CredentialRef.impersonation(TARGET, CredentialRef.service_account_file(missing)))
    assert str(missing) in str(info.value)


def test_missing_google_auth_raises_missing_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "google" or m.startswith("google.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "google.auth", None)  # makes `import google.auth` fail
    with pytest.raises(MissingDependency, match=r"jobferry\[vertex\]") as info:
        resolve_google(CredentialRef.anonymous())
    assert info.value.module == "google.auth"


# ---------------------------------------------------------------------------------------- imports


_IMPORT_CHECK = textwrap.dedent(
    """
    import importlib, importlib.util, json, sys, types
    root, mode = sys.argv[1], sys.argv[2]
    # Namespace stubs ('google', 'google.cloud') may be preloaded by *-nspkg.pth files at startup.
    before = set(sys.modules)
    sys.path.insert(0, root)
    if mode == "package":
        import adapters._credentials
        import adapters.vertex._google_auth
    else:  # load the file directly, with bare packages so no sibling __init__ runs
        for package in ("adapters", "checkpoint"):
            module = types.ModuleType(package)
            module.__path__ = [root + "/" + package]
            sys.modules[package] = module
        file = root + "/adapters/_credentials.py"
        spec = importlib.util.spec_from_file_location("adapters._credentials", file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    suspects = (set(sys.modules) - before) | ({"google.auth"} & set(sys.modules))
    print(json.dumps(sorted(m for m in suspects if m.split(".")[0] == "google")))
    """
)


def test_import_does_not_import_google() -> None:
    def run(mode: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PYTHON, "-c", _IMPORT_CHECK, str(ROOT), mode],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )

    done = run("package")
    if done.returncode != 0 and ("ImportError" in done.stderr or "ModuleNotFoundError" in done.stderr):
        done = run("file")  # a sibling module is mid-edit: check this module on its own
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


# ---------------------------------------------------------------------------------------- properties


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parse_raises_only_invalid_credential_ref(text: str) -> None:
    try:
        ref = CredentialRef.parse(text)
    except InvalidCredentialRef:
        return
    assert CredentialRef.model_validate_json(ref.model_dump_json()) == ref


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cc", "Cs"]), min_size=1, max_size=200))
def test_any_plain_path_round_trips(path: str) -> None:
    try:
        ref = CredentialRef.service_account_file(path)
    except InvalidCredentialRef as exc:
        assert "not shown" in str(exc) or "empty" in str(exc)  # refused only as key material / blank
        return
    assert ref.path == path
    assert CredentialRef.model_validate_json(ref.model_dump_json()) == ref
    if path == path.strip() and not path.startswith("//"):
        assert CredentialRef.parse(f"file:{path}") == ref
