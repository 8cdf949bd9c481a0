"""Function code: the one zip builder, decoding a ``code.zipFile`` within FC's limit, the
store of unpacked packages, and the code checksum.

A package is decoded and checked against FC's limit on an API upload, then unpacked
(:mod:`fcemu.unpacking`: checked member by member before anything is written, the
bytes written counted against fcemu's caps, so a zip bomb stops at the limit).
Unpacking is blocking work: :class:`CodeStore` runs it on a worker thread for callers
on the event loop, and removes a package's directory once nothing uses it.

Limits: a Base64 ZIP uploaded through the API may hold at most 100 MB
(:data:`MAX_ZIP_BYTES`, FC 3.0 "Limits"); FC documents no limit on the unpacked
size, so fcemu caps it (:data:`fcemu.unpacking.MAX_UNZIPPED_BYTES` and
:data:`~fcemu.unpacking.MAX_ENTRIES`, docs/fidelity.md).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fcemu.errors import InvalidArgument
from fcemu.unpacking import CodeSizeExceeded, unpack

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
#: Directory and file names never put in a zip built from a code directory.
SKIP_IN_CODE = frozenset({"__pycache__", ".git", ".hg", ".svn", ".DS_Store", ".s"})


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


# -- decoding -------------------------------------------------------------------------


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
