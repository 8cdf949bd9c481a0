"""``fcemu snapshot save|restore|list|delete``: snapshots of a running emulator's whole
state (``POST /_fcemu/snapshot``, ``POST /_fcemu/restore``, ``GET /_fcemu/snapshots``).

``save [NAME] [--file PATH]`` keeps a snapshot in the emulator (and writes it to PATH);
``restore NAME`` restores a kept one, ``restore --file PATH`` a saved file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fcemu.cli import format as fmt
from fcemu.cli.client import EXIT_OK, EXIT_USAGE, Client

__all__ = ["run_snapshot", "snapshots_table"]


def snapshots_table(snapshots: list[dict[str, Any]]) -> str:
    rows = [[s.get("snapshotId", ""), fmt.iso(s.get("time")), str(s.get("functions", "")),
             str(s.get("tasks", "")), str(s.get("queues", ""))] for s in snapshots]
    return fmt.table(["SNAPSHOT", "EMULATOR TIME", "FUNCTIONS", "TASKS", "QUEUES"], rows)


def _line(doc: dict[str, Any]) -> str:
    return (f"{doc.get('snapshotId')}: {doc.get('functions')} functions, {doc.get('tasks')} "
            f"tasks, {doc.get('queues')} queues at {fmt.iso(doc.get('time'))}")


def run_snapshot(client: Client, args: argparse.Namespace, out: fmt.Output) -> int:
    action, name, path = args.action, args.name, args.file
    if action == "list":
        doc = client.control("GET", "/snapshots")
        out.emit(doc, lambda: snapshots_table(doc.get("snapshots", [])))
        return EXIT_OK
    if action == "save":
        query = {"id": name}
        doc = client.request("POST", "/_fcemu/snapshot", query=query, body=b"",
                             action="FcemuControl").json()
        if path is not None:
            data = client.request("GET", f"/_fcemu/snapshots/{doc['snapshotId']}",
                                  action="FcemuControl").body
            Path(path).write_bytes(data)
        out.emit(doc, "saved " + _line(doc) + (f" (file {path})" if path else ""))
        return EXIT_OK
    if action == "delete":
        if not name:
            out.note("fcemu: snapshot delete needs the NAME of a snapshot (`fcemu snapshot "
                     "list` shows them)")
            return EXIT_USAGE
        client.request("DELETE", f"/_fcemu/snapshots/{name}", action="FcemuControl")
        out.emit({"snapshotId": name}, f"deleted {name}")
        return EXIT_OK
    if (name is None) == (path is None):
        out.note("fcemu: snapshot restore takes the NAME of a kept snapshot or --file PATH "
                 "of a saved one (one of them)")
        return EXIT_USAGE
    if path is not None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            out.note(f"fcemu: cannot read {path}: {exc.strerror or exc}")
            return EXIT_USAGE
        doc = client.request("POST", "/_fcemu/restore", body=data,
                             headers={"content-type": "application/octet-stream"},
                             action="FcemuControl").json()
    else:
        doc = client.control("POST", "/restore", {"snapshotId": name})
    out.emit(doc, "restored " + _line(doc))
    return EXIT_OK
