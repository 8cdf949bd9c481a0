"""The first process of every handler instance: it starts the handler and takes its leftovers.

Started by :mod:`fcemu.runtime.contain` as ``python -I -S <this file> MODE
SERVER_PID -- COMMAND...``, in the function's code directory, with the
handler's environment. It uses only the standard library and is run by path
(the handler's processes never import fcemu). It starts ``COMMAND`` as its
child, stops holding the instance's pipes, reaps every process that ends up
its child, and exits with the command's status once the command has exited.

* ``pidns``: this process is PID 1 of a PID namespace of its own (``unshare
  --pid --fork --kill-child --mount-proc``). Processes the handler leaves
  behind (``setsid``, a double fork) are re-parented to it, and when it
  exits the kernel kills everything still in the namespace. Killing it
  (SIGKILL from the server) ends the whole instance.
* ``subreaper``: no namespace. It makes itself a child subreaper, so the
  handler's orphans are re-parented to it rather than to the system's init,
  and asks for SIGTERM when the server dies (``PR_SET_PDEATHSIG``). When the
  command exits, or on SIGTERM/SIGINT/SIGHUP, it SIGKILLs every process
  below it, reaps them and exits.

In ``bwrap`` containment (``pidns`` inside a bubblewrap sandbox) the server is
not this process's parent's parent in any namespace it can see: it passes a
lifeline instead (``FCEMU_LIFELINE=<fd>``, removed before the command starts),
the read end of a pipe only the server can write to. A thread reads it; end
of file means the server is gone, and this process kills the command and
exits, which ends the namespace.

Exit status: the command's exit code, or 128 + the signal that ended it.

Relay (``bwrap`` containment of a custom runtime, whose instance has a network
namespace of its own): when ``FCEMU_RELAY=<unix socket path>:<port>`` is in the
environment (removed before the command starts), a thread of this process
waits until something in the namespace accepts TCP connections on
``127.0.0.1:<port>`` (the app's configured port), then listens on the Unix
socket, which the server reaches through a directory bound into the sandbox,
and relays every connection to that port. Until the app listens, the socket
does not accept: the server's health check goes through the same path.

The command line's format is :mod:`fcemu.runtime.launcher`'s, shared with the
server. This file is run by path and must not import fcemu, so it loads that
module (which imports nothing) into a private package of its own whose path
is this directory (:func:`_shared`, as ``_worker_main.py`` does).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from types import ModuleType

TYPE_CHECKING = False  # not typing's: importing typing would slow every instance start

#: The private package the shared module is loaded into (its path: this directory).
_SHARED = "_fcemu_runtime_shared"


def _shared(name: str) -> ModuleType:
    """Import ``<this directory>/<name>.py`` as ``_fcemu_runtime_shared.<name>``, without
    running ``fcemu/__init__.py`` or ``fcemu/runtime/__init__.py``."""
    package = sys.modules.get(_SHARED)
    if package is None:
        package = ModuleType(_SHARED)
        package.__path__ = [os.path.dirname(os.path.abspath(__file__))]
        sys.modules[_SHARED] = package
    return importlib.import_module(f"{_SHARED}.{name}")


if TYPE_CHECKING:
    from fcemu.runtime import launcher
else:
    launcher = _shared("launcher")

#: Where the server asks for a relay (see the module docstring).
RELAY_ENV = "FCEMU_RELAY"
_CHILD_BUDGET = 4096  # descendants looked at per sweep (a fork bomb is cut off over sweeps)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from ``/proc/<pid>/task/*/children``)."""
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < _CHILD_BUDGET:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as kids:
                    children = [int(k) for k in kids.read().split()]
            except (OSError, ValueError):
                continue
            found.extend(children)
            todo.extend(children)
    return found


def _kill_everything_below() -> None:
    """SIGKILL every descendant and reap until none is left (new forks are caught next sweep)."""
    for _ in range(64):
        below = _descendants(os.getpid())
        if not below:
            break
        for pid in below:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap(block=True)
    _reap(block=False)


def _reap(block: bool) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        except InterruptedError:
            continue
        if pid == 0:
            return


def _status(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def _become_subreaper(server_pid: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(launcher.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    libc.prctl(launcher.PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != server_pid:  # the server died before we could ask to follow it
        os._exit(1)


def _take_lifeline() -> int | None:
    """The lifeline's descriptor (``FCEMU_LIFELINE``, removed from the environment), kept
    from the command; None when there is none."""
    value = os.environ.pop(launcher.LIFELINE_ENV, "")
    if not value.isdigit():
        return None
    fd = int(value)
    try:
        os.set_inheritable(fd, False)
    except OSError:
        return None
    return fd


def _follow_server(fd: int, child: int) -> None:
    """End the instance when the server is gone: a thread reads the lifeline until end of
    file (only the server holds its write end), then kills the command and exits; as PID 1
    of the namespace, its exit makes the kernel kill everything left there."""
    import threading

    def watch() -> None:
        while True:
            try:
                if not os.read(fd, 1):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        try:
            os.kill(child, signal.SIGKILL)
        except OSError:
            pass
        os._exit(128 + int(signal.SIGKILL))

    threading.Thread(target=watch, daemon=True).start()


def _start_relay(spec: str) -> None:
    """Relay the Unix socket ``path`` to ``127.0.0.1:port`` once the app listens (a thread)."""
    import socket
    import threading
    import time

    path, _, port_text = spec.rpartition(":")
    port = int(port_text)

    def connect() -> socket.socket:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            return socket.create_connection(("::1", port), timeout=5)

    def pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for sock, how in ((target, socket.SHUT_WR), (source, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass

    def serve(client: socket.socket) -> None:
        try:
            app = connect()
        except OSError:
            client.close()
            return
        app.settimeout(None)
        app.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # relay each write at once
        back = threading.Thread(target=pump, args=(app, client), daemon=True)
        back.start()
        pump(client, app)
        back.join()
        client.close()
        app.close()

    def run() -> None:
        while True:  # the app starts listening at some point (the server bounds the wait)
            try:
                connect().close()
                break
            except OSError:
                time.sleep(0.01)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path + ".new")
        listener.listen(128)
        os.rename(path + ".new", path)  # appears at once, already accepting
        while True:
            client, _ = listener.accept()
            threading.Thread(target=serve, args=(client,), daemon=True).start()

    threading.Thread(target=run, daemon=True).start()


def main() -> None:
    """Entry point: ``MODE SERVER_PID -- COMMAND...``."""
    parsed = launcher.parse_launcher_args(sys.argv[1:])
    if parsed is None:
        sys.stderr.write("usage: _contain_main.py pidns|subreaper SERVER_PID -- COMMAND...\n")
        os._exit(2)
    mode, server_pid, command = parsed
    relay = os.environ.pop(RELAY_ENV, "")
    lifeline = _take_lifeline()
    if mode == "subreaper":
        _become_subreaper(server_pid)
    child = 0
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child:
            try:
                os.kill(child, signal.SIGKILL)
            except OSError:
                pass

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    child = os.fork()
    if child == 0:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            os.write(2, f"fcemu: cannot run {command[0]!r}: {exc.strerror}\n".encode())
        os._exit(127)
    if stopping:  # a signal came before the child existed
        os.kill(child, signal.SIGKILL)
    if lifeline is not None:
        _follow_server(lifeline, child)
    if relay:
        _start_relay(relay)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the instance's pipes are the handler's, not ours to hold open
        os.dup2(devnull, fd)
    os.close(devnull)
    code = 1
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == child:
            code = _status(status)
            break
    if mode == "subreaper":
        _kill_everything_below()
    os._exit(code)  # pidns: as PID 1 leaving, the kernel kills what is left


if __name__ == "__main__":
    main()
