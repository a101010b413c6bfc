"""Checkpoint bundles: a folder zipped with a sha256 manifest, unpacked only after full validation.

Layout of a bundle::

    content/<every sub-folder and file of the folder>
    jobferry-manifest.json    {"format": 1, "files": {path: {"sha256", "size"}}, "dirs": [path, ...]}

The manifest is written last. Unpacking validates the whole central directory and the manifest before
anything is written, extracts into a staging folder next to the destination while hashing, and only then
swaps the staging folder into place, so a failed unpack leaves the destination as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import IO, Any

from ._errors import BundleCorrupted, BundleError, UnsafeArchive

MANIFEST_NAME = "jobferry-manifest.json"
CONTENT_PREFIX = "content/"

_FORMAT = 1
_CHUNK = 1024 * 1024
# Checkpoints are mostly already-dense weights: fast compression beats a few percent of size.
_COMPRESSLEVEL = 1
# Deflate runs at ~40-50 MB/s even at level 1; a file whose first chunk would not shrink by 10% (random
# or fp16/fp32 weights) is stored instead, so packing runs at disk speed.
_WORTH_DEFLATING = 0.9
# A fixed timestamp makes packing the same folder twice produce the same bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_ASIDE = "previous"
_STAGED = "content"
_DRIVE_RE = re.compile(r"[A-Za-z]:")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
# Errors zipfile and zlib raise on a damaged archive (as opposed to OSError from our own writes).
_READ_ERRORS = (zipfile.BadZipFile, EOFError, zlib.error, ValueError, NotImplementedError, RuntimeError)


@dataclass(frozen=True)
class BundleLimits:
    """Bounds on what :func:`unpack_archive` accepts, against zip bombs.

    Attributes:
        max_entries: most zip entries (files, folders and the manifest).
        max_uncompressed_bytes: most bytes, summed over all entries, declared or really extracted.
    """

    max_entries: int = 100_000
    max_uncompressed_bytes: int = 64 * 1024**3

    def __post_init__(self) -> None:
        for field in ("max_entries", "max_uncompressed_bytes"):
            value = getattr(self, field)
            if type(value) is not int or value <= 0:
                raise ValueError(f"BundleLimits.{field} must be a positive int, got {value!r}")


DEFAULT_LIMITS = BundleLimits()


# ---------------------------------------------------------------------------------------------------------
# Names. Pack and unpack share these checks, so pack can never produce a bundle that unpack rejects.


def _path_problem(path: str) -> str | None:
    """Say why ``path`` (POSIX, without a trailing ``/``) is unsafe as an archive member, or return None."""
    if "\x00" in path:
        return "contains a NUL byte"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if path.startswith("/"):
        return "is an absolute path"
    if "\\" in path:
        return "contains a backslash"
    for part in path.split("/"):
        if part in ("", "."):
            return "has an empty or '.' component"
        if part == "..":
            return "has a '..' component"
        # Windows would resolve "C:x" against a drive, escaping the destination.
        if _DRIVE_RE.match(part):
            return "has a drive-letter component"
    return None


def _normalized(name: str) -> str:
    """The key two names are compared by: NFC, without a trailing ``/``; never case-folded."""
    return unicodedata.normalize("NFC", name).rstrip("/")


def _find_collision(names: Iterable[tuple[str, bool]]) -> tuple[str, str] | None:
    """Return ``(name, reason)`` for the first of ``(name, is_dir)`` that collides with another, or None.

    Two names collide when they normalise to the same path, or when one is a file that another uses as
    a folder (``a`` and ``a/b``).
    """
    seen: dict[str, str] = {}
    files: dict[str, str] = {}
    for name, is_dir in names:
        key = _normalized(name)
        if key in seen:
            return name, f"names the same path as {seen[key]!r} once normalised (NFC, no trailing '/')"
        seen[key] = name
        if not is_dir:
            files[key] = name
    for key, name in seen.items():
        prefix = ""
        for part in key.split("/")[:-1]:
            prefix = f"{prefix}/{part}" if prefix else part
            if prefix in files:
                return name, f"uses the file {files[prefix]!r} as a folder"
    return None


# ---------------------------------------------------------------------------------------------------------
# Packing.


@dataclass(frozen=True)
class _Source:
    """One folder or regular file found under the folder being packed."""

    rel: str
    path: str
    is_dir: bool
    executable: bool


def _scan_folder(root: str) -> list[_Source]:
    """List every sub-folder and file under ``root``, sorted; refuse links, special files and bad names."""
    found: list[_Source] = []
    pending = [("", root)]
    while pending:
        rel_dir, dir_path = pending.pop()
        with os.scandir(dir_path) as it:
            children = list(it)
        for child in children:
            rel = rel_dir + child.name
            mode = child.stat(follow_symlinks=False).st_mode
            refusal = _source_problem(rel, mode)
            if refusal:
                raise BundleError(f"cannot pack {child.path}: {refusal}")
            is_dir = stat.S_ISDIR(mode)
            found.append(_Source(rel, child.path, is_dir, bool(mode & 0o111) and not is_dir))
            if is_dir:
                pending.append((rel + "/", child.path))
    found.sort(key=lambda s: s.rel)
    collision = _find_collision((s.rel, s.is_dir) for s in found)
    if collision:
        name, reason = collision
        raise BundleError(f"cannot pack {os.path.join(root, name)}: it {reason}")
    return found


def _source_problem(rel: str, mode: int) -> str | None:
    """Say why the entry ``rel`` with ``st_mode`` ``mode`` cannot go into a bundle, or return None."""
    if stat.S_ISLNK(mode):
        return "it is a symlink (bundles hold only regular files and folders)"
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        return "it is a special file (FIFO, socket or device)"
    problem = _path_problem(rel)
    return f"its name {problem}" if problem else None


def _member_info(
    name: str, *, is_dir: bool, executable: bool = False, deflate: bool = True
) -> zipfile.ZipInfo:
    """A ZipInfo carrying a Unix mode, so folders and the executable bit survive the round trip."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    info.create_system = 3  # Unix: makes readers honour the mode in external_attr
    if is_dir:
        info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10  # 0x10: the MS-DOS folder flag
    else:
        info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
    if deflate and not is_dir:
        info.compress_type = zipfile.ZIP_DEFLATED
        # Python < 3.13 only reads the private name (3.13 keeps it as an alias of compress_level).
        info._compresslevel = _COMPRESSLEVEL  # type: ignore[attr-defined]
    else:
        info.compress_type = zipfile.ZIP_STORED
    return info


def _worth_deflating(sample: bytes) -> bool:
    """Whether deflating a file starting with ``sample`` saves enough to pay for its slowness."""
    return bool(sample) and len(zlib.compress(sample, _COMPRESSLEVEL)) < _WORTH_DEFLATING * len(sample)


def _write_member(zf: zipfile.ZipFile, source: _Source) -> dict[str, Any]:
    """Stream one file into ``zf``, hashing as it goes; return its manifest record."""
    digest = hashlib.sha256()
    size = 0
    with open(source.path, "rb") as src:
        chunk = src.read(_CHUNK)
        info = _member_info(
            CONTENT_PREFIX + source.rel,
            is_dir=False,
            executable=source.executable,
            deflate=_worth_deflating(chunk),
        )
        with zf.open(info, "w", force_zip64=True) as dst:
            while chunk:
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
                chunk = src.read(_CHUNK)
    return {"sha256": digest.hexdigest(), "size": size}


def _write_bundle(zf: zipfile.ZipFile, sources: list[_Source]) -> None:
    """Write every source, then the manifest describing them."""
    files: dict[str, dict[str, Any]] = {}
    dirs: list[str] = []
    for source in sources:
        if source.is_dir:
            zf.writestr(_member_info(CONTENT_PREFIX + source.rel + "/", is_dir=True), b"")
            dirs.append(source.rel)
        else:
            files[source.rel] = _write_member(zf, source)
    manifest = {"format": _FORMAT, "files": files, "dirs": dirs}
    data = json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
    zf.writestr(_member_info(MANIFEST_NAME, is_dir=False), data)


@contextmanager
def _atomic_output(path: str) -> Iterator[IO[bytes]]:
    """Yield a new file next to ``path`` that replaces ``path`` only if the block succeeds."""
    parent, base = os.path.split(path)
    partial = os.path.join(parent, f".{base}.{os.urandom(6).hex()}.partial")
    # os.open rather than mkstemp: mode 0o666 lets the umask decide, as for any ordinary new file.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(partial, path)
    except BaseException:
        _unlink_quietly(partial)
        raise


def _unlink_quietly(path: str) -> None:
    with suppress(FileNotFoundError):
        os.unlink(path)


def pack_folder(folder: str | os.PathLike[str], archive: str | os.PathLike[str]) -> None:
    """Zip every file and sub-folder of ``folder`` (empty ones and non-ASCII names too) into ``archive``.

    Files are streamed and hashed in 1 MiB chunks; ``archive`` is replaced only once it is complete.

    Raises:
        BundleError: ``folder`` is not a folder, holds a symlink, special file or a name unpacking would
            reject (two names equal after Unicode normalisation, a backslash, ...), or ``archive`` would
            lie inside ``folder``.
    """
    root = os.fspath(folder)
    target = os.path.abspath(os.fspath(archive))
    if not os.path.isdir(root):
        raise BundleError(f"cannot pack {root}: it is not an existing folder")
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, os.path.realpath(target)]) == real_root:
        raise BundleError(f"cannot pack {root} into {target}: the archive would be inside the folder")
    sources = _scan_folder(root)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with _atomic_output(target) as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        _write_bundle(zf, sources)


# ---------------------------------------------------------------------------------------------------------
# Validation of an archive to unpack. Nothing here writes to disk.


@dataclass(frozen=True)
class _Member:
    """A validated content entry: where it goes, relative to the destination."""

    info: zipfile.ZipInfo
    rel: str
    is_dir: bool


@dataclass(frozen=True)
class _FileRecord:
    """What the manifest promises about one file."""

    sha256: str
    size: int


def _unsafe(archive: str, name: str, reason: str) -> UnsafeArchive:
    return UnsafeArchive(f"unsafe bundle {archive}: entry {name!r} {reason}; nothing was extracted")


def _corrupted(archive: str, reason: str) -> BundleCorrupted:
    return BundleCorrupted(f"corrupted bundle {archive}: {reason}")


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Say why one central-directory entry is unsafe, judging its name, type and encoding; or None."""
    if "\x00" in info.orig_filename:  # zipfile silently truncates the name at the NUL
        return "contains a NUL byte"
    name = info.filename
    is_dir = name.endswith("/")
    problem = _path_problem(name[:-1] if is_dir else name)
    if problem:
        return problem
    if name != MANIFEST_NAME and not name.startswith(CONTENT_PREFIX):
        return f"is outside {CONTENT_PREFIX!r}"
    file_type = stat.S_IFMT(info.external_attr >> 16)
    if file_type == stat.S_IFLNK:
        return "is a symlink"
    if file_type not in (0, stat.S_IFREG, stat.S_IFDIR):
        return f"is a special file (mode {info.external_attr >> 16:#o})"
    if file_type and (file_type == stat.S_IFDIR) != is_dir:
        return "has a file type that contradicts its name"
    if info.flag_bits & 0x1:
        return "is encrypted"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return f"uses unsupported compression method {info.compress_type}"
    if info.compress_size > _max_compressed_size(info):
        return (
            f"declares {info.file_size} bytes, fewer than its {info.compress_size} compressed bytes can hold"
        )
    return None


def _max_compressed_size(info: zipfile.ZipInfo) -> int:
    """The most compressed bytes an honest entry of ``info.file_size`` bytes can take.

    Catches a header understating the size of what it really decompresses to. Deflate never expands by
    more than about 0.03% plus a few bytes (zlib's deflateBound); 0.1% + 64 leaves a wide margin.
    """
    if info.compress_type == zipfile.ZIP_STORED:
        return info.file_size
    return info.file_size + (info.file_size >> 10) + 64


def _check_entries(infos: list[zipfile.ZipInfo], archive: str, limits: BundleLimits) -> list[_Member]:
    """Validate every entry's name, type, the collisions between them and the declared totals."""
    if len(infos) > limits.max_entries:
        raise _unsafe(archive, infos[limits.max_entries].filename, f"exceeds {limits.max_entries} entries")
    for info in infos:
        problem = _entry_problem(info)
        if problem:
            raise _unsafe(archive, info.filename, problem)
    collision = _find_collision((info.filename, info.is_dir()) for info in infos)
    if collision:
        raise _unsafe(archive, *collision)
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_uncompressed_bytes:
        raise UnsafeArchive(
            f"unsafe bundle {archive}: its entries declare {declared} bytes, more than the limit of "
            f"{limits.max_uncompressed_bytes}; nothing was extracted"
        )
    return [
        _Member(info, info.filename[len(CONTENT_PREFIX) :].rstrip("/"), info.is_dir())
        for info in infos
        if info.filename != MANIFEST_NAME
    ]


def _read_manifest(zf: zipfile.ZipFile, archive: str) -> bytes:
    """Read the manifest, refusing one larger than the entry list it describes could justify."""
    try:
        info = zf.getinfo(MANIFEST_NAME)
    except KeyError:
        raise _corrupted(archive, f"it has no {MANIFEST_NAME}") from None
    # Each entry needs its (at worst \u-escaped) name plus a digest and a size: a bound from the central
    # directory that a genuine manifest always fits, so a bloated one cannot exhaust memory.
    cap = 4096 + sum(6 * len(i.filename.encode("utf-8")) + 256 for i in zf.infolist())
    try:
        with zf.open(info) as src:
            data = src.read(cap + 1)
    except _READ_ERRORS as exc:
        raise _corrupted(archive, f"its {MANIFEST_NAME} cannot be read ({exc})") from exc
    if len(data) > cap:
        raise _corrupted(archive, f"its {MANIFEST_NAME} is larger than its entries can justify")
    return data


def _parse_manifest(data: bytes, archive: str) -> tuple[dict[str, _FileRecord], set[str]]:
    """Parse and type-check the manifest: ``({path: record}, {folder path})``."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _corrupted(archive, f"its {MANIFEST_NAME} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT or type(doc.get("format")) is not int:
        raise _corrupted(archive, f"its {MANIFEST_NAME} is not a format-{_FORMAT} manifest")
    files, dirs = doc.get("files"), doc.get("dirs")
    if not isinstance(files, dict) or not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise _corrupted(archive, f"its {MANIFEST_NAME} lacks a 'files' object or a 'dirs' list")
    records: dict[str, _FileRecord] = {}
    for path, record in files.items():
        sha, size = (record.get("sha256"), record.get("size")) if isinstance(record, dict) else (None, None)
        if not (isinstance(sha, str) and _SHA256_RE.fullmatch(sha) and type(size) is int and size >= 0):
            raise _corrupted(archive, f"its {MANIFEST_NAME} has a malformed record for {path!r}")
        records[path] = _FileRecord(sha, size)
    return records, set(dirs)


def _match_manifest(
    members: list[_Member], records: dict[str, _FileRecord], dirs: set[str], archive: str
) -> None:
    """Require the manifest to list exactly the archive's files (with their sizes) and folders."""
    in_zip_files = {m.rel: m for m in members if not m.is_dir}
    in_zip_dirs = {m.rel for m in members if m.is_dir}
    unlisted = sorted(in_zip_files.keys() - records.keys())
    if unlisted:
        raise _corrupted(archive, f"{unlisted[0]!r} is in the archive but not in its manifest")
    absent = sorted(records.keys() - in_zip_files.keys())
    if absent:
        raise _corrupted(archive, f"{absent[0]!r} is in the manifest but not in the archive")
    if in_zip_dirs != dirs:
        odd = sorted(in_zip_dirs ^ dirs)[0]
        raise _corrupted(archive, f"folder {odd!r} is in only one of the archive and its manifest")
    for rel, member in in_zip_files.items():
        declared, promised = member.info.file_size, records[rel].size
        if declared != promised:
            raise _corrupted(
                archive, f"{rel!r} is {declared} bytes in the archive but {promised} in its manifest"
            )


def _validate(
    zf: zipfile.ZipFile, archive: str, limits: BundleLimits
) -> tuple[list[_Member], dict[str, _FileRecord]]:
    """Validate the central directory and the manifest; return the members and the file records."""
    members = _check_entries(zf.infolist(), archive, limits)
    records, dirs = _parse_manifest(_read_manifest(zf, archive), archive)
    _match_manifest(members, records, dirs, archive)
    return members, records


# ---------------------------------------------------------------------------------------------------------
# Extraction into a staging folder, then the swap.


class _Budget:
    """The bytes really extracted so far, against the limit (a header may lie about sizes)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0


def _extract_file(
    zf: zipfile.ZipFile, member: _Member, record: _FileRecord, target: str, archive: str, budget: _Budget
) -> None:
    """Stream one member to ``target`` (a new file), hashing and counting real bytes."""
    executable = bool((member.info.external_attr >> 16) & 0o111)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        # O_EXCL: on a case-insensitive or normalising file system two valid names may still clash.
        fd = os.open(target, flags, 0o777 if executable else 0o666)
    except FileExistsError:
        raise _unsafe(
            archive, member.info.filename, "collides with another entry on this file system"
        ) from None
    digest = hashlib.sha256()
    size = 0
    with os.fdopen(fd, "wb") as out:
        try:
            with zf.open(member.info) as src:
                while chunk := src.read(_CHUNK):
                    size += len(chunk)
                    budget.used += len(chunk)
                    _check_real_size(member, size, budget, archive)
                    digest.update(chunk)
                    out.write(chunk)
        except _READ_ERRORS as exc:
            raise _corrupted(archive, f"{member.rel!r} cannot be read ({exc})") from exc
    if size != record.size or digest.hexdigest() != record.sha256:
        raise _corrupted(archive, f"{member.rel!r} does not match the sha256 and size in its manifest")


def _check_real_size(member: _Member, size: int, budget: _Budget, archive: str) -> None:
    if size > member.info.file_size:
        raise _unsafe(archive, member.info.filename, "holds more bytes than its header declares")
    if budget.used > budget.limit:
        raise _unsafe(archive, member.info.filename, f"takes the extracted size past {budget.limit} bytes")


def _extract_all(
    zf: zipfile.ZipFile,
    members: list[_Member],
    records: dict[str, _FileRecord],
    tree: str,
    archive: str,
    limits: BundleLimits,
) -> None:
    """Recreate every member under the empty folder ``tree``."""
    budget = _Budget(limits.max_uncompressed_bytes)
    made = {tree}
    for member in members:
        target = os.path.join(tree, *member.rel.split("/"))
        folder = target if member.is_dir else os.path.dirname(target)
        if folder not in made:
            try:
                os.makedirs(folder, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise _unsafe(
                    archive, member.info.filename, "collides with another entry on this file system"
                ) from None
            made.add(folder)
        if not member.is_dir:
            _extract_file(zf, member, records[member.rel], target, archive, budget)


def _swap_into_place(tree: str, dest: str, aside: str) -> None:
    """Move ``dest`` (if any) to ``aside`` and ``tree`` to ``dest``, undoing the first move on failure."""
    had_old = os.path.lexists(dest)
    if had_old:
        os.rename(dest, aside)
    try:
        os.rename(tree, dest)
    except BaseException:
        if had_old:
            os.rename(aside, dest)
        raise


def _remove_staging(staging: str, dest: str) -> None:
    """Remove the staging folder, unless a half-done swap left the only copy of the old content in it."""
    if os.path.lexists(os.path.join(staging, _ASIDE)) and not os.path.lexists(dest):
        return
    shutil.rmtree(staging, ignore_errors=True)


def _check_destination(dest: str) -> None:
    if os.path.islink(dest):
        raise BundleError(f"cannot unpack into {dest}: it is a symlink; pass the folder it points to")
    if os.path.lexists(dest) and not os.path.isdir(dest):
        raise BundleError(f"cannot unpack into {dest}: it exists and is not a folder")


@contextmanager
def _open_zip(archive: str) -> Iterator[zipfile.ZipFile]:
    try:
        zf = zipfile.ZipFile(archive)
    except _READ_ERRORS as exc:
        raise _corrupted(archive, f"it is not a readable zip file ({exc})") from exc
    with zf:
        yield zf


def unpack_archive(
    archive: str | os.PathLike[str], folder: str | os.PathLike[str], limits: BundleLimits = DEFAULT_LIMITS
) -> None:
    """Verify ``archive`` and make ``folder`` hold exactly its content (replacing, not merging).

    Nothing is written before the whole central directory and the manifest are validated. Files are then
    extracted into a staging folder beside ``folder``, hashed on the way, and swapped into place.

    Raises:
        UnsafeArchive: hostile entries (traversal, links, special files, collisions, too many or too large).
        BundleCorrupted: not a zip, no or a mismatched manifest, or content failing its sha256 or size.
        BundleError: ``folder`` exists but is a symlink or not a folder.
    """
    source = os.fspath(archive)
    dest = os.path.abspath(os.fspath(folder))
    _check_destination(dest)
    with _open_zip(source) as zf:
        members, records = _validate(zf, source, limits)
        parent = os.path.dirname(dest)
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(dir=parent, prefix=".jobferry-unpack-")
        try:
            # A fresh sub-folder gets umask-derived permissions, unlike the 0o700 mkdtemp folder around it.
            tree = os.path.join(staging, _STAGED)
            os.mkdir(tree)
            _extract_all(zf, members, records, tree, source, limits)
            _swap_into_place(tree, dest, os.path.join(staging, _ASIDE))
        finally:
            _remove_staging(staging, dest)
