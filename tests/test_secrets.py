"""The secret guard: every kind of credential is found, ordinary checkpoint files are not flagged.

Every key below is fake and assembled at run time, so the repository never holds a literal key line.
"""

from __future__ import annotations

import base64
import json
import os
import random
import string
from pathlib import Path

import pytest

from checkpoint._errors import SecretInCheckpoint
from checkpoint._secrets import assert_no_secrets, find_secret, looks_like_secret

_MIB = 1024 * 1024
_DASHES = "-" * 5


def _pem(label: str = "") -> str:
    """A PEM block shaped like a private key, with a random body."""
    kind = f"{label} PRIVATE KEY" if label else "PRIVATE KEY"
    body = base64.encodebytes(os.urandom(600)).decode()
    return f"{_DASHES}BEGIN {kind}{_DASHES}\n{body}{_DASHES}END {kind}{_DASHES}\n"


def _service_account() -> str:
    return json.dumps(
        {
            "type": "service_" + "account",
            "project_id": "demo-project",
            "private_key_id": os.urandom(20).hex(),
            "private_key": _pem(),
            "client_email": "trainer@demo-project.iam.gserviceaccount.com",
        },
        indent=2,
    )


def _fake_aws_key() -> str:
    return "".join(random.choices(string.ascii_letters + string.digits + "/+", k=40))


def _authorized_user() -> str:
    return json.dumps(
        {
            "client_id": "123.apps.googleusercontent.com",
            "client_secret": "fake-" + os.urandom(8).hex(),
            "refresh_token": "1//" + os.urandom(16).hex(),
            "type": "authorized_user",
        }
    )


_SECRETS = {
    "service_account": (_service_account, "service-account key"),
    "service_account_compact": (
        lambda: '{"private_key" :"x","type":\n  "service_' + 'account"}',
        "service-account key",
    ),
    "service_account_embedded_in_json": (
        lambda: json.dumps({"gcp_credentials_json": _service_account()}),
        "service-account key",
    ),
    "pem_pkcs8": (_pem, "PEM private key"),
    "pem_rsa": (lambda: _pem("RSA"), "PEM private key"),
    "pem_ec": (lambda: _pem("EC"), "PEM private key"),
    "pem_openssh": (lambda: _pem("OPENSSH"), "PEM private key"),
    "pem_encrypted": (lambda: _pem("ENCRYPTED"), "PEM private key"),
    "authorized_user": (_authorized_user, "OAuth"),
    "bare_refresh_token": (lambda: '{"refresh_token": "1//' + os.urandom(16).hex() + '"}', "refresh token"),
    "aws_credentials_file": (
        lambda: f"[default]\naws_access_key_id = AKIAFAKE\naws_secret_access_key = {_fake_aws_key()}\n",
        "AWS",
    ),
    "aws_env_file": (lambda: f"AWS_SECRET_ACCESS_KEY={_fake_aws_key()}\n", "AWS"),
    "aws_json": (lambda: json.dumps({"AccessKeyId": "AKIAFAKE", "SecretAccessKey": _fake_aws_key()}), "AWS"),
}


@pytest.mark.parametrize("kind", sorted(_SECRETS))
def test_each_kind_is_detected(kind: str, tmp_path: Path) -> None:
    make, description = _SECRETS[kind]
    (tmp_path / "model.bin").write_bytes(os.urandom(4096))
    (tmp_path / "creds.txt").write_text(make())
    found = find_secret(tmp_path)
    assert found is not None
    assert found[0] == str(tmp_path / "creds.txt")
    assert description in found[1]
    with pytest.raises(SecretInCheckpoint) as raised:
        assert_no_secrets(tmp_path)
    assert raised.value.path == str(tmp_path / "creds.txt")
    assert str(tmp_path / "creds.txt") in str(raised.value)


@pytest.mark.parametrize("offset", [-20, -5, -1, 0, 1])
def test_secret_across_a_chunk_boundary_is_detected(offset: int, tmp_path: Path) -> None:
    header = (f"{_DASHES}BEGIN RSA PRIVATE " + "KEY" + _DASHES).encode()
    start = _MIB + offset  # the header straddles (or touches) the first 1 MiB boundary
    (tmp_path / "blob.bin").write_bytes(bytes(start) + header + bytes(1000))
    assert find_secret(tmp_path) == (str(tmp_path / "blob.bin"), "a PEM private key")


def test_service_account_fields_in_different_chunks(tmp_path: Path) -> None:
    doc = '{"type": "service_' + 'account",' + " " * (3 * _MIB) + '"private_key": "x"}'
    (tmp_path / "key.json").write_text(doc)
    assert find_secret(tmp_path) == (str(tmp_path / "key.json"), "a Google service-account key")


def test_nested_file_path_is_reported(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b" / "c"
    nested.mkdir(parents=True)
    (nested / "sa.json").write_text(_service_account())
    with pytest.raises(SecretInCheckpoint, match="service-account key") as raised:
        assert_no_secrets(tmp_path)
    assert raised.value.path == str(nested / "sa.json")
    assert raised.value.kind == "a Google service-account key"


_BENIGN = {
    "prose": "Rotate the private_key regularly; never store a refresh_token or client_secret here.\n",
    "config_reference": json.dumps(
        {"credentials": {"private_key": "${GCP_KEY_FILE}", "type": "service_account_reference"}}
    ),
    "private_key_field_only": json.dumps({"private_key": "/secrets/key.pem"}),
    "public_key": f"{_DASHES}BEGIN PUBLIC KEY{_DASHES}\nAAAA\n{_DASHES}END PUBLIC KEY{_DASHES}\n",
    "aws_reference": "aws_secret_access_key = ${AWS_SECRET}\n",
    "refresh_token_without_secret": json.dumps({"refresh_token": "ya29-not-a-google-refresh-token"}),
    "tokenizer": json.dumps({"model": {"vocab": {"private_key": 1, "refresh_token": 2, "type": 3}}}),
}


@pytest.mark.parametrize("kind", sorted(_BENIGN))
def test_benign_text_is_not_flagged(kind: str, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text(_BENIGN[kind])
    assert find_secret(tmp_path) is None
    assert_no_secrets(tmp_path)


def test_random_binary_is_not_flagged(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(random.Random(7).randbytes(5 * _MIB))
    (tmp_path / "empty").write_bytes(b"")
    assert find_secret(tmp_path) is None


def test_symlinks_and_fifos_are_skipped(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "key.pem").write_text(_pem())
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "link.pem").symlink_to(outside / "key.pem")
    (tmp_path / "ckpt" / "linkdir").symlink_to(outside)
    os.mkfifo(tmp_path / "ckpt" / "pipe")  # opening it would block forever
    assert find_secret(tmp_path / "ckpt") is None


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="nope"):
        find_secret(tmp_path / "nope")


# ------------------------------------------------------------------------------------ single strings


@pytest.mark.parametrize("kind", sorted(_SECRETS))
def test_looks_like_secret_agrees_with_the_file_scan(kind: str, tmp_path: Path) -> None:
    make, description = _SECRETS[kind]
    text = make()
    (tmp_path / "creds.txt").write_text(text)
    found = find_secret(tmp_path)
    assert found is not None
    assert looks_like_secret(text) == found[1]
    assert description in (looks_like_secret("  " + text + "\n") or "")


@pytest.mark.parametrize("kind", sorted(_SECRETS))
def test_looks_like_secret_sees_through_base64(kind: str) -> None:
    make, description = _SECRETS[kind]
    raw = make().encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode()
        found = looks_like_secret(encoded)
        assert found is not None and found.startswith("base64-encoded")
        assert description in found
        assert looks_like_secret(encoded.rstrip("=")) == found  # padding dropped


@pytest.mark.parametrize(
    "text",
    [
        '{"private_key": "x"}',
        '"refresh_token" : "ya29-something"',
        '{"type": "service_' + 'account"}',
    ],
)
def test_looks_like_secret_flags_a_lone_credentials_field(text: str, tmp_path: Path) -> None:
    assert looks_like_secret(text) == "part of a credentials file"
    assert looks_like_secret(base64.b64encode(text.encode() * 4).decode()) is not None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "adc",
        "/keys/sa.json",
        "file:/keys/sa.json",
        "env:GOOGLE_APPLICATION_CREDENTIALS",
        "trainer@my-project.iam.gserviceaccount.com",
        "https://www.googleapis.com/auth/cloud-platform",
        "A" * 200,
        base64.b64encode(os.urandom(300)).decode(),
        base64.b64encode(b"just some ordinary text that happens to be encoded" * 3).decode(),
        _BENIGN["prose"],
        _BENIGN["public_key"],
        _BENIGN["aws_reference"],
        "\ud800 lone surrogate",
    ],
)
def test_looks_like_secret_passes_ordinary_strings(text: str) -> None:
    assert looks_like_secret(text) is None
