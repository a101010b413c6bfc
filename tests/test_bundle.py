"""Checkpoint bundles: round trips, hostile archives and corruption."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import struct
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Union
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkpoint import _bundle
from checkpoint._bundle import (
    CONTENT_PREFIX,
    MANIFEST_NAME,
    BundleLimits,
    pack_folder,
    unpack_archive,
)
from checkpoint._errors import BundleCorrupted, BundleError, UnsafeArchive

# A tree: a folder maps names to sub-trees; a file is (content, executable).
Tree = dict[str, Union["Tree", tuple[bytes, bool]]]
Snapshot = dict[str, tuple[str, bytes, bool]]


def _materialize(tree: Tree, root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, node in tree.items():
        if isinstance(node, dict):
            _materialize(node, root / name)
        else:
            content, executable = node
            (root / name).write_bytes(content)
            (root / name).chmod(0o755 if executable else 0o644)


def _snapshot(root: Path) -> Snapshot:
    """Every folder and file under ``root``: kind, bytes and executable bit, by POSIX relative path."""
    found: Snapshot = {}
    for dir_path, dir_names, file_names in os.walk(root):
        for name in dir_names:
            found[(Path(dir_path) / name).relative_to(root).as_posix()] = ("dir", b"", False)
        for name in file_names:
            path = Path(dir_path) / name
            executable = bool(path.stat().st_mode & stat.S_IXUSR)
            found[path.relative_to(root).as_posix()] = ("file", path.read_bytes(), executable)
    return found


def _staging_left(parent: Path) -> list[str]:
    return (
        [p.name for p in parent.iterdir() if p.name.startswith(".jobferry-unpack-")]
        if parent.exists()
        else []
    )


# --- round trips -------------------------------------------------------------------------------------------

_ALPHABET = "abcXYZ019._-éü日本"
_names = st.text(alphabet=_ALPHABET, min_size=1, max_size=8).filter(lambda n: n not in (".", ".."))
# Sizes straddle the (patched, small) chunk size, so chunked hashing and copying are exercised.
_contents = st.sampled_from([0, 1, 15, 16, 17, 32, 33, 100]).flatmap(
    lambda n: st.binary(min_size=n, max_size=n)
)
_files = st.tuples(_contents, st.booleans())
_trees = st.dictionaries(
    _names,
    st.recursive(_files, lambda sub: st.dictionaries(_names, sub, max_size=4), max_leaves=12),
    max_size=6,
)


@settings(max_examples=50, deadline=None)
@given(tree=_trees)
def test_round_trip_is_bit_for_bit(tree: Tree, tmp_path_factory: pytest.TempPathFactory) -> None:
    with (
        tempfile.TemporaryDirectory(dir=tmp_path_factory.getbasetemp()) as tmp,
        mock.patch.object(_bundle, "_CHUNK", 16),
    ):
        src, archive, dest = Path(tmp, "src"), Path(tmp, "bundle.zip"), Path(tmp, "out", "dest")
        _materialize(tree, src)
        pack_folder(src, archive)
        unpack_archive(str(archive), str(dest))
        assert _snapshot(dest) == _snapshot(src)
        assert sorted(os.listdir(Path(tmp, "out"))) == ["dest"]


def test_round_trip_keeps_empty_folders_and_exec_bit(tmp_path: Path) -> None:
    _materialize(
        {"a": {"empty": {}, "run.sh": (b"#!/bin/sh\n", True)}, "日本": {"é": (b"", False)}}, tmp_path / "src"
    )
    pack_folder(tmp_path / "src", tmp_path / "b.zip")
    unpack_archive(tmp_path / "b.zip", tmp_path / "dest")
    assert _snapshot(tmp_path / "dest") == _snapshot(tmp_path / "src")
    assert (tmp_path / "dest" / "a" / "empty").is_dir()


def test_pack_is_deterministic(tmp_path: Path) -> None:
    _materialize({"w.bin": (os.urandom(3000), False), "d": {}}, tmp_path / "src")
    pack_folder(tmp_path / "src", tmp_path / "1.zip")
    pack_folder(tmp_path / "src", tmp_path / "2.zip")
    assert (tmp_path / "1.zip").read_bytes() == (tmp_path / "2.zip").read_bytes()


def test_unpack_replaces_stale_content(tmp_path: Path) -> None:
    _materialize({"new.txt": (b"new", False)}, tmp_path / "src")
    _materialize({"stale.txt": (b"old", False), "old": {"deep.bin": (b"x", False)}}, tmp_path / "dest")
    pack_folder(tmp_path / "src", tmp_path / "b.zip")
    unpack_archive(tmp_path / "b.zip", tmp_path / "dest")
    assert _snapshot(tmp_path / "dest") == {"new.txt": ("file", b"new", False)}
    assert _staging_left(tmp_path) == []


def test_unpack_creates_missing_parents(tmp_path: Path) -> None:
    _materialize({"f": (b"1", False)}, tmp_path / "src")
    pack_folder(tmp_path / "src", tmp_path / "b.zip")
    unpack_archive(tmp_path / "b.zip", tmp_path / "x" / "y" / "dest")
    assert (tmp_path / "x" / "y" / "dest" / "f").read_bytes() == b"1"


def test_bundle_layout(tmp_path: Path) -> None:
    _materialize({"f": (b"1", False), "d": {}}, tmp_path / "src")
    pack_folder(tmp_path / "src", tmp_path / "b.zip")
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read(MANIFEST_NAME))
    assert names == ["content/d/", "content/f", MANIFEST_NAME]
    assert manifest == {
        "format": 1,
        "files": {"f": {"sha256": hashlib.sha256(b"1").hexdigest(), "size": 1}},
        "dirs": ["d"],
    }


def test_incompressible_files_are_stored_and_others_deflated(tmp_path: Path) -> None:
    _materialize(
        {"random.bin": (os.urandom(300_000), False), "zeros.bin": (bytes(300_000), False)}, tmp_path / "src"
    )
    pack_folder(tmp_path / "src", tmp_path / "b.zip")
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        assert zf.getinfo("content/random.bin").compress_type == zipfile.ZIP_STORED
        assert zf.getinfo("content/zeros.bin").compress_type == zipfile.ZIP_DEFLATED
    unpack_archive(tmp_path / "b.zip", tmp_path / "dest")
    assert _snapshot(tmp_path / "dest") == _snapshot(tmp_path / "src")


# --- pack refusals -----------------------------------------------------------------------------------------


def test_pack_refuses_symlink(tmp_path: Path) -> None:
    _materialize({"f": (b"1", False)}, tmp_path / "src")
    (tmp_path / "src" / "link").symlink_to(tmp_path / "src" / "f")
    with pytest.raises(BundleError, match=r"link.*symlink"):
        pack_folder(tmp_path / "src", tmp_path / "b.zip")
    assert not (tmp_path / "b.zip").exists()


def test_pack_refuses_fifo(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    os.mkfifo(tmp_path / "src" / "pipe")
    with pytest.raises(BundleError, match=r"pipe.*special file"):
        pack_folder(tmp_path / "src", tmp_path / "b.zip")


def test_pack_refuses_names_equal_after_normalisation(tmp_path: Path) -> None:
    _materialize({"caf\u00e9": (b"1", False), "cafe\u0301": {}}, tmp_path / "src")
    with pytest.raises(BundleError, match="once normalised"):
        pack_folder(tmp_path / "src", tmp_path / "b.zip")


def test_pack_refuses_backslash_name(tmp_path: Path) -> None:
    _materialize({"a\\b": (b"1", False)}, tmp_path / "src")
    with pytest.raises(BundleError, match="backslash"):
        pack_folder(tmp_path / "src", tmp_path / "b.zip")


def test_pack_refuses_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="nope"):
        pack_folder(tmp_path / "nope", tmp_path / "b.zip")


def test_pack_refuses_archive_inside_folder(tmp_path: Path) -> None:
    _materialize({"f": (b"1", False)}, tmp_path / "src")
    with pytest.raises(BundleError, match="inside the folder"):
        pack_folder(tmp_path / "src", tmp_path / "src" / "b.zip")


# --- hostile archives --------------------------------------------------------------------------------------

Member = tuple[zipfile.ZipInfo, bytes]


def _info(name: str, mode: int | None = None) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    if mode is not None:
        info.create_system = 3
        info.external_attr = mode << 16
    return info


def _manifest_for(members: list[Member]) -> bytes:
    """A manifest that matches ``members``, so only the hostile property under test can trip."""
    files: dict[str, Any] = {}
    dirs: list[str] = []
    for info, data in members:
        rel = info.filename.removeprefix(CONTENT_PREFIX)
        if info.filename.endswith("/"):
            dirs.append(rel.rstrip("/"))
        else:
            files[rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    return json.dumps({"format": 1, "files": files, "dirs": dirs}).encode()


def _build(path: Path, members: list[Member], manifest: bytes | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for info, data in members:
            zf.writestr(info, data)
        zf.writestr(MANIFEST_NAME, _manifest_for(members) if manifest is None else manifest)
    return path


def _lying_header(path: Path) -> Path:
    """An entry that really inflates to 1 MB while its header (and manifest) claim 10 bytes."""
    _build(
        path,
        [(_info("content/bomb"), bytes(1_000_000))],
        manifest=_manifest_for([(_info("content/bomb"), bytes(10))]),
    )
    raw = bytearray(path.read_bytes())
    central = raw.index(b"PK\x01\x02")  # the bomb's central-directory record comes first
    struct.pack_into("<I", raw, central + 24, 10)  # uncompressed size
    path.write_bytes(raw)
    return path


_DEFAULT = BundleLimits()
_HOSTILE: dict[str, tuple[Callable[[Path], Path], BundleLimits, str]] = {
    "absolute": (lambda p: _build(p, [(_info("/etc/cron.d/x"), b"x")]), _DEFAULT, "absolute"),
    "dotdot": (lambda p: _build(p, [(_info("content/../../evil"), b"x")]), _DEFAULT, r"'\.\.'"),
    "backslash": (lambda p: _build(p, [(_info("content/..\\evil"), b"x")]), _DEFAULT, "backslash"),
    "drive": (lambda p: _build(p, [(_info("content/C:/evil"), b"x")]), _DEFAULT, "drive"),
    "empty_component": (lambda p: _build(p, [(_info("content//evil"), b"x")]), _DEFAULT, "empty"),
    "outside_content": (lambda p: _build(p, [(_info("evil"), b"x")]), _DEFAULT, "outside"),
    "symlink": (
        lambda p: _build(p, [(_info("content/link", stat.S_IFLNK | 0o777), b"/etc/passwd")]),
        _DEFAULT,
        "symlink",
    ),
    "fifo": (lambda p: _build(p, [(_info("content/pipe", stat.S_IFIFO | 0o644), b"")]), _DEFAULT, "special"),
    "char_device": (
        lambda p: _build(p, [(_info("content/tty", stat.S_IFCHR | 0o644), b"")]),
        _DEFAULT,
        "special",
    ),
    "nfc_nfd_collision": (
        lambda p: _build(p, [(_info("content/caf\u00e9"), b"1"), (_info("content/cafe\u0301"), b"2")]),
        _DEFAULT,
        "once normalised",
    ),
    "duplicate_dir_and_file": (
        lambda p: _build(p, [(_info("content/a/"), b""), (_info("content/a"), b"2")]),
        _DEFAULT,
        "once normalised",
    ),
    "file_used_as_dir": (
        lambda p: _build(p, [(_info("content/a"), b"1"), (_info("content/a/b"), b"2")]),
        _DEFAULT,
        "as a folder",
    ),
    "too_many_entries": (
        lambda p: _build(p, [(_info(f"content/f{i}"), b"") for i in range(4)]),
        BundleLimits(max_entries=4),
        "entries",
    ),
    "too_many_declared_bytes": (
        lambda p: _build(p, [(_info("content/big"), bytes(2000))]),
        BundleLimits(max_uncompressed_bytes=1000),
        "declare",
    ),
    "lying_header": (_lying_header, BundleLimits(max_uncompressed_bytes=1000), "compressed bytes"),
}


@pytest.fixture
def arena(tmp_path: Path) -> tuple[Path, Path]:
    """(archive dir, destination parent holding an existing destination and a bystander file)."""
    (tmp_path / "in").mkdir()
    _materialize({"dest": {"keep.txt": (b"old", False)}, "bystander": (b"b", False)}, tmp_path / "out")
    return tmp_path / "in", tmp_path / "out"


@pytest.mark.parametrize("kind", sorted(_HOSTILE))
def test_hostile_archive_is_refused_before_writing(kind: str, arena: tuple[Path, Path]) -> None:
    build, limits, reason = _HOSTILE[kind]
    archive_dir, parent = arena
    archive = build(archive_dir / "hostile.zip")
    before = _snapshot(parent)
    with pytest.raises(UnsafeArchive, match=reason) as raised:
        unpack_archive(archive, parent / "dest", limits)
    assert str(archive) in str(raised.value)
    assert _snapshot(parent) == before
    # Refused before anything was written: not even a fresh parent folder gets created.
    with pytest.raises(UnsafeArchive):
        unpack_archive(archive, parent / "new" / "dest", limits)
    assert not (parent / "new").exists()
    assert sorted(os.listdir(archive_dir)) == ["hostile.zip"]


def test_real_bytes_past_the_declared_size_stop_extraction(
    arena: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # CPython's zipfile never returns more than the declared size, so emulate a reader that would.
    archive_dir, parent = arena
    archive = _build(archive_dir / "b.zip", [(_info("content/f"), bytes(10))])
    real_open = zipfile.ZipFile.open

    def lying_open(self: zipfile.ZipFile, name: Any, *args: Any, **kwargs: Any) -> IO[bytes]:
        if getattr(name, "filename", name) == "content/f":
            return io.BytesIO(bytes(5000))
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", lying_open)
    before = _snapshot(parent)
    with pytest.raises(UnsafeArchive, match="more bytes than its header declares"):
        unpack_archive(archive, parent / "dest", BundleLimits(max_uncompressed_bytes=1000))
    assert _snapshot(parent) == before
    assert _staging_left(parent) == []


# --- corrupted archives ------------------------------------------------------------------------------------


def _packed(tmp_path: Path) -> Path:
    _materialize({"weights.bin": (os.urandom(5000), False), "cfg.json": (b"{}", False)}, tmp_path / "src")
    pack_folder(tmp_path / "src", tmp_path / "in" / "b.zip")
    return tmp_path / "in" / "b.zip"


def _rewrite(archive: Path, change: Callable[[str, bytes], bytes | None]) -> None:
    """Rebuild ``archive`` entry by entry, replacing or (on None) dropping data; CRCs are recomputed."""
    with zipfile.ZipFile(archive) as zf:
        members = [(info, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(archive, "w") as zf:
        for info, data in members:
            new = change(info.filename, data)
            if new is not None:
                zf.writestr(info, new)


def _tamper(archive: Path) -> None:
    _rewrite(archive, lambda name, data: b"\x00" + data[1:] if name == "content/weights.bin" else data)


def _drop_manifest(archive: Path) -> None:
    _rewrite(archive, lambda name, data: None if name == MANIFEST_NAME else data)


def _drop_content(archive: Path) -> None:
    _rewrite(archive, lambda name, data: None if name == "content/cfg.json" else data)


def _bad_manifest(archive: Path) -> None:
    _rewrite(archive, lambda name, data: b"{not json" if name == MANIFEST_NAME else data)


def _truncate(archive: Path) -> None:
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])


def _flip_compressed_byte(archive: Path) -> None:
    raw = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("content/weights.bin")
    raw[info.header_offset + 30 + len(info.filename) + len(info.extra) + 100] ^= 0xFF
    archive.write_bytes(raw)


def _not_a_zip(archive: Path) -> None:
    archive.write_text("this is not a zip file\n")


_CORRUPTIONS: dict[str, tuple[Callable[[Path], None], str]] = {
    "tampered_content": (_tamper, r"weights\.bin.*sha256"),
    "flipped_compressed_byte": (_flip_compressed_byte, "weights.bin"),
    "missing_manifest": (_drop_manifest, "no jobferry-manifest.json"),
    "file_missing_from_archive": (_drop_content, r"cfg\.json.*not in the archive"),
    "unparsable_manifest": (_bad_manifest, "not valid JSON"),
    "truncated": (_truncate, "not a readable zip"),
    "not_a_zip": (_not_a_zip, "not a readable zip"),
}


@pytest.mark.parametrize("kind", sorted(_CORRUPTIONS))
def test_corrupted_archive_leaves_destination_untouched(kind: str, tmp_path: Path) -> None:
    corrupt, reason = _CORRUPTIONS[kind]
    archive = _packed(tmp_path)
    corrupt(archive)
    _materialize({"keep.txt": (b"old", False)}, tmp_path / "out" / "dest")
    before = _snapshot(tmp_path / "out")
    with pytest.raises(BundleCorrupted, match=reason) as raised:
        unpack_archive(archive, tmp_path / "out" / "dest")
    assert str(archive) in str(raised.value)
    assert _snapshot(tmp_path / "out") == before
    assert _staging_left(tmp_path / "out") == []


def test_manifest_size_mismatch_is_corruption(tmp_path: Path) -> None:
    members = [(_info("content/f"), b"12345")]
    manifest = json.loads(_manifest_for(members))
    manifest["files"]["f"]["size"] = 4
    archive = _build(tmp_path / "b.zip", members, json.dumps(manifest).encode())
    with pytest.raises(BundleCorrupted, match="5 bytes in the archive but 4"):
        unpack_archive(archive, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_destination_that_is_a_file_is_refused(tmp_path: Path) -> None:
    archive = _packed(tmp_path)
    (tmp_path / "dest").write_text("a file")
    with pytest.raises(BundleError, match="not a folder"):
        unpack_archive(archive, tmp_path / "dest")
    assert (tmp_path / "dest").read_text() == "a file"


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_limits_must_be_positive_ints(bad: object) -> None:
    with pytest.raises(ValueError, match=repr(bad).replace(".", r"\.")):
        BundleLimits(max_entries=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_uncompressed_bytes"):
        BundleLimits(max_uncompressed_bytes=bad)  # type: ignore[arg-type]
