"""Function code: the one zip builder, unpacking a ``code.zipFile`` within FC's limits, the
store of unpacked packages, and the code checksum.

A package is checked before anything is written (member names, ``a`` + ``a/b.py``
conflicts, symbolic links), then unpacked counting the bytes actually written, never
the sizes the zip's headers declare, so a zip bomb stops at the limit. Unpacking is
blocking work: :class:`CodeStore` runs it on a worker thread for callers on the
event loop, and removes a package's directory once nothing uses it.

Limits: a Base64 ZIP uploaded through the API may hold at most 100 MB
(:data:`MAX_ZIP_BYTES`, FC 3.0 "Limits"); FC documents no limit on the unpacked
size, so fcemu caps it at :data:`MAX_UNZIPPED_BYTES` and :data:`MAX_ENTRIES`
(docs/fidelity.md).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import lzma
import os
import posixpath
import shutil
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fcemu.errors import EntityTooLarge, FcError, InvalidArgument

_T = TypeVar("_T")

_CRC64_POLY = 0xC96C5795D7870F42  # CRC-64/XZ (ECMA-182, reflected), as OSS and FC report
_CRC64_TABLE: list[int] = []
for _i in range(256):
    _crc = _i
    for _ in range(8):
        _crc = (_crc >> 1) ^ _CRC64_POLY if _crc & 1 else _crc >> 1
    _CRC64_TABLE.append(_crc)

#: FC 3.0: "Size of a code package (Base64-encoded ZIP file uploaded through an SDK or API
#: operation): 100 MB" (https://www.alibabacloud.com/help/en/functioncompute/fc-3-0/
#: product-overview/limits-of-usage). Counted on the zip bytes.
MAX_ZIP_BYTES = 100 * 1024 * 1024
#: fcemu's cap on the bytes a package unpacks to (FC documents none): 500 MB, the largest
#: package FC takes by any route (console, tools, OSS), same page.
MAX_UNZIPPED_BYTES = 500 * 1024 * 1024
#: fcemu's cap on the members of one package (files, directories and links).
MAX_ENTRIES = 100_000
#: The longest symbolic-link target read from a zip (Linux PATH_MAX).
_MAX_LINK_TARGET = 4096
_CHUNK = 1024 * 1024
#: What ``zipfile`` raises on a damaged or unsupported archive (never on a good one).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError, EOFError,
               NotImplementedError, RuntimeError, ValueError, struct.error, OverflowError)
#: Directory and file names never put in a zip built from a code directory.
SKIP_IN_CODE = frozenset({"__pycache__", ".git", ".hg", ".svn", ".DS_Store", ".s"})


class CodeSizeExceeded(EntityTooLarge):
    """400 ``EntityTooLarge``: the code package, or what it unpacks to, is over a limit."""

    def __init__(self, message: str) -> None:
        FcError.__init__(self, message)


def crc64(data: bytes) -> str:
    """``codeChecksum``: the CRC-64 of the zip bytes, as a decimal string."""
    crc = 0xFFFFFFFFFFFFFFFF
    table = _CRC64_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return str(crc ^ 0xFFFFFFFFFFFFFFFF)


# -- building -------------------------------------------------------------------------


def code_files(root: Path) -> list[Path]:
    """The files of a code directory, in a stable order (VCS, caches and ``.pyc`` skipped;
    symbolic links to directories are not followed)."""
    files = []
    for directory, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_IN_CODE)
        files += [Path(directory, n) for n in sorted(names)
                  if n not in SKIP_IN_CODE and not n.endswith(".pyc")]
    return files


def zip_code(path: Path) -> bytes:
    """A code directory as zip bytes (deterministic: same files, same bytes), or a .zip file.

    Raises ValueError naming the problem (missing, empty, not a zip).
    """
    if path.is_file():
        data = path.read_bytes()
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise ValueError(f"{path} is not a directory or a .zip file")
        return data
    if not path.is_dir():
        raise ValueError(f"{path} does not exist (expected a code directory or .zip file)")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in code_files(path):
            info = zipfile.ZipInfo(file.relative_to(path).as_posix(), (1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | (file.stat().st_mode & 0o777)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, file.read_bytes())
    if not archive.filelist:
        raise ValueError(f"code directory {path} is empty")
    return buffer.getvalue()


def zip_code_base64(path: Path) -> str:
    """A ``code.zipFile`` value: :func:`zip_code` of ``path``, Base64-encoded."""
    return base64.b64encode(zip_code(path)).decode()


# -- checking and unpacking -----------------------------------------------------------


def decode_zip(zip_file_b64: str, max_bytes: int | None = None) -> bytes:
    """The zip bytes of a ``code.zipFile``; a 400 naming the problem when it is not one."""
    limit = MAX_ZIP_BYTES if max_bytes is None else max_bytes
    if len(zip_file_b64) > (limit + 2) // 3 * 4:  # refuse before decoding what cannot fit
        raise _zip_too_large(len(zip_file_b64) * 3 // 4, limit)
    try:
        data = base64.b64decode(zip_file_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("code.zipFile is not valid base64") from None
    if len(data) > limit:
        raise _zip_too_large(len(data), limit)
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise InvalidArgument("code.zipFile does not hold a zip archive")
    return data


def _zip_too_large(size: int, limit: int) -> CodeSizeExceeded:
    return CodeSizeExceeded(
        f"Code size exceeds the maximum allowed length (max: {limit}, actual: '{size}'): "
        "code.zipFile is the zip, Base64-encoded, and FC takes at most that many bytes of "
        "it through the API")


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


# -- the store ------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """A code package unpacked into its own directory."""

    path: Path
    #: the zip's size (``codeSize``) and CRC-64 (``codeChecksum``)
    size: int
    checksum: str
    unpacked_bytes: int


def prepare(zip_file_b64: str, dest: Path) -> Package:
    """Decode, check and unpack a ``code.zipFile`` into ``dest`` (blocking); on any
    failure nothing is left behind."""
    try:
        data = decode_zip(zip_file_b64)
        unpacked = unpack(data, dest)
        kept = package_zip(dest)  # GetFunctionCode serves the package as it was sent
        kept.parent.mkdir(exist_ok=True)
        kept.write_bytes(data)
        return Package(dest, len(data), crc64(data), unpacked)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        package_zip(dest).unlink(missing_ok=True)
        raise


def package_zip(path: Path) -> Path:
    """The zip file a package directory was unpacked from, kept in a sibling of the
    store's root (``<root>.zips/<package>.zip``: the root holds package directories only)."""
    return path.parent.with_name(path.parent.name + ".zips") / (path.name + ".zip")


class CodeStore:
    """The directories of one engine's unpacked packages, under a private root.

    :meth:`prepare` unpacks on the calling thread; :meth:`prepare_async` on a worker
    thread, so that the event loop keeps serving. :meth:`close` waits for unpacks
    in flight, then removes everything.
    """

    def __init__(self, data_dir: Path | None) -> None:
        self._data_dir = data_dir
        self._root: Path | None = None
        self._seq = 0
        self._pending: set[asyncio.Future[Any]] = set()

    @property
    def root(self) -> Path:
        """The private root directory, made on first use: a reset or a snapshot restore
        that unpacks nothing creates and removes no directory (issue 17)."""
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="fcemu-code-", dir=self._data_dir))
        return self._root

    def _dest(self, function_name: str) -> Path:
        self._seq += 1
        return self.root / f"{function_name}-{self._seq}"

    def prepare(self, function_name: str, zip_file_b64: str) -> Package:
        """Unpack now, on this thread."""
        return prepare(zip_file_b64, self._dest(function_name))

    async def prepare_async(self, function_name: str, zip_file_b64: str) -> Package:
        """Unpack on a worker thread; the loop is free meanwhile."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, prepare, zip_file_b64, self._dest(function_name))
        self._pending.add(future)
        try:
            return await future
        finally:
            self._pending.discard(future)

    def reserve(self, label: str) -> Path:
        """A fresh path in this store (not created yet) for other unpacked content, e.g. a
        layer version or a function's merged layers; :meth:`remove` and :meth:`close`
        remove it like a package."""
        return self._dest(label)

    async def run_async(self, work: Callable[[], _T]) -> _T:
        """Blocking work on this store's directories, on a worker thread (:meth:`close`
        waits for it)."""
        future = asyncio.get_running_loop().run_in_executor(None, work)
        self._pending.add(future)
        try:
            return await future
        finally:
            self._pending.discard(future)

    def owns(self, package: Package) -> bool:
        """Whether ``package`` lives in this store (not in one a reset removed)."""
        return (self._root is not None and package.path.parent == self._root
                and package.path.is_dir())

    async def remove(self, path: Path | None) -> None:
        """Remove a package directory nothing uses any more (on a worker thread)."""
        if path is not None and self._root is not None and path.parent == self._root:
            await asyncio.get_running_loop().run_in_executor(None, _remove_package, path)

    def discard(self, package: Package | None) -> None:
        """Remove a package that was never installed."""
        if package is not None:
            _remove_package(package.path)

    async def close(self) -> None:
        """Wait for unpacks in flight, then remove every package and its zip."""
        if self._pending:
            await asyncio.wait(list(self._pending))
        root = self._root
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(root.with_name(root.name + ".zips"), ignore_errors=True)


def _remove_package(path: Path) -> None:
    """A package directory and its zip."""
    shutil.rmtree(path, ignore_errors=True)
    package_zip(path).unlink(missing_ok=True)
