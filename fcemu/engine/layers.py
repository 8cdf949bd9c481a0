"""The engine's layer operations: CreateLayerVersion, GetLayerVersion(ByArn), ListLayers,
ListLayerVersions, DeleteLayerVersion and PutLayerACL, and the merge of a function's
``layers`` into its ``/opt`` directory at CreateFunction / UpdateFunction.

A mixin of :class:`fcemu.engine.Engine`; the state below is rebuilt empty at each
reset (:meth:`_build_layers`). A layer version's code is unpacked into the engine's
:class:`~fcemu.code.CodeStore`, as function code is; so is each function's merged
``/opt`` (``Function.opt_dir``), a copy of its layers, which a deleted layer version
leaves as it is. Versions of a layer are numbered 1, 2, 3… and a number is never
used twice, even after a delete. ARNs not created here resolve through the layer map
(``Settings.layer_map`` and :meth:`map_layers`: ARN → local folder or ``.zip``).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fcemu.errors import InvalidArgument, LayerNotFound, LayerVersionNotFound
from fcemu.layers import (
    MAX_LAYERS,
    LayerArn,
    LayerSpec,
    check_layer_name,
    merge,
    not_found,
    unmapped,
)
from fcemu.models import LayerVersion

if TYPE_CHECKING:
    from fcemu.clock import ManualClock, RealClock
    from fcemu.code import CodeStore, Package
    from fcemu.scheduler import Scheduler
    from fcemu.settings import Settings


class LayerOperations:
    """Layer versions, and the layers of functions (see the module docstring)."""

    settings: Settings
    clock: RealClock | ManualClock
    code: CodeStore
    scheduler: Scheduler

    def _build_layers(self) -> None:
        #: layer name → version → LayerVersion
        self.layer_versions: dict[str, dict[int, LayerVersion]] = {}
        #: layer name → the last version number given (never reused)
        self._layer_last: dict[str, int] = {}
        #: layer name → its ACL ("0" private, "1" public)
        self._layer_acl: dict[str, str] = {}
        #: ARN → local folder or zip, besides ``settings.layer_map`` (deployment files)
        self._layer_map: dict[str, Path] = {}

    # -- CreateLayerVersion … PutLayerACL ---------------------------------------------------

    def layer_version_arn(self, layer_name: str, version: int) -> str:
        s = self.settings
        return f"acs:fc:{s.region}:{s.account_id}:layers/{layer_name}/versions/{version}"

    def create_layer_version(self, layer_name: str, spec: LayerSpec, *,
                             package: Package | None = None) -> LayerVersion:
        """CreateLayerVersion: the next version of ``layer_name`` (1 for a new layer), its
        code unpacked on this thread unless ``package`` holds it already."""
        try:
            check_layer_name(layer_name)
            if package is None:
                package = self.code.prepare(f"layer-{layer_name}", spec.zip_file)
            if not self.code.owns(package):
                raise InvalidArgument("the emulator was reset while the layer's code was "
                                      "unpacked; create the layer version again")
        except BaseException:
            self.code.discard(package)
            raise
        version = self._layer_last.get(layer_name, 0) + 1
        self._layer_last[layer_name] = version
        layer = LayerVersion(
            layer_name=layer_name, version=version,
            arn=self.layer_version_arn(layer_name, version), created_ms=self.clock.now_ms(),
            code_dir=package.path, code_size=package.size, code_checksum=package.checksum,
            description=spec.description, license=spec.license,
            compatible_runtime=list(spec.compatible_runtime),
            acl=self._layer_acl.get(layer_name, "0"))
        self.layer_versions.setdefault(layer_name, {})[version] = layer
        return layer

    async def create_layer_version_async(self, layer_name: str,
                                         spec: LayerSpec) -> LayerVersion:
        """CreateLayerVersion with the code unpacked on a worker thread."""
        check_layer_name(layer_name)
        package = await self.code.prepare_async(f"layer-{layer_name}", spec.zip_file)
        return self.create_layer_version(layer_name, spec, package=package)

    def get_layer_version(self, layer_name: str, version: int) -> LayerVersion:
        """GetLayerVersion: 404 ``LayerNotFound`` / ``LayerVersionNotFound``."""
        versions = self.layer_versions.get(layer_name)
        if not versions:
            raise LayerNotFound(layer_name)
        layer = versions.get(version)
        if layer is None:
            raise LayerVersionNotFound(f"version {version} of layer '{layer_name}' does not "
                                       "exist")
        return layer

    def get_layer_version_by_arn(self, arn: str) -> LayerVersion:
        """GetLayerVersionByArn: a version created here (mapped ARNs are not layer versions)."""
        parsed = LayerArn.parse(arn)
        if not self._own(parsed):
            raise LayerVersionNotFound(f"layer version {arn} does not exist: fcemu holds only "
                                       "the layer versions created in it, in region "
                                       f"{self.settings.region}, account "
                                       f"{self.settings.account_id}")
        return self.get_layer_version(parsed.name, parsed.version)

    def list_layers(self, prefix: str = "", limit: int = 20, next_token: str = "", *,
                    public: bool | None = None,
                    official: bool | None = None) -> tuple[list[LayerVersion], str]:
        """ListLayers: the latest version of each layer, by name from ``next_token`` on.
        ``official``: fcemu holds no official layers; ``public``: layers whose ACL is 1."""
        if official:
            return [], ""
        names = sorted(n for n, versions in self.layer_versions.items()
                       if versions and n.startswith(prefix) and n >= next_token
                       and (not public or self._layer_acl.get(n) == "1"))
        page = [self._latest(n) for n in names[:limit]]
        return page, names[limit] if len(names) > limit else ""

    def list_layer_versions(self, layer_name: str, start_version: int = 1,
                            limit: int = 20) -> tuple[list[LayerVersion], int | None]:
        """ListLayerVersions: versions from ``start_version`` up, and the next version to
        ask for when there are more (404 ``LayerNotFound`` for a layer without versions)."""
        versions = self.layer_versions.get(layer_name)
        if not versions:
            raise LayerNotFound(layer_name)
        numbers = sorted(v for v in versions if v >= start_version)
        page = [versions[v] for v in numbers[:limit]]
        return page, numbers[limit] if len(numbers) > limit else None

    def delete_layer_version(self, layer_name: str, version: int) -> None:
        """DeleteLayerVersion: gone from the API; functions keep the copy at their /opt."""
        layer = self.get_layer_version(layer_name, version)
        versions = self.layer_versions[layer_name]
        del versions[version]
        if not versions:
            del self.layer_versions[layer_name]
        self.scheduler.spawn(self.code.remove(layer.code_dir),
                             name=f"discard layer {layer_name}:{version}")

    def put_layer_acl(self, layer_name: str, acl: str | None = None,
                      public: bool | None = None) -> None:
        """PutLayerACL: ``acl`` "0" (private) or "1" (public), or ``public`` true/false, for
        every version of the layer."""
        if acl is None and public is None:
            raise InvalidArgument("acl is required: 0 (private) or 1 (public)")
        if acl is not None and acl not in ("0", "1"):
            raise InvalidArgument(f"acl must be 0 (private) or 1 (public), got {acl!r}")
        value = acl if acl is not None else ("1" if public else "0")
        versions = self.layer_versions.get(layer_name)
        if not versions:
            raise LayerNotFound(layer_name)
        self._layer_acl[layer_name] = value
        for layer in versions.values():
            layer.acl = value

    # -- the layers of functions ------------------------------------------------------------

    def map_layers(self, mapping: Mapping[str, Path]) -> None:
        """Resolve these layer ARNs to local folders or zips from now on (deployment files;
        ``Settings.layer_map`` holds the others). Until the next reset."""
        for arn, path in mapping.items():
            LayerArn.parse(arn)
            self._layer_map[arn] = Path(path)

    def merge_layers(self, function_name: str, arns: Any,
                     runtime: str | None) -> Path | None:
        """A function's ``layers`` merged into a new directory of the code store (None for
        no layers), on this thread; 404 ``LayerVersionNotFound`` naming an ARN that is
        neither created here nor mapped, and how to map it."""
        layers = self._layer_sources(arns, runtime)
        if not layers:
            return None
        dest = self.code.reserve(f"{function_name}-opt")
        merge(layers, dest)
        return dest

    async def merge_layers_async(self, function_name: str, arns: Any,
                                 runtime: str | None) -> Path | None:
        """:meth:`merge_layers` with the copying on a worker thread."""
        layers = self._layer_sources(arns, runtime)
        if not layers:
            return None
        dest = self.code.reserve(f"{function_name}-opt")
        await self.code.run_async(lambda: merge(layers, dest))
        return dest

    def layer_sizes(self, arns: Any) -> dict[str, int]:
        """``FunctionLayer.size`` by ARN, where a package size is known: a version created
        here (its ``codeSize``) or a layer mapped to a .zip file (a folder has none)."""
        mapped = {**dict(self.settings.layer_map), **self._layer_map}
        sizes = {}
        for arn in arns if isinstance(arns, list) else ():
            if arn in mapped:
                if mapped[arn].is_file():
                    sizes[arn] = mapped[arn].stat().st_size
                continue
            parsed = LayerArn.parse(arn)
            layer = self.layer_versions.get(parsed.name, {}).get(parsed.version)
            if layer is not None:
                sizes[arn] = layer.code_size
        return sizes

    def discard_layers(self, opt_dir: Path | None) -> None:
        """Remove a merged directory that was never installed."""
        if opt_dir is not None:
            shutil.rmtree(opt_dir, ignore_errors=True)

    def _layer_sources(self, arns: Any, runtime: str | None) -> list[tuple[str, Path]]:
        if not arns:
            return []
        if not isinstance(arns, list):
            raise InvalidArgument("layers must be a list of layer version ARNs")
        if len(arns) > MAX_LAYERS:
            raise InvalidArgument(f"layers: a function can have at most {MAX_LAYERS} layers, "
                                  f"got {len(arns)}")
        mapped = {**dict(self.settings.layer_map), **self._layer_map}
        sources: list[tuple[str, Path]] = []
        for arn in arns:
            parsed = LayerArn.parse(arn, "layers:")
            if any(arn == seen for seen, _ in sources):
                raise InvalidArgument(f"layers: {arn} is listed twice")
            if arn in mapped:
                sources.append((arn, mapped[arn]))
                continue
            if not self._own(parsed):
                raise unmapped(arn)
            layer = self.layer_versions.get(parsed.name, {}).get(parsed.version)
            if layer is None:
                raise not_found(arn)
            if layer.compatible_runtime and runtime not in layer.compatible_runtime:
                raise InvalidArgument(f"runtime: {runtime} is not supported by layer:{arn} "
                                      "(its compatibleRuntime is "
                                      f"{', '.join(layer.compatible_runtime)})")
            sources.append((arn, layer.code_dir))
        return sources

    def _own(self, arn: LayerArn) -> bool:
        return (arn.region, arn.account) == (self.settings.region, self.settings.account_id)

    def _latest(self, layer_name: str) -> LayerVersion:
        versions = self.layer_versions[layer_name]
        return versions[max(versions)]
