"""Serverless Devs 3.x ``s.yaml`` (component ``fc3``) and its ``${...}`` references.

:func:`read_s_yaml` turns each ``fc3`` resource into a function name and its
props, with references resolved and line numbers kept; :mod:`fcemu.config.load`
checks and builds them exactly like ``fcemu.yaml`` functions. :class:`Refs`
resolves the simple references Serverless Devs offers: ``${vars.x}``,
``${env('X')}`` (also ``${env('X', 'default')}`` and ``${env.X}``),
``${this.props.x}``, ``${this.name}``, ``${resources.<name>.props.x}`` and
``${config('AccountID')}`` (the emulator's account ID).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcemu.config.marked import ConfigError, MarkedDict, MarkedList, Where, marked_dict
from fcemu.settings import Settings

__all__ = ["Refs", "SYaml", "read_s_yaml"]

log = logging.getLogger("fcemu.config")

_TOP = frozenset({"edition", "name", "access", "vars", "resources"})
_FC3 = re.compile(r"^(devsapp/)?fc3(@.*)?$")
_REF = re.compile(r"\$\{([^{}]*)\}")
_ENV_CALL = re.compile(r"""^env\(\s*(['"])(\w+)\1\s*(?:,\s*(['"])(.*?)\3\s*)?\)$""")
_ENV_DOT = re.compile(r"^env\.(\w+)$")
_ACCOUNT = re.compile(r"""^config\(\s*(['"])AccountID\1\s*\)$""")


@dataclass
class SYaml:
    """What an s.yaml declares, before fcemu checks the props."""

    #: (function name, resolved props, dotted prefix of the props, where) per fc3 resource
    functions: list[tuple[str, MarkedDict, str, Where]] = field(default_factory=list)
    #: ``vars``, resolved: values for ``{name}`` placeholders in destination ARNs
    names: dict[str, Any] = field(default_factory=dict)
    #: settings the file implies: the resources' ``region``
    settings: dict[str, Any] = field(default_factory=dict)
    #: (file, field, line) of top-level keys fcemu does not read (flow, template…)
    ignored: list[tuple[Path, str, int]] = field(default_factory=list)


def read_s_yaml(doc: MarkedDict, path: Path, settings: Settings) -> SYaml:
    """Read a parsed s.yaml: each fc3 resource's props, references resolved."""
    edition = str(doc.get("edition", ""))
    if not edition.startswith("3."):
        raise ConfigError(doc.at("edition"), "edition", "fcemu reads Serverless Devs 3.x "
                          f"files (edition: 3.0.0), got {edition or 'none'!r}")
    result = SYaml()
    result.ignored += [(path, key, doc.at(key).line) for key in doc if key not in _TOP]
    resources = doc.get("resources")
    if not isinstance(resources, MarkedDict) or not resources:
        raise ConfigError(doc.at("resources"), "resources", "must map resource names to "
                          "{component: fc3, props: {...}}")
    refs = Refs(doc, settings)
    result.names = dict(refs.resolve(doc.get("vars"), doc.at("vars"), "vars", None) or {})
    regions: list[tuple[str, Where]] = []
    for rname, resource in resources.items():
        prefix = f"resources.{rname}"
        if not isinstance(resource, MarkedDict):
            raise ConfigError(resources.at(rname), prefix,
                              "must be a mapping with component and props")
        component = refs.resolve(resource.get("component"), resource.at("component"),
                                 f"{prefix}.component", rname)
        if not isinstance(component, str) or not _FC3.match(component):
            result.ignored.append((path, f"{prefix} (component {component})",
                                   resource.at("component").line))
            continue
        result.ignored += [(path, f"{prefix}.{key}", resource.at(key).line)
                           for key in resource if key not in ("component", "props")]
        props = resource.get("props")
        if not isinstance(props, MarkedDict):
            raise ConfigError(resource.at("props"), f"{prefix}.props",
                              "must be a mapping of fc3 props")
        props = refs.resolve(props, props.where, f"{prefix}.props", rname)
        name = props.get("functionName")
        if not isinstance(name, str) or not name:
            raise ConfigError(props.key_where.get("functionName", resource.at("props")),
                              f"{prefix}.props.functionName", "is required (a string)")
        if isinstance(props.get("region"), str):
            regions.append((props["region"], props.at("region")))
        result.functions.append((name, props, f"{prefix}.props", resource.at("props")))
    if regions:
        result.settings["region"] = regions[0][0]
        for region, where in regions[1:]:
            if region != regions[0][0]:
                log.warning("%s: region %s differs from %s (line %d); the emulator has one "
                            "region and uses %s", where, region, regions[0][0],
                            regions[0][1].line, regions[0][0])
    return result


class Refs:
    """Resolves ``${...}`` references in a parsed file, keeping line numbers.

    :param doc: the whole file (``vars`` and ``resources`` are looked up in it).
    :param settings: for ``${config('AccountID')}``.
    """

    def __init__(self, doc: MarkedDict, settings: Settings) -> None:
        self.doc = doc
        self.settings = settings
        self._stack: list[str] = []

    def resolve(self, value: Any, where: Where, name: str, this: str | None) -> Any:
        """``value`` with every reference replaced; ``this`` names the current resource."""
        if isinstance(value, MarkedDict):
            return marked_dict(value.where, {
                k: self.resolve(v, value.at(k), f"{name}.{k}" if name else k, this)
                for k, v in value.items()}, value.key_where)
        if isinstance(value, MarkedList):
            result = MarkedList(self.resolve(v, value.at(i), f"{name}[{i}]", this)
                                for i, v in enumerate(value))
            result.where, result.item_where = value.where, value.item_where
            return result
        if not isinstance(value, str) or "${" not in value:
            return value
        whole = _REF.fullmatch(value.strip())
        if whole:  # a lone reference keeps its type: numbers stay numbers
            return self._evaluate(whole[1].strip(), where, name, this)
        return _REF.sub(lambda m: str(self._evaluate(m[1].strip(), where, name, this)), value)

    def _evaluate(self, expr: str, where: Where, name: str, this: str | None) -> Any:
        if expr in self._stack:
            raise ConfigError(where, name, f"circular reference ${{{expr}}}")
        self._stack.append(expr)
        try:
            return self._value(expr, where, name, this)
        finally:
            self._stack.pop()

    def _value(self, expr: str, where: Where, name: str, this: str | None) -> Any:
        if m := _ENV_CALL.match(expr):
            return self._env(m[2], m[4], where, name)
        if m := _ENV_DOT.match(expr):
            return self._env(m[1], None, where, name)
        if _ACCOUNT.match(expr):
            return self.settings.account_id
        parts = expr.split(".")
        if parts[0] == "vars" and len(parts) > 1:
            return self._lookup(self.doc.get("vars"), parts[1:], "vars", expr, where, name, None)
        if parts == ["this", "name"] and this is not None:
            return this
        if parts[:2] == ["this", "props"] and this is not None:
            parts = ["resources", this, *parts[1:]]
        if parts[0] == "resources" and len(parts) > 3 and parts[2] == "props":
            resource = (self.doc.get("resources") or {}).get(parts[1])
            props = resource.get("props") if isinstance(resource, Mapping) else None
            return self._lookup(props, parts[3:], f"resources.{parts[1]}.props", expr, where,
                                name, parts[1])
        raise ConfigError(where, name, f"unsupported reference ${{{expr}}}: fcemu resolves "
                          "${vars.x}, ${env('X')}, ${env('X', 'default')}, ${this.props.x}, "
                          "${resources.<name>.props.x} and ${config('AccountID')}")

    @staticmethod
    def _env(variable: str, default: str | None, where: Where, name: str) -> str:
        value = os.environ.get(variable, default)
        if value is None:
            raise ConfigError(where, name, f"environment variable {variable} is not set "
                                           f"(set it, or write env('{variable}', 'default'))")
        return value

    def _lookup(self, root: Any, keys: list[str], base: str, expr: str, where: Where,
                name: str, this: str | None) -> Any:
        value, path, at = root, base, where
        for key in keys:
            path = f"{path}.{key}"
            if not isinstance(value, Mapping) or key not in value:
                raise ConfigError(where, name, f"${{{expr}}}: {path} is not defined")
            at = value.at(key) if isinstance(value, MarkedDict) else where
            value = value[key]
        return self.resolve(value, at, path, this)
