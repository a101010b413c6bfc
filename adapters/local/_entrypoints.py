"""Entrypoints: ``package.module:function`` or ``path/to/script.py[:function]`` (standard library only)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import keyword
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

FORMS = "'package.module:function' or 'path/to/script.py:function'"


class EntrypointError(Exception):
    """An entrypoint that is malformed or cannot be imported."""


def _is_dotted_identifier(text: str) -> bool:
    return bool(text) and all(p.isidentifier() and not keyword.iskeyword(p) for p in text.split("."))


@dataclass(frozen=True)
class EntryPoint:
    """A parsed entrypoint.

    Attributes:
        target: the module's dotted name, or the script's path (as given, or absolute once resolved).
        function: the attribute to call (dotted names reach into classes: ``Trainer.fit``).
        is_script: True for a ``.py`` file path, False for an importable module.
    """

    target: str
    function: str
    is_script: bool

    def __str__(self) -> str:
        return f"{self.target}:{self.function}"

    def with_function(self, function: str) -> EntryPoint:
        """The same module or script, another function."""
        return replace(self, function=function)

    def resolved(self, cwd: Path) -> EntryPoint:
        """A script path made absolute against ``cwd`` (modules are left as they are)."""
        if not self.is_script:
            return self
        return replace(self, target=str((cwd / os.path.expanduser(self.target)).resolve()))

    def load(self, cwd: Path) -> Callable[..., Any]:
        """Import the module or script (``cwd`` on ``sys.path`` meanwhile) and return the function.

        Raises:
            EntrypointError: the file or module is missing, fails to import, or lacks the function.
        """
        where = self.resolved(cwd)
        try:
            module = _load_script(Path(where.target)) if self.is_script else _load_module(self.target, cwd)
        except EntrypointError:
            raise
        except Exception as exc:  # the user's module failed at import: say which entrypoint it was
            raise EntrypointError(f"cannot import entrypoint {self}: {type(exc).__name__}: {exc}") from exc
        obj: Any = module
        for part in self.function.split("."):
            if not hasattr(obj, part):
                raise EntrypointError(f"entrypoint {self}: {where.target} has no attribute {self.function!r}")
            obj = getattr(obj, part)
        if not callable(obj):
            raise EntrypointError(
                f"entrypoint {self}: {self.function!r} is a {type(obj).__name__}, not callable"
            )
        fn: Callable[..., Any] = obj
        return fn


def parse_entrypoint(value: str, default_function: str = "train") -> EntryPoint:
    """Parse ``value``; a script (or module) without ``:function`` gets ``default_function``.

    Raises:
        ValueError: ``value`` is not one of the accepted forms (the message names it).
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"entrypoint {value!r} is empty; expected {FORMS}")
    text = value.strip()
    target, sep, function = text.rpartition(":")
    if not sep or not _is_dotted_identifier(function):
        # No ':function' part (a colon may belong to a Windows drive letter: C:\jobs\train.py).
        target, function = text, default_function
    is_script = target.endswith(".py") or "/" in target or os.sep in target
    if is_script:
        if not target.endswith(".py"):
            raise ValueError(f"entrypoint {value!r}: a script path must name a .py file; expected {FORMS}")
    elif not _is_dotted_identifier(target):
        raise ValueError(
            f"entrypoint {value!r} is neither a dotted module name nor a .py path; expected {FORMS}"
        )
    return EntryPoint(target, function, is_script)


@contextlib.contextmanager
def _on_sys_path(folder: Path) -> Iterator[None]:
    # Only while importing: module-level imports of the entrypoint resolve like `python script.py` would,
    # without leaving the job's folder on the path of the process (the predicting one lives on).
    entry = str(folder)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)


def _load_module(name: str, cwd: Path) -> Any:
    with _on_sys_path(cwd):
        return importlib.import_module(name)


def _load_script(path: Path) -> Any:
    if not path.is_file():
        raise EntrypointError(f"entrypoint script {path} does not exist")
    # One module per file, named after its path: two scripts called train.py do not collide, and loading
    # the same script twice (train then predict in one process) reuses it.
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:12]
    name = f"_jobferry_entry_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise EntrypointError(f"entrypoint script {path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec, as import does: dataclasses and pickle look it up
    try:
        with _on_sys_path(path.parent):
            spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
