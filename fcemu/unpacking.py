"""Unpacking a code zip into a new directory, within limits: function code and layers.

Every member is checked before anything is written (:func:`plan`: member names,
``..`` and absolute paths, duplicates, ``a`` + ``a/b.py`` conflicts, members under a
symbolic link, the entry count), then :func:`unpack` writes the files counting the
bytes actually written, never the sizes the zip's headers declare, so a zip bomb
stops at the limit; a symbolic link is kept only when it points inside the directory.

Limits: FC documents none on the unpacked size, so fcemu caps it at
:data:`MAX_UNZIPPED_BYTES` and :data:`MAX_ENTRIES` (docs/fidelity.md). Going over one,
or over the zip's own limit (:data:`fcemu.code.MAX_ZIP_BYTES`), is a
:class:`CodeSizeExceeded`.
"""

from __future__ import annotations

import io
import lzma
import os
import posixpath
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fcemu.errors import EntityTooLarge, FcError, InvalidArgument

#: fcemu's cap on the bytes a package unpacks to (FC documents none): 500 MB, the largest
#: package FC takes by any route (console, tools, OSS: FC 3.0 "Limits",
#: https://www.alibabacloud.com/help/en/functioncompute/fc-3-0/product-overview/
#: limits-of-usage).
MAX_UNZIPPED_BYTES = 500 * 1024 * 1024
#: fcemu's cap on the members of one package (files, directories and links).
MAX_ENTRIES = 100_000
#: The longest symbolic-link target read from a zip (Linux PATH_MAX).
_MAX_LINK_TARGET = 4096
_CHUNK = 1024 * 1024
#: What ``zipfile`` raises on a damaged or unsupported archive (never on a good one).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError, EOFError,
               NotImplementedError, RuntimeError, ValueError, struct.error, OverflowError)


class CodeSizeExceeded(EntityTooLarge):
    """400 ``EntityTooLarge``: the code package, or what it unpacks to, is over a limit."""

    def __init__(self, message: str) -> None:
        FcError.__init__(self, message)


@dataclass(frozen=True)
class _Plan:
    """What a zip holds, checked: relative POSIX paths of each kind."""

    dirs: list[str]
    files: list[tuple[str, zipfile.ZipInfo]]
    links: list[tuple[str, zipfile.ZipInfo]]


def _member_path(info: zipfile.ZipInfo) -> tuple[str, bool]:
    """A member's path relative to the code directory, and whether it names a directory."""
    raw = info.filename.replace("\\", "/")  # names from Windows tools, read as unzip does
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise InvalidArgument(f"code.zipFile member {info.filename!r} is an absolute path")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArgument(f"code.zipFile member {info.filename!r} escapes the code "
                              "directory ('..')")
    return "/".join(parts), raw.endswith("/") or info.is_dir()


def plan(infos: Iterable[zipfile.ZipInfo], max_entries: int | None = None) -> _Plan:
    """Check every member before anything is written: paths, duplicates, file/directory
    conflicts (``a`` and ``a/b.py``), members under a symbolic link, the entry count."""
    limit = MAX_ENTRIES if max_entries is None else max_entries
    dirs: set[str] = set()
    files: dict[str, zipfile.ZipInfo] = {}
    links: dict[str, zipfile.ZipInfo] = {}
    for count, info in enumerate(infos, 1):
        if count > limit:
            raise CodeSizeExceeded(f"code.zipFile has more than {limit} members (fcemu's "
                                   "limit on the entries of a code package)")
        path, is_dir = _member_path(info)
        parents = path.split("/")[:-1]
        dirs.update("/".join(parents[:i]) for i in range(1, len(parents) + 1))
        if is_dir:
            if path:
                dirs.add(path)
            continue
        if not path:
            raise InvalidArgument(f"code.zipFile member {info.filename!r} has no file name")
        if path in files or path in links:
            raise InvalidArgument(f"code.zipFile holds {path!r} twice")
        is_link = stat.S_ISLNK(info.external_attr >> 16)
        (links if is_link else files)[path] = info
    for path in sorted(dirs & (files.keys() | links.keys())):
        if path in links:
            raise InvalidArgument(f"code.zipFile: {path!r} is a symbolic link and the zip also "
                                  "holds members under it")
        raise InvalidArgument(f"code.zipFile: {path!r} is both a file and a directory")
    return _Plan(sorted(dirs), sorted(files.items()), sorted(links.items()))


class _Budget:
    """Bytes written so far against the unpacked-size limit."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0

    def spend(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise CodeSizeExceeded(
                f"code.zipFile unpacks to more than {self.limit} bytes (fcemu's limit on "
                "unpacked code; FC documents none)")


def unpack(data: bytes, dest: Path, *, max_bytes: int | None = None,
           max_entries: int | None = None) -> int:
    """Extract a zip into the new directory ``dest``; the bytes written.

    Raises InvalidArgument (bad names, conflicts, escaping links, a damaged zip) or
    :class:`CodeSizeExceeded`, leaving ``dest`` for the caller to remove.
    """
    budget = _Budget(MAX_UNZIPPED_BYTES if max_bytes is None else max_bytes)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            checked = plan(archive.infolist(), max_entries)
            dest.mkdir()
            for path in checked.dirs:
                (dest / path).mkdir(parents=True, exist_ok=True)
            for path, info in checked.files:
                _write(archive, info, dest / path, budget)
            for path, info in checked.links:
                _link(archive, info, dest, path, budget)
    except _ZIP_ERRORS as exc:
        raise InvalidArgument(f"code.zipFile is not a valid zip archive: {exc}") from None
    return budget.used


def _chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterable[bytes]:
    with archive.open(info) as member:
        while True:
            try:
                chunk = member.read(_CHUNK)
            except OSError as exc:  # e.g. a damaged bzip2 stream
                raise InvalidArgument(f"code.zipFile member {info.filename!r} cannot be "
                                      f"read: {exc}") from None
            if not chunk:
                return
            yield chunk


def _write(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path,
           budget: _Budget) -> None:
    mode = (info.external_attr >> 16) & 0o777
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                 (mode or 0o644) | 0o400)
    with os.fdopen(fd, "wb") as out:
        for chunk in _chunks(archive, info):
            budget.spend(len(chunk))
            out.write(chunk)


def _link(archive: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path, path: str,
          budget: _Budget) -> None:
    """A symbolic link, kept only when it points inside the code directory."""
    raw = b"".join(_limited(_chunks(archive, info), _MAX_LINK_TARGET, info.filename))
    budget.spend(len(raw))
    try:
        target = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument(f"code.zipFile: symbolic link {path!r} has a target that is "
                              "not UTF-8") from None
    lexical = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if not target or "\0" in target or target.startswith("/") or lexical.split("/")[0] == "..":
        raise InvalidArgument(f"code.zipFile: symbolic link {path!r} -> {target!r} points "
                              "outside the code directory")
    link = root / path
    os.symlink(target, link)
    resolved, base = os.path.realpath(link), os.path.realpath(root)
    if resolved != base and not resolved.startswith(base + os.sep):
        raise InvalidArgument(f"code.zipFile: symbolic link {path!r} -> {target!r} resolves "
                              "outside the code directory")


def _limited(chunks: Iterable[bytes], limit: int, name: str) -> Iterable[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise InvalidArgument(f"code.zipFile: symbolic link {name!r} has a target longer "
                                  f"than {limit} bytes")
        yield chunk
