"""The JSON Schema (draft 2020-12) of ``fcemu.yaml``, as data.

Its ``$defs/function`` also describes the ``fc3`` props fcemu models in
``s.yaml`` (:data:`MODELLED_PROPS`). FC fields fcemu knows but does not model
(:data:`UNMODELLED_PROPS`), and those a function lists in its
``x-fcemu-allow-unknown``, are accepted and reported as ignored; any other prop is
an error ("did you mean"). ``fcemu config-schema`` prints :data:`SCHEMA` for
editors; :mod:`fcemu.config.check` validates documents against it.
"""

from __future__ import annotations

from typing import Any

from fcemu.models import LAYER_ARN
from fcemu.specs import ECHOED_FIELDS
from fcemu.triggers import TRIGGER_TYPES

__all__ = ["ALLOW_UNKNOWN", "MODELLED_PROPS", "SCHEMA", "UNMODELLED_PROPS"]

_NAME = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"  # spec §4.1
_SMQ_NAME = r"^[A-Za-z0-9][A-Za-z0-9-]{0,255}$"  # spec §13.4


def _int(low: int, high: int | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": low, **extra}
    if high is not None:
        schema["maximum"] = high
    return schema


_DESTINATION = {
    "description": "An ARN (acs:mns:…:/queues/<q>/messages, acs:mns:…:/topics/<t>/messages, "
                   "acs:fc:…:functions/<name>, acs:eventbridge:…:eventbus/<bus>), or a bare "
                   "queue name (fcemu shorthand). {accountid} and {region} are replaced.",
    "oneOf": [
        {"type": "string", "minLength": 1, "maxLength": 512},
        {"type": "object", "properties": {"destination": {"type": "string", "maxLength": 512}},
         "additionalProperties": False},
    ],
}

_FUNCTION_PROPERTIES: dict[str, Any] = {
    "functionName": {"type": "string", "pattern": _NAME},
    "runtime": {"type": "string", "description": "python3, python3.x (the local "
                "interpreter), nodejs12-20 (the local node) or custom, custom.debian10-12"},
    "handler": {"type": "string", "minLength": 1, "maxLength": 128},
    "code": {
        "description": "A directory or .zip file, relative to this file",
        "oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "object", "properties": {
                "src": {"type": "string", "minLength": 1},
                "zipFile": {"type": "string", "minLength": 1},
                "ossBucketName": {"type": "string"},
                "ossObjectName": {"type": "string"},
                "checksum": {"type": "string"},
            }, "additionalProperties": False},
        ],
    },
    "timeout": _int(1, 86400),
    "memorySize": _int(128, 32768, multipleOf=64),
    "cpu": {"type": "number", "minimum": 0.05, "maximum": 16},
    "diskSize": {"enum": [512, 10240]},
    "instanceConcurrency": _int(1, 200),
    "environmentVariables": {
        "type": "object",
        "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
        "additionalProperties": {"type": ["string", "number", "boolean"]},
    },
    "description": {"type": "string", "maxLength": 256},
    "customRuntimeConfig": {"type": "object", "properties": {
        "command": {"type": "array", "items": {"type": "string"}},
        "args": {"type": "array", "items": {"type": "string"}},
        "port": _int(1, 65535),
        "healthCheckConfig": {"type": "object"},
    }, "additionalProperties": False},
    "layers": {"type": "array",
               "items": {"type": "string", "pattern": LAYER_ARN.pattern},
               "description": "layer version ARNs, merged at /opt (the first listed wins); "
                              "each created in fcemu or mapped to a local folder or .zip in "
                              "settings.layers (fcemu.yaml) or with fcemu serve --layer"},
    "instanceLifecycleConfig": {"type": "object", "properties": {
        "initializer": {"$ref": "#/$defs/hook"},
        "preStop": {"$ref": "#/$defs/hook"},
    }, "additionalProperties": False},
    "asyncInvokeConfig": {"$ref": "#/$defs/asyncInvokeConfig"},
    "triggers": {"type": "array", "description": "CreateTriggerInput fields (fc3); "
                 "triggerConfig as an object (or its JSON text)", "items": {
        "type": "object", "properties": {
            "triggerName": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$"},
            "triggerType": {"enum": list(TRIGGER_TYPES)},
            "triggerConfig": {"type": ["object", "string"]},
            "qualifier": {"type": "string"},
            "invocationRole": {"type": "string"},
            "sourceArn": {"type": "string"},
            "description": {"type": "string", "maxLength": 256},
        }, "required": ["triggerName", "triggerType"], "additionalProperties": False}},
    "concurrencyConfig": {"type": "object", "properties": {
        "reservedConcurrency": _int(0),
    }, "required": ["reservedConcurrency"], "additionalProperties": False},
    "x-fcemu-versions": {
        "type": "array", "description": "fcemu only (the fc3 component publishes versions with "
        "'s version publish'): versions 1, 2, … published at deploy, each a snapshot of the "
        "function as deployed", "items": {"type": "object", "properties": {
            "description": {"type": "string", "maxLength": 256},
        }, "additionalProperties": False}},
    "x-fcemu-aliases": {
        "type": "array", "description": "fcemu only (the fc3 component: 's alias publish'): "
        "CreateAliasInput fields; versionId names one of x-fcemu-versions", "items": {
            "type": "object", "properties": {
                "aliasName": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$"},
                "versionId": {"type": ["string", "integer"]},
                "description": {"type": "string", "maxLength": 256},
                "additionalVersionWeight": {"type": "object", "additionalProperties": {
                    "type": "number", "minimum": 0, "maximum": 1}},
            }, "required": ["aliasName", "versionId"], "additionalProperties": False}},
    "x-fcemu-allow-unknown": {
        "type": "array", "items": {"type": "string", "minLength": 1},
        "description": "fcemu only: props of this function, in this file, that fcemu does "
                       "not know and should accept and ignore (an FC field newer than "
                       "fcemu); any other unknown prop is an error"},
}

_FUNCTION = {
    "type": "object",
    "description": "A function: the fc3 component's props (FC 3.0 CreateFunction fields).",
    "properties": _FUNCTION_PROPERTIES,
    # FC fields fcemu accepts without modelling (UNMODELLED_PROPS, reported once as
    # ignored); fcemu.config.load refuses any other prop not listed in x-fcemu-allow-unknown
    "additionalProperties": True,
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://fcemu.invalid/fcemu.schema.json",
    "title": "fcemu.yaml",
    "description": "fcemu's own deployment file: functions, async configs, queues, topics and "
                   "emulator settings. Unknown keys are errors, except FC function fields "
                   "fcemu does not model and those listed in a function's "
                   "x-fcemu-allow-unknown, which are reported as ignored.",
    "type": "object",
    "properties": {
        "version": {"const": 1},
        "settings": {"type": "object", "properties": {
            "host": {"type": "string"},
            "port": _int(0, 65535),
            "clock": {"enum": ["real", "manual"]},
            "start": {"type": ["string", "integer"],
                      "description": "manual clock start: ISO 8601 or epoch milliseconds"},
            "seed": {"type": ["integer", "null"]},
            "region": {"type": "string", "pattern": r"^[a-z0-9-]+$"},
            "accountId": {"type": ["string", "integer"], "pattern": r"^[0-9]+$"},
            "retryBaseMs": _int(0),
            "destinationEncoding": {"enum": ["raw", "base64"]},
            "strictDestinations": {"type": "boolean"},
            "maxInstances": _int(1),
            "accountConcurrency": _int(0, description="executions at once over every "
                                       "function (FC's per-region quota); more are throttled"),
            "instanceIdleSeconds": {"type": "number", "minimum": 0,
                                    "description": "real seconds an idle instance stays warm "
                                                   "before it is stopped (default 300)"},
            "settleTimeout": {"type": "number", "minimum": 0},
            "dataDir": {"type": "string", "minLength": 1,
                        "description": "durable mode: keep all state in this directory "
                                       "(relative to the file); a restart resumes"},
            "durability": {"enum": ["strict", "relaxed"],
                           "description": "durable mode: strict syncs each commit to disk; "
                                          "relaxed survives a killed process, not a power "
                                          "loss"},
            "accessKeys": {"type": "array", "items": {"type": "string", "pattern": r"^[^:]+:."},
                           "description": "verify mode: AccessKey pairs as ID:SECRET; FC and "
                                          "SMQ request signatures are checked against them"},
            "allowHosts": {"type": "array", "items": {"type": "string", "minLength": 1},
                           "description": "Host names answered besides loopback names and "
                                          "addresses and host ('*': any)"},
            "allowOrigins": {"type": "array", "items": {
                "type": "string",
                "pattern": r"^(\*|null|[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]+/?)$"},
                "description": "browser origins (http://localhost:3000) whose requests are "
                               "answered, with CORS headers ('*': any)"},
            "layers": {"type": "object",
                       "propertyNames": {"pattern": LAYER_ARN.pattern},
                       "additionalProperties": {"type": "string", "minLength": 1},
                       "description": "layer version ARNs mapped to a local folder or .zip "
                                      "file (relative to this file): what a function's "
                                      "layers give at /opt for public, official or other "
                                      "accounts' layers, which fcemu cannot download"},
            "node": {"type": "string", "minLength": 1,
                     "description": "the Node.js interpreter of nodejs* functions: a path "
                                    "(relative to this file) or a command name (default: "
                                    "$FCEMU_NODE, else node on PATH)"},
            "passEnv": {"type": "array",
                        "items": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                        "description": "names of the server's environment variables that "
                                       "handlers get too (by default only FC's, the "
                                       "function's and PATH, HOME, LANG, TZ...)"},
        }, "additionalProperties": False},
        "vars": {"type": "object", "description": "values for {name} placeholders in "
                 "destination ARNs"},
        "functions": {
            "type": "object",
            "propertyNames": {"pattern": _NAME},
            "additionalProperties": {"oneOf": [{"$ref": "#/$defs/function"},
                                               {"type": "null"}]},
        },
        "queues": {
            "type": "object",
            "propertyNames": {"pattern": _SMQ_NAME},
            "additionalProperties": {"oneOf": [{"$ref": "#/$defs/queue"}, {"type": "null"}]},
        },
        "topics": {
            "type": "object",
            "propertyNames": {"pattern": _SMQ_NAME},
            "additionalProperties": {"oneOf": [{"$ref": "#/$defs/topic"}, {"type": "null"}]},
        },
    },
    "additionalProperties": False,
    "$defs": {
        "function": _FUNCTION,
        "hook": {"type": "object", "properties": {
            "handler": {"type": "string"}, "timeout": _int(1, 900),
            "command": {"type": "array", "items": {"type": "string"}},
        }, "additionalProperties": False},
        "asyncInvokeConfig": {"type": "object", "properties": {
            "asyncTask": {"type": "boolean"},
            "statefulInvocation": {"type": "boolean", "description": "FC 2.0 name of asyncTask"},
            "maxAsyncRetryAttempts": _int(0, 8),
            "maxAsyncEventAgeInSeconds": _int(1, 604800),
            "qualifier": {"type": "string"},
            "destinationConfig": {"type": "object", "properties": {
                "onSuccess": _DESTINATION, "onFailure": _DESTINATION,
            }, "additionalProperties": False},
        }, "additionalProperties": False},
        "queue": {"type": "object", "properties": {
            "delaySeconds": _int(0, 604800),
            "maximumMessageSize": _int(1024, 65536),
            "messageRetentionPeriod": _int(60, 604800),
            "visibilityTimeout": _int(1, 43200),
            "pollingWaitSeconds": _int(0, 30),
            "loggingEnabled": {"type": "boolean"},
        }, "additionalProperties": False},
        "topic": {"type": "object", "properties": {
            "maximumMessageSize": _int(1024, 65536),
            "subscriptions": {
                "type": "object",
                "propertyNames": {"pattern": _SMQ_NAME},
                "additionalProperties": {"type": "object", "properties": {
                    "queue": {"type": "string", "pattern": _SMQ_NAME},
                    "filterTag": {"type": "string", "maxLength": 16},
                    "notifyContentFormat": {"enum": ["XML", "JSON", "SIMPLIFIED"]},
                    "notifyStrategy": {"enum": ["BACKOFF_RETRY", "EXPONENTIAL_DECAY_RETRY"]},
                }, "required": ["queue"], "additionalProperties": False},
            },
        }, "additionalProperties": False},
    },
}

#: Function props fcemu models (and ``x-fcemu-allow-unknown``, its own).
MODELLED_PROPS = frozenset(_FUNCTION_PROPERTIES)
#: The function prop that lists unknown props to accept and ignore.
ALLOW_UNKNOWN = "x-fcemu-allow-unknown"
#: FC 3.0 function fields (CreateFunction, ALIYUN::FC3::Function) and fc3 component props
#: fcemu accepts without modelling: reported once as ignored, never an error.
UNMODELLED_PROPS = frozenset(ECHOED_FIELDS) | {
    "region", "tags", "provisionConfig", "customDomain", "vpcBinding"}
