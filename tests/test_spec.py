"""Job spec files: a good one builds a bound model and a request; every kind of bad one is explained."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters._errors import SpecError
from adapters._messages import TrainPluginInput
from adapters._registry import register_adapter
from adapters._spec import JobSpec, load_spec
from checkpoint import Workspace
from tests.cli_fake_adapter import ADAPTER_NAME, TARGET, FakeCliConfig, FakeCliModel


@pytest.fixture(autouse=True)
def _fake_adapter() -> Iterator[None]:
    register_adapter(ADAPTER_NAME, TARGET)
    yield


def write(tmp_path: Path, text: str, name: str = "job.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def good(state_dir: Path, workspace: Path | None = None) -> str:
    ws = f'workspace = "{workspace}"\n' if workspace else ""
    return f"""
adapter = "fake-cli"
plugin_instance = "fruit-fake"
{ws}
[config]
state_dir = "{state_dir}"
finish_after = 3
[config.poll]
initial = 0.01
maximum = 0.05
floor_cap = 0.05

[input]
training_data_url = "examples/data/fruit.csv"
trainingParams = {{ epochs = 3 }}
"""


def test_good_spec_builds_a_bound_model_and_request(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, good(tmp_path / "vendor", tmp_path / "ws")))
    assert spec.adapter == "fake-cli"
    assert spec.plugin_instance == "fruit-fake"
    assert spec.adapter_class is FakeCliModel
    config = spec.adapter_config
    assert isinstance(config, FakeCliConfig)
    assert config.finish_after == 3
    assert config.poll.initial == 0.01
    # snake_case and camelCase input keys both work; relative paths are kept exactly as written.
    assert spec.train_input == TrainPluginInput(
        plugin_instance="fruit-fake",
        training_data_url="examples/data/fruit.csv",
        training_params={"epochs": 3},
    )
    model = spec.build_model()
    assert isinstance(model, FakeCliModel)
    assert model.config == config
    request = spec.train_request()
    assert request.context is not None
    assert request.context.plugin_instance_id == "fruit-fake"
    assert request.context.workspace == Workspace(tmp_path / "ws").url
    assert request.data == spec.train_input


def test_workspace_defaults_to_the_environment_and_can_be_overridden(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, good(tmp_path / "vendor")))
    assert spec.workspace is None
    assert spec.resolve_workspace().url == Workspace(tmp_path / "default-workspace").url
    assert spec.resolve_workspace(tmp_path / "other").url == Workspace(tmp_path / "other").url


def test_missing_adapter(tmp_path: Path) -> None:
    path = write(tmp_path, 'plugin_instance = "x"\n')
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    message = str(exc.value)
    assert str(path) in message
    assert "adapter: required field is missing" in message


def test_unknown_adapter_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, 'adapter = "vertx"\nplugin_instance = "x"\n')
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    message = str(exc.value)
    assert str(path) in message
    assert "'vertx'" in message
    assert "fake-cli" in message and "local" in message


@pytest.mark.parametrize("name", ["../escape", "has space", "", "a/b"])
def test_bad_plugin_instance(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, f'adapter = "fake-cli"\nplugin_instance = "{name}"\n')
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    message = str(exc.value)
    assert f"plugin_instance = {name!r}" in message
    assert "letters, digits" in message


def test_bad_config_field_shows_path_value_and_what_is_valid(tmp_path: Path) -> None:
    text = good(tmp_path / "vendor").replace("initial = 0.01", "initial = -1")
    with pytest.raises(SpecError) as exc:
        load_spec(write(tmp_path, text))
    message = str(exc.value)
    assert "config.poll.initial = -1" in message
    assert "greater than 0" in message


def test_unknown_config_field_lists_the_valid_ones(tmp_path: Path) -> None:
    text = good(tmp_path / "vendor").replace("floor_cap = 0.05", "floor_cap = 0.05\nfloorcap = 1")
    with pytest.raises(SpecError) as exc:
        load_spec(write(tmp_path, text))
    message = str(exc.value)
    assert "config.poll.floorcap = 1: unknown field" in message
    assert "floor_cap" in message and "multiplier" in message


def test_missing_required_config_field(tmp_path: Path) -> None:
    path = write(tmp_path, 'adapter = "fake-cli"\nplugin_instance = "x"\n[config]\nfinish_after = 1\n')
    with pytest.raises(SpecError, match=r"config\.state_dir: required field is missing"):
        load_spec(path)


def test_unknown_top_level_field(tmp_path: Path) -> None:
    text = good(tmp_path / "vendor") + "\n[extra]\nx = 1\n"
    with pytest.raises(SpecError) as exc:
        load_spec(write(tmp_path, text))
    assert "extra = {'x': 1}: unknown field" in str(exc.value)
    assert "plugin_instance" in str(exc.value)


def test_bad_input_field(tmp_path: Path) -> None:
    text = good(tmp_path / "vendor").replace("[input]", '[input]\ntraining_epochs = "many"')
    with pytest.raises(SpecError, match=r"input\.training_epochs = 'many'"):
        load_spec(write(tmp_path, text))
    text = good(tmp_path / "vendor").replace("[input]", "[input]\ntraining_epoch = 3")
    with pytest.raises(
        SpecError, match=r"input\.training_epoch = 3: unknown field; valid fields: .*training_epochs"
    ):
        load_spec(write(tmp_path, text))


def test_input_plugin_instance_must_agree(tmp_path: Path) -> None:
    text = good(tmp_path / "vendor").replace("[input]", '[input]\nplugin_instance = "other"')
    with pytest.raises(SpecError, match="contradicts"):
        load_spec(write(tmp_path, text))


def test_bad_toml_reports_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, 'adapter = "fake-cli"\nplugin_instance = \n')
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    message = str(exc.value)
    assert str(path) in message
    assert "invalid TOML" in message
    assert "line 2" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="spec file not found"):
        load_spec(tmp_path / "nope.toml")


def test_from_dict_rejects_a_non_table() -> None:
    with pytest.raises(SpecError, match="must be a table"):
        JobSpec.from_dict(["adapter"])


def test_an_input_field_the_adapter_ignores_is_refused_naming_both(tmp_path: Path) -> None:
    from adapters import PluginRequest, TrainPluginInput
    from adapters.vertex import VertexAutoMLTabular, VertexCustomJob

    tab = VertexAutoMLTabular()
    tab.receive_config({"project": "p", "target_column": "y", "dataset": "1", "credentials": "anonymous"})
    tab.bind(tmp_path / "ws", "inst")
    with pytest.raises(SpecError, match=r"vertex-automl-tabular does not read input field\(s\) testing_ho"):
        tab.train(PluginRequest[TrainPluginInput](data=TrainPluginInput(testing_holdout_percent=20)))
    assert not (tmp_path / "ws").exists()  # refused before anything was written or called
    custom = VertexCustomJob()
    custom.receive_config({"project": "p", "container_image_uri": "x", "credentials": "anonymous"})
    with pytest.raises(SpecError, match=r"reads: training_params"):
        custom.job_spec(TrainPluginInput(training_data_url="gs://b/x.csv"))
    assert custom.job_spec(TrainPluginInput(training_params={"lr": 0.1}, plugin_instance="i"))
