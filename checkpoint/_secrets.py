"""The secret guard: refuse to publish a checkpoint folder that holds credential material.

One detector, two entry points: :func:`find_secret` scans the files of a folder, :func:`looks_like_secret`
a single string (the credential references in ``adapters`` use it to refuse key material where a
reference is expected), so both agree on what a secret looks like.

Files are streamed in 1 MiB windows that overlap by more than the longest pattern, so a secret straddling
a chunk boundary is still found. Each pattern is gated by a plain substring test (``bytes.__contains__``
runs at several GB/s) so that the regular expressions only run on the rare windows that could match.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from ._errors import SecretInCheckpoint

_CHUNK = 1024 * 1024
# Longer than any match below (each quantifier is bounded), so the overlap never splits a match.
_OVERLAP = 1024
_WS = rb"[ \t\r\n]{0,64}"
# A quote, optionally escaped: catches a credentials JSON pasted as a string inside another JSON file.
_Q = rb'\\?"'


def _json_key(name: bytes) -> bytes:
    """A pattern for ``"name":`` in JSON, quotes possibly escaped, whitespace tolerated."""
    return _Q + name + _Q + _WS + b":" + _WS


@dataclass(frozen=True)
class _Probe:
    """A cheap literal gate, and the regular expressions (with the clue each proves) it guards."""

    literal: bytes
    confirms: tuple[tuple[str, re.Pattern[bytes]], ...]


def _probe(literal: bytes, *confirms: tuple[str, bytes]) -> _Probe:
    return _Probe(literal, tuple((clue, re.compile(pattern)) for clue, pattern in confirms))


# An AWS key as assigned in ~/.aws/credentials or a .env file: 40 key characters, not a ${REFERENCE}.
_AWS_VALUE = rb"[ \t]{0,64}[=:][ \t]{0,64}[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"

_PROBES = (
    _probe(b"PRIVATE KEY", ("pem", rb"-----BEGIN (?:[A-Z0-9]{1,16} ){0,4}PRIVATE KEY(?: BLOCK)?-----")),
    _probe(b"service_account", ("sa_type", _json_key(b"type") + _Q + b"service_account" + _Q)),
    _probe(b"private_key", ("private_key", _json_key(b"private_key"))),
    _probe(
        b"refresh_token",
        ("refresh_token", _json_key(b"refresh_token")),
        ("google_refresh", _json_key(b"refresh_token") + _Q + b"1//"),
    ),
    _probe(b"client_secret", ("client_secret", _json_key(b"client_secret"))),
    _probe(b"ecret_access_key", ("aws", rb"aws_secret_access_key" + _AWS_VALUE)),
    _probe(b"ECRET_ACCESS_KEY", ("aws", rb"AWS_SECRET_ACCESS_KEY" + _AWS_VALUE)),
    _probe(b"SecretAccessKey", ("aws", _json_key(b"SecretAccessKey") + _Q + rb"[A-Za-z0-9/+]{40}" + _Q)),
)

# Most specific first: a service-account key also holds a PEM block, and should be reported as such.
_KINDS: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"sa_type", "private_key"}), "a Google service-account key"),
    (frozenset({"refresh_token", "client_secret"}), "Google OAuth user credentials (a refresh token)"),
    (frozenset({"pem"}), "a PEM private key"),
    (frozenset({"aws"}), "an AWS secret access key"),
    (frozenset({"google_refresh"}), "a Google OAuth refresh token"),
)


def _kind(clues: set[str]) -> str | None:
    """The most specific kind of secret the clues found so far prove, or None."""
    for needed, kind in _KINDS:
        if needed <= clues:
            return kind
    return None


def _clues(data: bytes) -> set[str]:
    """The clues the probes find in ``data``; a literal gate first, then its regular expressions."""
    found: set[str] = set()
    for probe in _PROBES:
        if probe.literal in data:
            found.update(clue for clue, pattern in probe.confirms if pattern.search(data))
    return found


def _scan_file(path: str) -> str | None:
    """Return the kind of secret in the file at ``path``, or None; reads it in overlapping windows."""
    clues: set[str] = set()
    tail = b""
    with open(path, "rb") as src:
        while chunk := src.read(_CHUNK):
            window = tail + chunk
            clues |= _clues(window)
            kind = _kind(clues)
            if kind:
                return kind
            tail = window[-_OVERLAP:]
    return None


# A whole string of base64 (either alphabet), long enough to wrap a key; checked only by looks_like_secret.
_BASE64ISH = re.compile(rb"[A-Za-z0-9+/=_-]{64,}")


def _judge(data: bytes) -> str | None:
    """The kind of secret ``data`` holds, or, failing a whole one, a part of a credentials file; or None.

    A file is flagged only for a whole secret (a file merely mentioning ``"private_key":`` is fine), but a
    single string holding such a field (an error message, a value offered as a path) is suspect already.
    """
    clues = _clues(data)
    kind = _kind(clues)
    if kind is not None:
        return kind
    return "part of a credentials file" if clues else None


def looks_like_secret(text: str) -> str | None:
    """What kind of credential material ``text`` holds, or None if it looks like an ordinary string.

    The probes of :func:`find_secret` run on the string, and also on what it decodes to when the whole
    string is base64 (a key pasted base64-encoded, as some CI systems store them). A field of a credentials
    file on its own (e.g. ``"private_key": ...``) counts here, unlike in a file scan. The result is a
    description such as ``"a PEM private key"`` or ``"base64-encoded key material (a Google
    service-account key)"``; it never quotes ``text``.
    """
    data = text.encode("utf-8", "surrogatepass")
    found = _judge(data)
    if found is not None:
        return found
    stripped = data.strip()
    if _BASE64ISH.fullmatch(stripped):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                decoded = decode(stripped + b"=" * (-len(stripped) % 4))
            except (binascii.Error, ValueError):
                continue
            found = _judge(decoded)
            if found is not None:
                return f"base64-encoded key material ({found})"
    return None


def _regular_files(root: str) -> Iterator[str]:
    """Yield the regular files under ``root`` in sorted order, without following symlinks.

    Symlinks and special files are skipped: opening a FIFO would block, and packing refuses both anyway.
    """
    for dir_path, dir_names, file_names in os.walk(root, onerror=_raise):
        dir_names.sort()  # os.walk leaves symlinked folders in dir_names but does not descend into them
        for name in sorted(file_names):
            path = os.path.join(dir_path, name)
            if stat.S_ISREG(os.lstat(path).st_mode):
                yield path


def _raise(error: OSError) -> None:
    # os.walk skips unreadable folders by default; a guard must not silently pass over them.
    raise error


def find_secret(folder: str | os.PathLike[str]) -> tuple[str, str] | None:
    """Return ``(path, kind)`` for the first file under ``folder`` holding credential material, or None.

    Detected: Google service-account keys, PEM private keys, Google OAuth refresh tokens (authorized-user
    files or a bare ``"refresh_token": "1//..."``) and AWS secret access keys. A file merely mentioning
    ``private_key`` is not flagged. ``path`` is absolute.

    Raises:
        NotADirectoryError: ``folder`` is not an existing folder.
        OSError: a file or sub-folder cannot be read (a guard must not skip what it cannot see).
    """
    root = os.path.abspath(os.fspath(folder))
    if not os.path.isdir(root):
        raise NotADirectoryError(f"cannot scan {root} for secrets: it is not an existing folder")
    for path in _regular_files(root):
        kind = _scan_file(path)
        if kind:
            return path, kind
    return None


def assert_no_secrets(folder: str | os.PathLike[str]) -> None:
    """Raise :class:`SecretInCheckpoint` naming the file and the kind if ``folder`` holds a secret."""
    found = find_secret(folder)
    if found:
        raise SecretInCheckpoint(*found)
