"""Deployment files: Serverless Devs ``s.yaml`` (component ``fc3``) and ``fcemu.yaml``.

``fcemu serve --config s.yaml`` brings a project up as ``s deploy`` would:
:func:`load_settings` reads emulator settings before the server starts,
and the engine calls :func:`apply_config` at start and after every reset,
which deploys functions (code directories zipped in memory), async invoke
configs, concurrency limits, queues and topics through the engine's own
operations. Several files may be given: later files override earlier ones,
function by function and field by field. :func:`watch` redeploys what
changed while the server runs, keeping task records.

Every problem is a :class:`ConfigError` naming the file, the line and the
field. Props fcemu does not model are accepted and reported once, as a
warning, never an error.
"""

from __future__ import annotations

import asyncio
import logging
import re
from base64 import b64encode
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fcemu import inputs
from fcemu.clock import to_epoch_ms
from fcemu.code import Package, zip_code
from fcemu.code import code_files as _code_files
from fcemu.config_schema import (
    MODELLED_PROPS,
    SCHEMA,
    ConfigError,
    MarkedDict,
    Where,
    coerce,
    load_yaml,
    marked_dict,
    validate,
)
from fcemu.config_syaml import Refs, read_s_yaml
from fcemu.destinations import parse_destination
from fcemu.errors import FcError, InvalidArgument, SmqError
from fcemu.models import LATEST
from fcemu.settings import Settings

if TYPE_CHECKING:
    from fcemu.engine import Engine

__all__ = ["ConfigError", "Deployment", "FunctionSpec", "Watcher", "apply_config", "load",
           "load_settings", "watch"]

log = logging.getLogger("fcemu.config")

#: fcemu.yaml ``settings`` keys → :class:`~fcemu.Settings` fields.
_SETTINGS = {"host": "host", "port": "port", "clock": "clock", "start": "start_ms",
             "seed": "seed", "region": "region", "accountId": "account_id",
             "retryBaseMs": "retry_base_ms", "destinationEncoding": "destination_encoding",
             "strictDestinations": "strict_destinations", "maxInstances": "max_instances",
             "instanceIdleSeconds": "instance_idle_seconds", "settleTimeout": "settle_timeout",
             "accessKeys": "access_keys", "passEnv": "pass_env",
             "allowHosts": "allow_hosts", "allowOrigins": "allow_origins"}
#: Function fields passed to CreateFunction as they are.
_PLAIN = ("runtime", "handler", "timeout", "memorySize", "cpu", "diskSize", "instanceConcurrency",
          "description", "customRuntimeConfig", "instanceLifecycleConfig")
#: What UpdateFunction resets a field to when a reloaded file no longer sets it (spec §11.1).
_UPDATE_DEFAULTS = {"timeout": 3, "memorySize": 128, "instanceConcurrency": 1,
                    "environmentVariables": {}, "description": ""}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_-]*)\}")
_ACCOUNT_WORDS = frozenset({"accountid", "account_id", "account-id", "uid"})
_REGION_WORDS = frozenset({"region", "regionid", "region_id", "region-id"})
#: (file, field) pairs already reported as ignored: report once per process.
_reported: set[tuple[str, str]] = set()

_Fail = Callable[[str, str], ConfigError]


@dataclass
class FunctionSpec:
    """One function as the files describe it, in FC API shapes."""

    name: str
    #: ``CreateFunctionInput`` with ``code.zipFile``.
    doc: dict[str, Any]
    #: ``(qualifier, PutAsyncInvokeConfigInput)`` or None.
    async_config: tuple[str, dict[str, Any]] | None
    reserved_concurrency: int | None
    where: Where
    #: Where each prop was written, and its dotted field name, for error messages.
    origins: dict[str, tuple[Where, str]]
    #: Code directory or zip the function was built from (watched by ``--watch``).
    code_path: Path | None = None


@dataclass
class Deployment:
    """Everything a set of deployment files asks for."""

    files: tuple[Path, ...]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    #: queue name → MNS attributes (``VisibilityTimeout``…)
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: topic name → (MNS attributes, subscription name → (queue, options))
    topics: dict[str, tuple[dict[str, Any], dict[str, tuple[str, dict[str, str]]]]] = \
        field(default_factory=dict)
    #: Settings fields the files set (``region``, ``clock``…)
    settings: dict[str, Any] = field(default_factory=dict)
    #: (file, field, line) of everything accepted but not modelled.
    ignored: list[tuple[Path, str, int]] = field(default_factory=list)


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


# -- public API -------------------------------------------------------------------------

def load_settings(paths: Iterable[Path | str], base: Settings) -> Settings:
    """``base`` with what the files' ``settings`` (fcemu.yaml) and ``region`` (s.yaml) say.

    Later files win. Read before the server starts; raises :class:`ConfigError`.
    """
    changes: dict[str, Any] = {}
    for path in _paths(paths):
        changes.update(_read(path, base).settings)
    return base.replace(**changes) if changes else base


def load(paths: Iterable[Path | str], settings: Settings) -> Deployment:
    """Read, check and merge deployment files into a :class:`Deployment` (code zipped)."""
    files = _paths(paths)
    deployment = Deployment(files)
    merged: dict[str, tuple[MarkedDict, dict[str, tuple[Where, str]]]] = {}
    names: dict[str, Any] = {}
    for source in (_read(path, settings) for path in files):
        deployment.settings.update(source.settings)
        deployment.queues.update(source.queues)
        deployment.topics.update(source.topics)
        deployment.ignored += source.ignored
        names.update(source.names)
        for name, props, prefix, where in source.functions:
            _merge(merged, name, props, prefix, where)
    for name, (props, origins) in merged.items():
        spec = _build_function(name, props, origins, settings, names)
        deployment.functions[name] = spec
    if not settings.strict_destinations:
        _add_destination_resources(deployment)
    return deployment


def apply_config(engine: Engine, paths: Iterable[Path | str]) -> None:
    """Deploy what the files describe into ``engine`` (runs on the emulator loop).

    Called by ``Engine.__init__`` when ``Settings.config`` is set, so the same
    deployment is back after every reset; the code is unpacked right here (start-up
    and reset are synchronous), while the :class:`Watcher` unpacks on worker threads.
    """
    deployment = load(paths, engine.settings)
    report_ignored(deployment)
    _deploy(engine, deployment, strict=True)


def watch(engine: Engine, paths: Iterable[Path | str], interval: float = 1.0) -> Watcher:
    """Start polling the files (and code) every ``interval`` real seconds; call on the loop."""
    return Watcher(engine, _paths(paths), interval)


def report_ignored(deployment: Deployment) -> None:
    """Log, once per file and field, the props fcemu accepted without modelling them."""
    by_file: dict[Path, list[str]] = {}
    for path, name, line in deployment.ignored:
        if (str(path), name) not in _reported:
            _reported.add((str(path), name))
            by_file.setdefault(path, []).append(f"{name} (line {line})")
    for path, fields in by_file.items():
        log.warning("%s: accepted but not modelled by fcemu, ignored: %s", path,
                    ", ".join(fields))


# -- reading one file ---------------------------------------------------------------------

def _paths(paths: Iterable[Path | str]) -> tuple[Path, ...]:
    return tuple(Path(p) for p in paths)


def _read(path: Path, settings: Settings) -> _Source:
    doc = load_yaml(path)
    if not isinstance(doc, MarkedDict):
        raise ConfigError(path, "", "expected a mapping: an s.yaml (edition 3.0.0 with "
                                    "resources) or an fcemu.yaml (functions, queues, settings)")
    source = _Source(path)
    if "services" in doc and "resources" not in doc:
        raise ConfigError(doc.at("services"), "services", "this is a Serverless Devs 2.x file "
                          "(FC 2.0 services); fcemu reads 3.x s.yaml files: edition 3.0.0, "
                          "resources with component fc3")
    if "resources" in doc or "edition" in doc:
        parsed = read_s_yaml(doc, path, settings)
        source.names, source.settings, source.ignored = parsed.names, parsed.settings, \
            parsed.ignored
        source.functions = [(name, _check_props(props, source, prefix), prefix, where)
                            for name, props, prefix, where in parsed.functions]
    else:
        _read_fcemu_yaml(doc, source, settings)
    return source


def _read_fcemu_yaml(doc: MarkedDict, source: _Source, settings: Settings) -> None:
    doc = coerce(Refs(doc, settings).resolve(doc, doc.where, "", None), SCHEMA)
    validate(doc, SCHEMA, doc.where, "")
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
        source.settings[_SETTINGS[key]] = value
    functions: MarkedDict = doc.get("functions") or marked_dict(doc.where)
    for name, props in functions.items():
        prefix = f"functions.{name}"
        props = props if props is not None else marked_dict(functions.at(name))
        if props.get("functionName", name) != name:
            raise ConfigError(props.at("functionName"), f"{prefix}.functionName",
                              f"must match the key {name!r} (or be left out)")
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


def _check_props(props: MarkedDict, source: _Source, prefix: str) -> MarkedDict:
    """Validate the modelled props; note the others; make ``code`` an absolute path."""
    props = coerce(props, SCHEMA["$defs"]["function"])
    schema = SCHEMA["$defs"]["function"]["properties"]
    for key, value in props.items():
        if key in MODELLED_PROPS:
            validate(value, schema[key], props.at(key), f"{prefix}.{key}")
        elif key != "region":
            source.ignored.append((source.path, f"{prefix}.{key}", props.at(key).line))
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


# -- merging and building -----------------------------------------------------------------

def _merge(merged: dict[str, tuple[MarkedDict, dict[str, tuple[Where, str]]]], name: str,
           props: MarkedDict, prefix: str, where: Where) -> None:
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


def _build_function(name: str, props: MarkedDict, origins: dict[str, tuple[Where, str]],
                    settings: Settings, names: Mapping[str, Any]) -> FunctionSpec:
    where, prefix = origins[""]

    def fail(key: str, message: str) -> ConfigError:
        at, field_name = origins.get(key, (where, f"{prefix}.{key}"))
        return ConfigError(at, field_name, message)

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
        if key not in MODELLED_PROPS and key in inputs.ECHOED_FIELDS and value != "auto":
            doc[key] = value  # accepted and echoed by GetFunction, not modelled
    code_path, doc["code"] = _code(props["code"], fail)
    try:
        inputs.check_function_name(name)
        inputs.function_fields(doc, create=True)
    except InvalidArgument as exc:
        raise fail(_field_of(exc.message), exc.message) from None
    async_config = None
    if props.get("asyncInvokeConfig") is not None:
        field_name = origins.get("asyncInvokeConfig", (where, f"{prefix}.asyncInvokeConfig"))[1]
        async_config = _async_config(props["asyncInvokeConfig"], settings, names, field_name)
    concurrency = (props.get("concurrencyConfig") or {}).get("reservedConcurrency")
    return FunctionSpec(name, doc, async_config, concurrency, where, origins, code_path)


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
        return path, {"zipFile": b64encode(zip_code(path)).decode()}
    except ValueError as exc:
        raise fail("code", str(exc)) from None


def _async_config(config: MarkedDict, settings: Settings, names: Mapping[str, Any],
                  field_name: str) -> tuple[str, dict[str, Any]]:
    qualifier = config.get("qualifier") or LATEST
    if qualifier != LATEST:
        raise ConfigError(config.at("qualifier"), f"{field_name}.qualifier",
                          f"{qualifier!r}: fcemu models the LATEST qualifier only")
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
                arn, settings, names, targets.at(key), f"{field_name}.destinationConfig.{key}")}
    if destinations:
        doc["destinationConfig"] = destinations
    return qualifier, doc


def _arn(value: str, settings: Settings, names: Mapping[str, Any], where: Where,
         field_name: str) -> str:
    """A destination ARN with ``{accountid}``-style placeholders filled (README: config)."""
    if not value.startswith("acs:"):
        value = f"acs:mns:{settings.region}:{settings.account_id}:/queues/{value}/messages"

    def fill(match: re.Match[str]) -> str:
        word = match[1]
        if word.lower() in _ACCOUNT_WORDS:
            return settings.account_id
        if word.lower() in _REGION_WORDS:
            return settings.region
        if word in names and isinstance(names[word], (str, int)):
            return str(names[word])
        if (str(where.path), "{" + word + "}") not in _reported:  # once per file
            _reported.add((str(where.path), "{" + word + "}"))
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


def _add_destination_resources(deployment: Deployment) -> None:
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


# -- deploying ----------------------------------------------------------------------------

def _deploy(engine: Engine, deployment: Deployment, *, strict: bool,
            packages: dict[str, Package] | None = None) -> None:
    """Create or update everything; ``strict`` turns engine errors into ConfigErrors.

    ``packages`` holds code already unpacked (off the loop) by function name; the rest is
    unpacked here.
    """
    packages = packages if packages is not None else {}
    smq = engine.smq
    for name, attributes in deployment.queues.items():
        _smq_call(f"queues.{name}", strict, _ensure, smq.create_queue,
                  smq.set_queue_attributes, name, attributes)
    for name, (attributes, subscriptions) in deployment.topics.items():
        _smq_call(f"topics.{name}", strict, _ensure, smq.create_topic,
                  smq.set_topic_attributes, name, attributes)
        for sub, (queue, options) in subscriptions.items():
            _smq_call(f"topics.{name}.subscriptions.{sub}", strict, smq.subscribe, name, sub,
                      smq.queue_endpoint(queue),
                      notify_strategy=options.get("notifyStrategy", ""),
                      notify_content_format=options.get("notifyContentFormat", ""),
                      filter_tag=options.get("filterTag", ""))
    for spec in deployment.functions.values():
        try:
            _deploy_function(engine, spec, packages.pop(spec.name, None))
        except FcError as exc:
            if strict:
                raise ConfigError(spec.where, spec.origins[""][1],
                                  f"{exc.code}: {exc.message}") from None
            log.error("%s: %s: %s: %s", spec.where, spec.name, exc.code, exc.message)


def _ensure(create: Callable[..., Any], update: Callable[..., Any], name: str,
            attributes: dict[str, Any]) -> None:
    try:
        create(name, **attributes)
    except SmqError:  # exists with other attributes (a reload changed them)
        update(name, **attributes)


def _smq_call(name: str, strict: bool, call: Callable[..., Any], *args: Any,
              **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except SmqError as exc:
        if strict:
            raise ConfigError(None, name, str(exc)) from None
        log.error("%s: %s", name, exc)


def _deploy_function(engine: Engine, spec: FunctionSpec, package: Package | None) -> None:
    unpacked: dict[str, Any] = {"package": package} if package is not None else {}
    if spec.name in engine.functions:
        update = {k: v for k, v in spec.doc.items() if k not in ("functionName", "tags")}
        engine.update_function(spec.name, {**_UPDATE_DEFAULTS, **update}, **unpacked)
    else:
        engine.create_function(spec.doc, **unpacked)
    if spec.async_config is not None:
        engine.put_async_invoke_config(spec.name, *spec.async_config)
    elif (spec.name, LATEST) in engine.async_configs:
        engine.delete_async_invoke_config(spec.name, LATEST)
    if spec.reserved_concurrency is not None:
        engine.put_concurrency_config(spec.name, spec.reserved_concurrency)
    elif spec.name in engine.concurrency:
        engine.delete_concurrency_config(spec.name)


# -- watching -----------------------------------------------------------------------------

class Watcher:
    """Polls the deployment files and code every ``interval`` real seconds; redeploys changes.

    Runs on the emulator loop (not on the emulator clock: a manual clock must
    not stop it); the files are read and the code unpacked on worker threads.
    Changed functions get UpdateFunction (new code, new config) and
    PutAsyncInvokeConfig; new ones are created; task records are kept. Functions
    removed from the files stay deployed until a restart. A file with an error
    is reported and the previous deployment kept.
    """

    def __init__(self, engine: Engine, paths: tuple[Path, ...], interval: float = 1.0) -> None:
        self.engine, self.paths, self.interval = engine, paths, interval
        self.previous = load(paths, engine.settings)
        self.stamp = self._stamp(self.previous)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fcemu-watch")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.poll_async()
            except Exception:  # the watcher must outlive any one bad reload
                log.exception("reloading %s failed", ", ".join(map(str, self.paths)))

    def poll(self) -> bool:
        """Redeploy if anything changed since the last poll; True when it did. Blocking:
        the files are read and the code unpacked on this thread."""
        deployment = self._reload()
        if deployment is None:
            return False
        self._redeploy(deployment, self._changed_names(deployment), {})
        return True

    async def poll_async(self) -> bool:
        """:meth:`poll`, with the files read and the code unpacked on worker threads."""
        loop = asyncio.get_running_loop()
        deployment = await loop.run_in_executor(None, self._reload)
        if deployment is None:
            return False
        changed, packages = self._changed_names(deployment), {}
        for name in list(changed):
            zip_file = (deployment.functions[name].doc.get("code") or {}).get("zipFile")
            if not zip_file:
                continue
            try:
                packages[name] = await self.engine.code.prepare_async(name, zip_file)
            except FcError as exc:
                log.error("%s: %s: %s: %s", deployment.functions[name].where, name, exc.code,
                          exc.message)
                changed.remove(name)
        self._redeploy(deployment, changed, packages)
        return True

    def _reload(self) -> Deployment | None:
        """The deployment files again, if they or the code changed since the last poll."""
        stamp = self._stamp(self.previous)
        if stamp == self.stamp:
            return None
        self.stamp = stamp
        try:
            return load(self.paths, self.engine.settings)
        except ConfigError as exc:
            log.error("not reloaded: %s (the previous deployment stays)", exc)
            return None

    def _changed_names(self, deployment: Deployment) -> list[str]:
        return [name for name, spec in deployment.functions.items()
                if _changed(self.previous.functions.get(name), spec)
                or name not in self.engine.functions]

    def _redeploy(self, deployment: Deployment, changed: list[str],
                  packages: dict[str, Package]) -> None:
        report_ignored(deployment)
        subset = Deployment(deployment.files, {n: deployment.functions[n] for n in changed},
                            deployment.queues, deployment.topics)
        _deploy(self.engine, subset, strict=False, packages=packages)
        self.previous = deployment
        self.stamp = self._stamp(deployment)
        log.warning("reloaded %s: %s", ", ".join(map(str, self.paths)),
                    ", ".join(changed) or "no function changed")

    def _stamp(self, deployment: Deployment) -> tuple[tuple[str, int, int], ...]:
        paths = list(self.paths) + [s.code_path for s in deployment.functions.values()
                                    if s.code_path is not None]
        stamp = []
        for path in paths:
            files = _code_files(path) if path.is_dir() else [path]
            for file in files:
                try:
                    st = file.stat()
                except OSError:
                    stamp.append((str(file), -1, -1))
                else:
                    stamp.append((str(file), st.st_mtime_ns, st.st_size))
        return tuple(stamp)

    async def stop(self) -> None:
        """Stop polling."""
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


def _changed(old: FunctionSpec | None, new: FunctionSpec) -> bool:
    return old is None or (old.doc, old.async_config, old.reserved_concurrency) != (
        new.doc, new.async_config, new.reserved_concurrency)
