"""Trigger records and their ``triggerConfig``: what each trigger type accepts.

A :class:`Trigger` is what CreateTrigger stores and GetTrigger returns (the SDK's
``Trigger`` model: ``triggerName``, ``triggerType``, ``triggerConfig`` as a JSON
string, ``qualifier``, ``invocationRole``, ``sourceArn``, ``description`` and the
read-only ``triggerId``, ``createdTime``, ``lastModifiedTime``, ``status``,
``targetArn``). :func:`parse_config` checks a ``triggerConfig`` for its type and returns
the parsed parts the emulator acts on (:class:`TimerConfig`, :class:`HttpConfig`,
:class:`TopicConfig`, :class:`QueueConfig`); other types are stored and fired by hand.
No engine here: the engine mixin (:mod:`fcemu.engine.triggers`) schedules and fires.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from fcemu.triggers.schedule import Schedule, ScheduleError, parse_schedule

__all__ = ["HTTP_METHODS", "TRIGGER_TYPES", "HttpConfig", "ParsedConfig", "QueueConfig",
           "TimerConfig", "TopicConfig", "Trigger", "TriggerConfigError", "TriggerSpec",
           "check_trigger_name", "parse_config", "queue_source", "topic_of_arn"]

#: CreateTriggerInput.triggerType, as the SDK documents it.
TRIGGER_TYPES = ("oss", "log", "timer", "http", "tablestore", "cdn_events", "mns_topic",
                 "eventbridge")
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
_TOPIC_FORMATS = ("STREAM", "JSON", "XML")


class TriggerConfigError(ValueError):
    """A trigger field FC would refuse; the message says what to fix."""


@dataclass
class Trigger:
    """One trigger of a function (live record, owned by the engine)."""

    function_name: str
    trigger_name: str
    trigger_type: str
    trigger_config: str
    trigger_id: str
    created_ms: int
    modified_ms: int
    target_arn: str
    qualifier: str = "LATEST"
    invocation_role: str = ""
    source_arn: str = ""
    description: str = ""
    status: str = "OK"


@dataclass(frozen=True)
class TriggerSpec:
    """CreateTriggerInput / UpdateTriggerInput, typed; ``None``: not given (an update keeps
    the stored value)."""

    trigger_name: str | None = None
    trigger_type: str | None = None
    trigger_config: str | None = None
    qualifier: str | None = None
    invocation_role: str | None = None
    source_arn: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class TimerConfig:
    schedule: Schedule
    enable: bool
    payload: str


@dataclass(frozen=True)
class HttpConfig:
    auth_type: str
    methods: tuple[str, ...]
    disable_url_internet: bool


@dataclass(frozen=True)
class TopicConfig:
    topic: str
    notify_content_format: str
    filter_tag: str


@dataclass(frozen=True)
class QueueConfig:
    queue: str
    base64_decode: bool
    enable: bool


ParsedConfig = TimerConfig | HttpConfig | TopicConfig | QueueConfig | None


def check_trigger_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise TriggerConfigError(
            f"triggerName {name!r} is invalid: 1-128 letters, digits, '-' or '_', not "
            "starting with a digit or '-'")
    return name


def topic_of_arn(source_arn: str) -> str:
    """The topic of an MNS topic ARN, ``acs:mns:<region>:<account>:/topics/<name>``."""
    match = re.match(r"^acs:mns:[^:]*:[^:]*:/?topics/([^/]+)/?$", source_arn or "")
    if not match:
        raise TriggerConfigError(
            f"sourceArn {source_arn!r}: an mns_topic trigger needs the topic's ARN, e.g. "
            "acs:mns:cn-hangzhou:123456789:/topics/my-topic")
    return match[1]


def parse_config(trigger_type: str, config_text: str, source_arn: str = "") -> ParsedConfig:
    """Check ``triggerConfig`` for ``trigger_type``; the parts the emulator acts on."""
    if trigger_type not in TRIGGER_TYPES:
        raise TriggerConfigError(f"triggerType {trigger_type!r} is not supported; use one of "
                                 f"{', '.join(TRIGGER_TYPES)}")
    doc = _json_object(config_text, trigger_type)
    if trigger_type == "timer":
        return _timer(doc)
    if trigger_type == "http":
        return _http(doc)
    if trigger_type == "mns_topic":
        fmt = doc.get("notifyContentFormat") or "STREAM"
        if fmt not in _TOPIC_FORMATS:
            raise TriggerConfigError(f"triggerConfig.notifyContentFormat {fmt!r}: use one of "
                                     f"{', '.join(_TOPIC_FORMATS)}")
        tag = doc.get("filterTag") or ""
        if not isinstance(tag, str) or len(tag) > 16:
            raise TriggerConfigError("triggerConfig.filterTag must be text of at most 16 "
                                     "characters")
        topic = doc.get("topicName")  # FC 2.0 / Serverless Devs 2.x form, without sourceArn
        if not source_arn and isinstance(topic, str) and topic:
            return TopicConfig(topic, fmt, tag)
        return TopicConfig(topic_of_arn(source_arn), fmt, tag)
    if trigger_type == "eventbridge":
        return queue_source(doc)
    return None


#: The configs' flags :func:`_flag` reads (JSON booleans since fcemu 0.2.0; before, any
#: value was read by ``bool()``, so a stored ``"false"`` meant true).
_FLAGS = frozenset({"triggerEnable", "IsBase64Decode", "disableURLInternet"})


def parse_stored_config(trigger_type: str, config_text: str,
                        source_arn: str = "") -> ParsedConfig:
    """:func:`parse_config` for a trigger read back from state (the durable store, a
    snapshot) that an older fcemu accepted: a flag given as the text ``"true"`` or
    ``"false"`` is read as that boolean, so the state still loads (a new
    CreateTrigger/UpdateTrigger refuses such text, as FC does)."""
    try:
        return parse_config(trigger_type, config_text, source_arn)
    except TriggerConfigError:
        try:
            doc = json.loads(config_text)
        except ValueError:
            doc = None
        if not _unquote_flags(doc):
            raise
        return parse_config(trigger_type, json.dumps(doc), source_arn)


def _unquote_flags(doc: Any) -> bool:
    """Turn ``"true"``/``"false"`` flag values in ``doc`` into booleans, in place; whether
    any was."""
    changed = False
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in _FLAGS and isinstance(value, str) and value.lower() in ("true", "false"):
                doc[key] = value.lower() == "true"
                changed = True
            else:
                changed = _unquote_flags(value) or changed
    return changed


def queue_source(doc: dict[str, Any]) -> QueueConfig | None:
    """An EventBridge trigger whose source is an SMQ (MNS) queue, else ``None``."""
    where = "triggerConfig.eventSourceConfig"
    source = _object(doc, "eventSourceConfig", "triggerConfig")
    kind = source.get("eventSourceType")
    if kind is not None and not isinstance(kind, str):
        raise TriggerConfigError(f"{where}.eventSourceType must be a string such as MNS, "
                                 f"got {kind!r}")
    if kind != "MNS":
        return None
    parameters = _object(source, "eventSourceParameters", where)
    where += ".eventSourceParameters"
    params = _object(parameters, "sourceMNSParameters", where)
    where += ".sourceMNSParameters"
    queue = params.get("QueueName")
    if not isinstance(queue, str) or not queue:
        raise TriggerConfigError(f"{where}.QueueName is required for an MNS queue source")
    return QueueConfig(queue, _flag(params, "IsBase64Decode", where),
                       _flag(doc, "triggerEnable", "triggerConfig"))


def _object(doc: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """``doc[key]``: a JSON object, ``{}`` when absent or null."""
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TriggerConfigError(f"{where}.{key} must be a JSON object, got {value!r}"[:200])
    return value


def _flag(doc: dict[str, Any], key: str, where: str, default: bool = True) -> bool:
    """A JSON boolean (``default`` when absent or null). FC reads the config into typed
    fields, so a string such as ``"false"`` is refused, not read as true."""
    value = doc.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise TriggerConfigError(f"{where}.{key} must be true or false (a JSON boolean), "
                                 f"got {value!r}"[:200])
    return value


def _json_object(text: str, trigger_type: str) -> dict[str, Any]:
    if text in ("", None) and trigger_type == "tablestore":
        return {}
    try:
        doc = json.loads(text)
    except (TypeError, ValueError):
        raise TriggerConfigError(f"triggerConfig must be a JSON object in a string, got "
                                 f"{str(text)[:80]!r}") from None
    if not isinstance(doc, dict):
        raise TriggerConfigError("triggerConfig must be a JSON object")
    return doc


def _timer(doc: dict[str, Any]) -> TimerConfig:
    try:
        schedule = parse_schedule(doc.get("cronExpression"))
    except ScheduleError as exc:
        raise TriggerConfigError(f"triggerConfig.{exc}") from None
    enable = doc.get("enable", True)
    if not isinstance(enable, bool):
        raise TriggerConfigError("triggerConfig.enable must be true or false")
    payload = doc.get("payload", "")
    if not isinstance(payload, str):
        raise TriggerConfigError("triggerConfig.payload must be a string (the text handed "
                                 "to the function as event.payload)")
    if len(payload.encode("utf-8")) > 128 * 1024:
        raise TriggerConfigError("triggerConfig.payload is over 128 KB (the async payload "
                                 "limit)")
    return TimerConfig(schedule, enable, payload)


def _http(doc: dict[str, Any]) -> HttpConfig:
    auth = doc.get("authType", "anonymous")
    if auth not in ("anonymous", "function"):
        raise TriggerConfigError(f"triggerConfig.authType {auth!r}: use anonymous or "
                                 "function")
    methods = doc.get("methods") or ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]
    if not isinstance(methods, list) or not all(m in HTTP_METHODS for m in methods):
        raise TriggerConfigError(f"triggerConfig.methods {methods!r}: a list of "
                                 f"{', '.join(HTTP_METHODS)}")
    return HttpConfig(auth, tuple(methods),
                      _flag(doc, "disableURLInternet", "triggerConfig", default=False))
