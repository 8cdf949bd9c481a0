"""Building one function from its merged props: the FC API documents and typed specs.

:func:`build_function` turns a function's props (from ``s.yaml`` or
``fcemu.yaml``, already checked against the schema) into a
:class:`~fcemu.config.deployment.FunctionEntry`: a ``CreateFunctionInput`` with
the code zipped by :func:`fcemu.code.zip_code_base64` (the one zip builder), a
``PutAsyncInvokeConfigInput`` whose destination ARNs have their ``{accountid}``-style
placeholders filled (a bare name is a queue: :func:`fcemu.destinations.destination_arn`),
the reserved concurrency, and the same as the engine's typed specs
(:class:`~fcemu.specs.FunctionSpec`, :class:`~fcemu.specs.AsyncConfigSpec`). What the
specs refuse is reported here, at the line that wrote it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fcemu.code import zip_code_base64
from fcemu.config.deployment import Deployment, FunctionEntry, Reporter
from fcemu.config.marked import ConfigError, MarkedDict, Where, marked_dict
from fcemu.config.schema import MODELLED_PROPS
from fcemu.destinations import destination_arn, parse_destination
from fcemu.engine import AliasSpec
from fcemu.errors import FcError, InvalidArgument
from fcemu.layers import MAX_LAYERS, LayerArn, unmapped
from fcemu.models import LATEST
from fcemu.settings import Settings
from fcemu.specs import ECHOED_FIELDS, AsyncConfigSpec, FunctionSpec
from fcemu.triggers.model import TriggerConfigError, parse_config

__all__ = ["CUSTOM_DEFAULT_HANDLER", "add_destination_resources", "build_function"]

log = logging.getLogger("fcemu.config")

#: Function fields passed to CreateFunction as they are.
_PLAIN = ("runtime", "handler", "timeout", "memorySize", "cpu", "diskSize", "instanceConcurrency",
          "description", "customRuntimeConfig", "instanceLifecycleConfig", "layers")
_TRIGGER_FIELDS = ("triggerName", "triggerType", "qualifier", "invocationRole", "sourceArn",
                   "description")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_-]*)\}")
#: The handler the fc3 component gives a ``custom*`` runtime that names none.
CUSTOM_DEFAULT_HANDLER = "index.handler"
_ACCOUNT_WORDS = frozenset({"accountid", "account_id", "account-id", "uid"})
_REGION_WORDS = frozenset({"region", "regionid", "region_id", "region-id"})

_Fail = Callable[[str, str], ConfigError]


def build_function(name: str, props: MarkedDict, origins: dict[str, tuple[Where, str]],
                   settings: Settings, names: Mapping[str, Any],
                   reporter: Reporter) -> FunctionEntry:
    """The function ``name`` as FC API documents; ``origins`` says where each prop was written
    (``""``: where the function is declared), ``names`` holds the files' ``vars``."""
    where, prefix = origins[""]

    def fail(key: str, message: str) -> ConfigError:
        at, field_name = origins.get(key, (where, f"{prefix}.{key}"))
        return ConfigError(at, field_name, message)

    if "handler" not in props and str(props.get("runtime", "")).startswith("custom"):
        props = marked_dict(props.where, {**props, "handler": CUSTOM_DEFAULT_HANDLER},
                            props.key_where)  # what the fc3 component sends (docs/fidelity.md)
    for key in ("runtime", "handler", "code"):
        if key not in props:
            raise fail(key, "is required" + (" (a directory or .zip file, relative to the "
                                             "file)" if key == "code" else ""))
    doc: dict[str, Any] = {"functionName": name}
    doc.update({key: props[key] for key in _PLAIN if key in props})
    if "environmentVariables" in props:
        doc["environmentVariables"] = {k: _env_text(v)
                                       for k, v in props["environmentVariables"].items()}
    for key, value in props.items():
        if key not in MODELLED_PROPS and key in ECHOED_FIELDS and value != "auto":
            doc[key] = value  # accepted and echoed by GetFunction, not modelled
    _check_layers(props.get("layers"), settings, fail)
    code_path, doc["code"] = _code(props["code"], fail)
    try:
        spec = FunctionSpec.of(**{k: v for k, v in doc.items() if k != "code"},
                               zip_file=doc["code"]["zipFile"])
    except InvalidArgument as exc:
        raise fail(_field_of(exc.message), exc.message) from None
    versions, aliases = _versions(props, fail)
    qualifiers = {LATEST, *(str(n) for n in range(1, len(versions) + 1)),
                  *(a["aliasName"] for a in aliases)}
    async_config = async_spec = None
    if props.get("asyncInvokeConfig") is not None:
        at, field_name = origins.get("asyncInvokeConfig",
                                     (where, f"{prefix}.asyncInvokeConfig"))
        async_config = _async_config(props["asyncInvokeConfig"], settings, names,
                                     field_name, reporter, qualifiers)
        try:
            async_spec = _async_spec(async_config[1])
        except InvalidArgument as exc:
            raise ConfigError(at, field_name, exc.message) from None
    concurrency = (props.get("concurrencyConfig") or {}).get("reservedConcurrency")
    return FunctionEntry(name=name, doc=doc, spec=spec, async_config=async_config,
                         async_spec=async_spec, reserved_concurrency=concurrency, where=where,
                         origins=origins, code_path=code_path,
                         triggers=_triggers(props.get("triggers"), fail),
                         versions=versions, aliases=aliases)


def _versions(props: Mapping[str, Any], fail: _Fail) -> tuple[list[str], list[dict[str, Any]]]:
    """``x-fcemu-versions`` (their descriptions) and ``x-fcemu-aliases`` (CreateAliasInput
    documents), each alias checked as CreateAlias checks it, against the versions declared."""
    versions = [str(v.get("description", "")) if isinstance(v, Mapping) else ""
                for v in props.get("x-fcemu-versions") or ()]
    aliases: list[dict[str, Any]] = []
    for item in props.get("x-fcemu-aliases") or ():
        if not isinstance(item, Mapping):
            raise fail("x-fcemu-aliases", "each alias is an object: aliasName, versionId, "
                                          "additionalVersionWeight, description")
        doc: dict[str, Any] = {"aliasName": str(item.get("aliasName", "")),
                               "versionId": str(item.get("versionId", ""))}
        if item.get("description") is not None:
            doc["description"] = str(item["description"])
        weights = item.get("additionalVersionWeight")
        if weights:
            doc["additionalVersionWeight"] = {str(k): v for k, v in dict(weights).items()}
        name = doc["aliasName"]
        try:
            AliasSpec(alias_name=name, version_id=doc["versionId"],
                      description=doc.get("description"),
                      additional_version_weight=doc.get("additionalVersionWeight"))
        except FcError as exc:
            raise fail("x-fcemu-aliases", f"alias {name!r}: {exc.message}") from None
        for target in (doc["versionId"], *doc.get("additionalVersionWeight", ())):
            if not 1 <= int(target) <= len(versions):
                raise fail("x-fcemu-aliases", f"alias {name!r}: version {target} is not one "
                           f"of the {len(versions)} version(s) of x-fcemu-versions")
        if name in {a["aliasName"] for a in aliases}:
            raise fail("x-fcemu-aliases", f"alias {name!r} is declared twice")
        aliases.append(doc)
    return versions, aliases


def _triggers(items: Any, fail: _Fail) -> list[dict[str, str]]:
    """The function's ``triggers`` as ``CreateTriggerInput`` documents (``triggerConfig``
    as JSON text), each checked as CreateTrigger checks it."""
    out: list[dict[str, str]] = []
    for item in items if isinstance(items, list) else ():
        config = item.get("triggerConfig")
        doc = {key: str(item[key]) for key in _TRIGGER_FIELDS if item.get(key) is not None}
        doc["triggerConfig"] = (json.dumps(config, separators=(",", ":"))
                                if isinstance(config, Mapping) else str(config or ""))
        name = doc["triggerName"]
        if name in {t["triggerName"] for t in out}:
            raise fail("triggers", f"trigger {name!r} is declared twice")
        try:
            parse_config(doc["triggerType"], doc["triggerConfig"], doc.get("sourceArn", ""))
        except TriggerConfigError as exc:
            raise fail("triggers", f"trigger {name!r}: {exc}") from None
        out.append(doc)
    return out


def _check_layers(arns: Any, settings: Settings, fail: _Fail) -> None:
    """A function's layers that no deployment can give: more than FC allows, or an ARN of
    another account or region (an official or public layer) that no local path stands
    for. Layers of the emulator's own account are checked when deployed (they may be
    created through the API)."""
    if not isinstance(arns, list):
        return
    if len(arns) > MAX_LAYERS:
        raise fail("layers", f"a function can have at most {MAX_LAYERS} layers, got {len(arns)}")
    mapped = dict(settings.layer_map)
    for arn in arns:
        layer = LayerArn.parse(arn, "layers:")
        if arn not in mapped and (layer.region, layer.account) != (settings.region,
                                                                   settings.account_id):
            raise fail("layers", unmapped(arn).message)


def _async_spec(doc: Mapping[str, Any]) -> AsyncConfigSpec:
    """A ``PutAsyncInvokeConfigInput`` built by :func:`_async_config`, as a spec."""
    targets = doc.get("destinationConfig") or {}
    return AsyncConfigSpec.of(
        **{key: value for key, value in doc.items() if key != "destinationConfig"},
        on_success=(targets.get("onSuccess") or {}).get("destination"),
        on_failure=(targets.get("onFailure") or {}).get("destination"))


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _field_of(message: str) -> str:
    """The prop an engine validation message starts with (``timeout must be…``)."""
    return re.split(r"[\s.]", message, maxsplit=1)[0]


def _code(value: Any, fail: _Fail) -> tuple[Path | None, dict[str, Any]]:
    if isinstance(value, Mapping):
        if value.get("ossBucketName") or value.get("ossObjectName"):
            raise fail("code", "fcemu runs offline and cannot fetch code from OSS: point code "
                               "at a local directory or .zip file")
        if value.get("zipFile"):
            return None, {"zipFile": value["zipFile"]}
        raise fail("code", "give a directory or .zip file (code: ./code)")
    path = Path(value)
    try:
        return path, {"zipFile": zip_code_base64(path)}
    except ValueError as exc:
        raise fail("code", str(exc)) from None


def _async_config(config: MarkedDict, settings: Settings, names: Mapping[str, Any],
                  field_name: str, reporter: Reporter,
                  qualifiers: set[str]) -> tuple[str, dict[str, Any]]:
    qualifier = str(config.get("qualifier") or LATEST)
    if qualifier not in qualifiers:
        raise ConfigError(config.at("qualifier"), f"{field_name}.qualifier",
                          f"{qualifier!r} is not LATEST nor a version or alias the function "
                          "declares (x-fcemu-versions, x-fcemu-aliases)")
    doc = {k: config[k] for k in ("asyncTask", "maxAsyncRetryAttempts",
                                  "maxAsyncEventAgeInSeconds") if k in config}
    if "statefulInvocation" in config:
        doc.setdefault("asyncTask", config["statefulInvocation"])
    destinations: dict[str, Any] = {}
    targets: MarkedDict = config.get("destinationConfig") or marked_dict(config.where)
    for key, value in targets.items():
        arn = value.get("destination") if isinstance(value, Mapping) else value
        if arn:
            destinations[key] = {"destination": _arn(
                arn, settings, names, targets.at(key), f"{field_name}.destinationConfig.{key}",
                reporter)}
    if destinations:
        doc["destinationConfig"] = destinations
    return qualifier, doc


def _arn(value: str, settings: Settings, names: Mapping[str, Any], where: Where,
         field_name: str, reporter: Reporter) -> str:
    """A destination ARN with ``{accountid}``-style placeholders filled (docs: deployment)."""
    value = destination_arn(value, settings.region, settings.account_id)

    def fill(match: re.Match[str]) -> str:
        word = match[1]
        if word.lower() in _ACCOUNT_WORDS:
            return settings.account_id
        if word.lower() in _REGION_WORDS:
            return settings.region
        if word in names and isinstance(names[word], (str, int)):
            return str(names[word])
        if reporter.first(where.path, "{" + word + "}"):  # once per file
            log.warning("%s: %s: placeholder {%s} has no value (no vars.%s): using %r",
                        where, field_name, word, word, word)
        return word

    arn = _PLACEHOLDER.sub(fill, value)
    parts = arn.split(":", 4)
    if len(parts) == 5 and parts[3] == "":  # acs:mns:cn-hangzhou::/queues/q/messages
        arn = ":".join([*parts[:3], settings.account_id, parts[4]])
    try:
        parse_destination(arn)
    except InvalidArgument as exc:
        raise ConfigError(where, field_name, exc.message) from None
    return arn


def add_destination_resources(deployment: Deployment) -> None:
    """Destination queues and topics exist from the start, as ``s deploy`` users expect."""
    for spec in deployment.functions.values():
        if spec.async_config is None:
            continue
        for entry in (spec.async_config[1].get("destinationConfig") or {}).values():
            target = parse_destination(entry["destination"])
            if target.kind == "queue":
                deployment.queues.setdefault(target.name, {})
            elif target.kind == "topic":
                deployment.topics.setdefault(target.name, ({}, {}))
