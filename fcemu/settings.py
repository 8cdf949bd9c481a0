"""Emulator settings: one dataclass, filled from CLI options, the pytest plugin or code."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from fcemu.hosts import normalize_origin
from fcemu.models import LAYER_ARN

_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: 2024-05-01T00:00:00Z, the manual clock's start when none is given.
DEFAULT_START_MS = 1_714_521_600_000


@dataclass(frozen=True)
class Settings:
    """How an :class:`~fcemu.Emulator` runs.

    :param host: interface to listen on (loopback unless told otherwise).
    :param port: TCP port; 0 picks a free one.
    :param clock: ``"real"`` (wall time), ``"manual"`` (moves only when told) or ``"follow"``
        (a manual clock pulled to the process's, possibly frozen, time: :mod:`fcemu.follow`).
    :param start_ms: the manual clock's start, epoch milliseconds.
    :param region: region in ARNs and contexts.
    :param account_id: account ID in ARNs and contexts.
    :param seed: seed of the ID generator; None draws one at start.
    :param retry_base_ms: the first retry's backoff; retry k waits ``retry_base_ms * 2**(k-1)``.
    :param destination_encoding: ``"raw"`` JSON text or ``"base64"`` for SMQ destination bodies.
    :param strict_destinations: when true, a missing destination queue or topic is a failed
        delivery instead of being created on first use.
    :param max_instances: cap on handler processes alive at once (worker and custom-runtime
        instances, over all functions); invocations beyond it wait in FIFO order.
    :param account_concurrency: the account's concurrency limit: executions running at once
        over every function (FC's per-region instance quota); one more is throttled as by a
        function's ``reservedConcurrency`` (429 sync, retried async). None: no limit.
    :param instance_idle_seconds: real seconds an idle instance stays warm before it is stopped.
    :param settle_timeout: real seconds ``settle()`` waits before naming what is still busy.
    :param data_dir: durable mode: every change is committed to an SQLite database there
        (``fcemu.db``) before it is answered, and a start with the same directory resumes
        (:mod:`fcemu.engine.durable`); function code is unpacked there too. None: state in
        memory only, code in a private temporary directory. A relative path is made
        absolute (against the current directory) when the settings are made.
    :param durability: ``"strict"`` (each commit synced to disk) or ``"relaxed"`` (commits
        survive a killed process, not a power loss); see :mod:`fcemu.store.sqlite`.
    :param config: deployment files (``s.yaml`` / ``fcemu.yaml``) applied at start and after
        every reset.
    :param access_keys: ``(AccessKeyId, AccessKeySecret)`` pairs; when any are given, the FC
        API and the SMQ (MNS) API check request signatures against them (verify mode,
        :mod:`fcemu.signing`); when empty (the default) any credentials work. Left out of
        ``repr``.
    :param allow_hosts: ``Host`` names answered besides loopback names and addresses and
        ``host`` (``*``: any); other requests get 403 (:mod:`fcemu.hosts`, DNS rebinding).
    :param allow_origins: browser origins (``http://localhost:3000``; ``*``: any) whose
        cross-origin requests are answered, with CORS headers; other foreign ``Origin`` values
        and ``Sec-Fetch-Site: cross-site`` get 403.
    :param read_timeout: real seconds a client has to send a request's head (from its first
        byte), and again its body; else 408 and the connection is closed. A connection on
        which no request begins is closed after twice that (:mod:`fcemu.api.protocol`).
    :param pass_env: names of the server's environment variables that worker and
        custom-runtime handlers get too (by default they see only FC's variables, the
        function's ``environmentVariables`` and PATH, HOME, USER, LOGNAME, LANG, LC_ALL,
        LC_CTYPE, TZ, TMPDIR: :mod:`fcemu.runtime.environ`).
    :param node: the Node.js interpreter of ``nodejs*`` functions, a path or a command name;
        None: the ``FCEMU_NODE`` environment variable, else ``node`` on PATH
        (:mod:`fcemu.runtime.nodejs`).
    :param layer_map: layer version ARNs mapped to a local folder or ``.zip`` file (a
        mapping, or ``(ARN, path)`` pairs): what a function's ``layers`` entry gives at
        ``/opt`` when the ARN is not a layer version created in the emulator (public and
        official layers cannot be downloaded). Relative paths are taken from the current
        directory when the settings are made.
    """

    host: str = "127.0.0.1"
    port: int = 9000
    clock: Literal["real", "manual", "follow"] = "real"
    start_ms: int = DEFAULT_START_MS
    region: str = "cn-hangzhou"
    account_id: str = "1234567890123456"
    seed: int | None = None
    retry_base_ms: int = 500
    destination_encoding: Literal["raw", "base64"] = "raw"
    strict_destinations: bool = False
    max_instances: int = 16
    account_concurrency: int | None = None
    instance_idle_seconds: float = 300.0
    settle_timeout: float = 60.0
    data_dir: Path | None = None
    durability: Literal["strict", "relaxed"] = "strict"
    config: tuple[Path, ...] = ()
    access_keys: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    allow_hosts: tuple[str, ...] = ()
    allow_origins: tuple[str, ...] = ()
    read_timeout: float = 30.0
    pass_env: tuple[str, ...] = ()
    layer_map: tuple[tuple[str, Path], ...] = ()
    node: str | None = None

    def __post_init__(self) -> None:
        pairs = []
        for pair in self.access_keys:
            if isinstance(pair, str) or len(pair) != 2 or not all(
                    isinstance(part, str) and part for part in pair):
                raise ValueError("access_keys: each item must be an (AccessKeyId, "
                                 "AccessKeySecret) pair of non-empty strings")
            pairs.append((pair[0], pair[1]))
        object.__setattr__(self, "access_keys", tuple(pairs))
        for name, normalize in (("allow_hosts", str.lower), ("allow_origins", normalize_origin)):
            values = getattr(self, name)
            if isinstance(values, str) or not all(isinstance(v, str) and v.strip()
                                                  for v in values):
                raise ValueError(f"{name}: expected a list of non-empty strings, got {values!r}")
            object.__setattr__(self, name, tuple(normalize(v.strip()) for v in values))
        if isinstance(self.pass_env, str):
            raise ValueError(f"pass_env: expected a list of variable names, got {self.pass_env!r}")
        object.__setattr__(self, "pass_env", check_pass_env(self.pass_env))
        object.__setattr__(self, "layer_map", check_layer_map(self.layer_map))
        if self.account_concurrency is not None and (
                isinstance(self.account_concurrency, bool)
                or not isinstance(self.account_concurrency, int) or self.account_concurrency < 0):
            raise ValueError(f"account_concurrency: must be a whole number of at least 0 (or "
                             f"None: no limit), got {self.account_concurrency!r}")
        if self.durability not in ("strict", "relaxed"):
            raise ValueError(f"durability: 'strict' or 'relaxed', got {self.durability!r}")
        if self.data_dir is not None:  # absolute once, here: code directories are made in it
            # and handed to sandboxed processes that do not run in the server's directory
            object.__setattr__(self, "data_dir", Path(self.data_dir).absolute())
        if not 0 < self.read_timeout < float("inf"):
            raise ValueError(f"read_timeout: must be more than 0 seconds, "
                             f"got {self.read_timeout!r}")

    def replace(self, **changes: object) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


def check_pass_env(names: Iterable[object]) -> tuple[str, ...]:
    """``--pass-env`` names as a tuple; ValueError naming one that is not a variable name."""
    checked = []
    for name in names:
        if not isinstance(name, str) or not _VARIABLE_NAME.match(name):
            raise ValueError(f"pass_env: {name!r} is not an environment variable name "
                             "(letters, digits and _, not starting with a digit)")
        if name not in checked:
            checked.append(name)
    return tuple(checked)


def check_layer_map(mapping: object) -> tuple[tuple[str, Path], ...]:
    """``layer_map`` as ``(ARN, absolute path)`` pairs; ValueError naming a bad entry."""
    items = mapping.items() if isinstance(mapping, Mapping) else mapping
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise ValueError(f"layer_map: expected a mapping of layer ARN to path, got {mapping!r}")
    pairs: dict[str, Path] = {}
    for item in items:
        if isinstance(item, (str, bytes)) or not isinstance(item, Iterable) or len(
                pair := tuple(item)) != 2:
            raise ValueError(f"layer_map: expected (ARN, path) pairs, got {item!r}")
        arn, path = pair
        if not isinstance(arn, str) or not LAYER_ARN.match(arn):
            raise ValueError(f"layer_map: {arn!r} is not a layer version ARN "
                             "(acs:fc:<region>:<accountId>:layers/<name>/versions/<n>)")
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ValueError(f"layer_map: the path of {arn} must be a folder or .zip file path, "
                             f"got {path!r}")
        pairs[arn] = Path(path).absolute()
    return tuple(pairs.items())
