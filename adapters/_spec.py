"""Job spec files: one TOML file naming an adapter, its config, a plugin instance and the training input.

::

    adapter = "local"                 # a registered adapter name (`jobferry adapters` lists them)
    plugin_instance = "fruit-local"   # letters, digits, '.', '_', '-' (like checkpoint handles)
    workspace = "/path/or/url"        # optional; default: $JOBFERRY_WORKSPACE or the user data dir
    [config]                          # the adapter's config, validated by its config_class
    entrypoint = "examples/local/fruit_job.py:train"
    [config.poll]
    initial = 1.0
    [input]                           # TrainPluginInput fields (snake_case or camelCase)
    training_data_url = "examples/data/fruit.csv"
    training_params = { epochs = 3 }

The whole file is validated when it is loaded -- the top level, the adapter's config and the input -- so a
mistake is reported before anything is submitted. Every problem raises :class:`SpecError` naming the file,
the field path (``config.poll.initial``), the bad value and what would be valid.

Relative paths (the workspace, paths inside ``[config]`` or ``[input]``) are kept exactly as written: they
are resolved against the current working directory by whatever uses them, not against the spec file's
folder. Run ``jobferry`` from the directory the paths are relative to.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from adapters._errors import SpecError
from checkpoint import Workspace, validate_name
from checkpoint._errors import VALID_NAMES, InvalidName, MissingDependency

from ._connection import shown_value
from ._messages import PluginRequest, PluginRequestContext, TrainPluginInput
from ._registry import get_adapter, list_adapters

if TYPE_CHECKING:
    from ._external import ExternalJobConfig, ExternalJobModel

__all__ = ["JobSpec", "load_spec"]


class JobSpec(BaseModel):
    """A parsed, validated job spec.

    Build it with :func:`load_spec` (or :meth:`from_dict`): both also validate ``config`` against the
    adapter's ``config_class`` and ``input`` against :class:`TrainPluginInput`; constructing it directly
    checks the top level only.

    Attributes:
        adapter: the registered adapter name.
        plugin_instance: the plugin instance the job's checkpoint is published to.
        workspace: the workspace URL or path, or ``None`` for the default workspace.
        config: the adapter's config, as written.
        input: the training input, as written.
    """

    # Built on first use, not at import (see adapters._messages.CamelModel).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    adapter: str = Field(min_length=1)
    plugin_instance: str
    workspace: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    input: dict[str, Any] = Field(default_factory=dict)

    _source: str = PrivateAttr(default="<spec>")
    _adapter_class: type[ExternalJobModel[Any]] | None = PrivateAttr(default=None)
    _adapter_config: ExternalJobConfig | None = PrivateAttr(default=None)
    _train_input: TrainPluginInput | None = PrivateAttr(default=None)

    @field_validator("plugin_instance")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        try:
            return validate_name(value, "plugin instance ID")
        except InvalidName as exc:
            # InvalidName's message already says what a valid name is; keep it, minus the repeated value.
            raise ValueError(f"{exc.reason}; {VALID_NAMES}") from None

    # -- construction ---------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, source: str = "<spec>") -> JobSpec:
        """Validate a spec given as a dict (what the TOML file parses to); ``source`` names it in errors."""
        if not isinstance(data, dict):
            raise SpecError(f"{source}: a job spec must be a table, got {type(data).__name__}")
        try:
            spec = cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(_explain(source, exc, cls)) from None
        spec._source = source
        spec._resolve()
        return spec

    def _resolve(self) -> None:
        """Look the adapter up and validate ``config`` and ``input`` against it."""
        src = self._source
        try:
            adapter_class = get_adapter(self.adapter)
        except MissingDependency:
            raise
        except SpecError as exc:
            raise SpecError(f"{src}: adapter = {self.adapter!r}: {exc}") from None
        except ImportError as exc:
            # A registered adapter whose module is broken or not written yet: say so, don't crash.
            raise SpecError(
                f"{src}: adapter = {self.adapter!r}: its module could not be imported ({exc}); "
                f"registered adapters: {', '.join(list_adapters())}"
            ) from None
        config_class = adapter_class.config_class
        # Every problem at once: [config] and [input] are checked independently, so fixing one does not
        # reveal the other.
        problems: list[str] = []
        config: ExternalJobConfig | None = None
        try:
            config = config_class.model_validate(self.config)
        except ValidationError as exc:
            problems += _problems(exc, config_class, prefix=("config",))
        train_input = self._validate_input(problems)
        if problems:
            raise SpecError(_report(src, problems))
        assert config is not None and train_input is not None
        self._adapter_class = adapter_class
        self._adapter_config = config
        self._train_input = train_input

    def _validate_input(self, problems: list[str]) -> TrainPluginInput | None:
        # TrainPluginInput ignores unknown keys (it is a wire message); a spec is typed by hand, so a typo
        # must not silently vanish.
        known = _field_names(TrainPluginInput)
        valid = f"{', '.join(sorted(TrainPluginInput.model_fields))} (or their camelCase forms)"
        unknown = [key for key in self.input if key not in known]
        for key in unknown:
            value = self.input[key]
            problems.append(
                f"input.{key} = {_show('input.' + key, value)}: unknown field; valid fields: {valid}"
            )
        try:
            data = TrainPluginInput.model_validate({k: v for k, v in self.input.items() if k not in unknown})
        except ValidationError as exc:
            problems += _problems(exc, TrainPluginInput, prefix=("input",))
            return None
        if data.plugin_instance is not None and data.plugin_instance != self.plugin_instance:
            problems.append(
                f"input.plugin_instance = {data.plugin_instance!r} contradicts plugin_instance = "
                f"{self.plugin_instance!r}; drop it from [input] (the top-level value is used)"
            )
            return None
        return data.model_copy(update={"plugin_instance": self.plugin_instance})

    # -- what the spec builds ---------------------------------------------------------------------------

    @property
    def source(self) -> str:
        """The file this spec was loaded from (``"<spec>"`` for a dict)."""
        return self._source

    @property
    def adapter_class(self) -> type[ExternalJobModel[Any]]:
        """The adapter's model class."""
        if self._adapter_class is None:
            self._resolve()
        assert self._adapter_class is not None
        return self._adapter_class

    @property
    def adapter_config(self) -> ExternalJobConfig:
        """The adapter's validated config."""
        if self._adapter_config is None:
            self._resolve()
        assert self._adapter_config is not None
        return self._adapter_config

    @property
    def train_input(self) -> TrainPluginInput:
        """The validated training input (its ``plugin_instance`` set to the spec's)."""
        if self._train_input is None:
            self._resolve()
        assert self._train_input is not None
        return self._train_input

    def resolve_workspace(self, override: Workspace | str | os.PathLike[str] | None = None) -> Workspace:
        """The workspace: ``override``, else the spec's, else the default (``$JOBFERRY_WORKSPACE`` ...)."""
        return Workspace.coerce(override if override is not None else self.workspace)

    def build_model(
        self, workspace: Workspace | str | os.PathLike[str] | None = None
    ) -> ExternalJobModel[Any]:
        """A configured adapter model bound to the workspace and plugin instance, ready to ``train``."""
        model = self.adapter_class()
        model.receive_config(self.adapter_config)
        model.bind(self.resolve_workspace(workspace), self.plugin_instance)
        return model

    def train_request(
        self, workspace: Workspace | str | os.PathLike[str] | None = None
    ) -> PluginRequest[TrainPluginInput]:
        """The ``PluginRequest[TrainPluginInput]`` to pass to ``model.train``."""
        ws = self.resolve_workspace(workspace)
        return PluginRequest[TrainPluginInput](
            data=self.train_input,
            context=PluginRequestContext(plugin_instance_id=self.plugin_instance, workspace=ws.url),
        )


def load_spec(path: str | os.PathLike[str]) -> JobSpec:
    """Read and validate a TOML job spec.

    Raises:
        SpecError: the file is missing or unreadable, is not valid TOML (with line and column), or fails
            validation (with the field path, the value and what is valid).
        MissingDependency: the adapter needs an optional extra that is not installed.
    """
    source = os.fspath(path)
    try:
        raw = Path(source).read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{source}: spec file not found") from None
    except OSError as exc:
        raise SpecError(f"{source}: cannot read spec file: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SpecError(f"{source}: not UTF-8 text (byte {exc.start}); a spec is a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line L, column C)".
        raise SpecError(f"{source}: invalid TOML: {exc}") from None
    return JobSpec.from_dict(data, source)


# -- error messages -----------------------------------------------------------------------------------------


def _show(path: str, value: Any) -> str:
    return shown_value(path, value)  # never a byte of a secret, nor any credential field's value


def _field_names(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        names.add(name)
        if info.alias:
            names.add(info.alias)
        if info.validation_alias and isinstance(info.validation_alias, str):
            names.add(info.validation_alias)
    return names


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The pydantic model found by following ``loc`` from ``model`` through nested model fields."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or not isinstance(part, str):
            return None
        field = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None
        )
        annotation = field.annotation if field is not None else None
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return current


def _problems(exc: ValidationError, model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[str]:
    """One line per problem of ``exc``: the field path, the value (never a secret) and what is wrong."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = ".".join(str(p) for p in (*prefix, *loc)) or "(top level)"
        kind = err["type"]
        msg = err["msg"]
        if kind == "missing":
            lines.append(f"{path}: required field is missing")
            continue
        if kind == "extra_forbidden":
            owner = _model_at(model, loc[:-1])
            valid = sorted(owner.model_fields) if owner is not None else []
            hint = f"; valid fields here: {', '.join(valid)}" if valid else ""
            lines.append(f"{path} = {_show(path, err.get('input'))}: unknown field{hint}")
            continue
        if kind == "value_error":
            msg = str(err.get("ctx", {}).get("error", msg))  # drop pydantic's "Value error, " prefix
        value = err.get("input")
        shown = "{...}" if isinstance(value, dict) else _show(path, value)
        lines.append(f"{path} = {shown}: {msg}")
    return lines


def _report(source: str, problems: list[str]) -> str:
    if len(problems) == 1:
        # One problem, one line: the CLI prints it as one "error: ..." line.
        return f"{source}: invalid job spec: {problems[0]}"
    return "\n".join(
        [f"{source}: invalid job spec ({len(problems)} problems):", *(f"  {p}" for p in problems)]
    )


def _explain(source: str, exc: ValidationError, model: type[BaseModel], prefix: tuple[str, ...] = ()) -> str:
    return _report(source, _problems(exc, model, prefix))
