"""``fcemu snapshot save|restore|list|delete``: snapshots of a running emulator's whole
state (``POST /_fcemu/snapshot``, ``POST /_fcemu/restore``, ``GET /_fcemu/snapshots``).

``save [NAME] [--file PATH]`` keeps a snapshot in the emulator (and writes it to PATH,
checked first: a PATH that cannot be written is a usage error and saves nothing);
``restore NAME`` restores a kept one, ``restore --file PATH`` a saved file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fcemu.cli import format as fmt
from fcemu.cli.client import EXIT_OK, EXIT_USAGE, Client, CliError

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
        return _save(client, name, path, out)
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


def _save(client: Client, name: str | None, path: str | None, out: fmt.Output) -> int:
    """``save [NAME] [--file PATH]``: PATH is opened for writing before the snapshot is taken,
    so that a PATH that cannot be written changes nothing (a file it created is removed
    if the save then fails)."""
    target = None if path is None else Path(path)
    created = False
    if target is not None:
        try:
            created = not target.exists()
            with target.open("ab"):  # can be written: not a folder, its folder exists...
                pass
        except OSError as exc:
            out.note(f"fcemu: cannot write {path}: {exc.strerror or exc} (nothing saved)")
            return EXIT_USAGE
    saved = False
    try:
        doc = client.request("POST", "/_fcemu/snapshot", query={"id": name}, body=b"",
                             action="FcemuControl").json()
        if target is not None:
            data = client.request("GET", f"/_fcemu/snapshots/{doc['snapshotId']}",
                                  action="FcemuControl").body
            try:
                target.write_bytes(data)
            except OSError as exc:
                raise CliError(f"snapshot {doc['snapshotId']} is kept in the emulator, but "
                               f"cannot write {path}: {exc.strerror or exc}") from None
        saved = True
    finally:
        if target is not None and created and not saved:
            target.unlink(missing_ok=True)
    out.emit(doc, "saved " + _line(doc) + (f" (file {path})" if path else ""))
    return EXIT_OK
