"""A refused key is never echoed: not in an exception, on stderr, in a --json error event, or in the logs."""

from __future__ import annotations

import base64
import json
import logging
import textwrap
from pathlib import Path

import pytest

from adapters import PluginRequest, SpecError, TrainPluginInput
from adapters._cli import main
from adapters._messages import TaskState
from adapters.local import LocalProcessModel

# Not a real key: the shape is what the detectors look for, and each fragment below must never be printed.
PEM = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7Zq3Fragment\n"
    "-----END PRIVATE KEY-----\n"
)
SA_KEY = json.dumps(
    {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "0123456789abcdef0123456789abcdef01234567",
        "private_key": PEM,
        "client_email": "trainer@p.iam.gserviceaccount.com",
    }
)
SECRETS = {
    "pem": PEM,
    "service-account-json": SA_KEY,
    "base64-json": base64.b64encode(SA_KEY.encode()).decode(),
}
FRAGMENTS = ("MIIEvQ", "BEGIN PRIVATE", "7Zq3Fragment", "0123456789abcdef", 'private_key\\": \\"')


def assert_nothing_of_it(text: str, secret: str) -> None:
    for fragment in (*FRAGMENTS, secret[:12], secret[-12:]):
        assert fragment not in text, f"{fragment!r} leaked: {text[:300]!r}"


@pytest.mark.parametrize("name", sorted(SECRETS))
@pytest.mark.parametrize("where", ["credentials", "path"])
def test_receive_config_refuses_without_echoing(
    name: str, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = SECRETS[name]
    creds: object = secret if where == "credentials" else {"kind": "service_account_file", "path": secret}
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SpecError) as raised:
        LocalProcessModel().receive_config({"credentials": creds, "entrypoint": "examples.local.train:train"})
    assert "not shown" in str(raised.value)
    assert_nothing_of_it(str(raised.value), secret)
    assert_nothing_of_it(repr(raised.value), secret)
    assert_nothing_of_it(caplog.text, secret)


@pytest.mark.parametrize("name", sorted(SECRETS))
@pytest.mark.parametrize("json_mode", [False, True])
def test_the_cli_refuses_a_spec_holding_a_key_without_echoing_it(
    name: str, json_mode: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = SECRETS[name]
    spec = tmp_path / "spec.toml"
    spec.write_text(
        textwrap.dedent(
            f"""
            adapter = "local"
            plugin_instance = "leaky"
            workspace = "{tmp_path / "ws"}"
            [config]
            entrypoint = "examples.local.train:train"
            credentials = {json.dumps(secret)}
            """
        )
    )
    code = main(["train", str(spec), *(["--json"] if json_mode else [])])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "not shown" in err
    assert_nothing_of_it(out + err, secret)
    assert not (tmp_path / "ws").exists()  # refused before anything was written


def test_a_task_carrying_a_key_as_its_job_record_is_refused_without_echoing(tmp_path: Path) -> None:
    from adapters._messages import Task

    model = LocalProcessModel()
    record = {"adapter": "local", "adapterVersion": "1", "credentials": SA_KEY}
    task = Task(state=TaskState.running, remote_status_input=record)
    request = PluginRequest[TrainPluginInput](data=TrainPluginInput(), status=task)
    with pytest.raises(SpecError) as raised:
        model.train_status(request)
    assert_nothing_of_it(str(raised.value), SA_KEY)
