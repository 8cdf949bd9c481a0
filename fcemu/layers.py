"""Layers: layer ARNs, the checked input of CreateLayerVersion, and merging a function's
layers into the one directory its instances see at ``/opt``.

A function's ``layers`` are layer version ARNs. Each is a version created in the
emulator (CreateLayerVersion, unpacked like function code), or an ARN mapped to a
local folder or ``.zip`` file (``Settings.layer_map``: public and official layers
cannot be downloaded). FC merges a function's layers into ``/opt`` in reverse order,
so a file of a layer listed earlier overwrites the same file of a layer listed later
(docs/fidelity.md); :func:`merge` does the same, copying each layer into a new
directory (blocking work: the engine runs it on a worker thread for the API).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fcemu import code
from fcemu.checks import check_string
from fcemu.errors import FcError, InvalidArgument, LayerVersionNotFound
from fcemu.models import LAYER_ARN
from fcemu.unpacking import unpack

__all__ = ["LAYER_NAME", "MAX_LAYERS", "LayerArn", "LayerSpec", "check_layer_name", "merge",
           "not_found", "unmapped"]

#: FC: "A function can be configured with a maximum of five layers" (docs/fidelity.md).
MAX_LAYERS = 5
#: Layer names: letters, digits, ``_`` and ``-``, 1 to 64 characters (docs/fidelity.md).
LAYER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: How to give fcemu a layer it cannot download, for error messages.
HOW_TO_MAP = ("map the ARN to a local folder or .zip holding the layer's content: "
              "'fcemu serve --layer {arn}=PATH', 'settings: layers: {{\"{arn}\": PATH}}' in "
              "fcemu.yaml, or Emulator(layer_map={{\"{arn}\": PATH}})")


def check_layer_name(name: str) -> str:
    """A layer name; 400 naming the rule when it breaks it."""
    if not LAYER_NAME.match(name):
        raise InvalidArgument(f"layerName {name!r} is invalid: use 1 to 64 letters, digits, "
                              "'_' or '-'")
    return name


@dataclass(frozen=True)
class LayerArn:
    """A layer version ARN, read: ``acs:fc:{region}:{accountId}:layers/{name}/versions/{n}``."""

    arn: str
    region: str
    account: str
    name: str
    version: int

    @classmethod
    def parse(cls, arn: object, what: str = "layer ARN") -> LayerArn:
        """Read ``arn``; 400 naming the expected form when it is not one."""
        match = LAYER_ARN.match(arn) if isinstance(arn, str) else None
        if match is None:
            raise InvalidArgument(f"{what} {arn!r} is not a layer version ARN: expected "
                                  "acs:fc:<region>:<accountId>:layers/<layerName>/versions/<n>")
        region, account, name, version = match.groups()
        return cls(str(arn), region, account, name, int(version))


def not_found(arn: str) -> LayerVersionNotFound:
    """The ARN of a layer version that does not exist here (a deleted or never created one)."""
    return LayerVersionNotFound(
        f"layer version {arn} does not exist: create it with CreateLayerVersion, or "
        + HOW_TO_MAP.format(arn=arn))


def unmapped(arn: str) -> LayerVersionNotFound:
    """A layer of another account or an official one, that no local path stands for."""
    return LayerVersionNotFound(
        f"layer {arn} is not available locally (fcemu cannot download public or official "
        "layers, nor layers of other accounts): " + HOW_TO_MAP.format(arn=arn))


@dataclass(frozen=True)
class LayerSpec:
    """``CreateLayerVersionInput``, checked: the code zip (Base64), the compatible runtimes,
    the description and the license."""

    zip_file: str
    compatible_runtime: tuple[str, ...] = ()
    description: str = ""
    license: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.zip_file, str) or not self.zip_file:
            raise InvalidArgument("code.zipFile is required: the layer's content as a "
                                  "base64-encoded zip file")
        runtimes = self.compatible_runtime
        if isinstance(runtimes, str) or not isinstance(runtimes, Iterable):
            raise InvalidArgument("compatibleRuntime must be a list of runtime names, e.g. "
                                  "[\"python3.10\"]")
        runtimes = tuple(runtimes)
        for runtime in runtimes:
            if not isinstance(runtime, str) or not runtime:
                raise InvalidArgument("compatibleRuntime must be a list of runtime names, "
                                      f"e.g. [\"python3.10\"], got {runtime!r}")
            check_string(runtime, "compatibleRuntime", max_len=64, min_len=1)
        object.__setattr__(self, "compatible_runtime", runtimes)
        check_string(self.description, "description", max_len=256)
        check_string(self.license, "license", max_len=256)


# -- merging ------------------------------------------------------------------------------

def merge(layers: Sequence[tuple[str, Path]], dest: Path) -> None:
    """Merge ``(ARN, folder or .zip)`` layers into the new directory ``dest`` as FC does:
    the last layer first, so that the first one's files win (blocking). Raises an
    :class:`InvalidArgument` naming the ARN and path of a layer that cannot be read,
    leaving nothing behind."""
    dest.mkdir()
    try:
        for arn, source in reversed(layers):
            try:
                _add(source, dest)
            except FcError as exc:
                raise InvalidArgument(f"layer {arn} ({source}): {exc.message}") from None
            except OSError as exc:
                raise InvalidArgument(f"layer {arn} ({source}) cannot be read: "
                                      f"{exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _add(source: Path, dest: Path) -> None:
    if source.is_dir():
        _overlay(source, dest)
        return
    if not source.is_file():
        raise InvalidArgument("the path does not exist (expected a folder or a .zip file)")
    stage = dest.with_name(dest.name + ".unzip")
    try:
        data = source.read_bytes()
        try:
            unpack(data, stage)
        except InvalidArgument as exc:
            raise InvalidArgument(exc.message.replace("code.zipFile", "the zip")) from None
        _overlay(stage, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _overlay(source: Path, dest: Path) -> None:
    """Copy the tree ``source`` onto ``dest``; what ``source`` holds replaces what is there
    (a file replaces a directory and the other way round; links are copied as links)."""
    for directory, dirs, files in os.walk(source):
        here = Path(directory)
        target = dest / here.relative_to(source)
        for name in list(dirs):
            if name in code.SKIP_IN_CODE:
                dirs.remove(name)
            elif (here / name).is_symlink():
                dirs.remove(name)
                files.append(name)
            else:
                path = target / name
                if path.is_symlink() or (path.exists() and not path.is_dir()):
                    _remove(path)
                path.mkdir(exist_ok=True)
        for name in files:
            if name in code.SKIP_IN_CODE:
                continue
            path = target / name
            if path.is_symlink() or path.exists():
                _remove(path)
            shutil.copy2(here / name, path, follow_symlinks=False)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
