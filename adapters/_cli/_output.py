"""How commands write: plain or styled text on a terminal, or JSON; and the small formatters they share."""

from __future__ import annotations

import json
import os
import re
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any, ClassVar, TextIO

from .._external import AdapterDeprecationWarning
from .._jobs import JobState, JobStatus


@contextmanager
def deprecation_notices() -> Iterator[None]:
    """Show each adapter deprecation warned inside as one ``notice: ...`` line on stderr, once.

    Python hides DeprecationWarning outside ``__main__`` by default; a CLI user must still learn that
    the vendor is retiring the service (JSON on stdout stays clean). Other warnings are shown as usual.
    """
    shown: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("always", AdapterDeprecationWarning)
        original = warnings.showwarning

        def show(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            if not issubclass(category, AdapterDeprecationWarning):
                original(message, category, filename, lineno, file, line)
            elif str(message) not in shown:
                shown.add(str(message))
                sys.stderr.write(f"notice: {message}\n")

        warnings.showwarning = show
        yield


class Output:
    """Where and how a command writes: plain or styled text, or JSON.

    Streams are looked up when the command runs (not at import), so redirection and test capture work.
    """

    _COLORS: ClassVar[dict[str, str]] = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2"}

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.stdout: TextIO = sys.stdout
        self.stderr: TextIO = sys.stderr
        self.styled = not json_mode and _is_tty(self.stdout) and not _no_color()
        self._progress_open = False  # a progress line on a terminal, not yet ended
        self._progress_at: float | None = None

    def progress(self, text: str) -> None:
        """Show a progress line on stderr: rewritten in place on a terminal, else once a minute."""
        if _is_tty(self.stderr):
            self.stderr.write(f"\r{text}\x1b[K")
            self.stderr.flush()
            self._progress_open = True
            return
        now = time.monotonic()
        if self._progress_at is None or now - self._progress_at >= 60:
            self._progress_at = now
            self.stderr.write(text + "\n")
            self.stderr.flush()

    def end_progress(self) -> None:
        """End a progress line left open on the terminal (before anything else is written)."""
        if self._progress_open:
            self.stderr.write("\n")
            self._progress_open = False

    def line(self, text: str = "") -> None:
        """Write one line of text."""
        self.end_progress()
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def emit(self, obj: dict[str, Any]) -> None:
        """Write one JSON object on one line."""
        self.end_progress()
        self.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
        self.stdout.flush()

    def style(self, text: str, color: str) -> str:
        """``text`` in ``color`` when styling is on, else as is."""
        return f"\x1b[{self._COLORS[color]}m{text}\x1b[0m" if self.styled else text

    def state(self, status: JobStatus | None) -> str:
        """A status summary, its state coloured by outcome."""
        if status is None:
            return "-"
        summary = status.summary()
        color = "green" if status.state is JobState.SUCCEEDED else "red" if status.is_terminal else "yellow"
        head, _, rest = summary.partition(" ")
        return self.style(head, color) + (f" {rest}" if rest else "")

    def table(self, header: Sequence[str], rows: Iterable[Sequence[str]], fit: bool = False) -> None:
        """Write aligned columns (the last one unpadded; with ``fit``, cut to the width of the screen).

        The width is the terminal's, or 100 columns when stdout is not a terminal.
        """
        all_rows = [list(header), *(list(r) for r in rows)]
        widths = [max(len(_strip_ansi(r[i])) for r in all_rows) for i in range(len(header) - 1)]
        room = (_columns(self.stdout) - sum(w + 2 for w in widths)) if fit else None
        for n, row in enumerate(all_rows):
            cells = [c + " " * (w - len(_strip_ansi(c))) for c, w in zip(row, widths, strict=False)]
            last = row[-1]
            if n and room is not None and len(_strip_ansi(last)) > max(room, 12):
                last = _strip_ansi(last)[: max(room, 12) - 1] + "…"  # the whole message: --json
            text = "  ".join([*cells, last]).rstrip()
            self.line(self.style(text, "bold") if n == 0 else text)


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or unusual streams are not terminals
        return False


def _columns(stream: IO[str]) -> int:
    if _is_tty(stream):
        import shutil

        return shutil.get_terminal_size((100, 24)).columns
    return 100


def _no_color() -> bool:
    # https://no-color.org: any non-empty value disables colour; a dumb terminal cannot redraw a line.
    return bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def shorten(name: str, width: int = 36) -> str:
    """A vendor resource name cut to fit a column: its last two segments, then its tail after an ellipsis.

    ``projects/p/locations/l/trainingPipelines/123`` -> ``trainingPipelines/123``; the full name is in
    ``--json`` and in ``status INSTANCE``.
    """
    parts = name.split("/")
    short = "/".join(parts[-2:]) if len(parts) > 2 else name
    return short if len(short) <= width else "…" + short[-(width - 1) :]


def _status_json(status: JobStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    data: dict[str, Any] = json.loads(status.model_dump_json(exclude_none=True))
    return data
