"""Function code: unpacking a ``code.zipFile`` into a private directory, and its checksum."""

from __future__ import annotations

import base64
import binascii
import io
import zipfile
from pathlib import Path

from fcemu.errors import InvalidArgument

_CRC64_POLY = 0xC96C5795D7870F42  # CRC-64/XZ (ECMA-182, reflected), as OSS and FC report
_CRC64_TABLE: list[int] = []
for _i in range(256):
    _crc = _i
    for _ in range(8):
        _crc = (_crc >> 1) ^ _CRC64_POLY if _crc & 1 else _crc >> 1
    _CRC64_TABLE.append(_crc)

#: FC's limit on a zipFile upload (500 MB) is far above what a test ships; keep a sane cap.
MAX_ZIP_BYTES = 100 * 1024 * 1024


def crc64(data: bytes) -> str:
    """``codeChecksum``: the CRC-64 of the zip bytes, as a decimal string."""
    crc = 0xFFFFFFFFFFFFFFFF
    table = _CRC64_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return str(crc ^ 0xFFFFFFFFFFFFFFFF)


def decode_zip(zip_file_b64: str) -> bytes:
    """The zip bytes of a ``code.zipFile``; a 400 naming the problem when it is not one."""
    try:
        data = base64.b64decode(zip_file_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("code.zipFile is not valid base64") from None
    if len(data) > MAX_ZIP_BYTES:
        raise InvalidArgument(f"code.zipFile is larger than {MAX_ZIP_BYTES} bytes")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise InvalidArgument("code.zipFile does not hold a zip archive")
    return data


def unpack(data: bytes, dest: Path) -> None:
    """Extract a zip into ``dest``, refusing members that would land outside it."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.infolist():
            target = (dest / member.filename).resolve()
            if root != target and root not in target.parents:
                raise InvalidArgument(f"code.zipFile member {member.filename!r} escapes the code "
                                      "directory")
        archive.extractall(dest)
