"""Hostile plugin instance IDs and handles are refused on every entry point before any write or vendor call.

Issue 10: a bad ID (``..``, ``a/b``, 200 characters) used to be refused only after the damage -- an intent
record written outside the workspace, a vendor job created -- when ``job.json`` was published. Every
public path that takes a plugin instance ID or a handle (the Python API and every CLI command) is driven
here with every hostile value, and each must end in a clear error, with no byte written anywhere under the
workspace's parent folder (nor a temporary folder made) and no vendor call.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import textwrap
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adapters import PluginRequest, PluginRequestContext, TrainPluginInput
from adapters import _registry as registry
from adapters._cli import main
from adapters._cli._exit_codes import EXIT_USAGE, _exit_code_of
from adapters._clock import FakeClock
from adapters._errors import SpecError
from adapters._loading import load_job, read_job_record
from adapters._retry import RetryPolicy
from adapters._spec import JobSpec
from checkpoint import InvalidName, JobferryError, ModelCheckpoint, StatusLog, Workspace, validate_name
from tests import cli_fake_adapter
from tests.cli_fake_adapter import ADAPTER_NAME, TARGET, FakeCliJobs, FakeCliModel
from tests.fake_vendor import VENDORS, FakeConfig, FakeModel, FakeVendor

GOOD = "inst"

HOSTILE_VALUES: dict[str, str] = {
    "dotdot": "..",
    "dot": ".",
    "traversal": "../x",
    "slash": "a/b",
    "backslash": "a\\b",
    "absolute": "/etc",
    "long": "x" * 200,
    "empty": "",
    "nul": "a\x00b",
    "newline": "a\nb",
    "trailing-newline": "default\n",  # `$` would let it through; fullmatch must not
    "tab": "a\tb",
    "fullwidth": "\uff44efault",  # FULLWIDTH LATIN SMALL LETTER D + "efault"
    "cyrillic": "def\u0430ult",  # CYRILLIC SMALL LETTER A in the middle
    "superscript-digit": "v\u00b2",  # str.isalnum() is True for it; [0-9] must not be
    "arabic-digit": "v\u0661",  # \d would match it
}
HOSTILE = [pytest.param(value, id=name) for name, value in HOSTILE_VALUES.items()]

FAST_RETRY = RetryPolicy(max_attempts=2, initial=0.01, maximum=0.01, deadline=1)


# -- what "nothing happened" means -------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every folder and file under ``root`` (itself included): size and content digest (-1 for a folder).

    The digest, not only the size, so a vendor call that rewrites a counter of the same width is seen.
    ``root/tmp`` is left out: the temporary folders of checkpoints made while setting up go when they are
    garbage-collected, at any moment; a new one is caught by the ``mkdtemp`` recorder instead.
    """
    found: dict[str, tuple[int, str]] = {".": (-1, "")}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == "tmp" or rel.startswith("tmp/"):
            continue
        if path.is_dir():
            found[rel] = (-1, "")
        else:
            data = path.read_bytes()
            found[rel] = (len(data), hashlib.sha256(data).hexdigest())
    return found


@dataclass
class World:
    """A workspace (``root/ws``) holding a trained fake job under ``GOOD``; everything else under ``root``."""

    root: Path
    ws: Workspace
    vendor: FakeVendor
    vendor_name: str
    model: FakeModel
    bundle: Path
    checkpoint: ModelCheckpoint | None = None
    loaded: FakeModel | None = None
    temp_dirs: list[str] = field(default_factory=list)

    @property
    def new_ws(self) -> str:
        """A workspace folder that does not exist yet: refusing a name must not create it."""
        return str(self.root / "not-yet")

    def fresh_model(self) -> FakeModel:
        model = FakeModel()
        model.clock = self.vendor.clock
        model.receive_config(FakeConfig(vendor_name=self.vendor_name, retry=FAST_RETRY))
        return model

    def vendor_calls(self) -> Counter[str]:
        return Counter(self.vendor.calls)


@pytest.fixture
def temp_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Temporary folders made from now on (under ``root/tmp``): one made while refusing a name is a write,
    even if it is removed again."""
    (tmp_path / "root" / "tmp").mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "root" / "tmp"))
    monkeypatch.setenv("JOBFERRY_WORKSPACE", str(tmp_path / "root" / "default-workspace"))
    made: list[str] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args: Any, **kwargs: Any) -> str:
        path = real_mkdtemp(*args, **kwargs)
        made.append(path)
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    return made


@pytest.fixture
def world(tmp_path: Path, temp_dirs: list[str]) -> Iterator[World]:
    root = tmp_path / "root"
    registry.register_adapter("fake", "tests.fake_vendor:FakeModel", clobber=True)

    name = f"hostile-{uuid.uuid4().hex[:8]}"
    vendor = FakeVendor(clock=FakeClock())
    VENDORS[name] = vendor
    ws = Workspace(root / "ws")
    w = World(root=root, ws=ws, vendor=vendor, vendor_name=name, model=FakeModel(), bundle=root / "b.zip")
    w.model = w.fresh_model()
    w.model.bind(ws, GOOD)
    w.model.train(PluginRequest[TrainPluginInput](data=TrainPluginInput()))
    w.model.persist("V1")
    w.bundle.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip, for publish_bundle
    w.checkpoint = ModelCheckpoint(ws, GOOD, "V1", root / "ckpt")
    loaded = load_job(ws, GOOD)
    assert isinstance(loaded, FakeModel)
    w.loaded = loaded
    w.temp_dirs = temp_dirs
    yield w
    VENDORS.pop(name, None)
    registry._registry.pop("fake", None)


def assert_untouched(w: World, action: Callable[[], object], expected: type[JobferryError]) -> JobferryError:
    """Run ``action``: it must raise ``expected`` having written nothing and called no vendor."""
    before, calls, temps = snapshot(w.root), w.vendor_calls(), len(w.temp_dirs)
    with pytest.raises(JobferryError) as info:
        action()
    assert isinstance(info.value, expected), f"{type(info.value).__name__}: {info.value}"
    assert snapshot(w.root) == before
    assert w.temp_dirs[temps:] == []
    assert w.vendor_calls() == calls
    return info.value


def assert_clear_message(exc: BaseException, value: str) -> None:
    """One line, naming the value (its repr, so NUL and newlines show; shortened when long) and the rule."""
    message = str(exc)
    assert "\n" not in message
    if len(value) > 128:
        assert repr(value[:20])[:-1] in message and f"{len(value)} characters" in message
        assert value not in message  # shortened
    else:
        assert repr(value) in message
    assert "[A-Za-z0-9._-]" in message and "128" in message


# -- the rule itself ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE)
def test_validate_name_refuses_with_a_clear_message(value: str) -> None:
    with pytest.raises(InvalidName) as info:
        validate_name(value, "plugin instance ID")
    assert isinstance(info.value, JobferryError) and isinstance(info.value, ValueError)
    assert info.value.value == value  # the exact value is kept for callers, only the message shortens it
    assert_clear_message(info.value, value)


def test_look_alikes_are_named_by_code_point() -> None:
    # A full-width 'd' reads as 'd': the message must say which character is not what it seems.
    with pytest.raises(InvalidName) as info:
        validate_name("\uff44efault", "handle")
    assert "U+FF44" in str(info.value) and "FULLWIDTH LATIN SMALL LETTER D" in str(info.value)
    with pytest.raises(InvalidName) as info:
        validate_name("a\x00b", "handle")
    assert "U+0000" in str(info.value)


@pytest.mark.parametrize("value", ["a", "A-Z_0.9", "x" * 128, "default", "V1", "epoch_23", "..a", "a.."])
def test_valid_names_pass(value: str) -> None:
    assert validate_name(value) == value


# -- the Python entry points -------------------------------------------------------------------------------

# Each takes the world and the hostile value and makes one call with it.
Entry = Callable[[World, str], object]


def _request(pid: str, workspace: str | None = None) -> PluginRequest[TrainPluginInput]:
    context = PluginRequestContext(plugin_instance_id=pid, workspace=workspace)
    return PluginRequest[TrainPluginInput](data=TrainPluginInput(), context=context)


def _bound_model(w: World) -> FakeModel:
    model = w.fresh_model()
    model.bind(w.ws, GOOD)
    return model


def _checkpoint(w: World) -> ModelCheckpoint:
    assert w.checkpoint is not None
    return w.checkpoint


def _loaded(w: World) -> FakeModel:
    assert w.loaded is not None
    return w.loaded


PY_ENTRIES: dict[str, Entry] = {
    "bind": lambda w, v: w.fresh_model().bind(w.ws, v),
    "bind-new-workspace": lambda w, v: w.fresh_model().bind(w.new_ws, v),
    "train-context": lambda w, v: w.fresh_model().train(_request(v, w.ws.url)),
    "train-context-new-workspace": lambda w, v: w.fresh_model().train(_request(v, w.new_ws)),
    "train-context-over-binding": lambda w, v: _bound_model(w).train(_request(v)),
    "train-input": lambda w, v: w.fresh_model().train(
        PluginRequest[TrainPluginInput](data=TrainPluginInput(plugin_instance=v))
    ),
    "train_status-context": lambda w, v: _loaded(w).train_status(_request(v)),
    "save_remote-id": lambda w, v: w.model.save_remote(w.ws, v, "V2"),
    "save_remote-handle": lambda w, v: w.model.save_remote(w.ws, GOOD, v),
    "save_remote-new-workspace": lambda w, v: w.model.save_remote(w.new_ws, v, "V2"),
    "save_remote-parent-directory": lambda w, v: w.model.save_remote(w.ws, v, "V2", w.root / "parent"),
    "load_remote-id": lambda w, v: FakeModel.load_remote(w.ws, v),
    "load_remote-handle": lambda w, v: FakeModel.load_remote(w.ws, GOOD, v),
    "load_remote-new-workspace": lambda w, v: FakeModel.load_remote(w.new_ws, v),
    "load_job-id": lambda w, v: load_job(w.ws, v),
    "load_job-handle": lambda w, v: load_job(w.ws, GOOD, v),
    "load_job-new-workspace": lambda w, v: load_job(w.new_ws, v),
    "read_job_record-id": lambda w, v: read_job_record(w.ws, v),
    "read_job_record-handle": lambda w, v: read_job_record(w.ws, GOOD, v),
    "read_job_record-new-workspace": lambda w, v: read_job_record(w.new_ws, GOOD, v),
    "persist-handle": lambda w, v: w.model.persist(v),
    "bundle_key-id": lambda w, v: w.ws.bundle_key(v, "default"),
    "bundle_key-handle": lambda w, v: w.ws.bundle_key(GOOD, v),
    "list_handles": lambda w, v: w.ws.list_handles(v),
    "has_handle-id": lambda w, v: w.ws.has_handle(v, "default"),
    "has_handle-handle": lambda w, v: w.ws.has_handle(GOOD, v),
    "delete_handle-id": lambda w, v: w.ws.delete_handle(v, "default"),
    "delete_handle-handle": lambda w, v: w.ws.delete_handle(GOOD, v),
    "download_bundle-id": lambda w, v: w.ws.download_bundle(v, "default", w.root / "dl" / "b.zip"),
    "download_bundle-handle": lambda w, v: w.ws.download_bundle(GOOD, v, w.root / "dl" / "b.zip"),
    "publish_bundle-id": lambda w, v: w.ws.publish_bundle(v, "V2", w.bundle),
    "publish_bundle-handle": lambda w, v: w.ws.publish_bundle(GOOD, v, w.bundle),
    "ModelCheckpoint-id": lambda w, v: ModelCheckpoint(w.ws, v),
    "ModelCheckpoint-handle": lambda w, v: ModelCheckpoint(w.ws, GOOD, v),
    "ModelCheckpoint-parent-directory": lambda w, v: ModelCheckpoint(w.ws, v, "V2", w.root / "parent"),
    "ModelCheckpoint-new-workspace": lambda w, v: ModelCheckpoint(w.new_ws, v),
    "ModelCheckpoint.archive_path_in_workspace": lambda w, v: _checkpoint(w).archive_path_in_workspace(v),
    "StatusLog": lambda w, v: StatusLog(w.ws, v),
    "StatusLog-new-workspace": lambda w, v: StatusLog(w.new_ws, v),
}

# The spec file path refuses with SpecError (naming the file and the field), not InvalidName.
SPEC_ENTRIES: dict[str, Entry] = {
    "JobSpec.plugin_instance": lambda w, v: JobSpec.from_dict(
        {"adapter": "fake", "plugin_instance": v, "config": {"vendor_name": w.vendor_name}}
    ),
}


def _cases(entries: dict[str, Entry]) -> list[Any]:
    cases = []
    for entry in entries:
        for name, value in HOSTILE_VALUES.items():
            cases.append(pytest.param(entry, value, id=f"{entry}-{name}"))
    return cases


@pytest.mark.parametrize(("entry", "value"), _cases(PY_ENTRIES))
def test_python_entry_point_refuses_before_any_write_or_vendor_call(
    world: World, entry: str, value: str
) -> None:
    exc = assert_untouched(world, lambda: PY_ENTRIES[entry](world, value), InvalidName)
    assert_clear_message(exc, value)
    assert not Path(world.new_ws).exists()


@pytest.mark.parametrize(("entry", "value"), _cases(SPEC_ENTRIES))
def test_spec_refuses_before_any_write_or_vendor_call(world: World, entry: str, value: str) -> None:
    exc = assert_untouched(world, lambda: SPEC_ENTRIES[entry](world, value), SpecError)
    message = str(exc)
    assert "plugin_instance = " in message and "\n" not in message and "[A-Za-z0-9._-]" in message


def test_a_refused_train_leaves_the_job_of_a_good_id_alone(world: World) -> None:
    # The original damage: an intent record in the workspace's parent folder and a second vendor job.
    jobs = len(world.vendor.jobs)
    for value in HOSTILE_VALUES.values():
        with pytest.raises(JobferryError):
            world.fresh_model().bind(world.ws, value)
        with pytest.raises(JobferryError):
            world.fresh_model().train(_request(value, world.ws.url))
    assert len(world.vendor.jobs) == jobs
    assert sorted(p.name for p in world.root.iterdir()) == ["b.zip", "ckpt", "tmp", "ws"]
    assert world.ws.list_plugin_instances() == [GOOD]


# -- the CLI -----------------------------------------------------------------------------------------------


@dataclass
class CliWorld:
    """A workspace with a fake-cli job under ``GOOD``, made through the CLI; counts vendor calls."""

    root: Path
    ws: Path
    vendor_dir: Path
    calls: Counter[str]
    capsys: pytest.CaptureFixture[str]
    temp_dirs: list[str]

    @property
    def instances(self) -> str:
        return str(self.root / "instances.jsonl")

    def spec(self, plugin_instance: str) -> Path:
        # json.dumps writes a valid TOML basic string for any value (\u escapes, \n, \\ ...).
        path = self.root / "specs" / f"{uuid.uuid4().hex}.toml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(
            textwrap.dedent(
                f"""
                adapter = "{ADAPTER_NAME}"
                plugin_instance = {json.dumps(plugin_instance)}
                workspace = {json.dumps(str(self.ws))}
                [config]
                state_dir = {json.dumps(str(self.vendor_dir))}
                [config.poll]
                initial = 0.01
                maximum = 0.01
                floor_cap = 0.01
                """
            )
        )
        return path

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err


_VENDOR_METHODS = ("connect", "submit_job", "describe_job", "cancel_job", "find_job")


@pytest.fixture
def cli_world(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, temp_dirs: list[str]
) -> CliWorld:
    registry.register_adapter(ADAPTER_NAME, TARGET)
    root = tmp_path / "root"
    calls: Counter[str] = Counter()
    w = CliWorld(
        root=root, ws=root / "ws", vendor_dir=root / "vendor", calls=calls, capsys=capsys, temp_dirs=temp_dirs
    )
    code, _out, err = w("train", str(w.spec(GOOD)))
    assert code == 0, err
    (root / "instances.jsonl").write_text('{"x": 1}\n')

    def counting(cls: type[Any], method: str) -> None:
        real = getattr(cls, method)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            calls[method] += 1
            return real(self, *args, **kwargs)

        monkeypatch.setattr(cls, method, wrapper)

    for method in _VENDOR_METHODS:
        counting(FakeCliJobs, method)
    counting(FakeCliModel, "predict_chunk")
    assert cli_fake_adapter.FakeCliModel is FakeCliModel
    return w


# argv builders: (world, hostile value, workspace) -> argv. Every command and option that takes an
# instance or a handle; `train` takes its instance from the spec file.
CliEntry = Callable[[CliWorld, str, str], list[str]]
CLI_ENTRIES: dict[str, CliEntry] = {
    "train-spec": lambda w, v, ws: ["train", str(w.spec(v)), "-w", ws],
    "status": lambda w, v, ws: ["status", v, "-w", ws],
    "status--handle": lambda w, v, ws: ["status", GOOD, "--handle", v, "-w", ws],
    "wait": lambda w, v, ws: ["wait", v, "-w", ws, "--timeout", "1"],
    "wait--handle": lambda w, v, ws: ["wait", GOOD, "--handle", v, "-w", ws, "--timeout", "1"],
    "cancel": lambda w, v, ws: ["cancel", v, "-w", ws],
    "cancel--handle": lambda w, v, ws: ["cancel", GOOD, "--handle", v, "-w", ws],
    "deploy": lambda w, v, ws: ["deploy", v, "-w", ws],
    "deploy--handle": lambda w, v, ws: ["deploy", GOOD, "--handle", v, "-w", ws],
    "undeploy": lambda w, v, ws: ["undeploy", v, "-w", ws],
    "undeploy--handle": lambda w, v, ws: ["undeploy", GOOD, "--handle", v, "-w", ws],
    "predict": lambda w, v, ws: ["predict", v, "-w", ws, "-i", w.instances],
    "predict--handle": lambda w, v, ws: ["predict", GOOD, "--handle", v, "-w", ws, "-i", w.instances],
    "checkpoints-list": lambda w, v, ws: ["checkpoints", "list", v, "-w", ws],
    "checkpoints-show": lambda w, v, ws: ["checkpoints", "show", v, "-w", ws],
    "checkpoints-show-handle": lambda w, v, ws: ["checkpoints", "show", GOOD, v, "-w", ws],
    "checkpoints-delete": lambda w, v, ws: ["checkpoints", "delete", v, "default", "--yes", "-w", ws],
    "checkpoints-delete-handle": lambda w, v, ws: ["checkpoints", "delete", GOOD, v, "--yes", "-w", ws],
}


def _cli_cases() -> list[Any]:
    return [
        pytest.param(entry, value, where, id=f"{entry}-{name}-{where}")
        for entry in CLI_ENTRIES
        for name, value in HOSTILE_VALUES.items()
        for where in ("existing-workspace", "new-workspace")
    ]


@pytest.mark.parametrize(("entry", "value", "where"), _cli_cases())
def test_cli_refuses_with_exit_2_and_one_line(
    cli_world: CliWorld, entry: str, value: str, where: str
) -> None:
    w = cli_world
    ws = str(w.ws) if where == "existing-workspace" else str(w.root / "not-yet")
    argv = CLI_ENTRIES[entry](w, value, ws)
    before, calls, temps = snapshot(w.root), Counter(w.calls), len(w.temp_dirs)
    code, out, err = w(*argv)
    assert code == EXIT_USAGE, err
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err  # one line, whatever the value holds
    assert err.startswith("error: ") and "Traceback" not in err
    if len(value) > 128:
        assert repr(value[:20])[:-1] in err and f"{len(value)} characters" in err
    else:
        assert repr(value) in err
    assert "[A-Za-z0-9._-]" in err and "128" in err
    assert snapshot(w.root) == before
    assert w.temp_dirs[temps:] == []
    assert w.calls == calls


def test_cli_json_mode_reports_the_refusal_as_an_error_event(cli_world: CliWorld) -> None:
    code, out, err = cli_world("status", "..", "-w", str(cli_world.ws), "--json")
    assert code == EXIT_USAGE
    event = json.loads(out)
    assert event["error"] == "InvalidName" and event["exitCode"] == EXIT_USAGE
    assert "'..'" in event["message"] and err.count("\n") == 1


# -- the exit code of an InvalidName, wherever it is raised ------------------------------------------------


def test_invalid_name_maps_to_exit_2() -> None:
    assert _exit_code_of(InvalidName("handle", "..", "it is a relative path component")) == EXIT_USAGE

    class Subclassed(InvalidName):
        pass

    assert _exit_code_of(Subclassed("handle", "..", "x")) == EXIT_USAGE


def test_an_invalid_name_raised_deep_in_a_command_exits_2(
    cli_world: CliWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not from the CLI's own checks: from wherever a command ends up calling validate_name.
    def deep(args: argparse.Namespace, out: object) -> int:
        validate_name("a/b", "handle")
        return 0

    monkeypatch.setattr("adapters._cli._cmd_tools.cmd_adapters", deep)  # looked up when the command runs
    code, out, err = cli_world("adapters")
    assert code == EXIT_USAGE
    assert err.count("\n") == 1 and "invalid handle 'a/b'" in err and out == ""
