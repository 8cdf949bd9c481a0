"""Deploying a loaded :class:`~fcemu.config.deployment.Deployment` into an engine.

The layer above the engine (the :class:`~fcemu.server.Emulator`) deploys the
``settings.config`` files on a new engine and hands the engine a
:class:`Deployer` to call after every reset, so the same deployment is back; the
``--watch`` watcher (:mod:`fcemu.config.watch`) deploys what changed. Everything
goes through the engine's public operations (CreateFunction, UpdateFunction,
PutAsyncInvokeConfig, PutConcurrencyConfig, CreateQueue, CreateTopic, Subscribe...),
and every call to the engine is in the section "the engine calls" below.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fcemu.config.deployment import Deployment, FunctionEntry, Reporter
from fcemu.config.load import load
from fcemu.config.marked import ConfigError
from fcemu.engine import AliasSpec
from fcemu.errors import (
    AsyncConfigNotExists,
    ConcurrencyConfigNotFound,
    FcError,
    FunctionNotFound,
    SmqError,
)
from fcemu.models import LATEST, Alias, Version
from fcemu.specs import FunctionSpec
from fcemu.triggers import Trigger, TriggerSpec

if TYPE_CHECKING:
    from fcemu.engine import Engine

__all__ = ["Deployer", "apply_config", "deploy", "deploy_async", "function_exists"]

log = logging.getLogger("fcemu.config")
_Item = TypeVar("_Item")

#: What UpdateFunction resets a field to when a reloaded file no longer sets it (spec §11.1).
_UPDATE_DEFAULTS: dict[str, Any] = {"timeout": 3, "memory_size": 128, "instance_concurrency": 1,
                                    "environment_variables": {}, "description": ""}


def apply_config(engine: Engine, paths: Iterable[Path | str],
                 reporter: Reporter | None = None) -> None:
    """Deploy what the files describe into ``engine`` (on the emulator loop), strictly: what
    the engine refuses is a :class:`ConfigError`. The code is unpacked on this thread."""
    reporter = reporter if reporter is not None else Reporter()
    deployment = load(paths, engine.settings, reporter)
    reporter.report_ignored(deployment)
    deploy(engine, deployment, strict=True)


class Deployer:
    """Deploys an engine's ``settings.config`` files (nothing when there are none).

    The emulator calls it on a new engine, and the engine after each reset; its
    :attr:`reporter` warns about each ignored prop or placeholder once for the
    emulator's life (hand it to :func:`~fcemu.config.watch.watch` too).
    """

    def __init__(self) -> None:
        self.reporter = Reporter()

    def __call__(self, engine: Engine) -> None:
        if engine.settings.config:
            apply_config(engine, engine.settings.config, self.reporter)


def deploy(engine: Engine, deployment: Deployment, *, strict: bool) -> list[str]:
    """Create or update everything, the code unpacked on this thread; the names of the
    functions deployed. ``strict``: the first refusal is a ConfigError (else logged)."""
    _deploy_smq(engine, deployment, strict)
    done = []
    for entry in deployment.functions.values():
        with _refusals(entry, strict):
            if function_exists(engine, entry.name):
                engine.update_function(entry.name, _update_spec(entry))
            else:
                engine.create_function(entry.spec)
            _deploy_configs(engine, entry)
            done.append(entry.name)
    return done


async def deploy_async(engine: Engine, deployment: Deployment) -> list[str]:
    """:func:`deploy` (refusals logged), the code unpacked on worker threads."""
    _deploy_smq(engine, deployment, strict=False)
    done = []
    for entry in deployment.functions.values():
        with _refusals(entry, strict=False):
            if function_exists(engine, entry.name):
                await engine.update_function_async(entry.name, _update_spec(entry))
            else:
                await engine.create_function_async(entry.spec)
            _deploy_configs(engine, entry)
            done.append(entry.name)
    return done


# -- the engine calls ---------------------------------------------------------------------

def function_exists(engine: Engine, name: str) -> bool:
    """GetFunction: is ``name`` deployed?"""
    try:
        engine.get_function(name)
    except FunctionNotFound:
        return False
    return True


def _deploy_configs(engine: Engine, entry: FunctionEntry) -> None:
    """The function's async invoke config and reserved concurrency: put, or deleted when the
    files no longer set them."""
    _deploy_versions(engine, entry)
    kept = None
    if entry.async_config is not None and entry.async_spec is not None:
        kept = engine.put_async_invoke_config(entry.name, entry.async_config[0],
                                              entry.async_spec).qualifier
    for config in _every(lambda token: engine.list_async_invoke_configs(
            entry.name, limit=100, next_token=token)):
        if config.qualifier != kept:  # any qualifier's: the files set at most one
            with suppress(AsyncConfigNotExists):
                engine.delete_async_invoke_config(entry.name, config.qualifier)
    if entry.reserved_concurrency is not None:
        engine.put_concurrency_config(entry.name, entry.reserved_concurrency)
    else:
        with suppress(ConcurrencyConfigNotFound):
            engine.delete_concurrency_config(entry.name)
    _deploy_triggers(engine, entry)


def _every(read_page: Callable[[str], tuple[list[_Item], str]]) -> list[_Item]:
    """Every item of a paged engine listing, its pages read in turn (``nextToken``)."""
    items: list[_Item] = []
    token = ""
    while True:
        page, token = read_page(token)
        items += page
        if not token:
            return items


def _deploy_versions(engine: Engine, entry: FunctionEntry) -> None:
    """``x-fcemu-versions``: published until the function has as many (a version is
    immutable: one published before stays as it was); ``x-fcemu-aliases``: created or
    updated as declared, and those the files no longer declare deleted."""
    existing: list[Version] = _every(lambda token: engine.list_function_versions(
        entry.name, direction="FORWARD", limit=100, next_token=token))
    for description in entry.versions[len(existing):]:
        engine.publish_function_version(entry.name, description)
    aliases: dict[str, Alias] = {a.alias_name: a for a in _every(
        lambda token: engine.list_aliases(entry.name, limit=100, next_token=token))}
    wanted = {doc["aliasName"]: doc for doc in entry.aliases}
    for name in aliases.keys() - wanted.keys():
        engine.delete_alias(entry.name, name)
    for name, doc in wanted.items():
        spec = AliasSpec(alias_name=name, version_id=doc["versionId"],
                         description=doc.get("description", ""),
                         additional_version_weight=doc.get("additionalVersionWeight", {}))
        if name in aliases:
            engine.update_alias(entry.name, name, spec)
        else:
            engine.create_alias(entry.name, spec)


def _deploy_triggers(engine: Engine, entry: FunctionEntry) -> None:
    """The function's triggers as the files declare them: created, updated when they differ
    (a timer's schedule counts from now when its config changed), deleted when the files
    drop them."""
    existing: dict[str, Trigger] = {t.trigger_name: t for t in _every(
        lambda token: engine.list_triggers(entry.name, limit=100, next_token=token))}
    wanted = {doc["triggerName"]: doc for doc in entry.triggers}
    for name in existing.keys() - wanted.keys():
        engine.delete_trigger(entry.name, name)
    for name, doc in wanted.items():
        spec = TriggerSpec(trigger_name=name, trigger_type=doc["triggerType"],
                           trigger_config=doc["triggerConfig"],
                           qualifier=doc.get("qualifier", LATEST),
                           invocation_role=doc.get("invocationRole", ""),
                           source_arn=doc.get("sourceArn", ""),
                           description=doc.get("description", ""))
        old = existing.get(name)
        if old is not None and (old.trigger_type, old.source_arn) != (spec.trigger_type,
                                                                     spec.source_arn):
            engine.delete_trigger(entry.name, name)  # neither can change in place
            old = None
        if old is None:
            engine.create_trigger(entry.name, spec)
        elif (old.trigger_config, old.qualifier, old.invocation_role, old.description) != (
                spec.trigger_config, spec.qualifier, spec.invocation_role, spec.description):
            engine.update_trigger(entry.name, name, spec)


def _deploy_smq(engine: Engine, deployment: Deployment, strict: bool) -> None:
    """Queues, topics and subscriptions: created, or their attributes set when they exist."""
    for name, attributes in deployment.queues.items():
        with _smq_refusals(f"queues.{name}", strict):
            _create_or_set(engine.create_queue, engine.set_queue_attributes, name, attributes)
    for name, (attributes, subscriptions) in deployment.topics.items():
        with _smq_refusals(f"topics.{name}", strict):
            _create_or_set(engine.create_topic, engine.set_topic_attributes, name, attributes)
        for sub, (queue, options) in subscriptions.items():
            with _smq_refusals(f"topics.{name}.subscriptions.{sub}", strict):
                engine.subscribe(name, sub, queue,
                                 notify_strategy=options.get("notifyStrategy", ""),
                                 notify_content_format=options.get("notifyContentFormat", ""),
                                 filter_tag=options.get("filterTag", ""))


# -- helpers ------------------------------------------------------------------------------

def _update_spec(entry: FunctionEntry) -> FunctionSpec:
    """UpdateFunction's spec: every field the files set, the defaults for the others."""
    spec = entry.spec
    defaults = {k: v for k, v in _UPDATE_DEFAULTS.items() if getattr(spec, k) is None}
    extra = spec.extra if "layers" in spec.extra else {**spec.extra, "layers": []}
    return replace(spec, name=None, tags=None, extra=extra, **defaults)


def _create_or_set(create: Callable[..., Any], update: Callable[..., Any], name: str,
                   attributes: dict[str, Any]) -> None:
    try:
        create(name, **attributes)
    except SmqError:  # exists with other attributes (a reload changed them)
        update(name, **attributes)


@contextmanager
def _refusals(entry: FunctionEntry, strict: bool) -> Iterator[None]:
    """An FC error deploying ``entry``: a ConfigError at its declaration, or logged."""
    try:
        yield
    except FcError as exc:
        if strict:  # at the prop the error is about (e.g. layers), else the function
            at, name = entry.origins.get(getattr(exc, "field", ""), entry.origins[""])
            raise ConfigError(at, name, f"{exc.code}: {exc.message}") from None
        log.error("%s: %s: %s: %s", entry.where, entry.name, exc.code, exc.message)


@contextmanager
def _smq_refusals(name: str, strict: bool) -> Iterator[None]:
    """An SMQ error deploying ``name``: a ConfigError, or logged."""
    try:
        yield
    except SmqError as exc:
        if strict:
            raise ConfigError(None, name, str(exc)) from None
        log.error("%s: %s", name, exc)
