"""Reading deployment files and merging them into one :class:`Deployment`.

``fcemu serve --config s.yaml`` brings a project up as ``s deploy`` would:
:func:`load_settings` reads the emulator settings the files set, before the
server starts, and :func:`load` reads, checks and merges the files into a
:class:`~fcemu.config.deployment.Deployment` (each function built by
:mod:`fcemu.config.build`, its code zipped in memory). Files are Serverless Devs
``s.yaml`` (component ``fc3``, read by :mod:`fcemu.config.syaml`) or fcemu's own
``fcemu.yaml`` (:data:`~fcemu.config.schema.SCHEMA`). Several files may be given:
later files override earlier ones, function by function and field by field.

Every problem is a :class:`~fcemu.config.marked.ConfigError` naming the file, the
line and the field; all of them are reported at once (a
:class:`~fcemu.config.marked.ConfigErrors`), not the first. A function prop fcemu
does not know is an error ("did you mean 'timeout'?"); FC fields it knows but does
not model (:data:`~fcemu.config.schema.UNMODELLED_PROPS`), and the props a function
lists in ``x-fcemu-allow-unknown``, are accepted and noted in ``Deployment.ignored``,
for a :class:`~fcemu.config.deployment.Reporter` to warn about once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcemu.clock import to_epoch_ms
from fcemu.config.build import add_destination_resources, build_function
from fcemu.config.check import coerce, unknown_field, validate
from fcemu.config.deployment import Deployment, Reporter
from fcemu.config.marked import (
    ConfigError,
    ConfigErrors,
    MarkedDict,
    Where,
    load_yaml,
    marked_dict,
    template_errors,
)
from fcemu.config.s2 import Conversion, convert, is_s2
from fcemu.config.schema import ALLOW_UNKNOWN, MODELLED_PROPS, SCHEMA, UNMODELLED_PROPS
from fcemu.config.syaml import Refs, read_s_yaml
from fcemu.settings import Settings
from fcemu.specs import MIGRATED_FUNCTION_NAME

__all__ = ["load", "load_settings", "paths_of"]

#: fcemu.yaml ``settings`` keys → :class:`~fcemu.Settings` fields.
_SETTINGS = {"host": "host", "port": "port", "clock": "clock", "start": "start_ms",
             "seed": "seed", "region": "region", "accountId": "account_id",
             "retryBaseMs": "retry_base_ms", "destinationEncoding": "destination_encoding",
             "strictDestinations": "strict_destinations", "maxInstances": "max_instances",
             "accountConcurrency": "account_concurrency",
             "instanceIdleSeconds": "instance_idle_seconds", "settleTimeout": "settle_timeout",
             "accessKeys": "access_keys", "passEnv": "pass_env",
             "allowHosts": "allow_hosts", "allowOrigins": "allow_origins", "layers": "layer_map",
             "dataDir": "data_dir", "durability": "durability", "node": "node"}

_Origins = dict[str, tuple[Where, str]]
#: What an unknown prop may be a misspelling of.
_KNOWN_PROPS = sorted((MODELLED_PROPS - {ALLOW_UNKNOWN}) | UNMODELLED_PROPS)


@dataclass
class _Source:
    """One file, read and checked, before functions are merged and built."""

    path: Path
    #: (name, props, dotted prefix of the props, where the function is declared)
    functions: list[tuple[str, MarkedDict, str, Where]] = field(default_factory=list)
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    topics: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    names: dict[str, Any] = field(default_factory=dict)
    ignored: list[tuple[Path, str, int]] = field(default_factory=list)
    #: What was converted from a Serverless Devs 2.x file (:mod:`fcemu.config.s2`).
    conversions: list[Conversion] = field(default_factory=list)
    #: Every problem found in the file (raised together once it is read).
    errors: list[ConfigError] = field(default_factory=list)


def load_settings(paths: Iterable[Path | str], base: Settings) -> Settings:
    """``base`` with what the files' ``settings`` (fcemu.yaml) and ``region`` (s.yaml) say.

    Later files win. Read before the server starts; raises :class:`ConfigError`.
    """
    changes: dict[str, Any] = {}
    errors: list[ConfigError] = []
    for path in paths_of(paths):
        try:
            changes.update(_read(path, base).settings)
        except ConfigError as exc:
            errors.append(exc)
    _raise_all(errors)
    return base.replace(**changes) if changes else base


def load(paths: Iterable[Path | str], settings: Settings,
         reporter: Reporter | None = None) -> Deployment:
    """Read, check and merge deployment files into a :class:`Deployment` (code zipped).

    ``reporter`` warns about placeholders without a value (a new one when not given).
    Raises every problem of every file at once (functions are built, and their problems
    found, once all the files read cleanly).
    """
    reporter = reporter if reporter is not None else Reporter()
    files = paths_of(paths)
    deployment = Deployment(files)
    merged: dict[str, tuple[MarkedDict, _Origins]] = {}
    names: dict[str, Any] = {}
    sources, errors = [], []
    for path in files:
        try:
            sources.append(_read(path, settings))
        except ConfigError as exc:
            errors.append(exc)
    _raise_all(errors)
    for source in sources:
        deployment.settings.update(source.settings)
        deployment.queues.update(source.queues)
        deployment.topics.update(source.topics)
        deployment.ignored += source.ignored
        deployment.conversions += source.conversions
        names.update(source.names)
        for name, props, prefix, where in source.functions:
            _merge(merged, name, props, prefix, where)
    for name, (props, origins) in merged.items():
        try:
            deployment.functions[name] = build_function(name, props, origins, settings, names,
                                                        reporter)
        except ConfigError as exc:
            errors.append(exc)
    _raise_all(errors)
    if not settings.strict_destinations:
        add_destination_resources(deployment)
    return deployment


def paths_of(paths: Iterable[Path | str]) -> tuple[Path, ...]:
    """The files as paths, in order."""
    return tuple(Path(p) for p in paths)


def _raise_all(errors: list[ConfigError]) -> None:
    error = ConfigErrors.of(errors)
    if error is not None:
        raise error


# -- reading one file ---------------------------------------------------------------------

def _read(path: Path, settings: Settings) -> _Source:
    doc = load_yaml(path)
    if not isinstance(doc, MarkedDict):
        raise ConfigError(path, "", "expected a mapping: an s.yaml (edition 3.0.0 with "
                                    "resources) or an fcemu.yaml (functions, queues, settings)")
    _raise_all(template_errors(doc, doc.where))
    source = _Source(path)
    if is_s2(doc):  # Serverless Devs 2.x: converted as `s cli fc3 s2tos3` does
        doc, conversion = convert(doc)
        source.conversions.append(conversion)
    if "resources" in doc or "edition" in doc:
        parsed = read_s_yaml(doc, path, settings)
        source.names, source.settings, source.ignored = parsed.names, parsed.settings, \
            parsed.ignored
        source.functions = [(name, _check_props(props, source, prefix), prefix, where)
                            for name, props, prefix, where in parsed.functions]
    else:
        _read_fcemu_yaml(doc, source, settings)
    _raise_all(source.errors)
    return source


def _read_fcemu_yaml(doc: MarkedDict, source: _Source, settings: Settings) -> None:
    doc = coerce(Refs(doc, settings).resolve(doc, doc.where, "", None), SCHEMA)
    try:
        validate(doc, SCHEMA, doc.where, "")
    except ConfigError as exc:  # report the functions' unknown props along with it
        source.errors.append(exc)
        listed = doc.get("functions")
        for name, props in listed.items() if isinstance(listed, MarkedDict) else ():
            if isinstance(props, MarkedDict):
                _check_props(props, source, f"functions.{name}")
        return
    source.names = dict(doc.get("vars") or {})
    block: MarkedDict = doc.get("settings") or marked_dict(doc.where)
    for key, value in block.items():
        if key == "start":
            try:
                value = to_epoch_ms(value)
            except ValueError as exc:
                raise ConfigError(block.at(key), "settings.start", str(exc)) from None
        elif key == "accountId":
            value = str(value)
        elif key == "accessKeys":
            value = tuple(tuple(item.split(":", 1)) for item in value)
        elif key in ("passEnv", "allowHosts", "allowOrigins"):
            value = tuple(value)
        elif key == "layers":
            value = _layer_map(value, source.path)
        elif key == "dataDir":  # relative to the file
            value = (source.path.parent / str(value)).absolute()
        elif key == "node" and "/" in str(value):  # a path (relative to the file), not a name
            value = str((source.path.parent / str(value)).absolute())
        source.settings[_SETTINGS[key]] = value
    functions: MarkedDict = doc.get("functions") or marked_dict(doc.where)
    for name, props in functions.items():
        prefix = f"functions.{name}"
        props = props if props is not None else marked_dict(functions.at(name))
        if props.get("functionName", name) != name:
            source.errors.append(ConfigError(props.at("functionName"), f"{prefix}.functionName",
                                             f"must match the key {name!r} (or be left out)"))
        source.functions.append((name, _check_props(props, source, prefix), prefix,
                                 functions.at(name)))
    for name, attributes in (doc.get("queues") or {}).items():
        source.queues[name] = _mns_attributes(attributes or {})
    for name, topic in (doc.get("topics") or {}).items():
        topic = topic or {}
        subscriptions = {
            sub: (options["queue"], {k: v for k, v in options.items() if k != "queue"})
            for sub, options in (topic.get("subscriptions") or {}).items()
        }
        attributes = {k: v for k, v in topic.items() if k != "subscriptions"}
        source.topics[name] = (_mns_attributes(attributes), subscriptions)


def _layer_map(block: MarkedDict, path: Path) -> tuple[tuple[str, str], ...]:
    """``settings.layers``: ARN → folder or .zip, relative to the file; each must exist."""
    pairs = []
    for arn, local in block.items():
        target = path.parent / local
        if not target.exists():
            raise ConfigError(block.at(arn), f"settings.layers.{arn}",
                              f"{target} does not exist: map the layer to a folder holding "
                              "its content (python/, nodejs/node_modules/, lib/, bin/...) or "
                              "to its .zip file")
        pairs.append((arn, str(target)))
    return tuple(pairs)


def _check_props(props: MarkedDict, source: _Source, prefix: str) -> MarkedDict:
    """Validate the modelled props, note the accepted others, and refuse unknown ones (into
    ``source.errors``); make ``code`` an absolute path."""
    props = coerce(props, SCHEMA["$defs"]["function"])
    schema = SCHEMA["$defs"]["function"]["properties"]
    allowed = props.get(ALLOW_UNKNOWN)
    allowed = set(allowed) if isinstance(allowed, list) else set()
    for key, value in props.items():
        if key == "functionName" and source.conversions and isinstance(value, str) \
                and MIGRATED_FUNCTION_NAME.match(value):
            continue  # a 2.x file's service$function, the name FC 3.0 gives it
        if key in MODELLED_PROPS:
            try:
                validate(value, schema[key], props.at(key), f"{prefix}.{key}")
            except ConfigError as exc:
                source.errors.append(exc)
        elif key in UNMODELLED_PROPS or key in allowed:
            if key != "region":
                source.ignored.append((source.path, f"{prefix}.{key}", props.at(key).line))
        else:
            source.errors.append(unknown_field(
                props.at(key), f"{prefix}.{key}", key, _KNOWN_PROPS,
                f"fcemu does not know it; if it is an FC field, list it in {ALLOW_UNKNOWN} "
                "to accept and ignore it"))
    code = props.get("code")
    if isinstance(code, Mapping) and code.get("src"):
        code = code["src"]
    if isinstance(code, str):
        props = marked_dict(props.where, {**props, "code": str(source.path.parent / code)},
                            props.key_where)
    return props


def _mns_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """fcemu.yaml's camelCase queue/topic attributes → MNS names (``VisibilityTimeout``)."""
    return {key[:1].upper() + key[1:]: value for key, value in attributes.items()}


# -- merging ------------------------------------------------------------------------------

def _merge(merged: dict[str, tuple[MarkedDict, _Origins]], name: str, props: MarkedDict,
           prefix: str, where: Where) -> None:
    """Overlay a later file's props on a function: mappings merge, other values replace."""
    origins = {k: (props.at(k), f"{prefix}.{k}") for k in props}
    if name not in merged:
        merged[name] = (props, {**origins, "": (where, prefix)})
        return
    base, base_origins = merged[name]
    merged[name] = (_deep_merge(base, props), {**base_origins, **origins})


def _deep_merge(base: Any, over: Any) -> Any:
    if isinstance(base, MarkedDict) and isinstance(over, MarkedDict):
        out = marked_dict(base.where, dict(base), {**base.key_where, **over.key_where})
        for key, value in over.items():
            out[key] = _deep_merge(base.get(key), value)
        return out
    return over
