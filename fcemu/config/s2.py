"""Serverless Devs 2.x ``s.yaml`` files (component ``fc``), converted on load to the fc3 model.

Real async-task projects are still written for the 2.x ``fc`` component: one
``service`` and one ``function`` per resource, ``asyncConfiguration`` with
``statefulInvocation``, and ``acs:fc:::services/<s>/functions/<f>`` destinations.
:func:`convert` rewrites such a file the way Serverless Devs' own ``s cli fc3 s2tos3``
does (devsapp/fc3, ``src/subCommands/2to3/index.ts``), keeping every value's file
and line, so the rest of :mod:`fcemu.config` reads the result as any fc3 file:

- ``services`` becomes ``resources`` and ``edition`` 3.0.0; ``component: fc`` (also
  ``devsapp/fc``, ``fc@…``) becomes ``fc3``; other components are left alone;
- the service's fields (role, logConfig, vpcConfig…) are merged into the function's;
  the function is named ``<service>$<function>``, the name FC 3.0 gives a function of
  an FC 2.0 service;
- ``codeUri`` → ``code``; ``asyncConfiguration`` → ``asyncInvokeConfig`` with
  ``destination`` → ``destinationConfig.{onSuccess,onFailure}.destination``;
  ``statefulInvocation`` is kept (fcemu reads it as ``asyncTask``);
- an FC destination ``acs:fc:<r>:<a>:services/<s>[.<qualifier>]/functions/<f>``
  becomes ``acs:fc:<r>:<a>:functions/<s>$<f>[/<qualifier>]``, so it names the
  converted function (s2tos3 writes ``functions/<f>``, which names no function it
  created: fcemu keeps the service, and says so);
- ``caPort`` and ``customHealthCheckConfig`` move into ``customRuntimeConfig``;
  ``initializer``/``initializationTimeout`` into ``instanceLifecycleConfig``;
  ``preFreeze`` is dropped (FC 3.0 has no such hook); ``instanceType`` is dropped;
  triggers' ``name``/``type``/``config``/``role`` are renamed; ``nasConfig`` mount
  points are rewritten.

What cannot be converted (code in OSS, custom domains, which are separate ``fc3-domain``
resources) is reported, not silently dropped: :class:`Conversion` lists each change and
each leftover, and the loader prints them once per file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcemu.config.marked import ConfigError, MarkedDict, MarkedList, Where, marked_dict

__all__ = ["Conversion", "convert", "is_s2"]

_FC2 = re.compile(r"^(devsapp/)?fc(@.*)?$")
_FC_ARN = re.compile(r"^acs:fc:(?P<region>[^:]*):(?P<account>[^:]*):services/(?P<service>[^/.]+)"
                     r"(?:\.(?P<qualifier>[^/]+))?/functions/(?P<function>[^/]+)$")
_REF = re.compile(r"^\$\{\s*([A-Za-z_][\w.]*)\s*\}$")


@dataclass
class Conversion:
    """What :func:`convert` did to one file."""

    path: Path
    #: one line per change, ``resources.x.props.y: what became what``
    converted: list[str] = field(default_factory=list)
    #: one line per thing fcemu could not carry over, and why
    dropped: list[str] = field(default_factory=list)


def is_s2(doc: Mapping[str, Any]) -> bool:
    """A Serverless Devs 2.x file: ``services`` and no ``resources``."""
    return "services" in doc and "resources" not in doc


def convert(doc: MarkedDict) -> tuple[MarkedDict, Conversion]:
    """``doc`` (a 2.x file) as the 3.x file ``s2tos3`` would write, and what changed."""
    conversion = Conversion(doc.where.path)
    services = doc.get("services")
    if not isinstance(services, MarkedDict) or not services:
        raise ConfigError(doc.at("services"), "services",
                          "must map resource names to {component: fc, props: {...}}")
    resources = marked_dict(services.where, {}, services.key_where)
    for rname, resource in services.items():
        prefix = f"services.{rname}"  # as the user wrote it
        component = resource.get("component") if isinstance(resource, MarkedDict) else None
        if not isinstance(component, str) or not _FC2.match(component):
            resources[rname] = resource
            continue
        resources[rname] = _resource(doc, resource, prefix, conversion)
    top = {k: v for k, v in doc.items() if k not in ("services", "edition")}
    where = dict(doc.key_where)
    where["resources"] = doc.at("services")
    where["edition"] = doc.at("edition")
    conversion.converted.insert(0, f"edition {doc.get('edition', '(none)')} → 3.0.0, "
                                   "services → resources, component fc → fc3")
    return marked_dict(doc.where, {"edition": "3.0.0", **top, "resources": resources},
                       where), conversion


def _resource(doc: MarkedDict, resource: MarkedDict, prefix: str,
              conversion: Conversion) -> MarkedDict:
    props = resource.get("props")
    if not isinstance(props, MarkedDict):
        raise ConfigError(resource.at("props"), f"{prefix}.props",
                          "must be a mapping with service and function")
    service = _service(doc, props, prefix)
    function = props.get("function")
    if not isinstance(function, MarkedDict):
        raise ConfigError(props.at("function"), f"{prefix}.props.function",
                          "must be a mapping (name, runtime, handler, codeUri…)")
    service_name = service.get("name")
    function_name = function.get("name")
    for value, key, at in ((service_name, "service.name", props.at("service")),
                           (function_name, "function.name", function.at("name"))):
        if not isinstance(value, str) or not value:
            raise ConfigError(at, f"{prefix}.props.{key}", "is required (a string)")
    items: dict[str, Any] = {}
    where: dict[str, Where] = {}

    def put(key: str, value: Any, at: Where) -> None:
        items[key], where[key] = value, at

    for key, value in props.items():
        if key not in ("service", "function"):
            put(key, value, props.at(key))
    for key, value in function.items():
        put(key, value, function.at(key))
    for key, value in service.items():
        if key not in ("name", "description"):
            put(key, value, service.at(key))
    items.pop("name", None)
    new_name = f"{service_name}${function_name}"
    put("functionName", new_name, function.at("name"))
    conversion.converted.append(f"{prefix}: service {service_name} + function {function_name}"
                                f" → functionName {new_name}")
    p = f"{prefix}.props"
    if "codeUri" in items:
        put("code", items.pop("codeUri"), where.pop("codeUri"))
    if "ossBucket" in items or "ossKey" in items:
        conversion.dropped.append(f"{p}.ossBucket/ossKey: code in OSS cannot be fetched "
                                  "offline; point codeUri at a local folder or .zip")
        items.pop("ossBucket", None), items.pop("ossKey", None)
    if items.pop("instanceType", None) is not None:
        conversion.converted.append(f"{p}.instanceType: dropped, as s2tos3 does")
    _async(items, where, p, conversion)
    _custom(items, where, p, conversion)
    _lifecycle(items, where, p, conversion)
    _nas(items, p, conversion)
    _triggers(items, p, conversion)
    if items.pop("customDomains", None) is not None:
        conversion.dropped.append(f"{p}.customDomains: custom domains are fc3-domain "
                                  "resources in 3.x, and fcemu serves no custom domain")
    result = marked_dict(resource.where, dict(resource), resource.key_where)
    result["component"] = "fc3"
    result["props"] = marked_dict(props.where, items, where)
    if "actions" in result:
        conversion.dropped.append(f"{prefix}.actions: fcemu runs no actions")
    return result


def _service(doc: MarkedDict, props: MarkedDict, prefix: str) -> MarkedDict:
    """The service mapping, or the one a ``${vars.x}`` reference names (as s2tos3 reads it)."""
    service = props.get("service")
    if isinstance(service, str) and (m := _REF.match(service.strip())):
        value: Any = doc
        for key in m[1].split("."):
            value = value.get(key) if isinstance(value, Mapping) else None
        service = value
    if not isinstance(service, MarkedDict):
        raise ConfigError(props.at("service"), f"{prefix}.props.service",
                          "must be a mapping (name, role, logConfig…) or ${vars.<name>} "
                          "naming one")
    return service


def _async(items: dict[str, Any], where: dict[str, Where], p: str,
           conversion: Conversion) -> None:
    config = items.pop("asyncConfiguration", None)
    if config is None:
        return
    at = where.pop("asyncConfiguration")
    if not isinstance(config, MarkedDict):
        raise ConfigError(at, f"{p}.asyncConfiguration", "must be a mapping")
    new = marked_dict(config.where, {k: v for k, v in config.items() if k != "destination"},
                      config.key_where)
    destination = config.get("destination")
    if isinstance(destination, MarkedDict):
        targets = marked_dict(destination.where)
        for kind in ("onSuccess", "onFailure"):
            arn = destination.get(kind)
            if arn is None:
                continue
            arn = _fc_arn(arn, f"{p}.asyncConfiguration.destination.{kind}", conversion)
            targets[kind] = marked_dict(destination.at(kind), {"destination": arn},
                                        {"destination": destination.at(kind)})
            targets.key_where[kind] = destination.at(kind)
        new["destinationConfig"] = targets
        new.key_where["destinationConfig"] = config.at("destination")
    items["asyncInvokeConfig"], where["asyncInvokeConfig"] = new, at
    conversion.converted.append(f"{p}.asyncConfiguration → asyncInvokeConfig"
                                + (" (destination → destinationConfig)" if destination else ""))


def _fc_arn(arn: Any, name: str, conversion: Conversion) -> Any:
    if not isinstance(arn, str) or not (m := _FC_ARN.match(arn)):
        return arn
    region = m["region"] or "${this.props.region}"
    new = (f"acs:fc:{region}:{m['account']}:functions/{m['service']}${m['function']}"
           + (f"/{m['qualifier']}" if m["qualifier"] else ""))
    conversion.converted.append(f"{name}: {arn} → {new} (s2tos3 writes functions/"
                                f"{m['function']}; fcemu keeps the service so the ARN names "
                                "the converted function)")
    return new


def _custom(items: dict[str, Any], where: dict[str, Where], p: str,
            conversion: Conversion) -> None:
    for old, new in (("caPort", "port"), ("customHealthCheckConfig", "healthCheckConfig")):
        if old not in items:
            continue
        value, at = items.pop(old), where.pop(old)
        moved = False
        for config in ("customRuntimeConfig", "customContainerConfig"):
            target = items.get(config)
            if isinstance(target, MarkedDict):
                target = marked_dict(target.where, {**target, new: value},
                                     {**target.key_where, new: at})
                items[config] = target
                moved = True
                conversion.converted.append(f"{p}.{old} → {config}.{new}")
        if not moved and old == "caPort" and str(items.get("runtime", "")).startswith("custom"):
            items["customRuntimeConfig"] = marked_dict(at, {"port": value}, {"port": at})
            where["customRuntimeConfig"] = at
            conversion.converted.append(f"{p}.caPort → customRuntimeConfig.port")
    container = items.get("customContainerConfig")
    if isinstance(container, MarkedDict):
        renamed = {("entrypoint" if k == "command" else "command" if k == "args" else k): v
                   for k, v in container.items() if k not in ("instanceID", "accelerationType")}
        items["customContainerConfig"] = marked_dict(container.where, renamed,
                                                     container.key_where)
        conversion.converted.append(f"{p}.customContainerConfig: command → entrypoint, "
                                    "args → command")


def _lifecycle(items: dict[str, Any], where: dict[str, Where], p: str,
               conversion: Conversion) -> None:
    lifecycle = items.get("instanceLifecycleConfig")
    hooks = dict(lifecycle) if isinstance(lifecycle, Mapping) else {}
    at = where.get("instanceLifecycleConfig")
    if "initializer" in items:
        at = where.pop("initializer")
        hooks["initializer"] = marked_dict(at, {"handler": items.pop("initializer"),
                                                **({"timeout": items.pop("initializationTimeout")}
                                                   if "initializationTimeout" in items else {})})
        where.pop("initializationTimeout", None)
        conversion.converted.append(f"{p}.initializer/initializationTimeout → "
                                    "instanceLifecycleConfig.initializer")
    if "preFreeze" in hooks:
        del hooks["preFreeze"]
        conversion.dropped.append(f"{p}.instanceLifecycleConfig.preFreeze: FC 3.0 has no "
                                  "PreFreeze hook")
    if at is not None and (hooks or lifecycle is not None):
        items["instanceLifecycleConfig"] = marked_dict(at, hooks)
        where["instanceLifecycleConfig"] = at


def _nas(items: dict[str, Any], p: str, conversion: Conversion) -> None:
    nas = items.get("nasConfig")
    if not isinstance(nas, Mapping) or not isinstance(nas.get("mountPoints"), list):
        return
    points = MarkedList(
        {**{k: v for k, v in point.items() if k not in ("fcDir", "nasDir")},
         "serverAddr": f"{point.get('serverAddr')}:{point.get('nasDir')}",
         "mountDir": point.get("fcDir")} if isinstance(point, Mapping) else point
        for point in nas["mountPoints"])
    points.where = getattr(nas["mountPoints"], "where", None)  # type: ignore[assignment]
    points.item_where = list(getattr(nas["mountPoints"], "item_where", []))
    items["nasConfig"] = {**nas, "mountPoints": points}
    conversion.converted.append(f"{p}.nasConfig.mountPoints: nasDir/fcDir → serverAddr/mountDir")


def _triggers(items: dict[str, Any], p: str, conversion: Conversion) -> None:
    triggers = items.get("triggers")
    if not isinstance(triggers, list):
        return
    renames = {"name": "triggerName", "type": "triggerType", "config": "triggerConfig",
               "role": "invocationRole"}
    converted = MarkedList()
    for trigger in triggers:
        if isinstance(trigger, MarkedDict):
            trigger = marked_dict(trigger.where, {renames.get(k, k): v for k, v in trigger.items()},
                                  {renames.get(k, k): w for k, w in trigger.key_where.items()})
        converted.append(trigger)
    converted.where = getattr(triggers, "where", None)  # type: ignore[assignment]
    converted.item_where = list(getattr(triggers, "item_where", []))
    items["triggers"] = converted
    conversion.converted.append(f"{p}.triggers: name/type/config/role → triggerName/"
                                "triggerType/triggerConfig/invocationRole")
