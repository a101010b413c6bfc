"""AWS credential references resolved into boto3 sessions: the default chain, a named profile, assume-role
(role ARN, external ID, RoleSessionName) and web identity -- the last two against moto's STS server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters._credentials import (
    AwsAssumeRoleRef,
    AwsProfileRef,
    AwsWebIdentityRef,
    CredentialRef,
    InvalidCredentialRef,
)
from adapters._errors import CredentialError
from adapters.sagemaker._aws_auth import session_for

ROLE = "arn:aws:iam::123456789012:role/trainer"


@pytest.fixture
def sts(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    moto_server = pytest.importorskip("moto.server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield url
    finally:
        server.stop()


def caller(session: object) -> str:
    arn: str = session.client("sts").get_caller_identity()["Arn"]  # type: ignore[attr-defined]
    return arn


def test_assume_role_with_external_id_and_session_name(sts: str) -> None:
    ref = CredentialRef.parse(f"aws-role:{ROLE}")
    assert isinstance(ref, AwsAssumeRoleRef)
    ref = ref.model_copy(update={"external_id": "ext-123", "session_name": "nightly-train"})
    session, unsigned = session_for(ref, "us-east-1")
    assert not unsigned
    assert caller(session).endswith(":assumed-role/trainer/nightly-train")
    frozen = session.get_credentials().get_frozen_credentials()
    assert frozen.access_key != "testing" and frozen.token  # temporary credentials, not the source's


def test_web_identity_reads_the_token_file(sts: str, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("eyJhbGciOi.fake.token")
    ref = AwsWebIdentityRef(role_arn=ROLE, token_file=str(token), session_name="ci")
    session, _ = session_for(ref, "us-east-1")
    assert caller(session).endswith(":assumed-role/trainer/ci")


def test_web_identity_without_a_token_file_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    with pytest.raises(CredentialError, match="AWS_WEB_IDENTITY_TOKEN_FILE"):
        session_for(AwsWebIdentityRef(role_arn=ROLE), "us-east-1")


def test_named_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("boto3")
    config = tmp_path / "credentials"
    config.write_text("[training]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(config))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    session, _ = session_for(AwsProfileRef(profile="training"), "eu-west-1")
    assert session.profile_name == "training" and session.region_name == "eu-west-1"
    with pytest.raises(CredentialError, match="'nope' is not in the shared config"):
        session_for(AwsProfileRef(profile="nope"), "eu-west-1")


def test_google_kinds_cannot_sign_aws_requests() -> None:
    with pytest.raises(CredentialError, match="not an AWS credential reference"):
        session_for(CredentialRef.application_default(), "us-east-1")


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "aws_assume_role", "roleArn": "arn:aws:iam::123:role/x"},
        {"kind": "aws_assume_role", "roleArn": ROLE, "durationSeconds": 60},
        {"kind": "aws_assume_role", "roleArn": ROLE, "source": {"kind": "application_default"}},
        {"kind": "aws_assume_role", "roleArn": ROLE, "sessionName": "bad name"},
        {"kind": "aws_profile", "profile": "AKIAIOSFODNN7EXAMPLE"},
        {"kind": "aws_profile"},
        {"kind": "aws_default", "profile": "x"},
    ],
)
def test_malformed_aws_references_are_refused(data: dict[str, object]) -> None:
    with pytest.raises((InvalidCredentialRef, ValueError)) as info:
        CredentialRef.model_validate(data)
    assert "AKIAIOSFODNN7EXAMPLE" not in str(info.value)


def test_aws_references_round_trip_through_job_json_form() -> None:
    ref = CredentialRef.model_validate(
        {"kind": "aws_assume_role", "roleArn": ROLE, "externalId": "e-1", "source": "aws-profile:base"}
    )
    wire = ref.model_dump()
    assert wire == {
        "kind": "aws_assume_role",
        "roleArn": ROLE,
        "sessionName": "jobferry",
        "externalId": "e-1",
        "source": {"kind": "aws_profile", "profile": "base"},
    }
    assert CredentialRef.model_validate(wire) == ref
