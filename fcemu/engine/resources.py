"""The engine's resource operations of issue 14's fidelity gaps 6 and 7 (docs/fidelity.md):

- ListInstances on FC's own route: the handler instances of a function alive now,
  filtered and paged as FC's ListInstances query asks (:class:`ResourceOperations`);
- ListFunctions' filters and the tag operations TagResources, UntagResources and
  ListTagResources, on the tags functions carry (:class:`TagOperations`);
- GetFunctionCode: the package's checksum and a signed URL the emulator serves the
  package from, as sent in ``code.zipFile`` (:class:`CodeOperations`).

Mixins of :class:`fcemu.engine.Engine`; the engine owns the state declared in each.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fcemu.code import package_zip
from fcemu.errors import AccessDenied, InvalidArgument
from fcemu.models import LATEST

if TYPE_CHECKING:
    from fcemu.engine.control import Runner
    from fcemu.models import Alias, Function, Version

#: ``InstanceInfo.status`` of an instance alive now (fcemu lists no destroyed instances).
RUNNING = "Running"


@dataclass(frozen=True)
class InstanceInfo:
    """One ``InstanceInfo`` of ListInstances."""

    instance_id: str
    qualifier: str
    version_id: str
    status: str


@dataclass(frozen=True)
class InstanceQuery:
    """ListInstances' query: which instances, how many, from where."""

    instance_ids: Sequence[str] = ()
    statuses: Sequence[str] = ()
    limit: int = 1000
    start_key: str = ""
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    with_all_active: bool = False


class ResourceOperations:
    """ListInstances (see the module docstring)."""

    runtimes: Runner

    if TYPE_CHECKING:  # the engine's (fcemu.engine.functions)
        def _function(self, name: str) -> Function: ...

        def _qualifier(self, function: Function, qualifier: str | None) -> str: ...

        def traffic_versions(self, function: Function, qualifier: str) -> frozenset[str]: ...

    def list_instances(self, name: str, qualifier: str | None = None,
                       query: InstanceQuery | None = None) -> tuple[list[InstanceInfo], str]:
        """ListInstances: the function's instances alive now on the traffic path of
        ``qualifier`` (default LATEST), by instance ID; the next page's ``startKey`` (""
        at the end).

        FC: "the instances returned by ListInstances match the active instances in the
        traffic path of InvokeFunction with the same qualifier": LATEST's instances, a
        version's, or those of an alias's version and its canary version. Every listed
        instance is active (``Running``): fcemu keeps no destroyed instances, so
        ``withAllActive`` lists what a time range does, and ``startTimeMs``/``endTimeMs``
        (checked) keep every instance, each alive now. ``versionId`` is the version the
        instance runs, ``0`` for LATEST (FC's value)."""
        query = query or InstanceQuery()
        function = self._function(name)
        qualifier = self._qualifier(function, qualifier)
        serving = self.traffic_versions(function, qualifier)
        if (query.start_time_ms is not None and query.end_time_ms is not None
                and query.start_time_ms > query.end_time_ms):
            raise InvalidArgument(f"startTimeMs ({query.start_time_ms}) is after endTimeMs "
                                  f"({query.end_time_ms})")
        infos = sorted((InstanceInfo(str(i["instanceId"]), qualifier,
                                     str(i.get("versionId") or "0"), RUNNING)
                        for i in self.runtimes.instances() if i.get("functionName") == name
                        and str(i.get("versionId") or "") in serving),
                       key=lambda info: info.instance_id)
        infos = [info for info in infos
                 if (not query.instance_ids or info.instance_id in query.instance_ids)
                 and (not query.statuses or info.status in query.statuses)
                 and info.instance_id > query.start_key]
        page = infos[:query.limit]
        more = len(infos) > query.limit and query.limit > 0
        return page, page[-1].instance_id if more and page else ""


# -- ListFunctions filters, tags ------------------------------------------------------------

#: FC's limits on tags (Configure tags: docs/fidelity.md).
MAX_TAGS = 20
MAX_TAG_KEY = 64
MAX_TAG_VALUE = 128
#: ``ResourceType`` values naming a function ("ALIYUN::FC::FUNCTION, abbreviated as function").
FUNCTION_TYPES = ("function", "ALIYUN::FC::FUNCTION")


@dataclass(frozen=True)
class FunctionFilter:
    """ListFunctions' filters besides ``prefix``: each given one must hold."""

    runtime: str | None = None
    description: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    fc_version: str | None = None
    gpu_type: str | None = None

    def __call__(self, function: Function) -> bool:
        gpu = function.extra.get("gpuConfig")
        gpu_type = gpu.get("gpuType") if isinstance(gpu, dict) else None
        have = dict(tag_pairs(function))
        return ((self.runtime is None or function.runtime == self.runtime)
                and (self.description is None or function.description == self.description)
                and all(have.get(key) == value for key, value in self.tags)
                and (self.fc_version is None or self.fc_version == "v3")
                and (self.gpu_type is None or gpu_type == self.gpu_type))


@dataclass(frozen=True)
class TagResource:
    """One ``TagResource`` of ListTagResources: a resource and one of its tags."""

    resource_id: str
    resource_type: str
    tag_key: str
    tag_value: str


def tag_pairs(function: Function) -> list[tuple[str, str]]:
    """A function's tags as (key, value), in order (stored as the SDK's ``{Key, Value}``)."""
    pairs = []
    for tag in function.tags:
        key = tag.get("Key", tag.get("key"))
        value = tag.get("Value", tag.get("value", ""))
        if isinstance(key, str):
            pairs.append((key, value if isinstance(value, str) else str(value)))
    return pairs


def check_tag(key: object, value: object) -> tuple[str, str]:
    """A tag FC accepts; InvalidArgument naming what is wrong."""
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_TAG_KEY:
        raise InvalidArgument(f"tag key {key!r}: 1-{MAX_TAG_KEY} characters")
    if key.startswith(("aliyun", "acs:")):
        raise InvalidArgument(f"tag key {key!r} must not start with 'aliyun' or 'acs:'")
    if not isinstance(value, str) or len(value) > MAX_TAG_VALUE:
        raise InvalidArgument(f"tag value {value!r} of {key!r}: at most {MAX_TAG_VALUE} "
                              "characters")
    for text in (key, value):
        if "http://" in text or "https://" in text:
            raise InvalidArgument(f"tag {key!r}: keys and values must not contain http:// or "
                                  "https://")
    return key, value


def check_resource_type(resource_type: str | None) -> str:
    """``ResourceType``: a function (the only taggable resource fcemu has)."""
    if resource_type is None or resource_type in FUNCTION_TYPES:
        return "ALIYUN::FC::FUNCTION"
    raise InvalidArgument(f"ResourceType {resource_type!r} is not supported: use "
                          f"{' or '.join(FUNCTION_TYPES)}")


class TagOperations:
    """TagResources, UntagResources, ListTagResources and ListFunctions' filters, on the
    tags functions carry (CreateFunction's ``tags``)."""

    functions: dict[str, Function]

    if TYPE_CHECKING:  # the engine's (fcemu.engine.functions)
        def _function(self, name: str) -> Function: ...

        def arn(self, function_name: str) -> str: ...

    def function_filter(self, *, runtime: str | None = None, description: str | None = None,
                        tags: Sequence[tuple[str, str]] = (), fc_version: str | None = None,
                        gpu_type: str | None = None) -> FunctionFilter:
        """ListFunctions' filters, checked: ``fcVersion`` is ``v3`` or ``v2`` (fcemu's
        functions are all FC 3.0 ones)."""
        if fc_version not in (None, "v3", "v2"):
            raise InvalidArgument(f"fcVersion must be v3 or v2, got {fc_version!r}")
        return FunctionFilter(runtime, description, tuple(tags), fc_version, gpu_type)

    def _tagged(self, resource_id: str) -> Function:
        """The function a ``ResourceId`` names: its ARN (or its name)."""
        name = resource_id.rpartition(":functions/")[2] if ":functions/" in resource_id \
            else resource_id
        function = self._function(name)
        if ":functions/" in resource_id and resource_id != self.arn(name):
            raise InvalidArgument(f"ResourceId {resource_id!r} is not a function of this "
                                  f"region and account: use {self.arn(name)!r}")
        return function

    def tag_resources(self, resource_ids: Sequence[str], resource_type: str | None,
                      tags: Sequence[tuple[object, object]]) -> None:
        """TagResources: add or overwrite the tags of every resource; all or nothing."""
        check_resource_type(resource_type)
        if not resource_ids:
            raise InvalidArgument("ResourceId is required: the ARNs of the functions to tag")
        if not tags:
            raise InvalidArgument("Tag is required: at least one {Key, Value}")
        checked = [check_tag(k, v) for k, v in tags]
        targets = [self._tagged(r) for r in resource_ids]
        updated = []
        for function in targets:
            merged = dict(tag_pairs(function))
            merged.update(checked)
            if len(merged) > MAX_TAGS:
                raise InvalidArgument(f"function '{function.name}' would have {len(merged)} "
                                      f"tags: at most {MAX_TAGS} per resource")
            updated.append((function, merged))
        for function, merged in updated:
            function.tags = [{"Key": k, "Value": v} for k, v in merged.items()]

    def untag_resources(self, resource_ids: Sequence[str], resource_type: str | None,
                        keys: Sequence[str], remove_all: bool = False) -> None:
        """UntagResources: remove the named tag keys (or all tags with ``All``)."""
        check_resource_type(resource_type)
        if not resource_ids:
            raise InvalidArgument("ResourceId is required: the ARNs of the functions to untag")
        if not keys and not remove_all:
            raise InvalidArgument("TagKey is required unless All is true")
        for function in [self._tagged(r) for r in resource_ids]:
            function.tags = [] if remove_all else [
                {"Key": k, "Value": v} for k, v in tag_pairs(function) if k not in keys]

    def list_tag_resources(self, resource_ids: Sequence[str] = (),
                           resource_type: str | None = None,
                           tags: Sequence[tuple[str, str]] = (), limit: int = 20,
                           next_token: str = "") -> tuple[list[TagResource], str]:
        """ListTagResources: one row per (function, tag), of the functions named (or all),
        those carrying every tag asked for; paged by row."""
        kind = check_resource_type(resource_type)
        functions = ([self._tagged(r) for r in resource_ids] if resource_ids
                     else [self.functions[n] for n in sorted(self.functions)])
        rows = [TagResource(f.arn, kind, k, v) for f in functions
                if all(dict(tag_pairs(f)).get(key) == value for key, value in tags)
                for k, v in tag_pairs(f)]
        start = 0
        if next_token:  # an offset this listing gave: ASCII digits, of a size int() reads
            if not (next_token.isascii() and next_token.isdigit()) or len(next_token) > 18:
                raise InvalidArgument(f"invalid NextToken {next_token!r}: pass the previous "
                                      "page's NextToken unchanged")
            start = int(next_token)
        page = rows[start:start + limit]
        return page, str(start + limit) if start + limit < len(rows) else ""


# -- GetFunctionCode ---------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionCode:
    """GetFunctionCode: the package's CRC-64 and the signature its download URL carries."""

    function_name: str
    qualifier: str
    checksum: str
    signature: str


class CodeOperations:
    """GetFunctionCode, and the package file its URL downloads (``code.zipFile`` as sent)."""

    if TYPE_CHECKING:  # the engine's (fcemu.engine.functions, fcemu.engine.versions)
        def _function(self, name: str) -> Function: ...

        def _qualifier(self, function: Function, qualifier: str | None) -> str: ...

        def get_function_version(self, name: str, version_id: str) -> Version: ...

        def get_alias(self, name: str, alias_name: str) -> Alias: ...

    def _code_secret(self) -> bytes:
        """The key download URLs are signed with (random, kept for the engine's life)."""
        secret: bytes | None = getattr(self, "_code_url_secret", None)
        if secret is None:
            secret = secrets.token_bytes(32)
            self._code_url_secret = secret
        return secret

    def _code_function(self, name: str, qualifier: str | None) -> tuple[Function, str]:
        """The function (or published version) whose code a qualifier names: an alias names
        its main version's."""
        function = self._function(name)
        qualifier = self._qualifier(function, qualifier)
        if qualifier == LATEST:
            return function, qualifier
        version = qualifier if qualifier.isdigit() else self.get_alias(name, qualifier).version_id
        return self.get_function_version(name, version).snapshot, qualifier

    def _sign(self, name: str, qualifier: str, checksum: str) -> str:
        message = f"{name}\n{qualifier}\n{checksum}".encode()
        return hmac.new(self._code_secret(), message, hashlib.sha256).hexdigest()

    def get_function_code(self, name: str, qualifier: str | None = None) -> FunctionCode:
        """GetFunctionCode: the checksum and a signed reference to the package."""
        function, qualifier = self._code_function(name, qualifier)
        if function.code_dir is None:
            raise InvalidArgument(f"function '{name}' has no code package: its handler is an "
                                  "in-process Python callable (register_function)")
        checksum = function.code_checksum
        return FunctionCode(name, qualifier, checksum, self._sign(name, qualifier, checksum))

    def function_code_file(self, name: str, qualifier: str | None, signature: str) -> Path:
        """The package file a GetFunctionCode URL downloads; 403 when the signature is not
        that of the function's current code (changed since, or never issued)."""
        function, qualifier = self._code_function(name, qualifier)
        expected = self._sign(name, qualifier, function.code_checksum)
        path = package_zip(function.code_dir) if function.code_dir is not None else None
        if not hmac.compare_digest(expected, signature) or path is None or not path.is_file():
            raise AccessDenied(f"this code URL of function '{name}' is not valid (the code "
                               "changed since, or the URL was altered): call GetFunctionCode "
                               "again")
        return path
