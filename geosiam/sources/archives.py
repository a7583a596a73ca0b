"""Safe extraction of IGN's 7z deliveries (one ``.7z`` or volumes ``.7z.001``, ``.7z.002``...).

Every member is checked before anything is written: an absolute path, a ``..`` component or a
link refuses the whole archive (a delivery that holds one is not IGN's). Only the members asked
for are extracted (the dalles that intersect the area), into a hidden folder beside the target
that is removed if anything fails; each extracted file must have its listed size before it is
moved into place. A marker in the target records what was extracted, so a later run extracts only
what is missing and never trusts a file the marker does not list.
"""

from __future__ import annotations

import io
import json
import lzma
import os
import shutil
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import py7zr
import py7zr.exceptions

from geosiam import atomic
from geosiam.errors import ArchiveError
from geosiam.sources.download import ensure_free_space

MARKER = ".geosiam-extracted.json"


@dataclass(frozen=True)
class Member:
    """One entry of an archive as listed in its header."""

    name: str  # path inside the archive, "/"-separated
    size: int  # uncompressed bytes
    is_dir: bool
    is_link: bool


class Volumes(io.RawIOBase):
    """The byte-wise concatenation of volume files, read-only and seekable.

    7z volumes are a plain split of one archive. This reads exactly the parts it is given (the
    ``multivolumefile`` package globs ``<name>.*`` and would pick up ``.part`` and marker files).
    """

    def __init__(self, parts: Iterable[Path]) -> None:
        super().__init__()
        self._files = [open(p, "rb") for p in parts]  # noqa: SIM115 - closed in close()
        self._starts = []
        offset = 0
        for handle in self._files:
            self._starts.append(offset)
            offset += os.fstat(handle.fileno()).st_size
        self._size = offset
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._size:
            index = max(i for i, start in enumerate(self._starts) if start <= self._pos)
            handle = self._files[index]
            handle.seek(self._pos - self._starts[index])
            count = handle.readinto(view[done:])
            if not count:
                break
            done += count
            self._pos += count
        return done

    def close(self) -> None:
        for handle in self._files:
            handle.close()
        super().close()


def list_members(parts: list[Path]) -> list[Member]:
    """The members of the archive made of ``parts`` (volumes in order, or one ``.7z``)."""
    with _open(parts) as archive:
        return [
            Member(info.filename, info.uncompressed or 0, info.is_directory, info.is_symlink)
            for info in archive.list()
        ]


def unsafe_reason(member: Member) -> str | None:
    """Why extracting ``member`` could write outside the target folder, or None."""
    name = member.name.replace("\\", "/")
    path = PurePosixPath(name)
    if member.is_link:
        return "is a link"
    if path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if ".." in path.parts:
        return "climbs out with '..'"
    return None


def check_safe(members: list[Member], archive: Path) -> None:
    """An :class:`ArchiveError` naming the first member that would leave the target."""
    for member in members:
        reason = unsafe_reason(member)
        if reason:
            raise ArchiveError(
                f"{archive.name}: member '{member.name}' {reason}; refusing the archive "
                f"(delete {archive.parent} and check where it came from)"
            )


def extract(
    parts: list[Path],
    target: Path,
    choose: Callable[[list[str]], Iterable[str]],
    reserve: Callable[[int, str], None] | None = None,
) -> list[Path]:
    """Extract the members ``choose`` picks (from all file names) into ``target``; their paths.

    Members already extracted by an earlier run (listed in the target's marker, on disk with
    their size) are kept; only the missing ones are extracted. ``reserve(bytes, what)`` is asked
    for room first (a disk budget), beside the check of the disk's free space.
    """
    try:
        members = list_members(parts)
    except _ARCHIVE_ERRORS as exc:
        raise _corrupt(parts[0], exc) from None
    check_safe(members, parts[0])
    files = [m for m in members if not m.is_dir]
    picked = set(choose([m.name for m in files]))
    chosen = [m for m in files if m.name in picked]
    done = _read_marker(target)
    missing = [m for m in chosen if not _in_place(target, m, done)]
    if missing:
        needed = sum(m.size for m in missing)
        what = f"extracting {len(missing)} files of {parts[0].name}"
        if reserve is not None:
            reserve(needed, what)
        ensure_free_space(target, needed, what)
        _extract_members(parts, target, missing)
        done.update({m.name: m.size for m in missing})
        atomic.write_text(target / MARKER, json.dumps(done, indent=0, sort_keys=True))
    return [target / m.name for m in chosen]


def _extract_members(parts: list[Path], target: Path, members: list[Member]) -> None:
    """Extract into a hidden scratch folder, check sizes, then move each file into ``target``."""
    for stale in target.parent.glob(f".{target.name}.*.partial"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    scratch = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.partial"
    try:
        scratch.mkdir(parents=True)
        try:
            with _open(parts) as archive:
                archive.extract(path=scratch, targets=[m.name for m in members])
        except _ARCHIVE_ERRORS as exc:
            raise _corrupt(parts[0], exc) from None
        for member in members:
            produced = scratch / member.name
            if produced.is_symlink() or not produced.is_file():
                raise ArchiveError(
                    f"{parts[0].name}: '{member.name}' was not extracted as a file; the archive is "
                    f"damaged: delete {parts[0].parent} and run again"
                )
            if produced.stat().st_size != member.size:
                raise ArchiveError(
                    f"{parts[0].name}: '{member.name}' has {produced.stat().st_size} bytes instead "
                    f"of {member.size}; the archive is damaged: delete {parts[0].parent} and run again"
                )
        for member in members:
            final = target / member.name
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(scratch / member.name, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _open(parts: list[Path]) -> py7zr.SevenZipFile:
    if len(parts) == 1:
        return py7zr.SevenZipFile(parts[0], mode="r")
    return py7zr.SevenZipFile(Volumes(parts), mode="r")


def _read_marker(target: Path) -> dict[str, int]:
    try:
        return json.loads((target / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _in_place(target: Path, member: Member, done: dict[str, int]) -> bool:
    path = target / member.name
    return done.get(member.name) == member.size and path.is_file() and path.stat().st_size == member.size


_ARCHIVE_ERRORS = (
    py7zr.exceptions.ArchiveError,
    lzma.LZMAError,
    zlib.error,
    EOFError,
    ValueError,
    KeyError,
)


def _corrupt(first_part: Path, exc: Exception) -> ArchiveError:
    return ArchiveError(
        f"{first_part.name} cannot be read ({type(exc).__name__}: {exc}); the archive is damaged "
        f"or incomplete: delete {first_part.parent} and run again"
    )
