"""``fcemu triggers [FUNCTION]``: the triggers of a running emulator, with each timer's next
fire on the emulator clock and each HTTP trigger's URL (``GET /_fcemu/triggers``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from fcemu.cli import format as fmt
from fcemu.cli.client import EXIT_OK, Client

__all__ = ["run_triggers", "triggers_table"]


def _what(trigger: dict[str, Any]) -> str:
    """The one thing to know about a trigger: its schedule, URL, or source."""
    try:
        config = json.loads(trigger.get("triggerConfig") or "{}")
    except ValueError:
        config = {}
    kind = trigger.get("triggerType")
    if kind == "timer" and isinstance(config, dict):
        state = "" if config.get("enable", True) else " (disabled)"
        return f"{config.get('cronExpression', '')}{state}"
    if kind == "http":
        return str((trigger.get("httpTrigger") or {}).get("urlInternet", ""))
    return str(trigger.get("sourceArn") or "-")


def triggers_table(triggers: list[dict[str, Any]]) -> str:
    rows = [[t.get("functionName", ""), t.get("triggerName", ""), t.get("triggerType", ""),
             t.get("qualifier", ""), fmt.iso(t.get("nextFireTime")), _what(t)]
            for t in triggers]
    return fmt.table(["FUNCTION", "TRIGGER", "TYPE", "QUALIFIER", "NEXT FIRE",
                      "SCHEDULE / URL / SOURCE"], rows)


def run_triggers(client: Client, args: argparse.Namespace, out: fmt.Output) -> int:
    path = "/triggers" + (f"?function={args.function}" if args.function else "")
    doc = client.control("GET", path)
    out.emit(doc, lambda: triggers_table(doc.get("triggers", [])))
    return EXIT_OK
