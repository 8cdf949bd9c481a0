"""What a set of deployment files asks for, and the warnings about it.

:class:`Deployment` is the result of :func:`fcemu.config.load.load`: the
functions (each a :class:`FunctionEntry` in FC API shapes), queues, topics and
settings that the files describe, merged. :class:`Reporter` logs what the files
leave to chance (props fcemu does not model, ``{placeholders}`` without a value)
once per file and field; whoever loads the files again and again (the emulator at
each reset, the ``--watch`` watcher) keeps one reporter so as not to repeat itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fcemu.config.marked import Where
from fcemu.config.s2 import Conversion
from fcemu.specs import AsyncConfigSpec, FunctionSpec

__all__ = ["Deployment", "FunctionEntry", "Reporter"]

log = logging.getLogger("fcemu.config")


@dataclass
class FunctionEntry:
    """One function as the files describe it: in FC API shapes (what ``fcemu config``
    shows, what a reload compares), and as the typed specs the engine takes."""

    name: str
    #: ``CreateFunctionInput`` with ``code.zipFile``.
    doc: dict[str, Any]
    #: The same, as CreateFunction takes it.
    spec: FunctionSpec
    #: ``(qualifier, PutAsyncInvokeConfigInput)`` or None.
    async_config: tuple[str, dict[str, Any]] | None
    #: The same, as PutAsyncInvokeConfig takes it.
    async_spec: AsyncConfigSpec | None
    reserved_concurrency: int | None
    where: Where
    #: Where each prop was written, and its dotted field name, for error messages.
    origins: dict[str, tuple[Where, str]]
    #: Code directory or zip the function was built from (watched by ``--watch``).
    code_path: Path | None = None
    #: ``CreateTriggerInput`` documents (``triggerConfig`` as JSON text), in file order.
    triggers: list[dict[str, str]] = field(default_factory=list)
    #: ``x-fcemu-versions``: the description of each version published at deploy (1, 2, …).
    versions: list[str] = field(default_factory=list)
    #: ``x-fcemu-aliases``: ``CreateAliasInput`` documents, in file order.
    aliases: list[dict[str, Any]] = field(default_factory=list)

    def same_as(self, other: FunctionEntry | None) -> bool:
        """True when ``other`` deploys exactly this (a reload need not touch it)."""
        return other is not None and (self.doc, self.async_config,
                                      self.reserved_concurrency, self.triggers,
                                      self.versions, self.aliases) == (
            other.doc, other.async_config, other.reserved_concurrency, other.triggers,
            other.versions, other.aliases)


@dataclass
class Deployment:
    """Everything a set of deployment files asks for."""

    files: tuple[Path, ...]
    functions: dict[str, FunctionEntry] = field(default_factory=dict)
    #: queue name → MNS attributes (``VisibilityTimeout``…)
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: topic name → (MNS attributes, subscription name → (queue, options))
    topics: dict[str, tuple[dict[str, Any], dict[str, tuple[str, dict[str, str]]]]] = \
        field(default_factory=dict)
    #: Settings fields the files set (``region``, ``clock``…)
    settings: dict[str, Any] = field(default_factory=dict)
    #: (file, field, line) of everything accepted but not modelled.
    ignored: list[tuple[Path, str, int]] = field(default_factory=list)
    #: Serverless Devs 2.x files converted on load, with what changed and what could not.
    conversions: list[Conversion] = field(default_factory=list)


class Reporter:
    """Warns about each (file, field) once: ignored props, placeholders without a value."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()

    def first(self, path: Path, name: str) -> bool:
        """True the first time ``name`` in ``path`` is asked about, then False."""
        key = (str(path), name)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def report_ignored(self, deployment: Deployment) -> None:
        """Log the props fcemu accepted without modelling them (each one once), and what
        was converted from Serverless Devs 2.x files (once per file)."""
        for conversion in deployment.conversions:
            if self.first(conversion.path, "<2.x conversion>"):
                log.warning("%s: a Serverless Devs 2.x file (component fc), converted to fc3 "
                            "as `s cli fc3 s2tos3` does:\n%s", conversion.path,
                            "\n".join(f"  converted: {line}" for line in conversion.converted)
                            + "".join(f"\n  NOT converted: {line}"
                                      for line in conversion.dropped))
        by_file: dict[Path, list[str]] = {}
        for path, name, line in deployment.ignored:
            if self.first(path, name):
                by_file.setdefault(path, []).append(f"{name} (line {line})")
        for path, fields in by_file.items():
            log.warning("%s: accepted but not modelled by fcemu, ignored: %s", path,
                        ", ".join(fields))
