"""The bubblewrap sandbox of an instance, and the FC paths (``/code``, ``/opt``) it sees.

In ``bwrap`` containment (:mod:`fcemu.runtime.contain`) every worker and
custom-runtime instance runs inside ``bwrap`` (bubblewrap), built here from
one :class:`Sandbox` (the function's directories and whether the instance
gets a network of its own) by :meth:`Sandbox.wrap`, which takes the command
line and returns the wrapped one. Inside:

* the host's top-level directories, read-only (the interpreters and
  libraries the handler runs with), except ``/tmp`` (a private tmpfs),
  ``/opt`` (the function's layers, or empty) and ``/proc``/``/dev`` (the
  sandbox's own);
* the function's code, read-only at ``/code`` (also the working directory),
  and its merged layers (``Function.opt_dir``) read-only at ``/opt``;
* the code store and layer store of the emulator (the parents of those two
  directories) covered by empty tmpfs mounts: other functions' code is not
  there; nor is anything under the host's ``/tmp``;
* a PID namespace (the launcher is PID 1, as in ``pidns`` containment), an
  IPC namespace; as root, only Docker's default capabilities. No
  ``--die-with-parent``: the launcher ends the sandbox when the server dies
  (its lifeline, :mod:`fcemu.runtime.contain`);
* custom runtimes: a network namespace of their own (only a loopback), so
  the app listens on its configured port as written; the server reaches it
  through a Unix socket in a per-instance directory bound at
  :data:`RELAY_MOUNT` (the launcher relays it to ``127.0.0.1:<port>``).
  Python workers keep the host's network.

Host paths listed in ``FCEMU_SANDBOX_SHARE`` (``:``-separated) are bound
read-write at the same path (a local socket, a FIFO a test waits on).

Outside a sandbox (the other containments) the same ``/code`` and ``/opt``
prefixes are rewritten to the real directories in the environment and the
start command (:func:`map_fc_paths`); code that opens ``/code/...`` itself
only works in the sandbox.

:func:`fc_path_defaults` are the search-path variables FC sets by default
(``PATH``, ``LD_LIBRARY_PATH``, ``PYTHONPATH`` for Python runtimes); the
function's ``environmentVariables`` replace them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Where FC puts the function's code and its layers.
CODE = "/code"
OPT = "/opt"
#: Where a custom runtime's relay directory is bound inside its sandbox.
RELAY_MOUNT = "/.fcemu"
#: The relay's Unix socket, in the relay directory.
RELAY_SOCKET = "relay.sock"
#: The launcher's relay request (read and removed by ``_contain_main.py``).
RELAY_ENV = "FCEMU_RELAY"
#: Host paths bound read-write into every sandbox at the same path.
SHARE_ENV = "FCEMU_SANDBOX_SHARE"
#: Top-level host entries the sandbox replaces with its own.
_OWN_TOP = frozenset({"proc", "dev", "tmp", "opt", "code", RELAY_MOUNT.strip("/")})
#: Docker's default capabilities: what a root handler keeps (FC runs handlers as root in a
#: container); the rest (CAP_SYS_ADMIN: mounts, CAP_SYS_PTRACE, ...) is dropped.
_CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
         "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
         "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE")

#: FC's default search paths (docs/fidelity.md, "Instance file system, paths and ports"; the
#: layer directories: https://www.alibabacloud.com/help/en/function-compute/latest/
#: use-layers-in-functions): ``/opt/bin:/code:/code/bin`` at the end of PATH.
_PATH_TAIL = "/opt/bin:/code:/code/bin"
_LD_LIBRARY_PATH = "/code:/code/lib:/usr/local/lib:/opt/lib"
_PYTHONPATH = "/opt/python:/code"


def fc_path_defaults(runtime: str, host_path: str | None) -> dict[str, str]:
    """FC's default ``PATH``, ``LD_LIBRARY_PATH`` (and ``PYTHONPATH`` for ``python*``
    runtimes). PATH starts with the host's (``host_path``: the interpreters fcemu and the
    function run with), then FC's ``/opt/bin:/code:/code/bin``."""
    head = host_path or os.defpath
    defaults = {"PATH": f"{head}:{_PATH_TAIL}", "LD_LIBRARY_PATH": _LD_LIBRARY_PATH}
    if runtime.startswith("python"):
        defaults["PYTHONPATH"] = _PYTHONPATH
    return defaults


def map_fc_path(value: str, code_dir: Path | None, opt_dir: Path | None) -> str:
    """One path: a leading ``/code`` or ``/opt`` mapped to the real directory (when known)."""
    for prefix, real in ((CODE, code_dir), (OPT, opt_dir)):
        if real is not None and (value == prefix or value.startswith(prefix + "/")):
            return str(real) + value[len(prefix):]
    return value


def map_fc_paths(value: str, code_dir: Path | None, opt_dir: Path | None) -> str:
    """A value that may be a ``:``-separated path list (``PYTHONPATH=/code/python:/opt/python``):
    each ``/code`` or ``/opt`` path mapped to the real directory."""
    return ":".join(map_fc_path(part, code_dir, opt_dir) for part in value.split(":"))


def instance_paths(env: dict[str, str], *, runtime: str, variables: Iterable[str],
                   code_dir: Path, opt_dir: Path | None, sandboxed: bool) -> dict[str, str]:
    """Put FC's paths into an instance's environment (in place; returned).

    FC's default search paths where the function sets none of its own; ``FC_FUNC_CODE_PATH``
    (``/code`` in a sandbox, else the real directory). Outside a sandbox, the ``/code`` and
    ``/opt`` paths of those defaults and of the function's ``variables`` are mapped to the
    real directories. In a sandbox ``TMPDIR`` is dropped (``/tmp`` is the instance's own)."""
    own = set(variables)
    for name, value in fc_path_defaults(runtime, env.get("PATH")).items():
        if name not in own:
            env[name] = value
    if sandboxed:
        env["FC_FUNC_CODE_PATH"] = CODE
        env.pop("TMPDIR", None)
        return env
    for name in [*own, *fc_path_defaults(runtime, None)]:
        if name in env:
            env[name] = map_fc_paths(env[name], code_dir, opt_dir)
    env["FC_FUNC_CODE_PATH"] = str(code_dir)
    return env


def shared_paths() -> tuple[Path, ...]:
    """``FCEMU_SANDBOX_SHARE``'s existing absolute paths."""
    value = os.environ.get(SHARE_ENV, "")
    return tuple(Path(p) for p in value.split(":") if p and os.path.isabs(p) and os.path.exists(p))


def _inside(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def _essentials() -> tuple[Path, ...]:
    """What the launcher and a worker need from the host: this directory (the entry
    scripts) and the interpreter's installation (its prefixes, site-packages included)."""
    found = {Path(__file__).resolve().parent, Path(sys.prefix).resolve(),
             Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent}
    return tuple(sorted(found))


@dataclass(frozen=True)
class Sandbox:
    """One instance's sandbox: its function's directories and its network.

    :param code_dir: the function's code, at ``/code``.
    :param opt_dir: the function's merged layers, at ``/opt`` (None: an empty ``/opt``).
    :param relay_dir: a custom runtime's per-instance directory, bound read-write at
        :data:`RELAY_MOUNT`; set, the instance gets a network namespace of its own and the
        launcher relays :data:`RELAY_SOCKET` there to ``relay_port``.
    :param relay_port: the port the app listens on inside its namespace.
    """

    code_dir: Path
    opt_dir: Path | None = None
    relay_dir: Path | None = None
    relay_port: int = 0

    @property
    def own_network(self) -> bool:
        return self.relay_dir is not None

    def relay_env(self) -> dict[str, str]:
        """The launcher's relay request (empty without a relay)."""
        if self.relay_dir is None:
            return {}
        return {RELAY_ENV: f"{RELAY_MOUNT}/{RELAY_SOCKET}:{self.relay_port}"}

    @property
    def relay_socket(self) -> Path | None:
        """The relay's socket as the server sees it."""
        return None if self.relay_dir is None else self.relay_dir / RELAY_SOCKET

    def host_path(self, path: str) -> str:
        """A path of the sandbox as the host sees it (``/code/x`` → ``<code_dir>/x``)."""
        return map_fc_path(path, self.code_dir, self.opt_dir)

    def inside(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` with the host paths of the code and layer directories given as the
        sandbox sees them (``<code_dir>/node_modules`` → ``/code/node_modules``)."""
        pairs = [(str(self.code_dir), CODE)]
        if self.opt_dir is not None:
            pairs.append((str(self.opt_dir), OPT))

        def one(part: str) -> str:
            for real, fc in pairs:
                if part == real or part.startswith(real + "/"):
                    return fc + part[len(real):]
            return part

        return {name: ":".join(one(p) for p in value.split(":")) for name, value in env.items()}

    def hidden(self) -> list[Path]:
        """The stores this instance must not see: its code's and its layers' parents."""
        keep, shared = _essentials(), shared_paths()
        found = []
        for directory in (self.code_dir, self.opt_dir):
            if directory is None:
                continue
            parent = directory.resolve().parent
            if (parent == Path("/") or _inside(parent, Path("/tmp")) or _inside(parent, Path(OPT))
                    or any(_inside(parent, s) for s in shared)
                    or any(_inside(k, parent) for k in keep)):
                continue  # already hidden, shared on purpose, or holds what the sandbox runs
            if parent not in found:
                found.append(parent)
        return found

    def options(self) -> list[str]:
        """bwrap's options for this sandbox (see the module docstring)."""
        opts: list[str] = []
        for entry in sorted(os.listdir("/")):
            if entry in _OWN_TOP:
                continue
            host = f"/{entry}"
            if os.path.islink(host):
                opts += ["--symlink", os.readlink(host), host]
            elif os.path.isdir(host):
                opts += ["--ro-bind", host, host]
        opts += ["--dev", "/dev", "--tmpfs", "/dev/shm", "--proc", "/proc", "--tmpfs", "/tmp"]
        opts += (["--ro-bind", str(self.opt_dir), OPT] if self.opt_dir is not None
                 else ["--dir", OPT])
        for path in shared_paths():
            opts += ["--bind", str(path), str(path)]
        hidden = self.hidden()
        for path in hidden:
            opts += ["--tmpfs", str(path)]
        covered = [Path("/tmp"), Path(OPT), *hidden]
        for path in _essentials():  # what a cover above took away, back (read-only)
            if any(_inside(path, c) for c in covered) and path.exists():
                opts += ["--ro-bind", str(path), str(path)]
        opts += ["--ro-bind", str(self.code_dir), CODE, "--chdir", CODE]
        if self.relay_dir is not None:
            opts += ["--bind", str(self.relay_dir), RELAY_MOUNT, "--unshare-net"]
        # no --die-with-parent: the launcher inside follows the server through its lifeline
        # (fcemu.runtime.contain), so bwrap is never killed halfway through its set-up
        opts += ["--unshare-pid", "--unshare-ipc", "--as-pid-1"]
        if os.geteuid() == 0:
            opts += ["--cap-drop", "ALL"]
            for cap in _CAPS:
                opts += ["--cap-add", cap]
        return opts

    def wrap(self, bwrap: str, command: Sequence[str]) -> list[str]:
        """``command`` (the launcher's command line) run inside this sandbox."""
        return [bwrap, *self.options(), "--", *command]
