"""Serverless Devs 3.x ``s.yaml`` (component ``fc3``) and its ``${...}`` references.

:func:`read_s_yaml` turns each ``fc3`` resource into a function name and its
props, with references resolved and line numbers kept; :mod:`fcemu.config.load`
checks and builds them exactly like ``fcemu.yaml`` functions. :class:`Refs`
evaluates each ``${...}`` (parsed by :mod:`fcemu.config.expr`) as Serverless Devs 3
does: ``${vars.x}``, ``${env('X')}`` (also ``${env('X', 'default')}`` and
``${env.X}``), ``${this.props.x}``, ``${this.name}``, ``${resources.<name>.props.x}``,
``${config('AccountID')}`` (the emulator's account ID), ``${path('./p')}`` and
``${file('./f')}`` (relative to the file's folder), ``${json(...)}``, ``${str(...)}``,
joined with ``||``, ``&&`` and ``+``. What needs the cloud (``${resources.x.output.y}``,
other ``config()`` keys) is an error naming the file, the line and the expression.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcemu.config.expr import MISSING, ExprError, evaluate, js_text, parse
from fcemu.config.marked import ConfigError, MarkedDict, MarkedList, Where, marked_dict
from fcemu.settings import Settings

__all__ = ["Refs", "SYaml", "read_s_yaml"]

log = logging.getLogger("fcemu.config")

_TOP = frozenset({"edition", "name", "access", "vars", "resources"})
_FC3 = re.compile(r"^(devsapp/)?fc3(@.*)?$")
_REF = re.compile(r"\$\{([^}]*)\}")  # to the first }, as devs-compile reads it
_FUNCTIONS = frozenset({"env", "path", "file", "json", "config", "str"})
_SUPPORTED = ("fcemu resolves ${vars.x}, ${env('X')}, ${env('X', 'default')}, ${env.X}, "
              "${this.name}, ${this.props.x}, ${resources.<name>.props.x}, "
              "${config('AccountID')}, ${path('./p')}, ${file('./f')}, ${json('...')}, "
              "${str(x)}, joined with ||, && and +")


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
        #: ``path()`` and ``file()`` are relative to the file's folder, as in ``s``
        self.base = doc.where.path.parent.resolve()
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
        return _REF.sub(lambda m: js_text(self._evaluate(m[1].strip(), where, name, this)),
                        value)

    def _evaluate(self, expr: str, where: Where, name: str, this: str | None) -> Any:
        if expr in self._stack:
            raise ConfigError(where, name, f"circular reference ${{{expr}}}")
        self._stack.append(expr)
        try:
            return self._value(expr, where, name, this)
        finally:
            self._stack.pop()

    def _value(self, expr: str, where: Where, name: str, this: str | None) -> Any:
        try:
            tree = parse(expr)
        except ExprError as exc:
            raise ConfigError(where, name, f"${{{expr}}}: cannot read it: {exc}") from None
        missing: list[str] = []

        def ref(parts: list[str | int]) -> Any:
            return self._ref(parts, expr, where, name, this, missing)

        def call(function: str, args: list[Any]) -> Any:
            return self._call(function, args, expr, where, name)

        value = evaluate(tree, ref, call)
        if value is MISSING:
            raise ConfigError(where, name, f"${{{expr}}}: "
                              f"{missing[-1] if missing else 'the value'} is not defined")
        if isinstance(value, str) and "${" in value:  # as devs-compile: resolved once more
            value = self.resolve(value, where, name, this)
        return value

    def _ref(self, parts: list[str | int], expr: str, where: Where, name: str,
             this: str | None, missing: list[str]) -> Any:
        keys = [str(part) for part in parts]
        if keys[0] == "vars" and len(keys) > 1:
            return self._lookup(self.doc.get("vars"), keys[1:], "vars", where, name, None,
                                missing)
        if keys[0] == "env" and len(keys) == 2:
            return os.environ.get(keys[1]) or MISSING
        if keys == ["this", "name"] and this is not None:
            return this
        if keys[:2] == ["this", "props"] and this is not None:
            keys = ["resources", this, *keys[1:]]
        if keys[0] == "resources" and len(keys) > 2 and keys[2] == "output":
            raise ConfigError(where, name, f"${{{expr}}}: a resource's output exists only "
                              "once `s deploy` has run it, and fcemu does not deploy to the "
                              "cloud: write the value itself, or refer to "
                              f"${{resources.{keys[1]}.props.<field>}}")
        if keys[0] == "resources" and len(keys) > 3 and keys[2] == "props":
            resource = (self.doc.get("resources") or {}).get(keys[1])
            props = resource.get("props") if isinstance(resource, Mapping) else None
            if props is None:
                missing.append(f"resources.{keys[1]}.props")
                return MISSING
            return self._lookup(props, keys[3:], f"resources.{keys[1]}.props", where, name,
                                keys[1], missing)
        raise ConfigError(where, name, f"unsupported reference ${{{expr}}}: {_SUPPORTED}")

    def _call(self, function: str, args: list[Any], expr: str, where: Where,
              name: str) -> Any:
        def fail(message: str) -> ConfigError:
            return ConfigError(where, name, f"${{{expr}}}: {function}(): {message}")

        if function not in _FUNCTIONS:
            raise ConfigError(where, name, f"unsupported function {function}() in "
                                           f"${{{expr}}}: {_SUPPORTED}")
        if function == "str":
            return js_text(args[0] if args else MISSING)
        if not args or not isinstance(args[0], str) or not args[0]:
            raise fail("needs a text argument")
        text = args[0]
        if function == "env":
            default = args[1] if len(args) > 1 else None
            return self._env(text, None if default is MISSING else default, where, name)
        if function == "config":
            if text != "AccountID":
                raise fail(f"fcemu runs offline with no credentials: only config('AccountID') "
                           f"(the emulator's account ID) has a value, not {text!r}")
            return self.settings.account_id
        if function == "json":
            try:
                return _marked(json.loads(text), where)
            except ValueError as exc:
                raise fail(f"not valid JSON: {exc}") from None
        target = Path(os.path.normpath(self.base / text))
        if function == "path":
            if not target.exists():
                raise fail(f"{target} does not exist (paths are relative to "
                           f"{self.base})")
            return str(target)
        try:
            return target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"cannot read {target}: {getattr(exc, 'strerror', None) or exc}") \
                from None

    @staticmethod
    def _env(variable: str, default: Any, where: Where, name: str) -> Any:
        value = os.environ.get(variable)
        if value:  # as Serverless Devs: an empty variable takes the default
            return value
        if default is None:
            raise ConfigError(where, name, f"environment variable {variable} is not set "
                                           f"(set it, or write env('{variable}', 'default'))")
        return default

    def _lookup(self, root: Any, keys: list[str], base: str, where: Where, name: str,
                this: str | None, missing: list[str]) -> Any:
        value, path, at = root, base, where
        for key in keys:
            path = f"{path}.{key}"
            if isinstance(value, list) and key.isdigit() and int(key) < len(value):
                at = value.at(int(key)) if isinstance(value, MarkedList) else where
                value = value[int(key)]
                continue
            if not isinstance(value, Mapping) or key not in value:
                missing.append(path)
                return MISSING
            at = value.at(key) if isinstance(value, MarkedDict) else where
            value = value[key]
        return self.resolve(value, at, path, this)


def _marked(value: Any, where: Where) -> Any:
    """A parsed JSON value as the marked mappings and lists the checks read."""
    if isinstance(value, dict):
        return marked_dict(where, {k: _marked(v, where) for k, v in value.items()},
                           {k: where for k in value})
    if isinstance(value, list):
        result = MarkedList(_marked(v, where) for v in value)
        result.where, result.item_where = where, [where] * len(value)
        return result
    return value
